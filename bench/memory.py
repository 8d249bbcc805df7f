"""Memory: bytes per queued event, and RSS under 10x overload (it must stay bounded).

1. Bytes per queued event: records queued while the worker sleeps, measured with tracemalloc
   (the capture record and the copied context attributes; the record keeps no SDK object).
2. Overload: the app evaluates flat out while the sink accepts one batch and then stalls until
   the run ends (fault injection: a stuck destination).  The overload is forced by
   construction, not by racing the machine: the app makes at least ``OVERLOAD`` times as many
   evaluations as the sink accepted, more than the queue plus the batches in flight can hold,
   however slow the machine.  RSS is sampled; the queue must stay at its bound and the excess
   must be counted as ``queue_full``.

    python bench/memory.py [--quick]
"""

from __future__ import annotations

import gc
import threading
import time
import tracemalloc
from collections.abc import Sequence
from typing import Any

import psutil
from _common import contexts, in_memory_flags, machine, main, print_table, write_results

from openfeature_s3_export import EncodedLine, ExportResult

OVERLOAD = 10
"""Evaluations made per event the stalled sink accepted, at least."""
BATCH = 5000
"""The exporter's ``max_batch_size`` in the overload run."""


class OneBatchThenStall:
    """Accepts one batch, then blocks every export until :attr:`release` is set."""

    def __init__(self) -> None:
        self.delivered = 0
        self.release = threading.Event()

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        if self.delivered:
            self.release.wait()
        self.delivered += len(batch)
        return ExportResult(delivered=len(batch))

    def shutdown(self) -> None:
        self.release.set()


def bytes_per_queued_event(client: Any, n: int) -> float:
    from openfeature import api

    from openfeature_s3_export import EventExporter, ExportHook, InMemorySink

    exporter = EventExporter(InMemorySink(), max_queue_size=n + 1, flush_interval=3600, register_atexit=False)
    # bench only: keep the worker asleep so records stay queued
    exporter._engine._wake_threshold = exporter._engine._wake_at = n + 10
    api.clear_hooks()
    api.add_hooks([ExportHook(exporter)])
    ctxs = contexts(n)  # distinct contexts, as distinct users would bring
    get = client.get_boolean_value
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for ctx in ctxs:
        get("new-checkout", False, ctx)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(exporter._engine._queue) == n
    api.clear_hooks()
    exporter.shutdown(timeout=30)
    return (after - before) / n


def overload(client: Any, duration: float, max_queue: int) -> dict[str, Any]:
    from openfeature import api

    from openfeature_s3_export import EventExporter, ExportHook

    process = psutil.Process()
    sink = OneBatchThenStall()
    exporter = EventExporter(sink, max_queue_size=max_queue, max_batch_size=BATCH, register_atexit=False)
    # What the pipeline can hold while the sink stalls: the queue, one batch delivered, one at
    # the sink, one in the outbox, one the worker waits to hand over.  Making more evaluations
    # than that (and OVERLOAD times what the sink accepts) forces drops on any machine.
    at_least = max(max_queue + 4 * BATCH, OVERLOAD * BATCH) + BATCH
    api.clear_hooks()
    api.add_hooks([ExportHook(exporter)])
    ctxs = contexts(5000)
    gc.collect()
    rss: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        t0 = time.perf_counter()
        while not done.wait(0.05):
            rss.append((round(time.perf_counter() - t0, 2), process.memory_info().rss))

    start_rss = process.memory_info().rss
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    get = client.get_boolean_value
    n = 0
    max_depth = 0
    stop = time.perf_counter() + duration
    while time.perf_counter() < stop or n < at_least:
        for _ in range(500):
            get("new-checkout", False, ctxs[n % 5000])
            n += 1
        max_depth = max(max_depth, len(exporter._engine._queue))
    done.set()
    sampler.join()
    elapsed = time.perf_counter() - (stop - duration)
    api.clear_hooks()
    stats = exporter.stats()
    delivered = sink.delivered
    sink.release.set()
    exporter.shutdown(timeout=30)  # the queued events now leave; any left are counted
    produced_per_s = n / elapsed
    return {
        "evaluations": n,
        "produced_per_s": produced_per_s,
        "sink_per_s": delivered / elapsed,
        "overload_factor": n / max(stats["exported"], 1),
        "queue_bound": max_queue,
        "queue_max": max_depth,
        "dropped_queue_full": stats.get("dropped.queue_full", 0),
        "start_rss": start_rss,
        "peak_rss": max((r for _, r in rss), default=start_rss),
        "end_rss": rss[-1][1] if rss else start_rss,
        "rss_over_time": rss[:: max(1, len(rss) // 50)],
    }


def run(quick: bool) -> dict[str, Any]:
    from openfeature import api

    api.set_provider(in_memory_flags())
    client = api.get_client()
    per_event = bytes_per_queued_event(client, 20_000 if quick else 100_000)
    max_queue = 20_000
    result = overload(client, 2.0 if quick else 6.0, max_queue)
    api.shutdown()
    growth = result["peak_rss"] - result["start_rss"]
    # Bounded: growth within what the queue plus three batches in flight can hold, with slack
    # for allocator behaviour (freed memory is not always returned to the OS).
    budget = 3 * (max_queue + 3 * 5000) * per_event
    bounded = result["queue_max"] <= max_queue and growth <= budget
    print(f"bytes per queued event (capture record + copied context): {per_event:,.0f}")
    print_table(
        [
            "overload x",
            "evals",
            "queue max",
            "queue bound",
            "dropped queue_full",
            "RSS start MB",
            "RSS peak MB",
        ],
        [
            [
                f"{result['overload_factor']:.0f}",
                result["evaluations"],
                result["queue_max"],
                max_queue,
                result["dropped_queue_full"],
                f"{result['start_rss'] / 2**20:.0f}",
                f"{result['peak_rss'] / 2**20:.0f}",
            ]
        ],
    )
    verdict = "PASS" if bounded and result["overload_factor"] >= 10 else "FAIL"
    print(
        f"goal: memory bounded under >= 10x overload: growth {growth / 2**20:.1f} MB "
        f"(budget {budget / 2**20:.0f} MB), queue max {result['queue_max']} <= {max_queue} ({verdict})"
    )
    results = {
        "machine": machine(),
        "bytes_per_queued_event": per_event,
        "overload": result,
        "summary": {
            "bytes_per_queued_event": per_event,
            "rss_growth_bytes": growth,
            "budget_bytes": budget,
            "overload_factor": result["overload_factor"],
            "bounded": bounded,
            "pass": bounded and result["overload_factor"] >= 10,
        },
    }
    write_results("memory", results)
    return results


if __name__ == "__main__":
    raise SystemExit(main(run, __doc__))
