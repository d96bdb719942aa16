"""Fixtures of the console tests.

console_app      function  the app on the test's rolled-back connection (httpx, no browser),
                           with parties made by the depot's factories
served           module    the real app served by a real uvicorn on a loopback port, on a
                           database of its own, seeded through the public API: a published
                           BAL of Escoulis (31591), a refused one, and 21 pending revisions
browser          session   headless Chromium (Debian's package) driven by Playwright;
                           the browser tests skip, saying why, when it cannot be had
axe_violations   function  `axe_violations(page)` → axe-core's serious and critical findings
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from guichet.core.config import Settings
from guichet.depot import compute
from guichet.runtime.app import create_app
from tests.conftest import free_port, make_settings, migrated_database

ADMIN_TOKEN = "admin-token-for-the-console-tests-0123456789"
ADMIN = {"Authorization": f"Token {ADMIN_TOKEN}"}
HERE = Path(__file__).parent
VALID_BAL = (HERE.parent / "depot" / "data" / "bal-valid-31591.csv").read_bytes()
AXE = HERE / "vendor" / "axe.min.js"
CODE = "31591"
PENDING_REVISIONS = 21
# Read at import: the session's fixtures clear GUICHET_* variables before the tests run.
CHROMIUM = os.environ.get("GUICHET_TEST_CHROMIUM")
SCREENSHOTS = os.environ.get("GUICHET_CONSOLE_SCREENSHOTS")
"""Where the browser tests write their screenshots (docs/console to rewrite the docs')."""
DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 390, "height": 844}
AxeCheck = Callable[[Any], list[dict[str, Any]]]


def invalid_bal(rows: int = 60) -> bytes:
    """A BAL of 31591 refused by the validator, with problems of every level and several codes:
    every 3rd `numero` is not a number (errors), every 5th date is in the future (warnings),
    `source` is empty (warnings), street names are lower case (infos)."""
    header = (
        "cle_interop;uid_adresse;commune_insee;voie_nom;numero;suffixe;commune_nom;position;"
        "long;lat;x;y;source;date_der_maj"
    )
    lines = [header]
    for i in range(1, rows + 1):
        numero = str(i) if i % 3 else "abc"
        voie = "rue des 3 places" if i % 2 else "Rue des 3 Places"
        date = "2020-11-09" if i % 5 else "2099-01-01"
        lines.append(
            f"31591_xxxx_{i:05d};;31591;{voie};{numero};;Escoulis;entrée;1.028392;43.111637;"
            f"539416.13;6225601.11;;{date}"
        )
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="session", autouse=True)
def _compute_pool() -> Iterator[None]:
    yield
    compute.pool.shutdown()


def shoot(page: Any, pages: dict[str, str], target: Path, width: str) -> None:
    """A full-page screenshot of each of ``pages`` (name → path) into ``target``, named
    ``{name}-{width}.png``; a statistics page once its charts are drawn."""
    for name, path in pages.items():
        page.goto(path)
        if "statistiques" in path:
            page.locator("bar-chart canvas").first.wait_for()
            page.wait_for_timeout(1500)  # the charts' entry animation: a picture of its end
        page.evaluate("document.fonts.ready")
        shot = target / f"{name}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000


# --- the API seen through a real server -----------------------------------------------------


@dataclass
class Served:
    url: str
    settings: Settings
    client_token: str = ""
    published_id: str = ""
    refused_id: str = ""
    pending_ids: list[str] = field(default_factory=list)

    def client_headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.client_token}"}


class _ThreadedServer(uvicorn.Server):
    """uvicorn in a thread of the test process (no signal handlers outside the main thread)."""

    def install_signal_handlers(self) -> None:
        pass


@contextmanager
def serving(app: Any, name: str) -> Iterator[str]:
    """``app`` served by a real uvicorn in a thread, on a loopback port: its URL, until the
    block ends (then the server stops and the compute pool it used is renewed)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = _ThreadedServer(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        # The pool served the server's thread and event loop: without a fresh one, the
        # computes of the tests that follow fail (503).
        compute.pool.shutdown()


@pytest.fixture
def console_errors() -> list[tuple[str, str]]:
    """(message, URL) of the errors the pages' consoles showed."""
    return []


@contextmanager
def watched_page(
    browser: Any, console_errors: list[tuple[str, str]], **options: Any
) -> Iterator[Any]:
    """A fresh page in a new context (``options``); console errors (a script failing, a
    resource refused by the page's Content-Security-Policy) fail the test."""
    context = browser.new_context(locale="fr-FR", **options)
    opened = context.new_page()

    def on_console(message: Any) -> None:
        if message.type == "error":
            console_errors.append((message.text, message.location.get("url", "")))

    opened.on("console", on_console)
    opened.on("pageerror", lambda exc: console_errors.append((str(exc), opened.url)))
    yield opened
    context.close()
    assert console_errors == []


@pytest.fixture(scope="module")
def served(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("console-home")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with migrated_database(postgres_server, f"guichet_console_test_{worker}") as url:
        settings = make_settings(url, home, admin_token=ADMIN_TOKEN)
        with serving(create_app(settings), "console-uvicorn") as served_url:
            served = Served(served_url, settings)
            with httpx.Client(base_url=served.url, timeout=60) as http:
                _seed(http, served)
            yield served


def _seed(http: httpx.Client, served: Served) -> None:
    """Through the public API, as a client would: the pending revisions first (oldest), then a
    published BAL, then a refused one (the newest)."""
    party = {"nom": "Adresses & Cie", "email": "m@test.fr"}
    mandataire = _ok(http.post("/mandataires", headers=ADMIN, json=party))
    perimeters = [{"type": "commune", "code": CODE}]
    chef_de_file = {"nom": "CC Cagire Garonne Salat", "email": "sig@cc.example",
                    "isEmailPublic": True, "perimeters": perimeters}  # fmt: skip
    chef = _ok(http.post("/chefs-de-file", headers=ADMIN, json=chef_de_file))
    body = {"nom": "Mes Adresses", "mandataireId": mandataire["id"],
            "chefDeFileId": chef["id"], "isActive": True}  # fmt: skip
    client = _ok(http.post("/clients", headers=ADMIN, json=body))
    served.client_token = client["token"]
    for _ in range(PENDING_REVISIONS):
        served.pending_ids.append(_create(http, served)["id"])
    published = _computed(http, served, VALID_BAL)
    assert published["isReady"] is True, published["validation"]
    _ok(http.post(f"/revisions/{published['id']}/publish", headers=served.client_headers()))
    served.published_id = published["id"]
    refused = _computed(http, served, invalid_bal())
    assert refused["validation"]["valid"] is False
    served.refused_id = refused["id"]


def _ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def _create(http: httpx.Client, served: Served) -> Any:
    context = {"nomComplet": "Alice Martin", "organisation": "Mairie d’Escoulis"}
    return _ok(
        http.post(
            f"/communes/{CODE}/revisions",
            headers=served.client_headers(),
            json={"context": context},
        )
    )


def _computed(http: httpx.Client, served: Served, data: bytes) -> Any:
    revision = _create(http, served)
    headers = {**served.client_headers(), "Content-MD5": hashlib.md5(data).hexdigest()}
    _ok(http.put(f"/revisions/{revision['id']}/files/bal", content=data, headers=headers))
    return _ok(http.post(f"/revisions/{revision['id']}/compute", headers=served.client_headers()))


# --- the browser ----------------------------------------------------------------------------


def chromium_executable() -> str | None:
    """GUICHET_TEST_CHROMIUM, else Debian's `chromium` on the PATH."""
    if CHROMIUM:
        return CHROMIUM if Path(CHROMIUM).exists() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


# Module-scoped: while Playwright's sync API runs, its event loop is the thread's running
# loop, and the async tests that follow (pytest-asyncio) could not start theirs.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed (pip install -e '.[dev]')")
    executable = chromium_executable()
    if executable is None:
        pytest.skip(
            "no Chromium: `make test` installs Debian's `chromium` when run as root with "
            "apt-get; elsewhere install it or set GUICHET_TEST_CHROMIUM"
        )
    with sync_playwright() as playwright:
        try:
            # --no-sandbox: tests run as root here, where Chromium's sandbox refuses to start.
            launched = playwright.chromium.launch(
                executable_path=executable, headless=True, args=["--no-sandbox"]
            )
        except Error as exc:
            pytest.skip(f"Chromium at {executable} does not start under Playwright: {exc}")
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def axe_violations() -> Callable[[Any], list[dict[str, Any]]]:
    """axe-core (vendored, see tests/console/vendor/VENDORED.md) run on the page as it is: the
    violations of impact serious or critical, with the elements concerned."""
    source = AXE.read_text()

    def run(page: Any) -> list[dict[str, Any]]:
        page.evaluate(source)
        found: list[dict[str, Any]] = page.evaluate(
            """async () => {
                const result = await axe.run(document, {resultTypes: ['violations']});
                return result.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5),
                }));
            }"""
        )
        return [v for v in found if v["impact"] in ("serious", "critical")]

    return run
