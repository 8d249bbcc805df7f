"""``python -m openfeature_s3_export demo``: a small simulated experiment, end to end.

A real vendor SDK runs offline (flagd in-process from a flag file by default), a few hundred
users evaluate flags and some of them buy; every evaluation and track event goes through the
real pipeline to the chosen sink (``./exports`` on local disk by default).  Afterwards the demo
reads back what landed and prints a summary.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider import FeatureProvider
from openfeature.track import TrackingEventDetails

from ._counters import total_dropped
from .exporter import EventExporter
from .hook import ExportHook
from .sinks._aws import SinkConfigurationError
from .sinks._base import sink_stats
from .sinks.file import FileSink
from .sinks.url import sink_from_url
from .tracking import TrackingProvider

COUNTRIES = ("fr", "de", "us", "gb", "es")
PLANS = ("free", "free", "free", "premium")


def _flagd_provider() -> tuple[FeatureProvider, Callable[[], None]]:
    from openfeature.contrib.provider.flagd import FlagdProvider
    from openfeature.contrib.provider.flagd.config import ResolverType

    flag_file = resources.files("openfeature_s3_export") / "_demo" / "flags.flagd.json"
    with resources.as_file(flag_file) as path:
        provider = FlagdProvider(resolver_type=ResolverType.FILE, offline_flag_source_path=str(path))
    return provider, lambda: None


def _in_memory_provider() -> tuple[FeatureProvider, Callable[[], None]]:
    from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

    def split(flag: InMemoryFlag[Any], ctx: EvaluationContext) -> Any:
        from openfeature.flag_evaluation import FlagResolutionDetails, Reason

        variant = "treatment" if hash(ctx.targeting_key) % 2 else "control"
        return FlagResolutionDetails(value=flag.variants[variant], variant=variant, reason=Reason.SPLIT)

    flags: dict[str, InMemoryFlag[Any]] = {
        "new-checkout": InMemoryFlag(
            "control", {"control": False, "treatment": True}, context_evaluator=split
        ),
        "banner-color": InMemoryFlag("blue", {"blue": "#1e88e5", "green": "#43a047"}),
        "max-cart-items": InMemoryFlag("small", {"small": 10, "large": 50}),
        "pricing-config": InMemoryFlag("v1", {"v1": {"currency": "EUR", "discount": 0.0}}),
    }
    return InMemoryProvider(flags), lambda: None


VENDORS = {"flagd": _flagd_provider, "in-memory": _in_memory_provider}


def run_shop(client: Any, users: int, seed: int) -> Counter[str]:
    """The 'application': each user browses, sees flags, and maybe buys."""
    rng = random.Random(seed)
    done: Counter[str] = Counter()
    for n in range(users):
        ctx = EvaluationContext(
            f"user-{n:04d}", {"country": rng.choice(COUNTRIES), "plan": rng.choice(PLANS), "kind": "user"}
        )
        new_checkout = client.get_boolean_value("new-checkout", False, ctx)
        client.get_string_value("banner-color", "#000000", ctx)
        client.get_integer_value("max-cart-items", 5, ctx)
        client.get_object_value("pricing-config", {}, ctx)
        client.get_boolean_value("legacy-search", False, ctx)
        if n % 25 == 0:
            client.get_boolean_value("flag-that-does-not-exist", False, ctx)  # shows error rows
        done["users"] += 1
        if rng.random() < (0.30 if new_checkout else 0.20):
            amount = round(rng.uniform(10, 200), 2)
            details = TrackingEventDetails(value=amount, attributes={"items": rng.randint(1, 5)})
            client.track("purchase", ctx, details)
            done["purchases"] += 1
    return done


def summarize_files(directory: Path) -> dict[str, Any]:
    """Read back every ``.json.gz`` under *directory* (what landed on disk)."""
    files = sorted(p for p in directory.rglob("*.json.gz") if not p.name.startswith("."))
    kinds: Counter[str] = Counter()
    variants: dict[str, Counter[str]] = defaultdict(Counter)
    buyers_by_variant: Counter[str] = Counter()
    assignment: dict[str, str] = {}
    buyers: set[str] = set()
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                kinds[row["kind"]] += 1
                if row["kind"] == "evaluation":
                    variants[row["flag_key"]][row["variant"] or f"(default: {row['reason']})"] += 1
                    if row["flag_key"] == "new-checkout" and row["variant"]:
                        assignment[row["targeting_key"]] = row["variant"]
                elif row["event_name"] == "purchase":
                    buyers.add(row["targeting_key"])
    for user in buyers:
        buyers_by_variant[assignment.get(user, "?")] += 1
    return {
        "files": len(files),
        "partitions": sorted({str(p.parent.relative_to(directory)) for p in files}),
        "rows": dict(kinds),
        "variants": {k: dict(v) for k, v in sorted(variants.items())},
        "exposed": dict(Counter(assignment.values())),
        "buyers": dict(buyers_by_variant),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m openfeature_s3_export demo", description=__doc__)
    parser.add_argument(
        "--vendor", choices=sorted(VENDORS), default="flagd", help="flag vendor SDK to run offline"
    )
    parser.add_argument(
        "--sink",
        default="file:./exports",
        help="where events go: file:./dir (default file:./exports), s3://bucket/prefix, firehose://stream, "
        "kinesis://stream (AWS ones use the standard AWS configuration, including AWS_ENDPOINT_URL)",
    )
    parser.add_argument("--users", type=int, default=300, help="simulated users (default 300)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    try:
        provider, cleanup = VENDORS[args.vendor]()
    except ImportError:
        print(
            f"The {args.vendor} SDK is not installed (pip install 'openfeature-s3-export[{args.vendor}]'); "
            "using OpenFeature's in-memory provider instead.",
            file=sys.stderr,
        )
        provider, cleanup = _in_memory_provider()

    sink = sink_from_url(args.sink)
    check = getattr(sink, "check", None)
    if callable(check):
        try:
            check()
        except SinkConfigurationError as exc:
            print(
                f"cannot ship to {args.sink}: {exc}\n"
                "Configure AWS as for any boto3 program (credentials, AWS_REGION), or point "
                "AWS_ENDPOINT_URL at an S3/Firehose-compatible endpoint; see docs/aws.md.",
                file=sys.stderr,
            )
            return 2
    exporter = EventExporter(sink, flush_interval=1.0, service_name="demo-shop", environment="demo")
    api.set_provider_and_wait(TrackingProvider(provider, exporter))
    api.add_hooks([ExportHook(exporter)])
    started = time.perf_counter()
    done = run_shop(api.get_client(), args.users, args.seed)
    elapsed = time.perf_counter() - started
    flushed = exporter.shutdown(timeout=30)
    api.shutdown()
    cleanup()

    stats = exporter.stats()
    print(f"vendor: {provider.get_metadata().name}   sink: {sink!r}")
    print(
        f"{done['users']} users, {done['purchases']} purchases; {stats['enqueued']} events captured in "
        f"{elapsed:.2f}s of app time; exported {stats['exported']}, dropped {total_dropped(stats)}, "
        f"{stats['batches']} batches"
    )
    sink_counters = sink_stats(sink)
    if sink_counters:
        print(f"sink counters: {dict(sorted(sink_counters.items()))}")
        if sink_counters.get("billed_bytes") and sink_counters.get("payload_bytes"):
            ratio = sink_counters["billed_bytes"] / sink_counters["payload_bytes"]
            print(f"Firehose billed bytes / payload bytes: {ratio:.3f}")
    if isinstance(sink, FileSink):
        summary = summarize_files(sink.directory)
        print(f"\nlanded in {sink.directory}: {summary['files']} files in {', '.join(summary['partitions'])}")
        print(f"rows per kind: {summary['rows']}")
        print("variants per flag:")
        for flag, counts in summary["variants"].items():
            print(f"  {flag:26s} {counts}")
        print(f"new-checkout exposure: {summary['exposed']}   buyers per variant: {summary['buyers']}")
        print(
            "\nQuery it with DuckDB:\n"
            f"  SELECT flag_key, variant, count(*) FROM read_json('{sink.directory}/**/*.json.gz', "
            "hive_partitioning = true) WHERE kind = 'evaluation' GROUP BY ALL ORDER BY ALL;"
        )
    return 0 if flushed and total_dropped(stats) == 0 else 1
