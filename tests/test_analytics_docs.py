"""Every DuckDB query in docs/analytics.md runs, through the typed views, and gives the right answer.

The demo shop (in-memory provider) runs through the real pipeline into a FileSink, after 30,000
evaluations of other flags with no track event: DuckDB's type inference samples about 20,480
rows, so reading these files without the view's column map loses every track value (checked
below).  The same rows are also written as Parquet with the library's Arrow schema.  One file
of each is delivered twice, as at-least-once delivery may.  Each ``-- duckdb`` block of the
docs runs on both, through the views ``openfeature-s3-export ddl --engine duckdb`` prints, and
its result is compared with the same figure computed here in Python.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext

from openfeature_s3_export import EventExporter, ExportHook, FileSink, TrackingProvider
from openfeature_s3_export.cli._duckdb import view_sql
from openfeature_s3_export.cli.demo import _in_memory_provider, run_shop
from openfeature_s3_export.sinks.parquet import arrow_schema

pytestmark = pytest.mark.slow

DOC = Path(__file__).parent.parent / "docs" / "analytics.md"
EXPECTED_BLOCKS = {
    "exposures_per_variant",
    "first_exposure",
    "multi_variant_users",
    "conversion_rate",
    "sample_ratio_mismatch",
    "duplicates",
    "deduplicated_table",
}
WARM_UP_EVALUATIONS = 30_000


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


def warm_up(client: Any) -> None:
    """30,000 evaluations of flags outside the experiment, before any track event, in the same
    batch (one object) as the experiment that follows, as large recommended batches do."""
    for n in range(WARM_UP_EVALUATIONS // 3):
        ctx = EvaluationContext(f"visitor-{n:05d}", {"kind": "user", "country": "fr"})
        client.get_string_value("banner-color", "#000000", ctx)
        client.get_integer_value("max-cart-items", 5, ctx)
        client.get_object_value("pricing-config", {}, ctx)


class Data:
    """The demo's output on disk, and the ground truth computed from it in Python."""

    EARLY_PURCHASES = 10

    def __init__(self, root: Path) -> None:
        self.json_dir = root / "exports"
        self.parquet_dir = root / "parquet"
        exporter = EventExporter(
            FileSink(self.json_dir),
            max_batch_size=40_000,
            max_batch_bytes=64 << 20,
            flush_interval=300,
            service_name="demo-shop",
            register_atexit=False,
        )
        provider, cleanup = _in_memory_provider()
        api.set_provider_and_wait(TrackingProvider(provider, exporter))
        api.add_hooks([ExportHook(exporter)])
        try:
            warm_up(api.get_client())
            # Purchases before any exposure: the conversion query must not count them.
            for n in range(0, 300, 300 // self.EARLY_PURCHASES):
                exporter.track("purchase", EvaluationContext(f"user-{n:05d}", {"kind": "user"}), 99.0)
            self.done = run_shop(api.get_client(), users=300, seed=11)
            assert exporter.shutdown(timeout=30)
        finally:
            api.shutdown()
            api.clear_hooks()
            cleanup()
        assert exporter.stats()["dropped"] == 0

        json_files = sorted(self.json_dir.rglob("*.json.gz"))
        for n, path in enumerate(json_files):
            with gzip.open(path, "rb") as fh:
                rows = [json.loads(line) for line in fh]
            for row in rows:
                row["timestamp"] = dt.datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))
            folder = self.parquet_dir / path.parent.relative_to(self.json_dir)
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(
                pa.Table.from_pylist(rows, schema=arrow_schema()), folder / f"part-{n:04d}.parquet"
            )

        # At-least-once delivery: one object of each format lands twice.
        parquet_files = sorted(self.parquet_dir.rglob("*.parquet"))
        assert json_files and parquet_files
        shutil.copy(json_files[-1], json_files[-1].with_name("part-redelivered.json.gz"))
        shutil.copy(parquet_files[-1], parquet_files[-1].with_name("part-redelivered.parquet"))
        with gzip.open(json_files[-1], "rb") as fh:
            self.redelivered = sum(1 for _ in fh)

        self.raw: list[dict[str, Any]] = []
        for path in sorted(self.json_dir.rglob("*.json.gz")):
            with gzip.open(path, "rb") as fh:
                self.raw.extend(json.loads(line) for line in fh)
        first_track = next(i for i, row in enumerate(self.raw) if row["kind"] == "track")
        assert first_track >= WARM_UP_EVALUATIONS
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
    assert "read_json" not in sql and "read_parquet" not in sql, f"{name}: read through the views"
    location = data.json_dir if fmt == "json" else data.parquet_dir
    con = duckdb.connect()
    con.execute(view_sql(str(location), "ndjson" if fmt == "json" else "parquet"))
    cursor = con.execute(sql)
    if name == "deduplicated_table":  # a statement: look at the table it made
        cursor = con.execute(
            "SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM flag_events_deduplicated"
        )
    assert cursor.description is not None
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]


def test_reading_without_the_view_loses_track_values(data: Data) -> None:
    """The trap the view avoids is really in this data: inferred types drop event_name."""
    con = duckdb.connect()
    inferred = con.execute(
        f"SELECT count(event_name) FROM read_json('{data.json_dir}/**/*.json.gz', hive_partitioning = true)"
    ).fetchall()[0][0]
    assert inferred < sum(row["kind"] == "track" for row in data.raw)
    con.execute(view_sql(str(data.json_dir)))
    assert con.execute("SELECT count(event_name) FROM flag_events").fetchall()[0][0] == len(data.purchases)


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
