"""Reminders before an accepted habilitation expires (issue #12): once, to the editor and the
mairie, only with expiry on, never for one already over or still far from its end."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.config import Settings
from guichet.depot import habilitation_reminders, tasks
from guichet.depot.models import Habilitation, HabilitationStatus
from tests.conftest import Inbox, make_settings, replace_services
from tests.depot.conftest import ADMIN_TOKEN
from tests.depot.factories import Parties

NOW = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, smtp_server: tuple[Inbox, int]) -> Settings:
    return make_settings(
        database_url,
        tmp_path / "home",
        admin_token=ADMIN_TOKEN,
        smtp={"host": "127.0.0.1", "port": smtp_server[1], "security": "none", "timeout": 5},
        mail={"sender": "Guichet <noreply@guichet.example>"},
        habilitations={"expiry_days": 180, "reminder_days": 15},
    )


async def _accepted(
    session: AsyncSession, parties: Parties, expires_in: dt.timedelta, email: str | None
) -> Habilitation:
    habilitation = Habilitation(
        client_id=parties.habilitation.client.id,
        code_commune="31591",
        email_commune=email,
        status=HabilitationStatus.ACCEPTED,
        strategy_type="email",
        accepted_at=NOW - dt.timedelta(days=100),
        expires_at=NOW + expires_in,
    )
    session.add(habilitation)
    await session.commit()
    return habilitation


def _messages(inbox: Inbox) -> list[EmailMessage]:
    found = []
    for envelope in inbox.envelopes:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


async def test_one_reminder_to_the_editor_and_the_mairie_before_the_end(
    session: AsyncSession, parties: Parties, smtp_server: tuple[Inbox, int], sessionmaker: object
) -> None:
    inbox, _ = smtp_server
    due = await _accepted(session, parties, dt.timedelta(days=10), "mairie@escoulis.fr")
    far = await _accepted(session, parties, dt.timedelta(days=40), "mairie@escoulis.fr")
    over = await _accepted(session, parties, -dt.timedelta(days=1), "mairie@escoulis.fr")

    assert await habilitation_reminders.remind_due(NOW) == 1
    [message] = _messages(inbox)
    assert message["To"] == "mandataire@test.fr, mairie@escoulis.fr"
    assert message["Subject"] == "Habilitation pour Escoulis (31591) : elle expire le 13/12/2026"
    body = message.get_body(("plain",))
    assert body is not None
    assert "expire le 13/12/2026, dans 10 jours" in body.get_content()
    await session.refresh(due)
    assert due.expiry_reminded_at == NOW
    for other in (far, over):
        await session.refresh(other)
        assert other.expiry_reminded_at is None

    assert await habilitation_reminders.remind_due(NOW + dt.timedelta(hours=1)) == 0  # once
    assert len(inbox.envelopes) == 1


async def test_the_periodic_job_reminds_too(
    session: AsyncSession, parties: Parties, smtp_server: tuple[Inbox, int], sessionmaker: object
) -> None:
    inbox, _ = smtp_server
    await _accepted(session, parties, dt.timedelta(days=3), None)  # accepted by ProConnect
    await tasks.remind_expiring_habilitations(timestamp=0)
    [message] = _messages(inbox)
    assert message["To"] == "mandataire@test.fr"


async def test_nothing_without_expiry(
    session: AsyncSession,
    parties: Parties,
    smtp_server: tuple[Inbox, int],
    settings: Settings,
    sessionmaker: object,
) -> None:
    await _accepted(session, parties, dt.timedelta(days=3), "mairie@escoulis.fr")
    habilitations = settings.habilitations.model_copy(update={"expiry_days": None})
    replace_services(settings=settings.model_copy(update={"habilitations": habilitations}))
    assert await habilitation_reminders.remind_due(NOW) == 0
    assert smtp_server[0].envelopes == []
