"""ProConnect routes (§2.4 #21–22): public browser redirects, hidden from the OpenAPI schema
as in the reference. The protocol and every deliberate difference: `guichet.depot.proconnect`.

1. `GET /habilitations/{id}/authentication/proconnect?redirectUrl=…` — 302 to the provider
   (state and nonce in a signed cookie), or straight back to `redirectUrl` when the
   habilitation is no longer pending;
2. `GET /habilitations/proconnect/callback?code=…&state=…` — the habilitation is accepted
   (the agent's SIRET is one of the commune's mairies in the Annuaire) or rejected, then 302
   to `redirectUrl`. The decision is committed before the redirect (the reference redirected
   before its update was written).
"""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse, RedirectResponse
from joserfc.jwk import OctKey

from guichet.core.config import Settings
from guichet.core.db import Session
from guichet.core.errors import route_class
from guichet.core.logging import get_logger
from guichet.depot import annuaire, errors, habilitations, proconnect
from guichet.depot.habilitations_router import HabilitationParam
from guichet.depot.models import HabilitationStatus

log = get_logger(__name__)

router = APIRouter(
    route_class=route_class(errors.NEST_FORMAT), tags=["habilitations"], include_in_schema=False
)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _cookie_key(request: Request) -> OctKey:
    """Resolved once per app (the home's secret file is read, or created, on first use)."""
    key: OctKey | None = getattr(request.app.state, "proconnect_cookie_key", None)
    if key is None:
        key = proconnect.cookie_key(_settings(request))
        request.app.state.proconnect_cookie_key = key
    return key


def _text(status: int, message: str) -> Response:
    """The reference's guard answers these with Express's `res.send(text)`."""
    return PlainTextResponse(message, status_code=status)


def _clear_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        proconnect.COOKIE,
        path=proconnect.cookie_path(settings),
        secure=proconnect.is_secure(settings),
        httponly=True,
        samesite="lax",
    )


@router.get("/habilitations/{habilitation_id}/authentication/proconnect")
async def start(
    request: Request,
    habilitation: HabilitationParam,
    session: Session,
    redirect_url: Annotated[str | None, Query(alias="redirectUrl")] = None,
) -> Response:
    """Public: whoever signs in at ProConnect for the mairie habilitates the client that
    created the habilitation (the reference's model)."""
    settings = _settings(request)
    if not redirect_url:
        return _text(400, "redirectUrl param is mandatory")
    if not proconnect.is_allowed_redirect(redirect_url, settings.proconnect.redirect_origins):
        return _text(400, "redirectUrl param is not correct")
    if habilitation.status != HabilitationStatus.PENDING:
        return RedirectResponse(redirect_url, status_code=302)
    if not settings.proconnect.enabled:
        raise errors.ProConnectDisabled()
    flow = proconnect.new_flow(habilitation.id, redirect_url, habilitation.updated_at)
    await session.commit()  # no connection held while the provider answers
    try:
        provider = await proconnect.discover(settings.proconnect)
    except (ValueError, httpx.HTTPError) as exc:
        log.warning("depot.proconnect_discovery_failed", reason=type(exc).__name__)
        raise errors.ProConnectUnreachable() from None
    response = RedirectResponse(
        proconnect.authorization_url(provider, settings, flow), status_code=302
    )
    response.set_cookie(
        proconnect.COOKIE,
        proconnect.seal(flow, _cookie_key(request), settings.proconnect.session_max_age),
        max_age=settings.proconnect.session_max_age,
        path=proconnect.cookie_path(settings),
        secure=proconnect.is_secure(settings),
        httponly=True,
        samesite="lax",
    )
    log.info("depot.proconnect_started", habilitation_id=habilitation.id)
    return response


@router.get(proconnect.CALLBACK_PATH)
async def callback(
    request: Request,
    session: Session,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    settings = _settings(request)
    if not settings.proconnect.enabled:
        raise errors.ProConnectDisabled()
    flow = proconnect.unseal(request.cookies.get(proconnect.COOKIE), _cookie_key(request))
    if not state or state != flow.state:
        raise errors.OAuthStateInvalid()
    habilitation = await habilitations.load(session, flow.habilitation_id)
    if (
        habilitation.status != HabilitationStatus.PENDING
        or proconnect.version_of(habilitation.updated_at) != flow.version
    ):
        raise errors.ProConnectSessionInvalid()  # used already, or overtaken
    if error is not None or not code:
        # The agent cancelled or the provider refused: back to the editor, nothing changed.
        log.info("depot.proconnect_cancelled", habilitation_id=flow.habilitation_id, error=error)
        return _back(flow, settings)
    code_commune = habilitation.code_commune
    await session.commit()  # no connection held while the provider and the Annuaire answer
    identity = await proconnect.identify(settings, flow, code)
    mairies = await annuaire.mairies(settings.habilitations, code_commune)
    if not mairies:
        # Unreachable Annuaire or no mairie: never a rejection the agent could not undo.
        raise errors.MairiesUnavailable()
    matches = identity.siret is not None and any(m.siret == identity.siret for m in mairies)
    concluded = await habilitations.conclude_proconnect(
        session,
        flow.habilitation_id,
        siret_matches=matches,
        version=flow.version,
        settings=settings.habilitations,
    )
    if concluded is None:  # another callback of the same flow won meanwhile
        raise errors.ProConnectSessionInvalid()
    await session.commit()  # written before the browser is sent back
    return _back(flow, settings)


def _back(flow: proconnect.Flow, settings: Settings) -> Response:
    response = RedirectResponse(flow.redirect_url, status_code=302)
    _clear_cookie(response, settings)
    return response
