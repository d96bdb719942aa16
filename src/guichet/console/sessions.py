"""The desks' sessions: a signed cookie per desk, and the CSRF token bound to it.

A session is a cookie signed with a secret of the installation (itsdangerous), not a row in
one process's memory: any API process accepts a session another one opened. It carries the
desk, who is logged in, a fingerprint of the credential used (the admin token, the partner's
key hash: changing the credential ends its sessions) and the session's CSRF token; it expires
`console.session_max_age` seconds after its login (the signature's timestamp is checked, not
only the cookie's lifetime). HttpOnly, SameSite=Strict, Secure over TLS, scoped to its desk's
path.

Every form of a desk carries the session's CSRF token (a synchronizer token: the server
compares the form's field with the token inside the signed cookie). The login forms, before
any session, carry a token bound the same way to a short-lived signed cookie of their own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from guichet.core.config import Settings
from guichet.depot import proconnect

Desk = Literal["admin", "partner"]
DESK_PATHS: dict[Desk, str] = {"admin": "/ui/admin", "partner": "/ui/partner"}
CSRF_FIELD = "csrf"
LOGIN_MAX_AGE = 3600  # seconds to fill in a login form
_LOGIN_COOKIE = "guichet_console_login"


class SessionsUnavailable(Exception):
    """No secret to sign sessions with (production without one): nobody may log in."""


class LoginRequired(Exception):
    """An anonymous visitor (or an expired, forged or outdated session) on a desk's page."""

    def __init__(self, desk: Desk) -> None:
        super().__init__(desk)
        self.desk = desk


class CsrfRefused(Exception):
    """A form posted without the token of its session (or of its login form)."""


@dataclass(frozen=True)
class DeskSession:
    desk: Desk
    subject: str  # "admin", or the partner's id
    binding: str  # fingerprint of the credential the session was opened with
    csrf: str


def cookie_name(desk: Desk) -> str:
    return f"guichet_console_{desk}"


def _secret(settings: Settings) -> str:
    """The console's secret, else ProConnect's (the installation's cookie secret), else in
    development the one generated under the home; none in production is an error."""
    for configured in (settings.console.session_secret, settings.proconnect.session_secret):
        if configured is not None and configured.get_secret_value():
            return configured.get_secret_value()
    if settings.environment == "production":
        raise SessionsUnavailable()
    return proconnect.load_or_create_secret(settings.home)


def _serializer(settings: Settings, purpose: str) -> URLSafeTimedSerializer:
    # One salt per purpose: a login form's cookie can never pass for a session, nor an
    # operator's session for a partner's (the same secret signs ProConnect's flow cookie, under
    # its own derivation).
    return URLSafeTimedSerializer(_secret(settings), salt=f"guichet-console-{purpose}")


def fingerprint(desk: Desk, credential: str | bytes) -> str:
    """A short digest of a credential: what a session is bound to, never the credential."""
    raw = credential.encode() if isinstance(credential, str) else credential
    return hashlib.sha256(f"guichet-console-{desk}:".encode() + raw).hexdigest()[:32]


def _is_tls(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return request.url.scheme == "https" or settings.base_url.startswith("https://")


def _set_cookie(
    request: Request, response: Response, name: str, value: str, path: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        secure=_is_tls(request),
        httponly=True,
        samesite="strict",
    )


def open_session(
    request: Request, response: Response, desk: Desk, subject: str, binding: str
) -> DeskSession:
    """A new session (with a new CSRF token), set on `response`."""
    settings: Settings = request.app.state.settings
    opened = DeskSession(desk, subject, binding, secrets.token_urlsafe(32))
    payload = {"s": subject, "b": binding, "c": opened.csrf}
    value = _serializer(settings, desk).dumps(payload)
    max_age = settings.console.session_max_age
    _set_cookie(request, response, cookie_name(desk), value, DESK_PATHS[desk], max_age)
    response.delete_cookie(_LOGIN_COOKIE, path=DESK_PATHS[desk])
    return opened


def read_session(request: Request, desk: Desk) -> DeskSession | None:
    """The desk's session the request carries, if its signature holds and it has not expired."""
    value = request.cookies.get(cookie_name(desk))
    if not value:
        return None
    settings: Settings = request.app.state.settings
    try:
        payload = _serializer(settings, desk).loads(value, max_age=settings.console.session_max_age)
    except (BadSignature, SessionsUnavailable):  # SignatureExpired is a BadSignature
        return None
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(key), str) for key in ("s", "b", "c")
    ):
        return None
    return DeskSession(desk, payload["s"], payload["b"], payload["c"])


def close_session(response: Response, desk: Desk) -> None:
    response.delete_cookie(cookie_name(desk), path=DESK_PATHS[desk])


def check_csrf(session: DeskSession, form: dict[str, str]) -> None:
    if not tokens_match(form.get(CSRF_FIELD), session.csrf):
        raise CsrfRefused()


def tokens_match(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


# --- login forms ------------------------------------------------------------------------


def login_token(request: Request, response: Response, desk: Desk) -> str:
    """The CSRF token of a login form: the one its cookie already holds, else a new one (set
    on `response`)."""
    existing = _login_cookie_token(request, desk)
    if existing is not None:
        return existing
    settings: Settings = request.app.state.settings
    token = secrets.token_urlsafe(32)
    value = _serializer(settings, f"{desk}-login").dumps(token)
    _set_cookie(request, response, _LOGIN_COOKIE, value, DESK_PATHS[desk], LOGIN_MAX_AGE)
    return token


def check_login_csrf(request: Request, desk: Desk, form: dict[str, str]) -> None:
    expected = _login_cookie_token(request, desk)
    if expected is None or not tokens_match(form.get(CSRF_FIELD), expected):
        raise CsrfRefused()


def _login_cookie_token(request: Request, desk: Desk) -> str | None:
    value = request.cookies.get(_LOGIN_COOKIE)
    if not value:
        return None
    settings: Settings = request.app.state.settings
    try:
        token = _serializer(settings, f"{desk}-login").loads(value, max_age=LOGIN_MAX_AGE)
    except BadSignature:
        return None
    return token if isinstance(token, str) else None
