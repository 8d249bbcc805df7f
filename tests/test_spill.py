"""The spill directory on its own: framing, torn and corrupt records, the cap, ownership."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spill_procs import lines, spill

from openfeature_s3_export._encoding import EncodedLine
from openfeature_s3_export._engine._framing import MAGIC, frame, parse
from openfeature_s3_export._engine._spill import segment_pid, unlink_quietly

PROCS = str(Path(__file__).with_name("spill_procs.py"))


def segments(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith(".seg"))


def replay_all(s) -> list[EncodedLine]:  # type: ignore[no-untyped-def]
    out: list[EncodedLine] = []
    while (batch := s.next_batch(100, 1 << 20)) is not None:
        out.extend(batch.lines)
        s.ack(batch, delivered=True)
    return out


def test_framing_round_trip() -> None:
    original = [
        EncodedLine(b'{"a":1}\n', 1, "user-1"),
        EncodedLine(b'{"b":"\xc3\xa9"}\n', -5, None),
        EncodedLine(b"\n", 2**62, "k\u00e9y"),
        EncodedLine(b"x" * 100_000 + b"\n", 3, ""),
    ]
    parsed = parse(MAGIC + frame(original))
    assert parsed.lines == original
    assert (parsed.corrupt, parsed.torn) == (0, False)


def test_a_torn_tail_is_skipped_and_counted_the_rest_replayed(tmp_path: Path) -> None:
    writer = spill(str(tmp_path), segment_bytes=1 << 20)
    writer.write(lines("a", 10))
    (segment,) = segments(tmp_path)
    writer.after_fork_in_child()  # lets go of the descriptors, as a killed process would
    with open(segment, "r+b") as f:  # a crash mid-write: the last record is cut short
        f.truncate(segment.stat().st_size - 3)
    reader = spill(str(tmp_path))
    got = replay_all(reader)
    assert [json.loads(line.data)["id"] for line in got] == [f"a-{i}" for i in range(9)]
    counts = reader._counters.snapshot()
    assert counts["spill_torn"] == 1
    assert counts["spill_adopted"] == counts["replayed"] == 9
    assert segments(tmp_path) == []


def test_a_crc_mismatch_skips_that_record_only(tmp_path: Path) -> None:
    writer = spill(str(tmp_path), segment_bytes=1 << 20)
    writer.write(lines("a", 5))
    (segment,) = segments(tmp_path)
    writer.after_fork_in_child()
    data = bytearray(segment.read_bytes())
    data[data.index(b"a-2") + 1] ^= 0xFF  # one flipped byte inside the third record's line
    segment.write_bytes(bytes(data))
    reader = spill(str(tmp_path))
    got = [json.loads(line.data)["id"] for line in replay_all(reader)]
    assert got == ["a-0", "a-1", "a-3", "a-4"]
    assert reader._counters.get("spill_torn") == 1


def test_garbage_is_not_a_segment(tmp_path: Path) -> None:
    assert parse(b"not a segment at all").torn
    assert parse(MAGIC + b"\xff\xff\xff\xff\0\0\0\0").torn  # a length no record has


def test_the_cap_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    s = spill(str(tmp_path), max_bytes=6000, segment_bytes=1500)
    for i in range(40):
        assert s.write(lines(f"b{i}", 10)) in (10, 0)
    counts = s._counters.snapshot()
    assert counts["spilled"] == 400
    assert counts["dropped.spill_cap"] > 0
    assert s.backlog_bytes <= 6000
    assert sum(p.stat().st_size for p in segments(tmp_path)) == s.backlog_bytes
    assert counts["spilled"] - counts["dropped.spill_cap"] == s.backlog_events
    got = [json.loads(line.data)["id"] for line in replay_all(s)]
    assert got[-1] == "b39-9"  # the newest survive
    assert len(got) == s._counters.get("replayed") == 400 - counts["dropped.spill_cap"]
    assert s.backlog_events == 0


def test_a_batch_larger_than_the_cap_is_dropped_whole(tmp_path: Path) -> None:
    s = spill(str(tmp_path), max_bytes=200, segment_bytes=100)
    assert s.write(lines("big", 50)) == 0
    assert s._counters.get("dropped.spill_cap") == 50


def test_an_unwritable_directory_counts_drops_and_raises_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    s = spill(str(blocker / "spill"))
    assert s.write(lines("c", 3)) == 0
    assert s._counters.get("dropped.spill_error") == 3


def test_deleting_tolerates_a_file_already_gone(tmp_path: Path) -> None:
    unlink_quietly(str(tmp_path / "never-was.seg"))
    s = spill(str(tmp_path), segment_bytes=1 << 20)
    s.write(lines("d", 3))
    batch = s.next_batch(100, 1 << 20)
    assert batch is not None
    for segment in segments(tmp_path):
        segment.unlink()  # someone (a cleanup job, a crash half-way through) got there first
    s.ack(batch, delivered=True)
    assert s.backlog_events == 0 and segments(tmp_path) == []


def test_a_failed_replay_batch_is_offered_again_and_nothing_is_duplicated(tmp_path: Path) -> None:
    s = spill(str(tmp_path), segment_bytes=1 << 20)
    s.write(lines("e", 250))
    first = s.next_batch(100, 1 << 20)
    assert first is not None
    s.ack(first, delivered=True)
    second = s.next_batch(100, 1 << 20)
    assert second is not None and second.start == 100
    s.ack(second, delivered=False)
    rest = replay_all(s)
    assert [json.loads(x.data)["id"] for x in rest] == [f"e-{i}" for i in range(100, 250)]
    assert s._counters.get("replayed") == 250


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, PROCS, *args], stdout=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_processes_sharing_a_directory(tmp_path: Path) -> None:
    """Per-process segments; a live process's segments are never taken; orphans are adopted
    by exactly one of two replayers running at once."""
    holders = [_start("hold", str(tmp_path), tag, "500") for tag in ("p", "q")]
    try:
        for holder in holders:
            assert holder.stdout is not None
            assert json.loads(holder.stdout.readline()) == {"written": 500}
        pids = {segment_pid(p.name) for p in segments(tmp_path)}
        assert pids == {h.pid for h in holders}
        assert len(segments(tmp_path)) > 4  # several segments each (4 KiB apiece)

        outsider = spill(str(tmp_path))
        assert outsider.next_batch(100, 1 << 20) is None  # both owners are alive

        for holder in holders:
            holder.send_signal(signal.SIGKILL)
            holder.wait()
        replayers = [_start("replay", str(tmp_path)) for _ in range(2)]
        results = [json.loads(r.communicate(timeout=60)[0]) for r in replayers]
    finally:
        for holder in holders:
            holder.kill()
    ids = [i for result in results for i in result["ids"]]
    expected = {f"{tag}-{i}" for tag in ("p", "q") for i in range(500)}
    assert len(ids) == len(expected) and set(ids) == expected  # each exactly once
    assert segments(tmp_path) == []


def test_a_stillborn_segment_of_a_dead_process_is_removed(tmp_path: Path) -> None:
    stillborn = tmp_path / ".01700000000000000000-1-deadbeef.seg.tmp"
    stillborn.write_bytes(MAGIC)  # its creator died between creating and renaming it
    s = spill(str(tmp_path))
    assert s.next_batch(100, 1 << 20) is None
    assert not stillborn.exists()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.binary(max_size=300), st.integers(-(2**63), 2**63 - 1), st.none() | st.text(max_size=20)
        ),
        max_size=20,
    ),
    st.data(),
)
def test_any_cut_of_a_segment_gives_back_a_prefix_of_its_lines(
    raw: list[tuple[bytes, int, str | None]], data: st.DataObject
) -> None:
    original = [EncodedLine(*fields) for fields in raw]
    buf = MAGIC + frame(original)
    assert parse(buf).lines == original
    cut = data.draw(st.integers(len(MAGIC), len(buf)))
    parsed = parse(buf[:cut])  # a crash anywhere mid-write
    assert parsed.lines == original[: len(parsed.lines)]
    assert parsed.torn == (cut != len(buf) and len(frame(parsed.lines)) + len(MAGIC) != cut)
