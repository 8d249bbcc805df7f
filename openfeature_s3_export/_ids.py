"""Event ids (UUIDv7) and event times (RFC 3339 text), made on the worker thread."""

from __future__ import annotations

import itertools
import os
import random
import time

_DIGITS3 = [f"{n:03d}Z".encode() for n in range(1000)]
_MS_PER_S = 1000

ID_COUNTER = itertools.count()
"""Shared by every worker of the process: two exporters never hand out the same counter value
within a millisecond (unless 4,096 ids are made in it)."""

ID_TAILS: list[bytes] = []
"""``ID_TAILS[counter & 0xFFF]``: the counter as the 12 ``rand_a`` bits, then variant ``10`` and
62 random bits.  The random bits are drawn once per process, and again in a forked child
(which would otherwise repeat the parent's ids); the list is refilled in place."""

MICROS = _DIGITS3
"""``MICROS[microseconds within the millisecond]``: the last three digits and the ``Z``."""


def _draw_tails() -> None:
    bits = random.SystemRandom().getrandbits(62)
    tail = f"-{0x8000 | bits >> 48:04x}-{bits & 0xFFFF_FFFF_FFFF:012x}"
    ID_TAILS[:] = [f"{n:03x}{tail}".encode() for n in range(4096)]


_draw_tails()
os.register_at_fork(after_in_child=_draw_tails)


class Stamps:
    """The event id and timestamp text of the events of one millisecond.

    Ids are UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then a 12-bit counter in
    ``rand_a`` (method 1: ids made in one millisecond sort in the order they were made), then 62
    random bits.  What is the same for every event of one millisecond is formatted once (as
    UTF-8, ready for the line), so an event costs a counter step and a few list lookups::

        event_id = stamps.id_prefix + ID_TAILS[next(ID_COUNTER) & 0xFFF]
        timestamp = stamps.time_prefix + MICROS[time_us % 1000]

    after ``stamps.at(time_us // 1000)``.  One instance per worker thread (not thread-safe).
    """

    __slots__ = ("_second", "_second_prefix", "id_prefix", "ms", "time_prefix")

    def __init__(self) -> None:
        self.ms = -1
        self._second = -1
        self._second_prefix = ""
        self.id_prefix = b""
        self.time_prefix = b""

    def at(self, ms: int) -> None:
        """Make the prefixes those of millisecond *ms* (Unix time)."""
        self.ms = ms
        self.id_prefix = f"{(ms >> 16) & 0xFFFF_FFFF:08x}-{ms & 0xFFFF:04x}-7".encode()
        second = ms // _MS_PER_S
        if second != self._second:
            self._second = second
            self._second_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        self.time_prefix = f"{self._second_prefix}.{ms % _MS_PER_S:03d}".encode()

    def stamp(self, time_ns: int) -> tuple[str, str]:
        """``(event_id, "YYYY-MM-DDTHH:MM:SS.ffffffZ")`` for a capture time in nanoseconds."""
        time_us = time_ns // 1000
        if time_us // 1000 != self.ms:
            self.at(time_us // 1000)
        return (
            (self.id_prefix + ID_TAILS[next(ID_COUNTER) & 0xFFF]).decode(),
            (self.time_prefix + MICROS[time_us % 1000]).decode(),
        )


def uuid7(time_ns: int) -> str:
    """A UUIDv7 for *time_ns* (see :class:`Stamps`)."""
    return Stamps().stamp(time_ns)[0]


def rfc3339_us(timestamp_us: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for a UTC time in microseconds since the epoch."""
    return Stamps().stamp(timestamp_us * 1000)[1]
