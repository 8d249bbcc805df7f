"""Looking into a spill directory and replaying it by hand (the ``spill`` command uses these).

The exporter replays its spill directory by itself (see ``docs/delivery.md``); these are for
the rest: a directory left behind by a host that is gone, or a look at what waits on disk.
"""

from __future__ import annotations

import os
import time

import attrs

from ._counters import Counters
from ._engine._framing import parse
from ._engine._spill import SUFFIX, Spill, read_all, segment_pid, try_lock
from ._log import RateLimitedLog
from .sinks._base import Sink


@attrs.frozen
class SegmentInfo:
    """One segment file of a spill directory.

    .. versionadded:: 0.1.0
    """

    name: str
    pid: int | None
    """The process that created it."""
    events: int
    """Intact records (events) in it."""
    bytes: int
    oldest_us: int | None
    """Event time of its oldest event, microseconds since the epoch."""
    owner: str
    """``"alive"`` (a live process holds it) or ``"orphaned"`` (the next exporter adopts it)."""
    damaged: int
    """Records that would be skipped: a torn tail, CRC mismatches."""


def spill_status(directory: str | os.PathLike[str]) -> list[SegmentInfo]:
    """The segments of *directory*, oldest first.

    :raises FileNotFoundError: when *directory* does not exist.

    .. versionadded:: 0.1.0
    """
    path = os.fspath(directory)
    infos: list[SegmentInfo] = []
    for name in sorted(os.listdir(path)):
        if not name.endswith(SUFFIX) or name.startswith("."):
            continue
        full = os.path.join(path, name)
        fd = try_lock(full)  # released at once by closing: this only looks
        owner = "alive" if fd is None else "orphaned"
        try:
            if fd is None:
                with open(full, "rb") as f:
                    data = f.read()
            else:
                data = read_all(fd)
        except FileNotFoundError:
            continue  # replayed and deleted meanwhile
        finally:
            if fd is not None:
                os.close(fd)
        parsed = parse(data)
        oldest = min((line.timestamp_us for line in parsed.lines), default=None)
        infos.append(
            SegmentInfo(
                name,
                segment_pid(name),
                len(parsed.lines),
                len(data),
                oldest,
                owner,
                parsed.corrupt + int(parsed.torn),
            )
        )
    return infos


@attrs.frozen
class ReplayReport:
    """What :func:`replay_spill` did.

    .. versionadded:: 0.1.0
    """

    replayed: int
    """Events delivered (their segments deleted once all of a segment was)."""
    adopted: int
    """Events found in orphaned segments."""
    damaged: int
    """Records skipped (torn tails, CRC mismatches)."""
    left: int
    """Events still on disk in adopted segments (the sink failed; run again later)."""
    error: str | None
    """Why the replay stopped early, if it did."""


def replay_spill(
    directory: str | os.PathLike[str],
    sink: Sink,
    *,
    batch_size: int = 5000,
    batch_bytes: int = 4 * 1024 * 1024,
    timeout: float = 30.0,
) -> ReplayReport:
    """Deliver the orphaned segments of *directory* to *sink*, oldest first, and delete them.

    Segments held by a live process are left alone.  Stops at the first batch the sink fails
    to deliver (it stays on disk).  At-least-once: a batch delivered just before a crash is
    delivered again next time, with the same ``event_id``.

    .. versionadded:: 0.1.0
    """
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"no spill directory at {os.fspath(directory)}")
    counters = Counters()
    spill = Spill(
        directory, max_bytes=1 << 62, segment_bytes=1 << 62, counters=counters, log=RateLimitedLog()
    )
    error = None
    try:
        while (batch := spill.next_batch(batch_size, batch_bytes)) is not None:
            result = sink.export(batch.lines, deadline=time.monotonic() + timeout)
            spill.ack(batch, delivered=not result.failed)
            if result.failed:
                error = result.error or "the sink did not deliver"
                break
        left = spill.backlog_events
    finally:
        spill.close()
    return ReplayReport(
        counters.get("replayed"), counters.get("spill_adopted"), counters.get("spill_torn"), left, error
    )


__all__ = ["ReplayReport", "SegmentInfo", "replay_spill", "spill_status"]
