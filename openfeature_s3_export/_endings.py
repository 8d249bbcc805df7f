"""How a process ends, and getting the exporters' events out before it does.

``atexit`` covers a normal interpreter exit.  Three endings skip it, and are handled here:

- **SIGTERM** (Docker, Kubernetes, systemd): with Python's default disposition the process is
  killed at once.  :func:`install_sigterm_handler` puts a handler in front of whatever was
  there: it exports what the exporters hold, within their ``shutdown_timeout``, then lets the
  signal do what it would have done without us.  Before the default disposition: shut down,
  restore ``SIG_DFL`` and raise the signal again, so the exit status still says "killed by
  SIGTERM".  Before a Python handler (gunicorn's, uvicorn's): flush, switch the exporters to
  sending each event at once (uvicorn later restores the default and re-raises the signal,
  which no exit hook survives), and call that handler.  Nothing is installed from a thread
  other than the main one, over ``SIG_IGN`` or over a handler set outside Python.
- **multiprocessing children started by fork** leave through ``os._exit()``: a
  ``multiprocessing.util.Finalize`` registered in the child after the fork shuts the exporter
  down when a ``Process`` or a ``Pool`` worker finishes normally.
- **A frozen process** (AWS Lambda between invocations) is the worker's to notice (a batch far
  past due); :data:`FROZEN_HINT` says what to do about it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

from ._log import logger

ENV_HANDLE_SIGTERM = "OPENFEATURE_S3_EXPORT_HANDLE_SIGTERM"
"""Set to ``0`` (or ``false``, ``no``, ``off``) to never install the SIGTERM handler."""

_LAMBDA = "AWS_LAMBDA_FUNCTION_NAME"


def frozen_hint() -> str:
    """What the worker adds to its warning about a batch far past due."""
    if os.environ.get(_LAMBDA):
        return (
            "; in AWS Lambda call exporter.flush(timeout) in a finally block at the end of every "
            "invocation (the environment is frozen as soon as the handler returns, and events "
            "still in memory are lost if it is then shut down)"
        )
    return "; if the process is frozen between requests (AWS Lambda, Cloud Run), flush before it is"


class Ending(Protocol):
    """What the handlers need from an exporter."""

    @property
    def shutdown_timeout(self) -> float:
        """Seconds its final flush may take."""
        ...

    def flush_for_ending(self, timeout: float) -> None:
        """Export what is held, then send each new event at once."""
        ...

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Flush and stop."""
        ...


_exporters: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()


def handle_sigterm_enabled(requested: bool) -> bool:
    """Whether this exporter wants the SIGTERM handler (argument and environment both allow)."""
    if os.environ.get(ENV_HANDLE_SIGTERM, "").strip().lower() in ("0", "false", "no", "off"):
        return False
    return requested


def register(exporter: Ending) -> None:
    """Have the SIGTERM handler take care of *exporter*, and install it when possible."""
    with _lock:
        _exporters.add(exporter)
    install_sigterm_handler()


def install_sigterm_handler() -> bool:
    """Put :class:`SigtermHandler` in front of the current SIGTERM disposition.

    ``False`` (and nothing changed) off the main thread, over ``SIG_IGN``, over a handler set
    outside Python, or where the platform has no SIGTERM.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        return False
    try:
        current = signal.getsignal(signal.SIGTERM)
        if isinstance(current, SigtermHandler):
            return True
        if current is None or current == signal.SIG_IGN:
            return False
        signal.signal(signal.SIGTERM, SigtermHandler(current))
    except (ValueError, OSError) as exc:  # an embedded interpreter may refuse
        logger.debug("no SIGTERM handler installed: %r", exc)
        return False
    return True


class SigtermHandler:
    """The SIGTERM handler: get the events out, then end as the previous disposition would."""

    def __init__(self, previous: Callable[[int, FrameType | None], Any] | int) -> None:
        self.previous = previous

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        """Handle one SIGTERM (main thread, between two bytecodes of whatever it was running)."""
        previous = self.previous
        if callable(previous):
            # The application ends itself, gracefully, and may capture more events meanwhile.
            _bounded(lambda e: e.flush_for_ending(e.shutdown_timeout))
            previous(signum, frame)
            return
        _bounded(lambda e: e.shutdown(e.shutdown_timeout))
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


def _bounded(work: Callable[[Any], object]) -> None:
    """Run *work* for every registered exporter on threads of its own, and wait at most the
    longest ``shutdown_timeout``.

    Not on this thread: a signal handler runs in the middle of the main thread's code, which may
    hold a lock the work needs (``stats()`` in progress); waiting with a timeout cannot deadlock.
    """
    with _lock:
        exporters = list(_exporters)
    if not exporters:
        return
    threads = []
    for exporter in exporters:
        thread = threading.Thread(target=work, args=(exporter,), name="openfeature-s3-export-ending")
        thread.daemon = True
        thread.start()
        threads.append(thread)
    deadline = time.monotonic() + max(e.shutdown_timeout for e in exporters) + 0.5
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))


def finalize_in_child(exporter: Ending) -> None:
    """In a forked child, shut *exporter* down when a ``multiprocessing`` child ends normally.

    Such children leave through ``os._exit()``, which skips ``atexit``; multiprocessing runs its
    own finalizers first.  A ``Process`` clears the finalizers it inherited right after the fork
    hooks ran and then calls its after-fork functions, so the finalizer is (re)registered from
    one of those.  Only when multiprocessing is loaded (it forked us, then).
    """
    if "multiprocessing" not in sys.modules:
        return
    from multiprocessing import util

    util.register_after_fork(exporter, _finalize)
    _finalize(exporter)  # for a child that is not a multiprocessing Process


def _finalize(exporter: Ending) -> None:
    from multiprocessing import util

    ref = weakref.ref(exporter)

    def finish() -> None:
        target = ref()
        if target is not None:
            target.shutdown(target.shutdown_timeout)

    util.Finalize(None, finish, exitpriority=100)
