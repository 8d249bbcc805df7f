"""The engine in each process: its threads start with the first event, and again after a fork.

A process that never captures an event (gunicorn's master under ``--preload``) never runs the
threads, and a forked child starts them after its own set-up.  Until then ``submit`` finds the
queue "full" (a bound of 0) and takes the slow branch that starts them: no cost per event.  A
fork that ran no ``os.register_at_fork`` hooks (uWSGI without lazy-apps) is found the same way,
once the child's queue has filled.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from .._counters import Counters, drop_key
from .._log import RateLimitedLog
from ._batcher import Batcher
from ._limits import Limits
from ._sender import Export, Sender
from ._spill import Spill

DROP_FORK_WITHOUT_HOOKS: Final = "fork_without_hooks"
"""Drop reason: events stranded in a child forked without ``os.register_at_fork`` hooks."""


class Lifecycle:
    """Thread start and fork handling for :class:`Engine` (a mixin: the state is the engine's)."""

    # Set by the engine's _init_state (again in a forked child) and by _start_threads.
    _limits: Limits
    _pid: int
    _closed: bool
    _queue: deque[Any]
    _max_queue: int
    _wake: threading.Event
    _batcher: Batcher
    _counters: Counters
    _log: RateLimitedLog
    _export: Export
    _what: str
    _sink_start: Callable[[], None] | None
    _sender: Sender
    _worker: threading.Thread
    _spill: Spill | None = None
    _fork_stranded: int
    _idle_after_fork: bool
    _fork_claim: itertools.count[int]
    _reinit_on_start: bool

    def _init_state(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Start the threads now rather than with the first event (for work that must not wait
        for one, such as sending what a previous run left behind).  Idempotent."""
        if self._idle_after_fork and not self._closed:
            self._start_after_fork()

    def after_fork_in_child(self) -> None:
        """Start the child empty, with fresh locks (the parent's may have been held mid-fork):
        the parent still owns, and exports, everything queued before the fork.

        The threads start with the child's first event, not here: a fork hook runs before the
        child's own set-up (gevent's workers patch ``threading`` after the fork), and threads
        started too early end in tracebacks at exit.
        """
        if self._spill is not None:
            self._spill.after_fork_in_child()  # the parent's segments stay the parent's
        self._init_state()
        if not self._closed:
            self._start_threads(run=False)
            self._wait_for_first_event(reinit=True)

    def _start_threads(self, run: bool = True) -> None:
        limits = self._limits
        if limits.spill_dir is not None:
            self._spill = Spill(
                limits.spill_dir,
                max_bytes=limits.spill_max_bytes,
                segment_bytes=limits.spill_segment_bytes,
                counters=self._counters,
                log=self._log,
            )
        self._sender = Sender(
            self._export,
            export_timeout=limits.export_timeout,
            counters=self._counters,
            log=self._log,
            what=self._what,
            start=self._sink_start,
            spill=self._spill,
            # Spill rather than let the queue overflow: half full means the sink is behind.
            pressure=lambda: len(self._queue) >= limits.max_queue_size // 2,
            on_idle=self._wake.set,
            retry_interval=max(limits.flush_interval, 1.0),
            run=run,
        )
        self._worker = threading.Thread(target=self._run, name="openfeature-s3-export", daemon=True)
        if run:
            self._worker.start()

    def _wait_for_first_event(self, *, reinit: bool) -> None:
        """Leave the threads unstarted until the first event (see the module docstring)."""
        self._fork_claim = itertools.count()
        self._reinit_on_start = reinit
        self._idle_after_fork = True
        self._max_queue = 0

    def _start_after_fork(self) -> None:
        """The first event: start the threads now (caller's thread, once)."""
        if next(self._fork_claim) == 0:
            # A changed pid here: a fork that ran no hooks (uWSGI) of a process that never
            # captured anything.  That child gets fresh state too.
            if self._reinit_on_start or self._pid != os.getpid():
                # Locks and events made again, now: made in the fork hook they would be the
                # unpatched kind under gevent, and block its only OS thread.
                self._init_state()
                self._start_threads()
            else:
                self._sender.thread.start()
                self._worker.start()
            self._max_queue = 0 if self._closed else self._limits.max_queue_size
            self._idle_after_fork = False
        else:  # another thread is starting them: wait, once per process (yields under gevent)
            while self._idle_after_fork:
                time.sleep(0.001)

    def _recover_from_silent_fork(self) -> None:
        """A fork that ran no hooks: this child has no worker, so its queue only filled."""
        stranded = len(self._queue) + len(self._batcher)
        self.after_fork_in_child()
        if self._idle_after_fork:
            self._start_after_fork()  # now, so that the counts below are not reset by it
        # The stranded items mix the parent's (which the parent exports) with this child's
        # (lost): counted so the loss is visible, and explained once in the log.
        self._counters.add(drop_key(DROP_FORK_WITHOUT_HOOKS), stranded)
        self._fork_stranded = stranded  # logged by the new worker: this is the caller's thread
