"""HttpBanLookup against a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from guichet.bal import HttpBanLookup, validate

BAN_ID = "0a4a3e4e-7a3b-4f5e-9d2b-6f8a1c2d3e4f"
FIXTURE = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "bal"
    / "corpus"
    / "fixtures"
    / "1.4_1.4-cog-no-match-id_ban_commune.csv"
)


class _Ban(BaseHTTPRequestHandler):
    calls: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Ban.calls.append(self.path)
        code = self.path.rsplit("/", 1)[-1]
        if code == "99999":
            self.send_response(404)
            self.end_headers()
            self.wfile.write(b'{"message": "not found"}')
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"status": "success", "response": [{"id": BAN_ID}]}).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def ban_url() -> Iterator[str]:
    _Ban.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ban)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_lookup_answers_and_caches(ban_url: str) -> None:
    lookup = HttpBanLookup(ban_url)
    assert lookup("35047") == BAN_ID
    assert lookup("35047") == BAN_ID
    assert _Ban.calls == ["/api/district/cog/35047"]


def test_failures_are_none_and_cached_briefly(ban_url: str) -> None:
    lookup = HttpBanLookup(ban_url, failure_ttl=60)
    assert lookup("99999") is None
    assert lookup("99999") is None
    assert len(_Ban.calls) == 1


def test_unreachable_server_is_offline() -> None:
    lookup = HttpBanLookup("http://127.0.0.1:9", timeout=0.5)
    assert lookup("35047") is None


@pytest.mark.skipif(not FIXTURE.exists(), reason="../shared/bal is not beside the repo")
def test_validation_flags_a_commune_id_the_ban_does_not_know(ban_url: str) -> None:
    offline = validate(FIXTURE, "1.4")
    online = validate(FIXTURE, "1.4", ban_lookup=HttpBanLookup(ban_url))
    assert "row.cog_no_match_id_ban_commune" not in offline.rows_errors
    assert "row.cog_no_match_id_ban_commune" in online.rows_errors
