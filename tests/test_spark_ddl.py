"""`ddl --engine spark` executed in PySpark local mode, against what DuckDB reads through its view.

Needs ``pip install -e ".[test,spark]"`` and a Java runtime (``java`` on PATH); skipped otherwise.
CI installs both.  The session is ``local[1]``, bound to 127.0.0.1, without UI, and loads no
package (no Ivy/Maven resolution): the JVM never leaves the machine.

The data is the analytics test's (the demo shop through the real pipeline into a FileSink, after
30,000 evaluations with no track event, one object delivered twice), and the hand-made export of
``export_fixture`` (two hour partitions, known sums).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

if shutil.which("java") is None:
    pytest.skip(
        "Spark DDL test: no Java runtime on PATH (apt-get install default-jre-headless); CI installs one",
        allow_module_level=True,
    )
pytest.importorskip(
    "pyspark",
    reason='Spark DDL test: pyspark is not installed (pip install -e ".[test,spark]"); CI installs it',
)

from export_fixture import fixture_rows, ndjson_files, parquet_files, write_files
from pyspark import SparkContext
from pyspark.sql import DataFrame, SparkSession
from test_analytics_docs import WARM_UP_EVALUATIONS, Data

from openfeature_s3_export import COLUMNS, load_json_schema
from openfeature_s3_export.cli._assignments import PLATFORMS
from openfeature_s3_export.cli._duckdb import connect
from openfeature_s3_export.cli.ddl import render

pytestmark = pytest.mark.slow

FORMATS = ("ndjson", "parquet")

# Spark's names (DataFrame.dtypes) for each JSON Schema type, written out independently of the
# code under test; dt and hour as docs/analytics.md documents them.
SPARK_TYPES = {
    "integer": "int",
    "number": "double",
    "boolean": "boolean",
    "string": "string",
    "timestamp": "timestamp",
}
PARTITION_TYPES = {"dt": "date", "hour": "int"}


def expected_dtypes() -> list[tuple[str, str]]:
    out = []
    for name in COLUMNS:
        prop = load_json_schema()["properties"][name]
        types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        (kind,) = [t for t in types if t != "null"]
        out.append((name, SPARK_TYPES["timestamp" if prop.get("format") == "date-time" else kind]))
    return out + list(PARTITION_TYPES.items())


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """A local, offline Spark session (stopped, and its JVM ended, at the end of the module)."""
    saved = dict(os.environ)
    os.environ.update({"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOCAL_HOSTNAME": "localhost"})
    for key in ("PYSPARK_SUBMIT_ARGS", "SPARK_CONF_DIR", "SPARK_HOME"):
        os.environ.pop(key, None)  # nothing from outside: no --packages, no cluster settings
    work = tmp_path_factory.mktemp("spark")
    session = (
        SparkSession.builder.master("local[1]")
        .appName("openfeature-s3-export-ddl-test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.catalogImplementation", "in-memory")
        .config("spark.sql.warehouse.dir", str(work / "warehouse"))
        .config("spark.local.dir", str(work / "local"))
        .config("spark.jars.packages", "")
        .config("spark.jars.ivy", str(work / "ivy"))
        .getOrCreate()
    )
    gateway = SparkContext._gateway
    try:
        session.sparkContext.setLogLevel("ERROR")
        yield session
    finally:
        session.stop()
        if gateway is not None:  # end the JVM now, not when pytest exits
            gateway.shutdown()
            proc = getattr(gateway, "proc", None)
            if proc is not None:
                proc.stdin.close()
                proc.wait(timeout=30)
            SparkContext._gateway = None
            SparkContext._jvm = None
        os.environ.clear()
        os.environ.update(saved)


def statements(sql: str) -> list[str]:
    """The statements of a DDL text, comment lines dropped."""
    code = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in code.split(";\n") if s.strip().rstrip(";").strip()]


def run_ddl(spark: SparkSession, location: Path, fmt: str, *, cache: bool = False) -> None:
    """Run the printed DDL; with *cache*, keep flag_events_raw in memory for the many queries
    that follow (the files are read once, through the view, with its schema)."""
    spark.catalog.clearCache()
    for statement in statements(render("spark", fmt=fmt, location=str(location))):
        spark.sql(statement.rstrip(";"))
    if cache:
        spark.catalog.cacheTable("flag_events_raw")


def spark_rows(spark: SparkSession, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in spark.sql(sql).collect()]


def duck_rows(con: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in con.execute(sql).fetchall()]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    return Data(tmp_path_factory.mktemp("spark-pipeline"))


def location_of(data: Data, fmt: str) -> Path:
    return data.json_dir if fmt == "ndjson" else data.parquet_dir


@pytest.mark.parametrize("fmt", FORMATS)
def test_spark_view_types_counts_and_values_match_duckdb(spark: SparkSession, data: Data, fmt: str) -> None:
    location = location_of(data, fmt)
    run_ddl(spark, location, fmt, cache=True)
    con = connect(str(location), fmt)

    # Every column typed as the JSON Schema says, in file order, then dt DATE and hour INT.
    assert spark.table("flag_events_raw").dtypes == expected_dtypes()
    assert spark.table("flag_events").dtypes == expected_dtypes()

    # Every delivered row, and one per event.
    for view, expected in (("flag_events_raw", len(data.raw)), ("flag_events", len(data.rows))):
        count = f"SELECT count(*) FROM {view}"
        assert spark_rows(spark, count) == duck_rows(con, count) == [(expected,)]

    # The track events come after 30,000 evaluations: their name and value are read all the same.
    first_track = next(i for i, row in enumerate(data.raw) if row["kind"] == "track")
    assert first_track >= WARM_UP_EVALUATIONS
    track = (
        "SELECT event_id, event_name, metric_value, targeting_key, {micros}, dt, hour "
        "FROM flag_events WHERE kind = 'track' ORDER BY event_id"
    )
    spark_track = spark_rows(spark, track.format(micros="unix_micros(`timestamp`)"))
    duck_track = duck_rows(con, track.format(micros='epoch_us("timestamp")'))
    assert spark_track == duck_track
    purchases = sorted(data.purchases, key=lambda r: r["event_id"])
    assert [(r[0], r[1], r[2]) for r in spark_track if r[1] == "purchase"] == [
        (r["event_id"], "purchase", r["metric_value"]) for r in purchases
    ]
    assert all(value is not None for _, name, value, *_ in spark_track if name == "purchase")

    # Whole-table figures, every column read (none silently null).
    figures = (
        "SELECT count(event_name), round(sum(metric_value), 6), count(DISTINCT event_id), min({micros}), "
        "max({micros}), count(variant), count(is_default_value), sum(schema_version), "
        "count(context), count(attributes), count(service_name) FROM flag_events_raw"
    )
    assert spark_rows(spark, figures.format(micros="unix_micros(`timestamp`)")) == duck_rows(
        con, figures.format(micros='epoch_us("timestamp")')
    )
    per_variant = (
        "SELECT kind, flag_key, variant, is_default_value, count(*) FROM flag_events "
        "GROUP BY ALL ORDER BY ALL"
    )
    spark_variants = spark_rows(
        spark, per_variant.replace("GROUP BY ALL ORDER BY ALL", "GROUP BY 1, 2, 3, 4")
    )
    assert sorted(spark_variants, key=repr) == sorted(duck_rows(con, per_variant), key=repr)

    # dt and hour come from the folders, typed, and agree with the event time (UTC).
    partitions = "SELECT DISTINCT dt, hour FROM flag_events_raw ORDER BY dt, hour"
    assert spark_rows(spark, partitions) == duck_rows(con, partitions)
    assert spark_rows(
        spark,
        "SELECT count(*) FROM flag_events_raw WHERE dt <> to_date(`timestamp`) OR hour <> hour(`timestamp`)",
    ) == [(0,)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_spark_view_on_the_hand_made_export(spark: SparkSession, tmp_path: Path, fmt: str) -> None:
    writer = ndjson_files if fmt == "ndjson" else parquet_files
    location = write_files(tmp_path / "exports", writer(*fixture_rows()))
    run_ddl(spark, location, fmt)
    rows, duplicates = fixture_rows()
    assert spark_rows(spark, "SELECT count(*) FROM flag_events_raw") == [(len(rows) + len(duplicates),)]
    assert spark_rows(spark, "SELECT count(*) FROM flag_events") == [(len(rows),)]
    assert spark_rows(spark, "SELECT sum(metric_value) FROM flag_events WHERE event_name = 'buy'") == [
        (284.0,)
    ]
    hours = spark_rows(spark, "SELECT dt, hour, count(*) FROM flag_events GROUP BY dt, hour ORDER BY hour")
    assert [(str(d), h) for d, h, _ in hours] == [("2026-03-01", 10), ("2026-03-01", 11)]
    assert sum(n for *_, n in hours) == len(rows)


@pytest.mark.parametrize("fmt", FORMATS)
def test_spark_assignment_views_match_duckdb(spark: SparkSession, data: Data, fmt: str) -> None:
    location = location_of(data, fmt)
    con = connect(str(location), fmt)
    run_ddl(spark, location, fmt, cache=True)
    for platform in sorted(PLATFORMS):
        *views, assignments = statements(
            render("spark", fmt=fmt, location=str(location), assignments=platform)
        )
        assert len(views) == 2 and f"{platform}_assignments" in assignments  # the views made above
        spark.sql(assignments.rstrip(";"))
        con.execute(render("duckdb", fmt=fmt, location=str(location), assignments=platform))
        view = spark.table(f"{platform}_assignments")
        names = [name for name, _ in view.dtypes]
        timestamps = {name for name, kind in view.dtypes if kind == "timestamp"}
        assert timestamps == {"exposure_timestamp" if platform == "harness" else "timestamp"}

        def select(micros: str, names: list[str] = names, timestamps: set[str] = timestamps) -> str:
            return ", ".join(micros.format(n) if n in timestamps else f"`{n}`" for n in names)

        got = spark_rows(spark, f"SELECT {select('unix_micros(`{}`)')} FROM {platform}_assignments")
        want = duck_rows(
            con,
            f"SELECT {select('epoch_us(`{}`)').replace('`', chr(34))} FROM {platform}_assignments",
        )
        assert got and sorted(got, key=repr) == sorted(want, key=repr), platform


@pytest.mark.parametrize("fmt", FORMATS)
def test_auto_loader_schema_streams_the_files(
    spark: SparkSession, data: Data, fmt: str, tmp_path: Path
) -> None:
    """The Auto Loader snippet's schema and options, on Spark's own file stream source (the
    ``cloudFiles`` source is Databricks-only): every file read once, with the declared types."""
    location = location_of(data, fmt)
    text = render("spark", fmt=fmt, location=str(location))
    schema = re.search(r"^--\s+\.schema\('(.*)'\)$", text, flags=re.M)
    source = re.search(r"^--\s+\.option\('cloudFiles\.format', '(\w+)'\)$", text, flags=re.M)
    assert schema and source
    stream: DataFrame = spark.readStream.format(source.group(1)).schema(schema.group(1)).load(str(location))
    query = (
        stream.writeStream.format("memory")
        .queryName(f"bronze_{fmt}")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    try:
        assert query.awaitTermination(timeout=90)
    finally:
        query.stop()
    assert spark.table(f"bronze_{fmt}").dtypes == expected_dtypes()
    assert spark_rows(
        spark, f"SELECT count(*), count(DISTINCT event_id), count(metric_value) FROM bronze_{fmt}"
    ) == [(len(data.raw), len(data.rows), sum(r["metric_value"] is not None for r in data.raw))]
