"""The publication API's errors (French messages of the reference) and its wire format.

NestJS answers `{"statusCode": 404, "message": "..."}`; its pipes and `ValidationPipe` add
`"error": "Bad Request"` (with `message` a list of strings for schema errors).

Beyond the reference: every refusal of a publish also carries a machine-readable `"reason"`
(`PublishRefusal`), beside the reference's status and message (clients that ignore it see
nothing new).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from guichet.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    GuichetError,
    HTTPError,
    NotFound,
    PayloadTooLarge,
    RequestInvalid,
    ServiceUnavailable,
    Unauthorized,
)


class PublishRefusal(StrEnum):
    """Why `POST /revisions/{id}/publish` refused, as the `reason` field of its error body."""

    NOT_PENDING = "notPending"
    """The revision is published already (a revision is published once)."""
    NOT_READY = "notReady"
    """Never computed (no file, or no `compute` yet)."""
    INVALID = "invalid"
    """Computed, and the file is invalid (see `validation` and the validation report)."""
    OUTDATED = "outdated"
    """Computed valid, then another revision of the commune was published: compute again."""
    IN_PROGRESS = "publicationInProgress"
    """Another publish of the commune held its lock for too long."""
    HABILITATION_REQUIRED = "habilitationRequired"
    HABILITATION_INVALID = "habilitationInvalid"
    OUT_OF_PERIMETER = "outOfPerimeter"


class PreconditionFailed(GuichetError):
    status, code, default_message = 412, "precondition_failed", "Precondition failed"


class PipeError(BadRequest):
    """A 400 from a NestJS pipe (`BadRequestException`): rendered with `"error"`."""

    code = "bad_request"


class QueryInvalid(BadRequest):
    """Query parameters refused by a class-validator DTO: `message` is a list of strings."""

    code = "bad_request"

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class JsonInvalid(BadRequest):
    """A body that is not JSON (body-parser's error: no `"error"` key)."""

    code = "json_invalid"


class BodyTooLarge(PayloadTooLarge):
    code, default_message = "payload_too_large", "request entity too large"


# --- authentication -------------------------------------------------------------------------


class AuthenticationRequired(Unauthorized):
    default_message = "Une authentification est nécessaire"


class TokenMissing(Unauthorized):
    default_message = "Le token d'authentification est manquant"


class AuthenticationRefused(Unauthorized):
    default_message = "Authentification refusée"


class ClientInactive(Forbidden):
    default_message = "Le client est actuellement désactivé"


class NotRevisionOwner(Forbidden):
    default_message = "Vous n’êtes pas autorisé à accéder à cette révision"


# --- path parameters ------------------------------------------------------------------------


class CommuneUnknown(NotFound):
    default_message = "Le code commune n’existe pas"


def invalid_id(label: str, value: str) -> BadRequest:
    return BadRequest(f"{label} Id {value} is not ObjectId")


def unknown_id(label: str, value: str) -> NotFound:
    return NotFound(f"{label} {value} not found")


# --- revisions ------------------------------------------------------------------------------


class RevisionNotEditable(PreconditionFailed):
    default_message = "La révision n’est plus modifiable"


class FileAlreadyAttached(PreconditionFailed):
    default_message = "Fichier déjà attaché a la révision"


class FileMissingInBody(NotFound):
    default_message = "Fichier non fourni."


class Md5Mismatch(BadRequest):
    default_message = (
        "La valeur de l’en-tête Content-MD5 ne correspond pas à la signature MD5 du contenu soumis."
    )


class EncodingRefused(BadRequest):
    default_message = "Aucun encodage de contenue dans l’en-tête n’est accepté."


class LengthMismatch(BadRequest):
    default_message = (
        "La longueur de contenue dans l’en-tête ne correspond pas a la taille en octet du fichier."
    )


class UploadFailed(ServiceUnavailable):
    default_message = "Fichier non uploadé sur S3"


class NoBalFile(NotFound):
    def __init__(self, revision_id: str) -> None:
        super().__init__(f"Aucun fichier de type 'bal' associé à la révision {revision_id}")


class BlobMissing(NotFound):
    default_message = "Fichier non trouvé sur S3"


class PublicationInProgress(PreconditionFailed):
    default_message = "La publication n’est pas possible car une publication est deja en cours"
    publish_refusal = PublishRefusal.IN_PROGRESS


class PublicationImpossible(PreconditionFailed):
    """The revision cannot be published as it is (the reference's one message for all cases)."""

    default_message = "La publication n’est pas possible"

    def __init__(self, refusal: PublishRefusal = PublishRefusal.NOT_READY) -> None:
        super().__init__()
        self.publish_refusal = refusal

    @classmethod
    def of(
        cls, *, pending: bool, is_ready: bool | None, validation: Mapping[str, Any] | None
    ) -> PublicationImpossible:
        """The refusal of a revision that is not pending or not ready (`isReady` not true)."""
        if not pending:
            return cls(PublishRefusal.NOT_PENDING)
        if validation is None:
            return cls(PublishRefusal.NOT_READY)
        if not validation.get("valid"):
            return cls(PublishRefusal.INVALID)
        # Valid but not ready: a publish of the commune reset `isReady` after this compute.
        return cls(PublishRefusal.OUTDATED if is_ready is False else PublishRefusal.NOT_READY)


class HabilitationRequired(BadRequest):
    publish_refusal = PublishRefusal.HABILITATION_REQUIRED

    def __init__(self, client_nom: str) -> None:
        super().__init__(f"Le client {client_nom} nécessite une habilitation pour publier")


class HabilitationInvalid(NotFound):
    publish_refusal = PublishRefusal.HABILITATION_INVALID

    def __init__(self, habilitation_id: str) -> None:
        super().__init__(f"L’habilitation {habilitation_id} n’est pas valide")


class OutOfPerimeter(PreconditionFailed):
    """Publish-time check (Guichet's): the chef de file's perimeter may have changed since
    compute, and a chef-de-file client without a chef de file has no perimeter at all."""

    publish_refusal = PublishRefusal.OUT_OF_PERIMETER

    def __init__(self, code_commune: str) -> None:
        super().__init__(
            f"La publication n’est pas possible : la commune {code_commune} n’est pas dans"
            " le périmètre du chef de file du client"
        )


# --- habilitations --------------------------------------------------------------------------


class CurrentCommuneUnknown(NotFound):
    # `CommuneActuelleMiddleware` of the reference: a straight apostrophe, unlike CommuneUnknown.
    default_message = "Le code commune n'existe pas"


class NotHabilitationOwner(Forbidden):
    default_message = "Vous n’êtes pas autorisé à accéder à cette habilitation"


class HabilitationAlreadyAccepted(PreconditionFailed):
    default_message = "Cette habilitation est déjà validée"


class HabilitationRejected(PreconditionFailed):
    default_message = "Cette habilitation est rejetée"


class EmailNotOfCommune(PreconditionFailed):
    default_message = (
        "Impossible d’envoyer le code, l’email préconisé n’appartient pas à la commune"
    )


class PinSentRecently(Conflict):
    default_message = "Un courriel a déjà été envoyé, merci de patienter"


class PinMailFailed(ServiceUnavailable):
    default_message = "Le courriel n’a pas pu être envoyé, veuillez réessayer"


class NoPinSent(PreconditionFailed):
    default_message = "Aucun code n’a été envoyé pour cette habilitation"


class PinExpired(PreconditionFailed):
    default_message = "Code expiré"


class PinRejected(PreconditionFailed):
    default_message = "Code non valide. Demande rejetée."


class PinWrong(PreconditionFailed):
    def __init__(self, remaining: int) -> None:
        plural = "s" if remaining > 1 else ""
        super().__init__(f"Code non valide, {remaining} tentative{plural} restante{plural}")


class NoCurrentRevision(NotFound):
    def __init__(self, code_commune: str) -> None:
        super().__init__(f"Aucune revision trouvé pour la commune {code_commune}")


class ComputeUnavailable(ServiceUnavailable):
    default_message = "La validation du fichier a échoué, veuillez réessayer"


class FailedDependency(GuichetError):
    """A service the route relies on failed (the reference's 424)."""

    status, code, default_message = 424, "failed_dependency", "Failed dependency"


# --- ProConnect (§2.4 #21–22) -----------------------------------------------------------------


class ProConnectDisabled(ServiceUnavailable):
    default_message = "ProConnect n’est pas configuré sur ce service"


class ProConnectUnreachable(FailedDependency):
    default_message = "Impossible de contacter ProConnect"


class ProConnectSessionInvalid(BadRequest):
    # The reference answers 500: its in-memory session was lost. Here a browser coming back
    # without (or with an expired, forged or already used) session cookie is the caller's case.
    default_message = "Session invalide"


class OAuthStateInvalid(BadRequest):
    default_message = "Invalid OAuth2 state"


class NonceInvalid(BadRequest):
    default_message = "Nonce invalide"


class ProConnectProfileUnavailable(FailedDependency):
    default_message = "Impossible de récupérer le profile"


class ProConnectTokenInvalid(BadRequest):
    """An ID token or userinfo JWT whose signature, issuer, audience or expiry fails (the
    reference verified none of them)."""

    default_message = "Jeton ProConnect non valide"


class MairiesUnavailable(FailedDependency):
    default_message = (
        "Impossible de vérifier le SIRET : aucune mairie de la commune dans l’Annuaire"
    )


# --- sync-ids-ban-publish (§2.4 #5) -------------------------------------------------------------


class SyncNotCurrent(PreconditionFailed):
    default_message = "Erreur: on ne peut pas synchroniser une publication non courante"


class BanNotConfigured(ServiceUnavailable):
    default_message = "L’API de la BAN n’est pas configurée"


class BanNoStableIds(PreconditionFailed):
    default_message = "La commune n'a pas d'identifiants stables sur la BAN"


class BanLookupFailed(FailedDependency):
    default_message = "Impossible de récupérer la commune sur la BAN"


class BanCommuneIdFailed(FailedDependency):
    default_message = "Impossible de fetch id_ban_commune de la BAN"


class BanAddressesFailed(FailedDependency):
    default_message = "Impossible de télécharger les adresses de la commune depuis la BAN"


class SyncSourceUnreadable(PreconditionFailed):
    default_message = "Le fichier de la révision courante n’est pas lisible"


class SyncedFileInvalid(PreconditionFailed):
    def __init__(self, codes: list[str]) -> None:
        listed = ", ".join(codes) or "fichier illisible"
        super().__init__(
            f"Le fichier synchronisé avec les identifiants de la BAN n’est pas valide : {listed}"
        )


# --- wire format ----------------------------------------------------------------------------

_TYPE_MESSAGES = {
    "missing": "{field} should not be empty",
    "string_type": "{field} must be a string",
    "string_too_short": "{field} should not be empty",
    "bool_type": "{field} must be a boolean value",
    "bool_parsing": "{field} must be a boolean value",
    "dict_type": "{field} must be an object",
    "model_type": "{field} must be an object",
    "model_attributes_type": "{field} must be an object",
    "list_type": "{field} must be an array",
}


def class_validator_messages(error: RequestInvalid) -> list[str]:
    """Schema errors worded like class-validator (`nom must be a string`)."""
    messages: list[str] = []
    for item in error.details["errors"]:
        loc = [str(part) for part in item["loc"] if part not in ("body", "query", "path")]
        field = ".".join(loc) or "body"
        kind = str(item.get("type") or "")
        template = _TYPE_MESSAGES.get(kind)
        if template is None and kind.startswith("value_error"):
            message = str(item["msg"]).removeprefix("Value error, ")
            messages.append(message.format(field=field))
            continue
        messages.append((template or "{field} is invalid").format(field=field))
    return list(dict.fromkeys(messages))


class NestFormat:
    """`{"statusCode", "message"}`, plus `"error": "Bad Request"` where NestJS pipes add it."""

    def render(self, request: Request, error: GuichetError) -> Response:
        body: dict[str, Any]
        if isinstance(error, RequestInvalid):
            json_error = next(
                (e for e in error.details["errors"] if e.get("type") == "json_invalid"), None
            )
            if json_error is not None:
                body = {"statusCode": 400, "message": "Unexpected token in JSON"}
            else:
                messages = class_validator_messages(error)
                body = {"statusCode": 400, "message": messages, "error": "Bad Request"}
            return JSONResponse(body, status_code=400)
        if isinstance(error, HTTPError) and error.status in (404, 405):
            # An unknown route, or a known path with another method: NestJS has no 405.
            scope = request.scope
            body = {
                "statusCode": 404,
                "message": f"Cannot {scope['method']} {scope['path']}",
                "error": "Not Found",
            }
            return JSONResponse(body, status_code=404)
        if isinstance(error, QueryInvalid):  # class-validator on a query DTO: a list
            body = {"statusCode": 400, "message": error.messages, "error": "Bad Request"}
            return JSONResponse(body, status_code=400)
        body = {"statusCode": error.status, "message": error.message}
        if isinstance(error, PipeError):
            body["error"] = "Bad Request"
        refusal = getattr(error, "publish_refusal", None)
        if isinstance(refusal, PublishRefusal):  # Guichet's addition (see the module doc)
            body["reason"] = str(refusal)
        return JSONResponse(body, status_code=error.status, headers=error.headers)


NEST_FORMAT = NestFormat()
