"""Shared by the integration tests: loading an example, reading what landed, running a server."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

from waiting import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BIN = Path(sys.executable).parent


def load_example(path: Path, name: str) -> ModuleType:
    """Import an example file under a unique module name (each test gets its own copy)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def landed_rows(directory: Path) -> list[dict[str, Any]]:
    """Every row in the gzip NDJSON files under *directory* (hidden temporary files skipped)."""
    rows: list[dict[str, Any]] = []
    for path in sorted(directory.rglob("*.json.gz")):
        if path.name.startswith("."):
            continue
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh)
    return rows


def check_exact(rows: Sequence[Mapping[str, Any]], users: int, country: str | None = "fr") -> None:
    """*users* page views and *users* purchases, one of each per user, no duplicate, with context."""
    assert len({r["event_id"] for r in rows}) == len(rows), "an event landed twice"
    assert "SECRET-COOKIE" not in json.dumps(rows), "a cookie reached the export"
    evaluations = [r for r in rows if r["kind"] == "evaluation"]
    tracks = [r for r in rows if r["kind"] == "track"]
    expected = Counter(f"user-{i}" for i in range(users))
    assert Counter(r["targeting_key"] for r in evaluations) == expected
    assert Counter(r["targeting_key"] for r in tracks) == expected
    assert {r["flag_key"] for r in evaluations} == {"home-banner"}
    assert {r["event_name"] for r in tracks} == {"purchase"}
    for r in tracks:
        assert r["metric_value"] == float(r["targeting_key"].split("-")[1]) + 0.5
    if country is not None:
        # context is a JSON string column; the request's named header became an attribute.
        assert all(json.loads(r["context"]) == {"country": country} for r in evaluations)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(port: int, method: str, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def is_ready(port: int) -> bool:
    try:
        return request(port, "GET", "/healthz")[0] == 200
    except OSError:
        return False


def drive(port: int, users: int, concurrency: int = 8, start: int = 0) -> set[int]:
    """One page view and one purchase per user, in parallel; returns the worker pids that served."""

    def one(i: int) -> set[int]:
        headers = {"X-User-Id": f"user-{i}", "X-Country": "fr", "Cookie": "session=SECRET-COOKIE"}
        pids = set()
        for method, path in (("GET", "/"), ("POST", f"/purchase?value={i}.5")):
            status, body = request(port, method, path, headers)
            assert status == 200, body
            pids.add(int(json.loads(body)["worker"]))
        return pids

    with ThreadPoolExecutor(concurrency) as pool:
        return set().union(*pool.map(one, range(start, start + users)))


def drive_spread(port: int, users: int, rounds: int = 10) -> tuple[int, set[int]]:
    """Drive rounds of *users* until more than one worker has served (a threaded worker may
    accept every connection of a short round); returns the users driven and the pids seen."""
    pids: set[int] = set()
    total = 0
    while total < users * rounds:
        pids |= drive(port, users, start=total)
        total += users
        if len(pids) > 1:
            break
    return total, pids


@contextlib.contextmanager
def server(
    args: Sequence[str], cwd: Path, env: Mapping[str, str], port: int
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server on 127.0.0.1:*port*, wait until it answers, stop it with SIGTERM by its PID."""
    log = open(Path(env["TEST_LOG_DIR"]) / "server.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(list(args), cwd=cwd, env={**os.environ, **env}, stdout=log, stderr=log)
    try:
        wait_until(lambda: process.poll() is not None or is_ready(port), what="the server to answer")
        assert process.poll() is None, (Path(env["TEST_LOG_DIR"]) / "server.log").read_text()[-3000:]
        yield process
    finally:
        stop(process)
        log.close()


def stop(process: subprocess.Popen[Any], timeout: float = 60) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
