"""Caller latency when the destination is slow or down, against a healthy sink.

Three exporters side by side, each with its own worker: a healthy sink (gzip files), a sink
that takes 1 s per call (an overloaded or far-away endpoint) and a sink that raises on every
call (an outage).  Evaluations are timed one by one, in interleaved rounds, and the p50/p99
latencies compared.  The slow and failing sinks are fault injection, which no server gives on
demand.  Goal: p50 and p99 ratios to healthy <= 1.1 (the app must not notice).

    python bench/slow_sink.py [--quick]
"""

from __future__ import annotations

import gc
import random
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from _common import contexts, in_memory_flags, machine, main, median, percentile, print_table, write_results

from openfeature_s3_export import EncodedLine, ExportResult

GOAL = 1.1


class SlowSink:
    """Takes one second per export call, then reports success (injected slowness)."""

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        time.sleep(1.0)
        return ExportResult(delivered=len(batch))

    def shutdown(self) -> None:
        pass


class DownSink:
    """Fails every export call (injected outage)."""

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        raise ConnectionError("destination unreachable (injected)")

    def shutdown(self) -> None:
        pass


def run(quick: bool) -> dict[str, Any]:
    import logging

    from openfeature import api

    from openfeature_s3_export import EventExporter, ExportHook, FileSink

    logging.getLogger("openfeature_s3_export").setLevel(logging.CRITICAL)  # the outage is expected
    rounds, n = (6, 1000) if quick else (30, 2000)
    api.set_provider(in_memory_flags())
    client = api.get_client()
    ctxs = contexts(500)
    with tempfile.TemporaryDirectory() as tmp:
        exporters = {
            "healthy": EventExporter(FileSink(tmp), register_atexit=False),
            "slow (1 s/call)": EventExporter(SlowSink(), register_atexit=False),
            "down (raises)": EventExporter(DownSink(), register_atexit=False),
        }
        hooks = {name: ExportHook(exporter) for name, exporter in exporters.items()}
        latencies: dict[str, list[float]] = {name: [] for name in exporters}
        get = client.get_boolean_value
        clock = time.perf_counter_ns
        for _ in range(rounds):
            for name in random.sample(list(exporters), len(exporters)):
                api.clear_hooks()
                api.add_hooks([hooks[name]])
                gc.collect()
                out = latencies[name]
                for i in range(n):
                    start = clock()
                    get("new-checkout", False, ctxs[i % 500])
                    out.append(clock() - start)
        api.clear_hooks()
        stats = {}
        for name, exporter in exporters.items():
            exporter.shutdown(timeout=2)
            stats[name] = dict(exporter.stats())
    api.shutdown()

    table = {
        name: {
            "p50_ns": median(values),
            "p99_ns": percentile(values, 99),
            "mean_ns": sum(values) / len(values),
        }
        for name, values in latencies.items()
    }
    base = table["healthy"]
    rows = []
    ratios = {}
    for name, t in table.items():
        ratios[name] = {"p50": t["p50_ns"] / base["p50_ns"], "p99": t["p99_ns"] / base["p99_ns"]}
        s = stats[name]
        rows.append(
            [
                name,
                f"{t['p50_ns'] / 1000:.2f}",
                f"{t['p99_ns'] / 1000:.2f}",
                f"{ratios[name]['p50']:.2f}",
                f"{ratios[name]['p99']:.2f}",
                s["exported"],
                s["dropped"],
            ]
        )
    print(f"caller latency per evaluation, {rounds} interleaved rounds of {n}")
    print_table(["sink", "p50 µs", "p99 µs", "p50 ratio", "p99 ratio", "exported", "dropped"], rows)
    worst = max(max(r.values()) for name, r in ratios.items() if name != "healthy")
    verdict = "PASS" if worst <= GOAL else "FAIL"
    print(f"goal: slow/down sink latency ratio <= {GOAL} at p50 and p99: worst {worst:.2f} ({verdict})")
    print(
        "(drops under the slow and down sinks are counted: queue_full while the worker waits, export_failed)"
    )
    results = {
        "machine": machine(),
        "latency": table,
        "ratios": ratios,
        "stats": stats,
        "summary": {"worst_ratio": worst, "goal": GOAL, "pass": worst <= GOAL},
    }
    write_results("slow_sink", results)
    return results


if __name__ == "__main__":
    raise SystemExit(main(run, __doc__))
