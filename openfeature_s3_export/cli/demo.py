"""``demo``: a small simulated experiment, end to end, through the real pipeline.

A real vendor SDK runs offline (flagd in-process from a flag file by default), users evaluate
flags and some of them buy; every evaluation and track event goes through the real pipeline to
the chosen sink (``./exports`` on local disk by default).  Afterwards the demo reads back what
landed, prints a summary and the next command to run.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import click
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider import FeatureProvider
from openfeature.track import TrackingEventDetails

from .. import EventExporter, ExportHook, FileSink, SinkConfigurationError, TrackingProvider
from ._common import CliError
from .check import open_sink

COUNTRIES = ("fr", "de", "us", "gb", "es")
PLANS = ("free", "free", "free", "premium")
DEFAULT_USERS = 2000
EXPERIMENT = "new-checkout"
METRIC = "purchase"
SPILL_DIR_ENV = "OPENFEATURE_S3_EXPORT_SPILL_DIR"  # read by EventExporter too
DEFAULT_SPILL_DIR = "./.openfeature-s3-export-spill"


def _flagd_provider() -> tuple[FeatureProvider, Callable[[], None]]:
    from openfeature.contrib.provider.flagd import FlagdProvider
    from openfeature.contrib.provider.flagd.config import ResolverType

    flag_file = resources.files(__package__ or __name__) / "_demo" / "flags.flagd.json"
    with resources.as_file(flag_file) as path:
        provider = FlagdProvider(resolver_type=ResolverType.FILE, offline_flag_source_path=str(path))
    return provider, lambda: None


def bucket(flag_key: str, targeting_key: str | None) -> int:
    """A stable bucket in 0..99 for a unit and a flag, the same in every process (unlike
    ``hash()``, which Python salts per process), as vendors hash flag key and unit."""
    digest = hashlib.sha256(f"{flag_key}/{targeting_key or ''}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def _in_memory_provider() -> tuple[FeatureProvider, Callable[[], None]]:
    from openfeature.flag_evaluation import FlagResolutionDetails, Reason
    from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

    def split(flag: InMemoryFlag[Any], ctx: EvaluationContext) -> Any:
        variant = "treatment" if bucket(EXPERIMENT, ctx.targeting_key) < 50 else "control"
        return FlagResolutionDetails(value=flag.variants[variant], variant=variant, reason=Reason.SPLIT)

    flags: dict[str, InMemoryFlag[Any]] = {
        EXPERIMENT: InMemoryFlag("control", {"control": False, "treatment": True}, context_evaluator=split),
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
            f"user-{n:05d}", {"country": rng.choice(COUNTRIES), "plan": rng.choice(PLANS), "kind": "user"}
        )
        new_checkout = client.get_boolean_value(EXPERIMENT, False, ctx)
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
            client.track(METRIC, ctx, details)
            done["purchases"] += 1
    return done


def summarize_files(directory: Path) -> dict[str, Any]:
    """Read back every ``.json.gz`` under *directory* (what landed on disk)."""
    files = sorted(p for p in directory.rglob("*.json.gz") if not p.name.startswith("."))
    kinds: Counter[str] = Counter()
    variants: dict[str, Counter[str]] = defaultdict(Counter)
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                kinds[row["kind"]] += 1
                if row["kind"] == "evaluation":
                    variants[row["flag_key"]][row["variant"] or f"(default: {row['reason']})"] += 1
    return {
        "files": len(files),
        "partitions": sorted({str(p.parent.relative_to(directory)) for p in files}),
        "rows": dict(kinds),
        "variants": {k: dict(v) for k, v in sorted(variants.items())},
    }


def _earlier_run(directory: Path) -> list[Path]:
    """The partition folders an earlier export left in *directory*."""
    return sorted(p for p in directory.glob("dt=*") if p.is_dir())


def _prepare_directory(directory: Path, replace: bool) -> None:
    earlier = _earlier_run(directory)
    if not earlier:
        return
    if not replace:
        raise CliError(
            f"{directory} already holds an earlier export ({len(earlier)} dt= folder(s)); mixing runs "
            "skews every figure",
            "add --replace to delete them, or pass --sink file:./another-dir",
        )
    for folder in earlier:
        shutil.rmtree(folder)


@click.command(short_help="Run a simulated A/B test into ./exports; prints the next command.")
@click.option(
    "--vendor",
    type=click.Choice(sorted(VENDORS)),
    default="flagd",
    show_default=True,
    help="flag vendor SDK to run offline",
)
@click.option(
    "--sink",
    default="file:./exports",
    show_default=True,
    help="file:./dir, s3://BUCKET/PREFIX, firehose://STREAM or kinesis://STREAM (AWS ones use "
    "the standard AWS configuration, including AWS_ENDPOINT_URL)",
)
@click.option(
    "--users", type=click.IntRange(1), default=DEFAULT_USERS, show_default=True, help="simulated users"
)
@click.option("--seed", type=int, default=7, show_default=True, help="seed of the simulated behaviour")
@click.option("--replace", is_flag=True, help="delete an earlier export in the target directory first")
@click.option(
    "--spill-dir",
    default=lambda: os.environ.get(SPILL_DIR_ENV) or DEFAULT_SPILL_DIR,
    show_default=f"${SPILL_DIR_ENV} or {DEFAULT_SPILL_DIR}",
    help="where undeliverable batches wait on disk for the next run (docs/delivery.md)",
)
@click.option("--no-spill", is_flag=True, help="drop (and count) what cannot be delivered instead")
def demo(
    vendor: str, sink: str, users: int, seed: int, replace: bool, spill_dir: str, no_spill: bool
) -> None:
    """Run a simulated A/B test (flag new-checkout, metric purchase) through the real pipeline
    into SINK, then summarise what landed and print the command that reports on it."""
    target = open_sink(sink)
    if isinstance(target, FileSink):
        _prepare_directory(target.directory, replace)
    try:
        provider, cleanup = VENDORS[vendor]()
    except ImportError:
        click.echo(
            f"the {vendor} SDK is not installed (pip install 'openfeature-s3-export[{vendor}]'); "
            "using OpenFeature's in-memory provider instead",
            err=True,
        )
        provider, cleanup = _in_memory_provider()
    probe = getattr(target, "check", None)
    if callable(probe):
        try:
            probe()
        except (SinkConfigurationError, OSError) as exc:
            raise CliError(
                f"cannot ship to {sink}: {exc}",
                "configure AWS as for any boto3 program (credentials, AWS_REGION) or point "
                "AWS_ENDPOINT_URL at an S3/Firehose-compatible endpoint; see docs/aws.md",
            ) from exc
    exporter = EventExporter(
        target,
        flush_interval=1.0,
        service_name="demo-shop",
        environment="demo",
        spill_dir=None if no_spill else spill_dir,
    )
    api.set_provider_and_wait(TrackingProvider(provider, exporter))
    api.add_hooks([ExportHook(exporter)])
    started = time.perf_counter()
    done = run_shop(api.get_client(), users, seed)
    elapsed = time.perf_counter() - started
    flushed = exporter.shutdown(timeout=30)
    api.shutdown()
    cleanup()
    _print_summary(provider, target, exporter.stats(), done, elapsed)
    waiting = exporter.stats().get("spill_backlog_events", 0)
    if waiting:
        click.echo(
            f"{waiting} events wait in {spill_dir}: the next run replays them, or "
            f"openfeature-s3-export spill replay {spill_dir} --sink {sink}"
        )
    if not flushed or exporter.stats()["dropped"] or waiting:
        raise CliError("some events were not delivered (see the counters above)")


def _print_summary(provider: Any, target: Any, stats: Any, done: Counter[str], elapsed: float) -> None:
    click.echo(f"vendor: {provider.get_metadata().name}   sink: {target!r}")
    click.echo(
        f"{done['users']} users, {done['purchases']} purchases; {stats['enqueued']} events captured in "
        f"{elapsed:.2f}s of app time; exported {stats['exported']}, dropped {stats['dropped']}, "
        f"{stats['batches']} batches"
    )
    counters = {k.removeprefix("sink."): v for k, v in stats.items() if k.startswith("sink.")}
    if counters:
        click.echo(f"sink counters: {dict(sorted(counters.items()))}")
        if counters.get("billed_bytes") and counters.get("payload_bytes"):
            ratio = counters["billed_bytes"] / counters["payload_bytes"]
            click.echo(f"Firehose billed bytes / payload bytes: {ratio:.3f}")
    location = str(getattr(target, "directory", "")) or _url_of(target)
    if isinstance(target, FileSink):
        summary = summarize_files(target.directory)
        click.echo(
            f"\nlanded in {target.directory}: {summary['files']} files in {', '.join(summary['partitions'])}"
        )
        click.echo(f"rows per kind: {summary['rows']}")
        click.echo("variants per flag:")
        for flag, counts in summary["variants"].items():
            click.echo(f"  {flag:26s} {counts}")
        location = _shown_path(target.directory)
    if location:
        click.echo(f"\nNext: openfeature-s3-export report {location} --flag {EXPERIMENT} --metric {METRIC}")


def _url_of(target: Any) -> str:
    bucket_name = getattr(target, "bucket", None)
    return f"s3://{bucket_name}/{getattr(target, 'prefix', '')}" if bucket_name else ""


def _shown_path(directory: Path) -> str:
    try:
        return "./" + directory.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(directory)
