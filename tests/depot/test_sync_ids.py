"""`POST /revisions/{id}/sync-ids-ban-publish` (§2.4 #5) against a local BAN API: a real HTTP
server on a loopback port answering `/lookup/{code}`, `/api/district/cog/{code}` and the
commune's addresses as a BAL. The synced file is the one published (downloaded back), every
error has its status and message, and a failure leaves nothing behind."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core import services
from guichet.core.config import Settings
from guichet.core.storage import put_bytes
from guichet.depot.models import Client, File, Perimeter, Revision
from guichet.runtime.app import create_app
from tests.conftest import make_settings
from tests.depot import factories
from tests.depot.conftest import ADMIN, ADMIN_TOKEN, HERE, create_habilitation
from tests.depot.factories import Parties
from tests.depot.helpers import computed, published

BAN_COMMUNE = "44444444-4444-4444-8444-444444444444"
BAN_STREET = "55555555-5555-4555-8555-555555555555"
BAN_ADDRESS_9 = "66666666-6666-4666-8666-666666666666"
BAN_ADDRESS_11 = "77777777-7777-4777-8777-777777777777"
OLD_IDS = (
    "11111111-1111-4111-8111-111111111111",
    "22222222-2222-4222-8222-222222222222",
    "33333333-3333-4333-8333-333333333333",
)
REFERENCE = (
    "cle_interop;id_ban_commune;id_ban_toponyme;id_ban_adresse;commune_insee;voie_nom;numero;"
    "suffixe;commune_nom\n"
    f"31591_xxxx_00009;{BAN_COMMUNE};{BAN_STREET};{BAN_ADDRESS_9};31591;Rue des 3 Places;9;;"
    "Escoulis\n"
    f"31591_xxxx_00011;{BAN_COMMUNE};{BAN_STREET};{BAN_ADDRESS_11};31591;rue des 3  places;11;;"
    "Escoulis\n"
)


@dataclass
class BanBehaviour:
    lookup: Any = field(
        default_factory=lambda: {"typeComposition": "assemblage", "withBanId": True}
    )
    lookup_status: int = 200
    district_status: int = 200
    addresses_status: int = 200


class _Ban(BaseHTTPRequestHandler):
    behaviour: ClassVar[BanBehaviour]
    calls: ClassVar[list[str]]

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        _Ban.calls.append(self.path)
        behaviour = _Ban.behaviour
        if self.path == "/lookup/31591":
            body = json.dumps(behaviour.lookup).encode()
            self._send(behaviour.lookup_status, body, "application/json")
        elif self.path == "/api/district/cog/31591":
            found = {
                "status": "success",
                "response": [{"id": BAN_COMMUNE, "nomCommune": "Escoulis"}],
            }
            self._send(behaviour.district_status, json.dumps(found).encode(), "application/json")
        elif self.path == "/ban/communes/31591/download/csv-bal/adresses":
            self._send(behaviour.addresses_status, REFERENCE.encode(), "text/csv")
        else:
            self._send(404, b'{"code":404}', "application/json")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ban_url() -> Iterator[str]:
    _Ban.behaviour = BanBehaviour()
    _Ban.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ban)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, ban_url: str) -> Settings:
    return make_settings(
        database_url, tmp_path / "home", admin_token=ADMIN_TOKEN,
        ban={"api_url": ban_url, "timeout": 5},
    )  # fmt: skip


def _nest(status: int, message: str) -> dict[str, Any]:
    return {"statusCode": status, "message": message}


def _table(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode()), delimiter=";"))


async def _sync(client: httpx.AsyncClient, revision_id: str, **headers: str) -> httpx.Response:
    return await client.post(
        f"/revisions/{revision_id}/sync-ids-ban-publish", headers=headers or ADMIN
    )


async def _current_file(client: httpx.AsyncClient) -> bytes:
    response = await client.get("/communes/31591/current-revision/files/bal/download")
    assert response.status_code == 200
    return response.content


async def _stored_source(
    session: AsyncSession, owner: Client, data: bytes, **values: Any
) -> Revision:
    """A current revision whose file is in the blob store, written without the API (its ids
    need not match what the local BAN says: the sync replaces them)."""
    revision = await factories.revision(
        session, owner, rows_count=1, published=True, current=True, with_file=data, **values
    )
    bal_file = await session.scalar(select(File).where(File.revision_id == revision.id))
    assert bal_file is not None
    await put_bytes(services.current().blob_store, bal_file.blob_key, data)
    await session.commit()
    return revision


async def _revisions(session: AsyncSession) -> int:
    session.expire_all()
    return int(await session.scalar(select(func.count()).select_from(Revision)) or 0)


class TestSync:
    async def test_bal_1_3_without_ids(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
    ) -> None:
        source = await published(client, parties.chef, bal_31591)
        _Ban.calls.clear()  # the compute asked the BAN too (mass-deletion guard)
        response = await _sync(client, source["id"])
        assert response.status_code == 200, response.text
        body = response.json()
        # the plain revision, as the reference answers (no `client`, no `files`)
        assert set(body) == {
            "id", "clientId", "codeCommune", "isReady", "isCurrent", "status", "context",
            "validation", "habilitation", "publishedAt", "createdAt", "updatedAt",
        }  # fmt: skip
        assert body["id"] != source["id"]
        assert (body["status"], body["isCurrent"], body["isReady"]) == ("published", True, None)
        assert (body["clientId"], body["codeCommune"]) == (parties.chef.client.id, "31591")
        assert body["context"]["extras"] == {"syncRevisionId": source["id"]}
        assert body["validation"]["valid"] is True and body["validation"]["format"] == "1.4"
        # the BAN is asked before the validator (which reads the district id again)
        assert _Ban.calls[:3] == [
            "/lookup/31591", "/api/district/cog/31591",
            "/ban/communes/31591/download/csv-bal/adresses",
        ]  # fmt: skip

        current = (await client.get("/communes/31591/current-revision")).json()
        assert current["id"] == body["id"]
        old = (await client.get(f"/revisions/{source['id']}")).json()
        assert old["isCurrent"] is False

        data = await _current_file(client)
        header = data.decode().splitlines()[0].split(";")
        assert header[:5] == [
            "cle_interop", "id_ban_commune", "id_ban_toponyme", "id_ban_adresse", "uid_adresse",
        ]  # fmt: skip
        rows = {row["cle_interop"]: row for row in _table(data)}
        assert len(rows) == 6
        assert {row["id_ban_commune"] for row in rows.values()} == {BAN_COMMUNE}
        # the BAN's own addresses take its ids; the street is the BAN's for every row
        assert rows["31591_xxxx_00009"]["id_ban_adresse"] == BAN_ADDRESS_9
        assert rows["31591_xxxx_00011"]["id_ban_adresse"] == BAN_ADDRESS_11
        assert {row["id_ban_toponyme"] for row in rows.values()} == {BAN_STREET}
        # addresses the BAN does not know get new ids, each its own
        others = [rows[k]["id_ban_adresse"] for k in rows if k[-5:] not in ("00009", "00011")]
        assert len(set(others)) == 4 and all(len(i) == 36 for i in others)
        # every other cell unchanged
        source_rows = {row["cle_interop"]: row for row in _table(bal_31591)}
        for key, row in rows.items():
            assert {k: v for k, v in row.items() if not k.startswith("id_ban_")} == source_rows[key]

    async def test_bal_1_4_ids_replaced(
        self, client: httpx.AsyncClient, parties: Parties, session: AsyncSession
    ) -> None:
        data = (HERE / "bal-1.4-31591.csv").read_bytes()
        source = await _stored_source(session, parties.chef.client, data)
        response = await _sync(client, source.id)
        assert response.status_code == 200, response.text
        (row,) = _table(await _current_file(client))
        assert (row["id_ban_commune"], row["id_ban_toponyme"], row["id_ban_adresse"]) == (
            BAN_COMMUNE, BAN_STREET, BAN_ADDRESS_9,
        )  # fmt: skip
        assert not set(OLD_IDS) & set(row.values())

    async def test_context_kept(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
    ) -> None:
        revision = await client.post(
            "/communes/31591/revisions", headers=parties.chef.headers,
            json={"context": {"nomComplet": "Alice", "extras": {"balId": "abc"}}},
        )  # fmt: skip
        from tests.depot.helpers import upload

        rid = revision.json()["id"]
        assert (await upload(client, parties.chef, rid, bal_31591)).status_code == 200
        await client.post(f"/revisions/{rid}/compute", headers=parties.chef.headers)
        await client.post(f"/revisions/{rid}/publish", headers=parties.chef.headers)
        body = (await _sync(client, rid)).json()
        assert body["context"] == {
            "nomComplet": "Alice", "extras": {"balId": "abc", "syncRevisionId": rid},
        }  # fmt: skip

    async def test_habilitation_client_republished_with_its_habilitation(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
    ) -> None:
        """The reference could not republish a client of strategy `habilitation`."""
        party = parties.habilitation
        habilitation = await create_habilitation(client, party)
        await client.put(f"/habilitations/{habilitation['id']}/validate", headers=ADMIN)
        revision = await computed(client, party, bal_31591)
        done = await client.post(
            f"/revisions/{revision['id']}/publish", headers=party.headers,
            json={"habilitationId": habilitation["id"]},
        )  # fmt: skip
        assert done.status_code == 200
        response = await _sync(client, revision["id"])
        assert response.status_code == 200, response.text
        assert response.json()["habilitation"]["id"] == habilitation["id"]
        assert response.json()["clientId"] == party.client.id


class TestErrors:
    async def test_source_not_current(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, session: AsyncSession
    ) -> None:
        first = await published(client, parties.chef, bal_31591)
        await published(client, parties.chef, bal_31591)
        pending = await computed(client, parties.chef, bal_31591)
        before = await _revisions(session)
        _Ban.calls.clear()
        for revision_id in (first["id"], pending["id"]):
            response = await _sync(client, revision_id)
            assert response.json() == _nest(
                412, "Erreur: on ne peut pas synchroniser une publication non courante"
            )
        assert await _revisions(session) == before
        assert _Ban.calls == []  # refused before asking the BAN

    @pytest.mark.parametrize(
        ("spoil", "expected"),
        [
            ({"lookup_status": 500}, _nest(424, "Impossible de récupérer la commune sur la BAN")),
            ({"lookup": ["not", "an", "object"]},
             _nest(424, "Impossible de récupérer la commune sur la BAN")),
            ({"lookup": {"typeComposition": "bal", "withBanId": False}},
             _nest(412, "La commune n'a pas d'identifiants stables sur la BAN")),
            ({"district_status": 404}, _nest(424, "Impossible de fetch id_ban_commune de la BAN")),
            ({"addresses_status": 502},
             _nest(424, "Impossible de télécharger les adresses de la commune depuis la BAN")),
        ],
        ids=["lookup down", "lookup malformed", "no stable ids", "district down", "addresses down"],
    )  # fmt: skip
    async def test_ban_failures(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes,
        session: AsyncSession, spoil: dict[str, Any], expected: dict[str, Any],
    ) -> None:  # fmt: skip
        source = await published(client, parties.chef, bal_31591)
        for name, value in spoil.items():
            setattr(_Ban.behaviour, name, value)
        before = await _revisions(session)
        response = await _sync(client, source["id"])
        assert (response.status_code, response.json()) == (expected["statusCode"], expected)
        assert await _revisions(session) == before
        assert (await client.get("/communes/31591/current-revision")).json()["id"] == source["id"]

    async def test_ban_not_configured(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, settings: Settings,
        database_url: str, tmp_path: Path,
    ) -> None:  # fmt: skip
        source = await published(client, parties.chef, bal_31591)

        offline = make_settings(database_url, tmp_path / "offline", admin_token=ADMIN_TOKEN)
        app = create_app(offline, services.current())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await _sync(http, source["id"])
        assert response.json() == _nest(503, "L’API de la BAN n’est pas configurée")

    async def test_synced_file_invalid_publishes_nothing(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, session: AsyncSession
    ) -> None:
        """The chef de file's perimeter changed since the source was published: the synced
        file is computed again and refused, and nothing is written."""
        source = await published(client, parties.chef, bal_31591)
        perimeter = await session.scalar(
            select(Perimeter).where(Perimeter.chef_de_file_id == parties.chef_de_file.id)
        )
        assert perimeter is not None
        perimeter.code = "91534"
        await session.commit()
        before = await _revisions(session)
        response = await _sync(client, source["id"])
        assert response.json() == _nest(
            412,
            "Le fichier synchronisé avec les identifiants de la BAN n’est pas valide : "
            "commune_insee.out_of_perimeter",
        )
        assert await _revisions(session) == before
        assert (await client.get("/communes/31591/current-revision")).json()["id"] == source["id"]

    async def test_habilitation_no_longer_usable(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, session: AsyncSession
    ) -> None:
        party = parties.habilitation
        source = await _stored_source(
            session, party.client, bal_31591, habilitation={"id": "5f8d0d55b54764421b7156c9"}
        )
        response = await _sync(client, source.id)
        assert response.json() == {
            **_nest(404, "L’habilitation 5f8d0d55b54764421b7156c9 n’est pas valide"),
            "reason": "habilitationInvalid",  # Guichet's (tests/depot/test_publish_reasons.py)
        }

    async def test_ids_checked_before_the_admin_token(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/revisions/coucou/sync-ids-ban-publish")
        assert response.json() == _nest(400, "Revision Id coucou is not ObjectId")
        unknown = "5f8d0d55b54764421b7156c9"
        response = await client.post(f"/revisions/{unknown}/sync-ids-ban-publish")
        assert response.json() == _nest(404, f"Revision {unknown} not found")


CALLERS = ("anonymous", "unknown", "deactivated", "other", "owner", "admin")


async def test_authorization_matrix(
    client: httpx.AsyncClient, session: AsyncSession, parties: Parties, bal_31591: bytes
) -> None:
    """Admin only: every client, the owner included, gets the reference's 403 `Non autorisé`."""
    source = await published(client, parties.chef, bal_31591)
    deactivated = await factories.client(session, parties.mandataire, is_active=False)
    await session.commit()
    headers = {
        "anonymous": {},
        "unknown": {"Authorization": "Token " + "w" * 32},
        "deactivated": deactivated.headers,
        "other": parties.other.headers,
        "owner": parties.chef.headers,
        "admin": ADMIN,
    }
    expected = (403, 403, 403, 403, 403, 200)
    for caller, status in zip(CALLERS, expected, strict=True):
        response = await client.post(
            f"/revisions/{source['id']}/sync-ids-ban-publish", headers=headers[caller]
        )
        assert response.status_code == status, (caller, response.text)
        if status == 403:
            assert response.json() == _nest(403, "Non autorisé")
