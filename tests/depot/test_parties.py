"""Clients, chefs de file, mandataires (§2.4 #23–35) and scenario #30: tokens shown once."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.depot.models import Client
from tests.depot.conftest import ADMIN
from tests.depot.factories import Parties

OBJECT_ID = "5f0c8f9e1c9d440000a1b2c3"


class TestClients:
    async def test_create_requires_is_active(
        self, client: httpx.AsyncClient, parties: Parties
    ) -> None:
        response = await client.post(
            "/clients", json={"nom": "x", "mandataireId": parties.mandataire.id}, headers=ADMIN
        )
        assert response.status_code == 400
        assert response.json()["message"] == ["isActive should not be empty"]

    async def test_token_shown_once_then_never(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        body = {
            "nom": "Éditeur",
            "mandataireId": parties.mandataire.id,
            "isActive": True,
            "chefDeFileId": parties.chef_de_file.id,
        }
        response = await client.post(
            "/clients",
            json=body,
            headers={"Authorization": f"Bearer {ADMIN['Authorization'].split()[1]}"},
        )
        assert response.status_code == 200
        created = response.json()
        token = created["token"]
        assert len(token) == 32 and token.isalnum()
        assert created["authorizationStrategy"] == "chef-de-file"
        stored = await session.scalar(select(Client).where(Client.id == created["id"]))
        assert stored is not None and token.encode() not in stored.token_hash
        listed = (await client.get("/clients")).json()
        assert all("token" not in c for c in listed)
        assert token not in (await client.get("/clients")).text
        assert "token" not in (await client.get(f"/clients/{created['id']}", headers=ADMIN)).json()
        # the token works
        response = await client.post(
            "/communes/31591/revisions",
            json={"context": {}},
            headers={"Authorization": f"Token {token}"},
        )
        assert response.status_code == 201

    async def test_strategy_habilitation_without_chef_de_file(
        self, client: httpx.AsyncClient, parties: Parties
    ) -> None:
        body = {"nom": "x", "mandataireId": parties.mandataire.id, "isActive": True}
        created = (await client.post("/clients", json=body, headers=ADMIN)).json()
        assert created["authorizationStrategy"] == "habilitation"
        assert created["chefDeFileId"] is None

    async def test_unknown_mandataire_or_chef(
        self, client: httpx.AsyncClient, parties: Parties
    ) -> None:
        body = {"nom": "x", "mandataireId": OBJECT_ID, "isActive": True}
        response = await client.post("/clients", json=body, headers=ADMIN)
        assert response.json() == {
            "statusCode": 404,
            "message": f"Mandataire {OBJECT_ID} not found",
        }
        body = {**body, "mandataireId": parties.mandataire.id, "chefDeFileId": OBJECT_ID}
        response = await client.post("/clients", json=body, headers=ADMIN)
        assert response.json() == {
            "statusCode": 404,
            "message": f"Chef de file {OBJECT_ID} not found",
        }

    async def test_renew_token(self, client: httpx.AsyncClient, parties: Parties) -> None:
        old = parties.chef
        response = await client.post(f"/clients/{old.client.id}/token/renew", headers=ADMIN)
        token = response.json()["token"]
        assert token != old.token
        assert (
            await client.post(
                "/communes/31591/revisions", json={"context": {}}, headers=old.headers
            )
        ).status_code == 401
        assert (
            await client.post(
                "/communes/31591/revisions",
                json={"context": {}},
                headers={"Authorization": f"Token {token}"},
            )
        ).status_code == 201

    async def test_update_and_deactivate(self, client: httpx.AsyncClient, parties: Parties) -> None:
        path = f"/clients/{parties.chef.client.id}"
        response = await client.put(path, json={"nom": "renamed", "isActive": False}, headers=ADMIN)
        body = response.json()
        assert body["nom"] == "renamed" and body["isActive"] is False and "token" not in body
        assert body["authorizationStrategy"] == "chef-de-file"
        response = await client.post(
            "/communes/31591/revisions", json={"context": {}}, headers=parties.chef.headers
        )
        assert response.status_code == 403
        assert (await client.put("/clients/coucou", json={}, headers=ADMIN)).status_code == 400
        assert (
            await client.put(f"/clients/{OBJECT_ID}", json={}, headers=ADMIN)
        ).status_code == 404

    async def test_client_perimeters(self, client: httpx.AsyncClient, parties: Parties) -> None:
        path = f"/clients/{parties.chef.client.id}/chef_de_file/perimeter"
        body = {"perimeters": [{"type": "departement", "code": "91"}]}
        response = await client.put(path, json=body, headers=ADMIN)
        assert response.status_code == 200 and response.content == b""
        chef = (await client.get(f"/chefs-de-file/{parties.chef_de_file.id}")).json()
        assert [(p["type"], p["code"]) for p in chef["perimeters"]] == [("departement", "91")]
        bad = {"perimeters": [{"type": "region", "code": "11"}]}
        assert (await client.put(path, json=bad, headers=ADMIN)).status_code == 400
        path = f"/clients/{parties.habilitation.client.id}/chef_de_file/perimeter"
        assert (await client.put(path, json=body, headers=ADMIN)).status_code == 400


class TestChefsDeFile:
    async def test_crud(self, client: httpx.AsyncClient) -> None:
        created = (
            await client.post(
                "/chefs-de-file", json={"nom": "test", "email": "t@test.fr"}, headers=ADMIN
            )
        ).json()
        assert created["isEmailPublic"] is False and created["isSignataireCharte"] is False
        assert created["perimeters"] == []
        change = {
            "nom": "nom",
            "email": "nom@test.fr",
            "isEmailPublic": True,
            "perimeters": [{"type": "commune", "code": "00000"}],
        }
        response = await client.put(f"/chefs-de-file/{created['id']}", json=change, headers=ADMIN)
        updated = response.json()
        assert updated["nom"] == "nom" and updated["isEmailPublic"] is True
        assert [{"type": p["type"], "code": p["code"]} for p in updated["perimeters"]] == change[
            "perimeters"
        ]
        assert (await client.get(f"/chefs-de-file/{created['id']}")).json() == updated
        assert updated in (await client.get("/chefs-de-file")).json()
        assert (await client.get("/chefs-de-file/coucou")).json() == {
            "statusCode": 400,
            "message": "Chef de file Id coucou is not ObjectId",
        }
        assert (await client.get(f"/chefs-de-file/{OBJECT_ID}")).json() == {
            "statusCode": 404,
            "message": f"Chef de file {OBJECT_ID} not found",
        }

    async def test_validation(self, client: httpx.AsyncClient) -> None:
        for body in ({"nom": "ab", "email": "t@test.fr"}, {"nom": "test", "email": "nope"}, {}):
            response = await client.post("/chefs-de-file", json=body, headers=ADMIN)
            assert response.status_code == 400 and response.json()["error"] == "Bad Request"


class TestMandataires:
    async def test_crud(self, client: httpx.AsyncClient) -> None:
        created = (
            await client.post(
                "/mandataires", json={"nom": "m", "email": "m@test.fr"}, headers=ADMIN
            )
        ).json()
        assert set(created) == {"id", "nom", "email", "createdAt", "updatedAt"}
        response = await client.put(
            f"/mandataires/{created['id']}", json={"nom": "n"}, headers=ADMIN
        )
        assert response.json()["nom"] == "n" and response.json()["email"] == "m@test.fr"
        assert (await client.get(f"/mandataires/{created['id']}")).json()["nom"] == "n"
        assert [m["id"] for m in (await client.get("/mandataires")).json()] == [created["id"]]
        assert (await client.get("/mandataires/coucou")).json() == {
            "statusCode": 400,
            "message": "Mandataire Id coucou is not ObjectId",
        }
        assert (
            await client.post("/mandataires", json={"nom": "m"}, headers=ADMIN)
        ).status_code == 400


class TestPrivacy:
    async def test_tokens_never_reach_the_logs(
        self,
        client: httpx.AsyncClient,
        parties: Parties,
        bal_31591: bytes,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level("DEBUG")
        body = {"nom": "x", "mandataireId": parties.mandataire.id, "isActive": True}
        token = (await client.post("/clients", json=body, headers=ADMIN)).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        created = await client.post("/communes/31591/revisions", json={"context": {}}, headers=auth)
        await client.put(
            f"/revisions/{created.json()['id']}/files/bal", content=bal_31591, headers=auth
        )
        await client.get("/clients?token=" + token)
        # the server's records (httpx, the test's own client, logs the URLs it calls)
        text = "".join(str(r.msg) + str(r.args) for r in caplog.records if r.name != "httpx")
        assert "http.request" in text
        assert token not in text
        assert ADMIN["Authorization"].split()[1] not in text
