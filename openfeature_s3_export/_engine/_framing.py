"""The spill segment format: encoded lines framed as length + CRC records.  No I/O.

A segment file is ``MAGIC`` followed by records, each::

    u32 payload length | u32 CRC32 of the payload | payload
    payload = i64 timestamp_us | i32 routing key length (-1: none) | routing key (UTF-8) | line bytes

all little-endian.  The CRC is zlib's CRC-32 (the stdlib, a C call at several GB/s): the spill
is a rare path and CRC-32 detects a torn or flipped record as well as CRC-32C would; CRC-32C
would only be faster with a hardware instruction, through a dependency this does not need.
A record whose length runs past the end of the file is a torn tail (a crash mid-write); one
whose CRC does not match is corrupt and skipped.  Either way the records before it, and the
complete ones after a corrupt one, are kept.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

import attrs

from .._encoding import EncodedLine

MAGIC = b"OFS3SPL1"
"""The first bytes of every segment file (format version 1)."""

_HEADER = struct.Struct("<II")
_PAYLOAD = struct.Struct("<qi")
MAX_RECORD = 256 * 1024 * 1024
"""A length field above this is garbage, not a record: parsing stops there."""


def frame(lines: Iterable[EncodedLine]) -> bytes:
    """The records for *lines*, ready to append to a segment."""
    parts: list[bytes] = []
    for data, timestamp_us, routing_key in lines:
        key = b"" if routing_key is None else routing_key.encode("utf-8", "surrogatepass")
        payload = b"".join((_PAYLOAD.pack(timestamp_us, -1 if routing_key is None else len(key)), key, data))
        parts.append(_HEADER.pack(len(payload), zlib.crc32(payload)))
        parts.append(payload)
    return b"".join(parts)


@attrs.frozen(slots=True)
class Parsed:
    """What a segment's bytes hold."""

    lines: list[EncodedLine]
    corrupt: int
    """Records skipped because their CRC did not match (or their payload made no sense)."""
    torn: bool
    """The bytes ended in the middle of a record (or in garbage that ends parsing)."""


def parse(buf: bytes) -> Parsed:
    """Every intact record of a whole segment file *buf* (``MAGIC`` included)."""
    if not buf.startswith(MAGIC):
        return Parsed([], 0, bool(buf))
    lines: list[EncodedLine] = []
    corrupt = 0
    pos, end = len(MAGIC), len(buf)
    view = memoryview(buf)
    header_size, payload_size = _HEADER.size, _PAYLOAD.size
    while pos < end:
        if end - pos < header_size:
            return Parsed(lines, corrupt, True)
        length, crc = _HEADER.unpack_from(buf, pos)
        start = pos + header_size
        if length > MAX_RECORD or length < payload_size:
            return Parsed(lines, corrupt, True)  # not a length: nothing after it can be trusted
        if start + length > end:
            return Parsed(lines, corrupt, True)
        payload = view[start : start + length]
        pos = start + length
        if zlib.crc32(payload) != crc:
            corrupt += 1
            continue
        timestamp_us, key_len = _PAYLOAD.unpack_from(payload)
        key_end = payload_size + max(key_len, 0)
        if key_end > length:
            corrupt += 1
            continue
        key = None if key_len < 0 else bytes(payload[payload_size:key_end]).decode("utf-8", "surrogatepass")
        lines.append(EncodedLine(bytes(payload[key_end:]), timestamp_us, key))
    return Parsed(lines, corrupt, False)
