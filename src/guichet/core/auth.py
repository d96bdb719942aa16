"""Authentication shared by the routers. For now: the admin token (one shared secret).

The admin token comes from `GUICHET_ADMIN_TOKEN`. In the embedded default (no database URL) and
with no token configured, one is generated on first start, stored in `$GUICHET_HOME/admin_token`
(mode 0600) and printed once by `guichet serve`. It is compared in constant time and never
logged. With a database URL but no token, every admin route answers 403 (as the reference does).
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

from guichet.core.config import Settings
from guichet.core.errors import Forbidden

ADMIN_TOKEN_FILE = "admin_token"


class AdminForbidden(Forbidden):
    # The reference service answers 403 "Non autorisé" for a missing, malformed or wrong token.
    code, default_message = "admin_forbidden", "Non autorisé"


def load_or_create_admin_token(home: Path) -> tuple[str, bool]:
    """The token stored under `home`, created on first call; returns (token, created)."""
    path = home / ADMIN_TOKEN_FILE
    home.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        # O_EXCL: two processes starting together cannot both create (and print) a token.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)  # repair a copy made with a looser mode
        return path.read_text(encoding="ascii").strip(), False
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(token + "\n")
    return token, True


def with_admin_token(settings: Settings) -> tuple[Settings, str | None]:
    """Settings with the embedded admin token filled in; the token is returned only if new."""
    if settings.admin_token is not None or not settings.is_embedded:
        return settings, None
    token, created = load_or_create_admin_token(settings.home)
    updated = settings.model_copy(update={"admin_token": SecretStr(token)})
    return updated, token if created else None


def is_admin_header(authorization: str | None, admin_token: SecretStr | None) -> bool:
    """`Token <t>` or `Bearer <t>`, exactly, compared in constant time."""
    if authorization is None or admin_token is None:
        return False
    expected = admin_token.get_secret_value()
    if not expected:
        return False
    given = authorization.encode()
    # `|` rather than `or`: both comparisons always run.
    return hmac.compare_digest(given, f"Token {expected}".encode()) | hmac.compare_digest(
        given, f"Bearer {expected}".encode()
    )


# Declared as an API key header so that /docs offers an "Authorize" field for it.
_admin_header = APIKeyHeader(
    name="Authorization",
    scheme_name="admin-token",
    description="`Token <admin token>` or `Bearer <admin token>`",
    auto_error=False,
)


def require_admin(
    request: Request, authorization: Annotated[str | None, Depends(_admin_header)]
) -> None:
    settings: Settings = request.app.state.settings
    if not is_admin_header(authorization, settings.admin_token):
        raise AdminForbidden()


Admin = Annotated[None, Depends(require_admin)]
