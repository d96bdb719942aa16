"""Reminders before an accepted habilitation expires (asked for by the editors' community; the
reference has no expiry at all, hence no reminder).

With `habilitations.expiry_days` set, a habilitation stops being usable at publish after that
many days. `reminder_days` before, its client — the editor who publishes with it (the
mandataire's address) — and the mairie that accepted it (the address the PIN went to, if any)
get one e-mail in French saying when, and how to ask for a new one. A periodic job finds the
habilitations due; each is locked, e-mailed and recorded as reminded in one short transaction
(a crash between the two resends that one e-mail, with the same content).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet import cog
from guichet.core import services
from guichet.core.logging import get_logger
from guichet.core.mail import build_message
from guichet.depot.models import Client, Habilitation, HabilitationStatus, Mandataire

log = get_logger(__name__)

BATCH = 500  # habilitations reminded per run at most (a backlog is spread over several runs)
_PARIS = ZoneInfo("Europe/Paris")


def _due(now: dt.datetime, before: dt.timedelta) -> Select[Habilitation]:
    return select(Habilitation).where(
        Habilitation.status == HabilitationStatus.ACCEPTED,
        Habilitation.expires_at.is_not(None),
        Habilitation.expires_at > now,
        Habilitation.expires_at <= now + before,
        Habilitation.expiry_reminded_at.is_(None),
    )


async def remind_due(now: dt.datetime | None = None) -> int:
    """E-mail every habilitation due for its reminder; how many were reminded now."""
    built = services.current()
    settings = built.settings.habilitations
    if settings.expiry_days is None:
        return 0
    now = now or dt.datetime.now(dt.UTC)
    before = dt.timedelta(days=settings.reminder_days)
    async with built.transaction() as session:
        ids = list(await session.scalars(_due(now, before).with_only_columns(Habilitation.id)
                                         .limit(BATCH)))  # fmt: skip
    sent = 0
    for habilitation_id in ids:
        sent += await _remind(habilitation_id, now, before)
    return sent


async def _remind(habilitation_id: str, now: dt.datetime, before: dt.timedelta) -> bool:
    built = services.current()
    async with built.transaction() as session:
        habilitation = await session.scalar(
            _due(now, before)
            .where(Habilitation.id == habilitation_id)
            .with_for_update(skip_locked=True)
        )
        if habilitation is None:  # reminded meanwhile, or being reminded by another worker
            return False
        recipients = await _recipients(session, habilitation)
        if recipients:
            assert habilitation.expires_at is not None
            message = build_message(
                built.settings.mail, to=recipients,
                subject=subject(habilitation.code_commune, habilitation.expires_at),
                text=text(habilitation.code_commune, habilitation.expires_at, now),
            )  # fmt: skip
            await built.mailer.send(message)
        habilitation.expiry_reminded_at = now
    log.info("depot.habilitation_reminded", habilitation_id=habilitation_id,
             recipients=len(recipients))  # fmt: skip
    return True


async def _recipients(session: AsyncSession, habilitation: Habilitation) -> list[str]:
    found: list[str] = []
    client = await session.get(Client, habilitation.client_id)
    if client is not None:
        mandataire = await session.get(Mandataire, client.mandataire_id)
        if mandataire is not None and mandataire.email:
            found.append(mandataire.email)
    if habilitation.email_commune and habilitation.email_commune not in found:
        found.append(habilitation.email_commune)
    return found


def _commune(code: str) -> str:
    commune = cog.commune(code)
    return f"{commune.nom} ({code})" if commune is not None else code


def _day(moment: dt.datetime) -> str:
    return moment.astimezone(_PARIS).strftime("%d/%m/%Y")


def subject(code: str, expires_at: dt.datetime) -> str:
    return f"Habilitation pour {_commune(code)} : elle expire le {_day(expires_at)}"


def text(code: str, expires_at: dt.datetime, now: dt.datetime) -> str:
    days = max(1, (expires_at - now).days)
    return (
        "Bonjour,\n\n"
        f"L’habilitation qui permet de publier la Base Adresse Locale de {_commune(code)} "
        f"expire le {_day(expires_at)}, dans {days} jour{'s' if days > 1 else ''}.\n\n"
        "Passé cette date, les publications pour cette commune seront refusées. Pour continuer "
        "à publier sans interruption, demandez dès maintenant une nouvelle habilitation depuis "
        "votre outil de gestion des adresses : un code sera envoyé à la mairie, ou un agent de "
        "la mairie la validera avec ProConnect.\n\n"
        "Ce message est envoyé une seule fois.\n"
    )
