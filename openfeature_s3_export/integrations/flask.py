"""Flask: ``S3Export``, an extension that builds the exporter from ``app.config``.

.. code-block:: python

    from openfeature_s3_export.integrations.flask import S3Export

    s3export = S3Export()

    def create_app():
        app = Flask(__name__)
        app.config["OPENFEATURE_S3_EXPORT_URL"] = "s3://my-bucket/events"
        s3export.init_app(app)
        return app

Config keys: ``OPENFEATURE_S3_EXPORT_URL`` (else ``$OPENFEATURE_S3_EXPORT_URL``),
``OPENFEATURE_S3_EXPORT_OPTIONS`` (keyword arguments of :class:`EventExporter`) and
``OPENFEATURE_S3_EXPORT_CONTEXT`` (:class:`RequestContext` settings).  Needs the ``[flask]`` extra.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._common import require

require("flask", "flask")

import flask  # noqa: E402

from ..exporter import EventExporter  # noqa: E402
from ._common import forget, install_hook, shared_exporter, uninstall_hook  # noqa: E402
from .context import RequestContext  # noqa: E402

_EXTENSION = "openfeature_s3_export"


class S3Export:
    """The Flask extension: one exporter per process, its hook registered once.

    ``init_app`` may run for several apps, or twice for one (an app factory called by tests and
    by the server): with the same configuration they share one exporter and one hook, so no
    evaluation is exported twice.  The exporter shuts itself down (a bounded final flush) at
    interpreter exit (unless its options say ``register_atexit=False``), which gunicorn's sync
    and gthread workers reach on a graceful stop; call :meth:`shutdown` from gunicorn's
    ``worker_exit`` hook to make it explicit.

    With ``gunicorn --preload`` the exporter is built in the master and each worker gets its
    own queue and worker thread after the fork.

    .. versionadded:: 0.2.0
    """

    def __init__(self, app: flask.Flask | None = None, *, claims_attribute: str = "claims") -> None:
        """:param claims_attribute: name of the ``flask.g`` attribute holding the request's
        verified claims (set it from your auth code), read by :meth:`context`."""
        self._exporter: EventExporter | None = None
        self._claims_attribute = claims_attribute
        if app is not None:
            self.init_app(app)

    def init_app(self, app: flask.Flask) -> None:
        """Build (or reuse) the exporter from ``app.config`` and register the hook once."""
        options: Mapping[str, Any] = app.config.get("OPENFEATURE_S3_EXPORT_OPTIONS") or {}
        exporter = shared_exporter(app.config.get("OPENFEATURE_S3_EXPORT_URL"), options)
        install_hook(exporter)
        self._exporter = exporter
        app.extensions[_EXTENSION] = _AppState(
            exporter, RequestContext.from_settings(app.config.get("OPENFEATURE_S3_EXPORT_CONTEXT"))
        )

    @property
    def exporter(self) -> EventExporter:
        """The exporter of the current app (or of the last ``init_app`` outside a request)."""
        if flask.has_app_context():
            state = flask.current_app.extensions.get(_EXTENSION)
            if isinstance(state, _AppState):
                return state.exporter
        if self._exporter is None:
            raise RuntimeError("S3Export.init_app(app) has not been called")
        return self._exporter

    def context(self, claims: Mapping[str, Any] | None = None) -> Any:
        """The current request's :class:`~openfeature.evaluation_context.EvaluationContext`.

        Claims default to ``flask.g.<claims_attribute>`` when your auth code set it.
        """
        state: _AppState = flask.current_app.extensions[_EXTENSION]
        if claims is None:
            claims = flask.g.get(self._claims_attribute)
        return state.request_context.build(flask.request.headers.get, claims)

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Flush and stop the exporter (idempotent); for gunicorn's ``worker_exit`` hook.

        A later ``init_app`` in this process builds a fresh exporter.
        """
        exporter, self._exporter = self._exporter, None
        if exporter is None:
            return True
        uninstall_hook(exporter)
        forget(exporter)
        return exporter.shutdown(timeout)


class _AppState:
    __slots__ = ("exporter", "request_context")

    def __init__(self, exporter: EventExporter, request_context: RequestContext) -> None:
        self.exporter = exporter
        self.request_context = request_context
