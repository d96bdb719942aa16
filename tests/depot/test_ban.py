"""The compute step reads the BAN API when one is configured (a real local HTTP server here)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from guichet.core.config import BanSettings
from guichet.depot import ban
from tests.depot.factories import Parties
from tests.depot.helpers import computed

BAN_COMMUNE_ID = "0a4a3e4e-7a3b-4f5e-9d2b-6f8a1c2d3e4f"


class _Ban(BaseHTTPRequestHandler):
    """``/lookup/{code}`` → nbNumeros; ``/api/district/cog/{code}`` → the commune's BAN id."""

    addresses: ClassVar[int] = 100
    calls: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Ban.calls.append(self.path)
        if self.path.startswith("/lookup/"):
            body: object = {"nbNumeros": _Ban.addresses}
        elif self.path.startswith("/api/district/cog/"):
            body = {"status": "success", "response": [{"id": BAN_COMMUNE_ID}]}
        else:
            self.send_error(404)
            return
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ban_url() -> Iterator[str]:
    _Ban.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ban)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def with_ban(app: object, ban_url: str) -> str:
    app.state.settings = app.state.settings.model_copy(  # type: ignore[attr-defined]
        update={"ban": BanSettings(api_url=ban_url, timeout=2)}
    )
    return ban_url


async def test_first_revision_compared_with_the_ban_address_count(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, with_ban: str
) -> None:
    # No current revision: the 6 rows are compared with the BAN's 100 addresses (> 80 % fewer).
    validation = (await computed(client, parties.chef, bal_31591))["validation"]
    assert validation["errors"] == ["rows.delete_too_many_addresses"]
    assert "/lookup/31591" in _Ban.calls
    # the validator asked the BAN for the commune's id too (no id column here: no code)
    assert "/api/district/cog/31591" in _Ban.calls


async def test_offline_by_default(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
) -> None:
    validation = (await computed(client, parties.chef, bal_31591))["validation"]
    assert validation["valid"] is True


async def test_unreachable_ban_counts_zero_addresses() -> None:
    settings = BanSettings(api_url="http://127.0.0.1:9", timeout=0.5)
    assert await ban.addresses_count(settings, "31591") == 0
    assert await ban.addresses_count(BanSettings(), "31591") == 0
