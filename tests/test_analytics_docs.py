"""Every DuckDB query in docs/analytics.md runs, and gives the right answer, on real output.

The demo shop (in-memory provider) runs through the real pipeline into a FileSink; the same
batches are also written as Parquet, as ``S3Sink(format="parquet")`` would.  One file of each is
delivered twice, as at-least-once delivery may.  Each ``-- duckdb`` block of the docs is run on
both and its result compared with the same figure computed here in Python.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext

from openfeature_s3_export import (
    EncodedLine,
    EventExporter,
    ExportHook,
    ExportResult,
    FileSink,
    TrackingProvider,
)
from openfeature_s3_export.demo import _in_memory_provider, run_shop
from openfeature_s3_export.sinks._partitioned import group_by_partition
from openfeature_s3_export.sinks.parquet import to_parquet

DOC = Path(__file__).parent.parent / "docs" / "analytics.md"
DOC_SOURCE = "read_json('exports/**/*.json.gz', hive_partitioning = true)"
EXPECTED_BLOCKS = {
    "exposures_per_variant",
    "first_exposure",
    "multi_variant_users",
    "conversion_rate",
    "sample_ratio_mismatch",
    "duplicates",
    "deduplicated_table",
}


def duckdb_blocks() -> dict[str, str]:
    """The fenced ``sql`` blocks of docs/analytics.md whose first line is ``-- duckdb[: name]``."""
    blocks: dict[str, str] = {}
    for body in re.findall(r"^```sql\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.M | re.S):
        first = body.splitlines()[0].strip()
        if first.startswith("-- duckdb"):
            name = first.removeprefix("-- duckdb").lstrip(":").strip()
            assert name and name not in blocks, f"name every -- duckdb block once: {first!r}"
            blocks[name] = body
    return blocks


class TeeSink:
    """A FileSink that also keeps every batch, to write the same batches as Parquet."""

    def __init__(self, directory: Path) -> None:
        self.files = FileSink(directory)
        self.batches: list[Sequence[EncodedLine]] = []

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        self.batches.append(list(batch))
        return self.files.export(batch, deadline=deadline)

    def shutdown(self) -> None:
        self.files.shutdown()


class Data:
    """The demo's output on disk, and the ground truth computed from it in Python."""

    EARLY_PURCHASES = 10

    def __init__(self, root: Path) -> None:
        self.json_dir = root / "exports"
        self.parquet_dir = root / "parquet"
        sink = TeeSink(self.json_dir)
        exporter = EventExporter(sink, max_batch_size=150, service_name="demo-shop", register_atexit=False)
        provider, cleanup = _in_memory_provider()
        api.set_provider_and_wait(TrackingProvider(provider, exporter))
        api.add_hooks([ExportHook(exporter)])
        try:
            # Purchases before any exposure: the conversion query must not count them.
            for n in range(0, 300, 300 // self.EARLY_PURCHASES):
                exporter.track("purchase", EvaluationContext(f"user-{n:04d}", {"kind": "user"}), 99.0)
            self.done = run_shop(api.get_client(), users=300, seed=11)
            assert exporter.shutdown(timeout=30)
        finally:
            api.shutdown()
            api.clear_hooks()
            cleanup()
        assert exporter.stats()["dropped"] == 0

        for n, batch in enumerate(sink.batches):
            for partition, events in group_by_partition(batch).items():
                folder = self.parquet_dir / partition
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"part-{n:04d}.parquet").write_bytes(to_parquet(events))

        # At-least-once delivery: one object of each format lands twice.
        json_files = sorted(self.json_dir.rglob("*.json.gz"))
        parquet_files = sorted(self.parquet_dir.rglob("*.parquet"))
        assert len(json_files) > 1 and len(parquet_files) > 1
        shutil.copy(json_files[1], json_files[1].with_name("part-redelivered.json.gz"))
        shutil.copy(parquet_files[1], parquet_files[1].with_name("part-redelivered.parquet"))
        with gzip.open(json_files[1], "rb") as fh:
            self.redelivered = sum(1 for _ in fh)

        self.raw: list[dict[str, Any]] = []
        for path in sorted(self.json_dir.rglob("*.json.gz")):
            with gzip.open(path, "rb") as fh:
                self.raw.extend(json.loads(line) for line in fh)
        self.rows = list({row["event_id"]: row for row in self.raw}.values())
        assert len(self.raw) == len(self.rows) + self.redelivered
        self.evaluations = [r for r in self.rows if r["kind"] == "evaluation"]
        self.purchases = [r for r in self.rows if r["kind"] == "track" and r["event_name"] == "purchase"]
        assert len(self.purchases) == self.done["purchases"] + self.EARLY_PURCHASES
        assert self.done["purchases"] > 0

    def first_exposures(self, flag_key: str) -> dict[str, tuple[dt.datetime, str]]:
        """targeting key -> (time, variant) of the user's first served variant of *flag_key*."""
        first: dict[str, tuple[dt.datetime, str]] = {}
        for row in self.evaluations:
            if row["flag_key"] == flag_key and row["variant"] is not None:
                seen = (timestamp(row), row["variant"])
                first[row["targeting_key"]] = min(first.get(row["targeting_key"], seen), seen)
        return first


def timestamp(row: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    return Data(tmp_path_factory.mktemp("analytics"))


def run(data: Data, fmt: str, name: str) -> list[dict[str, Any]]:
    sql = duckdb_blocks()[name]
    assert DOC_SOURCE in sql, f"{name}: read the demo data as the other blocks do"
    if fmt == "json":
        source = f"read_json('{data.json_dir}/**/*.json.gz', hive_partitioning = true)"
    else:
        source = f"read_parquet('{data.parquet_dir}/**/*.parquet', hive_partitioning = true)"
    con = duckdb.connect()
    cursor = con.execute(sql.replace(DOC_SOURCE, source))
    if name == "deduplicated_table":  # a statement: look at the table it made
        cursor = con.execute("SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM flag_events")
    assert cursor.description is not None
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]


def test_docs_have_the_expected_duckdb_blocks() -> None:
    assert set(duckdb_blocks()) == EXPECTED_BLOCKS


FORMATS = pytest.mark.parametrize("fmt", ["json", "parquet"])


@FORMATS
def test_exposures_per_variant(data: Data, fmt: str) -> None:
    result = run(data, fmt, "exposures_per_variant")
    evaluations: Counter[tuple[str, str]] = Counter()
    users: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in data.evaluations:
        key = (row["flag_key"], row["variant"] or "(default)")
        evaluations[key] += 1
        users[key].add(row["targeting_key"])
    assert {(r["flag_key"], r["variant"]): r["evaluations"] for r in result} == dict(evaluations)
    assert {(r["flag_key"], r["variant"]): r["users"] for r in result} == {
        k: len(v) for k, v in users.items()
    }
    # Variant counts add up to the evaluations of each flag, duplicates excluded: every user
    # evaluated each demo flag once.
    per_flag: Counter[str] = Counter()
    for r in result:
        per_flag[r["flag_key"]] += r["evaluations"]
    assert per_flag["new-checkout"] == data.done["users"] == 300
    assert per_flag == Counter(r["flag_key"] for r in data.evaluations)
    assert {r["variant"] for r in result if r["flag_key"] == "new-checkout"} == {"control", "treatment"}
    assert {r["variant"] for r in result if r["flag_key"] == "flag-that-does-not-exist"} == {"(default)"}


@FORMATS
def test_first_exposure(data: Data, fmt: str) -> None:
    result = run(data, fmt, "first_exposure")
    expected = {}
    for flag in {r["flag_key"] for r in data.evaluations}:
        for user, (first_at, variant) in data.first_exposures(flag).items():
            expected[(flag, user)] = (first_at, variant)
    assert len(result) == len(expected)
    for r in result:
        first_at, variant = expected[(r["flag_key"], r["targeting_key"])]
        assert (r["first_exposed_at"], r["first_variant"]) == (first_at, variant)
        assert r["exposures"] >= 1 and r["variants_seen"] == 1
    assert "flag-that-does-not-exist" not in {r["flag_key"] for r in result}  # errors are no exposure


@FORMATS
def test_multi_variant_users(data: Data, fmt: str) -> None:
    variants: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in data.evaluations:
        if row["variant"] is not None:
            variants[(row["flag_key"], row["targeting_key"])].add(row["variant"])
    expected = {key: sorted(v) for key, v in variants.items() if len(v) > 1}
    result = run(data, fmt, "multi_variant_users")
    assert {(r["flag_key"], r["targeting_key"]): r["variants"] for r in result} == expected


@FORMATS
def test_conversion_rate(data: Data, fmt: str) -> None:
    first = data.first_exposures("new-checkout")
    converted: dict[str, set[str]] = defaultdict(set)
    revenue: Counter[str] = Counter()
    after_exposure = 0
    for row in data.purchases:
        exposure = first.get(row["targeting_key"])
        if exposure is not None and timestamp(row) >= exposure[0]:
            converted[exposure[1]].add(row["targeting_key"])
            revenue[exposure[1]] += row["metric_value"]
            after_exposure += 1
    assert after_exposure == len(data.purchases) - data.EARLY_PURCHASES
    exposed = Counter(variant for _, variant in first.values())

    result = {r["variant"]: r for r in run(data, fmt, "conversion_rate")}
    assert set(result) == {"control", "treatment"}
    for variant, r in result.items():
        assert r["exposed_users"] == exposed[variant]
        assert r["converted_users"] == len(converted[variant]) > 0
        assert 0 < r["conversion_rate"] < 1
        assert r["conversion_rate"] == pytest.approx(len(converted[variant]) / exposed[variant])
        assert r["revenue"] == pytest.approx(revenue[variant])
    assert sum(r["exposed_users"] for r in result.values()) == data.done["users"]
    assert sum(r["purchases"] for r in result.values()) == after_exposure


@FORMATS
def test_sample_ratio_mismatch(data: Data, fmt: str) -> None:
    exposed = Counter(variant for _, variant in data.first_exposures("new-checkout").values())
    total = sum(exposed.values())
    chi_square = sum((exposed[v] - total / 2) ** 2 / (total / 2) for v in ("control", "treatment"))
    (result,) = run(data, fmt, "sample_ratio_mismatch")
    assert result["users"] == total == 300
    assert result["chi_square"] == pytest.approx(chi_square)
    assert result["mismatch"] == (chi_square > 10.83)


@FORMATS
def test_duplicates(data: Data, fmt: str) -> None:
    (result,) = run(data, fmt, "duplicates")
    assert result == {
        "row_count": len(data.raw),
        "event_count": len(data.rows),
        "duplicates": data.redelivered,
    }
    assert data.redelivered > 0


@FORMATS
def test_deduplicated_table(data: Data, fmt: str) -> None:
    assert run(data, fmt, "deduplicated_table") == [{"n": len(data.rows), "ids": len(data.rows)}]
