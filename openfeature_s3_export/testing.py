"""Helpers for testing code that uses this library, in your own test suite.

.. code-block:: python

    from openfeature_s3_export.testing import capture_events

    def test_checkout_is_exposed(client):
        with capture_events() as captured:
            checkout(client)
        assert [r["flag_key"] for r in captured.evaluations()] == ["new-checkout"]

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from openfeature import api

from .exporter import EventExporter
from .hook import ExportHook
from .sinks.memory import InMemorySink

__all__ = ["CapturedEvents", "InMemorySink", "capture_events"]


class CapturedEvents:
    """What :func:`capture_events` yields: the exporter, its in-memory sink and the rows."""

    def __init__(self, exporter: EventExporter, sink: InMemorySink, hook: ExportHook) -> None:
        self.exporter = exporter
        self.sink = sink
        self.hook = hook

    def rows(self) -> list[dict[str, Any]]:
        """Flush, then return every row exported so far, decoded as it would land in a file."""
        if not self.exporter.flush(timeout=10.0):
            raise AssertionError(f"events did not flush cleanly: {dict(self.exporter.stats())}")
        return self.sink.rows()

    def evaluations(self) -> list[dict[str, Any]]:
        """Rows of kind ``evaluation``."""
        return [r for r in self.rows() if r["kind"] == "evaluation"]

    def tracks(self) -> list[dict[str, Any]]:
        """Rows of kind ``track``."""
        return [r for r in self.rows() if r["kind"] == "track"]


@contextmanager
def capture_events(*, register_hook: bool = True, **exporter_options: Any) -> Iterator[CapturedEvents]:
    """Capture exported events in memory for the duration of a ``with`` block.

    Registers an :class:`ExportHook` on the global OpenFeature API (unless *register_hook* is
    false) and removes it afterwards, leaving other hooks in place.  Extra keyword arguments go
    to :class:`EventExporter`.  Use ``captured.exporter`` as the exporter for
    :class:`~openfeature_s3_export.TrackingProvider` or ``exporter.track`` calls.
    """
    sink = InMemorySink()
    exporter_options.setdefault("register_atexit", False)
    exporter_options.setdefault("handle_sigterm", False)  # a test run's signals are not ours
    exporter = EventExporter(sink, **exporter_options)
    hook = ExportHook(exporter)
    if register_hook:
        api.add_hooks([hook])
    try:
        yield CapturedEvents(exporter, sink, hook)
    finally:
        if register_hook:
            remaining = [h for h in api.get_hooks() if h is not hook]
            api.clear_hooks()
            api.add_hooks(remaining)
        exporter.shutdown(timeout=10.0)
