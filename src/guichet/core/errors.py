"""Domain errors and the one place that turns them into HTTP responses.

Services raise `GuichetError` subclasses (never `HTTPException`). Each router family picks the
wire format of its errors by using `route_class(SomeFormat())` as its `APIRouter(route_class=...)`:
the BAL publication API answers `{"code": 404, "message": "..."}`, the loader API something else,
internal routes the default `{"code": "not_found", "message": "...", "details": {...}}`.
Errors raised outside any route (unknown path) use the application's default format.

    GuichetError (500 internal_error)
    ├── BadRequest (400) ── RequestInvalid (422 by default; families may render it as 400)
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── NotFound (404)
    ├── Conflict (409)
    ├── PayloadTooLarge (413)
    └── ServiceUnavailable (503) ── DatabaseUnavailable

A database that cannot be reached (killed, restarting, pool exhausted) is not a bug of the
request: `database_unavailable(exc)` recognises those errors, and the request middleware answers
them with `DatabaseUnavailable` (503, `Retry-After`) in the route's format instead of a 500.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar, Protocol

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException


class GuichetError(Exception):
    # Plain class attributes (not ClassVar) so that `HTTPError` can set them per instance.
    status: int = 500
    code: str = "internal_error"
    default_message: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **details: Any,
    ) -> None:
        self.message = message or self.default_message
        self.headers = dict(headers or {})
        self.details = details
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status})"


class BadRequest(GuichetError):
    status, code, default_message = 400, "bad_request", "Bad request"


class RequestInvalid(BadRequest):
    """The request did not match its schema (FastAPI's validation errors, made domain errors)."""

    status, code, default_message = 422, "validation_error", "Invalid request"

    def __init__(self, errors: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(errors=[_public_error(error) for error in errors])
        # Kept apart from the public details: the bounds a French rewording needs (`ge`,
        # `max_length`…), scalars only (a `value_error`'s context holds the exception itself).
        self.contexts = [_scalar_context(error) for error in errors]

    @property
    def messages(self) -> list[str]:
        """One human line per error, e.g. `body.nom: Field required`."""
        return [
            ".".join(str(part) for part in error["loc"]) + ": " + error["msg"]
            for error in self.details["errors"]
        ]


class Unauthorized(GuichetError):
    status, code, default_message = 401, "unauthorized", "Authentication required"


class Forbidden(GuichetError):
    status, code, default_message = 403, "forbidden", "Forbidden"


class NotFound(GuichetError):
    status, code, default_message = 404, "not_found", "Not found"


class Conflict(GuichetError):
    status, code, default_message = 409, "conflict", "Conflict"


class PayloadTooLarge(GuichetError):
    status, code, default_message = 413, "payload_too_large", "Payload too large"


class ServiceUnavailable(GuichetError):
    status, code, default_message = 503, "service_unavailable", "Service unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    # French: the BAL and loader contracts are French, and their clients show this message.
    code = "database_unavailable"
    default_message = (
        "Service momentanément indisponible, veuillez réessayer dans quelques secondes."
    )
    RETRY_AFTER = "5"  # seconds: the embedded PostgreSQL is restarted within that

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": self.RETRY_AFTER})


# SQLSTATEs that mean "no usable connection" rather than "this statement is wrong":
# class 08 (connection exception), the server shutting down or starting up, too many clients.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def database_unavailable(exc: BaseException) -> bool:
    """True if `exc` (or what caused it) says the database cannot be reached right now: the
    connection failed or was lost, the server is shutting down or restarting, or the pool gave
    no connection in time. Bad statements and constraint violations are not."""
    return any(_is_connection_failure(cause) for cause in _causes(exc))


def _is_connection_failure(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.TimeoutError | psycopg_pool.PoolTimeout):
        return True  # a pool that gave no connection in time
    if isinstance(exc, psycopg.InterfaceError):
        return True  # the connection is closed
    if isinstance(exc, psycopg.OperationalError):
        # No SQLSTATE: a client-side failure (refused, socket gone, server closed the connection).
        state = exc.sqlstate
        return state is None or state.startswith("08") or state in _UNAVAILABLE_SQLSTATES
    return False


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc`, the driver error it wraps, and what it was raised from or during (a rollback that
    fails on a dead connection hides the first failure in `__context__`)."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or any(current is known for known in seen) or len(seen) > 20:
            continue
        seen.append(current)
        orig = getattr(current, "orig", None)
        pending += [orig if isinstance(orig, BaseException) else None]
        pending += [current.__cause__, current.__context__]
    return seen


def _public_error(error: Mapping[str, Any]) -> dict[str, Any]:
    # FastAPI puts the offending `input` (and `ctx`) in each error: it may hold a token or a whole
    # uploaded body, so only location, message and type go out.
    return {
        "loc": list(error.get("loc", ())),
        "msg": error.get("msg", ""),
        "type": error.get("type"),
    }


def _scalar_context(error: Mapping[str, Any]) -> dict[str, str | int | float]:
    ctx = error.get("ctx")
    if not isinstance(ctx, Mapping):
        return {}
    return {str(k): v for k, v in ctx.items() if isinstance(v, str | int | float)}


class HTTPError(GuichetError):
    """A framework-level HTTP error (unknown route, wrong method) carried as a domain error."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message, headers=headers)
        self.status = status
        self.code = HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")


# The phrase of each status for a French contract (the loader API): the messages a request can
# get without any code of ours choosing one (Starlette's "Method Not Allowed", the defaults
# above) are English.
FRENCH_STATUS_PHRASES: Mapping[int, str] = {
    400: "Requête invalide",
    401: "Authentification nécessaire",
    403: "Accès refusé",
    404: "Adresse inconnue",
    405: "Méthode non autorisée",
    409: "Conflit avec l'état actuel des données",
    413: "Contenu trop volumineux",
    415: "Type de contenu non pris en charge",
    422: "Requête invalide",
    429: "Trop de requêtes",
    500: "Erreur interne du serveur",
    503: "Service momentanément indisponible",
}
_DEFAULTED = (
    GuichetError, BadRequest, RequestInvalid, Unauthorized, Forbidden, NotFound, Conflict,
    PayloadTooLarge, ServiceUnavailable,
)  # fmt: skip
_ENGLISH_DEFAULTS = frozenset(
    {status.phrase for status in HTTPStatus} | {cls.default_message for cls in _DEFAULTED}
)


def french_message(error: GuichetError) -> str:
    """`error.message` for a French contract: a message of its own is kept, an English default
    (this module's, or the framework's status phrase) becomes the status's French phrase."""
    if error.message not in _ENGLISH_DEFAULTS:
        return error.message
    return FRENCH_STATUS_PHRASES.get(error.status, f"Erreur HTTP {error.status}")


class ErrorFormat(Protocol):
    """How one router family writes an error on the wire."""

    def render(self, request: Request, error: GuichetError) -> Response: ...


class DefaultFormat:
    """`{"code": "not_found", "message": "...", "details": {...}}` (details only when present)."""

    def render(self, request: Request, error: GuichetError) -> Response:
        body: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.details:
            body["details"] = error.details
        return JSONResponse(body, status_code=error.status, headers=error.headers)


class StatusCodeFormat:
    """`{"code": 404, "message": "..."}`: the numeric status in `code_key`, as NestJS services do.

    `validation_status` lets a family answer schema errors with 400 (NestJS `ValidationPipe`)
    instead of FastAPI's 422; their `message` is then the list of error lines.
    """

    def __init__(self, *, code_key: str = "code", validation_status: int = 400) -> None:
        self.code_key = code_key
        self.validation_status = validation_status

    def render(self, request: Request, error: GuichetError) -> Response:
        status = error.status
        message: str | list[str] = error.message
        if isinstance(error, RequestInvalid):
            status, message = self.validation_status, error.messages
        return JSONResponse(
            {self.code_key: status, "message": message}, status_code=status, headers=error.headers
        )


def route_class(error_format: ErrorFormat) -> type[APIRoute]:
    """An `APIRoute` subclass whose errors are rendered with `error_format`."""
    return type("FormattedRoute", (APIRoute,), {"error_format": error_format})


def format_for(request: Request) -> ErrorFormat:
    # Starlette stores the matched route in the scope (also for 405 partial matches).
    route = request.scope.get("route")
    route_format: ErrorFormat | None = getattr(route, "error_format", None)
    if route_format is not None:
        return route_format
    app_format: ErrorFormat = request.app.state.error_format
    return app_format


def render_error(request: Request, error: GuichetError) -> Response:
    return format_for(request).render(request, error)


async def _on_guichet_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GuichetError)
    return render_error(request, exc)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return render_error(request, RequestInvalid(exc.errors()))


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return render_error(request, HTTPError(exc.status_code, str(exc.detail), exc.headers))


def install_error_handlers(app: FastAPI, default: ErrorFormat | None = None) -> None:
    """Register the handlers; unexpected exceptions are rendered by the request middleware."""
    app.state.error_format = default or DefaultFormat()
    app.add_exception_handler(GuichetError, _on_guichet_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
