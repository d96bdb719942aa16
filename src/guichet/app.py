"""`create_app(settings)`: the FastAPI application, its resources, middleware, system routes and
the lifespan that runs the in-process worker.

Everything a request needs (engine, sessionmaker, blob store, mailer) is built eagerly here, so
that an app used without its lifespan (tests with httpx's ASGITransport) is complete; the
lifespan only starts and stops background work (worker, pools).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from guichet import __version__, db, depot, dropzone, loaders, mail, metrics, queue, storage
from guichet.config import Settings
from guichet.depot import cache as depot_cache
from guichet.depot import compute as depot_compute
from guichet.dropzone import events as dropzone_events
from guichet.errors import GuichetError, install_error_handlers, render_error
from guichet.logging import get_logger

log = get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# A client-supplied id is kept only if it is short and plain (it ends up in every log line).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_QUIET_PATHS = frozenset({"/health", "/metrics"})
# Successful reads are logged at DEBUG unless GUICHET_LOG__READS=true (the BAN polls them).
_READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Resources:
    """What requests and jobs share in one process."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    blob_store: storage.BlobStore
    mailer: mail.Mailer


def build_resources(settings: Settings) -> Resources:
    """Build the process's resources and publish them to jobs (`db.transaction()`, …)."""
    engine = db.create_engine(settings)
    resources = Resources(
        engine=engine,
        sessionmaker=db.create_sessionmaker(engine),
        blob_store=storage.create_blob_store(settings),
        mailer=mail.create_mailer(settings),
    )
    # Jobs run outside requests and find the same resources through these module-level hooks.
    db.configure(resources.sessionmaker)
    storage.configure(resources.blob_store)
    mail.configure(resources.mailer)
    queue.load_tasks()
    return resources


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="Guichet",
        version=__version__,
        description="Deposit gateway: BAL publication API and partner loaders.",
        lifespan=_lifespan,
        servers=[{"url": settings.base_url}] if settings.public_url else None,
    )
    resources = build_resources(settings)
    app.state.settings = settings
    app.state.engine = resources.engine
    app.state.sessionmaker = resources.sessionmaker
    app.state.blob_store = resources.blob_store
    app.state.mailer = resources.mailer
    app.state.depot_cache = depot_cache.create_cache(settings)  # its listener: the lifespan

    install_error_handlers(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=[REQUEST_ID_HEADER],
    )
    # outermost: sees every request, CORS preflights too
    app.add_middleware(RequestMiddleware, log_reads=settings.log.reads)
    app.include_router(system_router)
    _include_domain_routers(app)
    return app


def _include_domain_routers(app: FastAPI) -> None:
    """Domain routers are included here, one line each (e.g. the BAL publication API)."""
    depot.include_routers(app)
    loaders.include_routers(app)
    dropzone.include_routers(app)


# --- system routes --------------------------------------------------------------------------

system_router = APIRouter(tags=["system"])


@system_router.get("/health", summary="Liveness and database check")
async def health(request: Request) -> Response:
    """200 when the API can reach its database, 503 otherwise."""
    try:
        async with asyncio.timeout(5), request.app.state.sessionmaker() as session:
            await db.ping(session)
    except Exception as exc:  # any failure means "not healthy"; the reason goes to the log
        log.warning("health.database_unavailable", error=type(exc).__name__)
        return JSONResponse({"status": "error", "database": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "version": __version__})


@system_router.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    return metrics.metrics_response()


# --- lifespan -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    worker: asyncio.Task[None] | None = None
    if settings.run_worker_in_process:
        await queue.open_queue(settings)
        worker = asyncio.create_task(
            queue.run_worker(settings, install_signal_handlers=False, name="in-process")
        )
        worker.add_done_callback(_log_worker_exit)
        log.info("worker.started", mode="in-process", concurrency=settings.worker.concurrency)
    # Drop-zone event listeners run next to the worker (none when the drop zone is off).
    listeners = dropzone_events.start(settings) if worker is not None else []
    cache_listener = depot_cache.start_listener(app.state.depot_cache, settings)
    app.state.depot_cache_listener = cache_listener
    depot_compute.pool.warm()
    try:
        yield
    finally:
        if cache_listener is not None:
            await cache_listener.stop()
        await dropzone_events.stop(listeners)
        if worker is not None:
            # Cancelling asks procrastinate for a graceful stop: running jobs get
            # `worker.shutdown_timeout` seconds to finish, unfinished ones are retried later.
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            await queue.close_queue()
        await app.state.engine.dispose()


def _log_worker_exit(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("worker.crashed", exc_info=task.exception())


# --- request middleware ---------------------------------------------------------------------


class RequestMiddleware:
    """Request id, one access-log event, Prometheus metrics, and the 500 for unexpected errors.

    A pure ASGI middleware (no BaseHTTPMiddleware): it does not buffer streamed bodies and
    keeps the request's contextvars (the bound request id) visible to the endpoint.
    """

    def __init__(self, app: ASGIApp, *, log_reads: bool = False) -> None:
        self.app = app
        self.log_reads = log_reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        state: dict[str, Any] = {"status": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        start = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception("http.unhandled_error", method=scope["method"], path=scope["path"])
                if state["started"]:
                    raise  # too late for an error response: let the server drop the connection
                response = render_error(Request(scope), GuichetError())
                await response(scope, receive, send_with_id)
            finally:
                _record(scope, state["status"], time.perf_counter() - start, self.log_reads)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _record(scope: Scope, status: int, seconds: float, log_reads: bool) -> None:
    route = str(getattr(scope.get("route"), "path", metrics.UNMATCHED_ROUTE))
    method = scope["method"]
    metrics.observe_request(method, route, status, seconds)
    quiet = scope["path"] in _QUIET_PATHS or (
        not log_reads and status < 400 and method in _READ_METHODS
    )
    # structlog runs its processors before the level check: skip them when nothing is logged.
    if quiet and not log.isEnabledFor(logging.DEBUG):
        return
    # The query string is left out on purpose: it may carry tokens or personal data.
    event = {"method": method, "path": scope["path"], "route": route, "status": status}
    level = log.debug if quiet else log.info
    level("http.request", duration_ms=round(seconds * 1000, 1), **event)
