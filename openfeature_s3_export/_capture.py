"""The capture record: what the caller's thread hands to the worker.

The hot path (:func:`evaluation_record`, :func:`track_record`) only reads a few attributes,
copies mutable values and builds a plain tuple: no normalisation, no JSON, no I/O, no locks.
A tuple rather than an attrs instance or a named tuple because it is the cheapest object
Python can build, and this runs on every flag evaluation; its fields are named by the index
constants below, and :mod:`._rows` is the only reader.

The record holds plain values, not the SDK's ``HookContext``: a queued record that kept the hook
context alive (with its evaluation context and metadata objects) made the garbage collector
walk all of them on every young-generation pass, which cost the caller's thread about 2 µs
per evaluation (docs/performance.md).  Strings, numbers and a dict of JSON scalars are not
tracked by the collector at all.

With the C extension, an evaluation's record is a ``_speedups.Record``: the same fifteen fields,
read the same ways (index, iteration, slices, ``==`` with the tuple), in one allocation, with
the capture time as a C integer and plain context attributes as key/value pairs inside it.  The
worker frees every record on another core, and each block it frees costs the caller's thread a
cache miss when it is handed out again: the tuple, its int, its dict and the dict's keys were
four blocks an evaluation (docs/performance.md, section 1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from ._accelerated import speedups
from ._snapshot import snapshot, snapshot_attributes

EVALUATION: Final = 0
"""``KIND`` of a flag evaluation record."""
TRACK: Final = 1
"""``KIND`` of a track event record."""

# Fields both kinds share.
KIND: Final = 0
TIME_NS: Final = 1
"""Capture time, nanoseconds since the epoch (``time.time_ns``)."""
CONTEXT_ATTRIBUTES: Final = 2
"""A copy of the context attributes (see :mod:`._snapshot`), or ``None``."""

# Evaluation records: (EVALUATION, time_ns, context_attributes, targeting_key, flag_key,
#     flag_type, default_value, value, variant, reason, error_code, error_message, flag_metadata,
#     provider_name, domain)
EVALUATION_TARGETING_KEY: Final = 3
FLAG_KEY: Final = 4
FLAG_TYPE: Final = 5
DEFAULT_VALUE: Final = 6
VALUE: Final = 7
VARIANT: Final = 8
REASON: Final = 9
ERROR_CODE: Final = 10
ERROR_MESSAGE: Final = 11
FLAG_METADATA: Final = 12
EVALUATION_PROVIDER_NAME: Final = 13
EVALUATION_DOMAIN: Final = 14

# Track records: (TRACK, time_ns, context_attributes, event_name, provider_name, domain,
#                 targeting_key, metric_value, attributes)
EVENT_NAME: Final = 3
PROVIDER_NAME: Final = 4
DOMAIN: Final = 5
TARGETING_KEY: Final = 6
METRIC_VALUE: Final = 7
ATTRIBUTES: Final = 8

_IMMUTABLE_VALUES = (bool, str, int, float, type(None))
_time_ns = time.time_ns


def py_evaluation_record(hook_context: Any, details: Any) -> tuple[Any, ...]:
    """Capture one evaluation from an OpenFeature ``finally_after`` stage (caller's thread).

    The definition of the capture: ``_speedups.evaluation_record`` does the same in C."""
    value = details.value
    if not isinstance(value, _IMMUTABLE_VALUES):
        value = snapshot(value)  # object flags: the caller owns (and may mutate) this dict
    default = hook_context.default_value
    if not isinstance(default, _IMMUTABLE_VALUES):
        default = snapshot(default)
    context = hook_context.evaluation_context
    attributes = context.attributes
    provider = hook_context.provider_metadata
    client = hook_context.client_metadata
    return (
        EVALUATION,
        _time_ns(),
        snapshot_attributes(attributes) if attributes else None,
        context.targeting_key,
        hook_context.flag_key,
        hook_context.flag_type,
        default,
        value,
        details.variant,
        details.reason,
        details.error_code,
        details.error_message,
        details.flag_metadata or None,  # an empty dict need not cross to the worker
        provider.name if provider is not None else None,
        client.domain if client is not None else None,
    )


evaluation_record: Callable[[Any, Any], tuple[Any, ...]] = py_evaluation_record
"""``evaluation_record(hook_context, details)``: :func:`py_evaluation_record`, in C when the
extension is built (it reads the same attributes and copies values the same way, and returns a
``Record`` that reads as the tuple)."""
if speedups is not None:
    speedups.bind(snapshot, snapshot_attributes)
    evaluation_record = speedups.evaluation_record


def track_record(
    event_name: str,
    provider_name: str | None,
    domain: str | None,
    targeting_key: str | None,
    context_attributes: Mapping[str, Any] | None,
    value: Any,
    attributes: Mapping[str, Any] | None,
) -> tuple[Any, ...]:
    """Capture one track event (caller's thread)."""
    return (
        TRACK,
        _time_ns(),
        snapshot_attributes(context_attributes) if context_attributes else None,
        event_name,
        provider_name,
        domain,
        targeting_key,
        value,
        snapshot_attributes(attributes) if attributes else None,
    )
