"""``ddl --engine ENGINE``: a table or view over the exported files, every column typed."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import click

from ._assignments import PLATFORMS, assignment_view
from ._columns import columns, partition_columns
from ._duckdb import view_sql

ENGINES = ("athena", "athena-iceberg", "duckdb", "spark", "snowflake", "bigquery")


def _s3_location(location: str) -> str:
    return location.rstrip("/") + "/"


def _backquoted(engine: str, fmt: str) -> list[str]:
    typed = columns(engine)
    if fmt == "parquet" and engine == "athena":
        typed = [(n, "timestamp" if n == "timestamp" else t) for n, t in typed]
    width = max(len(n) for n, _ in typed) + 3
    return [f"    {('`' + name + '`').ljust(width)}{kind}" for name, kind in typed]


def athena(table: str, location: str, fmt: str, start: str) -> str:
    """Athena external table with partition projection (no crawler, no MSCK REPAIR)."""
    loc = _s3_location(location)
    storage = (
        "STORED AS PARQUET"
        if fmt == "parquet"
        else "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\n"
        "STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'\n"
        "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'"
    )
    cols = ",\n".join(_backquoted("athena", fmt))
    note = (
        "-- timestamp is a UTC timestamp in Parquet.\n"
        if fmt == "parquet"
        else '-- timestamp is RFC 3339 text: from_iso8601_timestamp("timestamp") in queries.\n'
    )
    return (
        f"-- Athena, schema v1 {fmt.upper()} under {loc}: partitions are projected from dt=/hour=,\n"
        "-- so there is no crawler and no MSCK REPAIR TABLE. Always filter on dt (and hour).\n"
        f"{note}"
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {table} (\n{cols}\n)\n"
        "PARTITIONED BY (`dt` string, `hour` int)\n"
        f"{storage}\n"
        f"LOCATION '{loc}'\n"
        "TBLPROPERTIES (\n"
        "    'projection.enabled' = 'true',\n"
        "    'projection.dt.type' = 'date',\n"
        "    'projection.dt.format' = 'yyyy-MM-dd',\n"
        f"    'projection.dt.range' = '{start},NOW',\n"
        "    'projection.dt.interval' = '1',\n"
        "    'projection.dt.interval.unit' = 'DAYS',\n"
        "    'projection.hour.type' = 'integer',\n"
        "    'projection.hour.range' = '0,23',\n"
        "    'projection.hour.digits' = '2',\n"
        f"    'storage.location.template' = '{loc}dt=${{dt}}/hour=${{hour}}/'\n"
        ");\n"
    )


def athena_iceberg(table: str, location: str, fmt: str, start: str) -> str:
    """An Iceberg table with one row per event_id, loaded from the external table by MERGE."""
    source = table.removesuffix("_iceberg") if table.endswith("_iceberg") else "flag_events"
    loc = _s3_location(location)
    cols = ",\n".join(_backquoted("athena-iceberg", fmt))
    ts = 'from_iso8601_timestamp("timestamp")' if fmt == "ndjson" else '"timestamp"'
    select = ",\n".join(
        f"        CAST({ts} AT TIME ZONE 'UTC' AS timestamp) AS \"timestamp\""
        if name == "timestamp"
        else f'        "{name}"'
        for name, _ in columns("athena-iceberg")
    )
    names = ", ".join(f'"{name}"' for name, _ in columns("athena-iceberg"))
    values = ", ".join(f's."{name}"' for name, _ in columns("athena-iceberg"))
    return (
        f"-- Athena Iceberg: {table} holds one row per event_id, loaded from the external table\n"
        f"-- {source} (openfeature-s3-export ddl --engine athena --format {fmt}).  Iceberg DDL in\n"
        "-- Athena takes timestamp without time zone: values are UTC.\n"
        f"CREATE TABLE IF NOT EXISTS {table} (\n{cols}\n)\n"
        "PARTITIONED BY (day(`timestamp`))\n"
        f"LOCATION '{loc}'\n"
        "TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd');\n\n"
        "-- Load (or re-load) a day: re-runnable, an event already loaded is skipped.\n"
        f"MERGE INTO {table} AS t\n"
        "USING (\n"
        f"    SELECT\n{select}\n"
        "    FROM (\n"
        f"        SELECT *, row_number() OVER (PARTITION BY event_id) AS copy FROM {source}\n"
        f"        WHERE dt = '{start}'\n"
        "    ) WHERE copy = 1\n"
        ") AS s\n"
        "ON t.event_id = s.event_id\n"
        f"WHEN NOT MATCHED THEN INSERT ({names})\nVALUES ({values});\n"
    )


def duckdb(table: str, location: str, fmt: str, start: str) -> str:
    """DuckDB views: flag_events_raw (typed) and flag_events (one row per event_id)."""
    return (
        f"-- DuckDB, schema v1 {fmt.upper()} under {location}.  Query flag_events (one row per\n"
        "-- event_id) or flag_events_raw (every delivered row).\n" + view_sql(location, fmt)
    )


def spark(table: str, location: str, fmt: str, start: str) -> str:
    """Spark / Databricks SQL temporary view with an explicit schema, plus Auto Loader."""
    typed = columns("spark") + partition_columns("spark")
    cols = ",\n".join(f"    `{name}` {kind}" for name, kind in typed)
    names = textwrap.fill(
        ", ".join(f"`{name}`" for name, _ in typed), width=96, initial_indent="    ", subsequent_indent="    "
    )
    source = "json" if fmt == "ndjson" else "parquet"
    glob = "*.json.gz" if fmt == "ndjson" else "*.parquet"
    struct = ", ".join(f"`{name}` {kind}" for name, kind in columns("spark"))
    multiline = "-- NDJSON is one object per line: never set multiLine.\n" if fmt == "ndjson" else ""
    # Apache Spark has no QUALIFY (only Databricks SQL does): number the copies in a subquery.
    return (
        f"-- Spark / Databricks, schema v1 {fmt.upper()} under {location}.  The schema is given,\n"
        "-- never inferred: dt and hour come from the folder names.\n"
        f"{multiline}"
        f"CREATE OR REPLACE TEMPORARY VIEW {table}_raw (\n{cols}\n)\n"
        f"USING {source}\n"
        f"OPTIONS (path '{location}', pathGlobFilter '{glob}', recursiveFileLookup 'false');\n\n"
        "-- One row per event: delivery is at-least-once, a duplicate is an identical row.\n"
        f"CREATE OR REPLACE TEMPORARY VIEW {table} AS\n"
        f"SELECT\n{names}\n"
        "FROM (\n"
        "    SELECT *, row_number() OVER (PARTITION BY `event_id` ORDER BY `timestamp`) AS copy_number\n"
        f"    FROM {table}_raw\n"
        ") AS numbered\n"
        "WHERE copy_number = 1;\n\n"
        "-- Databricks Auto Loader (Python), streaming new files into a Delta table:\n"
        "-- (spark.readStream.format('cloudFiles')\n"
        f"--     .option('cloudFiles.format', '{source}')\n"
        "--     .option('cloudFiles.partitionColumns', 'dt,hour')\n"
        f"--     .schema('{struct}, `dt` DATE, `hour` INT')\n"
        f"--     .load('{location}')\n"
        f"--     .writeStream.option('checkpointLocation', '{location.rstrip('/')}-checkpoint/')\n"
        f"--     .toTable('{table}_bronze'))\n"
    )


def snowflake(table: str, location: str, fmt: str, start: str) -> str:
    """Snowflake external table over a stage, every column a typed virtual column."""
    file_format = "TYPE = JSON COMPRESSION = GZIP" if fmt == "ndjson" else "TYPE = PARQUET"
    lines = [
        "    dt DATE AS TO_DATE(SPLIT_PART(REGEXP_SUBSTR(METADATA$FILENAME, 'dt=[0-9-]+'), '=', 2))",
        "    hour INTEGER AS TO_NUMBER(SPLIT_PART(REGEXP_SUBSTR(METADATA$FILENAME, 'hour=[0-9]+'), '=', 2))",
    ]
    for name, kind in columns("snowflake"):
        # An external table's raw row is the VALUE column: our "value" is renamed flag_value.
        column = "flag_value" if name == "value" else name
        lines.append(f'    {column} {kind} AS (VALUE:"{name}"::{kind})')
    body = ",\n".join(lines)
    return (
        f"-- Snowflake, schema v1 {fmt.upper()} in stage {location} (for example\n"
        "-- CREATE STAGE ... URL = 's3://BUCKET/PREFIX/' STORAGE_INTEGRATION = ...).\n"
        '-- Our "value" column is flag_value here: VALUE is the external table\'s raw row.\n'
        f"CREATE OR REPLACE FILE FORMAT {table}_format {file_format};\n\n"
        f"CREATE OR REPLACE EXTERNAL TABLE {table} (\n{body}\n)\n"
        "PARTITION BY (dt, hour)\n"
        f"LOCATION = {location}\n"
        "AUTO_REFRESH = TRUE\n"
        f"FILE_FORMAT = (FORMAT_NAME = '{table}_format');\n"
    )


def bigquery(table: str, location: str, fmt: str, start: str) -> str:
    """BigQuery external table with hive partitioning (BigLake/Omni connection for s3://)."""
    cols = ",\n".join(f"    `{name}` {kind}" for name, kind in columns("bigquery"))
    prefix = location.rstrip("/")
    connection = (
        "WITH CONNECTION `aws-us-east-1.CONNECTION_ID`  -- BigQuery Omni reads S3 through a connection\n"
        if prefix.startswith("s3://")
        else ""
    )
    options = (
        "format = 'NEWLINE_DELIMITED_JSON', compression = 'GZIP'" if fmt == "ndjson" else "format = 'PARQUET'"
    )
    return (
        f"-- BigQuery, schema v1 {fmt.upper()} under {prefix}/: every column declared, dt/hour\n"
        "-- from the folder names, and every query must filter on dt.\n"
        f"CREATE OR REPLACE EXTERNAL TABLE {table} (\n{cols}\n)\n"
        "WITH PARTITION COLUMNS (dt DATE, hour INT64)\n"
        f"{connection}"
        f"OPTIONS (\n    {options},\n    uris = ['{prefix}/*'],\n"
        f"    hive_partition_uri_prefix = '{prefix}/',\n    require_hive_partition_filter = true\n);\n"
    )


RENDERERS: dict[str, Callable[[str, str, str, str], str]] = {
    "athena": athena,
    "athena-iceberg": athena_iceberg,
    "duckdb": duckdb,
    "spark": spark,
    "snowflake": snowflake,
    "bigquery": bigquery,
}

DEFAULT_LOCATIONS = {
    "duckdb": "exports",
    "snowflake": "@flag_events_stage/",
    "bigquery": "gs://BUCKET/PREFIX",
    "athena-iceberg": "s3://BUCKET/iceberg/flag_events/",
}


def render(
    engine: str,
    *,
    fmt: str = "ndjson",
    location: str | None = None,
    table: str | None = None,
    start: str = "2026-01-01",
    assignments: str | None = None,
) -> str:
    """The DDL text of *engine* (see the ``ddl`` command for the options)."""
    loc = location or DEFAULT_LOCATIONS.get(engine, "s3://BUCKET/PREFIX/")
    name = table or ("flag_events_iceberg" if engine == "athena-iceberg" else "flag_events")
    text = RENDERERS[engine](name, loc, fmt, start)
    if assignments:
        source = "flag_events" if engine in ("duckdb", "spark") else name
        text += "\n" + assignment_view(assignments, engine, source, fmt)
    return text


@click.command(short_help="Print table/view DDL for an engine, every column typed.")
@click.option("--engine", type=click.Choice(ENGINES), required=True, help="the query engine")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ndjson", "parquet"]),
    default="ndjson",
    show_default=True,
    help="file format of the export (FileSink and Firehose: ndjson; S3Sink format=parquet)",
)
@click.option(
    "--location",
    help="where the files are: a directory (duckdb), s3://BUCKET/PREFIX/, a Snowflake @stage, gs://...",
)
@click.option("--table", help="table name (default flag_events; athena-iceberg: flag_events_iceberg)")
@click.option(
    "--start",
    default="2026-01-01",
    show_default=True,
    help="athena: first day of the projected dt range; athena-iceberg: the day the MERGE loads",
)
@click.option(
    "--assignments",
    type=click.Choice(sorted(PLATFORMS)),
    help="also print an assignment-source view in that platform's column names",
)
def ddl(
    engine: str, fmt: str, location: str | None, table: str | None, start: str, assignments: str | None
) -> None:
    """Print a table or view definition for the exported files, every column typed explicitly
    from the schema v1 JSON Schema (never inferred from a sample).

    \b
    Examples:
      openfeature-s3-export ddl --engine duckdb --location ./exports > views.sql
      openfeature-s3-export ddl --engine athena --location s3://my-lake/flags/v1/
      openfeature-s3-export ddl --engine duckdb --assignments statsig
    """
    click.echo(render(engine, fmt=fmt, location=location, table=table, start=start, assignments=assignments))
