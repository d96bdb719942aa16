"""The messages that follow a publish, as the reference words them: the team-chat message
(Mattermost/Slack incoming webhook) and the takeover e-mail to a partner whose BAL a commune
took back. Each is sent once per revision (`PublishNotice`), from a retried job.

Takeover (the reference's `onForcePublish`): the previous current revision was published by a
client that is not one of the platform's own ("managed") clients, and the new one by Mes
Adresses or the publication form; the previous client's chef de file is told (its mandataire
without one). The reference compared client ids with these slugs, which live in `legacyId`
since its PostgreSQL migration, so its e-mail never left (§9 defect 9): here `legacy_id` is
compared.
"""

from __future__ import annotations

import re
from typing import Any

import aiosmtplib
import httpx
from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from guichet import cog
from guichet.core import services
from guichet.core.logging import get_logger
from guichet.core.mail import build_message
from guichet.depot.models import ChefDeFile, Client, Mandataire, Revision, RevisionStatus
from guichet.depot.webhooks_models import NoticeKind, PublishNotice

log = get_logger(__name__)

MANAGED_CLIENTS = frozenset(
    {"mes-adresses", "moissonneur-bal", "formulaire-publication", "guichet-adresse"}
)
TAKING_BACK_CLIENTS = frozenset({"mes-adresses", "formulaire-publication"})
MES_ADRESSES_URL = "https://mes-adresses.data.gouv.fr"
_BAL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

_STRATEGY_TEXTS = {
    "franceconnect": "Habilitation via FranceConnect :fr:",
    "email": "Habilitation par email :email:",
    "proconnect": "Habilitation via ProConnect :proconnect:",
}


class NoticeFailed(Exception):
    """The chat server or the SMTP server failed: worth another attempt."""


def is_takeover(previous_client: Client | None, client: Client) -> bool:
    if previous_client is None:
        return False
    return (
        previous_client.legacy_id not in MANAGED_CLIENTS and client.legacy_id in TAKING_BACK_CLIENTS
    )


def commune_nom(code: str) -> str:
    commune = cog.commune(code)
    return commune.nom if commune is not None else code


# --- idempotence ------------------------------------------------------------------------------


async def already_sent(session: AsyncSession, revision_id: str, kind: NoticeKind) -> bool:
    found = await session.scalar(
        select(PublishNotice.revision_id).where(
            PublishNotice.revision_id == revision_id, PublishNotice.kind == str(kind)
        )
    )
    return found is not None


async def record_sent(revision_id: str, kind: NoticeKind) -> None:
    async with services.transaction() as session:
        await session.execute(
            insert(PublishNotice)
            .values(revision_id=revision_id, kind=str(kind))
            .on_conflict_do_nothing()
        )


# --- team chat --------------------------------------------------------------------------------


def chat_text(revision: Revision, client_nom: str, *, is_update: bool) -> str:
    """The reference's message (without the stray indentation of its template literal)."""
    operation = "Mise à jour" if is_update else "Initialisation"
    strategy = ((revision.habilitation or {}).get("strategy") or {}).get("type")
    meta = [f"Application : {client_nom}", _STRATEGY_TEXTS.get(str(strategy), "")]
    code = revision.code_commune
    return (
        f"{operation} d’une Base Adresse Locale - *{commune_nom(code)}* ({code})\n"
        f"_{' - '.join(part for part in meta if part)}_"
    )


async def send_chat(revision_id: str) -> bool:
    """Post the publish's message once; True when posted now."""
    settings = services.current().settings.notifications
    if settings.chat_webhook_url is None:
        return False
    async with services.transaction() as session:
        if await already_sent(session, revision_id, NoticeKind.CHAT):
            return False
        revision = await session.get(Revision, revision_id)
        if revision is None:
            return False
        client = await session.get(Client, revision.client_id)
        earlier = exists().where(
            Revision.code_commune == revision.code_commune,
            Revision.status == RevisionStatus.PUBLISHED,
            Revision.published_at < revision.published_at,
        )
        is_update = bool(await session.scalar(select(earlier)))
        text = chat_text(revision, client.nom if client else "", is_update=is_update)
    try:
        async with httpx.AsyncClient(timeout=settings.timeout, trust_env=False) as http:
            url = settings.chat_webhook_url.get_secret_value()
            response = await http.post(url, json={"text": text})
    except httpx.HTTPError as exc:
        # The URL is a credential: never logged, nor the exception text that may quote it.
        log.warning("depot.chat_failed", revision_id=revision_id, error=type(exc).__name__)
        raise NoticeFailed(type(exc).__name__) from None
    if response.status_code >= 500:
        log.warning("depot.chat_failed", revision_id=revision_id,
                    status_code=response.status_code)  # fmt: skip
        raise NoticeFailed(f"HTTP {response.status_code}")
    if not response.is_success:
        log.error("depot.chat_refused", revision_id=revision_id,
                  status_code=response.status_code)  # fmt: skip
        return False
    await record_sent(revision_id, NoticeKind.CHAT)
    log.info("depot.chat_sent", revision_id=revision_id)
    return True


# --- takeover e-mail --------------------------------------------------------------------------


def takeover_subject(code: str) -> str:
    return f"La commune de {commune_nom(code)} a repris la main sur sa Base Adresse Locale"


def takeover_text(code: str, context: dict[str, Any] | None) -> str:
    nom = commune_nom(code)
    extras = (context or {}).get("extras")
    bal_id = extras.get("balId") if isinstance(extras, dict) else None
    via = ""
    if isinstance(bal_id, str) and _BAL_ID.fullmatch(bal_id):
        via = f" via l’outil Mes Adresses : {MES_ADRESSES_URL}/bal/{bal_id}"
    return (
        "Bonjour,\n\n"
        f"Nous vous informons que la commune de {nom} ({code}) a publié une Base Adresse "
        f"Locale{via}.\n\n"
        "Les prochaines modifications d’adressage que vous effectuerez pour cette commune ne "
        "seront donc pas publiées dans la Base Adresse Nationale.\n\n"
        f"Si vous pensez qu’il s’agit d’une erreur, merci de contacter directement la commune "
        f"de {nom}. Afin de vous permettre de continuer à mettre à jour les adresses de la "
        f"commune de {nom}, cette dernière devra prendre contact avec nous.\n\n"
        "L’équipe adresse.data.gouv.fr\n"
    )


async def _contact(session: AsyncSession, client: Client) -> str | None:
    """The previous client's chef de file e-mail, else its mandataire's."""
    if client.chef_de_file_id is not None:
        chef = await session.get(ChefDeFile, client.chef_de_file_id)
        if chef is not None and chef.email:
            return chef.email
    mandataire = await session.get(Mandataire, client.mandataire_id)
    return mandataire.email if mandataire is not None and mandataire.email else None


async def send_takeover(revision_id: str, previous_revision_id: str) -> bool:
    """E-mail the partner whose BAL the commune took back, once; True when sent now."""
    current = services.current()
    async with services.transaction() as session:
        if await already_sent(session, revision_id, NoticeKind.TAKEOVER_MAIL):
            return False
        revision = await session.get(Revision, revision_id)
        previous = await session.get(Revision, previous_revision_id)
        if revision is None or previous is None:
            return False
        previous_client = await session.get(Client, previous.client_id)
        to = await _contact(session, previous_client) if previous_client else None
        if to is None:
            return False
        code, context = revision.code_commune, revision.context
    message = build_message(
        current.settings.mail, to=to, subject=takeover_subject(code),
        text=takeover_text(code, context),
    )  # fmt: skip
    try:
        await current.mailer.send(message)
    except (aiosmtplib.SMTPException, OSError) as exc:
        log.warning("depot.takeover_mail_failed", revision_id=revision_id,
                    error=type(exc).__name__)  # fmt: skip
        raise NoticeFailed(type(exc).__name__) from None
    await record_sent(revision_id, NoticeKind.TAKEOVER_MAIL)
    log.info("depot.takeover_mail_sent", revision_id=revision_id)
    return True
