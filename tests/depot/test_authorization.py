"""Who may call what: every route, for each kind of caller (§2.1)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.depot import factories
from tests.depot.conftest import ADMIN
from tests.depot.factories import Parties

CALLERS = ("anonymous", "wrong", "other", "admin", "owner")


def _headers(caller: str, parties: Parties) -> dict[str, str]:
    return {
        "anonymous": {},
        "wrong": {"Authorization": "Token " + "w" * 32},
        "other": parties.other.headers,
        "admin": ADMIN,
        "owner": parties.chef.headers,
    }[caller]


async def _ids(session: AsyncSession, parties: Parties) -> dict[str, str]:
    revision = await factories.revision(session, parties.chef.client, published=True, current=True)
    return {
        "rev": revision.id,
        "client": parties.chef.client.id,
        "chef": parties.chef_de_file.id,
        "mand": parties.mandataire.id,
    }


PUBLIC = [
    "/current-revisions",
    "/last-revisions",
    "/communes/31591/current-revision",
    "/communes/31591/revisions",
    "/revisions/{rev}",
    "/revisions/client/{client}",
    "/clients",
    "/clients/{client}",
    "/chefs-de-file",
    "/chefs-de-file/{chef}",
    "/mandataires",
    "/mandataires/{mand}",
]
OWNER = [
    ("PUT", "/revisions/{rev}/files/bal"),
    ("POST", "/revisions/{rev}/compute"),
    ("POST", "/revisions/{rev}/publish"),
]
ADMIN_ROUTES = [
    ("POST", "/clients"),
    ("PUT", "/clients/{client}"),
    ("POST", "/clients/{client}/token/renew"),
    ("PUT", "/clients/{client}/chef_de_file/perimeter"),
    ("POST", "/chefs-de-file"),
    ("PUT", "/chefs-de-file/{chef}"),
    ("POST", "/mandataires"),
    ("PUT", "/mandataires/{mand}"),
]


@pytest.mark.parametrize("caller", CALLERS)
async def test_public_routes_answer_everyone(
    client: httpx.AsyncClient, session: AsyncSession, parties: Parties, caller: str
) -> None:
    ids = await _ids(session, parties)
    for path in PUBLIC:
        response = await client.get(path.format(**ids), headers=_headers(caller, parties))
        assert response.status_code == 200, (path, response.text)
        assert parties.chef.token not in response.text


@pytest.mark.parametrize(
    ("caller", "status"),
    [("anonymous", 401), ("wrong", 401), ("admin", 401), ("other", 201), ("owner", 201)],
)
async def test_create_revision_needs_a_client(
    client: httpx.AsyncClient, parties: Parties, caller: str, status: int
) -> None:
    response = await client.post(
        "/communes/31591/revisions", json={"context": {}}, headers=_headers(caller, parties)
    )
    assert response.status_code == status


@pytest.mark.parametrize(
    ("caller", "status"), [("anonymous", 401), ("wrong", 401), ("admin", 401), ("other", 403)]
)
async def test_owner_routes_refuse_everyone_else(
    client: httpx.AsyncClient, session: AsyncSession, parties: Parties, caller: str, status: int
) -> None:
    ids = await _ids(session, parties)
    for method, path in OWNER:
        response = await client.request(
            method, path.format(**ids), content=b"x", headers=_headers(caller, parties)
        )
        assert response.status_code == status, (method, path, response.text)


async def test_owner_gets_past_authorization(
    client: httpx.AsyncClient, session: AsyncSession, parties: Parties
) -> None:
    ids = await _ids(session, parties)  # a published revision: 412 for each step
    for method, path in OWNER:
        response = await client.request(
            method, path.format(**ids), content=b"x", headers=parties.chef.headers
        )
        assert response.status_code == 412, (method, path, response.text)


@pytest.mark.parametrize("caller", ["anonymous", "wrong", "other", "owner"])
async def test_admin_routes_refuse_non_admins(
    client: httpx.AsyncClient, session: AsyncSession, parties: Parties, caller: str
) -> None:
    ids = await _ids(session, parties)
    for method, path in ADMIN_ROUTES:
        response = await client.request(
            method, path.format(**ids), json={}, headers=_headers(caller, parties)
        )
        assert response.json() == {"statusCode": 403, "message": "Non autorisé"}, (method, path)


async def test_admin_routes_accept_the_admin(
    client: httpx.AsyncClient, session: AsyncSession, parties: Parties
) -> None:
    ids = await _ids(session, parties)
    bearer = {"Authorization": ADMIN["Authorization"].replace("Token", "Bearer")}
    for headers in (ADMIN, bearer):
        for method, path in ADMIN_ROUTES:
            response = await client.request(method, path.format(**ids), json={}, headers=headers)
            assert response.status_code in (200, 400), (method, path, response.text)


async def test_path_parameters_are_checked_before_authentication(client: httpx.AsyncClient) -> None:
    assert (await client.put("/clients/coucou", json={})).status_code == 400
    assert (await client.put("/revisions/coucou/files/bal", content=b"x")).status_code == 400
    assert (await client.post("/revisions/coucou/publish")).status_code == 400
