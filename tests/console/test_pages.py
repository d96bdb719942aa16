"""The public pages without a browser (httpx on the app, the test's rolled-back database): what
they show and hide compared with the API, htmx fragments, static assets and their cache
headers, the search, the 404s, and the pages' arithmetic."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.console import assets, search
from guichet.console.paging import MAX_PAGE, Pages, page_number
from guichet.depot.models import Revision
from tests.console.conftest import VALID_BAL, invalid_bal
from tests.depot import factories
from tests.depot.helpers import computed, published


@pytest.fixture
async def parties(session: AsyncSession) -> factories.Parties:
    return await factories.parties(session)


async def test_pages_show_what_the_api_shows_and_nothing_more(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await factories.mandataire(session, email="mandataire-secret@test.fr")
    chef = await factories.chef_de_file(
        session, [("commune", "31591")], email="chef-prive@test.fr", is_email_public=False
    )
    party = await factories.client(session, owner, chef, nom="Éditeur")
    revision = await published(client, party, VALID_BAL)

    api = (await client.get("/communes/31591/current-revision")).json()
    assert api["client"]["chefDeFileEmail"] is None  # the API hides a private e-mail
    for path in ("/ui/communes/31591", f"/ui/revisions/{revision['id']}"):
        page = (await client.get(path)).text
        assert "Éditeur" in page
        for secret in ("chef-prive@test.fr", "mandataire-secret@test.fr", party.token):
            assert secret not in page, (path, secret)


async def test_report_fragment_for_htmx(
    client: httpx.AsyncClient, parties: factories.Parties
) -> None:
    refused = await computed(client, parties.chef, invalid_bal())
    path = f"/ui/revisions/{refused['id']}"
    htmx = {"HX-Request": "true", "HX-Target": "rapport"}
    response = await client.get(path, params={"niveau": "W", "code": ""}, headers=htmx)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="rapport"')  # the fragment only
    # The address bar shows the filters that apply, not the empty ones.
    assert response.headers["HX-Push-Url"] == f"{path}?niveau=W"
    assert {"HX-Request", "HX-Target"} <= {v.strip() for v in response.headers["Vary"].split(",")}
    levels = set(re.findall(r"fr-badge--(error|warning|info)\">", response.text))
    assert levels == {"warning"}

    # A history restore (cache miss) wants the whole page, as does a plain request.
    restore = {**htmx, "HX-History-Restore-Request": "true"}
    for headers in (restore, {}):
        page = await client.get(path, params={"niveau": "W"}, headers=headers)
        assert page.text.startswith("<!doctype html>")
        assert "HX-Push-Url" not in page.headers


async def test_report_whose_blob_is_gone(
    client: httpx.AsyncClient, parties: factories.Parties, session: AsyncSession, app: FastAPI
) -> None:
    refused = await computed(client, parties.chef, invalid_bal())
    key = await session.scalar(select(Revision.report_key).where(Revision.id == refused["id"]))
    assert key is not None
    await app.state.blob_store.delete(key)
    page = await client.get(f"/ui/revisions/{refused['id']}")
    assert page.status_code == 200
    assert "Le rapport détaillé de cette validation n’est plus disponible." in page.text
    assert "Fichier refusé" in page.text


async def test_static_assets_are_served_with_long_cache(client: httpx.AsyncClient) -> None:
    page = await client.get("/ui/")
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    linked = re.findall(r'(?:href|src)="(/ui/static/[^"]+)"', page.text)
    assert {url.split("?")[0].rsplit("/", 1)[1] for url in linked} >= {
        "dsfr.min.css",
        "dsfr.module.min.js",
        "htmx.min.js",
        "console.css",
    }
    for url in linked:
        assert url.endswith(f"?v={assets.token()}")
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    # What the stylesheet loads is shipped too (the console works offline).
    css = (await client.get("/ui/static/vendor/dsfr/dsfr.min.css")).text
    refs = {ref for ref in re.findall(r"url\(['\"]?([^'\")]+)", css) if not ref.startswith("data:")}
    assert len(refs) > 50
    for ref in sorted(refs):
        assert (await client.get(f"/ui/static/vendor/dsfr/{ref}")).status_code == 200, ref
    assert (await client.get("/ui/static/vendor/nothing.js")).status_code == 404


async def test_search_by_code_and_by_name(client: httpx.AsyncClient) -> None:
    straight = await client.get("/ui/", params={"q": "31591"})
    assert straight.status_code == 303
    assert straight.headers["location"] == "/ui/communes/31591"
    page = await client.get("/ui/", params={"q": "saint etienne"})
    assert "Saint-Étienne</a>" in page.text  # no accents, no hyphen: found
    assert (await client.get("/ui/", params={"q": "zzzzqq"})).text.count("Aucune commune") == 1


def test_search_ranks_names_starting_with_the_words_first() -> None:
    names = [found.nom for found in search.by_name("escou")]
    assert names[0] == "Escou"
    assert names.index("Escoulis") < names.index("La Baule-Escoublac")
    assert len(names) == search.MAX_RESULTS
    # A former commune (merged into Arboys en Bugey, 01015): found, with today's commune.
    assert search.by_code("01340") == search.Found("01340", "Saint-Bois", "01", former_of="01015")
    assert search.by_code("99999") is None and search.by_code("abc") is None


async def test_not_found_pages(client: httpx.AsyncClient) -> None:
    for path in ("/ui/communes/99999", "/ui/revisions/xyz", "/ui/pas/ici"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert "<h1>Page non trouvée</h1>" in response.text
    # Outside /ui/ the API's JSON 404 is untouched.
    api = await client.get("/nulle-part")
    assert api.status_code == 404 and api.headers["content-type"] == "application/json"


async def test_history_pages_newest_first(
    client: httpx.AsyncClient, parties: factories.Parties, session: AsyncSession
) -> None:
    created = [await factories.revision(session, parties.chef.client) for _ in range(23)]
    second = await client.get("/ui/communes/31591", params={"page": "2"})
    ids = re.findall(r'href="/ui/revisions/([0-9a-f]{24})"', second.text)
    assert ids == [r.id for r in reversed(created[:3])]
    past_the_end = await client.get("/ui/communes/31591", params={"page": "99"})
    assert re.findall(r'href="/ui/revisions/([0-9a-f]{24})"', past_the_end.text) == ids


def test_page_numbers_and_links() -> None:
    assert [page_number(v) for v in (None, "", "abc", "0", "-3", "7", "9" * 30)] == [
        1, 1, 1, 1, 1, 7, MAX_PAGE,
    ]  # fmt: skip
    pages = Pages(number=6, size=10, total=200, base="/ui/x", params=(("niveau", "E"),))
    assert (pages.count, pages.offset, pages.first_item, pages.last_item) == (20, 50, 51, 60)
    shown = [None if link is None else link.page for link in pages.links()]
    assert shown == [1, None, 5, 6, 7, None, 20]
    assert pages.href(1) == "/ui/x?niveau=E"
    assert pages.href(7) == "/ui/x?niveau=E&page=7"
    empty = Pages(number=3, size=10, total=0, base="/ui/x")
    assert (empty.count, empty.current, empty.first_item, empty.last_item) == (1, 1, 0, 0)


async def test_a_revision_page_shows_what_it_changes(
    client: httpx.AsyncClient, parties: factories.Parties
) -> None:
    first = await published(client, parties.chef, VALID_BAL)
    rows = VALID_BAL.rstrip(b"\n").split(b"\n")
    second = await published(client, parties.chef, b"\n".join(rows[:-1]) + b"\n")  # one removed
    page = (await client.get(f"/ui/revisions/{second['id']}")).text
    assert "Ce qui change" in page
    assert f'href="/ui/revisions/{first["id"]}"' in page  # the revision it replaced
    summary = re.search(r"<caption>Résumé</caption>.*?<tbody>(.*?)</tbody>", page, re.S)
    assert summary is not None
    cells = re.findall(r"<td>([^<]*)</td>", summary.group(1))
    unchanged = str(len(rows) - 2)  # header and the removed row aside
    assert cells == ["0", "1", "0", unchanged, "0", "0", "0"]
    assert "Adresses supprimées" in page
    first_page = (await client.get(f"/ui/revisions/{first['id']}")).text
    assert "toutes les adresses sont nouvelles" in first_page
