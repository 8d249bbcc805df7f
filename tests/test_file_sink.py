"""FileSink: hive layout by event time, atomic files, many writers, DuckDB reads it as is."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

from openfeature_s3_export import (
    EventExporter,
    ExportHook,
    FileSink,
    Row,
    SinkConfigurationError,
    sink_from_url,
)
from openfeature_s3_export._encoding import encode_row
from openfeature_s3_export.sinks import _compress
from openfeature_s3_export.testing import capture_events

HOUR_US = 3_600_000_000
NAME = re.compile(r"^part-\d{8}T\d{6}Z-[\w-]+-\d+-[0-9a-f]{8}-\d{6}\.json\.gz$")


def _event(n: int, timestamp_us: int) -> Any:
    event = Row(
        event_id=f"00000000-0000-7000-8000-{n:012d}",
        kind="track",
        timestamp="",
        provider=None,
        vendor="unknown",
        targeting_key=f"u{n}",
        context_kind=None,
        context="{}",
        library_version="test",
        event_name="e",
    )
    return encode_row(event, timestamp_us)


def read_all(directory: Path) -> list[dict[str, Any]]:
    rows = []
    for path in directory.rglob("*.json.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh)
    return rows


def test_partitions_by_event_time_and_names_files_uniquely(tmp_path: Path) -> None:
    sink = FileSink(tmp_path)
    base = 1_795_000_000 * 1_000_000  # 2026-11-18T11:06:40Z
    batch = [_event(n, base + (n % 3) * HOUR_US) for n in range(30)]
    result = sink.export(batch)
    result2 = sink.export(batch[:5])
    assert (result.delivered, result.failed, result2.delivered) == (30, [], 5)
    files = sorted(tmp_path.rglob("*"))
    data_files = [p for p in files if p.is_file()]
    assert {str(p.parent.relative_to(tmp_path)) for p in data_files} == {
        "dt=2026-11-18/hour=11",
        "dt=2026-11-18/hour=12",
        "dt=2026-11-18/hour=13",
    }
    assert all(NAME.match(p.name) for p in data_files), [p.name for p in data_files]
    assert len({p.name for p in data_files}) == len(data_files) == 6  # 3 partitions x 2 batches
    assert not [p for p in files if p.name.startswith(".")]  # no temporary files left behind
    assert sorted(r["targeting_key"] for r in read_all(tmp_path)) == sorted(
        [f"u{n}" for n in range(30)] + [f"u{n}" for n in range(5)]
    )


def test_failed_write_leaves_no_partial_file_and_reports_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = FileSink(tmp_path)

    # Fault injection: the rename into place fails, as on a full or vanished disk.
    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    batch = [_event(n, 1_795_000_000_000_000) for n in range(3)]
    result = sink.export(batch)
    assert result.delivered == 0
    assert list(result.failed) == batch
    assert "No space left" in (result.error or "")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def _write_from_process(directory: str, worker: int) -> None:
    exporter = EventExporter(FileSink(directory), max_batch_size=37, register_atexit=False)
    for i in range(250):
        exporter.track("e", EvaluationContext(f"p{worker}-{i}"))
    assert exporter.shutdown(timeout=30)


@pytest.mark.slow
def test_many_processes_share_one_directory(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_from_process, args=(str(tmp_path), w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    rows = read_all(tmp_path)
    assert sorted(r["targeting_key"] for r in rows) == sorted(
        f"p{w}-{i}" for w in range(3) for i in range(250)
    )
    assert len({r["event_id"] for r in rows}) == 750


def test_every_event_id_lands_exactly_once_and_duckdb_reads_it(tmp_path: Path) -> None:
    sink = FileSink(tmp_path)
    exporter = EventExporter(sink, max_batch_size=100, register_atexit=False)
    api.set_provider_and_wait(
        InMemoryProvider(
            {
                "b": InMemoryFlag("on", {"on": True, "off": False}),
                "s": InMemoryFlag("x", {"x": "text", "y": "other"}),
                "i": InMemoryFlag("n", {"n": 42}),
                "f": InMemoryFlag("n", {"n": 0.5}),
                "o": InMemoryFlag("n", {"n": {"a": [1, {"b": None}]}}),
            }
        )
    )
    api.add_hooks([ExportHook(exporter)])
    client = api.get_client()
    produced = 0
    for i in range(300):
        ctx = EvaluationContext(f"user-{i}", {"country": "fr", "n": i, "nested": {"k": [i]}})
        client.get_boolean_value("b", False, ctx)
        client.get_string_value("s", "", ctx)
        client.get_integer_value("i", 0, ctx)
        client.get_float_value("f", 0.0, ctx)
        client.get_object_value("o", {}, ctx)
        client.get_boolean_value("missing", False, ctx)
        exporter.track("purchase", ctx, float(i), {"sku": f"s{i}"})
        produced += 7
    assert exporter.shutdown(timeout=30)
    stats = exporter.stats()
    assert stats["exported"] == produced

    rows = read_all(tmp_path)
    ids = [r["event_id"] for r in rows]
    assert len(ids) == produced
    assert len(set(ids)) == produced

    con = duckdb.connect()
    glob = f"{tmp_path}/**/*.json.gz"
    total, distinct = con.execute(
        f"SELECT count(*), count(DISTINCT event_id) FROM read_json('{glob}', hive_partitioning = true)"
    ).fetchone()  # type: ignore[misc]
    assert (total, distinct) == (produced, produced)
    described = con.execute(f"DESCRIBE SELECT * FROM read_json('{glob}', hive_partitioning = true)")
    types = {row[0]: row[1] for row in described.fetchall()}
    # One type per column whatever the flag type: value is JSON text, never a union.
    assert types["value"] in ("VARCHAR", "JSON")
    assert types["metric_value"] == "DOUBLE"
    assert "dt" in types and "hour" in types
    per_flag = con.execute(
        f"SELECT flag_key, count(*) FROM read_json('{glob}', hive_partitioning = true) "
        "WHERE kind = 'evaluation' GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert per_flag == [(k, 300) for k in ("b", "f", "i", "missing", "o", "s")]
    value = con.execute(
        f"SELECT json_extract(value, '$.a[1]') FROM read_json('{glob}', hive_partitioning = true) "
        "WHERE flag_key = 'o' LIMIT 1"
    ).fetchone()
    assert value is not None and json.loads(str(value[0])) == {"b": None}


@pytest.mark.parametrize(
    ("url", "expected"),
    [("file:./out", "out"), ("file://./out/x", "out/x"), ("file://{tmp}/abs-dir", "{tmp}/abs-dir")],
)
def test_sink_from_url_file(url: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sink = sink_from_url(url.format(tmp=tmp_path))
    assert isinstance(sink, FileSink)
    assert sink.directory == Path(expected.format(tmp=tmp_path)).absolute()
    assert sink.directory.is_dir()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://host/x", "scheme must be one of"),
        ("file://remote-host/x", "file:///absolute"),
        ("file:./x?colour=blue", "unknown option"),
        ("file:./x?fsync=maybe", "bad value 'maybe' for option 'fsync'"),
        ("nonsense", "scheme must be one of"),
    ],
)
def test_sink_from_url_rejects_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sink_from_url(url)


def test_partition_folder_removed_under_the_sink_is_recreated(tmp_path: Path) -> None:
    """A cleanup job deletes a partition folder the sink has already created (and cached)."""
    sink = FileSink(tmp_path)
    when = 1_795_000_000 * 1_000_000
    assert sink.export([_event(1, when)]).delivered == 1
    partition = tmp_path / "dt=2026-11-18" / "hour=11"
    shutil.rmtree(partition)
    batch = [_event(n, when) for n in range(2, 5)]
    result = sink.export(batch)
    assert (result.delivered, list(result.failed), result.error) == (3, [], None)
    assert (result.retried_events, result.retried_requests) == (3, 1), (
        "the lines were written a second time, into the new folder"
    )
    assert sorted(r["targeting_key"] for r in read_all(partition)) == ["u2", "u3", "u4"]


def _rows_of_a_real_run(n: int) -> list[Any]:
    api.set_provider_and_wait(
        InMemoryProvider(
            {
                "b": InMemoryFlag("on", {"on": True, "off": False}),
                "o": InMemoryFlag("n", {"n": {"a": [1, {"b": None}]}}),
            }
        )
    )
    client = api.get_client()
    with capture_events(max_batch_size=100_000) as captured:
        for i in range(n):
            ctx = EvaluationContext(f"user-{i % 7}", {"n": i})
            client.get_boolean_value("b", False, ctx)
            client.get_object_value("o", {}, ctx)
            client.get_boolean_value("missing", False, ctx)
            captured.exporter.track("purchase", ctx, float(i) / 4, {"sku": f"s{i}"})
        captured.rows()  # flushes
        return captured.sink.lines


def test_parquet_files_read_back_in_duckdb_with_fixed_types(tmp_path: Path) -> None:
    lines = _rows_of_a_real_run(50)
    sink = sink_from_url(f"file://{tmp_path}?format=parquet&parquet_compression=snappy")
    assert isinstance(sink, FileSink) and sink.format == "parquet"
    sink.start()
    assert sink.export(lines).delivered == len(lines) == 200
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files and all(re.match(r"^part-.*\.parquet$", p.name) for p in files), files

    con = duckdb.connect()
    scan = f"read_parquet('{tmp_path}/**/*.parquet', hive_partitioning = true)"
    types = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
    assert types["timestamp"] == "TIMESTAMP WITH TIME ZONE"
    assert (types["schema_version"], types["is_default_value"], types["metric_value"]) == (
        "INTEGER",
        "BOOLEAN",
        "DOUBLE",
    )
    assert {types[c] for c in ("event_id", "kind", "value", "context", "attributes")} == {"VARCHAR"}
    got = con.execute(
        "SELECT event_id, schema_version, kind, epoch_us(timestamp), flag_key, value, "
        f"is_default_value, metric_value, attributes FROM {scan}"
    ).fetchall()
    expected = []
    for line in lines:
        row = json.loads(line.data)
        expected.append(
            (
                row["event_id"],
                row["schema_version"],
                row["kind"],
                line.timestamp_us,
                row["flag_key"],
                row["value"],
                row["is_default_value"],
                row["metric_value"],
                row["attributes"],
            )
        )
    assert sorted(got, key=str) == sorted(expected, key=str)


def test_check_passes_on_a_writable_directory_and_leaves_nothing(tmp_path: Path) -> None:
    FileSink(tmp_path / "new" / "dir").check()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_directory_that_cannot_be_created_fails_fast(tmp_path: Path) -> None:
    # chmod does not stop root: a regular file where a folder must be stops everyone.
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    with pytest.raises(SinkConfigurationError, match=r"cannot be created or written.*writable directory"):
        FileSink(blocker / "exports")
    sink = FileSink(tmp_path / "exports")
    shutil.rmtree(tmp_path / "exports")
    (tmp_path / "exports").write_text("replaced by a file after start-up")
    with pytest.raises(SinkConfigurationError, match="exports"):
        sink.check()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")
def test_check_probes_an_existing_directory_it_cannot_write() -> None:
    # /proc/self is a directory in which nobody, root included, can create a file.
    sink = FileSink("/proc/self")
    with pytest.raises(SinkConfigurationError, match="/proc/self"):
        sink.check()


@pytest.mark.parametrize("backend", ["isal", "zlib"])
def test_gzip_from_isal_and_from_zlib_reads_back(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "zlib":
        monkeypatch.setattr(_compress, "_isal", None)
    else:
        assert _compress._isal is not None, "isal is a runtime dependency"
    batch = [_event(n, 1_795_000_000 * 1_000_000) for n in range(200)]
    for level in _compress.COMPRESS_LEVELS:
        body = _compress.gzip_compress(b"".join(e.data for e in batch), level)
        assert gzip.decompress(body) == b"".join(e.data for e in batch), (backend, level)
    FileSink(tmp_path).export(batch)
    (path,) = tmp_path.rglob("*.json.gz")
    rows = duckdb.connect().execute(f"SELECT targeting_key FROM read_json('{path}')").fetchall()
    assert sorted(r[0] for r in rows) == sorted(f"u{n}" for n in range(200))


def test_compresslevel_maps_onto_isal_levels_and_is_validated() -> None:
    assert [_compress.isal_level(level) for level in range(10)] == [0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    with pytest.raises(ValueError, match="compresslevel must be between 0 and 9"):
        FileSink("unused", compresslevel=10)
    with pytest.raises(ValueError, match="format must be one of ndjson, parquet"):
        sink_from_url("file:./x?format=csv")
