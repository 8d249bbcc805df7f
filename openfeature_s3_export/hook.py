"""``ExportHook``: records every flag evaluation, whatever provider sits behind OpenFeature."""

from __future__ import annotations

from typing import Any

from openfeature.hook import Hook, HookContext, HookHints

from ._accelerated import speedups
from ._capture import evaluation_record
from .exporter import EventExporter


class ExportHook(Hook):
    """An OpenFeature hook that hands every evaluation to an :class:`EventExporter`.

    Register it once: ``api.add_hooks([ExportHook(exporter)])``.

    It works in ``finally_after`` only, because that stage runs for every evaluation (errors
    and provider-not-ready included) and an exception there cannot change the caller's flag
    value, unlike one raised in ``before`` or ``after``.  The caller's thread only builds a
    small tuple and appends it to the exporter's queue; normalisation, encoding and I/O happen
    on the exporter's worker thread.  Synchronous and ``*_async`` evaluations both run it.

    Registered twice for one exporter (an app factory that runs twice, a hook on the API and
    on a client), each evaluation is still exported once: the second capture is ignored,
    counted as ``duplicate_hook_calls`` and reported in one warning.

    .. versionadded:: 0.1.0
    """

    def __init__(self, exporter: EventExporter) -> None:
        self.exporter = exporter
        """The exporter this hook feeds (integrations use it to register one hook per exporter)."""
        self._intake = exporter.intake
        if speedups is not None:
            self._use_c_stages()

    def _use_c_stages(self) -> None:
        """Put the C versions of the stages this class does not override on the instance.

        The SDK looks each stage up with ``getattr`` on the hook object, so an instance
        attribute is found first, without a bound method per call.  ``finally_after`` in C
        follows the Python method below step for step; ``before``, ``after``, ``error`` and
        ``supports_flag_value_type`` do nothing here, and their C versions (``None`` and
        ``True``) spare every evaluation five Python calls (``before``, ``after``, and
        ``supports_flag_value_type`` once per stage).  A subclass keeps what it overrides.
        """
        assert speedups is not None
        cls = type(self)
        if cls.finally_after is ExportHook.finally_after:
            self.finally_after = speedups.FinallyAfter(self._intake)  # type: ignore[method-assign]
        for stage in ("before", "after", "error"):
            if getattr(cls, stage) is getattr(Hook, stage):
                setattr(self, stage, speedups.Returns(None, keywords=True))
        if cls.supports_flag_value_type is Hook.supports_flag_value_type:
            self.supports_flag_value_type = speedups.Returns(True)  # type: ignore[method-assign]

    def finally_after(
        self,
        hook_context: HookContext,
        details: Any,
        hints: HookHints,
    ) -> None:
        """Capture the evaluation; never raises.

        The definition of the stage; with the C extension built, the hook calls its C version.
        """
        intake = self._intake
        try:
            # The SDK builds one ClientMetadata per evaluation and gives the same object to every
            # hook of that evaluation: seeing it twice in a row means a second ExportHook of this
            # exporter (tests/test_hook.py pins that SDK behaviour).
            evaluation = hook_context.client_metadata
            if evaluation is intake.last_evaluation and evaluation is not None:
                intake.duplicate_hook()
                return
            intake.last_evaluation = evaluation
            intake.submit(evaluation_record(hook_context, details))
        except Exception:  # a capture bug must cost one counted event, never the evaluation
            intake.capture_failed()
