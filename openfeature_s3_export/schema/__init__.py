"""Schema v1: the exported row (:class:`Row`, :data:`COLUMNS`) and its JSON Schema, shipped in the package.

Every column has one type across all flags and vendors, so that Athena/Glue, Spark and DuckDB
can read the data with a fixed schema.  Values whose shape depends on the flag or the vendor
(the flag value, context attributes, metadata, track attributes) are stored as JSON text.

``event-v1.schema.json`` describes one NDJSON line exactly as the file, S3, Firehose and Kinesis
sinks write it; ``docs/schema.md`` is the prose version.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Final

import attrs

__all__ = [
    "COLUMNS",
    "KIND_EVALUATION",
    "KIND_TRACK",
    "SCHEMA_FILE",
    "SCHEMA_VERSION",
    "Row",
    "load_json_schema",
]

SCHEMA_VERSION: Final = 1
"""Version of the row layout written by this library.

.. versionadded:: 0.1.0
"""

KIND_EVALUATION: Final = "evaluation"
KIND_TRACK: Final = "track"

COLUMNS: Final[tuple[str, ...]] = (
    "schema_version",
    "event_id",
    "kind",
    "timestamp",
    "flag_key",
    "flag_type",
    "value",
    "default_value",
    "variant",
    "reason",
    "vendor_reason",
    "error_code",
    "error_message",
    "is_default_value",
    "provider",
    "vendor",
    "domain",
    "targeting_key",
    "context_kind",
    "context",
    "flag_metadata",
    "vendor_details",
    "event_name",
    "metric_value",
    "attributes",
    "library_version",
    "service_name",
    "environment",
    "host",
    "sample_rate",
    "hash_key_id",
)
"""Column names in the order they are written.

.. versionadded:: 0.1.0
"""


@attrs.frozen(slots=True)
class Row:
    """One row of schema v1: a flag evaluation (``kind="evaluation"``) or a track event.

    JSON-typed columns (``value``, ``default_value``, ``context``, ``flag_metadata``,
    ``vendor_details``, ``attributes``) hold JSON *text*, already encoded, so that the column
    type never depends on the flag type or the vendor.

    .. versionadded:: 0.1.0
    """

    event_id: str
    kind: str
    timestamp: str
    provider: str | None
    vendor: str
    targeting_key: str | None
    context_kind: str | None
    context: str
    library_version: str
    service_name: str | None = None
    environment: str | None = None
    host: str | None = None
    domain: str | None = None
    flag_key: str | None = None
    flag_type: str | None = None
    value: str | None = None
    default_value: str | None = None
    variant: str | None = None
    reason: str | None = None
    vendor_reason: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    is_default_value: bool | None = None
    flag_metadata: str | None = None
    vendor_details: str | None = None
    event_name: str | None = None
    metric_value: float | None = None
    attributes: str | None = None
    sample_rate: float | None = None
    hash_key_id: str | None = None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Return the row as a dict with the columns in :data:`COLUMNS` order."""
        # Explicit rather than attrs.asdict: this runs once per event on the worker thread.
        return {
            "schema_version": self.schema_version,
            "event_id": self.event_id,
            "kind": self.kind,
            "timestamp": self.timestamp,
            "flag_key": self.flag_key,
            "flag_type": self.flag_type,
            "value": self.value,
            "default_value": self.default_value,
            "variant": self.variant,
            "reason": self.reason,
            "vendor_reason": self.vendor_reason,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "is_default_value": self.is_default_value,
            "provider": self.provider,
            "vendor": self.vendor,
            "domain": self.domain,
            "targeting_key": self.targeting_key,
            "context_kind": self.context_kind,
            "context": self.context,
            "flag_metadata": self.flag_metadata,
            "vendor_details": self.vendor_details,
            "event_name": self.event_name,
            "metric_value": self.metric_value,
            "attributes": self.attributes,
            "library_version": self.library_version,
            "service_name": self.service_name,
            "environment": self.environment,
            "host": self.host,
            "sample_rate": self.sample_rate,
            "hash_key_id": self.hash_key_id,
        }


SCHEMA_FILE: Final = "event-v1.schema.json"
"""File name of the schema v1 JSON Schema inside this package."""


def load_json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of one exported row, as a new dict on every call.

    Use it to validate rows in a consumer, or to generate table definitions:

    .. code-block:: python

        import jsonschema
        from openfeature_s3_export import load_json_schema

        jsonschema.Draft202012Validator(load_json_schema()).validate(row)

    .. versionadded:: 0.1.0
    """
    text = resources.files(__name__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
