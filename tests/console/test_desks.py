"""The desks without a browser (httpx on the app, the test's rolled-back database): who may see
which page, CSRF tokens, the session cookie, secrets shown once, and a partner kept to its own
runs."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.config import Settings
from guichet.depot.models import Client, Mandataire
from guichet.partners.models import Partner, Run
from tests.conftest import make_settings
from tests.console.conftest import ADMIN_TOKEN
from tests.depot import factories
from tests.loaders.helpers import loader_file, new_partner, post

ADMIN_PAGES = [
    "/ui/admin/",
    "/ui/admin/mandataires",
    "/ui/admin/chefs-de-file",
    "/ui/admin/clients",
    "/ui/admin/habilitations",
    "/ui/admin/revisions",
    "/ui/admin/partenaires",
    "/ui/admin/partenaires/acme",
    "/ui/admin/partenaires/acme/executions/00000000-0000-0000-0000-000000000000",
    "/ui/admin/executions",
    "/ui/admin/travaux",
    "/ui/admin/courriels",
    "/ui/admin/webhooks",
    "/ui/admin/webhooks/000000000000000000000000",
    "/ui/admin/statistiques",
]
ADMIN_FORMS = [
    "/ui/admin/deconnexion",
    "/ui/admin/mandataires",
    "/ui/admin/chefs-de-file",
    "/ui/admin/chefs-de-file/000000000000000000000000/perimetres",
    "/ui/admin/clients",
    "/ui/admin/clients/000000000000000000000000/jeton",
    "/ui/admin/clients/000000000000000000000000/activation",
    "/ui/admin/habilitations/000000000000000000000000/valider",
    "/ui/admin/partenaires",
    "/ui/admin/partenaires/acme/cle",
    "/ui/admin/partenaires/acme/activation",
    "/ui/admin/partenaires/acme/depot/creer",
    "/ui/admin/partenaires/acme/depot/rotation",
    "/ui/admin/partenaires/acme/depot/revocation",
    "/ui/admin/travaux/1/relancer",
]
RUN = "00000000-0000-0000-0000-000000000000"
PARTNER_PAGES = [
    "/ui/partner/",
    "/ui/partner/depot",
    f"/ui/partner/executions/{RUN}",
    f"/ui/partner/executions/{RUN}/rapport.json",
    f"/ui/partner/executions/{RUN}/source",
]
PARTNER_FORMS = ["/ui/partner/deconnexion"]
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "home", admin_token=ADMIN_TOKEN)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, html[:2000]
    return found.group(1)


async def admin_login(client: httpx.AsyncClient, token: str = ADMIN_TOKEN) -> httpx.Response:
    form = await client.get("/ui/admin/connexion")
    return await client.post(
        "/ui/admin/connexion", data={"csrf": csrf_of(form.text), "jeton": token, "suite": ""}
    )


async def partner_login(client: httpx.AsyncClient, partner_id: str, key: str) -> httpx.Response:
    form = await client.get("/ui/partner/connexion")
    data = {"csrf": csrf_of(form.text), "identifiant": partner_id, "cle": key}
    return await client.post("/ui/partner/connexion", data=data)


async def run_of(session: AsyncSession, partner_id: str) -> str:
    query = select(Run.id).join(Partner, Partner.id == Run.partner_id)
    return str(await session.scalar(query.where(Partner.partner_id == partner_id)))


async def test_every_desk_page_sends_an_anonymous_visitor_to_its_login(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await new_partner(session, "acme")
    for path in ADMIN_PAGES + PARTNER_PAGES:
        response = await client.get(path)
        assert response.status_code == 303, path
        desk = "admin" if path.startswith("/ui/admin") else "partner"
        assert response.headers["location"].startswith(f"/ui/{desk}/connexion?suite="), path
    for path in ADMIN_FORMS + PARTNER_FORMS:
        response = await client.post(path, data={"nom": "X", "email": "x@test.fr"})
        assert response.status_code == 303, path
        assert "/connexion" in response.headers["location"], path
    # The login page itself, and where it leads back.
    response = await client.get("/ui/admin/mandataires")
    assert response.headers["location"] == "/ui/admin/connexion?suite=%2Fui%2Fadmin%2Fmandataires"
    assert await session.scalar(select(func.count()).select_from(Mandataire)) == 0


async def test_wrong_token_or_key_and_forged_sessions_are_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    response = await admin_login(client, "not-the-token")
    assert response.status_code == 401
    assert "Jeton d’administration incorrect." in response.text
    key = await new_partner(session, "acme")
    response = await partner_login(client, "acme", key + "x")
    assert response.status_code == 401
    assert "Identifiant ou clé d’API incorrects." in response.text

    # A cookie that was not signed by Guichet, or an admin session sent as a partner's.
    client.cookies.set("guichet_console_admin", "eyJzIjoiYWRtaW4ifQ.forged", path="/ui/admin")
    assert (await client.get("/ui/admin/")).status_code == 303
    client.cookies.clear()
    assert (await admin_login(client)).status_code == 303
    admin_cookie = next(c.value for c in client.cookies.jar if c.name == "guichet_console_admin")
    client.cookies.set("guichet_console_partner", admin_cookie, path="/ui/partner")
    assert (await client.get("/ui/partner/")).status_code == 303


async def test_session_cookie_attributes(app: object, session: AsyncSession) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as https:
        response = await admin_login(https)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/admin/"
    cookie = next(
        value
        for value in response.headers.get_list("set-cookie")
        if value.startswith("guichet_console_admin=")
    )
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "max-age", "path"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "path=/ui/admin" in cookie.lower()
    assert "max-age=28800" in cookie.lower()
    assert ADMIN_TOKEN not in cookie  # bound to a digest of the token, never the token


async def test_forms_without_their_csrf_token_are_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    # The login form too: its token is bound to a cookie of its own.
    response = await client.post("/ui/admin/connexion", data={"jeton": ADMIN_TOKEN})
    assert response.status_code == 403
    assert "Formulaire refusé" in response.text
    await admin_login(client)
    page = await client.get("/ui/admin/mandataires")
    assert page.status_code == 200
    token = csrf_of(page.text)
    body = {"nom": "Adresses & Cie", "email": "m@test.fr"}
    for data in (body, {**body, "csrf": ""}, {**body, "csrf": token[:-1] + "x"}):
        response = await client.post("/ui/admin/mandataires", data=data)
        assert response.status_code == 403, data
    for path in ADMIN_FORMS:
        assert (await client.post(path, data={})).status_code == 403, path
    assert await session.scalar(select(func.count()).select_from(Mandataire)) == 0

    response = await client.post("/ui/admin/mandataires", data={**body, "csrf": token})
    assert response.status_code == 303
    assert await session.scalar(select(func.count()).select_from(Mandataire)) == 1

    key = await new_partner(session, "acme")
    await partner_login(client, "acme", key)
    assert (await client.post("/ui/partner/deconnexion", data={})).status_code == 403
    assert (await client.get("/ui/partner/")).status_code == 200  # still logged in


async def test_client_token_shown_once_and_working(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await factories.mandataire(session)
    await session.commit()
    await admin_login(client)
    token = csrf_of((await client.get("/ui/admin/clients")).text)
    data = {"csrf": token, "nom": "Éditeur", "mandataire": owner.id, "chef_de_file": ""}
    response = await client.post("/ui/admin/clients", data=data)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    shown = re.search(r'<code id="jeton">([^<]+)</code>', response.text)
    assert shown
    # The token works on the API, and no page shows it again.
    created = await client.post(
        "/communes/31591/revisions",
        headers={"Authorization": f"Token {shown.group(1)}"},
        json={"context": {}},
    )
    assert created.status_code == 201, created.text
    assert shown.group(1) not in (await client.get("/ui/admin/clients")).text
    found = await session.scalar(select(Client).where(Client.nom == "Éditeur"))
    assert found is not None and found.is_active

    # Deactivated from the desk: the API refuses its token.
    data = {"csrf": token, "actif": "non"}
    response = await client.post(f"/ui/admin/clients/{found.id}/activation", data=data)
    assert response.status_code == 303
    refused = await client.post(
        "/communes/31591/revisions",
        headers={"Authorization": f"Token {shown.group(1)}"},
        json={"context": {}},
    )
    assert refused.status_code in (401, 403)


async def test_partner_sees_its_own_runs_only(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    acme, other = await new_partner(session, "acme"), await new_partner(session, "other")
    own = (await post(client, loader_file("acme", acme))).json()
    theirs = (await post(client, loader_file("other", other))).json()
    assert own["status"] == theirs["status"] == "SUCCESS"
    own_id, their_id = await run_of(session, "acme"), await run_of(session, "other")

    assert (await partner_login(client, "acme", acme)).status_code == 303
    listing = await client.get("/ui/partner/")
    assert listing.status_code == 200
    assert own_id in listing.text and their_id not in listing.text
    assert (await client.get(f"/ui/partner/executions/{own_id}")).status_code == 200
    report = await client.get(f"/ui/partner/executions/{own_id}/rapport.json")
    assert report.json() == own
    assert (await client.get(f"/ui/partner/executions/{own_id}/source")).status_code == 200
    for suffix in ("", "/rapport.json", "/source"):
        response = await client.get(f"/ui/partner/executions/{their_id}{suffix}")
        assert response.status_code == 404, suffix
        assert other not in response.text

    # A rotated key ends the sessions opened with the old one.
    await admin_login(client)
    token = csrf_of((await client.get("/ui/admin/partenaires/acme")).text)
    rotated = await client.post("/ui/admin/partenaires/acme/cle", data={"csrf": token})
    assert rotated.status_code == 200 and 'id="secret"' in rotated.text
    assert (await client.get("/ui/partner/")).status_code == 303
