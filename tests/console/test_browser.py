"""The public pages in a real browser (headless Chromium), against the real app served by
uvicorn: search, a commune's page and its history, a refused revision's report with its
filters and pages, the same pages without JavaScript, accessibility (axe-core) and the
screenshots of docs/console/.

Set GUICHET_CONSOLE_SCREENSHOTS=docs/console to rewrite the documentation's screenshots.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import (
    CODE,
    DESKTOP,
    MOBILE,
    PENDING_REVISIONS,
    SCREENSHOTS,
    VALID_BAL,
    AxeCheck,
    Served,
    shoot,
    watched_page,
)


@pytest.fixture
def page(browser: Any, served: Served, console_errors: list[tuple[str, str]]) -> Iterator[Any]:
    """A fresh page on the served app (console errors fail the test: :func:`watched_page`)."""
    with watched_page(browser, console_errors, base_url=served.url, viewport=DESKTOP) as opened:
        yield opened


def _rows(page: Any, table: str) -> list[list[str]]:
    """The cells' text as written in the page (not as CSS shows it: badges are upper case)."""
    return [
        [" ".join(cell.split()) for cell in row.locator("td").all_text_contents()]
        for row in page.locator(f"{table} tbody tr").all()
    ]


def test_search_then_commune_page(page: Any, served: Served, axe_violations: AxeCheck) -> None:
    page.goto("/ui/")
    assert page.locator("html").get_attribute("lang") == "fr"
    # htmx: the results come in as one types, without leaving the page.
    page.get_by_label("Nom ou code INSEE de la commune", exact=True).fill("escoul")
    results = page.locator("#resultats")
    results.get_by_role("link", name="Escoulis").wait_for()
    assert "31591 · Haute-Garonne (31)" in results.inner_text()
    assert page.url.endswith("/ui/?q=escoul")  # pushed: the search can be bookmarked
    assert axe_violations(page) == []

    results.get_by_role("link", name="Escoulis").click()
    page.wait_for_url(f"**/ui/communes/{CODE}")
    assert page.locator("h1").inner_text().startswith("Escoulis")
    current = page.locator("#courante-titre + .fr-card")
    text = current.inner_text()
    assert "Mes Adresses" in text and "Adresses & Cie" in text
    assert "CC Cagire Garonne Salat — sig@cc.example" in text  # the chef's public e-mail
    assert re.search(r"Adresses \(lignes\)\s+6\b", text)
    download = current.get_by_role("link", name=re.compile("Télécharger la BAL"))
    href = download.get_attribute("href")
    assert href == f"/communes/{CODE}/current-revision/files/bal/download"
    assert httpx.get(served.url + href).content == VALID_BAL

    # History, newest first: the refused revision, the published one, then the pending ones.
    history = _rows(page, "#historique")
    assert len(history) == 20
    assert [row[2] for row in history[:3]] == [
        "Refusée",
        "Publiée, courante",
        "En attente de validation",
    ]
    assert "23 révisions en tout." in page.locator("#historique").inner_text()
    assert axe_violations(page) == []

    # Page 2 through htmx: only the history is replaced, and the URL follows.
    page.locator("#historique").get_by_role("link", name="Page suivante").click()
    page.wait_for_url(f"**/ui/communes/{CODE}?page=2")
    page.locator("#historique caption", has_text="21 à 23 sur 23").wait_for(state="attached")
    assert len(_rows(page, "#historique")) == PENDING_REVISIONS + 2 - 20
    assert page.locator("#courante-titre").count() == 1  # the rest of the page is still there

    page.locator("#historique tbody tr").first.get_by_role("link").click()
    page.wait_for_url(f"**/ui/revisions/{served.pending_ids[2]}")
    assert "Cette révision n’a pas encore été validée." in page.inner_text("main")


def test_refused_revision_report(page: Any, served: Served, axe_violations: AxeCheck) -> None:
    page.goto(f"/ui/communes/{CODE}")
    page.locator("#historique tbody tr").first.get_by_role("link").click()
    page.wait_for_url(f"**/ui/revisions/{served.refused_id}")
    main = page.locator("main")
    assert main.locator(".fr-badge").first.text_content() == "Refusée"
    assert "Fichier refusé" in main.inner_text()
    assert "Alice Martin — Mairie d’Escoulis" in main.inner_text()
    report = page.locator("#rapport")
    total = _problems_total(report)
    assert total > 150
    assert report.locator("caption").inner_text() == f"Problèmes 1 à 50 sur {total}"
    assert axe_violations(page) == []

    # Pages of the report (htmx), then a filter by level: back to its first page.
    report.get_by_role("link", name="Page suivante").click()
    page.locator("#rapport caption", has_text=f"51 à 100 sur {total}").wait_for()
    assert page.url.endswith("?page=2")
    page.get_by_label("Niveau").select_option("E")
    page.wait_for_url("**?niveau=E")
    errors = _rows(page, "#rapport")
    assert errors and {row[4] for row in errors} == {"Erreur"}
    page.locator("#rapport caption", has_text="(filtrés)").wait_for()

    # And a code: the 20 rows whose numero is not a number, at their line of the file.
    page.get_by_label("Code").select_option("numero.type_invalide")
    page.wait_for_url("**?niveau=E&code=numero.type_invalide")
    page.locator("#rapport caption", has_text="1 à 20 sur 20").wait_for()
    rows = _rows(page, "#rapport")
    assert len(rows) == 20
    assert rows[0][:5] == ["4", "numero", "abc", "numero.type_invalide", "Erreur"]
    assert rows[0][5]  # the French message
    assert page.get_by_label("Niveau").input_value() == "E"
    assert report.get_by_role("navigation", name="Pages du rapport").count() == 0
    assert axe_violations(page) == []

    href = main.get_by_role("link", name=re.compile("Télécharger le fichier")).get_attribute("href")
    assert httpx.get(served.url + href).content.startswith(b"cle_interop;")


def _problems_total(report: Any) -> int:
    caption = report.locator("caption").inner_text()
    found = re.search(r"sur (\d+)", caption)
    assert found, caption
    return int(found.group(1))


def test_pages_work_without_javascript(browser: Any, served: Served) -> None:
    context = browser.new_context(base_url=served.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/ui/")
        page.get_by_label("Nom ou code INSEE de la commune", exact=True).fill(CODE)
        page.get_by_label("Nom ou code INSEE de la commune", exact=True).press("Enter")
        page.wait_for_url(f"**/ui/communes/{CODE}")  # a known code: straight to its page
        page.locator("#historique").get_by_role("link", name="Page suivante").click()
        page.wait_for_url("**?page=2")

        page.goto(f"/ui/revisions/{served.refused_id}")
        page.get_by_label("Niveau").select_option("W")
        page.get_by_role("button", name="Filtrer").click()
        page.wait_for_url("**?niveau=W&code=")
        levels = {row[4] for row in _rows(page, "#rapport")}
        assert levels == {"Avertissement"}
    finally:
        context.close()


def test_not_found_pages_in_french(
    page: Any, served: Served, axe_violations: AxeCheck, console_errors: list[tuple[str, str]]
) -> None:
    cases = {
        "/ui/communes/99999": "Aucune commune n’a le code « 99999 ».",
        "/ui/revisions/000000000000000000000000": "Aucune révision n’a l’identifiant",
        "/ui/revisions/pas-un-identifiant": "Aucune révision n’a l’identifiant",
        "/ui/nulle-part": "La page que vous cherchez n’existe pas",
    }
    for path, message in cases.items():
        response = page.goto(path)
        assert response.status == 404, path
        assert page.locator("h1").inner_text() == "Page non trouvée"
        assert message in page.inner_text("main")
        # The browser reports the page's own 404 in the console: expected, and only that.
        assert console_errors == [
            ("Failed to load resource: the server responded with a status of 404 (Not Found)",
             served.url + path)
        ]  # fmt: skip
        console_errors.clear()
    assert axe_violations(page) == []


def test_screenshots(browser: Any, served: Served, tmp_path: Path) -> None:
    """The main pages at 1280 and 390 px wide (docs/console/ when asked, see the module)."""
    target = Path(SCREENSHOTS or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    pages = {
        "recherche": "/ui/?q=escou",
        "commune": f"/ui/communes/{CODE}",
        "revision-refusee": f"/ui/revisions/{served.refused_id}",
        "revision-refusee-filtree": f"/ui/revisions/{served.refused_id}?niveau=E",
        "page-non-trouvee": "/ui/communes/99999",
    }
    for width, viewport in (("1280", DESKTOP), ("390", MOBILE)):
        context = browser.new_context(base_url=served.url, viewport=viewport)
        shoot(context.new_page(), pages, target, width)
        context.close()
