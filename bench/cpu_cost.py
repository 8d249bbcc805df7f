"""Total cost: process CPU per evaluation, all threads, ExportHook against a no-op hook.

The exporter's worker and sender share the GIL and the CPU with the application, so the cost
that matters is what the whole process spends, not only the caller's thread.  Interleaved
rounds in one run, each: register the hook, evaluate N times (OpenFeature's in-memory
provider, 3 context attributes), then ``flush()`` so that the worker's encoding, compression
and the file writes are all inside the measurement.  Reported per evaluation:

- ``process``: ``time.process_time()`` (every thread of the process), the number that counts
- ``caller``: ``time.thread_time()`` of the evaluating thread alone, the worker running
- ``worker`` and ``sender``: the exporter's two threads (their CPU clocks), for where it goes

The verdicts compare each round's variants with each other, not medians taken apart: on a
shared VM the speed of the whole machine drifts by a third within a minute, which a ratio of
two medians measured seconds apart takes for a cost.  Inside a round the variants alternate in
short slices (each flushed, in a new random order each time), so a drift reaches them alike.
The goals are the median over rounds of the per-round ratio, and of the per-round difference
for the caller's thread; the quartiles of those per-round values are printed beside them.

Where the C extension is built, a third variant runs the same exporter with it left out
(capture and line joining in Python), so that what it buys is measured in the same run.

    python bench/cpu_cost.py [--quick]
"""

from __future__ import annotations

import gc
import random
import tempfile
import time
from collections.abc import Callable
from typing import Any

from _common import contexts, in_memory_flags, machine, main, median, percentile, print_table, write_results

GOAL_RATIO = 1.20  # process CPU per evaluation, ExportHook / no-op hook
GOAL_CALLER_NS = 1000  # the caller's own thread, ExportHook above no-op, worker running
SLICES = 5  # each round runs every variant in this many alternating slices
THREADS = ("worker", "sender")
PURE = "export, pure Python"


def _thread_clocks(exporter: Any) -> dict[str, int]:
    """CPU ns so far of the exporter's worker and sender threads (0 before they start)."""
    engine = exporter._engine
    clocks = {}
    for name, thread in (("worker", engine._worker), ("sender", engine._sender.thread)):
        alive = thread.ident is not None and thread.is_alive()
        clocks[name] = time.clock_gettime_ns(time.pthread_getcpuclockid(thread.ident)) if alive else 0
    return clocks


def one_round(client: Any, ctxs: list[Any], n: int, hook: Any, exporter: Any) -> dict[str, float]:
    """Process, caller-thread, worker and sender ns per evaluation for one round of *n*."""
    from openfeature import api

    api.clear_hooks()
    api.add_hooks([hook])
    get = client.get_boolean_value
    k = len(ctxs)
    gc.collect()
    before = _thread_clocks(exporter) if exporter is not None else {}
    process, thread = time.process_time_ns(), time.thread_time_ns()
    for i in range(n):
        get("new-checkout", False, ctxs[i % k])
    caller = time.thread_time_ns() - thread
    if exporter is not None:
        assert exporter.flush(timeout=60), dict(exporter.stats())
    total = time.process_time_ns() - process
    after = _thread_clocks(exporter) if exporter is not None else {}
    threads = {name: (after[name] - before.get(name, 0)) / n for name in after}
    return {"process": total / n, "caller": caller / n, **threads}


Samples = dict[str, dict[str, list[float]]]


def paired(samples: Samples, name: str, base: str = "noop") -> dict[str, float]:
    """Per-round comparisons of *name* with *base*, summarised over the rounds: the median
    process ratio and caller difference (ns), and the quartiles of each."""
    ratios = sorted(a / b for a, b in zip(samples[name]["process"], samples[base]["process"], strict=True))
    over = sorted(a - b for a, b in zip(samples[name]["caller"], samples[base]["caller"], strict=True))
    return {
        "process_ratio": median(ratios),
        "process_ratio_q1": percentile(ratios, 25),
        "process_ratio_q3": percentile(ratios, 75),
        "caller_over_ns": median(over),
        "caller_over_q1_ns": percentile(over, 25),
        "caller_over_q3_ns": percentile(over, 75),
    }


def interleaved(
    variants_for: Callable[[Callable[[], Any]], dict[str, tuple[Any, Any]]], rounds: int, n: int
) -> tuple[Samples, dict[str, int]]:
    """Process, caller-thread (and exporter-thread) ns per evaluation, per variant and round,
    over *rounds* rounds of *n* evaluations per variant, and the final counters of the exporters.

    ``variants_for(new_exporter)`` names each variant's ``(hook, exporter to flush or None)``;
    ``new_exporter()`` makes an exporter writing gzip files to a temporary directory (the
    keyword arguments go to ``EventExporter``), shut down at the end.
    """
    from openfeature import api

    from openfeature_s3_export import EventExporter, FileSink

    api.set_provider(in_memory_flags())
    client = api.get_client()
    ctxs = contexts(1000)
    exporters: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:

        def new_exporter(**options: Any) -> Any:
            sink = FileSink(f"{tmp}/{len(exporters)}")
            exporters.append(EventExporter(sink, register_atexit=False, **options))
            return exporters[-1]

        variants = variants_for(new_exporter)
        for hook, owner in variants.values():  # warm-up: caches, imports, the first files
            one_round(client, ctxs, 2_000, hook, owner)
        samples: Samples = {name: {} for name in variants}
        for _ in range(rounds):
            # A round is SLICES short runs of every variant, each slice in a new random order:
            # a drift in the machine's speed then reaches every variant of the round alike.
            sums: dict[str, dict[str, float]] = {name: {} for name in variants}
            for _ in range(SLICES):
                for name in random.sample(list(variants), len(variants)):
                    for key, value in one_round(client, ctxs, n // SLICES, *variants[name]).items():
                        sums[name][key] = sums[name].get(key, 0.0) + value / SLICES
            for name, values in sums.items():
                for key, value in values.items():
                    samples[name].setdefault(key, []).append(value)
        api.clear_hooks()
        stats: dict[str, int] = {}
        for exporter in exporters:
            exporter.shutdown(timeout=30)
            for key in ("exported", "dropped"):
                stats[key] = stats.get(key, 0) + exporter.stats()[key]
    api.shutdown()
    return samples, stats


def pure_python_export(new_exporter: Callable[[], Any]) -> tuple[Any, Any] | None:
    """``ExportHook`` and its exporter with the C extension left out (the capture and the line
    joining in Python), to measure in the same run; ``None`` when the extension is not built."""
    import types

    from openfeature_s3_export import ExportHook, _rows
    from openfeature_s3_export import hook as hook_module
    from openfeature_s3_export._accelerated import speedups
    from openfeature_s3_export._capture import py_evaluation_record

    if speedups is None:
        return None
    _rows.speedups = None  # read when a RowBuilder is made
    try:
        exporter = new_exporter()
    finally:
        _rows.speedups = speedups
    hook = ExportHook(exporter)
    for stage in ("before", "after", "error", "supports_flag_value_type"):
        vars(hook).pop(stage, None)  # the SDK's Python methods, not their C versions
    # The same finally_after, its capture the Python one: set on the instance, as the SDK
    # looks the method up on the hook object.
    names = {**vars(hook_module), "evaluation_record": py_evaluation_record}
    python_finally_after = types.FunctionType(ExportHook.finally_after.__code__, names)
    hook.finally_after = types.MethodType(python_finally_after, hook)  # type: ignore[method-assign]
    return hook, exporter


def run(quick: bool) -> dict[str, Any]:
    from openfeature.hook import Hook

    from openfeature_s3_export import ExportHook

    rounds, n = (3, 5_000) if quick else (40, 10_000)

    def variants_for(new_exporter: Callable[[], Any]) -> dict[str, tuple[Any, Any]]:
        exporter = new_exporter()
        variants = {"noop": (Hook(), None), "export": (ExportHook(exporter), exporter)}
        python = pure_python_export(new_exporter)
        if python is not None:  # what the C extension buys, in the same run
            variants[PURE] = python
        return variants

    samples, stats = interleaved(variants_for, rounds, n)
    med = {name: {k: median(v) for k, v in s.items()} for name, s in samples.items()}
    compared = {name: paired(samples, name) for name in samples if name != "noop"}
    rows = [["noop", f"{med['noop']['process'] / 1000:.2f}", "1.000x", "", "", "", ""]]
    for name, c in compared.items():
        rows.append(
            [
                name,
                f"{med[name]['process'] / 1000:.2f}",
                f"{c['process_ratio']:.3f}x ({c['process_ratio_q1']:.3f}-{c['process_ratio_q3']:.3f})",
                f"{c['caller_over_ns'] / 1000:+.2f} ({c['caller_over_q1_ns'] / 1000:+.2f}"
                f" to {c['caller_over_q3_ns'] / 1000:+.2f})",
                f"{med[name].get('worker', 0) / 1000:.2f}",
                f"{med[name].get('sender', 0) / 1000:.2f}",
                f"{(med[name]['process'] - med['noop']['process']) / 1000:+.2f}",
            ]
        )
    print(
        f"CPU per evaluation, {rounds} interleaved rounds of {n:,} evaluations + flush; ratios and "
        "differences per round, median (quartiles)"
    )
    headers = ["variant", "process µs", "process ratio", "caller µs above noop", "worker µs", "sender µs"]
    print_table([*headers, "process +µs"], rows)
    ratio = compared["export"]["process_ratio"]
    caller_over = compared["export"]["caller_over_ns"]
    ok = ratio <= GOAL_RATIO and caller_over <= GOAL_CALLER_NS and stats["dropped"] == 0
    print(
        f"goal: process CPU <= {GOAL_RATIO:.2f}x the no-op hook: {ratio:.3f}x; caller's thread "
        f"{caller_over / 1000:+.2f} µs above no-op (goal <= {GOAL_CALLER_NS / 1000:.1f}); "
        f"exported {stats['exported']:,}, dropped {stats['dropped']} ({'PASS' if ok else 'FAIL'})"
    )
    results = {
        "machine": machine(),
        "rounds": rounds,
        "evaluations_per_round": n,
        "median_ns": {name: {k: med[name][k] for k in ("process", "caller")} for name in med},
        "threads_ns": {name: {k: v for k, v in med[name].items() if k in THREADS} for name in med},
        "paired": compared,
        "samples_ns": samples,
        "summary": {
            "process_ratio": ratio,
            "process_over_noop_ns": med["export"]["process"] - med["noop"]["process"],
            "caller_over_noop_ns": caller_over,
            "goal_ratio": GOAL_RATIO,
            "goal_caller_ns": GOAL_CALLER_NS,
            "exported": stats["exported"],
            "dropped": stats["dropped"],
            "pass": ok,
            "pure_python_ratio": compared.get(PURE, {}).get("process_ratio"),
        },
    }
    write_results("cpu_cost", results)
    return results


if __name__ == "__main__":
    raise SystemExit(main(run, __doc__))
