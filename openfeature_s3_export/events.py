"""The exported row: schema v1, one flat shape for evaluations and track events.

Every column has one type across all flags and vendors, so that Athena/Glue, Spark and DuckDB
can read the data with a fixed schema.  Values whose shape depends on the flag or the vendor
(the flag value, context attributes, metadata, track attributes) are stored as JSON text.
``docs/schema.md`` documents each column; ``schema/event-v1.schema.json`` is the machine-readable
form shipped inside the package.
"""

from __future__ import annotations

import json
from typing import Any, Final

import attrs

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
)
"""Column names in the order they are written.

.. versionadded:: 0.1.0
"""


@attrs.frozen(slots=True)
class ExportEvent:
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
    schema_version: int = SCHEMA_VERSION

    def to_row(self) -> dict[str, Any]:
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
        }


@attrs.define(slots=True, eq=False, kw_only=True)
class EncodedEvent:
    """An :class:`ExportEvent` together with its newline-terminated JSON encoding.

    Sinks receive these: the pipeline has already validated and size-checked every one, so a
    sink never has to deal with an event it cannot serialise.  The pipeline writes ``data``
    directly from cached fragments; :attr:`event` is decoded from ``data`` on first use, so
    sinks that only need bytes (files, Firehose) never pay for building the object.

    .. versionadded:: 0.1.0
    """

    data: bytes
    """UTF-8 JSON of :meth:`ExportEvent.to_row`, ending with ``b"\\n"``."""
    timestamp_us: int
    """Event time in microseconds since the epoch (UTC), used for partitioning."""
    routing_key: str | None = None
    """The event's targeting key: sinks that shard (Kinesis) keep one user's events together.

    .. versionadded:: 0.1.0
    """
    _event: ExportEvent | None = attrs.field(default=None, alias="event")

    @property
    def event(self) -> ExportEvent:
        """The row as an :class:`ExportEvent` (decoded from :attr:`data` when not given)."""
        if self._event is None:
            self._event = ExportEvent(**json.loads(self.data))
        return self._event
