"""Firehose cost: billed bytes (records rounded up to 5 KB) / payload bytes, packed vs not.

Real events from the demo shop go through the real FirehoseSink to moto's Firehose on
127.0.0.1; the ratio comes from the sink's own counters.  Pipeline batch sizes vary with
traffic (a batch leaves at 5,000 events, 4 MiB or 5 s), so the ratio is reported per batch
size: small batches are what a quiet service sends.

    python bench/cost.py [--quick]
"""

from __future__ import annotations

from typing import Any

from _common import MotoServer, machine, main, print_table, write_results

GOAL = 1.05


def demo_events(users: int) -> list[Any]:
    from openfeature import api

    from openfeature_s3_export.cli.demo import _in_memory_provider, run_shop
    from openfeature_s3_export.testing import capture_events

    provider, _ = _in_memory_provider()
    api.set_provider(provider)
    with capture_events(max_batch_size=1_000_000) as captured:
        run_shop(api.get_client(), users, seed=1)
        captured.rows()
        events = captured.sink.lines
    api.shutdown()
    return events


def measure(events: list[Any], batch_size: int, **sink_options: Any) -> dict[str, Any]:
    from openfeature_s3_export import FirehoseSink

    sink = FirehoseSink("bench-cost", **sink_options)
    for start in range(0, len(events), batch_size):
        result = sink.export(events[start : start + batch_size])
        assert not result.failed, result.error
    stats = sink.stats()
    return {
        "batch_size": batch_size,
        "packed": sink_options.get("pack", True),
        "record_bytes": sink_options.get("record_bytes", sink.record_bytes) if sink.pack else None,
        "events": stats["events"],
        "records": stats["records"],
        "payload_bytes": stats["payload_bytes"],
        "billed_bytes": stats["billed_bytes"],
        "ratio": stats["billed_bytes"] / stats["payload_bytes"],
    }


def run(quick: bool) -> dict[str, Any]:
    events = demo_events(150 if quick else 1500)
    with MotoServer() as moto:
        moto.create_delivery_stream("bench-cost")
        batch_sizes = [10, 100, 1000, 5000]
        rows = [measure(events, size, pack=False) for size in batch_sizes]
        rows += [measure(events, size) for size in batch_sizes]
        rows += [measure(events, 5000, record_bytes=size) for size in (64_000, 1_024_000)]
    mean_event = sum(len(e.data) for e in events) / len(events)
    full = next(r for r in rows if r["packed"] and r["batch_size"] == 5000 and r["record_bytes"] == 256_000)
    summary = {
        "mean_event_bytes": round(mean_event, 1),
        "unpacked_ratio": next(r for r in rows if not r["packed"])["ratio"],
        "packed_ratio_full_batches": full["ratio"],
        "goal": GOAL,
        "pass": full["ratio"] <= GOAL,
    }
    print(f"Firehose billed/payload bytes, {len(events)} demo events of {mean_event:.0f} B on average")
    print_table(
        ["packed", "record_bytes", "batch", "records", "payload B", "billed B", "billed/payload"],
        [
            [
                "yes" if r["packed"] else "no",
                r["record_bytes"] or "-",
                r["batch_size"],
                r["records"],
                r["payload_bytes"],
                r["billed_bytes"],
                f"{r['ratio']:.3f}",
            ]
            for r in rows
        ],
    )
    print(
        f"goal: packed ratio <= {GOAL} at full batches: {full['ratio']:.3f} "
        f"({'PASS' if summary['pass'] else 'FAIL'})"
    )
    results = {"machine": machine(), "rows": rows, "summary": summary}
    write_results("cost", results)
    return results


if __name__ == "__main__":
    raise SystemExit(main(run, __doc__))
