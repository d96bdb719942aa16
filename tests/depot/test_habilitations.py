"""Habilitations (§2.4 #14–18, §3.3–3.4, §4.2) and who may publish for a commune: scenarios
#16–21, #26 and #29 of §5.2, the publish-time strategies and perimeters, and the authorization
matrix of every new route."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.config import HabilitationSettings, Settings
from guichet.depot.models import AuthorizationStrategy, Habilitation, Revision
from tests.conftest import Inbox
from tests.depot import factories
from tests.depot.conftest import (
    ADMIN,
    ESCOULIS_EMAILS,
    accepted_habilitation,
    create_habilitation,
    habilitation_settings,
    send_pin,
    validate_pin,
)
from tests.depot.factories import Parties, Party
from tests.depot.helpers import computed

OBJECT_ID = "5f8d0d55b54764421b7156c9"


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


async def _publish(
    client: httpx.AsyncClient, party: Party, revision_id: str, habilitation_id: str | None
) -> httpx.Response:
    body = {} if habilitation_id is None else {"habilitationId": habilitation_id}
    return await client.post(f"/revisions/{revision_id}/publish", json=body, headers=party.headers)


class TestCreate:
    async def test_created_pending(self, client: httpx.AsyncClient, parties: Parties) -> None:
        """Scenario #26."""
        response = await client.post(
            "/communes/31591/habilitations", headers=parties.habilitation.bearer
        )
        assert response.status_code == 201
        body = response.json()
        assert body["codeCommune"] == "31591"
        assert body["emailCommune"] is None
        assert body["strategy"] is None
        assert body["status"] == "pending"
        assert body["clientId"] == parties.habilitation.client.id
        assert body["acceptedAt"] is None and body["rejectedAt"] is None
        assert body["createdAt"].endswith("Z")

    async def test_current_communes_only(self, client: httpx.AsyncClient, parties: Parties) -> None:
        # 01340 is a former commune: refused even with ancienneCommuneAllowed (the reference's
        # CommuneActuelleMiddleware, with its straight apostrophe).
        for path in (
            "/communes/coucou/habilitations",
            "/communes/01340/habilitations?ancienneCommuneAllowed=true",
        ):
            response = await client.post(path, headers=parties.habilitation.headers)
            assert response.json() == _nest(404, "Le code commune n'existe pas")
        # An arrondissement is a commune here.
        assert (await create_habilitation(client, parties.habilitation, "75101"))["status"]

    async def test_commune_checked_before_authentication(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/communes/coucou/habilitations")
        assert response.status_code == 404
        response = await client.post("/communes/31591/habilitations")
        assert response.json() == _nest(401, "Une authentification est nécessaire")


class TestRead:
    async def test_hides_pin_expiry_and_attempts(
        self, client: httpx.AsyncClient, parties: Parties, inbox: Inbox
    ) -> None:
        """Scenario #26: the PIN is never shown (nor, here, its expiry or attempts left)."""
        party = parties.habilitation
        habilitation = await create_habilitation(client, party)
        await send_pin(client, party, habilitation["id"], ESCOULIS_EMAILS[0])
        body = (
            await client.get(f"/habilitations/{habilitation['id']}", headers=party.headers)
        ).json()
        assert set(body["strategy"]) == {"type", "createdAt"}
        assert body["strategy"]["type"] == "email"
        assert body["emailCommune"] == ESCOULIS_EMAILS[0]
        assert body["client"] == {
            "id": party.client.id,
            "legacyId": None,
            "nom": "test",
            "mandataire": "mandataire",
            "chefDeFile": None,
            "chefDeFileEmail": None,
        }

    async def test_malformed_and_unknown_ids(
        self, client: httpx.AsyncClient, parties: Parties
    ) -> None:
        headers = parties.habilitation.headers
        response = await client.get("/habilitations/coucou", headers=headers)
        assert response.json() == _nest(400, "Habilitation Id coucou is not ObjectId")
        response = await client.get(f"/habilitations/{OBJECT_ID}", headers=headers)
        assert response.json() == _nest(404, f"Habilitation {OBJECT_ID} not found")
        # ids are checked before the token, as the reference's middleware does
        assert (await client.get("/habilitations/coucou")).status_code == 400

    async def test_other_client_cannot_read_send_or_check(
        self, client: httpx.AsyncClient, parties: Parties
    ) -> None:
        habilitation = await create_habilitation(client, parties.habilitation)
        expected = _nest(403, "Vous n’êtes pas autorisé à accéder à cette habilitation")
        for response in (
            await client.get(f"/habilitations/{habilitation['id']}", headers=parties.other.headers),
            await send_pin(client, parties.other, habilitation["id"], ESCOULIS_EMAILS[0]),
            await validate_pin(client, parties.other, habilitation["id"], "123456"),
        ):
            assert response.json() == expected


class TestAdminValidate:
    @pytest.mark.parametrize("scheme", ["Token", "Bearer"])
    async def test_admin_accepts(
        self, client: httpx.AsyncClient, parties: Parties, scheme: str
    ) -> None:
        """Scenario #29."""
        habilitation = await create_habilitation(client, parties.habilitation)
        token = ADMIN["Authorization"].split(" ")[1]
        response = await client.put(
            f"/habilitations/{habilitation['id']}/validate",
            headers={"Authorization": f"{scheme} {token}"},
        )
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "accepted"
        assert body["strategy"] == {"type": "internal"}
        assert body["acceptedAt"] is not None
        assert "expiresAt" not in body  # habilitations do not expire by default

    async def test_clients_cannot(self, client: httpx.AsyncClient, parties: Parties) -> None:
        habilitation = await create_habilitation(client, parties.habilitation)
        for headers in ({}, parties.habilitation.headers):
            response = await client.put(
                f"/habilitations/{habilitation['id']}/validate", headers=headers
            )
            assert response.json() == _nest(403, "Non autorisé")
        response = await client.put(f"/habilitations/{OBJECT_ID}/validate", headers=ADMIN)
        assert response.json() == _nest(404, f"Habilitation {OBJECT_ID} not found")


class TestAreValid:
    async def test_valid_only_when_accepted_and_own(
        self, client: httpx.AsyncClient, parties: Parties, inbox: Inbox
    ) -> None:
        accepted = await accepted_habilitation(client, parties.habilitation, inbox)
        pending = await create_habilitation(client, parties.habilitation)
        others = await create_habilitation(client, parties.other)
        await client.put(f"/habilitations/{others['id']}/validate", headers=ADMIN)
        ids = [accepted["id"], pending["id"], others["id"], OBJECT_ID, "coucou"]
        response = await client.post(
            "/habilitations/are-valid", json={"ids": ids}, headers=parties.habilitation.headers
        )
        assert response.status_code == 200
        assert response.json() == {
            accepted["id"]: True,
            pending["id"]: False,
            others["id"]: False,  # another client's: never usable by this one
            OBJECT_ID: False,
            "coucou": False,
        }
        response = await client.post(
            "/habilitations/are-valid", json={"ids": [others["id"]]}, headers=parties.other.headers
        )
        assert response.json() == {others["id"]: True}

    async def test_ids_required(self, client: httpx.AsyncClient, parties: Parties) -> None:
        response = await client.post(
            "/habilitations/are-valid", json={}, headers=parties.habilitation.headers
        )
        assert response.status_code == 400  # a 500 in the reference
        assert response.json()["message"] == ["ids should not be empty"]


class TestEmails:
    async def test_mairie_addresses(self, client: httpx.AsyncClient, annuaire_url: str) -> None:
        response = await client.get("/communes/31591/emails")
        assert response.status_code == 200
        assert response.json() == ESCOULIS_EMAILS

    async def test_nothing_found_is_an_empty_list(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/communes/64102/emails")).json() == []
        # not a commune code: not even asked (the query language must not be injected)
        response = await client.get('/communes/1" OR "1"="1/emails')
        assert response.json() == []

    async def test_annuaire_down_is_an_empty_list(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        app.state.settings = app.state.settings.model_copy(
            update={"habilitations": HabilitationSettings(annuaire_url="http://127.0.0.1:9/x")}
        )
        assert (await client.get("/communes/31591/emails")).json() == []


class TestPublishWithHabilitation:
    async def test_without_habilitation(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
    ) -> None:
        """Scenario #16."""
        revision = await computed(client, parties.habilitation, bal_31591)
        response = await _publish(client, parties.habilitation, revision["id"], None)
        assert response.json() == {
            **_nest(400, "Le client test nécessite une habilitation pour publier"),
            "reason": "habilitationRequired",  # Guichet's (tests/depot/test_publish_reasons.py)
        }

    async def test_invalid_habilitations(
        self,
        client: httpx.AsyncClient,
        parties: Parties,
        bal_31591: bytes,
        session: AsyncSession,
    ) -> None:
        """Scenario #17: unknown, pending, another commune's, another client's."""
        party = parties.habilitation
        revision = await computed(client, party, bal_31591)
        pending = await create_habilitation(client, party)
        elsewhere = await create_habilitation(client, party, "91534")
        await client.put(f"/habilitations/{elsewhere['id']}/validate", headers=ADMIN)
        stranger = await factories.client(session, parties.mandataire, nom="stranger")
        await session.commit()
        theirs = await create_habilitation(client, stranger)
        await client.put(f"/habilitations/{theirs['id']}/validate", headers=ADMIN)
        for habilitation_id in (OBJECT_ID, pending["id"], elsewhere["id"], theirs["id"]):
            response = await _publish(client, party, revision["id"], habilitation_id)
            assert response.json() == {
                **_nest(404, f"L’habilitation {habilitation_id} n’est pas valide"),
                "reason": "habilitationInvalid",
            }

    async def test_not_ready_or_already_published(
        self,
        client: httpx.AsyncClient,
        parties: Parties,
        session: AsyncSession,
    ) -> None:
        """Scenario #18, checked before the habilitation."""
        party = parties.habilitation
        not_ready = await factories.revision(session, party.client)
        done = await factories.revision(session, party.client, published=True)
        await session.commit()
        for revision, reason in ((not_ready, "notReady"), (done, "notPending")):
            response = await _publish(client, party, revision.id, None)
            assert response.json() == {
                **_nest(412, "La publication n’est pas possible"),
                "reason": reason,
            }

    async def test_first_publish_with_accepted_habilitation(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, inbox: Inbox
    ) -> None:
        """Scenario #19, the habilitation obtained by the e-mailed PIN."""
        party = parties.habilitation
        habilitation = await accepted_habilitation(client, party, inbox)
        revision = await computed(client, party, bal_31591)
        response = await _publish(client, party, revision["id"], habilitation["id"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "published"
        assert body["isCurrent"] is True
        assert body["isReady"] is None
        assert body["publishedAt"] is not None
        snapshot = body["habilitation"]
        assert snapshot["id"] == habilitation["id"]
        assert snapshot["codeCommune"] == "31591"
        assert snapshot["emailCommune"] == ESCOULIS_EMAILS[0]
        assert snapshot["strategy"]["type"] == "email"
        assert set(snapshot) == {
            "id", "emailCommune", "codeCommune", "createdAt", "updatedAt", "strategy"
        }  # fmt: skip
        # reusable for the next publications of that commune by that client
        again = await computed(client, party, bal_31591)
        assert (await _publish(client, party, again["id"], habilitation["id"])).status_code == 200

    async def test_publish_moves_current_and_invalidates_pending(
        self,
        client: httpx.AsyncClient,
        parties: Parties,
        session: AsyncSession,
    ) -> None:
        """Scenario #20, by a habilitation client (admin-validated habilitation)."""
        party = parties.habilitation
        habilitation = await create_habilitation(client, party)
        await client.put(f"/habilitations/{habilitation['id']}/validate", headers=ADMIN)
        current = await factories.revision(
            session, parties.chef.client, rows_count=6, published=True, current=True
        )
        ready = await factories.revision(session, party.client, rows_count=6, ready=True)
        other = await factories.revision(session, parties.other.client, rows_count=6, ready=True)
        await session.commit()
        response = await _publish(client, party, ready.id, habilitation["id"])
        assert response.status_code == 200, response.text
        old_current = await session.get(Revision, current.id, populate_existing=True)
        assert old_current is not None and old_current.is_current is False
        other_pending = await session.get(Revision, other.id, populate_existing=True)
        assert other_pending is not None and other_pending.is_ready is False
        assert response.json()["habilitation"]["strategy"] == {"type": "internal"}

    async def test_second_ready_revision_refused_after_the_first(
        self,
        client: httpx.AsyncClient,
        parties: Parties,
        session: AsyncSession,
    ) -> None:
        """Scenario #21's outcome: of two ready revisions of one commune, once one is
        published the other is refused (412) until computed again. The truly concurrent case
        (20 processes, PostgreSQL's lock) is tests/depot/test_concurrency.py."""
        party = parties.habilitation
        habilitation = await create_habilitation(client, party)
        await client.put(f"/habilitations/{habilitation['id']}/validate", headers=ADMIN)
        first = await factories.revision(session, party.client, rows_count=6, ready=True)
        second = await factories.revision(session, party.client, rows_count=6, ready=True)
        await session.commit()
        assert (await _publish(client, party, first.id, habilitation["id"])).status_code == 200
        response = await _publish(client, party, second.id, habilitation["id"])
        assert response.json() == {
            **_nest(412, "La publication n’est pas possible"),
            "reason": "outdated",
        }

    async def test_expired_habilitation(
        self,
        client: httpx.AsyncClient,
        parties: Parties,
        session: AsyncSession,
        app: Any,
    ) -> None:
        """With `habilitations.expiry_days`, an accepted habilitation ends."""
        app.state.settings = app.state.settings.model_copy(
            update={"habilitations": HabilitationSettings(expiry_days=30)}
        )
        party = parties.habilitation
        habilitation = await create_habilitation(client, party)
        accepted = await client.put(f"/habilitations/{habilitation['id']}/validate", headers=ADMIN)
        accepted_at = dt.datetime.fromisoformat(accepted.json()["acceptedAt"])
        expires_at = dt.datetime.fromisoformat(accepted.json()["expiresAt"])
        assert expires_at - accepted_at == dt.timedelta(days=30)
        revision = await factories.revision(session, party.client, rows_count=6, ready=True)
        await session.execute(
            update(Habilitation)
            .where(Habilitation.id == habilitation["id"])
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        await session.commit()
        response = await _publish(client, party, revision.id, habilitation["id"])
        assert response.json() == {
            **_nest(404, f"L’habilitation {habilitation['id']} n’est pas valide"),
            "reason": "habilitationInvalid",
        }
        response = await client.post(
            "/habilitations/are-valid", json={"ids": [habilitation["id"]]}, headers=party.headers
        )
        assert response.json() == {habilitation["id"]: False}


class TestPerimeterAtPublish:
    """Chef-de-file clients, checked again at publish (the perimeter may change after compute)."""

    @pytest.mark.parametrize(
        ("perimeter", "code", "allowed"),
        [
            (("commune", "31591"), "31591", True),
            (("departement", "31"), "31591", True),
            (("epci", "200073146"), "31591", True),  # CC Cagire Garonne Salat
            (("departement", "91"), "31591", False),
            (("commune", "75056"), "75101", True),  # an arrondissement through its commune
            (("commune", "75056"), "13201", False),
        ],
    )
    async def test_perimeters(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        parties: Parties,
        perimeter: tuple[str, str],
        code: str,
        allowed: bool,
    ) -> None:
        chef = await factories.chef_de_file(session, [perimeter])
        party = await factories.client(session, parties.mandataire, chef)
        revision = await factories.revision(session, party.client, code, rows_count=1, ready=True)
        await session.commit()
        response = await _publish(client, party, revision.id, None)
        if allowed:
            assert response.status_code == 200, response.text
        else:
            assert response.json() == {
                **_nest(
                    412,
                    f"La publication n’est pas possible : la commune {code} n’est pas dans le"
                    " périmètre du chef de file du client",
                ),
                "reason": "outOfPerimeter",
            }

    async def test_perimeter_changed_after_compute(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
    ) -> None:
        revision = await computed(client, parties.chef, bal_31591)
        assert revision["isReady"] is True
        await client.put(
            f"/chefs-de-file/{parties.chef_de_file.id}",
            json={"perimeters": [{"type": "commune", "code": "91534"}]},
            headers=ADMIN,
        )
        response = await _publish(client, parties.chef, revision["id"], None)
        assert response.status_code == 412

    async def test_chef_de_file_strategy_without_chef_publishes_nowhere(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        party = await factories.client(
            session, parties.mandataire, strategy=AuthorizationStrategy.CHEF_DE_FILE
        )
        revision = await factories.revision(session, party.client, rows_count=1, ready=True)
        await session.commit()
        assert (await _publish(client, party, revision.id, None)).status_code == 412

    async def test_internal_client_needs_no_habilitation(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        party = await factories.client(
            session, parties.mandataire, strategy=AuthorizationStrategy.INTERNAL
        )
        revision = await factories.revision(session, party.client, rows_count=1, ready=True)
        await session.commit()
        response = await _publish(client, party, revision.id, None)
        assert response.status_code == 200
        assert response.json()["habilitation"] is None


# --- who may call what ------------------------------------------------------------------------

CALLERS = ("anonymous", "unknown", "deactivated", "other", "owner", "admin")

# route → expected status per caller, in CALLERS order
MATRIX: list[tuple[str, str, tuple[int, ...]]] = [
    ("POST", "/communes/31591/habilitations", (401, 401, 403, 201, 201, 401)),
    ("GET", "/communes/31591/emails", (200, 200, 200, 200, 200, 200)),
    ("POST", "/habilitations/are-valid", (401, 401, 403, 200, 200, 401)),
    ("GET", "/habilitations/{hab}", (401, 401, 403, 403, 200, 401)),
    ("PUT", "/habilitations/{hab}/validate", (403, 403, 403, 403, 403, 200)),
    ("POST", "/habilitations/{hab}/authentication/email/send-pin-code",
     (401, 401, 403, 403, 200, 401)),
    # the owner's code is wrong here: 412, past every authorization check
    ("POST", "/habilitations/{hab}/authentication/email/validate-pin-code",
     (401, 401, 403, 403, 412, 401)),
    ("GET", "/stats/firsts-publications", (403, 403, 403, 403, 403, 200)),
    ("GET", "/stats/publications", (403, 403, 403, 403, 403, 200)),
    ("GET", "/stats/metrics-incubateur", (200, 200, 200, 200, 200, 200)),
]  # fmt: skip

_BODIES = {
    "are-valid": {"ids": []},
    "send-pin-code": {"email": ESCOULIS_EMAILS[0]},
    "validate-pin-code": {"code": "1234567"},
}


@pytest.mark.parametrize(("method", "path", "statuses"), MATRIX)
async def test_authorization_matrix(
    client: httpx.AsyncClient,
    session: AsyncSession,
    parties: Parties,
    method: str,
    path: str,
    statuses: tuple[int, ...],
) -> None:
    owner = parties.habilitation
    deactivated = await factories.client(session, parties.mandataire, is_active=False)
    await session.commit()
    for caller, expected in zip(CALLERS, statuses, strict=True):
        # a fresh pending habilitation each time: one caller's success changes nothing for
        # the next one (a PIN sent, an admin's acceptance)
        hab = (await create_habilitation(client, owner))["id"]
        headers = {
            "anonymous": {},
            "unknown": {"Authorization": "Token " + "w" * 32},
            "deactivated": deactivated.headers,
            "other": parties.other.headers,
            "owner": owner.headers,
            "admin": ADMIN,
        }[caller]
        body = next((b for k, b in _BODIES.items() if path.endswith(k)), None)
        response = await client.request(method, path.format(hab=hab), json=body, headers=headers)
        assert response.status_code == expected, (caller, method, path, response.text)
        assert owner.token not in response.text
