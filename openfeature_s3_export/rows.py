"""From capture record to schema v1 row, on the worker thread.

Vendor normalisation, encoding of user values into JSON text, event ids and timestamps all
happen here, never on the caller's thread.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from typing import Any

import attrs

from ._version import __version__
from .capture import TRACK
from .encoding import EncodingError, dumps
from .events import KIND_EVALUATION, KIND_TRACK, ExportEvent
from .vendors import RawEvaluation, normalize, vendor_for
from .vendors._base import attribute_kind


@attrs.frozen(slots=True)
class Source:
    """Where events come from, written into every row.

    .. versionadded:: 0.1.0
    """

    service_name: str | None = None
    environment: str | None = None
    host: str | None = attrs.field(factory=socket.gethostname)
    library_version: str = __version__


def uuid7(time_ns: int) -> str:
    """A UUIDv7 (RFC 9562) for *time_ns*: time-ordered, 62 random bits for uniqueness.

    The 12 ``rand_a`` bits carry sub-millisecond time (RFC 9562 method 3), so ids sort by event
    time to within 250 ns.
    """
    ms = time_ns // 1_000_000
    sub_ms = (time_ns % 1_000_000) * 4096 // 1_000_000
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | sub_ms << 64 | 0b10 << 62 | rand
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def rfc3339_us(timestamp_us: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for a UTC time in microseconds since the epoch."""
    seconds, micros = divmod(timestamp_us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def _text(value: Any) -> str | None:
    """Enums (``Reason``, ``ErrorCode``, ``FlagType``) and stray non-strings as plain text."""
    if value is None:
        return None
    return str(value.value) if hasattr(value, "value") and not isinstance(value, str) else str(value)


def _metric(value: Any) -> float | None:
    if value is None:
        return None
    try:
        metric = float(value)
    except (TypeError, ValueError) as exc:
        raise EncodingError(f"track value {value!r} is not a number") from exc
    if metric != metric or metric in (float("inf"), float("-inf")):
        raise EncodingError(f"track value {value!r} is not a finite number")
    return metric


def build_event(record: tuple[Any, ...], source: Source) -> tuple[ExportEvent, int]:
    """Turn a capture record into a schema v1 row and its event time in microseconds.

    Runs on the worker thread.

    :raises EncodingError: when a user value cannot be encoded; the caller drops the event.
    """
    time_ns = record[1]
    timestamp_us = time_ns // 1000
    if record[0] == TRACK:
        _, _, event_name, provider, domain, targeting_key, context, value, attributes = record
        context = context or {}
        event = ExportEvent(
            event_id=uuid7(time_ns),
            kind=KIND_TRACK,
            timestamp=rfc3339_us(timestamp_us),
            provider=provider,
            vendor=vendor_for(provider),
            domain=domain,
            targeting_key=_text(targeting_key),
            context_kind=attribute_kind(context),
            context=dumps(context),
            event_name=_text(event_name),
            metric_value=_metric(value),
            attributes=dumps(attributes or {}),
            library_version=source.library_version,
            service_name=source.service_name,
            environment=source.environment,
            host=source.host,
        )
        return event, timestamp_us

    _, _, hook_context, value, variant, reason, error_code, error_message, metadata, context = record
    context = context or {}
    provider_metadata = hook_context.provider_metadata
    client_metadata = hook_context.client_metadata
    provider = provider_metadata.name if provider_metadata is not None else None
    flag_type = _text(hook_context.flag_type)
    raw = RawEvaluation(
        provider=provider,
        flag_key=str(hook_context.flag_key),
        flag_type=flag_type.lower() if flag_type else None,
        variant=_text(variant),
        reason=_text(reason),
        error_code=_text(error_code),
        flag_metadata=metadata if isinstance(metadata, Mapping) else {},
        attributes=context,
    )
    norm = normalize(raw)
    event = ExportEvent(
        event_id=uuid7(time_ns),
        kind=KIND_EVALUATION,
        timestamp=rfc3339_us(timestamp_us),
        provider=provider,
        vendor=norm.vendor,
        domain=client_metadata.domain if client_metadata is not None else None,
        targeting_key=_text(hook_context.evaluation_context.targeting_key),
        context_kind=norm.context_kind,
        context=dumps(context),
        flag_key=raw.flag_key,
        flag_type=raw.flag_type,
        value=dumps(value),
        default_value=dumps(hook_context.default_value),
        variant=norm.variant,
        reason=norm.reason,
        vendor_reason=raw.reason,
        error_code=raw.error_code,
        error_message=_text(error_message),
        is_default_value=norm.is_default_value,
        flag_metadata=dumps(norm.flag_metadata),
        vendor_details=dumps(norm.vendor_details),
        library_version=source.library_version,
        service_name=source.service_name,
        environment=source.environment,
        host=source.host,
    )
    return event, timestamp_us
