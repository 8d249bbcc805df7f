"""Subprocesses for the spill tests: a process holding segments, a replayer, a producer.

Run as ``python tests/spill_procs.py MODE ...``; each prints one JSON line of results.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from openfeature_s3_export._counters import Counters
from openfeature_s3_export._encoding import EncodedLine
from openfeature_s3_export._engine._spill import Spill
from openfeature_s3_export._log import RateLimitedLog


def lines(tag: str, count: int) -> list[EncodedLine]:
    """*count* lines whose bytes name *tag* and their number."""
    return [
        EncodedLine(f'{{"id":"{tag}-{i}"}}\n'.encode(), 1_700_000_000_000_000 + i, tag) for i in range(count)
    ]


def spill(directory: str, **kwargs: int) -> Spill:
    options = {"max_bytes": 1 << 30, "segment_bytes": 4096} | kwargs
    return Spill(directory, counters=Counters(), log=RateLimitedLog(), **options)


def hold(directory: str, tag: str, count: int) -> None:
    """Spill *count* lines, say so, then stay alive (holding the segments) until killed."""
    s = spill(directory)
    for i in range(0, count, 50):
        s.write(lines(tag, count)[i : i + 50])
    print(json.dumps({"written": count}), flush=True)
    threading.Event().wait()


def replay(directory: str) -> None:
    """Replay orphans until no segment is left in *directory*; print the ids delivered."""
    s = spill(directory)
    got: list[str] = []
    deadline = time.monotonic() + 60  # only turns a hang into a failure
    while any(n.endswith(".seg") for n in os.listdir(directory)) and time.monotonic() < deadline:
        batch = s.next_batch(100, 1 << 20)
        if batch is None:
            s._next_scan = 0.0  # look again at once: the test wants every orphan now
            time.sleep(0.01)
            continue
        got.extend(json.loads(line.data)["id"] for line in batch.lines)
        s.ack(batch, delivered=True)
    print(json.dumps({"ids": got}), flush=True)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "hold":
        hold(args[0], args[1], int(args[2]))
    elif mode == "replay":
        replay(args[0])
