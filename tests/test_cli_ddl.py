"""`ddl`: golden text per engine, column types checked against the JSON Schema, DuckDB executed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from export_fixture import fixture_rows, ndjson_files, parquet_files, write_files

from openfeature_s3_export import COLUMNS, load_json_schema
from openfeature_s3_export.cli import app
from openfeature_s3_export.cli._duckdb import view_sql
from openfeature_s3_export.cli.ddl import ENGINES, render

GOLDEN = Path(__file__).parent / "golden"
FORMATS = ("ndjson", "parquet")

# What each engine must declare for each JSON Schema type, written out independently of the
# code under test ("timestamp" = a string with format date-time).
EXPECTED_TYPES: dict[tuple[str, str], dict[str, str]] = {}
for fmt in FORMATS:
    EXPECTED_TYPES[("athena", fmt)] = {
        "integer": "int",
        "number": "double",
        "boolean": "boolean",
        "string": "string",
        "timestamp": "timestamp" if fmt == "parquet" else "string",
    }
    EXPECTED_TYPES[("athena-iceberg", fmt)] = {**EXPECTED_TYPES[("athena", fmt)], "timestamp": "timestamp"}
    EXPECTED_TYPES[("spark", fmt)] = {
        "integer": "INT",
        "number": "DOUBLE",
        "boolean": "BOOLEAN",
        "string": "STRING",
        "timestamp": "TIMESTAMP",
    }
    EXPECTED_TYPES[("snowflake", fmt)] = {
        "integer": "INTEGER",
        "number": "DOUBLE",
        "boolean": "BOOLEAN",
        "string": "VARCHAR",
        "timestamp": "TIMESTAMP_TZ",
    }
    EXPECTED_TYPES[("bigquery", fmt)] = {
        "integer": "INT64",
        "number": "FLOAT64",
        "boolean": "BOOL",
        "string": "STRING",
        "timestamp": "TIMESTAMP",
    }

COLUMN_LINE = {
    "athena": re.compile(r"^\s+`(\w+)`\s+(\w+),?$"),
    "athena-iceberg": re.compile(r"^\s+`(\w+)`\s+(\w+),?$"),
    "spark": re.compile(r"^\s+`(\w+)` (\w+),?$"),
    "bigquery": re.compile(r"^\s+`(\w+)` (\w+),?$"),
    "snowflake": re.compile(r'^\s+\w+ (\w+) AS \(VALUE:"(\w+)"::\w+\),?$'),
}


def schema_type(name: str) -> str:
    prop = load_json_schema()["properties"][name]
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    (kind,) = [t for t in types if t != "null"]
    return "timestamp" if prop.get("format") == "date-time" else kind


def declared(engine: str, text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        match = COLUMN_LINE[engine].match(line)
        if match:
            name, kind = match.groups()
            if engine == "snowflake":
                kind, name = name, kind
            out[name] = kind
    return out


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_golden(engine: str, fmt: str) -> None:
    result = CliRunner().invoke(app, ["ddl", "--engine", engine, "--format", fmt])
    assert result.exit_code == 0, result.output
    assert result.stdout == (GOLDEN / f"ddl-{engine}-{fmt}.sql").read_text(encoding="utf-8")


@pytest.mark.parametrize(("engine", "fmt"), sorted(EXPECTED_TYPES))
def test_every_column_typed_as_the_json_schema_says(engine: str, fmt: str) -> None:
    columns = declared(engine, render(engine, fmt=fmt))
    if engine == "spark":  # the partition columns are declared with the others
        assert (columns.pop("dt"), columns.pop("hour")) == ("DATE", "INT")
    expected = {name: EXPECTED_TYPES[(engine, fmt)][schema_type(name)] for name in COLUMNS}
    assert columns == expected


def test_athena_uses_partition_projection() -> None:
    text = render("athena", location="s3://lake/flags/v1", start="2026-02-01")
    assert "LOCATION 's3://lake/flags/v1/'" in text
    assert "'projection.dt.range' = '2026-02-01,NOW'" in text
    assert "'storage.location.template' = 's3://lake/flags/v1/dt=${dt}/hour=${hour}/'" in text
    assert "PARTITIONED BY (`dt` string, `hour` int)" in text and "MSCK" in text  # named as unnecessary


@pytest.fixture(params=FORMATS)
def fixture_dir(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    writer = ndjson_files if request.param == "ndjson" else parquet_files
    return write_files(tmp_path / "exports", writer(*fixture_rows())), request.param


def query(con: Any, sql: str) -> list[tuple[Any, ...]]:
    return list(con.execute(sql).fetchall())


def test_duckdb_view_pins_every_type(fixture_dir: tuple[Path, str]) -> None:
    location, fmt = fixture_dir
    con = duckdb.connect()
    con.execute(render("duckdb", fmt=fmt, location=str(location)))
    types = dict(
        query(
            con,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'flag_events_raw'",
        )
    )
    assert types["event_id"] == "VARCHAR" and types["schema_version"] == "INTEGER"
    assert types["timestamp"] == "TIMESTAMP WITH TIME ZONE" and types["metric_value"] == "DOUBLE"
    assert types["dt"] == "DATE" and types["hour"] == "INTEGER"
    rows, duplicates = fixture_rows()
    assert query(con, "SELECT count(*) FROM flag_events_raw") == [(len(rows) + len(duplicates),)]
    assert query(con, "SELECT count(*) FROM flag_events") == [(len(rows),)]
    assert query(con, "SELECT sum(metric_value) FROM flag_events WHERE event_name = 'buy'") == [(284.0,)]


def test_view_without_hive_computes_dt_and_hour(tmp_path: Path) -> None:
    location = write_files(
        tmp_path / "flat",
        {f"x{n}.json.gz": data for n, data in enumerate(ndjson_files(*fixture_rows()).values())},
    )
    con = duckdb.connect()
    con.execute(view_sql(str(location), hive=False))
    assert query(con, "SELECT DISTINCT dt, hour FROM flag_events ORDER BY ALL") == [
        (__import__("datetime").date(2026, 3, 1), 10),
        (__import__("datetime").date(2026, 3, 1), 11),
    ]


ASSIGNMENT_COLUMNS = {
    "statsig": ["timestamp", "user_id", "experiment_id", "group_id", "environment"],
    "eppo": ["timestamp", "subject_id", "experiment", "variant", "subject_attributes", "environment"],
    "growthbook": ["timestamp", "user_id", "experiment_id", "variation_id", "environment"],
    "harness": [
        "unique_key",
        "exposure_timestamp",
        "treatment",
        "experiment_id",
        "traffic_type",
        "environment",
    ],
}


@pytest.mark.parametrize("platform", sorted(ASSIGNMENT_COLUMNS))
def test_assignment_views_run_in_duckdb(fixture_dir: tuple[Path, str], platform: str) -> None:
    location, fmt = fixture_dir
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(render("duckdb", fmt=fmt, location=str(location), assignments=platform))
    cursor = con.execute(f"SELECT * FROM {platform}_assignments")
    names = [d[0] for d in cursor.description]
    assert names == ASSIGNMENT_COLUMNS[platform]
    got = {
        (r[names.index(_unit(platform))], r[names.index(_experiment(platform))]): r for r in cursor.fetchall()
    }
    # One row per flag and unit, at the first exposure: t3 stays in treatment, e1 (error) is absent,
    # t1's duplicate exposure is counted once.
    exp_units = {unit for unit, flag in got if flag == "exp"}
    assert exp_units == {"c1", "c2", "c3", "c4", "t1", "t2", "t3", "t4"}
    assert got[("t3", "exp")][names.index(_variant(platform))] == "treatment"
    first = got[("c1", "exp")][names.index(_time(platform))]
    assert first.isoformat().startswith("2026-03-01T10:01:00")
    assert len(got) == 8 + 1 + 50  # exp, c1's "other", and the 50 skewed units


def _unit(platform: str) -> str:
    return {"statsig": "user_id", "eppo": "subject_id", "growthbook": "user_id", "harness": "unique_key"}[
        platform
    ]


def _experiment(platform: str) -> str:
    return {
        "statsig": "experiment_id",
        "eppo": "experiment",
        "growthbook": "experiment_id",
        "harness": "experiment_id",
    }[platform]


def _variant(platform: str) -> str:
    return {"statsig": "group_id", "eppo": "variant", "growthbook": "variation_id", "harness": "treatment"}[
        platform
    ]


def _time(platform: str) -> str:
    return "exposure_timestamp" if platform == "harness" else "timestamp"
