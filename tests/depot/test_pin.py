"""The e-mail PIN flow of habilitations (§2.4 #19–20, §3.4; scenarios #27–28 of §5.2), against a
real SMTP server (aiosmtpd) and a local Service-Public Annuaire."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import NullPool, delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from guichet.core.config import HabilitationSettings, Settings
from guichet.core.errors import GuichetError
from guichet.depot import errors, habilitations
from guichet.depot.models import Client, Habilitation, Mandataire
from tests.conftest import Inbox, free_port
from tests.depot import factories
from tests.depot.conftest import (
    ESCOULIS_EMAILS,
    accepted_habilitation,
    create_habilitation,
    habilitation_settings,
    last_mail,
    pin_of,
    send_pin,
    validate_pin,
)
from tests.depot.factories import Parties


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, annuaire_url: str, smtp_server: tuple[Inbox, int]
) -> Settings:
    return habilitation_settings(database_url, tmp_path / "home", annuaire_url, smtp_server[1])


@pytest.fixture
def inbox(smtp_server: tuple[Inbox, int]) -> Inbox:
    return smtp_server[0]


def _nest(status: int, message: Any) -> dict[str, Any]:
    return {"statusCode": status, "message": message}


async def _set(session: AsyncSession, habilitation_id: str, **values: Any) -> None:
    await session.execute(
        update(Habilitation).where(Habilitation.id == habilitation_id).values(**values)
    )
    await session.commit()


class TestSendPinCode:
    async def test_mail_received_and_its_code_works(
        self, client: httpx.AsyncClient, parties: Parties, inbox: Inbox
    ) -> None:
        party = parties.habilitation
        habilitation = await create_habilitation(client, party)
        response = await send_pin(client, party, habilitation["id"], "secretariat@escoulis.fr")
        assert response.status_code == 200
        assert response.text == "OK"
        assert response.headers["content-type"].startswith("text/plain")
        [envelope] = inbox.envelopes
        assert envelope.rcpt_tos == ["secretariat@escoulis.fr"]
        message = last_mail(inbox)
        assert message["Subject"] == "Demande de code d’identification"
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Escoulis (31591)" in text
        code = pin_of(message)

        response = await validate_pin(client, party, habilitation["id"], code)
        assert (response.status_code, response.text) == (200, "OK")
        read = await client.get(f"/habilitations/{habilitation['id']}", headers=party.headers)
        body = read.json()
        assert body["status"] == "accepted"
        assert body["acceptedAt"] is not None
        assert body["emailCommune"] == "secretariat@escoulis.fr"
        assert body["strategy"]["type"] == "email"

    async def test_every_mairie_address_is_allowed(
        self, client: httpx.AsyncClient, parties: Parties, inbox: Inbox
    ) -> None:
        # Mairie déléguée included; the malformed address of the Annuaire is not offered.
        response = await client.get("/communes/31591/emails")
        assert response.json() == ESCOULIS_EMAILS
        habilitation = await create_habilitation(client, parties.habilitation)
        response = await send_pin(
            client, parties.habilitation, habilitation["id"], "deleguee@escoulis.fr"
        )
        assert response.status_code == 200
        assert inbox.envelopes[-1].rcpt_tos == ["deleguee@escoulis.fr"]

    async def test_email_not_of_the_commune(
        self, client: httpx.AsyncClient, parties: Parties, inbox: Inbox
    ) -> None:
        habilitation = await create_habilitation(client, parties.habilitation)
        for email in ("intrus@example.com", "MAIRIE@escoulis.fr"):
            response = await send_pin(client, parties.habilitation, habilitation["id"], email)
            assert response.status_code == 412
            assert response.json() == _nest(
                412,
                "Impossible d’envoyer le code, l’email préconisé n’appartient pas à la commune",
            )
        assert inbox.envelopes == []

    async def test_commune_without_address_in_the_annuaire(
        self, client: httpx.AsyncClient, parties: Parties
    ) -> None:
        habilitation = await create_habilitation(client, parties.habilitation, "91534")
        assert (await client.get("/communes/91534/emails")).json() == []
        response = await send_pin(
            client, parties.habilitation, habilitation["id"], "mairie@saclay.fr"
        )
        assert response.status_code == 412

    @pytest.mark.parametrize(
        "body", [{}, {"email": ""}, {"email": "pas-une-adresse"}, {"email": 3}]
    )
    async def test_missing_or_malformed_email(
        self, client: httpx.AsyncClient, parties: Parties, body: dict[str, Any]
    ) -> None:
        habilitation = await create_habilitation(client, parties.habilitation)
        response = await client.post(
            f"/habilitations/{habilitation['id']}/authentication/email/send-pin-code",
            json=body,
            headers=parties.habilitation.headers,
        )
        assert response.status_code == 400
        assert response.json() == {
            "statusCode": 400,
            "message": ["email must be an email"],
            "error": "Bad Request",
        }

    async def test_not_again_within_five_minutes(
        self, client: httpx.AsyncClient, parties: Parties, inbox: Inbox, session: AsyncSession
    ) -> None:
        party = parties.habilitation
        habilitation = await create_habilitation(client, party)
        assert (await send_pin(client, party, habilitation["id"], ESCOULIS_EMAILS[0])).is_success
        first = pin_of(last_mail(inbox))
        response = await send_pin(client, party, habilitation["id"], ESCOULIS_EMAILS[1])
        assert response.status_code == 409
        assert response.json() == _nest(409, "Un courriel a déjà été envoyé, merci de patienter")
        assert len(inbox.envelopes) == 1

        # Five minutes later: a new code; the first one no longer works.
        sent_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5, seconds=1)
        await _set(session, habilitation["id"], pin_sent_at=sent_at)
        assert (await send_pin(client, party, habilitation["id"], ESCOULIS_EMAILS[1])).is_success
        second = pin_of(last_mail(inbox))
        if first != second:  # 1 chance in a million to draw the same code twice
            response = await validate_pin(client, party, habilitation["id"], first)
            assert response.json()["message"] == "Code non valide, 9 tentatives restantes"
        assert (await validate_pin(client, party, habilitation["id"], second)).status_code == 200

    async def test_accepted_or_rejected_habilitation(
        self, client: httpx.AsyncClient, parties: Parties, inbox: Inbox, session: AsyncSession
    ) -> None:
        party = parties.habilitation
        accepted = await accepted_habilitation(client, party, inbox)
        response = await send_pin(client, party, accepted["id"], ESCOULIS_EMAILS[0])
        assert response.json() == _nest(412, "Cette habilitation est déjà validée")

        rejected = await create_habilitation(client, party)
        await _set(session, rejected["id"], status="rejected", rejected_at=dt.datetime.now(dt.UTC))
        response = await send_pin(client, party, rejected["id"], ESCOULIS_EMAILS[0])
        assert response.json() == _nest(412, "Cette habilitation est rejetée")

    async def test_undelivered_mail_records_nothing(
        self,
        client: httpx.AsyncClient,
        parties: Parties,
        inbox: Inbox,
        app: Any,
        smtp_server: tuple[Inbox, int],
    ) -> None:
        party = parties.habilitation
        habilitation = await create_habilitation(client, party)
        working = app.state.mailer
        app.state.mailer = type(working)(
            working.settings.model_copy(update={"port": free_port()})  # nobody listens
        )
        response = await send_pin(client, party, habilitation["id"], ESCOULIS_EMAILS[0])
        assert response.status_code == 503
        assert response.json() == _nest(
            503, "Le courriel n’a pas pu être envoyé, veuillez réessayer"
        )
        read = await client.get(f"/habilitations/{habilitation['id']}", headers=party.headers)
        assert read.json()["strategy"] is None
        # No PIN kept, no delay to wait: the next try goes through at once.
        app.state.mailer = working
        response = await send_pin(client, party, habilitation["id"], ESCOULIS_EMAILS[0])
        assert response.status_code == 200
        code = pin_of(last_mail(inbox))
        assert (await validate_pin(client, party, habilitation["id"], code)).status_code == 200


class TestValidatePinCode:
    async def test_guessing_is_capped_at_ten_attempts(
        self, client: httpx.AsyncClient, parties: Parties, inbox: Inbox
    ) -> None:
        party = parties.habilitation
        habilitation = await create_habilitation(client, party)
        await send_pin(client, party, habilitation["id"], ESCOULIS_EMAILS[0])
        code = pin_of(last_mail(inbox))
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        messages = [
            (await validate_pin(client, party, habilitation["id"], wrong)).json()["message"]
            for _ in range(10)
        ]
        assert messages[0] == "Code non valide, 9 tentatives restantes"
        assert messages[7] == "Code non valide, 2 tentatives restantes"
        assert messages[8] == "Code non valide, 1 tentative restante"
        assert messages[9] == "Code non valide. Demande rejetée."
        read = await client.get(f"/habilitations/{habilitation['id']}", headers=party.headers)
        body = read.json()
        assert body["status"] == "rejected"
        assert body["rejectedAt"] is not None
        assert body["acceptedAt"] is None
        assert body["strategy"]["authenticationError"] == "Trop de tentative de code raté"
        # The right code no longer works either.
        response = await validate_pin(client, party, habilitation["id"], code)
        assert response.json() == _nest(412, "Cette habilitation est rejetée")

    async def test_used_code_never_works_again(
        self, client: httpx.AsyncClient, parties: Parties, inbox: Inbox
    ) -> None:
        party = parties.habilitation
        habilitation = await accepted_habilitation(client, party, inbox)
        code = pin_of(last_mail(inbox))
        response = await validate_pin(client, party, habilitation["id"], code)
        assert response.json() == _nest(412, "Cette habilitation est déjà validée")

    async def test_expired_code_never_works(
        self, client: httpx.AsyncClient, parties: Parties, inbox: Inbox, session: AsyncSession
    ) -> None:
        party = parties.habilitation
        habilitation = await create_habilitation(client, party)
        await send_pin(client, party, habilitation["id"], ESCOULIS_EMAILS[0])
        code = pin_of(last_mail(inbox))
        await _set(
            session,
            habilitation["id"],
            pin_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
        )
        for candidate in (code, "123"):  # right or wrong: expired, no attempt counted
            response = await validate_pin(client, party, habilitation["id"], candidate)
            assert response.json() == _nest(412, "Code expiré")
        read = await client.get(f"/habilitations/{habilitation['id']}", headers=party.headers)
        assert read.json()["status"] == "pending"
        row = await session.get(Habilitation, habilitation["id"], populate_existing=True)
        assert row is not None and row.remaining_attempts == 10

    async def test_code_never_sent(self, client: httpx.AsyncClient, parties: Parties) -> None:
        habilitation = await create_habilitation(client, parties.habilitation)
        response = await validate_pin(client, parties.habilitation, habilitation["id"], "000000")
        assert response.json() == _nest(412, "Aucun code n’a été envoyé pour cette habilitation")

    @pytest.mark.parametrize("code", [None, 123456, "", "12a456"])
    async def test_code_must_be_a_number_string(
        self, client: httpx.AsyncClient, parties: Parties, code: Any
    ) -> None:
        habilitation = await create_habilitation(client, parties.habilitation)
        body = {} if code is None else {"code": code}
        response = await client.post(
            f"/habilitations/{habilitation['id']}/authentication/email/validate-pin-code",
            json=body,
            headers=parties.habilitation.headers,
        )
        assert response.status_code == 400
        assert response.json()["message"] == ["code must be a number string"]

    async def test_demo_pin_is_refused_unless_demo_mode(
        self, client: httpx.AsyncClient, parties: Parties, inbox: Inbox
    ) -> None:
        party = parties.habilitation
        habilitation = await create_habilitation(client, party)
        await send_pin(client, party, habilitation["id"], ESCOULIS_EMAILS[0])
        if pin_of(last_mail(inbox)) == "000000":
            pytest.skip("drew the demo code itself")
        response = await validate_pin(client, party, habilitation["id"], "000000")
        assert response.json() == _nest(412, "Code non valide, 9 tentatives restantes")

    async def test_demo_mode_accepts_the_demo_pin(
        self, client: httpx.AsyncClient, parties: Parties, app: Any
    ) -> None:
        app.state.settings = app.state.settings.model_copy(
            update={"habilitations": HabilitationSettings(demo_mode=True)}
        )
        habilitation = await create_habilitation(client, parties.habilitation)
        response = await validate_pin(client, parties.habilitation, habilitation["id"], "000000")
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("value", "enabled"), [("0", False), ("false", False), ("1", True), ("true", True)]
)
def test_demo_mode_is_a_true_boolean(
    monkeypatch: pytest.MonkeyPatch, value: str, enabled: bool
) -> None:
    monkeypatch.setenv("GUICHET_HABILITATIONS__DEMO_MODE", value)
    assert Settings(_env_file=None).habilitations.demo_mode is enabled


def test_demo_mode_refuses_other_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUICHET_HABILITATIONS__DEMO_MODE", "coucou")
    with pytest.raises(ValueError, match="demo_mode"):
        Settings(_env_file=None)


async def test_concurrent_guesses_get_ten_attempts_in_all(database_url: str) -> None:
    """15 wrong guesses at once, each on its own connection (rows committed for real): the row
    lock makes them queue, so exactly 10 are counted and the others find it rejected."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    settings = HabilitationSettings()
    async with maker.begin() as session:
        owner = await factories.mandataire(session, nom="pin-concurrency")
        party = await factories.client(session, owner)
        habilitation = Habilitation(client_id=party.client.id, code_commune="31591")
        session.add(habilitation)
        await session.flush()
        habilitation.pin_hash = habilitations.pin.hash_pin("123456")
        habilitation.pin_sent_at = dt.datetime.now(dt.UTC)
        habilitation.pin_expires_at = habilitation.pin_sent_at + dt.timedelta(hours=1)
        habilitation.remaining_attempts = 10
        ids = (owner.id, party.client.id, habilitation.id)

    async def guess() -> str:
        try:
            async with maker.begin() as session:
                found = await habilitations.load(session, ids[2])
                failure = await habilitations.check_pin(session, found, "654321", settings)
            return type(failure).__name__
        except GuichetError as exc:
            return type(exc).__name__

    try:
        outcomes = await asyncio.gather(*(guess() for _ in range(15)))
        assert outcomes.count(errors.PinWrong.__name__) == 9
        assert outcomes.count(errors.PinRejected.__name__) == 1
        assert outcomes.count(errors.HabilitationRejected.__name__) == 5
    finally:
        async with maker.begin() as session:
            await session.execute(delete(Client).where(Client.id == ids[1]))
            await session.execute(delete(Mandataire).where(Mandataire.id == ids[0]))
        await engine.dispose()


async def test_no_pin_or_token_in_answers_logs_or_database(
    client: httpx.AsyncClient,
    parties: Parties,
    inbox: Inbox,
    session: AsyncSession,
    bal_31591: bytes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.depot.helpers import computed

    party = parties.habilitation
    answers: list[str] = []
    habilitation = await create_habilitation(client, party)
    for response in (
        await send_pin(client, party, habilitation["id"], ESCOULIS_EMAILS[0]),
        await client.get(f"/habilitations/{habilitation['id']}", headers=party.headers),
    ):
        answers.append(response.text)
    code = pin_of(last_mail(inbox))
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    answers.append((await validate_pin(client, party, habilitation["id"], wrong)).text)
    stored = await session.get(Habilitation, habilitation["id"], populate_existing=True)
    assert stored is not None and stored.pin_hash is not None
    assert code.encode() not in stored.pin_hash and len(stored.pin_hash) == 48
    answers.append((await validate_pin(client, party, habilitation["id"], code)).text)

    revision = await computed(client, party, bal_31591)
    published = await client.post(
        f"/revisions/{revision['id']}/publish",
        json={"habilitationId": habilitation["id"]},
        headers=party.headers,
    )
    assert published.status_code == 200
    strategy = published.json()["habilitation"]["strategy"]
    assert set(strategy) == {"type", "createdAt"}
    for path in (
        f"/habilitations/{habilitation['id']}",
        f"/revisions/{revision['id']}",
        "/communes/31591/current-revision",
        "/communes/31591/revisions",
    ):
        answers.append((await client.get(path, headers=party.headers)).text)
    logged = capsys.readouterr()
    for text in (*answers, logged.out, logged.err):
        assert code not in text
        assert party.token not in text
        for key in ("pinCode", "pinCodeExpiration", "remainingAttempts"):
            assert key not in text
