"""Fixtures of the publication API tests: an app with an admin token, parties, BAL files."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.config import Settings
from guichet.depot import annuaire, compute
from tests.conftest import Inbox, make_settings
from tests.depot import factories
from tests.depot.factories import Party

ADMIN_TOKEN = "admin-token-for-the-depot-tests-0123456789"
ADMIN = {"Authorization": f"Token {ADMIN_TOKEN}"}
CORPUS = Path("/work/shared/bal/corpus/ecosystem")
HERE = Path(__file__).parent / "data"


@pytest.fixture(scope="session", autouse=True)
def _compute_pool() -> Iterator[None]:
    yield
    compute.pool.shutdown()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "home", admin_token=ADMIN_TOKEN)


@pytest.fixture
async def parties(session: AsyncSession) -> factories.Parties:
    """A mandataire, a chef de file (public e-mail, perimeter 31591) and three clients:
    `chef` (chef-de-file strategy), `other` (chef-de-file, same chef), `habilitation`."""
    return await factories.parties(session)


@pytest.fixture
def bal_31591() -> bytes:
    """A valid 6-row BAL 1.3 of Escoulis (31591), from api-depot's own test fixtures."""
    return (HERE / "bal-valid-31591.csv").read_bytes()


# --- habilitations: a Service-Public Annuaire and an SMTP server ----------------------------

ESCOULIS_EMAILS = ["mairie@escoulis.fr", "secretariat@escoulis.fr", "deleguee@escoulis.fr"]


class _Annuaire(BaseHTTPRequestHandler):
    """`GET /catalog/datasets/api-lannuaire-administration/records?where=…` answered with
    annuaire-shaped records of the commune named in `where` (Opendatasoft explore v2.1)."""

    records: ClassVar[dict[str, list[dict[str, Any]]]] = {}
    queries: ClassVar[list[dict[str, list[str]]]] = []

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/api/explore/v2.1" + annuaire.DATASET_PATH:
            self.send_error(404)
            return
        query = parse_qs(url.query)
        _Annuaire.queries.append(query)
        found = re.search(r'code_insee_commune="([^"]*)"', query.get("where", [""])[0])
        results = _Annuaire.records.get(found.group(1) if found else "", [])
        payload = json.dumps({"total_count": len(results), "results": results}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def mairie_record(nom: str, emails: str | None, siret: str, code: str) -> dict[str, Any]:
    pivot = [{"type_service_local": "mairie", "code_insee_commune": [code]}]
    return {
        "plage_ouverture": None,
        "siret": siret,
        "nom": nom,
        "adresse_courriel": emails,
        "code_insee_commune": code,
        "pivot": json.dumps(pivot),
        "telephone": '[{"valeur": "05 61 00 00 00", "description": ""}]',
    }


@pytest.fixture
def annuaire_url() -> Iterator[str]:
    """A local Annuaire: Escoulis (31591) has a mairie with two addresses (`;`) and a mairie
    déléguée with one more and a malformed one; 91534 has a mairie without address."""
    _Annuaire.records = {
        "31591": [
            mairie_record(
                "Mairie - Escoulis", "mairie@escoulis.fr;secretariat@escoulis.fr",
                "21310591100015", "31591",
            ),
            mairie_record(
                "Mairie déléguée", "deleguee@escoulis.fr;pas-une-adresse", "21310591100023",
                "31591",
            ),
        ],
        "91534": [mairie_record("Mairie - Saclay", None, "21910534100011", "91534")],
    }  # fmt: skip
    _Annuaire.queries = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Annuaire)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/explore/v2.1"
    server.shutdown()
    server.server_close()


def habilitation_settings(
    database_url: str, home: Path, annuaire: str, smtp_port: int, **habilitations: Any
) -> Settings:
    return make_settings(
        database_url,
        home,
        admin_token=ADMIN_TOKEN,
        smtp={"host": "127.0.0.1", "port": smtp_port, "security": "none", "timeout": 5},
        mail={"sender": "Guichet <noreply@guichet.example>"},
        habilitations={"annuaire_url": annuaire, "annuaire_timeout": 2, **habilitations},
    )


def last_mail(inbox: Inbox) -> EmailMessage:
    message = message_from_bytes(inbox.envelopes[-1].content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def pin_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    found = re.findall(r"\b\d{6}\b", body.get_content())
    assert len(found) == 1, found
    return str(found[0])


async def create_habilitation(
    client: httpx.AsyncClient, party: Party, code: str = "31591"
) -> dict[str, Any]:
    response = await client.post(f"/communes/{code}/habilitations", headers=party.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def send_pin(
    client: httpx.AsyncClient, party: Party, habilitation_id: str, email: str
) -> httpx.Response:
    path = f"/habilitations/{habilitation_id}/authentication/email/send-pin-code"
    return await client.post(path, json={"email": email}, headers=party.headers)


async def validate_pin(
    client: httpx.AsyncClient, party: Party, habilitation_id: str, code: Any
) -> httpx.Response:
    path = f"/habilitations/{habilitation_id}/authentication/email/validate-pin-code"
    return await client.post(path, json={"code": code}, headers=party.headers)


async def accepted_habilitation(
    client: httpx.AsyncClient, party: Party, inbox: Inbox, code: str = "31591"
) -> dict[str, Any]:
    """A habilitation accepted through the e-mail PIN flow, end to end."""
    habilitation = await create_habilitation(client, party, code)
    sent = await send_pin(client, party, habilitation["id"], ESCOULIS_EMAILS[0])
    assert sent.status_code == 200, sent.text
    checked = await validate_pin(client, party, habilitation["id"], pin_of(last_mail(inbox)))
    assert checked.status_code == 200, checked.text
    return habilitation
