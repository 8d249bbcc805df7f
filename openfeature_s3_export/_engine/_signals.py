"""Our threads leave process signals to the application's threads.

The kernel hands a process-directed signal (SIGTERM from Docker or Kubernetes, SIGINT from a
terminal) to any thread that does not block it.  When that is one of ours, CPython only notes
it for the main thread, and a main thread blocked on a lock (``threading.Event().wait()``, a
service idling) never looks: a Python-level handler, ours or the application's, would not run
and the signal would be as good as ignored.  So each thread of ours blocks them first thing.
"""

from __future__ import annotations

import contextlib
import signal
import sys

_LEFT_TO_THE_APPLICATION = frozenset(
    getattr(signal, name)
    for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
    if hasattr(signal, name)
)


def leave_signals_to_the_application() -> None:
    """Block the asynchronous process signals on the calling thread (one of ours, never the main
    thread).  Nothing under gevent, whose "threads" are greenlets on the main OS thread."""
    if not hasattr(signal, "pthread_sigmask"):
        return
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        return
    with contextlib.suppress(OSError, ValueError):  # an embedded interpreter may refuse
        signal.pthread_sigmask(signal.SIG_BLOCK, _LEFT_TO_THE_APPLICATION)
