"""Retries and deadlines that mean what they say: every AWS sink returns by the export deadline
against an endpoint that accepts connections and never answers, and keeps retrying until that
deadline against one that refuses them (not a fixed handful of attempts).

Both endpoints are real sockets on 127.0.0.1.  Time is checked as an ordering against the
deadline the sink was given, with a margin of one call of the shortest capped timeout.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from aws_helpers import event_at

from openfeature_s3_export import FirehoseSink, KinesisSink, RetryPolicy, S3Sink
from openfeature_s3_export.sinks._aws import SHORTEST_CALL, TIMEOUT_STEPS

pytestmark = pytest.mark.slow

MARGIN = TIMEOUT_STEPS[0]
"""What a sink may overrun its deadline by: Python's own work around the last capped call."""


class SilentServer:
    """Accepts every connection on 127.0.0.1 and never sends a byte."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self._sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sinks(endpoint: str, **options: Any) -> list[Any]:
    return [
        S3Sink("bucket", endpoint_url=endpoint, **options),
        FirehoseSink("stream", endpoint_url=endpoint, **options),
        KinesisSink("stream", endpoint_url=endpoint, **options),
    ]


@pytest.mark.parametrize("budget", [0.8, 2.0])
def test_a_silent_endpoint_cannot_hold_an_export_past_its_deadline(
    silent: SilentServer, budget: float
) -> None:
    """Default timeouts (60 s read for S3, 30 s otherwise) are far longer than the budget: each
    call must get a timeout that fits in the time left."""
    batch = [event_at(datetime.now(timezone.utc), i) for i in range(3)]
    for sink in _sinks(f"http://127.0.0.1:{silent.port}"):
        sink.start()  # build the client first, as the pipeline does when it starts
        connections = len(silent.accepted)
        deadline = time.monotonic() + budget
        result = sink.export(batch, deadline=deadline)
        returned = time.monotonic()
        assert returned <= deadline + MARGIN, (sink, returned - deadline)
        assert result.delivered == 0 and list(result.failed) == batch, sink
        assert len(silent.accepted) > connections, f"{sink} never tried"


def test_a_refusing_endpoint_is_retried_until_the_deadline() -> None:
    """Connection refused is retried until about the deadline (was: 8 attempts in ~3 s, then the
    batch was dropped although the export timeout had most of its time left)."""
    batch = [event_at(datetime.now(timezone.utc), i) for i in range(3)]
    fast = RetryPolicy(base_delay=0.01, max_delay=0.1)
    for sink in _sinks(f"http://127.0.0.1:{_refused_port()}", retry=fast):
        sink.start()
        deadline = time.monotonic() + 2.0
        result = sink.export(batch, deadline=deadline)
        returned = time.monotonic()
        # The last call starts with at least SHORTEST_CALL left: no earlier give-up than that.
        assert deadline - SHORTEST_CALL - MARGIN <= returned <= deadline + MARGIN, (sink, returned - deadline)
        assert list(result.failed) == batch
        assert sink.stats()["requests"] > 8, "more attempts than the old fixed count"


def test_max_attempts_and_max_elapsed_still_limit_when_given() -> None:
    batch = [event_at(datetime.now(timezone.utc), 0)]
    endpoint = f"http://127.0.0.1:{_refused_port()}"
    sink = S3Sink("bucket", endpoint_url=endpoint, retry=RetryPolicy(max_attempts=3, base_delay=0.001))
    sink.export(batch, deadline=time.monotonic() + 30)
    assert sink.stats()["requests"] == 3
    sink = S3Sink("bucket", endpoint_url=endpoint, retry=RetryPolicy(max_elapsed=0.5, base_delay=0.01))
    start = time.monotonic()
    sink.export(batch, deadline=start + 30)
    assert time.monotonic() <= start + 0.5 + MARGIN
