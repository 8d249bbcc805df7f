"""The exporter with a spill directory: accounting through an outage, shutdown, the next start,
the cap and a full disk.

The sink here is a programmable one (down / up / hanging) so the engine's accounting can be
checked at every moment; the same paths against real S3 servers are in ``aws/test_chaos.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from waiting import wait_until

from openfeature_s3_export import EncodedLine, EventExporter, ExportResult
from openfeature_s3_export.exporter import SPILL_DIR_ENV

BEFORE_QUEUE = ("dropped.queue_full", "dropped.shutdown", "dropped.capture_error")


class SwitchSink:
    """Down (fails every batch, after *hang* seconds or at its deadline) or up (keeps them)."""

    def __init__(self, *, down: bool = False, hang_until_deadline: bool = False) -> None:
        self.down = threading.Event()
        if down:
            self.down.set()
        self.hang_until_deadline = hang_until_deadline
        self.stuck = threading.Event()  # set: export blocks (ignoring its deadline) until cleared
        self.released = threading.Event()
        self.lines: list[EncodedLine] = []
        self._lock = threading.Lock()

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        if self.stuck.is_set():
            self.released.wait()
        if self.down.is_set():
            if self.hang_until_deadline and deadline is not None:
                threading.Event().wait(max(deadline - __import__("time").monotonic(), 0))
            return ExportResult(delivered=0, failed=list(batch), error="endpoint down")
        with self._lock:
            self.lines.extend(batch)
        return ExportResult(delivered=len(batch))

    def shutdown(self) -> None:
        pass

    def seqs(self) -> list[int]:
        with self._lock:
            return [json.loads(json.loads(line.data)["attributes"])["seq"] for line in self.lines]


def balanced(stats: Mapping[str, int]) -> bool:
    """The accounting identity of ``EventExporter.stats()``."""
    after_queue = stats["dropped"] - sum(stats.get(k, 0) for k in BEFORE_QUEUE)
    left = stats["enqueued"] + stats.get("spill_adopted", 0)
    right = (
        stats["exported"]
        + stats["queued"]
        + stats["pending"]
        + stats.get("spill_backlog_events", 0)
        + after_queue
    )
    return left == right


def produce(exporter: EventExporter, start: int, count: int, pace_every: int = 20) -> None:
    pause = threading.Event()
    for seq in range(start, start + count):
        exporter.track("e", attributes={"seq": seq})
        if seq % pace_every == 0:
            pause.wait(0.001)


@pytest.mark.slow
def test_an_outage_spills_instead_of_dropping_and_replays_everything(tmp_path: Path) -> None:
    sink = SwitchSink(down=True, hang_until_deadline=True)
    exporter = EventExporter(
        sink,  # type: ignore[arg-type]
        spill_dir=tmp_path,
        max_queue_size=2000,
        max_batch_size=200,
        flush_interval=0.2,
        export_timeout=1.0,
        register_atexit=False,
    )
    # Checked at quiet moments between bursts: stats() reads the worker's own counts without a
    # lock (the caller's path takes none), so a reading taken mid-chunk may be off for an instant;
    # what the spill moves (pending -> spill backlog -> exported) moves under one lock.
    for burst in range(10):
        produce(exporter, burst * 2000, 2000)
        wait_until(lambda: balanced(exporter.stats()), what="the accounting identity during the outage")
    wait_until(lambda: exporter.stats()["spilled"] > 0, what="a spill")
    sink.down.clear()  # the endpoint is back
    wait_until(lambda: len(set(sink.seqs())) == 20_000, what="every event delivered")
    stats = exporter.stats()
    assert balanced(stats)
    assert stats["dropped"] == 0, stats  # no queue_full: the worker spilled instead of stalling
    assert stats["replayed"] > 0 and stats["spill_backlog_events"] == 0
    assert exporter.shutdown(5)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".seg")]


@pytest.mark.slow
def test_shutdown_out_of_time_spills_what_is_left_and_the_next_start_replays_it(tmp_path: Path) -> None:
    hanging = SwitchSink()
    hanging.stuck.set()  # every export blocks past any deadline: a socket that never answers
    first = EventExporter(hanging, spill_dir=tmp_path, max_batch_size=100, register_atexit=False)  # type: ignore[arg-type]
    produce(first, 0, 1000)
    try:
        assert first.shutdown(0.5) is False
        stats = first.stats()
        assert stats["spilled"] == 1000 and stats["spill_backlog_events"] == 1000
        assert stats["exported"] == 0 and stats["dropped"] == 0
    finally:
        hanging.released.set()

    sink = SwitchSink()
    second = EventExporter(sink, spill_dir=tmp_path, flush_interval=0.1, register_atexit=False)  # type: ignore[arg-type]
    wait_until(lambda: len(set(sink.seqs())) == 1000, what="the spilled events replayed")
    stats = second.stats()
    assert stats["spill_adopted"] == stats["replayed"] == 1000 and balanced(stats)
    assert second.shutdown(5)


def test_the_spill_directory_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SPILL_DIR_ENV, str(tmp_path / "spill"))
    exporter = EventExporter(SwitchSink(down=True), register_atexit=False)  # type: ignore[arg-type]
    exporter.track("e", attributes={"seq": 1})
    assert exporter.flush(5) is False  # spilled is not delivered
    assert exporter.stats()["spilled"] == 1
    assert exporter.spill_dir == str(tmp_path / "spill")
    exporter.shutdown(1)


def test_without_a_spill_directory_failures_are_dropped_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SPILL_DIR_ENV, raising=False)
    exporter = EventExporter(SwitchSink(down=True), register_atexit=False)  # type: ignore[arg-type]
    exporter.track("e", attributes={"seq": 1})
    exporter.flush(5)
    stats = exporter.stats()
    assert stats["dropped.export_failed"] == 1 and "spilled" not in stats
    exporter.shutdown(1)


def test_the_cap_drops_the_oldest_counted_and_nothing_is_raised(tmp_path: Path) -> None:
    exporter = EventExporter(
        SwitchSink(down=True),  # type: ignore[arg-type]
        spill_dir=tmp_path,
        spill_max_bytes=64 * 1024,
        max_batch_size=50,
        register_atexit=False,
    )
    produce(exporter, 0, 2000)
    exporter.flush(10)
    stats = exporter.stats()
    assert stats["dropped.spill_cap"] > 0 and stats["spill_dropped"] == stats["dropped.spill_cap"]
    assert stats["spill_backlog_bytes"] <= 64 * 1024
    assert balanced(stats)
    exporter.shutdown(1)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a disk that really fills up (root only; skipped elsewhere)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_counts_drops_and_raises_nothing(small_tmpfs: Path) -> None:
    exporter = EventExporter(
        SwitchSink(down=True),  # type: ignore[arg-type]
        spill_dir=small_tmpfs,
        max_batch_size=50,
        register_atexit=False,
    )
    produce(exporter, 0, 2000)
    exporter.flush(10)
    stats = exporter.stats()
    assert stats["dropped.spill_disk_full"] > 0, stats
    assert stats["spilled"] > 0
    assert balanced(stats)
    exporter.shutdown(1)
    # What did fit is intact: a second process on a working sink replays exactly that.
    sink = SwitchSink()
    second = EventExporter(sink, spill_dir=small_tmpfs, flush_interval=0.1, register_atexit=False)  # type: ignore[arg-type]
    wait_until(lambda: len(sink.seqs()) == stats["spilled"], what="replay of what fit")
    assert second.stats()["spill_torn"] == 0
    second.shutdown(5)


class FailsThenHangs:
    """Fails the first batch at once (the sink is known to be down), then hangs every export."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        self.calls += 1
        if self.calls > 1:
            self.release.wait()
        return ExportResult(delivered=0, failed=list(batch), error="endpoint down")

    def shutdown(self) -> None:
        pass


def test_while_the_sink_is_down_one_batch_waits_in_memory_the_rest_goes_to_disk(tmp_path: Path) -> None:
    """What a SIGKILL would lose during an outage: one batch on the network and the batch
    being built (docs/delivery.md), not a second batch waiting behind the first."""
    sink = FailsThenHangs()
    exporter = EventExporter(
        sink,  # type: ignore[arg-type]
        spill_dir=tmp_path,
        max_batch_size=100,
        flush_interval=60,  # the last 50 stay in the batch being built
        register_atexit=False,
    )
    try:
        for seq in range(1050):
            exporter.track("e", attributes={"seq": seq})
        wait_until(
            lambda: (s := exporter.stats())["queued"] == 0 and s["spilled"] + s["pending"] == 1050,
            what="every batch sent or spilled",
        )
        stats = exporter.stats()
        assert stats["pending"] == 100 + 50, stats
        assert stats["spilled"] == 900
    finally:
        sink.release.set()
        exporter.shutdown(5)


def test_a_forked_child_spills_to_its_own_segments_and_leaves_the_parents_locked(tmp_path: Path) -> None:
    from openfeature_s3_export._engine._spill import segment_pid, try_lock

    exporter = EventExporter(SwitchSink(down=True), spill_dir=tmp_path, register_atexit=False)  # type: ignore[arg-type]
    exporter.track("e", attributes={"seq": 0})
    exporter.flush(5)
    (mine,) = tmp_path.glob("*.seg")
    pid = os.fork()
    if pid == 0:  # the child: spill one event of its own, then leave as multiprocessing does
        code = 1
        try:
            exporter.track("e", attributes={"seq": 1})
            exporter.flush(5)
            code = 0 if exporter.stats()["spilled"] == 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    owners = {segment_pid(p.name) for p in tmp_path.glob("*.seg")}
    assert owners == {os.getpid(), pid}
    assert try_lock(str(mine)) is None  # still the parent's: the child did not unlock it
    exporter.shutdown(1)
