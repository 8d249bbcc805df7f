"""``InMemorySink``: keeps exported events in a list, for tests (ours and our users')."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

from ..events import EncodedEvent, ExportEvent
from ._base import ExportResult


class InMemorySink:
    """Collects every exported event in memory.

    ``events`` holds the :class:`~openfeature_s3_export.ExportEvent` objects and ``rows()`` the
    decoded JSON rows exactly as a file or S3 sink would have written them.

    .. versionadded:: 0.1.0
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._encoded: list[EncodedEvent] = []
        self.batches = 0

    def export(self, batch: Sequence[EncodedEvent], *, deadline: float | None = None) -> ExportResult:
        """Keep *batch*."""
        with self._lock:
            self._encoded.extend(batch)
            self.batches += 1
        return ExportResult(delivered=len(batch))

    @property
    def events(self) -> list[ExportEvent]:
        """Every event exported so far, in export order."""
        with self._lock:
            return [e.event for e in self._encoded]

    @property
    def encoded(self) -> list[EncodedEvent]:
        """Every exported event exactly as sinks receive it (bytes included), in export order."""
        with self._lock:
            return list(self._encoded)

    def rows(self) -> list[dict[str, Any]]:
        """Every exported row as decoded JSON (what lands in a file)."""
        with self._lock:
            return [json.loads(e.data) for e in self._encoded]

    def clear(self) -> None:
        """Forget everything exported so far."""
        with self._lock:
            self._encoded.clear()
            self.batches = 0

    def shutdown(self) -> None:
        """Nothing to release."""
