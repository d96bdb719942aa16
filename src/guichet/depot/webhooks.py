"""Signed webhooks to the publication API's clients (beyond the reference, which has none: its
clients poll `/current-revisions`).

A client subscribes an endpoint to `revision.published` (one of its revisions became its
commune's current one) and `revision.replaced` (its current revision was replaced by another
client's). A publish creates one delivery row per matching subscription and defers its job in
the publish's own transaction (`schedule_deliveries`); the job (`deliver`) posts the stored
body, signed as the Standard Webhooks specification says:

* `webhook-id`: the delivery's id, the same at every attempt (receivers deduplicate on it);
* `webhook-timestamp`: the attempt's Unix time (receivers refuse old ones: replays);
* `webhook-signature`: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` per secret, separated
  by spaces: after a rotation the previous secret signs too, for `rotation_overlap` seconds.

A 2xx ends the delivery; a 4xx (or an address that is not public) fails it at once; a 5xx, a
timeout or a connection error is retried after the configured growing delays. Every attempt is
recorded in the delivery log. The secret (`whsec_` + base64 of 32 random bytes) is shown once,
at creation and at rotation, and stored encrypted; jobs carry the delivery's id only.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ipaddress
import json
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import cast, func, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from guichet.core import services
from guichet.core.config import Settings, WebhookSettings
from guichet.core.errors import BadRequest, NotFound, ServiceUnavailable
from guichet.core.logging import get_logger
from guichet.depot.models import Client, Revision, new_id
from guichet.depot.webhooks_models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

log = get_logger(__name__)

SECRET_PREFIX = "whsec_"
KEY_FILE = "webhook_key"
MAX_SUBSCRIPTIONS_PER_CLIENT = 20
USER_AGENT = "Guichet-Webhooks/1"


class WebhooksNotConfigured(ServiceUnavailable):
    default_message = (
        "Les webhooks ne sont pas configurés sur ce serveur"
        " (GUICHET_NOTIFICATIONS__WEBHOOKS__ENCRYPTION_KEY)"
    )


class SubscriptionUnknown(NotFound):
    def __init__(self, subscription_id: str) -> None:
        super().__init__(f"Abonnement {subscription_id} introuvable")


class TooManySubscriptions(BadRequest):
    default_message = f"Un client ne peut avoir plus de {MAX_SUBSCRIPTIONS_PER_CLIENT} abonnements"


class DeliveryFailed(Exception):
    """A delivery attempt that may succeed later (5xx, timeout, connection): retried."""


# --- secrets ----------------------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _fernet(settings: Settings) -> Fernet:
    """The key encrypting secrets, derived from the configured one; in the embedded default,
    from one generated once under the home (mode 0600, shared by the API and its workers)."""
    configured = settings.notifications.webhooks.encryption_key
    if configured is not None:
        material = configured.get_secret_value().encode()
    elif settings.is_embedded:
        material = _home_key(settings.home)
    else:
        raise WebhooksNotConfigured()
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"guichet webhook secrets")
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(material)))


def _home_key(home: Path) -> bytes:
    path = home / KEY_FILE
    home.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting together never write two keys.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    material = base64.b64encode(secrets.token_bytes(32))
    with os.fdopen(fd, "wb") as file:
        file.write(material + b"\n")
    return material


def encrypt(settings: Settings, secret: str) -> bytes:
    return _fernet(settings).encrypt(secret.encode("ascii"))


def decrypt(settings: Settings, token: bytes) -> str:
    return _fernet(settings).decrypt(token).decode("ascii")


def signing_secrets(
    settings: Settings, subscription: WebhookSubscription, now: dt.datetime
) -> list[str]:
    """The current secret, then the previous one while its overlap lasts."""
    found = [decrypt(settings, subscription.secret)]
    expires = subscription.previous_expires_at
    if subscription.previous_secret is not None and expires is not None and now < expires:
        found.append(decrypt(settings, subscription.previous_secret))
    return found


def sign(secrets_: Sequence[str], msg_id: str, timestamp: int, body: str) -> str:
    """`webhook-signature`: one `v1,…` per secret, space-separated (the `standardwebhooks`
    package computes each)."""
    when = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return " ".join(Webhook(secret).sign(msg_id, when, body) for secret in secrets_)


# --- subscriptions ----------------------------------------------------------------------------


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def create_subscription(
    session: AsyncSession,
    settings: Settings,
    *,
    client: Client,
    url: str,
    events: list[str],
    description: str | None,
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its secret (returned here only)."""
    count = await session.scalar(
        select(func.count()).where(WebhookSubscription.client_id == client.id)
    )
    if (count or 0) >= MAX_SUBSCRIPTIONS_PER_CLIENT:
        raise TooManySubscriptions()
    secret = new_secret()
    subscription = WebhookSubscription(
        id=new_id(),
        client_id=client.id,
        url=url,
        events=events,
        description=description,
        secret=encrypt(settings, secret),
    )
    session.add(subscription)
    await session.flush()
    await session.refresh(subscription)
    log.info("depot.webhook_subscribed", subscription_id=subscription.id, client_id=client.id)
    return subscription, secret


async def rotate_secret(
    session: AsyncSession, settings: Settings, subscription: WebhookSubscription
) -> str:
    """A new secret; the current one keeps signing beside it for `rotation_overlap` seconds
    (receivers switch without losing an event)."""
    secret = new_secret()
    overlap = settings.notifications.webhooks.rotation_overlap
    subscription.previous_secret = subscription.secret
    subscription.previous_expires_at = utcnow() + dt.timedelta(seconds=overlap)
    subscription.secret = encrypt(settings, secret)
    subscription.updated_at = utcnow()
    await session.flush()
    log.info("depot.webhook_secret_rotated", subscription_id=subscription.id)
    return secret


async def load_subscription(
    session: AsyncSession, subscription_id: str, client: Client | None
) -> WebhookSubscription:
    """The subscription, if `client` owns it (None: the admin, who sees all). Another
    client's is as unknown as a missing one: its existence is not told."""
    found = await session.get(WebhookSubscription, subscription_id)
    if found is None or (client is not None and found.client_id != client.id):
        raise SubscriptionUnknown(subscription_id)
    return found


async def list_subscriptions(
    session: AsyncSession, client_id: str | None
) -> Sequence[WebhookSubscription]:
    query = select(WebhookSubscription).order_by(WebhookSubscription.created_at,
                                                 WebhookSubscription.id)  # fmt: skip
    if client_id is not None:
        query = query.where(WebhookSubscription.client_id == client_id)
    return (await session.scalars(query)).all()


async def list_deliveries(
    session: AsyncSession, subscription_id: str, *, limit: int, offset: int
) -> Sequence[WebhookDelivery]:
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return (await session.scalars(query)).all()


# --- events -----------------------------------------------------------------------------------


def js_date(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_body(event: WebhookEvent, data: dict[str, Any], now: dt.datetime) -> str:
    """The body, serialized once: every attempt signs and sends these very characters."""
    payload = {"type": str(event), "timestamp": js_date(now), "data": data}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


async def create_deliveries(
    session: AsyncSession, *, revision: Revision, client: Client, previous: Revision | None
) -> list[str]:
    """The deliveries of a publish (in its transaction): `revision.published` to the
    publisher's subscriptions, `revision.replaced` to those of the client whose current
    revision it replaced, when that is another client. Returns their ids."""
    now = utcnow()
    published = {
        "revisionId": revision.id,
        "codeCommune": revision.code_commune,
        "clientId": client.id,
        "publishedAt": js_date(revision.published_at),
        "previousRevisionId": previous.id if previous is not None else None,
    }
    wanted: list[tuple[WebhookEvent, str, dict[str, Any]]] = [
        (WebhookEvent.PUBLISHED, client.id, published)
    ]
    if previous is not None and previous.client_id != client.id:
        replaced = {
            "revisionId": previous.id,
            "codeCommune": previous.code_commune,
            "clientId": previous.client_id,
            "replacedBy": {
                "revisionId": revision.id,
                "clientId": client.id,
                "clientNom": client.nom,
                "publishedAt": js_date(revision.published_at),
            },
        }
        wanted.append((WebhookEvent.REPLACED, previous.client_id, replaced))
    ids: list[str] = []
    for event, client_id, data in wanted:
        subscriptions = await session.scalars(
            select(WebhookSubscription.id).where(
                WebhookSubscription.client_id == client_id,
                WebhookSubscription.is_active.is_(True),
                WebhookSubscription.events.contains([str(event)]),
            )
        )
        body = event_body(event, data, now)
        for subscription_id in subscriptions:
            delivery = WebhookDelivery(
                id=f"msg_{new_id()}",
                subscription_id=subscription_id,
                event=str(event),
                revision_id=data["revisionId"],
                code_commune=revision.code_commune,
                body=body,
            )
            session.add(delivery)
            ids.append(delivery.id)
    if ids:
        await session.flush()
    return ids


# --- delivery ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    error: str | None
    retry: bool  # worth another attempt (5xx, timeout, connection)
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class _Ready:
    url: str
    body: str
    secrets: list[str]


async def deliver(delivery_id: str, *, previous_attempts: int) -> None:
    """One attempt of a delivery (a no-op once it succeeded or failed). Raises
    `DeliveryFailed` when the attempt may succeed later and attempts are left; records the
    delivery failed after the last."""
    current = services.current()
    settings = current.settings
    hooks = settings.notifications.webhooks
    ready = await _prepare(settings, delivery_id)
    if ready is None:
        return
    attempt = await _attempt(hooks, delivery_id, ready)
    last = previous_attempts >= len(hooks.retry_delays)
    if attempt.succeeded:
        status = DeliveryStatus.SUCCEEDED
    elif attempt.retry and not last:
        status = DeliveryStatus.PENDING
    else:
        status = DeliveryStatus.FAILED
    await _record(delivery_id, attempt, status)
    log.info(
        "depot.webhook_attempt",
        delivery_id=delivery_id,
        status_code=attempt.status_code,
        error=attempt.error,
        outcome=str(status),
    )
    if attempt.retry and not attempt.succeeded:
        raise DeliveryFailed(attempt.error or f"HTTP {attempt.status_code}")


async def _prepare(settings: Settings, delivery_id: str) -> _Ready | None:
    async with services.transaction() as session:
        row = (
            await session.execute(
                select(WebhookDelivery, WebhookSubscription)
                .join(WebhookSubscription)
                .where(WebhookDelivery.id == delivery_id)
            )
        ).first()
        if row is None:
            return None  # the subscription was deleted with its deliveries
        delivery, subscription = row
        if delivery.status != DeliveryStatus.PENDING:
            return None  # done already: a job that runs twice sends nothing more
        if not subscription.is_active:
            return None
        try:
            found = signing_secrets(settings, subscription, utcnow())
        except InvalidToken:
            log.error("depot.webhook_secret_unreadable", subscription_id=subscription.id)
            raise
        return _Ready(subscription.url, delivery.body, found)


async def _attempt(hooks: WebhookSettings, delivery_id: str, ready: _Ready) -> Attempt:
    started = time.monotonic()

    def done(status: int | None, error: str | None, retry: bool) -> Attempt:
        return Attempt(status, error, retry, int((time.monotonic() - started) * 1000))

    refusal = await check_destination(ready.url, allow_private=hooks.allow_private_addresses)
    if refusal is not None:
        return done(None, refusal, False)
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(ready.secrets, delivery_id, timestamp, ready.body),
    }
    try:
        async with httpx.AsyncClient(
            timeout=hooks.timeout, trust_env=False, follow_redirects=False
        ) as http:
            response = await http.post(ready.url, content=ready.body.encode(), headers=headers)
    except httpx.TimeoutException:
        return done(None, "délai dépassé", True)
    except httpx.TransportError as exc:
        return done(None, f"connexion impossible ({type(exc).__name__})", True)
    status = response.status_code
    return done(status, None if 200 <= status < 300 else f"HTTP {status}", status >= 500)


async def _record(delivery_id: str, attempt: Attempt, status: DeliveryStatus) -> None:
    entry = {
        "at": js_date(utcnow()),
        "statusCode": attempt.status_code,
        "error": attempt.error,
        "durationMs": attempt.duration_ms,
    }
    async with services.transaction() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(
                attempts=WebhookDelivery.attempts.op("||")(cast([entry], JSONB)),
                attempts_count=WebhookDelivery.attempts_count + 1,
                status=str(status),
                delivered_at=utcnow() if status == DeliveryStatus.SUCCEEDED else None,
            )
        )


async def check_destination(url: str, *, allow_private: bool) -> str | None:
    """Why `url` may not be called, or None: an http(s) URL whose host resolves to public
    addresses only (no loopback, private, link-local or reserved address: the server's own
    network is no client's business)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return "adresse invalide"
    if allow_private:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port)
    except OSError:
        return "nom d’hôte introuvable"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return "adresse non publique refusée"
    return None


# --- views ------------------------------------------------------------------------------------


def subscription_view(subscription: WebhookSubscription) -> dict[str, Any]:
    """Never the secret (see `created_view`)."""
    return {
        "id": subscription.id,
        "clientId": subscription.client_id,
        "url": subscription.url,
        "events": subscription.events,
        "description": subscription.description,
        "isActive": subscription.is_active,
        "secretRotatedAt": None
        if subscription.previous_expires_at is None
        else js_date(subscription.updated_at),
        "createdAt": js_date(subscription.created_at),
        "updatedAt": js_date(subscription.updated_at),
    }


def created_view(subscription: WebhookSubscription, secret: str) -> dict[str, Any]:
    """The only answer that holds the secret: creation and rotation."""
    return {**subscription_view(subscription), "secret": secret}


def delivery_view(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "subscriptionId": delivery.subscription_id,
        "event": delivery.event,
        "revisionId": delivery.revision_id,
        "codeCommune": delivery.code_commune,
        "status": delivery.status,
        "attemptsCount": delivery.attempts_count,
        "attempts": delivery.attempts,
        "payload": json.loads(delivery.body),
        "createdAt": js_date(delivery.created_at),
        "deliveredAt": js_date(delivery.delivered_at),
    }
