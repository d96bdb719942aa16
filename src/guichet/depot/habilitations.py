"""Habilitations (§3.4): the authorization of one client to publish for one commune, obtained by
a PIN e-mailed to a mairie address of the Service-Public Annuaire, by a mairie agent signing in
with ProConnect (see `proconnect`), or granted by an admin.

Differences from the reference, each deliberate (wire format unchanged):

* a habilitation is the business of the client that created it: another client can neither
  read it, nor send or check its PIN, nor publish with it (the reference let any client do the
  first three);
* the PIN never leaves the database, and is stored as a salted scrypt hash (see `pin`): neither
  `GET /habilitations/{id}` nor a published revision's snapshot shows the PIN, its expiry or the
  attempts left (the reference showed the two last everywhere, and the PIN in revisions);
* an expired PIN is refused whatever the code (the reference checked expiry only once the code
  was right), checking a PIN that was never sent is a 412 (a 500 there), and a failed attempt
  is counted under a row lock, so concurrent guesses cannot get more than 10 tries;
* demo mode is a true boolean setting (any non-empty string there, even "0");
* with `habilitations.expiry_days` set, an accepted habilitation stops being usable after that
  many days (off by default, as the reference today). Reminder e-mails before the end are not
  built yet.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet import cog
from guichet.core.config import HabilitationSettings, MailSettings
from guichet.core.errors import GuichetError
from guichet.core.logging import get_logger
from guichet.core.mail import Mailer, build_message
from guichet.depot import annuaire, errors, pin, proconnect
from guichet.depot.models import (
    Client,
    Habilitation,
    HabilitationStatus,
    HabilitationStrategy,
)
from guichet.depot.schemas import is_object_id
from guichet.depot.service import utcnow
from guichet.depot.views import js_date

log = get_logger(__name__)

MAX_ATTEMPTS = 10
PIN_VALIDITY = dt.timedelta(hours=24)
RESEND_DELAY = dt.timedelta(minutes=5)
TOO_MANY_ATTEMPTS = "Trop de tentative de code raté"
SIRET_MISMATCH = "Le siret ne correspond à la commune"  # the reference's words
PIN_SUBJECT = "Demande de code d’identification"

JSON = dict[str, Any]


# --- reading --------------------------------------------------------------------------------


async def load(session: AsyncSession, habilitation_id: str, *, lock: bool = False) -> Habilitation:
    """The habilitation: 400 `Habilitation Id <v> is not ObjectId`, 404 if unknown. With
    `lock`, re-read under a row lock (concurrent PIN checks of one habilitation queue up)."""
    if not is_object_id(habilitation_id):
        raise errors.invalid_id("Habilitation", habilitation_id)
    query = select(Habilitation).where(Habilitation.id == habilitation_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    found = await session.scalar(query)
    if found is None:
        raise errors.unknown_id("Habilitation", habilitation_id)
    return found


def check_owner(habilitation: Habilitation, client: Client) -> None:
    if habilitation.client_id != client.id:
        raise errors.NotHabilitationOwner()


def is_usable(habilitation: Habilitation, *, client_id: str, now: dt.datetime) -> bool:
    """Accepted, owned by the client, and not past its expiry (if habilitations expire)."""
    return (
        habilitation.client_id == client_id
        and habilitation.status == HabilitationStatus.ACCEPTED
        and habilitation.accepted_at is not None
        and (habilitation.expires_at is None or habilitation.expires_at > now)
    )


async def are_valid(session: AsyncSession, client: Client, ids: Sequence[str]) -> dict[str, bool]:
    """`{id: usable}` for each id asked; another client's habilitation is never valid here,
    since it could never be used by this client to publish."""
    wanted = [i for i in ids if is_object_id(i)]
    found = (
        (await session.scalars(select(Habilitation).where(Habilitation.id.in_(wanted)))).all()
        if wanted
        else []
    )
    now = utcnow()
    usable = {h.id for h in found if is_usable(h, client_id=client.id, now=now)}
    return {i: i in usable for i in ids}


async def usable_for_publication(
    session: AsyncSession, client: Client, code_commune: str, habilitation_id: str
) -> Habilitation:
    """The habilitation a publish relies on: the client's own, for this commune, usable now;
    otherwise 404 `L’habilitation <id> n’est pas valide` (one message for every case, so that
    the answer tells nothing about other clients' habilitations)."""
    found = await session.get(Habilitation, habilitation_id)
    if (
        found is None
        or found.code_commune != code_commune
        or not is_usable(found, client_id=client.id, now=utcnow())
    ):
        raise errors.HabilitationInvalid(habilitation_id)
    return found


# --- writing --------------------------------------------------------------------------------


async def create(session: AsyncSession, client: Client, code_commune: str) -> Habilitation:
    habilitation = Habilitation(
        client_id=client.id, code_commune=code_commune, status=HabilitationStatus.PENDING
    )
    session.add(habilitation)
    await session.flush()
    await session.refresh(habilitation)
    return habilitation


def _clear_pin(habilitation: Habilitation) -> None:
    """A PIN works once at most: accepted or rejected, nothing is left to compare with."""
    habilitation.pin_hash = None
    habilitation.pin_expires_at = None
    habilitation.remaining_attempts = None


def _accept(
    habilitation: Habilitation, settings: HabilitationSettings, strategy: HabilitationStrategy
) -> None:
    now = utcnow()
    habilitation.status = HabilitationStatus.ACCEPTED
    habilitation.strategy_type = strategy
    habilitation.accepted_at = now
    habilitation.authentication_error = None
    habilitation.expires_at = (
        now + dt.timedelta(days=settings.expiry_days) if settings.expiry_days else None
    )
    habilitation.updated_at = now
    _clear_pin(habilitation)


async def accept_by_admin(
    session: AsyncSession, habilitation: Habilitation, settings: HabilitationSettings
) -> Habilitation:
    """`PUT /habilitations/{id}/validate`: accepted, `strategy.type` internal (any status, as
    in the reference: the admin's word overrides a rejection)."""
    habilitation = await load(session, habilitation.id, lock=True)
    _accept(habilitation, settings, HabilitationStrategy.INTERNAL)
    await session.flush()
    log.info("depot.habilitation_accepted", habilitation_id=habilitation.id, strategy="internal")
    return habilitation


async def conclude_proconnect(
    session: AsyncSession,
    habilitation_id: str,
    *,
    siret_matches: bool,
    version: int,
    settings: HabilitationSettings,
) -> Habilitation | None:
    """The end of a ProConnect sign-in: accepted (`strategy.type` proconnect) when the agent's
    SIRET is a mairie's of the commune, else rejected with the reference's
    `authenticationError`. Under the row lock, and only if the habilitation is still the one
    the flow started from (`version`, see `proconnect.version_of`): None otherwise, nothing
    changed (a replayed or overtaken callback)."""
    habilitation = await load(session, habilitation_id, lock=True)
    if habilitation.status != HabilitationStatus.PENDING:
        return None
    if proconnect.version_of(habilitation.updated_at) != version:
        return None
    if siret_matches:
        _accept(habilitation, settings, HabilitationStrategy.PROCONNECT)
        await session.flush()
        log.info(
            "depot.habilitation_accepted", habilitation_id=habilitation.id, strategy="proconnect"
        )
        return habilitation
    now = utcnow()
    habilitation.status = HabilitationStatus.REJECTED
    habilitation.strategy_type = HabilitationStrategy.PROCONNECT
    habilitation.rejected_at = now
    habilitation.updated_at = now
    habilitation.authentication_error = SIRET_MISMATCH
    _clear_pin(habilitation)
    await session.flush()
    log.info("depot.habilitation_rejected", habilitation_id=habilitation.id, strategy="proconnect")
    return habilitation


def _check_pending(habilitation: Habilitation) -> None:
    if habilitation.status == HabilitationStatus.ACCEPTED:
        raise errors.HabilitationAlreadyAccepted()
    if habilitation.status == HabilitationStatus.REJECTED:
        raise errors.HabilitationRejected()


async def send_pin(
    session: AsyncSession,
    habilitation: Habilitation,
    email: str,
    *,
    settings: HabilitationSettings,
    mailer: Mailer,
    mail_settings: MailSettings,
) -> None:
    """Send a new PIN to `email`, one of the commune's mairie addresses in the Annuaire.

    Sent from the request, not from a job: the PIN must not be written in clear anywhere (a
    job's arguments are stored and logged), and the caller waits for it. The row stays locked
    from the re-check to the commit, so two concurrent requests cannot both pass the 5-minute
    delay; a failed delivery rolls everything back (no PIN stored, no delay to wait).
    """
    _check_pending(habilitation)
    if email not in await annuaire.emails(settings, habilitation.code_commune):
        raise errors.EmailNotOfCommune()
    habilitation = await load(session, habilitation.id, lock=True)
    _check_pending(habilitation)
    now = utcnow()
    if habilitation.pin_sent_at is not None and now < habilitation.pin_sent_at + RESEND_DELAY:
        raise errors.PinSentRecently()
    code = pin.generate()
    habilitation.email_commune = email
    habilitation.strategy_type = HabilitationStrategy.EMAIL
    habilitation.pin_hash = await asyncio.to_thread(pin.hash_pin, code)
    habilitation.pin_sent_at = now
    habilitation.pin_expires_at = now + PIN_VALIDITY
    habilitation.remaining_attempts = MAX_ATTEMPTS
    habilitation.authentication_error = None
    habilitation.updated_at = now
    await session.flush()
    message = build_message(
        mail_settings, to=email, subject=PIN_SUBJECT, text=_pin_text(habilitation, code)
    )
    try:
        await mailer.send(message)
    except Exception as exc:  # SMTP refusal, network, timeout: the caller may retry at once
        log.error(
            "depot.habilitation_pin_mail_failed",
            habilitation_id=habilitation.id,
            error=type(exc).__name__,
        )
        raise errors.PinMailFailed() from None
    log.info("depot.habilitation_pin_sent", habilitation_id=habilitation.id)


def _pin_text(habilitation: Habilitation, code: str) -> str:
    commune = cog.commune(habilitation.code_commune)
    nom = commune.nom if commune is not None else habilitation.code_commune
    return (
        "Bonjour,\n\n"
        "Une demande de publication de la Base Adresse Locale de la commune de "
        f"{nom} ({habilitation.code_commune}) a été faite en votre nom.\n\n"
        f"Voici votre code d’identification : {code}\n\n"
        "Saisissez-le dans l’outil de publication pour habiliter cette demande. Il est valable "
        "24 heures et ne peut servir qu’une fois.\n\n"
        "Si vous n’êtes pas à l’origine de cette demande, ignorez ce courriel : rien ne sera "
        "publié sans ce code.\n\n"
        "L’équipe adresse\n"
    )


async def check_pin(
    session: AsyncSession, habilitation: Habilitation, code: str, settings: HabilitationSettings
) -> GuichetError | None:
    """Check a PIN: None when the habilitation is now accepted, else the error to answer.

    A failed attempt changes the row (one attempt fewer, or rejected at the last one): the
    error is returned, not raised, so that the request's transaction commits it.
    """
    _check_pending(habilitation)
    habilitation = await load(session, habilitation.id, lock=True)
    _check_pending(habilitation)
    if settings.demo_mode and code == pin.DEMO_PIN:
        _accept(habilitation, settings, HabilitationStrategy.EMAIL)
        await session.flush()
        log.info("depot.habilitation_accepted", habilitation_id=habilitation.id, strategy="demo")
        return None
    stored, expires_at = habilitation.pin_hash, habilitation.pin_expires_at
    if stored is None or expires_at is None or habilitation.remaining_attempts is None:
        return errors.NoPinSent()
    if utcnow() > expires_at:
        return errors.PinExpired()
    if not await asyncio.to_thread(pin.matches, code, stored):
        return await _failed_attempt(session, habilitation)
    _accept(habilitation, settings, HabilitationStrategy.EMAIL)
    await session.flush()
    log.info("depot.habilitation_accepted", habilitation_id=habilitation.id, strategy="email")
    return None


async def _failed_attempt(session: AsyncSession, habilitation: Habilitation) -> GuichetError:
    remaining = max((habilitation.remaining_attempts or 0) - 1, 0)
    now = utcnow()
    habilitation.updated_at = now
    if remaining > 0:
        habilitation.remaining_attempts = remaining
        await session.flush()
        log.info("depot.habilitation_pin_wrong", habilitation_id=habilitation.id)
        return errors.PinWrong(remaining)
    habilitation.status = HabilitationStatus.REJECTED
    habilitation.rejected_at = now
    habilitation.authentication_error = TOO_MANY_ATTEMPTS
    _clear_pin(habilitation)
    await session.flush()
    log.info("depot.habilitation_rejected", habilitation_id=habilitation.id)
    return errors.PinRejected()


# --- wire shapes ----------------------------------------------------------------------------


def strategy_view(habilitation: Habilitation) -> JSON | None:
    """`strategy`, without the PIN, its expiry or the attempts left."""
    if habilitation.strategy_type is None:
        return None
    out: JSON = {"type": habilitation.strategy_type}
    if habilitation.strategy_type == HabilitationStrategy.EMAIL and habilitation.pin_sent_at:
        out["createdAt"] = js_date(habilitation.pin_sent_at)
    if habilitation.authentication_error is not None:
        out["authenticationError"] = habilitation.authentication_error
    return out


def view(habilitation: Habilitation) -> JSON:
    out: JSON = {
        "id": habilitation.id,
        "clientId": habilitation.client_id,
        "codeCommune": habilitation.code_commune,
        "emailCommune": habilitation.email_commune,
        "status": habilitation.status,
        "strategy": strategy_view(habilitation),
        "acceptedAt": js_date(habilitation.accepted_at),
        "rejectedAt": js_date(habilitation.rejected_at),
        "createdAt": js_date(habilitation.created_at),
        "updatedAt": js_date(habilitation.updated_at),
    }
    if habilitation.expires_at is not None:  # only when habilitations expire (a setting)
        out["expiresAt"] = js_date(habilitation.expires_at)
    return out


def snapshot(habilitation: Habilitation) -> JSON:
    """What a published revision keeps of its habilitation (public, like the revision)."""
    return {
        "id": habilitation.id,
        "emailCommune": habilitation.email_commune,
        "codeCommune": habilitation.code_commune,
        "createdAt": js_date(habilitation.created_at),
        "updatedAt": js_date(habilitation.updated_at),
        "strategy": strategy_view(habilitation),
    }
