"""Run every benchmark, each in a fresh interpreter, and print one summary against the goals.

    python bench/run_all.py [--quick]

Full run: a few minutes on 2 cores; ``--quick``: a smoke run of about a minute.  Results go to
``bench/results/<name>.json`` and ``bench/results/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, machine, print_table, write_results

HERE = Path(__file__).resolve().parent
BENCHES = ["cpu_cost", "hook_overhead", "slow_sink", "throughput", "cost", "memory", "privacy_cost"]


def goals(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows: list[list[str]] = []

    def add(bench: str, goal: str, measured: str, ok: bool | None) -> None:
        rows.append([bench, goal, measured, "-" if ok is None else ("PASS" if ok else "FAIL")])

    if "cpu_cost" in results:
        s = results["cpu_cost"]["summary"]
        add(
            "cpu cost",
            "process CPU/evaluation, all threads <= 1.20x no-op hook",
            f"{s['process_ratio']:.3f}x (+{s['process_over_noop_ns'] / 1000:.2f} µs)",
            s["process_ratio"] <= s["goal_ratio"] and s["dropped"] == 0,
        )
        add(
            "cpu cost",
            "caller's thread <= 1.0 µs above no-op, worker running",
            f"{s['caller_over_noop_ns'] / 1000:+.2f} µs",
            s["caller_over_noop_ns"] <= s["goal_caller_ns"],
        )
    if "hook_overhead" in results:
        s = results["hook_overhead"]["summary"]
        add(
            "hook overhead",
            "ExportHook <= 1.0 µs above no-op (caller's thread)",
            f"{s['isolated_over_noop_ns'] / 1000:+.2f} µs",
            s["pass"],
        )
        add(
            "hook overhead",
            "CPU-bound loop, worker running (info)",
            f"{s['export_over_noop_ns'] / 1000:+.2f} µs (OTel hook {s['otel_over_noop_ns'] / 1000:+.2f})",
            None,
        )
        add(
            "hook overhead",
            "naive PutRecord per eval (info)",
            f"{s['naive_ratio_to_export']:.0f}x ExportHook",
            None,
        )
    if "slow_sink" in results:
        s = results["slow_sink"]["summary"]
        add("slow sink", "caller p50/p99 ratio <= 1.1 (1 s/call, down)", f"{s['worst_ratio']:.2f}", s["pass"])
    if "throughput" in results:
        r = results["throughput"]
        s = r["summary"]
        add(
            "throughput",
            "flat-out loop, files/S3/Firehose: no drops",
            f"{s['dropped']} dropped (worker alone: {s['capacity_over_fastest']:.2f}x the loop alone)",
            s["pass"],
        )
        add("throughput", "S3 Parquet at the same rate (info)", f"{s['dropped_parquet']} dropped", None)
    if "cost" in results:
        s = results["cost"]["summary"]
        add(
            "cost",
            "Firehose billed/payload <= 1.05 packed",
            f"{s['packed_ratio_full_batches']:.3f} (unpacked {s['unpacked_ratio']:.2f})",
            s["pass"],
        )
    if "memory" in results:
        s = results["memory"]["summary"]
        add(
            "memory",
            "RSS bounded under >= 10x overload",
            f"{s['bytes_per_queued_event']:.0f} B/event; +{s['rss_growth_bytes'] / 2**20:.0f} MB "
            f"at {s['overload_factor']:.0f}x",
            s["pass"],
        )
    if "privacy_cost" in results:
        s = results["privacy_cost"]["summary"]
        add(
            "privacy cost",
            "common options on: process CPU vs no-op hook (info)",
            f"{s['common_over_noop']:.3f}x (options off {s['off_over_noop']:.3f}x)",
            None,
        )
        add(
            "privacy cost",
            "de-duplication log memory (info)",
            f"{s['dedup_bytes_per_user']:.0f} B/user at {s['dedup_users']:,} users",
            None,
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run (about a minute)")
    parser.add_argument("--only", action="append", choices=BENCHES, help="run only these (repeatable)")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    started = time.monotonic()
    for name in args.only or BENCHES:
        print(f"\n=== {name} ===", flush=True)
        command = [sys.executable, str(HERE / f"{name}.py"), *(["--quick"] if args.quick else [])]
        if subprocess.run(command, check=False).returncode != 0:
            failures.append(name)
            continue
        results[name] = json.loads((RESULTS / f"{name}.json").read_text())
    elapsed = time.monotonic() - started
    print(f"\n=== summary ({'quick' if args.quick else 'full'} run, {elapsed:.0f} s) ===")
    rows = goals(results)
    print_table(["benchmark", "goal", "measured", "verdict"], rows)
    if failures:
        print(f"benchmarks that crashed: {', '.join(failures)}")
    write_results(
        "summary",
        {
            "machine": machine(),
            "quick": args.quick,
            "elapsed_s": elapsed,
            "goals": [
                dict(zip(["benchmark", "goal", "measured", "verdict"], row, strict=True)) for row in rows
            ],
            "crashed": failures,
        },
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
