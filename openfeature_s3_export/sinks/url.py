"""``sink_from_url``: one string picks the destination (handy for env vars and CLIs)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

from ._base import Sink

SinkFactory = Callable[[SplitResult, dict[str, str]], Sink]

# scheme -> "module:function"; AWS modules import boto3 only when their scheme is used.
_FACTORIES: dict[str, str] = {
    "file": "openfeature_s3_export.sinks.file:from_url",
    "s3": "openfeature_s3_export.sinks.s3:from_url",
    "firehose": "openfeature_s3_export.sinks.firehose:from_url",
    "kinesis": "openfeature_s3_export.sinks.kinesis:from_url",
}


def sink_from_url(url: str) -> Sink:
    """Build a sink from a URL.

    - ``file:///abs/dir`` or ``file:./relative/dir`` → :class:`~openfeature_s3_export.FileSink`
    - ``s3://BUCKET/PREFIX`` → S3 objects, ``firehose://STREAM`` → Kinesis Data Firehose,
      ``kinesis://STREAM`` → Kinesis Data Streams

    Query parameters are passed to the sink as options (for example ``?format=parquet``).

    :raises ValueError: for an unknown scheme, a malformed URL or an unknown option, with a
        message that says what to fix.

    .. versionadded:: 0.1.0
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    target = _FACTORIES.get(scheme)
    if target is None:
        known = ", ".join(f"{s}://" for s in _FACTORIES)
        raise ValueError(f"unsupported sink URL {url!r}: the scheme must be one of {known}")
    try:
        options = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query)))
    except ValueError as exc:
        raise ValueError(f"malformed query string in sink URL {url!r}: {exc}") from exc
    module_name, _, func = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"sink URL {url!r} needs a module that is not available: {exc}") from exc
    factory: SinkFactory = getattr(module, func)
    return factory(parts, options)


def parse_options(
    options: Mapping[str, str], url: str, converters: Mapping[str, Callable[[str], Any]]
) -> dict[str, Any]:
    """Convert URL query options, rejecting unknown names and bad values with a clear message."""
    unknown = set(options) - set(converters)
    if unknown:
        known = ", ".join(sorted(converters))
        raise ValueError(f"unknown option(s) {', '.join(sorted(unknown))} in {url!r}; known: {known}")
    parsed: dict[str, Any] = {}
    for name, raw in options.items():
        try:
            parsed[name] = converters[name](raw)
        except ValueError as exc:
            raise ValueError(f"bad value {raw!r} for option {name!r} in {url!r}: {exc}") from exc
    return parsed


def boolean(raw: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no, on/off) as written in a URL."""
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")
