"""Habilitation routes (§2.4 #14–20) and `GET /communes/{code}/emails` (#15).

Checked in the reference's order: path parameters (400/404), then the token (401/403), then
(Guichet's addition) ownership: a habilitation is its creator's only, so another client gets
403 `Vous n’êtes pas autorisé à accéder à cette habilitation` on read, send-pin-code and
validate-pin-code, where the reference served any client (§9 defect 4). Every other divergence
is written at its route and in `docs/publication.md`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, Field, StrictStr, WithJsonSchema

from guichet import cog
from guichet.core.auth import Admin
from guichet.core.config import Settings
from guichet.core.db import Session
from guichet.core.errors import render_error, route_class
from guichet.core.logging import get_logger
from guichet.core.mail import MailerDep
from guichet.depot import annuaire, errors, habilitations, views
from guichet.depot.bodies import openapi_body, parse_body
from guichet.depot.deps import CurrentClient
from guichet.depot.models import Habilitation
from guichet.depot.schemas import _Body

log = get_logger(__name__)

router = APIRouter(route_class=route_class(errors.NEST_FORMAT), tags=["habilitations"])

# class-validator's IsNumberString (validator.js `isNumeric`): digits, optional sign and decimals.
_NUMBER_STRING = re.compile(r"[+-]?(?:[0-9]*\.)?[0-9]+")


def _number_string(value: Any) -> str:
    if not isinstance(value, str) or _NUMBER_STRING.fullmatch(value) is None:
        raise ValueError("{field} must be a number string")
    return value


def _email(value: Any) -> str:
    if not isinstance(value, str) or not annuaire.is_valid_email(value):
        raise ValueError("{field} must be an email")
    return value


class SendPinBody(_Body):
    # `Any` + a validator run on the default too: a missing e-mail reads "email must be an
    # email", as class-validator words it.
    email: Annotated[
        Any,
        AfterValidator(_email),
        WithJsonSchema({"type": "string", "format": "email"}),
        Field(validate_default=True),
    ] = None


class ValidatePinBody(_Body):
    code: Annotated[
        Any,
        AfterValidator(_number_string),
        WithJsonSchema({"type": "string", "pattern": "^[0-9]{6}$", "example": "012345"}),
        Field(validate_default=True),
    ] = None


class AreValidBody(_Body):
    ids: list[StrictStr]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_current_commune(code_commune: str) -> str:
    """`CommuneActuelleMiddleware`: current communes and arrondissements only, no former code
    whatever the query says."""
    if not cog.is_current(code_commune):
        raise errors.CurrentCommuneUnknown()
    return code_commune


async def get_habilitation(habilitation_id: str, session: Session) -> Habilitation:
    return await habilitations.load(session, habilitation_id)


CurrentCommune = Annotated[str, Depends(get_current_commune)]
HabilitationParam = Annotated[Habilitation, Depends(get_habilitation)]


async def get_owned_habilitation(
    habilitation: HabilitationParam, client: CurrentClient
) -> Habilitation:
    habilitations.check_owner(habilitation, client)
    return habilitation


OwnedHabilitation = Annotated[Habilitation, Depends(get_owned_habilitation)]


def _ok() -> Response:
    """Express's `res.sendStatus(200)`."""
    return Response("OK", media_type="text/plain; charset=utf-8")


@router.post("/communes/{code_commune}/habilitations", status_code=201)
async def create_habilitation(
    code_commune: CurrentCommune, client: CurrentClient, session: Session
) -> JSONResponse:
    """A pending habilitation of the calling client for the commune (no e-mail, no strategy
    yet)."""
    habilitation = await habilitations.create(session, client, code_commune)
    log.info(
        "depot.habilitation_created",
        habilitation_id=habilitation.id,
        client_id=client.id,
        code_commune=code_commune,
    )
    return JSONResponse(habilitations.view(habilitation), status_code=201)


@router.get("/communes/{code_commune}/emails")
async def commune_emails(request: Request, code_commune: str) -> JSONResponse:
    """The mairie e-mail addresses of the commune in the Service-Public Annuaire (public; `[]`
    when there is none or the Annuaire cannot be reached). No check of the code, as in the
    reference; a code that cannot be a commune's is not sent to the Annuaire."""
    found = await annuaire.emails(_settings(request).habilitations, code_commune)
    return JSONResponse(found)


@router.post("/habilitations/are-valid", openapi_extra=openapi_body(AreValidBody))
async def are_valid(request: Request, client: CurrentClient, session: Session) -> JSONResponse:
    """`{"<id>": true|false}`: true iff the habilitation is accepted, the caller's own and not
    expired. Divergences: another client's habilitation is `false` (it cannot publish with
    it), and a body without `ids` is a 400 (a 500 in the reference)."""
    body = await parse_body(request, AreValidBody)
    return JSONResponse(await habilitations.are_valid(session, client, body.ids))


@router.get("/habilitations/{habilitation_id}")
async def get_habilitation_route(
    habilitation: OwnedHabilitation, client: CurrentClient
) -> JSONResponse:
    """The habilitation and its client. Never the PIN, nor its expiry or attempts left (the
    reference hid only the PIN)."""
    return JSONResponse({**habilitations.view(habilitation), "client": views.public_client(client)})


@router.put("/habilitations/{habilitation_id}/validate")
async def validate_habilitation(
    request: Request, habilitation: HabilitationParam, _: Admin, session: Session
) -> JSONResponse:
    """Admin: the habilitation is accepted, `strategy.type` `internal`."""
    accepted = await habilitations.accept_by_admin(
        session, habilitation, _settings(request).habilitations
    )
    return JSONResponse(habilitations.view(accepted))


@router.post(
    "/habilitations/{habilitation_id}/authentication/email/send-pin-code",
    openapi_extra=openapi_body(SendPinBody),
)
async def send_pin_code(
    request: Request, habilitation: OwnedHabilitation, session: Session, mailer: MailerDep
) -> Response:
    """E-mails a new 6-digit PIN (valid 24 hours) to `email`, which must be one of the
    commune's mairie addresses in the Annuaire; not again within 5 minutes. Divergence: when
    the mail cannot be delivered, 503 and nothing is recorded (the reference answered 500 with
    the PIN stored and the 5-minute delay running)."""
    body = await parse_body(request, SendPinBody)
    settings = _settings(request)
    await habilitations.send_pin(
        session,
        habilitation,
        body.email,
        settings=settings.habilitations,
        mailer=mailer,
        mail_settings=settings.mail,
    )
    return _ok()


@router.post(
    "/habilitations/{habilitation_id}/authentication/email/validate-pin-code",
    openapi_extra=openapi_body(ValidatePinBody),
)
async def validate_pin_code(
    request: Request, habilitation: OwnedHabilitation, session: Session
) -> Response:
    """The PIN: accepted, or 412 with the attempts left (10 in all, then rejected). Divergences:
    an expired PIN is refused whatever the code, and a PIN never sent is a 412 `Aucun code n’a
    été envoyé pour cette habilitation` (a 500 in the reference)."""
    body = await parse_body(request, ValidatePinBody)
    failure = await habilitations.check_pin(
        session, habilitation, body.code, _settings(request).habilitations
    )
    if failure is not None:
        # Answered, not raised: the failed attempt is committed with the request.
        return render_error(request, failure)
    return _ok()
