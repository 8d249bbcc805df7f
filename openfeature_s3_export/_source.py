"""Where events come from: the columns every row of one exporter shares."""

from __future__ import annotations

import socket
from typing import TypedDict

import attrs

from ._version import __version__


class SourceColumns(TypedDict):
    """The columns every row takes from its :class:`Source`."""

    library_version: str
    service_name: str | None
    environment: str | None
    host: str | None


@attrs.frozen(slots=True)
class Source:
    """Where events come from, written into every row.

    .. versionadded:: 0.1.0
    """

    service_name: str | None = None
    environment: str | None = None
    host: str | None = attrs.field(factory=socket.gethostname)
    library_version: str = __version__

    def columns(self) -> SourceColumns:
        """The row columns this source fills, to be spread into each row."""
        return {
            "library_version": self.library_version,
            "service_name": self.service_name,
            "environment": self.environment,
            "host": self.host,
        }
