"""The desks in a real browser (headless Chromium), against the real app served by uvicorn with
its in-process worker and an embedded SeaweedFS drop zone: an operator logs in, creates a
mandataire, a chef de file and a client and sees the token once, creates a partner and its
bucket; the partner uploads a file with the key it was given, logs in, sees the dropped file's
run and downloads its report. axe-core on every page; the screenshots of docs/console/.

Set GUICHET_CONSOLE_SCREENSHOTS=docs/console to rewrite the documentation's screenshots.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from guichet.runtime.app import create_app
from guichet.runtime.seaweedfs import EmbeddedSeaweed
from tests.conftest import make_settings, migrated_database
from tests.console.conftest import (
    ADMIN_TOKEN,
    DESKTOP,
    MOBILE,
    SCREENSHOTS,
    AxeCheck,
    serving,
    shoot,
    watched_page,
)
from tests.dropzone.conftest import s3_client, seaweed  # noqa: F401 (the session's SeaweedFS)


@dataclass
class Desks:
    url: str
    found: dict[str, str] = field(default_factory=dict)  # what one test leaves to the next


@pytest.fixture(scope="module")
def desks(
    postgres_server: str,
    tmp_path_factory: pytest.TempPathFactory,
    seaweed: EmbeddedSeaweed,  # noqa: F811
) -> Iterator[Desks]:
    home = tmp_path_factory.mktemp("console-desks-home")
    with migrated_database(postgres_server, "guichet_console_desks") as url:
        # The in-process worker and its event listener: a dropped file is processed for real.
        base = make_settings(url, home, admin_token=ADMIN_TOKEN, worker={"in_process": True})
        with serving(create_app(seaweed.apply(base)), "console-desks") as desks_url:
            yield Desks(desks_url)


@pytest.fixture
def page(browser: Any, desks: Desks, console_errors: list[tuple[str, str]]) -> Iterator[Any]:
    options = {"base_url": desks.url, "viewport": DESKTOP, "accept_downloads": True}
    with watched_page(browser, console_errors, **options) as opened:
        yield opened


def _admin_login(page: Any) -> None:
    page.goto("/ui/admin/clients")
    page.wait_for_url("**/ui/admin/connexion?suite=%2Fui%2Fadmin%2Fclients")
    page.get_by_label("Jeton d’administration").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/ui/admin/clients")


def test_operator_creates_parties_and_sees_the_token_once(
    page: Any, desks: Desks, axe_violations: AxeCheck
) -> None:
    page.goto("/ui/admin/")
    assert page.locator("h1").inner_text() == "Connexion des opérateurs"
    assert axe_violations(page) == []
    _admin_login(page)

    page.get_by_role("link", name="Mandataires").click()
    page.get_by_label("Nom").fill("Adresses & Cie")
    page.get_by_label("E-mail").fill("m@adresses.example")
    page.get_by_role("button", name="Créer le mandataire").click()
    page.locator("#mandataires", has_text="Adresses & Cie").wait_for()
    assert axe_violations(page) == []

    page.get_by_role("link", name="Chefs de file").click()
    page.get_by_label("Nom", exact=True).fill("CC Cagire Garonne Salat")
    page.get_by_label("E-mail", exact=True).fill("sig@cc.example")
    page.locator("label[for=chef-public]").click()  # the DSFR draws the box on the label
    page.get_by_label("Périmètre", exact=False).last.fill("commune:31591, departement:09")
    page.get_by_role("button", name="Créer le chef de file").click()
    row = page.locator("#chefs tbody tr", has_text="CC Cagire Garonne Salat")
    row.wait_for()
    assert "commune:31591, departement:09" in row.inner_text()
    assert axe_violations(page) == []

    page.get_by_role("link", name="Clients").click()
    page.get_by_label("Nom", exact=True).fill("Mes Adresses")
    page.get_by_label("Mandataire").select_option(label="Adresses & Cie")
    page.get_by_label("Chef de file").select_option(label="CC Cagire Garonne Salat")
    page.get_by_role("button", name="Créer le client").click()
    page.locator("h1", has_text="Client créé : Mes Adresses").wait_for()
    token = page.locator("#jeton").inner_text()
    assert "n’est affiché qu’une fois" in page.inner_text("main")
    assert axe_violations(page) == []
    desks.found["token_page"] = page.url

    # The token works on the API, once shown; the desk never shows it again.
    created = httpx.post(
        f"{desks.url}/communes/31591/revisions",
        headers={"Authorization": f"Token {token}"},
        json={"context": {"nomComplet": "Alice"}},
    )
    assert created.status_code == 201, created.text
    page.goto("/ui/admin/clients")
    assert "Mes Adresses" in page.locator("#clients").inner_text()
    assert token not in page.content()
    page.reload()  # a page answering a form is never cached: nothing of it comes back
    assert token not in page.content()
    page.goto("/ui/admin/revisions")
    assert "31591" in page.locator("#revisions").inner_text()
    assert axe_violations(page) == []


def test_partner_sees_a_dropped_files_run_and_downloads_its_report(
    page: Any, browser: Any, desks: Desks, axe_violations: AxeCheck, tmp_path: Path
) -> None:
    api_key, access_key, endpoint, secret = _operator_creates_partner_and_bucket(page)
    assert axe_violations(page) == []

    # The partner drops a file into its bucket, as the seed says.
    document = {
        "inigPtynm": "acme",
        "apiKey": api_key,
        "creDtTm": "2026-01-15T10:30:00+01:00",
        "versionId": "2.0",
        **{section: [] for section in ("declarants", "properties", "transactions")},
    }
    s3 = s3_client(endpoint, access_key, secret)
    s3.put_object(Bucket="ql-loader-stg-acme", Key="loader-1.json", Body=json.dumps(document))

    partner = browser.new_context(base_url=desks.url, viewport=DESKTOP, accept_downloads=True)
    mine = partner.new_page()
    try:
        mine.goto("/ui/partner/")
        mine.wait_for_url("**/ui/partner/connexion?suite=%2Fui%2Fpartner%2F")
        mine.get_by_label("Identifiant de partenaire (inigPtynm)").fill("acme")
        mine.get_by_label("Clé d’API").fill(api_key)
        mine.get_by_role("button", name="Se connecter").click()
        mine.wait_for_url("**/ui/partner/")
        deadline = time.monotonic() + 90
        while "Dépôt S3" not in mine.locator("#executions tbody").inner_text():
            assert time.monotonic() < deadline, "the dropped file was not processed"
            time.sleep(0.5)
            mine.reload()
        row = mine.locator("#executions tbody tr").first
        assert "Réussi" in row.text_content()  # as written (CSS shows badges upper case)
        assert axe_violations(mine) == []
        row.get_by_role("link").click()
        mine.wait_for_url("**/ui/partner/executions/*")
        desks.found["run_page"] = mine.url
        assert "Dépôt S3" in mine.locator("main dl").inner_text()
        assert axe_violations(mine) == []
        with mine.expect_download() as download:
            mine.get_by_role("link", name="Télécharger le rapport (JSON)").click()
        saved = tmp_path / "rapport.json"
        download.value.save_as(saved)
        report = json.loads(saved.read_text())
        assert report["status"] == "SUCCESS"

        # Another partner's run is as unknown as a missing one.
        other = re.sub(r"[0-9a-f]{8}-", "00000000-", mine.url.rsplit("/", 1)[1], count=1)
        assert mine.goto(f"/ui/partner/executions/{other}").status == 404

        mine.goto("/ui/partner/depot")
        text = mine.inner_text("main")
        assert "ql-loader-stg-acme" in text and endpoint in text
        assert secret not in mine.content() and api_key not in mine.content()
        assert axe_violations(mine) == []
    finally:
        partner.close()


def _operator_creates_partner_and_bucket(page: Any) -> tuple[str, str, str, str]:
    """(API key, S3 access key, endpoint, S3 secret), each read on the answer showing it once."""
    _admin_login(page)
    page.goto("/ui/admin/partenaires")
    page.get_by_label("Identifiant (inigPtynm)").fill("acme")
    page.get_by_label("Nom").fill("Acme Gestion")
    page.get_by_role("button", name="Créer le partenaire").click()
    api_key = page.locator("#secret").inner_text()
    page.get_by_role("link", name="Retour au partenaire").click()
    page.get_by_role("button", name="Créer le bucket et la clé").click()
    facts = page.locator("main dl").inner_text()
    access_key = re.search(r"AWS_ACCESS_KEY_ID\s+(\S+)", facts)
    endpoint = re.search(r"Point d’accès\s+(\S+)", facts)
    assert access_key and endpoint
    secret = page.locator("#secret").inner_text()
    return api_key, access_key.group(1), endpoint.group(1), secret


def test_statistics_page_draws_its_charts(
    page: Any, desks: Desks, axe_violations: AxeCheck
) -> None:
    _admin_login(page)
    page.goto("/ui/admin/statistiques")
    page.locator("bar-chart canvas").first.wait_for()
    page.locator("line-chart canvas").first.wait_for()
    assert axe_violations(page) == []


def test_desk_screenshots(browser: Any, desks: Desks, tmp_path: Path) -> None:
    """The desks' main pages at 1280 and 390 px wide (docs/console/ when asked)."""
    target = Path(SCREENSHOTS or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    admin_pages = {
        "admin-connexion": "/ui/admin/connexion",
        "admin-accueil": "/ui/admin/",
        "admin-clients": "/ui/admin/clients",
        "admin-chefs-de-file": "/ui/admin/chefs-de-file",
        "admin-partenaire": "/ui/admin/partenaires/acme",
        "admin-travaux": "/ui/admin/travaux",
        "admin-statistiques": "/ui/admin/statistiques",
    }
    partner_pages = {
        "partenaire-fichiers": "/ui/partner/",
        "partenaire-execution": desks.found.get("run_page", "/ui/partner/"),
        "partenaire-depot": "/ui/partner/depot",
    }
    for width, viewport in (("1280", DESKTOP), ("390", MOBILE)):
        context = browser.new_context(base_url=desks.url, viewport=viewport)
        shot_page = context.new_page()
        _admin_login(shot_page)
        shoot(shot_page, admin_pages, target, width)
        context.close()
        context = browser.new_context(base_url=desks.url, viewport=viewport)
        shot_page = context.new_page()
        _partner_login(shot_page, desks)
        shoot(shot_page, partner_pages, target, width)
        context.close()


def _partner_login(page: Any, desks: Desks) -> None:
    # A fresh key from the operators' desk (the previous one is not kept anywhere).
    _admin_login(page)
    page.goto("/ui/admin/partenaires/acme")
    page.get_by_role("button", name="Renouveler la clé d’API").click()
    key = page.locator("#secret").inner_text()
    page.goto("/ui/partner/connexion")
    page.get_by_label("Identifiant de partenaire (inigPtynm)").fill("acme")
    page.get_by_label("Clé d’API").fill(key)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/ui/partner/")
