"""Hook overhead: what one flag evaluation costs with each hook, side by side.

Variants, interleaved in many short rounds (so machine noise hits all of them alike):

- ``none``: no hook; ``noop``: a ``Hook`` that does nothing (the SDK's plumbing for any hook)
- ``export``: ``ExportHook`` with default options, the exporter's worker running and writing
  gzip files (real conditions: the worker competes with the app for the GIL)
- ``export+privacy``: the same with ``ContextPolicy(deny=[...])`` (applied on the worker)
- ``otel``: OpenTelemetry's ``TracingHook`` with no active span; ``otel+span``: inside a
  recording span (SDK ``TracerProvider``)
- ``naive-put-record``: a synchronous Firehose ``PutRecord`` per evaluation from the hook,
  against moto on 127.0.0.1 (the LaunchDarkly reference example's approach, minus the
  internet round trip it would really pay)

Also the hook's own cost in isolation: ``finally_after`` called directly, worker asleep.

    python bench/hook_overhead.py [--quick]
"""

from __future__ import annotations

import gc
import json
import random
import tempfile
import time
from typing import Any

from _common import contexts, in_memory_flags, machine, main, median, print_table, write_results

GOAL_NS = 1000  # ExportHook at most 1.0 µs above the no-op hook (median)


def naive_hook(stream: str) -> Any:
    import boto3
    from openfeature.hook import Hook

    firehose = boto3.client("firehose")

    class NaivePutRecordHook(Hook):
        """One synchronous PutRecord per evaluation, on the caller's thread."""

        def after(self, hook_context: Any, details: Any, hints: Any) -> None:
            record = {"flag": hook_context.flag_key, "value": details.value, "user": details.variant}
            firehose.put_record(DeliveryStreamName=stream, Record={"Data": json.dumps(record) + "\n"})

    return NaivePutRecordHook()


def time_loop(client: Any, ctxs: list[Any], n: int) -> float:
    """ns per evaluation over *n* evaluations."""
    get = client.get_boolean_value
    k = len(ctxs)
    start = time.perf_counter_ns()
    for i in range(n):
        get("new-checkout", False, ctxs[i % k])
    return (time.perf_counter_ns() - start) / n


def isolated_cost(rounds: int, n: int) -> dict[str, float]:
    """``finally_after`` alone: ExportHook vs a no-op hook, the worker kept asleep."""
    from openfeature.flag_evaluation import FlagEvaluationDetails, FlagType
    from openfeature.hook import Hook, HookContext
    from openfeature.provider import Metadata

    from openfeature_s3_export import EventExporter, ExportHook, InMemorySink

    exporter = EventExporter(InMemorySink(), max_queue_size=10**8, flush_interval=3600, register_atexit=False)
    # bench only: keep the worker asleep to time the caller's side alone
    exporter._engine._wake_threshold = exporter._engine._wake_at = 10**9
    hook, noop = ExportHook(exporter), Hook()
    ctx = contexts(1)[0]
    hook_context = HookContext(
        "new-checkout", FlagType.BOOLEAN, False, ctx, provider_metadata=Metadata("bench")
    )
    details = FlagEvaluationDetails("new-checkout", True, "on", "STATIC")
    results: dict[str, list[float]] = {"export": [], "noop": []}
    queue = exporter._engine._queue
    block = 500  # the worker keeps the real queue short; a long one would only time the GC
    for _ in range(rounds):
        for name, h in random.sample([("export", hook), ("noop", noop)], 2):
            elapsed = 0
            for _ in range(n // block):
                start = time.perf_counter_ns()
                for _ in range(block):
                    h.finally_after(hook_context, details, {})
                elapsed += time.perf_counter_ns() - start
                queue.clear()
            results[name].append(elapsed / (n // block * block))
    exporter.shutdown(timeout=1)
    return {name: median(values) for name, values in results.items()}


def run(quick: bool) -> dict[str, Any]:
    from _common import MotoServer
    from openfeature import api
    from openfeature.contrib.hook.opentelemetry import TracingHook
    from openfeature.hook import Hook
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from openfeature_s3_export import ContextPolicy, EventExporter, ExportHook, FileSink

    rounds, n, n_naive = (8, 1000, 20) if quick else (40, 2000, 50)
    api.set_provider(in_memory_flags())
    client = api.get_client()
    ctxs = contexts(500)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("bench")

    with tempfile.TemporaryDirectory() as tmp, MotoServer() as moto:
        moto.create_delivery_stream("bench-naive")
        exporter = EventExporter(FileSink(f"{tmp}/default"), register_atexit=False)
        private = EventExporter(
            FileSink(f"{tmp}/privacy"),
            context_policy=ContextPolicy(deny=["email"]),
            register_atexit=False,
        )
        variants: dict[str, tuple[list[Any], bool, int]] = {
            "none": ([], False, n),
            "noop": ([Hook()], False, n),
            "export": ([ExportHook(exporter)], False, n),
            "export+privacy": ([ExportHook(private)], False, n),
            "otel": ([TracingHook()], False, n),
            "otel+span": ([TracingHook()], True, n),
            "naive-put-record": ([naive_hook("bench-naive")], False, n_naive),
        }
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for hooks, _, _ in variants.values():  # warm-up: caches, connections, imports
            api.clear_hooks()
            api.add_hooks(hooks)
            time_loop(client, ctxs, 50)
        for _ in range(rounds):
            for name in random.sample(list(variants), len(variants)):
                hooks, in_span, count = variants[name]
                api.clear_hooks()
                api.add_hooks(hooks)
                gc.collect()
                if in_span:
                    with tracer.start_as_current_span("request"):
                        samples[name].append(time_loop(client, ctxs, count))
                else:
                    samples[name].append(time_loop(client, ctxs, count))
        api.clear_hooks()
        exporter.shutdown(timeout=30)
        private.shutdown(timeout=30)
        exported = exporter.stats()["exported"] + private.stats()["exported"]
        dropped = exporter.stats()["dropped"] + private.stats()["dropped"]
    api.shutdown()

    medians = {name: median(values) for name, values in samples.items()}
    isolated = isolated_cost(rounds, 20_000 if quick else 100_000)
    over_noop = medians["export"] - medians["noop"]
    isolated_over_noop = isolated["export"] - isolated["noop"]
    rows = [
        [
            name,
            f"{medians[name] / 1000:.2f}",
            f"{(medians[name] - medians['none']) / 1000:+.2f}",
            f"{(medians[name] - medians['noop']) / 1000:+.2f}",
            f"{medians[name] / medians['noop']:.2f}x",
        ]
        for name in variants
    ]
    print(f"per-evaluation cost, InMemoryProvider, median of {rounds} interleaved rounds")
    print_table(["variant", "µs/eval", "vs none µs", "vs no-op µs", "ratio to no-op"], rows)
    print(
        f"\nExportHook.finally_after alone (worker asleep): {isolated['export']:.0f} ns vs no-op "
        f"{isolated['noop']:.0f} ns: {isolated_over_noop:+.0f} ns"
    )
    verdict = "PASS" if isolated_over_noop <= GOAL_NS else "FAIL"
    print(
        f"goal: ExportHook <= {GOAL_NS / 1000:.1f} µs above the no-op hook on the caller's thread: "
        f"{isolated_over_noop / 1000:+.2f} µs ({verdict})\n"
        f"with the worker running in the same process, a CPU-bound loop also pays the worker's "
        f"encoding (GIL): {over_noop / 1000:+.2f} µs per evaluation in total; "
        f"events exported {exported}, dropped {dropped}"
    )
    results = {
        "machine": machine(),
        "rounds": rounds,
        "evaluations_per_round": n,
        "median_ns": medians,
        "samples_ns": samples,
        "isolated_ns": isolated,
        "summary": {
            "export_over_noop_ns": over_noop,
            "export_privacy_over_noop_ns": medians["export+privacy"] - medians["noop"],
            "isolated_over_noop_ns": isolated_over_noop,
            "otel_over_noop_ns": medians["otel"] - medians["noop"],
            "naive_over_noop_ns": medians["naive-put-record"] - medians["noop"],
            "naive_ratio_to_export": medians["naive-put-record"] / medians["export"],
            "goal_ns": GOAL_NS,
            "pass": isolated_over_noop <= GOAL_NS,
            "exported": exported,
            "dropped": dropped,
        },
    }
    write_results("hook_overhead", results)
    return results


if __name__ == "__main__":
    raise SystemExit(main(run, __doc__))
