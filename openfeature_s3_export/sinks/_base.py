"""The sink protocol and the base class every sink of this package inherits.

A sink owns one destination and knows nothing about OpenFeature.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import attrs

from .._encoding import EncodedLine


@attrs.frozen(slots=True)
class ExportResult:
    """What became of a batch handed to :meth:`Sink.export`.

    Every event of the batch is in exactly one place: counted in ``delivered``, returned in
    ``failed`` (the pipeline's failure path takes them), or counted in ``dropped`` under a
    reason (for example ``record_too_large`` for an event over a service's record limit).

    .. versionadded:: 0.1.0
    """

    delivered: int
    failed: Sequence[EncodedLine] = ()
    dropped: Mapping[str, int] = attrs.field(factory=dict)
    retried_events: int = 0
    """Events that needed more than one send to land or fail, each counted once however many
    resends it took (``stats()["retried_events"]``)."""
    retried_requests: int = 0
    """Calls that were resends, whatever they carried (``stats()["retried_requests"]``)."""
    error: str | None = None
    """Why ``failed`` is not empty, for the log."""


@runtime_checkable
class Sink(Protocol):
    """A destination for batches of encoded events.

    ``export`` is only ever called from the pipeline's sender thread, one batch at a time.  It
    may retry internally but must return by *deadline* (a :func:`time.monotonic` value, or
    ``None`` for no limit) and must not raise for delivery problems: undelivered events go back
    in :attr:`ExportResult.failed`.  An exception is treated as the whole batch failing.

    Optional methods the pipeline uses when a sink has them: ``start()``, called once on the
    sender thread when the first event arrives (and again in a forked child) to build clients
    before the first batch; ``stats()``, the sink's own counters (shown as ``sink.<name>``).
    Every sink of this package also offers ``check()`` for users to verify the configuration
    at start-up.

    .. versionadded:: 0.1.0
    """

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        """Deliver *batch*, returning what happened to each event."""
        ...

    def shutdown(self) -> None:
        """Release resources; called once, after the last export."""
        ...


class BaseSink(abc.ABC):
    """What every sink of this package shares: the optional methods, as no-ops.

    A subclass implements :meth:`export` and overrides only the methods it needs; the others
    are no-ops on purpose (hence ``noqa: B027``).

    .. versionadded:: 0.1.0
    """

    @abc.abstractmethod
    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        """Deliver *batch*, returning what happened to each line (see :class:`Sink`)."""

    def start(self) -> None:  # noqa: B027
        """Prepare for the first batch (build clients); called on the pipeline's sender thread."""

    def stats(self) -> Mapping[str, int]:
        """The sink's own counters (shown as ``sink.<name>`` in the exporter's stats)."""
        return {}

    def check(self) -> None:  # noqa: B027
        """Verify the configuration now; raises ``SinkConfigurationError`` with the fix."""

    def shutdown(self) -> None:  # noqa: B027
        """Release resources; called once, after the last export."""


def sink_stats(sink: object) -> Mapping[str, int]:
    """A sink's own counters, when it keeps any (``stats()`` is optional)."""
    stats = getattr(sink, "stats", None)
    return stats() if callable(stats) else {}
