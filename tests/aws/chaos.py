"""Chaos helpers: a TCP proxy that can be cut, paced producers, and reading back what landed.

Everything listens and connects on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import socket
import threading
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import attrs

from openfeature_s3_export import EventExporter


class TcpProxy:
    """Forwards 127.0.0.1:<port> to *target_port*; :meth:`cut` severs every connection and
    resets new ones (a link gone down), :meth:`restore` lets traffic through again."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._up = True
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        with self._lock:
            self._up = False
            doomed, self._open = self._open, []
        for sock in doomed:
            _close(sock)

    def restore(self) -> None:
        with self._lock:
            self._up = True

    def close(self) -> None:
        self._closed = True
        self.cut()
        _close(self._listener)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                up = self._up
            if not up:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                _close(client)  # an RST: the endpoint is unreachable
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self._target))
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def produce(exporter: EventExporter, run: str, count: int, rate: float, start: int = 0) -> None:
    """Track *count* events (``attributes: {run, seq}``) at about *rate* per second."""
    pause = threading.Event()
    step = max(int(rate / 100), 1)  # pace in 10 ms steps
    for seq in range(start, start + count):
        exporter.track("chaos", attributes={"run": run, "seq": seq})
        if seq % step == step - 1:
            pause.wait(0.01)


def landed_rows(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """Every row in every exported object of *bucket* (NDJSON, gzip), read through boto3."""
    rows: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if item["Key"].startswith("_probe/"):
                continue
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            data = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
            rows.extend(json.loads(line) for line in data.splitlines() if line.strip())
    return rows


@attrs.frozen
class Tally:
    """Produced against landed, for one run."""

    produced: int
    landed: int
    duplicates: int
    lost: int
    missing: list[int]

    def line(self, name: str) -> str:
        return (
            f"{name}: produced={self.produced} landed={self.landed} "
            f"duplicates={self.duplicates} lost={self.lost}"
        )


def tally(rows: list[dict[str, Any]], run: str, produced: range) -> Tally:
    """Count *rows* of *run*; a duplicate must carry the same ``event_id`` as the original."""
    ids: dict[int, set[str]] = defaultdict(set)
    copies: Counter[int] = Counter()
    for row in rows:
        attributes = json.loads(row["attributes"])
        if attributes.get("run") != run:
            continue
        ids[attributes["seq"]].add(row["event_id"])
        copies[attributes["seq"]] += 1
    assert all(len(v) == 1 for v in ids.values()), "a duplicate with a new event_id"
    missing = [seq for seq in produced if seq not in ids]
    return Tally(
        produced=len(produced),
        landed=sum(1 for seq in produced if seq in ids),
        duplicates=sum(copies.values()) - len(copies),
        lost=len(missing),
        missing=missing,
    )


def record(name: str, result: Tally) -> None:
    """Print the tally and, with ``$CHAOS_RESULTS``, append it to that file."""
    print(result.line(name))
    path = os.environ.get("CHAOS_RESULTS")
    if path:
        with Path(path).open("a") as f:
            f.write(result.line(name) + "\n")
