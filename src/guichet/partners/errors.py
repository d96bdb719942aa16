"""Errors of the partner loaders, and the wire format of `POST /api/third_party/loader`.

Every error answer of the partner endpoint has the contract's KO shape (SPEC §5.1)::

    400/413  {"status": "KO", "type": "ValidationError|WrongFormat|ValueError|KeyError",
              "message": …, "errors": …}
    500      {"status": "KO", "type": "InternalServerError", "message": …, "error": …}

Authentication failures are not documented by the contract. We answer **401** with the closest
documented shape: the KO body with type ``ValueError`` (the header is well formed but its values
are not acceptable, which is what ``ValueError`` means for the other header checks), one message
for an unknown partner, a wrong key and a deactivated partner alike (no partner enumeration).

Every message is French, as the contract's are: the framework's and `guichet.core.errors`'
English defaults (a 405's "Method Not Allowed", a 500's "Internal server error") become French
phrases, and schema errors are reworded from their Pydantic type (`pydantic_reason`).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from guichet.core.errors import (
    Conflict,
    GuichetError,
    HTTPError,
    NotFound,
    RequestInvalid,
    Unauthorized,
    french_message,
)
from guichet.loader import FileRejected, internal_error_json, pydantic_reason

AUTH_MESSAGE = "Identifiants partenaire invalides"
AUTH_DETAIL = (
    "Champ 'apiKey' dans l'en-tête invalide : partenaire inconnu ou inactif, ou clé incorrecte"
)
METHOD_DETAIL = "un fichier se dépose par POST, en JSON brut"
UNEXPECTED_DETAIL = (
    "erreur inattendue, enregistrée par le service : rien n'a été intégré, le fichier peut être"
    " renvoyé"
)
_LOCATIONS = ("body", "query", "path", "header")


class FileRefused(GuichetError):
    """A `guichet.loader.FileRejected`, as a domain error (400, or 413 for an oversize body)."""

    code = "loader_file_rejected"

    def __init__(self, rejected: FileRejected) -> None:
        super().__init__(rejected.message)
        self.status = rejected.http_status
        self.body = rejected.to_json()


class PartnerUnauthorized(Unauthorized):
    code, default_message = "loader_partner_unauthorized", AUTH_MESSAGE

    def to_json(self) -> dict[str, Any]:
        """The KO body: the REST answer (401), and the report of a dropped file whose header
        carries another key than its bucket's partner's."""
        return _ko("ValueError", self.message, AUTH_DETAIL)


class PartnerNotFound(NotFound):
    code, default_message = "loader_partner_not_found", "Partenaire inconnu"


class PartnerExists(Conflict):
    code, default_message = "loader_partner_exists", "Ce partenaire existe déjà"


class RunNotFound(NotFound):
    code, default_message = "loader_run_not_found", "Dépôt inconnu"


def _wire_type(status: int) -> str:
    if status == 413:
        return "WrongFormat"
    if status in (401, 403):
        return "ValueError"
    return "ValidationError"


class LoaderFormat:
    """The contract's KO bodies, whatever the error (see the module docstring)."""

    def render(self, request: Request, error: GuichetError) -> Response:
        body: dict[str, Any]
        message = french_message(error)
        if isinstance(error, FileRefused):
            body = error.body
        elif error.status >= 500:
            body = internal_error_json(_server_detail(error, message))
        elif isinstance(error, PartnerUnauthorized):
            body = error.to_json()
        elif isinstance(error, RequestInvalid):
            body = _ko("ValidationError", message, "\n".join(request_lines(error)))
        elif isinstance(error, HTTPError) and error.status == 405:
            method = request.scope.get("method", "?")
            body = _ko(_wire_type(405), message, f"{METHOD_DETAIL} (reçu : {method})")
        else:
            body = _ko(_wire_type(error.status), message, message)
        return JSONResponse(body, status_code=error.status, headers=error.headers)


def _server_detail(error: GuichetError, message: str) -> str:
    """A message of the error's own (503 "Service momentanément indisponible…"), else, for an
    unexpected error, what the partner may do (never the exception's text)."""
    if message == error.message or error.status != 500:
        return message
    return UNEXPECTED_DETAIL


def request_lines(error: RequestInvalid) -> list[str]:
    """One French line per schema error: "Champ 'page' invalide : doit être supérieur…"."""
    lines = []
    for public, ctx in zip(error.details["errors"], error.contexts, strict=True):
        where = ".".join(str(part) for part in public["loc"] if part not in _LOCATIONS)
        reason = pydantic_reason({**public, "ctx": ctx})
        lines.append(f"Champ '{where}' invalide : {reason}" if where else reason)
    return lines


def _ko(wire_type: str, message: str, errors: str) -> dict[str, Any]:
    return {"status": "KO", "type": wire_type, "message": message, "errors": errors}


LOADER_FORMAT = LoaderFormat()


class PartnerFormat:
    """The partners' own read routes (`/api/third_party/dropzone/…`): not the contract's, so
    the default shape `{"code", "message", "details"}`, but French like everything a partner
    reads (schema errors reworded from their Pydantic type)."""

    def render(self, request: Request, error: GuichetError) -> Response:
        body: dict[str, Any] = {"code": error.code, "message": french_message(error)}
        details = dict(error.details)
        if isinstance(error, RequestInvalid):
            details["errors"] = [
                {**public, "msg": pydantic_reason({**public, "ctx": ctx})}
                for public, ctx in zip(error.details["errors"], error.contexts, strict=True)
            ]
        if details:
            body["details"] = details
        return JSONResponse(body, status_code=error.status, headers=error.headers)


PARTNER_FORMAT = PartnerFormat()
