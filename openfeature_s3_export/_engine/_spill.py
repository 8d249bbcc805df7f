"""The spill directory: encoded lines that could not be delivered, on disk until replayed.

Knows nothing about OpenFeature or sinks: it stores :class:`EncodedLine` values in
append-only *segment* files (format in :mod:`._framing`) and hands them back, oldest first, in
batches that are acknowledged or not.

Ownership.  Every segment is held open under an exclusive ``flock`` by the one process that
owns it: the process that wrote it, or the one that adopted it.  A segment is created under a
hidden temporary name, locked, then renamed into place, so no one can adopt a segment that is
being started.  A segment whose lock can be taken belongs to no live process (its writer
exited or was killed; the kernel releases the lock) and is *adopted*: locked, checked to still
be linked (a replayer may have deleted it between our listing and our lock), parsed, replayed.
Two processes never replay the same segment, and the segments of a live process are never
taken.  A forked child closes the descriptors it inherited without unlocking (``LOCK_UN``
would unlock the parent's segments too).

Durability.  Writes are not fsynced one by one: a record written is in the kernel's page
cache, so it survives the process being killed (SIGKILL, OOM), not a power loss or kernel
crash; :meth:`Spill.close` fsyncs.  A crash mid-write leaves a torn tail, skipped and counted
(``spill_torn``) by whoever replays the segment; the records before it are kept.

Not thread-safe: the sender calls every method under its own lock, which keeps the counters
and the backlog consistent with its pending events in ``stats()``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
import uuid
from collections.abc import Sequence
from typing import Final

import attrs

from .._counters import Counters, drop_key
from .._encoding import EncodedLine, line_data
from .._log import RateLimitedLog
from ._framing import MAGIC, frame, parse

DROP_SPILL_CAP: Final = "spill_cap"
"""Drop reason: the spill directory reached ``spill_max_bytes``; the oldest events made room."""
DROP_SPILL_DISK_FULL: Final = "spill_disk_full"
"""Drop reason: the disk (or the user's quota) under the spill directory is full."""
DROP_SPILL_ERROR: Final = "spill_error"
"""Drop reason: the spill directory could not be written (permissions, read-only, gone)."""
DROP_SPILL_CORRUPT: Final = "spill_corrupt"
"""Drop reason: records this process wrote read back damaged (disk trouble)."""
SPILL_DROP_REASONS: Final = (DROP_SPILL_CAP, DROP_SPILL_DISK_FULL, DROP_SPILL_ERROR, DROP_SPILL_CORRUPT)

SUFFIX: Final = ".seg"
_RESCAN = 5.0  # seconds between looks for orphaned segments while there is nothing else to replay


def segment_name(pid: int) -> str:
    """A new segment's file name: creation time first, so names sort oldest first."""
    return f"{time.time_ns():020d}-{pid}-{uuid.uuid4().hex[:8]}{SUFFIX}"


def segment_pid(name: str) -> int | None:
    """The pid of the process that created segment *name* (``None`` if not ours)."""
    parts = name.split("-")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() and name.endswith(SUFFIX) else None


def try_lock(path: str) -> int | None:
    """Open and lock segment *path*; ``None`` when a live process holds it, or it is gone."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None  # deleted since it was listed, or unreadable
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_nlink == 0:
            raise FileNotFoundError(path)  # deleted by its replayer after we opened it
    except OSError:
        os.close(fd)  # a plain close: never LOCK_UN a lock that may be someone else's
        return None
    return fd


def read_all(fd: int) -> bytes:
    """The whole file behind *fd*."""
    size = os.fstat(fd).st_size
    chunks, pos = [], 0
    while pos < size:
        chunk = os.pread(fd, size - pos, pos)
        if not chunk:
            break
        chunks.append(chunk)
        pos += len(chunk)
    return b"".join(chunks)


def has_segments(directory: str) -> bool:
    """Whether *directory* holds segments (this process's or another's) waiting for replay."""
    try:
        return any(n.endswith(SUFFIX) and not n.startswith(".") for n in os.listdir(directory))
    except OSError:
        return False


def unlink_quietly(path: str) -> None:
    """Delete *path*; a file already gone is fine (someone, or a crash, got there first)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


@attrs.define(slots=True, eq=False)
class _Segment:
    path: str
    fd: int
    size: int
    events: int  # intact records it holds
    acked: int = 0  # records delivered (from the start of the file)
    handed: int = 0  # records handed out for replay
    lines: list[EncodedLine] | None = None  # parsed, while it is being replayed
    active: bool = False  # still appended to


@attrs.frozen(slots=True)
class ReplayBatch:
    """Lines read back from one segment, to deliver and then :meth:`Spill.ack`."""

    segment: _Segment
    start: int
    lines: list[EncodedLine]
    nbytes: int


class Spill:
    """Segments of one process in *directory*, with a cap of *max_bytes* on what it holds."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int,
        segment_bytes: int,
        counters: Counters,
        log: RateLimitedLog,
    ) -> None:
        self.directory = os.fspath(directory)
        self._max_bytes = max_bytes
        self._segment_bytes = segment_bytes
        self._counters = counters
        self._log = log
        self._segments: list[_Segment] = []  # owned, oldest first
        self._replaying: ReplayBatch | None = None
        self._next_scan = 0.0
        self._orphans: list[str] = []
        self.backlog_events = 0
        """Events in segments this process owns (wrote or adopted), not yet delivered."""
        self.backlog_bytes = 0
        """Bytes of those segments."""

    # -- writing --------------------------------------------------------------------------

    def write(self, lines: Sequence[EncodedLine]) -> int:
        """Append *lines* to the active segment; returns how many were written.

        Those not written are counted as dropped with a reason (and logged, rate-limited);
        nothing is raised.
        """
        if not lines:
            return 0
        data = frame(lines)
        if len(data) + len(MAGIC) > self._max_bytes:
            self._drop(DROP_SPILL_CAP, len(lines), "a batch larger than spill_max_bytes")
            return 0
        self._make_room(len(data))
        try:
            segment = self._writable(len(data))
            _write_all(segment.fd, data, segment.size)
        except OSError as exc:
            reason = DROP_SPILL_DISK_FULL if exc.errno in (errno.ENOSPC, errno.EDQUOT) else DROP_SPILL_ERROR
            self._drop(reason, len(lines), repr(exc))
            return 0
        segment.size += len(data)
        segment.events += len(lines)
        self.backlog_events += len(lines)
        self.backlog_bytes += len(data)
        self._counters.add("spilled", len(lines))
        return len(lines)

    def _writable(self, size: int) -> _Segment:
        active = self._segments[-1] if self._segments and self._segments[-1].active else None
        if active is not None and (active.size + size <= self._segment_bytes or active.events == 0):
            return active
        if active is not None:
            active.active = False
        os.makedirs(self.directory, exist_ok=True)  # at the first spill: no empty directories
        final = os.path.join(self.directory, segment_name(os.getpid()))
        temp = os.path.join(self.directory, "." + os.path.basename(final) + ".tmp")
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _write_all(fd, MAGIC, 0)
            os.rename(temp, final)  # visible to others only once locked
        except OSError:
            os.close(fd)
            unlink_quietly(temp)
            raise
        segment = _Segment(final, fd, len(MAGIC), 0, active=True)
        self._segments.append(segment)
        self.backlog_bytes += segment.size
        return segment

    def _make_room(self, size: int) -> None:
        """Delete the oldest segments until *size* more bytes fit under the cap."""
        for segment in list(self._segments):
            if self.backlog_bytes + size <= self._max_bytes:
                return
            if self._replaying is not None and self._replaying.segment is segment:
                continue  # its batch is on the network: its ack decides
            lost = segment.events - segment.acked
            self._delete(segment)
            self._drop(DROP_SPILL_CAP, lost, f"spill_max_bytes ({self._max_bytes}) reached")

    def _drop(self, reason: str, count: int, why: str) -> None:
        if count:
            self._counters.add(drop_key(reason), count)
            self._log.warning(
                reason, "spill to %s: %d events dropped (%s)", self.directory, count, why, count=count
            )

    # -- replay ---------------------------------------------------------------------------

    def next_batch(self, max_lines: int, max_bytes: int) -> ReplayBatch | None:
        """The oldest lines not yet delivered (one batch at a time), or ``None``."""
        if self._replaying is not None:
            return None
        segment = self._next_segment()
        if segment is None:
            return None
        if segment.lines is None:
            self._load(segment)
            if segment.events == segment.acked:
                self._delete(segment)
                return self.next_batch(max_lines, max_bytes)
        assert segment.lines is not None
        start = segment.handed
        lines: list[EncodedLine] = []
        nbytes = 0
        for line in segment.lines[start : start + max_lines]:
            size = len(line_data(line))
            if lines and nbytes + size > max_bytes:
                break
            lines.append(line)
            nbytes += size
        segment.handed = start + len(lines)
        self._replaying = ReplayBatch(segment, start, lines, nbytes)
        return self._replaying

    def ack(self, batch: ReplayBatch, delivered: bool) -> None:
        """*batch* was delivered (its segment is deleted once all of it is) or not (retried later)."""
        self._replaying = None
        segment = batch.segment
        if not delivered:
            segment.handed = segment.acked
            return
        segment.acked = batch.start + len(batch.lines)
        self.backlog_events -= len(batch.lines)
        self._counters.add("replayed", len(batch.lines))
        if segment.acked >= segment.events and not segment.active:
            self._delete(segment)

    def _next_segment(self) -> _Segment | None:
        owned = [s for s in self._segments if not s.active]
        now = time.monotonic()
        if now >= self._next_scan:
            self._orphans = self._scan()
            self._next_scan = now + _RESCAN
        while self._orphans and (not owned or os.path.basename(owned[0].path) > self._orphans[0]):
            adopted = self._adopt(self._orphans.pop(0))
            if adopted is not None:
                return adopted
        if owned:
            return owned[0]
        active = self._segments[-1] if self._segments else None
        if active is not None and active.events > active.acked:
            active.active = False  # sealed: the next spill starts a new segment
            return active
        return None

    def _scan(self) -> list[str]:
        mine = {os.path.basename(s.path) for s in self._segments}
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        for name in names:
            if name.startswith(".") and name.endswith(SUFFIX + ".tmp"):
                self._remove_stillborn(os.path.join(self.directory, name))
        return sorted(n for n in names if n.endswith(SUFFIX) and not n.startswith(".") and n not in mine)

    @staticmethod
    def _remove_stillborn(path: str) -> None:
        """A segment whose creator died before renaming it into place: it holds no record."""
        fd = try_lock(path)
        if fd is not None:
            unlink_quietly(path)
            os.close(fd)

    def _adopt(self, name: str) -> _Segment | None:
        path = os.path.join(self.directory, name)
        fd = try_lock(path)
        if fd is None:
            return None
        size = os.fstat(fd).st_size
        segment = _Segment(path, fd, size, 0)
        self._load(segment, adopted=True)
        # Adopted segments are older than anything this process wrote: they go first.
        self._segments.insert(sum(1 for s in self._segments if s.path < path), segment)
        return segment

    def _load(self, segment: _Segment, *, adopted: bool = False) -> None:
        parsed = parse(read_all(segment.fd))
        damaged = parsed.corrupt + int(parsed.torn)
        if damaged:
            self._counters.add("spill_torn", damaged)
            self._log.warning(
                "spill_torn",
                "spill segment %s: %d damaged records skipped (torn tail: %s); the rest is replayed",
                segment.path,
                damaged,
                parsed.torn,
            )
        segment.lines = parsed.lines
        if adopted:
            segment.events = len(parsed.lines)
            self._counters.add("spill_adopted", segment.events)
            self.backlog_events += segment.events
            self.backlog_bytes += segment.size
        elif len(parsed.lines) < segment.events:  # our own records read back damaged
            lost = segment.events - len(parsed.lines)
            self._drop(DROP_SPILL_CORRUPT, lost, f"segment {segment.path} read back damaged")
            self.backlog_events -= lost
            segment.events = len(parsed.lines)

    def _delete(self, segment: _Segment) -> None:
        unlink_quietly(segment.path)
        os.close(segment.fd)
        self._segments.remove(segment)
        self.backlog_events -= segment.events - segment.acked
        self.backlog_bytes -= segment.size

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Sync and release every segment (they stay on disk, for the next process)."""
        for segment in self._segments:
            with contextlib.suppress(OSError):
                os.fsync(segment.fd)
            os.close(segment.fd)
        self._segments.clear()
        self._replaying = None

    def after_fork_in_child(self) -> None:
        """Forget the parent's segments: close the inherited descriptors, without unlocking."""
        for segment in self._segments:
            os.close(segment.fd)
        self._segments.clear()
        self._replaying = None
        self._orphans = []
        self.backlog_events = self.backlog_bytes = 0


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    written = 0
    try:
        while written < len(view):
            written += os.pwrite(fd, view[written:], offset + written)
    except OSError:
        with contextlib.suppress(OSError):  # leave no partial record: the next would follow garbage
            os.ftruncate(fd, offset)
        raise


def add_spill_stats(values: dict[str, int], backlog: tuple[int, int]) -> None:
    """The spill's keys of ``stats()``, into *values* (the engine's counters)."""
    for key in ("spilled", "replayed", "spill_torn", "spill_adopted"):
        values.setdefault(key, 0)
    values["spill_dropped"] = sum(values.get(drop_key(r), 0) for r in SPILL_DROP_REASONS)
    values["spill_backlog_events"], values["spill_backlog_bytes"] = backlog
