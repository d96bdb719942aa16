"""Against a real `guichet serve` (subprocess, embedded PostgreSQL): the documented curl
sequence, a client vanishing mid-upload, and SIGKILL in the middle of publishes."""

from __future__ import annotations

import contextlib
import hashlib
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.server.test_serve import Served, start

DATA = (Path(__file__).parent / "data" / "bal-valid-31591.csv").read_bytes()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
        assert server.process.stdout is not None
        server.process.stdout.close()
        server.stderr_file.close()


def _admin(server: Served) -> dict[str, str]:
    return {"Authorization": "Token " + (server.home / "admin_token").read_text().strip()}


def _client_token(http: httpx.Client, admin: dict[str, str]) -> dict[str, str]:
    mandataire = http.post("/mandataires", json={"nom": "M", "email": "m@test.fr"}, headers=admin)
    chef = http.post(
        "/chefs-de-file",
        headers=admin,
        json={
            "nom": "Chef",
            "email": "c@test.fr",
            "perimeters": [{"type": "commune", "code": "31591"}],
        },
    )
    created = http.post(
        "/clients",
        headers=admin,
        json={
            "nom": "Éditeur",
            "mandataireId": mandataire.json()["id"],
            "chefDeFileId": chef.json()["id"],
            "isActive": True,
        },
    )
    assert created.status_code == 200, created.text
    return {"Authorization": f"Token {created.json()['token']}"}


def _ready(http: httpx.Client, auth: dict[str, str]) -> str:
    rid: str = http.post("/communes/31591/revisions", json={"context": {}}, headers=auth).json()[
        "id"
    ]
    md5 = hashlib.md5(DATA).hexdigest()
    assert (
        http.put(
            f"/revisions/{rid}/files/bal", content=DATA, headers={**auth, "Content-MD5": md5}
        ).status_code
        == 200
    )
    assert http.post(f"/revisions/{rid}/compute", headers=auth).json()["isReady"] is True
    return rid


def _currents(http: httpx.Client) -> list[str]:
    published = http.get("/communes/31591/revisions").json()
    return [r["id"] for r in published if r["isCurrent"]]


def test_publish_download_interrupt_and_sigkill(tmp_path: Path, served: list[Served]) -> None:
    home, port = tmp_path / "home", free_port()
    served.append(start(home, port))
    server = served[-1]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        auth = _client_token(http, _admin(server))
        first = _ready(http, auth)
        assert http.post(f"/revisions/{first}/publish", headers=auth).status_code == 200
        download = http.get("/communes/31591/current-revision/files/bal/download")
        assert download.content == DATA

        # A client that announces 1 MB, sends 100 kB and disconnects leaves no file at all.
        pending = http.post("/communes/31591/revisions", json={"context": {}}, headers=auth).json()
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(
                (
                    f"PUT /revisions/{pending['id']}/files/bal HTTP/1.1\r\n"
                    f"Host: x\r\nAuthorization: {auth['Authorization']}\r\n"
                    "Content-Length: 1000000\r\n\r\n"
                ).encode()
                + b"x" * 100_000
            )
            time.sleep(0.3)
        time.sleep(0.5)
        assert http.get(f"/revisions/{pending['id']}").json()["files"] == [None]
        blobs = [p for p in (home / "blobs").rglob("*") if p.is_file()]
        assert all(".upload-" not in p.name for p in blobs), blobs
        revisions = home / "blobs" / "revisions" / pending["id"]
        assert not revisions.exists() or not any(revisions.iterdir())

        ready = [_ready(http, auth) for _ in range(6)]
    before = first

    # SIGKILL while publishes are in flight: afterwards the old or one new current, never 0 or 2.
    def fire(rid: str) -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{server.url}/revisions/{rid}/publish", headers=auth, timeout=10)

    threads = [threading.Thread(target=fire, args=(rid,)) for rid in ready]
    for thread in threads:
        thread.start()
    time.sleep(random.uniform(0.0, 0.03))
    server.process.kill()
    server.process.wait()
    for thread in threads:
        thread.join()
    served.append(start(home, port))
    with httpx.Client(base_url=served[-1].url, timeout=30) as http:
        currents = _currents(http)
        assert len(currents) == 1
        assert currents[0] in {before, *ready}
        current = http.get("/communes/31591/current-revision").json()
        assert current["id"] == currents[0]
        assert http.get("/communes/31591/current-revision/files/bal/download").content == DATA
    assert served[-1].terminate() == 0
