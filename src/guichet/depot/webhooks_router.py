"""Webhook subscriptions and their delivery log (Guichet's, beyond the reference).

A client manages its own subscriptions with its token; the admin token sees and manages all
(and creates one for a client with `clientId`). Authentication comes first, before the path is
read: another client's subscription answers 404 like a missing one (its existence is not
told). The secret appears in the answers of creation and rotation only.

    POST   /webhooks                           {url, events?, description?, clientId? (admin)}
    GET    /webhooks                           ?clientId= (admin)
    GET    /webhooks/{id}
    DELETE /webhooks/{id}
    POST   /webhooks/{id}/rotate-secret
    GET    /webhooks/{id}/deliveries           ?limit= (≤ 200, default 50) &offset=
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import Field, StrictStr, field_validator

from guichet.core.auth import is_admin_header
from guichet.core.config import Settings
from guichet.core.db import Session
from guichet.core.errors import BadRequest, route_class
from guichet.core.logging import get_logger
from guichet.depot import errors, webhooks
from guichet.depot.bodies import openapi_body, parse_body
from guichet.depot.deps import get_current_client, load
from guichet.depot.models import Client
from guichet.depot.schemas import _Body
from guichet.depot.webhooks_models import WebhookEvent

log = get_logger(__name__)

router = APIRouter(route_class=route_class(errors.NEST_FORMAT), tags=["webhooks"])

_header = APIKeyHeader(
    name="Authorization",
    scheme_name="client-or-admin-token",
    description="`Token <client token>` (its own subscriptions) or `Token <admin token>` (all)",
    auto_error=False,
)

EVENTS = [str(event) for event in WebhookEvent]


@dataclass(frozen=True)
class Caller:
    client: Client | None  # None: the admin

    @property
    def is_admin(self) -> bool:
        return self.client is None


async def get_caller(
    request: Request, session: Session, authorization: Annotated[str | None, Depends(_header)]
) -> Caller:
    settings: Settings = request.app.state.settings
    if is_admin_header(authorization, settings.admin_token):
        return Caller(None)
    return Caller(await get_current_client(session, authorization))


CallerDep = Annotated[Caller, Depends(get_caller)]


class SubscriptionCreate(_Body):
    url: StrictStr = Field(max_length=2000)
    events: list[StrictStr] = Field(default_factory=lambda: list(EVENTS), min_length=1)
    description: StrictStr | None = Field(default=None, max_length=500)
    clientId: StrictStr | None = None  # the wire name

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("{field} must be an URL address")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        if any(event not in EVENTS for event in value):
            raise ValueError("each value in {field} must be one of: " + ", ".join(EVENTS))
        return list(dict.fromkeys(value))


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _owner(session: Session, caller: Caller, client_id: str | None) -> Client:
    """The subscribing client: the caller itself, or the one the admin names."""
    if caller.client is not None:
        if client_id is not None and client_id != caller.client.id:
            raise BadRequest("clientId ne peut désigner qu’un autre client que l’appelant")
        return caller.client
    if client_id is None:
        raise BadRequest("clientId est requis avec le jeton d’administration")
    return await load(session, Client, "Client", client_id)


@router.post("/webhooks", status_code=201, openapi_extra=openapi_body(SubscriptionCreate))
async def create_subscription(
    request: Request, caller: CallerDep, session: Session
) -> JSONResponse:
    """A subscription; the answer holds its signing secret, shown this once."""
    body = await parse_body(request, SubscriptionCreate)
    owner = await _owner(session, caller, body.clientId)
    subscription, secret = await webhooks.create_subscription(
        session, _settings(request), client=owner, url=body.url, events=body.events,
        description=body.description,
    )  # fmt: skip
    return JSONResponse(webhooks.created_view(subscription, secret), status_code=201)


@router.get("/webhooks")
async def list_subscriptions(
    caller: CallerDep,
    session: Session,
    client_id: Annotated[str | None, Query(alias="clientId")] = None,
) -> JSONResponse:
    """The caller's subscriptions (the admin: all, or one client's)."""
    owner = caller.client.id if caller.client is not None else client_id
    found = await webhooks.list_subscriptions(session, owner)
    return JSONResponse([webhooks.subscription_view(item) for item in found])


@router.get("/webhooks/{subscription_id}")
async def get_subscription(
    subscription_id: str, caller: CallerDep, session: Session
) -> JSONResponse:
    subscription = await webhooks.load_subscription(session, subscription_id, caller.client)
    return JSONResponse(webhooks.subscription_view(subscription))


@router.delete("/webhooks/{subscription_id}", status_code=204)
async def delete_subscription(
    subscription_id: str, caller: CallerDep, session: Session
) -> Response:
    """The subscription and its delivery log; deliveries still waiting are dropped."""
    subscription = await webhooks.load_subscription(session, subscription_id, caller.client)
    await session.delete(subscription)
    await session.flush()
    log.info("depot.webhook_unsubscribed", subscription_id=subscription_id)
    return Response(status_code=204)


@router.post("/webhooks/{subscription_id}/rotate-secret")
async def rotate_secret(
    request: Request, subscription_id: str, caller: CallerDep, session: Session
) -> JSONResponse:
    """A new secret, shown this once; the previous one keeps signing beside it for
    `rotation_overlap` seconds (a day by default)."""
    subscription = await webhooks.load_subscription(session, subscription_id, caller.client)
    secret = await webhooks.rotate_secret(session, _settings(request), subscription)
    return JSONResponse(webhooks.created_view(subscription, secret))


@router.get("/webhooks/{subscription_id}/deliveries")
async def list_deliveries(
    subscription_id: str,
    caller: CallerDep,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    """The delivery log, newest first: each event's payload, status and attempts."""
    await webhooks.load_subscription(session, subscription_id, caller.client)
    found = await webhooks.list_deliveries(session, subscription_id, limit=limit, offset=offset)
    items: list[dict[str, Any]] = [webhooks.delivery_view(item) for item in found]
    return JSONResponse(items)
