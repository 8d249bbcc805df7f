"""Celery: worker process start and shutdown signals wired so every pool exports and flushes.

.. code-block:: python

    from openfeature_s3_export.integrations.celery import setup_celery

    app = Celery("tasks", broker=...)
    s3export = setup_celery(app, "s3://my-bucket/events")   # or $OPENFEATURE_S3_EXPORT_URL

    @app.task
    def checkout(user_id):
        ctx = EvaluationContext(user_id)
        client.get_boolean_value("new-checkout", False, ctx)
        s3export.exporter.track("purchase", ctx, value=42.0)

Needs the ``[celery]`` extra.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._common import require

require("celery", "celery")

from celery import Celery, signals  # noqa: E402

from ..exporter import EventExporter  # noqa: E402
from ._common import existing_exporter, forget, install_hook, shared_exporter  # noqa: E402


class CeleryExport:
    """The exporter of a Celery worker, started and flushed by the worker's signals.

    The prefork pool is where peers lose events: its child processes leave through
    ``os._exit()``, so ``atexit`` never runs there.  This wires:

    - ``worker_process_init`` (in each pool child, after the fork): the child's exporter and hook;
    - ``worker_process_shutdown`` (in each pool child, before it exits, including children
      recycled by ``--max-tasks-per-child``): a bounded final flush;
    - ``worker_shutdown`` (in the main worker process, for the solo and threads pools and for
      anything the parent itself captured): the same.

    .. versionadded:: 0.2.0
    """

    def __init__(self, url: str | None, options: Mapping[str, Any] | None, shutdown_timeout: float) -> None:
        self._url = url
        self._options = dict(options or {})
        self._shutdown_timeout = shutdown_timeout

    @property
    def exporter(self) -> EventExporter:
        """This process's exporter (built on first use, also outside a worker)."""
        return shared_exporter(self._url, self._options)

    def start(self, **_: Any) -> None:
        """Build the exporter and register the hook; connected to ``worker_process_init``."""
        install_hook(self.exporter)

    def shutdown(self, **_: Any) -> None:
        """Flush and stop this process's exporter; connected to the shutdown signals."""
        exporter = existing_exporter(self._url, self._options)
        if exporter is not None:  # a main process that never built one has nothing to flush
            exporter.shutdown(self._shutdown_timeout)
            forget(exporter)


def setup_celery(
    app: Celery,
    url: str | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    shutdown_timeout: float = 10.0,
) -> CeleryExport:
    """Wire an exporter to *app*'s worker signals and return it (use ``.exporter.track``).

    :param url: sink URL; ``None`` reads ``$OPENFEATURE_S3_EXPORT_URL``.
    :param options: keyword arguments of :class:`~openfeature_s3_export.EventExporter`.
    :param shutdown_timeout: bound on each process's final flush.

    .. versionadded:: 0.2.0
    """
    export = CeleryExport(url, options, shutdown_timeout)
    # weak=False: the receivers are bound methods of an object nobody else may keep.
    signals.worker_process_init.connect(export.start, weak=False)
    signals.worker_init.connect(export.start, weak=False)
    signals.worker_process_shutdown.connect(export.shutdown, weak=False)
    signals.worker_shutdown.connect(export.shutdown, weak=False)
    return export
