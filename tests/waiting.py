"""Waiting for a condition instead of sleeping and hoping: the tests' only way to wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

GENEROUS = 30.0
"""How long a test waits for something that normally takes milliseconds (shared, loaded CI)."""


def wait_until(condition: Callable[[], bool], timeout: float = GENEROUS, what: str = "condition") -> None:
    """Return as soon as *condition()* holds; fail the test after *timeout* seconds.

    The timeout only turns a hang into a failure: nothing here asserts how long the wait took.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        pause.wait(0.002)
