"""The partition writer the file and S3 sinks share.

A batch is split by event-time hive partition, each partition's lines become one body (gzip
NDJSON or Parquet) under a collision-free name, and a per-destination *put* (a file rename, an
S3 ``PutObject``) stores it.  The writer counts what landed and gives back what did not.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

import attrs

from .._counters import Counters
from .._encoding import EncodedLine, line_data, line_timestamp
from ._base import ExportResult
from ._compress import gzip_compress, validate_level

FORMATS = ("ndjson", "parquet")


def partition_path(timestamp_us: int) -> str:
    """``dt=YYYY-MM-DD/hour=HH`` for an event time (UTC), as Athena, Spark and DuckDB expect."""
    t = time.gmtime(timestamp_us // 1_000_000)
    return f"dt={t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}/hour={t.tm_hour:02d}"


_US_PER_HOUR = 3_600_000_000


def group_by_partition(batch: Sequence[EncodedLine]) -> dict[str, Sequence[EncodedLine]]:
    """Split a batch by event-time partition, keeping event order within each."""
    if not batch:
        return {}
    # Almost every batch falls within one hour: two C passes find out, and the batch goes
    # whole.  Otherwise keyed by hour number: one integer division per line instead of
    # formatting a date, on a thread that shares the GIL with the application.
    first = min(map(line_timestamp, batch)) // _US_PER_HOUR
    if max(map(line_timestamp, batch)) // _US_PER_HOUR == first:
        return {partition_path(first * _US_PER_HOUR): batch}
    hours: dict[int, list[EncodedLine]] = defaultdict(list)
    for line in batch:
        hours[line.timestamp_us // _US_PER_HOUR].append(line)
    return {partition_path(hour * _US_PER_HOUR): lines for hour, lines in hours.items()}


def payload(lines: Iterable[EncodedLine]) -> bytes:
    """The lines as one NDJSON body."""
    return b"".join(map(line_data, lines))


def payload_size(lines: Iterable[EncodedLine]) -> int:
    """Bytes of the lines as one NDJSON body."""
    return sum(map(len, map(line_data, lines)))


class ObjectNamer:
    """Unique file/object names per process: ``part-<utc time>-<host>-<pid>-<random>-<seq>``.

    Many processes (and hosts) may write to one directory or prefix; host, pid and a random
    token make names collide-free, and a fresh token is drawn after ``fork()`` because the
    child shares the parent's pid-less state.  Names sort by write time.
    """

    def __init__(self, prefix: str = "part") -> None:
        self._prefix = prefix
        self._host = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())[:40]
        self._lock = threading.Lock()
        self._pid = -1
        self._token = ""
        self._seq = 0

    def next_name(self, suffix: str) -> str:
        """A new name ending in *suffix* (for example ``.json.gz``)."""
        with self._lock:
            pid = os.getpid()
            if pid != self._pid:
                self._pid, self._token, self._seq = pid, secrets.token_hex(4), 0
            self._seq += 1
            seq = self._seq
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return f"{self._prefix}-{stamp}-{self._host}-{self._pid}-{self._token}-{seq:06d}{suffix}"


@attrs.frozen(slots=True)
class BodyFormat:
    """How a partition's lines become one file or object body, and what it is called."""

    format: str
    compresslevel: int = attrs.field(default=3, converter=validate_level)
    parquet_compression: str = "zstd"

    def __attrs_post_init__(self) -> None:
        check_format(self.format)
        if self.format == "parquet":
            from .parquet import arrow_schema

            arrow_schema()  # fail at construction, not on the worker, when pyarrow is missing

    @property
    def suffix(self) -> str:
        """The file name ending readers match on."""
        return ".json.gz" if self.format == "ndjson" else ".parquet"

    @property
    def content_type(self) -> str:
        """The MIME type of a body."""
        return "application/gzip" if self.format == "ndjson" else "application/vnd.apache.parquet"

    def encode(self, lines: Sequence[EncodedLine]) -> bytes:
        """One body holding *lines*, in order."""
        if self.format == "parquet":
            from .parquet import to_parquet

            return to_parquet(lines, self.parquet_compression)
        return gzip_compress(payload(lines), self.compresslevel)

    def warm_up(self) -> None:
        """Load Parquet's reader and writer before the first batch (nothing to do for gzip)."""
        if self.format == "parquet":
            from .parquet import warm_up

            warm_up()


def check_format(format: str) -> None:
    """``ValueError`` naming the valid formats when *format* is not one of them."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")


@attrs.frozen(slots=True)
class PutOutcome:
    """What became of one body handed to a destination's put."""

    error: str | None = None
    """Why the body was not stored, or ``None`` when it was."""
    retried_events: int = 0
    """Lines that needed more than one send (each counted once)."""
    retried_requests: int = 0
    """Calls that were resends."""


Put = Callable[[str, bytes, Sequence[EncodedLine], "float | None"], PutOutcome]
"""Stores one body in a partition folder: ``put(partition, body, lines, deadline)``."""


class PartitionWriter:
    """Writes a batch as one body per event-time partition through a destination's *put*.

    Counts ``objects``, ``events``, ``payload_bytes`` (NDJSON before encoding) and
    ``object_bytes`` (as stored) into *counters*.
    """

    def __init__(self, body: BodyFormat, put: Put, counters: Counters) -> None:
        self.body = body
        self._put = put
        self._counters = counters
        self._names = ObjectNamer()

    def new_name(self) -> str:
        """A fresh, collision-free file or object name for a body."""
        return self._names.next_name(self.body.suffix)

    def export(self, batch: Sequence[EncodedLine], deadline: float | None) -> ExportResult:
        """Store *batch*; a partition whose body was not stored comes back as failed."""
        delivered = retried_events = retried_requests = 0
        failed: list[EncodedLine] = []
        errors: list[str] = []
        counters = self._counters
        for partition, lines in group_by_partition(batch).items():
            body = self.body.encode(lines)
            outcome = self._put(partition, body, lines, deadline)
            retried_events += outcome.retried_events
            retried_requests += outcome.retried_requests
            if outcome.error is not None:
                failed.extend(lines)
                errors.append(outcome.error)
                continue
            delivered += len(lines)
            counters.add("objects")
            counters.add("events", len(lines))
            counters.add("payload_bytes", payload_size(lines))
            counters.add("object_bytes", len(body))
        return ExportResult(
            delivered=delivered,
            failed=failed,
            retried_events=retried_events,
            retried_requests=retried_requests,
            error="; ".join(errors) or None,
        )
