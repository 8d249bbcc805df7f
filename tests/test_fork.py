"""After os.fork() the child has its own queue and worker; the parent's events stay the parent's."""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
from pathlib import Path

import pytest
from openfeature.evaluation_context import EvaluationContext

from openfeature_s3_export import EventExporter, FileSink
from openfeature_s3_export.sinks._partitioned import ObjectNamer

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _rows(directory: Path) -> list[dict[str, object]]:
    rows = []
    for path in directory.rglob("*.json.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh)
    return rows


def test_child_gets_a_fresh_pipeline_and_does_not_duplicate_parent_events(tmp_path: Path) -> None:
    # A long interval and big batches keep the parent's events queued across the fork.
    exporter = EventExporter(
        FileSink(tmp_path), flush_interval=60, max_batch_size=10_000, register_atexit=False
    )
    for i in range(50):
        exporter.track("parent", EvaluationContext(f"parent-{i}"))
    assert exporter.stats()["exported"] == 0

    pid = os.fork()
    if pid == 0:  # child: must exit without returning into pytest
        code = 1
        try:
            assert exporter.stats()["queued"] == 0  # the parent's 50 are not ours
            for i in range(20):
                exporter.track("child", EvaluationContext(f"child-{i}"))
            ok = exporter.shutdown(timeout=10)
            code = 0 if ok and exporter.stats()["exported"] == 20 else 2
        except BaseException as exc:  # report, never fall through into the parent's test run
            sys.stderr.write(f"child failed: {exc!r}\n")
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    assert exporter.shutdown(timeout=10)
    rows = _rows(tmp_path)
    names = sorted(str(r["targeting_key"]) for r in rows)
    assert names == sorted([f"parent-{i}" for i in range(50)] + [f"child-{i}" for i in range(20)])
    assert len({r["event_id"] for r in rows}) == 70
    # The child's files carry its own pid: no name clash with the parent's.
    pids = {p.name.rsplit("-", 3)[1] for p in tmp_path.rglob("*.json.gz")}
    assert len(pids) == 2


def test_a_fork_that_ran_no_hooks_is_detected_when_the_queue_fills(caplog: pytest.LogCaptureFixture) -> None:
    """uWSGI (without lazy-apps) forks in C: the child has the parent's exporter but no threads."""
    from openfeature_s3_export import InMemorySink

    sink = InMemorySink()
    exporter = EventExporter(sink, max_queue_size=20, register_atexit=False)
    # Simulate that child: its threads did not survive the fork, and the recorded pid is the
    # parent's.  (os.fork() always runs the hooks, so a real fork cannot show this.)
    engine = exporter._engine
    exporter.track("first", EvaluationContext("u-first"))  # the threads start with the first event
    assert exporter.flush(timeout=10)
    engine._stopping = True
    engine._wake.set()
    engine._worker.join(5)
    engine._sender.thread.join(5)
    engine._stopping = False
    engine._pid = -1
    for i in range(25):
        exporter.track("e", EvaluationContext(f"u{i}"))
    assert engine._pid == os.getpid()
    assert exporter.flush(timeout=10)
    stats = exporter.stats()
    assert stats["dropped.fork_without_hooks"] == 20
    assert stats["exported"] == 5
    assert [row["targeting_key"] for row in sink.rows()] == ["u-first"] + [f"u{i}" for i in range(20, 25)]
    exporter.shutdown(timeout=5)
    (warning,) = [r for r in caplog.records if "forked without" in r.getMessage()]
    assert warning.threadName != "MainThread", "logged by the worker, not the caller's thread"


def _without_time(name: str) -> str:
    """``<host>-<pid>-<token>-<seq>.json.gz``: a name without its one-second timestamp, so two
    names drawn in different seconds still compare equal when everything else is."""
    match = re.fullmatch(r"part-\d{8}T\d{6}Z-(.+)", name)
    assert match, name
    return match.group(1)


def test_a_forked_child_never_draws_the_parents_file_names() -> None:
    namer = ObjectNamer()
    before = namer.next_name(".json.gz")  # the parent's token and sequence exist before the fork
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must exit without returning into pytest
        code = 1
        try:
            os.close(read_end)
            names = [namer.next_name(".json.gz") for _ in range(3)]
            os.write(write_end, json.dumps(names).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child = json.loads(pipe.read())
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    parent = [before] + [namer.next_name(".json.gz") for _ in range(3)]
    assert not {_without_time(n) for n in child} & {_without_time(n) for n in parent}
    token = before.rsplit("-", 2)[1]
    assert all(name.rsplit("-", 2)[1] != token for name in child), "the child draws its own token"
