"""``InMemorySink``: keeps exported lines in a list, for tests (ours and our users')."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

from .._encoding import EncodedLine
from ..schema import Row
from ._base import BaseSink, ExportResult


class InMemorySink(BaseSink):
    """Collects every exported line in memory.

    ``rows()`` gives the decoded JSON rows exactly as a file or S3 sink would have written them,
    ``row_objects()`` the same as :class:`~openfeature_s3_export.Row` objects, and ``lines`` the
    encoded lines as sinks receive them.

    .. versionadded:: 0.1.0
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: list[EncodedLine] = []
        self.batches = 0

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        """Keep *batch*."""
        with self._lock:
            self._lines.extend(batch)
            self.batches += 1
        return ExportResult(delivered=len(batch))

    @property
    def lines(self) -> list[EncodedLine]:
        """Every exported line exactly as sinks receive it, in export order."""
        with self._lock:
            return list(self._lines)

    def rows(self) -> list[dict[str, Any]]:
        """Every exported row as decoded JSON (what lands in a file), in export order."""
        return [json.loads(line.data) for line in self.lines]

    def row_objects(self) -> list[Row]:
        """Every exported row as a :class:`~openfeature_s3_export.Row`, in export order."""
        return [Row(**row) for row in self.rows()]

    def clear(self) -> None:
        """Forget everything exported so far."""
        with self._lock:
            self._lines.clear()
            self.batches = 0
