"""The HTTP server's limits (issue #11), against a real `guichet serve` (subprocess, uvicorn on a
free loopback port) on a database of its own:

- header bytes and header count are bounded: 431, then the connection is closed;
- a client too slow to send its headers, or pausing inside its body, gets 408 and is closed;
- ordinary requests (60 headers, a 32 KiB header, keep-alive, a slow but steady body) are not
  affected;
- with 16 slow-body connections holding a client token and one 64 MiB header in flight, another
  client's `GET /communes/{code}/current-revision` still answers within 100 ms (must-show 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from tests.conftest import free_port, migrated_database, wait_until_healthy
from tests.depot import factories

ADMIN_TOKEN = "admin-token-for-the-http-limits-tests-0123456789"
HEADER_TIMEOUT = 2  # seconds, configured below (default 10)
BODY_IDLE_TIMEOUT = 5  # seconds, configured below (default 30)
MiB = 1024 * 1024


@dataclass(frozen=True)
class Server:
    port: int
    token: str  # a client allowed to publish 31591

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def database(postgres_server: str) -> Iterator[str]:
    """A database of the module's own: the server commits into it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with migrated_database(postgres_server, f"guichet_test_http_limits_{worker}") as url:
        yield url


async def _seed(database_url: str) -> str:
    """A client of a chef de file of 31591 and a current revision of 31591: its token."""
    engine = create_async_engine(database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            parties = await factories.parties(session)
            await factories.revision(
                session, parties.chef.client, published=True, current=True, rows_count=6
            )
            await session.commit()
            return parties.chef.token
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    token = asyncio.run(_seed(database))
    home = tmp_path_factory.mktemp("http-limits")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
    env.update(
        GUICHET_HOME=str(home),
        GUICHET_DATABASE_URL=database,
        GUICHET_ADMIN_TOKEN=ADMIN_TOKEN,
        GUICHET_WORKER__IN_PROCESS="false",
        GUICHET_DROPZONE__ENABLED="false",
        # Every read goes to the database pool: what the slow bodies used to exhaust.
        GUICHET_DEPOT_CACHE__ENABLED="false",
        GUICHET_HTTP__HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        GUICHET_HTTP__BODY_IDLE_TIMEOUT=str(BODY_IDLE_TIMEOUT),
        GUICHET_LOG__FORMAT="json",
        GUICHET_LOG__LEVEL="WARNING",
    )
    log_path = home / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "guichet", "serve", "--port", str(port), "--no-migrate"],
            env=env,
            stdout=log,
            stderr=log,
        )
    served = Server(port, token)
    try:
        wait_until_healthy(served.url, process, log_path.read_text, timeout=60)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- raw HTTP -------------------------------------------------------------------------------


def _connect(server: Server, timeout: float = 10) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _send_until_answered(sock: socket.socket, data: bytes, chunk: int = 16 * 1024) -> None:
    """Send `data` in pieces, stopping as soon as the server answers or closes."""
    for start in range(0, len(data), chunk):
        if select.select([sock], [], [], 0)[0]:
            return
        try:
            sock.sendall(data[start : start + chunk])
        except OSError:  # reset: the server refused the rest
            return


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (the socket's timeout otherwise)."""
    received = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data


def _get(path: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: guichet.test", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


# --- header size and count -----------------------------------------------------------------


class TestHeaderLimits:
    def test_a_1_mb_header_gets_431_and_the_connection_closed(self, server: Server) -> None:
        with _connect(server) as sock:
            _send_until_answered(sock, _get("/health", [("X-Big", "a" * MiB)]))
            response = _read_all(sock)
        assert _status(response) == 431
        assert b"connection: close" in response.lower()

    def test_20000_headers_get_431(self, server: Server) -> None:
        headers = [(f"X-H{n}", "1") for n in range(20_000)]
        with _connect(server) as sock:
            _send_until_answered(sock, _get("/health", headers))
            assert _status(_read_all(sock)) == 431

    def test_too_many_small_headers_get_431(self, server: Server) -> None:
        """Well under the byte limit (~2 KB), over the count (100)."""
        headers = [(f"X-H{n}", "1") for n in range(150)]
        with _connect(server) as sock:
            sock.sendall(_get("/health", headers))
            assert _status(_read_all(sock)) == 431

    def test_ordinary_requests_pass(self, server: Server) -> None:
        """60 headers, one of 32 KiB, two requests on one keep-alive connection."""
        headers = [(f"X-H{n}", "1") for n in range(60)] + [("X-Big", "a" * 32 * 1024)]
        with _connect(server) as sock:
            for _ in range(2):
                sock.sendall(_get("/health", headers))
                response = b""
                while b'"status":"ok"' not in response:
                    data = sock.recv(65536)
                    assert data, response
                    response += data
                assert _status(response) == 200


# --- read timeouts ---------------------------------------------------------------------------


class TestReadTimeouts:
    def test_headers_never_finished_get_408_and_closed(self, server: Server) -> None:
        with _connect(server) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: guichet.test\r\n")  # no blank line
            response = _read_all(sock)  # would wait for the socket's 10 s without the limit
        assert _status(response) == 408

    def test_a_connection_sending_nothing_is_closed(self, server: Server) -> None:
        with _connect(server) as sock:
            response = _read_all(sock)
        assert response == b"" or _status(response) == 408

    def test_a_body_that_stops_gets_408_and_closed(self, server: Server) -> None:
        request = (
            "POST /communes/31591/revisions HTTP/1.1\r\nHost: guichet.test\r\n"
            f"Authorization: Token {server.token}\r\nContent-Type: application/json\r\n"
            "Content-Length: 200\r\n\r\n{"
        )
        with _connect(server) as sock:
            sock.sendall(request.encode())
            response = _read_all(sock)  # would wait for the socket's 10 s without the limit
        assert _status(response) == 408

    def test_a_slow_but_steady_body_is_not_cut(self, server: Server) -> None:
        """The body timeout is a silence, not a total: 8 pieces 0.8 s apart (longer than the
        5 s timeout in all) arrive whole."""
        body = b'{"context": {"nomComplet": "Lent"}}'
        request = (
            "POST /communes/31591/revisions HTTP/1.1\r\nHost: guichet.test\r\n"
            f"Authorization: Token {server.token}\r\nContent-Type: application/json\r\n"
            f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        pieces = [body[n : n + 5] for n in range(0, len(body), 5)]
        assert len(pieces) * 0.8 > BODY_IDLE_TIMEOUT
        with _connect(server) as sock:
            sock.sendall(request)
            for piece in pieces:
                time.sleep(0.8)
                sock.sendall(piece)
            response = _read_all(sock)
        assert _status(response) == 201, response


# --- must-show 3 -------------------------------------------------------------------------------


class Attacker(threading.Thread):
    """Sends a 64 MiB header, and another one each time the server refuses the previous one
    (closing the connection), until stopped: one is in flight all along the measure."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.stop = threading.Event()
        self.sending = threading.Event()
        self.head = b"GET /health HTTP/1.1\r\nHost: guichet.test\r\nX-Big: "
        self.chunk = b"a" * (256 * 1024)
        self.attempts = 0

    def run(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(OSError), _connect(self.server) as sock:
                sock.sendall(self.head)
                for _ in range(64 * MiB // len(self.chunk)):
                    if self.stop.is_set():
                        break
                    sock.sendall(self.chunk)
                    self.sending.set()
            self.attempts += 1
            self.stop.wait(0.02)  # one header at a time, not a flood of connections


def test_reads_stay_fast_under_slow_bodies_and_a_huge_header(server: Server) -> None:
    slow_request = (
        "POST /communes/31591/revisions HTTP/1.1\r\nHost: guichet.test\r\n"
        f"Authorization: Token {server.token}\r\nContent-Type: application/json\r\n"
        "Content-Length: 200\r\n\r\n{"
    ).encode()
    slow = [_connect(server) for _ in range(16)]
    attacker = Attacker(server)
    try:
        for sock in slow:
            sock.sendall(slow_request)
        time.sleep(0.5)  # authenticated, now waiting for the other 199 bytes
        attacker.start()
        assert attacker.sending.wait(10)
        with httpx.Client(base_url=server.url, timeout=5) as http:
            http.get("/health")  # a connection of our own, opened before measuring
            durations = []
            for _ in range(9):
                start = time.perf_counter()
                response = http.get("/communes/31591/current-revision")
                durations.append(time.perf_counter() - start)
                assert response.status_code == 200, response.text
            assert http.get("/health").status_code == 200
        # All 16 slow bodies were still in flight (no answer yet) while we measured.
        assert not select.select(slow, [], [], 0)[0]
        # The median: this machine's cores are shared, a single read can lose its turn to
        # another process. Before the limits every read waited for the pool (30 s, then 500).
        assert sorted(durations)[len(durations) // 2] < 0.1, durations
        assert max(durations) < 1, durations
    finally:
        attacker.stop.set()
        attacker.join(30)
        for sock in slow:
            sock.close()
