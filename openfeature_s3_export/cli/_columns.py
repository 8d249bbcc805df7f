"""Column types of schema v1 for each engine, derived from the shipped JSON Schema.

Every DDL this command prints declares every column: no engine is left to infer a type from
a sample (DuckDB types a column that is null throughout its sample as NULL, and then reads
every later value in it as NULL).
"""

from __future__ import annotations

from typing import Final

from .. import COLUMNS, load_json_schema

LOGICAL: Final = ("string", "integer", "double", "boolean", "timestamp")

ENGINE_TYPES: Final[dict[str, dict[str, str]]] = {
    "duckdb": {
        "string": "VARCHAR",
        "integer": "INTEGER",
        "double": "DOUBLE",
        "boolean": "BOOLEAN",
        "timestamp": "TIMESTAMPTZ",
        "date": "DATE",
    },
    "athena": {
        "string": "string",
        "integer": "int",
        "double": "double",
        "boolean": "boolean",
        # Hive's JSON SerDe cannot parse RFC 3339 text into TIMESTAMP: keep the text and convert
        # with from_iso8601_timestamp() in queries.  Parquet overrides this (a real timestamp).
        "timestamp": "string",
        "date": "string",
    },
    "athena-iceberg": {
        "string": "string",
        "integer": "int",
        "double": "double",
        "boolean": "boolean",
        # Athena's Iceberg DDL takes only timestamp without time zone: values are UTC.
        "timestamp": "timestamp",
        "date": "date",
    },
    "spark": {
        "string": "STRING",
        "integer": "INT",
        "double": "DOUBLE",
        "boolean": "BOOLEAN",
        "timestamp": "TIMESTAMP",
        "date": "DATE",
    },
    "snowflake": {
        "string": "VARCHAR",
        "integer": "INTEGER",
        "double": "DOUBLE",
        "boolean": "BOOLEAN",
        "timestamp": "TIMESTAMP_TZ",
        "date": "DATE",
    },
    "bigquery": {
        "string": "STRING",
        "integer": "INT64",
        "double": "FLOAT64",
        "boolean": "BOOL",
        "timestamp": "TIMESTAMP",
        "date": "DATE",
    },
}
"""Engine -> logical type -> the engine's type name."""

PARTITIONS: Final = (("dt", "date"), ("hour", "integer"))
"""The hive partition columns every sink writes (event time, UTC), with their logical types."""


def logical_type(name: str) -> str:
    """The logical type of column *name*, read from the JSON Schema (nullability aside)."""
    prop = load_json_schema()["properties"][name]
    json_types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    (json_type,) = [t for t in json_types if t != "null"]
    if json_type == "string" and prop.get("format") == "date-time":
        return "timestamp"
    return {"string": "string", "integer": "integer", "number": "double", "boolean": "boolean"}[json_type]


def columns(engine: str) -> list[tuple[str, str]]:
    """(column, engine type) for every schema v1 column, in file order."""
    names = ENGINE_TYPES[engine]
    return [(name, names[logical_type(name)]) for name in COLUMNS]


def partition_columns(engine: str) -> list[tuple[str, str]]:
    """(column, engine type) of the dt/hour partition columns."""
    names = ENGINE_TYPES[engine]
    return [(name, names[kind]) for name, kind in PARTITIONS]
