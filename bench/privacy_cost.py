"""What each privacy and volume option costs per event, against every option off, in one run.

1. Worker cost: the row builder alone (where every option runs), CPU per capture record, each
   option against ``off`` in interleaved rounds: the same 1,000 users' evaluations of one flag
   (3 context attributes), as the hook captures them.  Options that remove events
   (de-duplication, sampling, filters) also remove the encoding of those events.
2. Total cost: process CPU per evaluation, all threads (hook, worker, gzip files, flush), for
   the no-op hook, ``ExportHook`` with every option off, and with the common options on
   (keyed hashing of the targeting key and e-mail, a dotted deny path, a flag include glob).
3. De-duplication memory: RSS of the exposure log holding 1,000,000 distinct users (its cap
   raised to fit them), measured in this process before and after.

    python bench/privacy_cost.py [--quick]
"""

from __future__ import annotations

import gc
import random
import tempfile
import time
from typing import Any

from _common import contexts, in_memory_flags, machine, main, median, print_table, write_results

SECRET = "bench-secret-0123456789abcdef0123"


def worker_variants() -> dict[str, dict[str, Any]]:
    """Exporter options per variant (``None``: the row builder with no gate at all)."""
    from openfeature_s3_export import ContextPolicy, Deduplication, FlagFilter, Hashing, Sampling

    hashing = Hashing(SECRET, key_id="bench")
    return {
        "off": {},
        "deny (dotted path)": {"context_policy": ContextPolicy(deny={"email", "address.street"})},
        "hash targeting key": {"hashing": hashing},
        "hash key + e-mail": {"hashing": hashing, "context_policy": ContextPolicy(hashed={"email"})},
        "flag include glob": {"flag_filter": FlagFilter(include=["new-*"])},
        "experiments only (all out)": {"flag_filter": FlagFilter(experiments_only=True)},
        "dedup, repeat users": {"deduplication": Deduplication()},
        "dedup, all new users": {"deduplication": Deduplication(window=1e-9)},
        "sampling 10 %": {"sampling": Sampling(rate=0.1)},
        "sampling 100 %": {"sampling": Sampling(rate=1.0)},
        "common (hash + deny + glob)": {
            "hashing": hashing,
            "context_policy": ContextPolicy(deny={"address.street"}, hashed={"email"}),
            "flag_filter": FlagFilter(include=["new-*"]),
        },
    }


def records(n: int) -> list[tuple[Any, ...]]:
    from openfeature.flag_evaluation import FlagEvaluationDetails, FlagType
    from openfeature.hook import HookContext

    from openfeature_s3_export._capture import evaluation_record

    ctxs = contexts(1000)
    out = []
    for i in range(n):
        hook_context = HookContext(
            flag_key="new-checkout",
            flag_type=FlagType.BOOLEAN,
            default_value=False,
            evaluation_context=ctxs[i % len(ctxs)],
        )
        out.append(evaluation_record(hook_context, FlagEvaluationDetails("new-checkout", True, variant="on")))
    return out


def builder(options: dict[str, Any]) -> Any:
    from openfeature_s3_export._gate import gate_for
    from openfeature_s3_export._rows import RowBuilder
    from openfeature_s3_export._source import Source

    gate = gate_for(options)  # as EventExporter does
    rows = RowBuilder(Source(host="h"), options.get("context_policy"), gate)
    return rows.encode if gate is None else rows.encode_gated


def worker_cost(quick: bool) -> dict[str, float]:
    rounds, n = (3, 5_000) if quick else (9, 50_000)
    batch = records(n)
    variants = worker_variants()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name in random.sample(list(variants), len(variants)):
            encode = builder(variants[name])  # fresh: caches and exposure log start empty
            for record in batch[:200]:
                encode(record)
            gc.collect()
            start = time.process_time_ns()
            for record in batch:
                encode(record)
            samples[name].append((time.process_time_ns() - start) / n)
    return {name: median(values) for name, values in samples.items()}


def total_round(client: Any, ctxs: list[Any], n: int, hook: Any, exporter: Any) -> float:
    from openfeature import api

    api.clear_hooks()
    api.add_hooks([hook])
    get = client.get_boolean_value
    gc.collect()
    start = time.process_time_ns()
    for i in range(n):
        get("new-checkout", False, ctxs[i % len(ctxs)])
    if exporter is not None:
        assert exporter.flush(timeout=60), dict(exporter.stats())
    return (time.process_time_ns() - start) / n


def total_cost(quick: bool) -> tuple[dict[str, float], dict[str, int]]:
    from openfeature import api
    from openfeature.hook import Hook

    from openfeature_s3_export import EventExporter, ExportHook, FileSink

    rounds, n = (3, 5_000) if quick else (9, 50_000)
    api.set_provider(in_memory_flags())
    client = api.get_client()
    ctxs = contexts(1000)
    common = worker_variants()["common (hash + deny + glob)"]
    with tempfile.TemporaryDirectory() as off_dir, tempfile.TemporaryDirectory() as on_dir:
        off = EventExporter(FileSink(off_dir), register_atexit=False)
        on = EventExporter(FileSink(on_dir), register_atexit=False, **common)
        variants = {
            "no-op hook": (Hook(), None),
            "export, options off": (ExportHook(off), off),
            "export, common options": (ExportHook(on), on),
        }
        for hook, owner in variants.values():
            total_round(client, ctxs, 2_000, hook, owner)
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name in random.sample(list(variants), len(variants)):
                samples[name].append(total_round(client, ctxs, n, *variants[name]))
        api.clear_hooks()
        off.shutdown(timeout=30)
        on.shutdown(timeout=30)
        stats = {"exported": off.stats()["exported"] + on.stats()["exported"]}
        stats["dropped"] = off.stats()["dropped"] + on.stats()["dropped"]
        stats["hashed"] = on.stats()["hashed"]
    api.shutdown()
    return {name: median(values) for name, values in samples.items()}, stats


def dedup_memory(quick: bool) -> dict[str, float]:
    import psutil

    from openfeature_s3_export._dedup import ExposureLog

    users = 100_000 if quick else 1_000_000
    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    log = ExposureLog(window_seconds=600, max_entries=users)
    for i in range(users):
        log.logged(hash((f"user-{i:07d}", "new-checkout")), "on", i)
    gc.collect()
    after = process.memory_info().rss
    assert len(log) == users
    return {"users": users, "rss_growth_bytes": after - before, "bytes_per_user": (after - before) / users}


def run(quick: bool) -> dict[str, Any]:
    worker = worker_cost(quick)
    total, stats = total_cost(quick)
    memory = dedup_memory(quick)
    off = worker["off"]
    print("Worker (row builder) CPU per capture record, median of interleaved rounds")
    print_table(
        ["option", "ns/event", "vs off"],
        [[name, f"{ns:.0f}", f"{ns / off:.2f}x"] for name, ns in worker.items()],
    )
    noop = total["no-op hook"]
    print("\nProcess CPU per evaluation, all threads (hook + worker + gzip files + flush)")
    print_table(
        ["variant", "µs/evaluation", "vs no-op hook"],
        [[name, f"{ns / 1000:.2f}", f"{ns / noop:.3f}x"] for name, ns in total.items()],
    )
    common_ratio = total["export, common options"] / noop
    off_ratio = total["export, options off"] / noop
    print(
        f"\ncommon options: {common_ratio:.3f}x the no-op hook (options off: {off_ratio:.3f}x); "
        f"exported {stats['exported']:,}, dropped {stats['dropped']}"
    )
    growth_mb = memory["rss_growth_bytes"] / 2**20
    print(
        f"de-duplication log: {memory['users']:,} distinct users, RSS +{growth_mb:.0f} MB "
        f"({memory['bytes_per_user']:.0f} B/user)"
    )
    results = {
        "machine": machine(),
        "worker_ns": worker,
        "worker_ratio": {name: ns / off for name, ns in worker.items()},
        "total_ns": total,
        "dedup_memory": memory,
        "summary": {
            "common_over_noop": common_ratio,
            "off_over_noop": off_ratio,
            "common_over_off": total["export, common options"] / total["export, options off"],
            "dedup_bytes_per_user": memory["bytes_per_user"],
            "dedup_users": memory["users"],
            "exported": stats["exported"],
            "dropped": stats["dropped"],
            "hashed": stats["hashed"],
        },
    }
    write_results("privacy_cost", results)
    return results


if __name__ == "__main__":
    raise SystemExit(main(run, __doc__))
