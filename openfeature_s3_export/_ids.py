"""Event ids (UUIDv7) and event times (RFC 3339 text), made on the worker thread."""

from __future__ import annotations

import itertools
import os
import random
import time

_HEX3 = [f"{n:03x}-" for n in range(4096)]
_DIGITS3 = [f"{n:03d}Z" for n in range(1000)]
_MS_PER_S = 1000


def _new_tail() -> str:
    """Variant bits ``10`` and 62 random bits, as the last two groups of a UUID."""
    bits = random.SystemRandom().getrandbits(62)
    return f"{0x8000 | bits >> 48:04x}-{bits & 0xFFFF_FFFF_FFFF:012x}"


# Ids are unique within a process by (millisecond, counter) and across processes by the random
# tail, drawn again in a forked child (which would otherwise repeat the parent's ids).
_tail = _new_tail()
_counter = itertools.count()


def _after_fork_in_child() -> None:
    global _tail
    _tail = _new_tail()


os.register_at_fork(after_in_child=_after_fork_in_child)


class Stamps:
    """The event id and the timestamp text of an event, from its capture time.

    Ids are UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then a 12-bit counter in
    ``rand_a`` (method 1: ids made in one millisecond sort in the order they were made), then 62
    random bits.  The formatting that is the same for every event of one millisecond is done
    once per millisecond: a burst of events costs a counter step and two concatenations each.
    One instance per worker thread (not thread-safe).
    """

    __slots__ = ("_id_prefix", "_ms", "_second", "_second_prefix", "_time_prefix")

    def __init__(self) -> None:
        self._ms = -1
        self._second = -1
        self._second_prefix = ""
        self._id_prefix = ""
        self._time_prefix = ""

    def stamp(self, time_ns: int) -> tuple[str, str]:
        """``(event_id, "YYYY-MM-DDTHH:MM:SS.ffffffZ")`` for a capture time in nanoseconds."""
        time_us = time_ns // 1000
        ms = time_us // 1000
        if ms != self._ms:
            self._new_millisecond(ms)
        return (
            self._id_prefix + _HEX3[next(_counter) & 0xFFF] + _tail,
            self._time_prefix + _DIGITS3[time_us % 1000],
        )

    def _new_millisecond(self, ms: int) -> None:
        self._ms = ms
        self._id_prefix = f"{(ms >> 16) & 0xFFFF_FFFF:08x}-{ms & 0xFFFF:04x}-7"
        second = ms // _MS_PER_S
        if second != self._second:
            self._second = second
            self._second_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        self._time_prefix = f"{self._second_prefix}.{ms % _MS_PER_S:03d}"


def uuid7(time_ns: int) -> str:
    """A UUIDv7 for *time_ns* (see :class:`Stamps`)."""
    return Stamps().stamp(time_ns)[0]


def rfc3339_us(timestamp_us: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for a UTC time in microseconds since the epoch."""
    return Stamps().stamp(timestamp_us * 1000)[1]
