"""What every integration shares: exporters built from settings, once per process, and the hook
registered once."""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from openfeature import api

from ..exporter import EventExporter
from ..hook import ExportHook
from ..sinks import sink_from_url

URL_ENV = "OPENFEATURE_S3_EXPORT_URL"
"""Environment variable read for the sink URL when the framework's settings name none."""

_lock = threading.Lock()
_exporters: dict[tuple[str, tuple[tuple[str, str], ...]], EventExporter] = {}


def require(module: str, extra: str) -> ModuleType:
    """Import a framework, or fail with the one line that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f'{module} is not installed: pip install "openfeature-s3-export[{extra}]"') from exc


def resolve_url(url: str | None) -> str:
    """The sink URL from the settings, else from ``$OPENFEATURE_S3_EXPORT_URL``."""
    chosen = url or os.environ.get(URL_ENV)
    if not chosen:
        raise ValueError(
            f"no sink URL: set it in the framework's settings or in ${URL_ENV} (for example file:./exports)"
        )
    return chosen


def _key(url: str | None, options: Mapping[str, Any] | None) -> tuple[str, tuple[tuple[str, str], ...]]:
    # repr() because option values (a ContextPolicy, a float) need not be hashable.
    return resolve_url(url), tuple(sorted((k, repr(v)) for k, v in (options or {}).items()))


def shared_exporter(url: str | None, options: Mapping[str, Any] | None = None) -> EventExporter:
    """One :class:`EventExporter` per process for one (URL, options) pair.

    An app factory that runs twice (tests, a CLI and a server in one process) gets the same
    exporter back instead of a second pipeline writing the same events twice.  A forked child
    inherits it, and the exporter's own fork handling gives the child a fresh queue and worker.
    """
    key = _key(url, options)
    with _lock:
        exporter = _exporters.get(key)
        if exporter is None:
            exporter = EventExporter(sink_from_url(key[0]), **dict(options or {}))
            _exporters[key] = exporter
        return exporter


def existing_exporter(url: str | None, options: Mapping[str, Any] | None = None) -> EventExporter | None:
    """The exporter :func:`shared_exporter` built for this configuration, without building one."""
    with _lock:
        return _exporters.get(_key(url, options))


def forget(exporter: EventExporter) -> None:
    """Drop a shut-down exporter from the cache, so the next app start builds a fresh one."""
    with _lock:
        for key, value in list(_exporters.items()):
            if value is exporter:
                del _exporters[key]


def install_hook(exporter: EventExporter) -> bool:
    """Add an :class:`ExportHook` for *exporter* to the OpenFeature API unless one is there.

    Returns ``True`` when it added one.  Checked against the API's own hook list, so it stays
    right after ``api.clear_hooks()`` or ``api.shutdown()``.
    """
    with _lock:
        for hook in api.get_hooks():
            if isinstance(hook, ExportHook) and hook.exporter is exporter:
                return False
        api.add_hooks([ExportHook(exporter)])
        return True


def uninstall_hook(exporter: EventExporter) -> None:
    """Remove this exporter's hooks from the API (other hooks stay, in their order)."""
    with _lock:
        hooks = api.get_hooks()
        kept = [h for h in hooks if not (isinstance(h, ExportHook) and h.exporter is exporter)]
        if len(kept) != len(hooks):
            api.clear_hooks()
            api.add_hooks(kept)
