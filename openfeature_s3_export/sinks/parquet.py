"""Parquet encoding of schema v1 with fixed column types (needs the ``[parquet]`` extra).

Every batch is written with the same Arrow schema, whatever flags and vendors it holds, so
Athena/Glue, Spark, Snowflake and DuckDB read all files of a table with one schema.  The
columns match the JSON rows, except that ``timestamp`` is a real UTC timestamp (µs) rather
than RFC 3339 text.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from .._version import __version__
from ..events import COLUMNS, SCHEMA_VERSION, EncodedEvent

_INTEGER = ("schema_version",)
_BOOLEAN = ("is_default_value",)
_FLOAT = ("metric_value",)
_TIMESTAMP = ("timestamp",)


def arrow_schema() -> Any:
    """The ``pyarrow.Schema`` of schema v1 Parquet files (columns in :data:`COLUMNS` order)."""
    import pyarrow as pa

    def column_type(name: str) -> Any:
        if name in _INTEGER:
            return pa.int32()
        if name in _BOOLEAN:
            return pa.bool_()
        if name in _FLOAT:
            return pa.float64()
        if name in _TIMESTAMP:
            return pa.timestamp("us", tz="UTC")
        return pa.string()

    required = {"schema_version", "event_id", "kind", "timestamp", "vendor", "context", "library_version"}
    fields = [pa.field(name, column_type(name), nullable=name not in required) for name in COLUMNS]
    metadata = {
        "openfeature_s3_export.schema_version": str(SCHEMA_VERSION),
        "openfeature_s3_export.library_version": __version__,
    }
    return pa.schema(fields, metadata=metadata)


def to_parquet(batch: Sequence[EncodedEvent], compression: str = "zstd") -> bytes:
    """One Parquet file holding *batch* (rows in order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema()
    rows = [json.loads(event.data) for event in batch]
    columns: dict[str, Any] = {}
    for field in schema:
        if field.name == "timestamp":
            values: list[Any] = [event.timestamp_us for event in batch]
        else:
            values = [row.get(field.name) for row in rows]
        columns[field.name] = pa.array(values, type=field.type)
    table = pa.Table.from_pydict(columns, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression=compression)
    return buffer.getvalue()
