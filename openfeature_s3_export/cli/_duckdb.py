"""The typed DuckDB views every query goes through: ``flag_events_raw`` and ``flag_events``.

``flag_events_raw`` reads the files with every column pinned to its schema v1 type (never
inferred from a sample) and the same types for NDJSON and Parquet; ``flag_events`` keeps one
row per ``event_id`` (delivery is at-least-once).
"""

from __future__ import annotations

from typing import Any

from ._columns import columns, partition_columns

FORMATS = ("ndjson", "parquet")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def reader(location: str, fmt: str, *, hive: bool = True) -> str:
    """The table function reading every file of *fmt* under *location* (a directory or URL)."""
    base = location.rstrip("/")
    hive_args = ", hive_partitioning = true, hive_types = {'dt': DATE, 'hour': INTEGER}" if hive else ""
    if fmt == "parquet":
        return f"read_parquet({_quote(base + '/**/*.parquet')}, union_by_name = true{hive_args})"
    pinned = ", ".join(f"{_quote(name)}: {_quote(kind)}" for name, kind in columns("duckdb"))
    return (
        f"read_json({_quote(base + '/**/*.json.gz')}, format = 'newline_delimited', "
        f"columns = {{{pinned}}}{hive_args})"
    )


def view_sql(location: str, fmt: str = "ndjson", *, hive: bool = True) -> str:
    """``CREATE OR REPLACE VIEW`` statements for ``flag_events_raw`` and ``flag_events``.

    With ``hive=False`` the dt/hour columns are computed from ``timestamp`` (UTC) instead of
    read from the folder names, for copies whose paths do not follow the dt=/hour= layout.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    select = [f"    CAST({_ident(name)} AS {kind}) AS {_ident(name)}" for name, kind in columns("duckdb")]
    if hive:
        select += [f"    CAST({name} AS {kind}) AS {name}" for name, kind in partition_columns("duckdb")]
    else:
        select += [
            "    CAST(timezone('UTC', CAST(\"timestamp\" AS TIMESTAMPTZ)) AS DATE) AS dt",
            "    CAST(hour(timezone('UTC', CAST(\"timestamp\" AS TIMESTAMPTZ))) AS INTEGER) AS hour",
        ]
    body = ",\n".join(select)
    return (
        "-- Every row as delivered, every column typed explicitly (never inferred from a sample).\n"
        f"CREATE OR REPLACE VIEW flag_events_raw AS\nSELECT\n{body}\n"
        f"FROM {reader(location, fmt, hive=hive)};\n\n"
        "-- One row per event: delivery is at-least-once, a duplicate is an identical row.\n"
        "CREATE OR REPLACE VIEW flag_events AS\n"
        "SELECT DISTINCT ON (event_id) * FROM flag_events_raw;\n"
    )


def _ident(name: str) -> str:
    # Quote every column name: "timestamp", "value", "domain" and "hour" are keywords somewhere.
    return f'"{name}"'


def connect(location: str, fmt: str = "ndjson", *, hive: bool = True) -> Any:
    """An in-memory DuckDB connection (UTC session) with the two views over *location*."""
    from ._common import need

    duckdb = need("duckdb")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(view_sql(location, fmt, hive=hive))
    return con


def rows(con: Any, sql: str, params: Any = None) -> list[dict[str, Any]]:
    """Run *sql* (with optional positional or ``$name`` parameters) and return its rows as dicts."""
    cursor = con.execute(sql, params) if params is not None else con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
