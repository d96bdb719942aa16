"""File-level rejections: the ``400 {"status": "KO", ...}`` answers of the loader contract (§5.1).

A bad *item* is never raised: it is reported in the validation result. Only a file that cannot be
read as a loader file at all (bytes, JSON, header, layout) raises, and each exception knows its wire
shape::

    LoaderError                     base of everything this package raises on bad input
    └── FileRejected (400)          {"status": "KO", "type": <wire_type>, "message", "errors"}
        ├── WrongFormat             type "WrongFormat": not UTF-8, not JSON, too deep, too big
        │   └── FileTooLarge (413)  more bytes than the caller allows
        ├── MissingKey              type "KeyError": a header key is absent
        ├── InvalidStructure        type "ValidationError": header or sections of the wrong shape
        └── InvalidValue            type "ValueError": well-shaped but unacceptable value
                                    (unsupported version, impossible or future creDtTm)

``errors`` is one string (the contract's example shows a string), one line per problem.
"""

from __future__ import annotations

from typing import Any, ClassVar

INTERNAL_ERROR_MESSAGE = "Erreur interne du serveur"


class LoaderError(Exception):
    """Base class of the exceptions raised on bad input by ``guichet.loader``."""


class FileRejected(LoaderError):
    """The whole file is refused before any item is looked at (HTTP 400, status ``KO``)."""

    wire_type: ClassVar[str] = "ValidationError"
    default_message: ClassVar[str] = "Données invalides"
    http_status: ClassVar[int] = 400

    def __init__(self, details: list[str] | str, message: str | None = None) -> None:
        self.details = [details] if isinstance(details, str) else list(details)
        self.message = message or self.default_message
        super().__init__(f"{self.message} : {'; '.join(self.details)}")

    @property
    def errors(self) -> str:
        return "\n".join(self.details)

    def to_json(self) -> dict[str, Any]:
        """The exact 400 body of the contract."""
        return {
            "status": "KO",
            "type": self.wire_type,
            "message": self.message,
            "errors": self.errors,
        }


class WrongFormat(FileRejected):
    """Not a JSON document the package is willing to parse."""

    wire_type = "WrongFormat"
    default_message = "JSON malformé"


class FileTooLarge(WrongFormat):
    """More bytes than the caller's limit; nothing beyond the limit was parsed."""

    default_message = "Fichier trop volumineux"
    http_status = 413


class MissingKey(FileRejected):
    """A mandatory header key is absent (wire type ``KeyError``)."""

    wire_type = "KeyError"
    default_message = "Clé manquante dans les données"


class InvalidStructure(FileRejected):
    """Header values or data sections of the wrong type or shape (wire type ``ValidationError``)."""

    wire_type = "ValidationError"
    default_message = "Données invalides"


class InvalidValue(FileRejected):
    """Well-typed header values that cannot be accepted (wire type ``ValueError``)."""

    wire_type = "ValueError"
    default_message = "Valeur invalide"


def internal_error_json(detail: str) -> dict[str, Any]:
    """The contract's 500 body, for the server's last-resort handler."""
    return {
        "status": "KO",
        "type": "InternalServerError",
        "message": INTERNAL_ERROR_MESSAGE,
        "error": detail,
    }
