"""``ExportHook``: records every flag evaluation, whatever provider sits behind OpenFeature."""

from __future__ import annotations

from typing import Any

from openfeature.hook import Hook, HookContext, HookHints

from .capture import evaluation_record
from .pipeline import EventExporter


class ExportHook(Hook):
    """An OpenFeature hook that hands every evaluation to an :class:`EventExporter`.

    Register it once: ``api.add_hooks([ExportHook(exporter)])``.

    It works in ``finally_after`` only, because that stage runs for every evaluation (errors
    and provider-not-ready included) and an exception there cannot change the caller's flag
    value, unlike one raised in ``before`` or ``after``.  The caller's thread only builds a
    small tuple and appends it to the exporter's queue; normalisation, encoding and I/O happen
    on the exporter's worker thread.  Synchronous and ``*_async`` evaluations both run it.

    .. versionadded:: 0.1.0
    """

    def __init__(self, exporter: EventExporter) -> None:
        self._submit = exporter._submit
        self._failed = exporter._capture_failed

    def finally_after(
        self,
        hook_context: HookContext,
        details: Any,
        hints: HookHints,
    ) -> None:
        """Capture the evaluation; never raises."""
        try:
            self._submit(evaluation_record(hook_context, details))
        except Exception:  # a capture bug must cost one counted event, never the evaluation
            self._failed()
