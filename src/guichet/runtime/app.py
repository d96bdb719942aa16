"""`create_app(settings)`: the FastAPI application, its services, middleware, system routes, the
fronts' routers, and the lifespan that runs the fronts' lifespans and the in-process worker.

Everything a request needs (engine, sessionmaker, blob store, mailer) is built eagerly here, so
that an app used without its lifespan (tests with httpx's ASGITransport) is complete; the
lifespan only starts and stops background work (worker, listeners, pools).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from guichet import __version__
from guichet.core import db, mail, metrics, queue, services, storage
from guichet.core.config import Settings
from guichet.core.errors import (
    DatabaseUnavailable,
    DefaultFormat,
    GuichetError,
    NotFound,
    Unauthorized,
    database_unavailable,
    install_error_handlers,
    render_error,
)
from guichet.core.logging import get_logger
from guichet.core.services import Services
from guichet.depot.errors import NEST_FORMAT
from guichet.runtime import api_docs, db_metrics
from guichet.runtime.fronts import FRONTS
from guichet.runtime.http_compat import HeadAsGet, PreflightNoContent, UnknownPathFormat

log = get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# A client-supplied id is kept only if it is short and plain (it ends up in every log line).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Fitting an API (and the pages it serves): no MIME sniffing, never framed, no referrer.
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_QUIET_PATHS = frozenset({"/health", "/metrics"})
# Successful reads are logged at DEBUG unless GUICHET_LOG__READS=true (the BAN polls them).
_READ_METHODS = frozenset({"GET", "HEAD"})


def build_services(settings: Settings) -> Services:
    """The process's services (engine, sessionmaker, blob store, mailer, the fronts' own
    resources), installed for its jobs and listeners."""
    engine = db.create_engine(settings)
    built = Services(
        settings=settings,
        engine=engine,
        sessionmaker=db.create_sessionmaker(engine),
        blob_store=storage.create_blob_store(settings),
        mailer=mail.create_mailer(settings),
        extras={front.name: front.resources(settings) for front in FRONTS},
    )
    queue.load_tasks(task for front in FRONTS for task in front.tasks)
    services.install(built)
    return built


def create_app(settings: Settings, built: Services | None = None) -> FastAPI:
    """The API; `built` (tests) replaces the services it would build from `settings`."""
    app = FastAPI(
        title="Guichet",
        version=__version__,
        description="Deposit gateway: BAL publication API and partner loaders.",
        lifespan=_lifespan,
        servers=[{"url": settings.base_url}] if settings.public_url else None,
        docs_url=None,  # api_docs serves them from local assets (no CDN)
        redoc_url=None,
    )
    built = built or build_services(settings)
    services.install(built)
    app.state.settings = settings
    app.state.services = built
    app.state.engine = built.engine
    app.state.sessionmaker = built.sessionmaker
    app.state.blob_store = built.blob_store
    app.state.mailer = built.mailer

    install_error_handlers(app, default=UnknownPathFormat(NEST_FORMAT, DefaultFormat()))
    app.add_middleware(HeadAsGet)  # innermost: the routes see a GET
    app.add_middleware(
        PreflightNoContent,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=[REQUEST_ID_HEADER],
    )
    # outermost: sees every request, CORS preflights too
    app.add_middleware(RequestMiddleware, log_reads=settings.log.reads)
    app.include_router(system_router)
    api_docs.install(app)
    for front in FRONTS:
        front.routers(app)
    return app


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
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus metrics; `metrics.enabled=false` hides them (404), `metrics.token` asks for
    `Authorization: Bearer <token>` (they tell load, routes and error rates to whoever asks)."""
    settings: Settings = request.app.state.settings
    if not settings.metrics.enabled:
        raise NotFound()
    if not metrics.authorized(request.headers.get("authorization"), settings.metrics.token):
        raise Unauthorized(headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    await db_metrics.COLLECTOR.refresh(request.app.state.sessionmaker)
    return metrics.metrics_response()


# --- lifespan -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    async with contextlib.AsyncExitStack() as stack:
        for front in FRONTS:
            await stack.enter_async_context(front.app_lifespan(app))
        if settings.run_worker_in_process:
            await stack.enter_async_context(in_process_worker(app.state.services))
        yield
    await app.state.engine.dispose()


@contextlib.asynccontextmanager
async def in_process_worker(built: Services) -> AsyncIterator[None]:
    """The job worker of `guichet serve` in the API process, with the fronts' background work
    (event listeners) beside it."""
    settings = built.settings
    await queue.open_queue(settings)
    worker = asyncio.create_task(
        queue.run_worker(settings, install_signal_handlers=False, name="in-process")
    )
    worker.add_done_callback(_log_worker_exit)
    log.info("worker.started", mode="in-process", concurrency=settings.worker.concurrency)
    try:
        async with contextlib.AsyncExitStack() as stack:
            for front in FRONTS:
                await stack.enter_async_context(front.background(built))
            yield
    finally:
        # Cancelling asks procrastinate for a graceful stop: running jobs get
        # `worker.shutdown_timeout` seconds to finish, unfinished ones are retried later.
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        await queue.close_queue()


def _log_worker_exit(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("worker.crashed", exc_info=task.exception())


# --- request middleware ---------------------------------------------------------------------


class RequestMiddleware:
    """Request id, security headers, one access-log event, Prometheus metrics, and the 500 for
    unexpected errors.

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
                present = {name.lower() for name, _ in headers}
                headers += [item for item in SECURITY_HEADERS if item[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        start = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                error = _error_for(exc, scope)
                if state["started"]:
                    raise  # too late for an error response: let the server drop the connection
                response = render_error(Request(scope), error)
                await response(scope, receive, send_with_id)
            finally:
                _record(scope, state["status"], time.perf_counter() - start, self.log_reads)


def _error_for(exc: Exception, scope: Scope) -> GuichetError:
    """The error to answer for an exception no route handled: 503 while the database cannot be
    reached (it heals by itself: no traceback), else a logged 500."""
    if database_unavailable(exc):
        log.warning(
            "http.database_unavailable",
            method=scope["method"],
            path=scope["path"],
            error=f"{type(exc).__name__}: {exc}"[:300],
        )
        return DatabaseUnavailable()
    log.exception("http.unhandled_error", method=scope["method"], path=scope["path"])
    return GuichetError()


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
