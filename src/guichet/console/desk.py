"""What both desks share: posted forms, the pages' rendering with the session's CSRF token,
and the answers to an anonymous visitor (the login page), a form without its token (403) and an
installation that cannot sign sessions (503)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from guichet.console import sessions
from guichet.console.rendering import not_found, render
from guichet.console.sessions import DeskSession
from guichet.core.errors import GuichetError, RequestInvalid, french_message, route_class

MAX_FORM_BYTES = 64 * 1024  # far above any desk's form (a perimeter list included)
Form = dict[str, str]


class FormRefused(Exception):
    """A body that is not a small urlencoded form."""


async def read_form(request: Request) -> Form:
    """The urlencoded form posted (the last value of a repeated field)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormRefused()
    if not body:
        return {}  # no field at all (so no CSRF token either: a 403, not a 400)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise FormRefused()
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=200))
    except (UnicodeDecodeError, ValueError):
        raise FormRefused() from None


def page(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    session: DeskSession | None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A desk's page: the session's CSRF token for its forms, never stored by any cache."""
    values = {
        "csrf": session.csrf if session else "",
        "desk_session": session,
        "error": None,
        "nav": "",
        **context,
    }
    response = render(request, template, values, status_code=status_code)
    # Private pages, and some show a secret once: no cache may keep them.
    response.headers["Cache-Control"] = "no-store"
    return response


def login_path(desk: sessions.Desk, after: str | None = None) -> str:
    path = f"{sessions.DESK_PATHS[desk]}/connexion"
    return f"{path}?suite={quote(after, safe='')}" if after else path


def safe_next(desk: sessions.Desk, after: str | None) -> str:
    """Where to go after a login: a page of the same desk only (never another site)."""
    home = sessions.DESK_PATHS[desk] + "/"
    if after and after.startswith(home) and not after.startswith("//") and "\\" not in after:
        return after
    return home


def _error_page(request: Request, title: str, message: str, status_code: int) -> HTMLResponse:
    context = {"title": title, "message": message, "status_code": status_code}
    response = render(request, "desk_error.html", context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _on_login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, sessions.LoginRequired)
    after = request.url.path if request.method == "GET" else None
    response = RedirectResponse(login_path(exc.desk, after), status_code=303)
    # A session that was refused (expired, outdated credential): the browser forgets it.
    sessions.close_session(response, exc.desk)
    return response


async def _on_csrf_refused(request: Request, exc: Exception) -> Response:
    return _error_page(
        request,
        "Formulaire refusé",
        "Ce formulaire n’a pas été envoyé depuis la console ou a expiré. Rechargez la page et "
        "recommencez.",
        403,
    )


async def _on_form_refused(request: Request, exc: Exception) -> Response:
    return _error_page(request, "Formulaire refusé", "Ce formulaire n’est pas lisible.", 400)


async def _on_sessions_unavailable(request: Request, exc: Exception) -> Response:
    return _error_page(
        request,
        "Console indisponible",
        "La console n’a pas de secret pour signer ses sessions : l’exploitant doit définir "
        "GUICHET_CONSOLE__SESSION_SECRET.",
        503,
    )


class ConsoleFormat:
    """A front's error raised in a desk's page (an unknown partner, run or subscription, a
    path parameter that is not one) as the console's French pages."""

    def render(self, request: Request, error: GuichetError) -> Response:
        if error.status == 404 or isinstance(error, RequestInvalid):
            response = not_found(request, "Cette page n’existe pas ou plus.")
        else:
            response = _error_page(request, "Erreur", french_message(error), error.status)
        response.headers["Cache-Control"] = "no-store"
        return response


ROUTE_CLASS = route_class(ConsoleFormat())


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(sessions.LoginRequired, _on_login_required)
    app.add_exception_handler(sessions.CsrfRefused, _on_csrf_refused)
    app.add_exception_handler(FormRefused, _on_form_refused)
    app.add_exception_handler(sessions.SessionsUnavailable, _on_sessions_unavailable)
