"""Where the caller's cost goes: hooks that do less and less of what ``ExportHook`` does.

``cpu_cost.py`` reports the caller's thread about 2 µs above a no-op hook; its goal is 1 µs.
This benchmark splits that cost by running, interleaved in one run, hooks that each stop one
step earlier (OpenFeature's in-memory provider, 3 context attributes):

- ``noop``: the SDK's ``Hook`` (the baseline)
- ``override``: a ``finally_after`` that returns at once (the price of being called)
- ``handoff``: appends a one-field tuple to a deque that a thread drains, woken every 256
  items as the exporter's worker is: the floor of handing anything to another thread
- ``retain``: hands over the SDK's own ``HookContext`` and details instead of copying fields
  out of them (they then outlive the evaluation, and the collector walks them)
- ``capture``: hands over the capture record ``ExportHook`` builds, the thread discarding it
- ``export``: ``ExportHook`` to gzip files, flushed each round (what ``cpu_cost.py`` times)

Reported: the caller's thread (``time.thread_time``) per evaluation above ``noop``, and the
process CPU ratio.  The drain thread is part of the benchmark, not the library.

    python bench/caller_floor.py [--quick]
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from _common import machine, main, median, print_table, write_results
from cpu_cost import interleaved, paired

_WAKE_AT = 256  # as the engine's worker: woken once this many items are queued


class _Drain:
    """A thread that empties a deque, woken as the exporter's worker is."""

    def __init__(self) -> None:
        self.queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._woken = False
        threading.Thread(target=self._run, name="caller-floor-drain", daemon=True).start()

    def _run(self) -> None:
        queue = self.queue
        while True:
            self._wake.wait(1.0)
            self._woken = False
            self._wake.clear()
            while queue:
                del [queue.popleft() for _ in range(min(len(queue), 512))][:]

    def submit(self, item: Any) -> None:
        queue = self.queue
        queue.append(item)
        if len(queue) >= _WAKE_AT and not self._woken:
            self._woken = True
            self._wake.set()


def _hooks() -> dict[str, Any]:
    from openfeature.hook import Hook

    from openfeature_s3_export._capture import evaluation_record

    time_ns = time.time_ns

    class Override(Hook):
        def finally_after(self, hook_context: Any, details: Any, hints: Any) -> None:
            return None

    class Handoff(Hook):
        def __init__(self) -> None:
            self.drain = _Drain()

        def finally_after(self, hook_context: Any, details: Any, hints: Any) -> None:
            self.drain.submit((time_ns(),))

    class Retain(Handoff):
        def finally_after(self, hook_context: Any, details: Any, hints: Any) -> None:
            self.drain.submit((time_ns(), hook_context, details))

    class Capture(Handoff):
        def finally_after(self, hook_context: Any, details: Any, hints: Any) -> None:
            self.drain.submit(evaluation_record(hook_context, details))

    return {
        "noop": Hook(),
        "override": Override(),
        "handoff": Handoff(),
        "retain": Retain(),
        "capture": Capture(),
    }


def run(quick: bool) -> dict[str, Any]:
    from openfeature_s3_export import ExportHook

    rounds, n = (2, 5_000) if quick else (30, 10_000)

    def variants_for(new_exporter: Any) -> dict[str, tuple[Any, Any]]:
        variants: dict[str, tuple[Any, Any]] = {name: (hook, None) for name, hook in _hooks().items()}
        exporter = new_exporter()
        variants["export"] = (ExportHook(exporter), exporter)
        return variants

    samples, _ = interleaved(variants_for, rounds, n)
    variants = list(samples)
    med = {name: {k: median(v) for k, v in s.items()} for name, s in samples.items()}
    compared = {name: paired(samples, name) for name in variants}
    rows = [
        [
            name,
            f"{compared[name]['caller_over_ns'] / 1000:+.2f}",
            f"{compared[name]['process_ratio']:.3f}x",
        ]
        for name in variants
    ]
    print(f"Caller's thread per evaluation above the no-op hook, {rounds} rounds of {n:,}, per-round medians")
    print_table(["variant", "caller µs above noop", "process ratio"], rows)
    results = {
        "machine": machine(),
        "rounds": rounds,
        "evaluations_per_round": n,
        "median_ns": {name: {k: med[name][k] for k in ("process", "caller")} for name in med},
        "paired": compared,
        "caller_over_noop_ns": {name: compared[name]["caller_over_ns"] for name in variants},
    }
    write_results("caller_floor", results)
    return results


if __name__ == "__main__":
    raise SystemExit(main(run, __doc__))
