"""FastAPI and Starlette: a lifespan that starts and shuts the exporter down, and a per-request
context dependency.

.. code-block:: python

    from openfeature_s3_export.integrations.fastapi import S3Export

    s3export = S3Export("s3://my-bucket/events")           # or $OPENFEATURE_S3_EXPORT_URL
    app = FastAPI(lifespan=s3export.lifespan(my_lifespan))  # my_lifespan is optional

    @app.get("/")
    async def home(ctx: EvaluationContext = Depends(s3export.context)):
        return await client.get_boolean_value_async("new-home", False, ctx)

The lifespan matters: uvicorn stops on SIGTERM without running ``atexit``, so without it the
events still queued at shutdown are lost.  Needs the ``[fastapi]`` extra (Starlette alone is
enough at run time).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from ._common import require

require("starlette", "fastapi")

import anyio.to_thread  # noqa: E402
from starlette.requests import Request  # noqa: E402

from ..exporter import EventExporter  # noqa: E402
from ._common import forget, install_hook, shared_exporter, uninstall_hook  # noqa: E402
from .context import RequestContext  # noqa: E402

Lifespan = Callable[[Any], contextlib.AbstractAsyncContextManager[Any]]


class S3Export:
    """The exporter of an ASGI app, tied to the app's lifespan.

    :param url: sink URL; ``None`` reads ``$OPENFEATURE_S3_EXPORT_URL``.
    :param options: keyword arguments of :class:`~openfeature_s3_export.EventExporter`.
    :param exporter: an exporter you built yourself (a custom sink), instead of *url* and
        *options*; it is shut down with the app all the same.
    :param request_context: how :meth:`context` builds a request's evaluation context.
    :param claims_attribute: ``request.state`` attribute holding the verified claims (set by
        your auth middleware or dependency).
    :param shutdown_timeout: bound on the final flush when the app stops.

    Evaluations stay off the event loop's critical path: the hook only appends to the
    exporter's queue (no lock held across I/O, no network call), and the final flush runs in a
    worker thread so other lifespans are not blocked either.

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        exporter: EventExporter | None = None,
        request_context: RequestContext | None = None,
        claims_attribute: str = "claims",
        shutdown_timeout: float = 10.0,
    ) -> None:
        self._url = url
        self._options = dict(options or {})
        self._request_context = request_context or RequestContext()
        self._claims_attribute = claims_attribute
        self._shutdown_timeout = shutdown_timeout
        self._given = exporter
        self._exporter: EventExporter | None = exporter

    @property
    def exporter(self) -> EventExporter:
        """The exporter, built on first use (each uvicorn worker process builds its own)."""
        if self._exporter is None:
            self._exporter = self._given or shared_exporter(self._url, self._options)
        return self._exporter

    def lifespan(self, inner: Lifespan | None = None) -> Lifespan:
        """A lifespan for ``FastAPI(lifespan=...)`` / ``Starlette(lifespan=...)``.

        It registers the hook, runs *inner* (your own lifespan, whose state it passes on), and
        when the app stops, after *inner* has finished, flushes and shuts the exporter down
        within ``shutdown_timeout`` seconds.
        """

        @contextlib.asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[Any]:
            exporter = self.exporter
            install_hook(exporter)
            try:
                if inner is None:
                    yield None
                else:
                    async with inner(app) as state:
                        yield state
            finally:
                await self.shutdown()

        return lifespan

    async def shutdown(self) -> bool:
        """Flush and stop the exporter without blocking the event loop; idempotent."""
        exporter, self._exporter = self._exporter, None
        if exporter is None:
            return True
        uninstall_hook(exporter)
        forget(exporter)
        timeout = self._shutdown_timeout
        return await anyio.to_thread.run_sync(lambda: exporter.shutdown(timeout))

    def context(self, request: Request) -> Any:
        """The request's :class:`~openfeature.evaluation_context.EvaluationContext`; use as a
        FastAPI dependency (``Depends(s3export.context)``) or call it with a Starlette request."""
        claims = getattr(request.state, self._claims_attribute, None)
        return self._request_context.build(request.headers.get, claims)
