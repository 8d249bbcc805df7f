"""Parquet encoding of schema v1 with fixed column types (needs the ``[parquet]`` extra).

Every batch is written with the same Arrow schema, whatever flags and vendors it holds, so
Athena/Glue, Spark, Snowflake and DuckDB read all files of a table with one schema.  The
columns match the JSON rows, except that ``timestamp`` is a real UTC timestamp (µs) rather
than RFC 3339 text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._encoding import EncodedLine
from .._version import __version__
from ..schema import COLUMNS, SCHEMA_VERSION
from ._partitioned import payload

_INTEGER = ("schema_version",)
_BOOLEAN = ("is_default_value",)
_FLOAT = ("metric_value", "sample_rate")
_TIMESTAMP = ("timestamp",)


def arrow_schema() -> Any:
    """The ``pyarrow.Schema`` of schema v1 Parquet files (columns in :data:`COLUMNS` order).

    :raises ModuleNotFoundError: naming the extra to install when pyarrow is missing.
    """
    try:
        import pyarrow as pa
    except ImportError as exc:
        raise ModuleNotFoundError(
            "Parquet output needs pyarrow: pip install 'openfeature-s3-export[parquet]'", name="pyarrow"
        ) from exc

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


def to_parquet(batch: Sequence[EncodedLine], compression: str = "zstd") -> bytes:
    """One Parquet file holding *batch* (rows in order)."""
    import pyarrow as pa
    import pyarrow.json as pa_json
    import pyarrow.parquet as pq

    schema = arrow_schema()
    # Arrow's C++ JSON reader parses the NDJSON we already have, without holding the GIL: the
    # application keeps running while a batch is converted.
    # Arrow buffers in and out, not Python file objects: Arrow would call back into Python (and
    # wait for the GIL, up to a switch interval each time under a busy app) for every block.
    table = pa_json.read_json(
        pa.BufferReader(payload(batch)),
        parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error"),
    )
    table = table.select(schema.names).cast(schema)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=compression)
    return bytes(sink.getvalue().to_pybytes())


def warm_up() -> None:
    """Load and exercise the reader and writer once, so the first real batch is not slowed by
    imports and one-time set-up (seconds when a busy application holds the GIL)."""
    from .._encoding import encode_row
    from ..schema import Row

    event = Row(
        event_id="00000000-0000-7000-8000-000000000000",
        kind="track",
        timestamp="1970-01-01T00:00:00.000000Z",
        provider=None,
        vendor="unknown",
        targeting_key=None,
        context_kind=None,
        context="{}",
        library_version=__version__,
    )
    to_parquet([encode_row(event, 0)])
