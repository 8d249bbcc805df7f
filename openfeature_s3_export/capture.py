"""The capture record: what the caller's thread hands to the worker.

The hot path (:func:`evaluation_record`, :func:`track_record`) only reads a few attributes,
copies mutable values and builds a plain tuple: no normalisation, no JSON, no I/O, no locks.
A tuple rather than an attrs instance because it is the cheapest object Python can build, and
this runs on every flag evaluation.  :mod:`.rows` turns records into rows on the worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ._snapshot import snapshot, snapshot_attributes

# Record layouts.  Index 0 tells the two apart.
#   evaluation: (EVAL, time_ns, hook_context, value, variant, reason, error_code,
#                error_message, flag_metadata, context_attributes)
#   track:      (TRACK, time_ns, event_name, provider_name, domain, targeting_key,
#                context_attributes, metric_value, attributes)
EVAL = 0
TRACK = 1

_IMMUTABLE_VALUES = (bool, str, int, float, type(None))
_time_ns = time.time_ns


def evaluation_record(hook_context: Any, details: Any) -> tuple[Any, ...]:
    """Capture one evaluation from an OpenFeature ``finally_after`` stage (caller's thread)."""
    value = details.value
    if not isinstance(value, _IMMUTABLE_VALUES):
        value = snapshot(value)  # object flags: the caller owns (and may mutate) this dict
    attributes = hook_context.evaluation_context.attributes
    return (
        EVAL,
        _time_ns(),
        hook_context,
        value,
        details.variant,
        details.reason,
        details.error_code,
        details.error_message,
        details.flag_metadata,
        snapshot_attributes(attributes) if attributes else None,
    )


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
        event_name,
        provider_name,
        domain,
        targeting_key,
        snapshot_attributes(context_attributes) if context_attributes else None,
        value,
        snapshot_attributes(attributes) if attributes else None,
    )
