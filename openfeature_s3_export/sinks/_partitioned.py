"""Event-time hive partitions and collision-free object names, shared by the file and S3 sinks."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterable

from .._encoding import EncodedLine


def partition_path(timestamp_us: int) -> str:
    """``dt=YYYY-MM-DD/hour=HH`` for an event time (UTC), as Athena, Spark and DuckDB expect."""
    t = time.gmtime(timestamp_us // 1_000_000)
    return f"dt={t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}/hour={t.tm_hour:02d}"


_US_PER_HOUR = 3_600_000_000


def group_by_partition(batch: Iterable[EncodedLine]) -> dict[str, list[EncodedLine]]:
    """Split a batch by event-time partition, keeping event order within each."""
    # Keyed by hour number first: one integer division per event instead of formatting a
    # date, which matters at 100k events/s on a thread that shares the GIL with the app.
    hours: dict[int, list[EncodedLine]] = defaultdict(list)
    for event in batch:
        hours[event.timestamp_us // _US_PER_HOUR].append(event)
    return {partition_path(hour * _US_PER_HOUR): events for hour, events in hours.items()}


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
