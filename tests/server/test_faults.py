"""Faults that heal by themselves (issue #11, items 9, 10, 11): a killed PostgreSQL answers 503
in each contract's format and comes back without an operator; workers outlive its restart; the
jobs of a SIGKILLed worker are retried; the embedded S3 port never moves."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from guichet.core import db, queue, services
from guichet.core.config import Settings
from guichet.partners import tasks as loader_tasks
from guichet.runtime.app import create_app
from guichet.runtime.postgres import EmbeddedPostgres
from guichet.runtime.seaweedfs import PORT_FILE, EmbeddedSeaweedError, embedded_server
from tests.conftest import free_port, make_settings, migrated_database
from tests.loader import factories as f
from tests.loaders.helpers import ENDPOINT, loader_file, new_partner

ADMIN_TOKEN = "a-fault-test-admin-token-0123456789"
RECOVERY_BOUND = 10.0  # seconds: every route back to 2xx within that of PostgreSQL's death


def is_zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return False  # reaped


@pytest.fixture
def killable_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """An embedded PostgreSQL of the test's own (the session's one must not be killed)."""
    server = EmbeddedPostgres(tmp_path / "pg")
    server.start()
    try:
        db.migrate(server.url())
        yield server
    finally:
        server.stop()


def settings_on(postgres: EmbeddedPostgres, home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "admin_token": ADMIN_TOKEN,
        "dropzone": {"enabled": False},
        "worker": {"in_process": False, "heartbeat_interval": 0.5, "restart_pause": 0.2},
    }
    values.update(overrides)
    return make_settings(postgres.url(), home, **values)


async def wait_for_restart(postgres: EmbeddedPostgres, restarts: int) -> None:
    deadline = time.monotonic() + RECOVERY_BOUND
    while postgres.restarts < restarts:
        assert time.monotonic() < deadline, "the embedded PostgreSQL was not restarted"
        await asyncio.sleep(0.05)


# --- item 10: 503 in the contract's format, then recovery -----------------------------------


class TestPostgresKilled:
    @pytest.fixture
    async def api(
        self, killable_postgres: EmbeddedPostgres, tmp_path: Path
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings_on(killable_postgres, tmp_path / "home"))
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
        await app.state.engine.dispose()
        services.install(None)

    async def test_routes_answer_503_in_their_format_then_2xx_within_10_s(
        self, api: httpx.AsyncClient, killable_postgres: EmbeddedPostgres
    ) -> None:
        async with services.transaction() as session:
            key = await new_partner(session, "acme-gestion")
        loader_body = loader_file("acme-gestion", key, declarants=[f.declarant("D1")])
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

        async def call(route: str) -> httpx.Response:
            if route == "bal":  # the BAL publication API (NestJS format)
                return await api.get("/communes/31591/revisions")
            if route == "loader":  # the loaders' REST API (its KO format)
                return await api.post(ENDPOINT, json=loader_body)
            if route == "admin":  # internal routes (the default format)
                return await api.get("/admin/loaders/partners", headers=admin)
            return await api.get("/health")

        routes = ("bal", "loader", "admin", "health")
        for route in routes:
            assert (await call(route)).status_code == 200, route

        dead = killable_postgres.pid
        assert dead is not None
        os.kill(dead, signal.SIGKILL)
        killed_at = time.monotonic()
        answers: dict[str, list[httpx.Response]] = {route: [] for route in routes}
        back_at: dict[str, float] = {}
        while len(back_at) < len(routes) and time.monotonic() - killed_at < 30:
            for route in routes:
                if route in back_at:
                    continue
                response = await call(route)
                answers[route].append(response)
                if response.status_code == 200:
                    back_at[route] = time.monotonic() - killed_at
            await asyncio.sleep(0.02)

        statuses = {route: {r.status_code for r in answers[route]} for route in routes}
        for route in routes:
            assert statuses[route] <= {200, 503}, (route, statuses[route])  # never a 500
            assert 503 in statuses[route], (route, statuses[route])
            assert back_at.get(route, 99.0) < RECOVERY_BOUND, (route, back_at)
        unavailable = {
            route: next(r for r in answers[route] if r.status_code == 503) for route in routes
        }
        message = "Service momentanément indisponible, veuillez réessayer dans quelques secondes."
        assert unavailable["bal"].json() == {"statusCode": 503, "message": message}
        loader = unavailable["loader"].json()
        assert (loader["status"], loader["type"]) == ("KO", "InternalServerError")
        assert unavailable["admin"].json() == {"code": "database_unavailable", "message": message}
        assert unavailable["health"].json()["database"] == "unavailable"
        assert unavailable["bal"].headers["retry-after"] == "5"

        # The dead postmaster was reaped (no zombie) and replaced on the same socket. (The
        # routes may answer before the watchdog thread has counted the restart.)
        deadline = time.monotonic() + 10
        while killable_postgres.restarts == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert killable_postgres.restarts == 1
        assert not is_zombie(dead)
        assert killable_postgres.pid not in (None, dead)


# --- item 10: workers outlive a PostgreSQL restart ------------------------------------------


async def job_statuses(url: str, queue_name: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(db.libpq_url(url)) as conn:
        cursor = await conn.execute(
            "SELECT status::text FROM procrastinate_jobs WHERE queue_name = %s ORDER BY id",
            [queue_name],
        )
        return [row[0] for row in await cursor.fetchall()]


async def run_job_on(app: FastAPI, url: str, queue_name: str) -> None:
    """Defer a job on `queue_name` and wait until a worker has run it."""
    async with app.state.services.transaction() as session:
        await queue.defer(session, loader_tasks.delete_blobs, queue=queue_name, keys=[])
    deadline = time.monotonic() + 20
    while (statuses := await job_statuses(url, queue_name))[-1] != "succeeded":
        assert time.monotonic() < deadline, (queue_name, statuses)
        await asyncio.sleep(0.1)


def worker_environment(url: str, home: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GUICHET_DATABASE_URL": url,
        "GUICHET_HOME": str(home),
        "GUICHET_DROPZONE__ENABLED": "false",
        "GUICHET_LOG__LEVEL": "WARNING",
        "GUICHET_LOG__FORMAT": "json",
        "GUICHET_WORKER__HEARTBEAT_INTERVAL": "0.5",
        "GUICHET_WORKER__RESTART_PAUSE": "0.2",
    }
    env.update(extra)
    return env


def start_worker(env: dict[str, str], home: Path) -> subprocess.Popen[bytes]:
    home.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "guichet", "worker", "--concurrency", "2"]
    return subprocess.Popen(command, env=env, cwd=home, stdin=subprocess.DEVNULL)


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


async def test_in_process_and_standalone_workers_outlive_a_postgres_restart(
    killable_postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    url = killable_postgres.url()
    settings = settings_on(
        killable_postgres,
        tmp_path / "api",
        worker={
            "in_process": True,
            "queues": ["in-process"],
            "heartbeat_interval": 0.5,
            "restart_pause": 0.2,
        },
    )
    app = create_app(settings)
    standalone = start_worker(
        worker_environment(url, tmp_path / "w", GUICHET_WORKER__QUEUES='["standalone"]'),
        tmp_path / "w",
    )
    try:
        async with app.router.lifespan_context(app):
            await run_job_on(app, url, "in-process")
            await run_job_on(app, url, "standalone")

            os.kill(killable_postgres.pid or 0, signal.SIGKILL)
            await wait_for_restart(killable_postgres, 1)
            # Both workers lost their connections; each runs the next job all the same.
            await run_job_on(app, url, "in-process")
            await run_job_on(app, url, "standalone")
            assert standalone.poll() is None, "the standalone worker exited"
    finally:
        stop_worker(standalone)
        await app.state.engine.dispose()
        services.install(None)
    assert standalone.returncode == 0


# --- item 11: the jobs of a SIGKILLed worker are retried -------------------------------------

PDF = b"%PDF-1.4 stalled-job test\n" * 50


class _Documents(BaseHTTPRequestHandler):
    """The first request hangs (a worker is killed meanwhile); the next ones get the PDF."""

    hang = threading.Event()  # set by the test when it is over
    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        if type(self).requests == 1:
            self.hang.wait(60)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/pdf")
        self.send_header("Content-Length", str(len(PDF)))
        self.end_headers()
        self.wfile.write(PDF)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def documents_server() -> Iterator[str]:
    _Documents.requests = 0
    _Documents.hang.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Documents)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        _Documents.hang.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def committed_database(postgres_server: str) -> Iterator[str]:
    with migrated_database(postgres_server, f"guichet_stalled_{os.getpid()}") as url:
        yield url


async def fetch_state(url: str) -> tuple[list[str], list[str]]:
    """(fetch jobs' statuses, documents' statuses)."""
    async with await psycopg.AsyncConnection.connect(db.libpq_url(url)) as conn:
        jobs = await conn.execute(
            "SELECT status::text FROM procrastinate_jobs"
            " WHERE task_name = 'loaders:fetch_document' ORDER BY id"
        )
        documents = await conn.execute("SELECT status FROM loader_document ORDER BY record_id")
        return [r[0] for r in await jobs.fetchall()], [r[0] for r in await documents.fetchall()]


async def test_the_doing_job_of_a_sigkilled_worker_is_retried_and_run(
    committed_database: str, tmp_path: Path, documents_server: str
) -> None:
    url = committed_database
    app = create_app(make_settings(url, tmp_path / "api", dropzone={"enabled": False}))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
            async with services.transaction() as session:
                key = await new_partner(session, "acme-gestion")
            link = f"{documents_server}/doc.pdf"
            document = f.document("D", fileLink=link)
            body = loader_file(
                "acme-gestion", key, properties=[f.property_("P1", documents=[document])]
            )
            assert (await api.post(ENDPOINT, json=body)).json()["status"] == "SUCCESS"
    finally:
        await app.state.engine.dispose()
        services.install(None)

    env = worker_environment(
        url,
        tmp_path / "w",
        GUICHET_LOADERS__FETCH_ALLOW_PRIVATE_ADDRESSES="true",
        GUICHET_WORKER__STALLED_TIMEOUT="2",
    )
    first = start_worker(env, tmp_path / "w")
    try:
        deadline = time.monotonic() + 30
        while not (_Documents.requests == 1 and (await fetch_state(url))[0] == ["doing"]):
            assert first.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, "the fetch never started"
            await asyncio.sleep(0.1)
    finally:
        first.kill()  # SIGKILL in the middle of the fetch: no cleanup at all
        first.wait()
    assert await fetch_state(url) == (["doing"], ["pending"])

    second = start_worker(env, tmp_path / "w")
    try:
        deadline = time.monotonic() + 30
        while (state := await fetch_state(url)) != (["succeeded"], ["fetched"]):
            assert second.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, state
            await asyncio.sleep(0.2)
    finally:
        stop_worker(second)
    assert _Documents.requests == 2


async def test_recovery_leaves_running_jobs_of_live_workers_alone(
    committed_database: str,
) -> None:
    """A `doing` job whose worker still sends heartbeats is not stalled."""
    url = committed_database
    async with await psycopg.AsyncConnection.connect(db.libpq_url(url), autocommit=True) as conn:
        worker = await conn.execute("SELECT procrastinate_register_worker_v1()")
        worker_id = (await worker.fetchone() or [None])[0]
        job = await conn.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, worker_id)"
            " VALUES ('q', 'loaders:delete_blobs', '{\"keys\": []}', 'doing', %s) RETURNING id",
            [worker_id],
        )
        job_id = (await job.fetchone() or [None])[0]
    await queue.open_queue(make_settings(url, Path("/nonexistent")), max_size=2)
    try:
        assert await queue.recover_stalled_jobs(stalled_timeout=30) == []
        async with await psycopg.AsyncConnection.connect(db.libpq_url(url), autocommit=True) as c:
            await c.execute(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute'"
            )
        assert await queue.recover_stalled_jobs(stalled_timeout=30) == [job_id]
        assert await job_statuses(url, "q") == ["todo"]
    finally:
        await queue.close_queue()


# --- item 9: the embedded S3 port never moves -------------------------------------------------


def weed_available() -> bool:
    from guichet.partners.dropzone import backends

    try:
        backends.weed_binary()
    except backends.BackendUnavailable:
        return False
    return True


def time_wait_on(port: int) -> None:
    """Leave a server-side connection of `port` in TIME_WAIT (what a restart that closed its
    clients' connections leaves behind)."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server side closes first: its end goes to TIME_WAIT
        client.close()
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # without SO_REUSEADDR, the port looks taken


_OWNER = """
import sys, time
from pathlib import Path
from guichet.core.config import Settings
from guichet.runtime.seaweedfs import embedded_server
settings = Settings(_env_file=None, home=Path(sys.argv[1]), port=int(sys.argv[2]),
                    database_url="postgresql://x/y")
with embedded_server(settings) as served:
    print(served.dropzone.endpoint_url, flush=True)
    time.sleep(600)
"""


def crashing_owner(home: Path, api_port: int) -> subprocess.Popen[str]:
    """A process owning the home's SeaweedFS (prints its endpoint), for the test to SIGKILL."""
    return subprocess.Popen(
        [sys.executable, "-c", _OWNER, str(home), str(api_port)],
        stdout=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")},
    )


@pytest.mark.skipif(not weed_available(), reason="SeaweedFS (`weed`) is not installed")
class TestS3Port:
    def settings(self, home: Path, api_port: int) -> Settings:
        return Settings(_env_file=None, home=home, port=api_port, database_url="postgresql://x/y")

    def test_kept_across_restarts_a_crash_and_time_wait(self, tmp_path: Path) -> None:
        home = tmp_path / "home"
        api_port = free_port()
        with embedded_server(self.settings(home, api_port)) as first:
            endpoint = first.dropzone.endpoint_url
        assert endpoint is not None
        port = int(endpoint.rpartition(":")[2])
        assert (home / "seaweedfs" / PORT_FILE).read_text().strip() == str(port)

        # A quick restart: the port's last connections linger in TIME_WAIT.
        time_wait_on(port)
        with embedded_server(self.settings(home, api_port)) as again:
            assert again.dropzone.endpoint_url == endpoint

        # Another API port next time: the partners' endpoint stays.
        with embedded_server(self.settings(home, free_port())) as moved_api:
            assert moved_api.dropzone.endpoint_url == endpoint

        # A crash: the owner is SIGKILLed, its `weed` (own session) still holds the port.
        owner = crashing_owner(home, api_port)
        try:
            assert owner.stdout is not None
            # (its log lines go to stdout too; the endpoint is the line that is a URL)
            printed = next(line for line in owner.stdout if line.startswith("http://"))
            assert printed.strip() == endpoint
        finally:
            owner.kill()
            owner.wait()
        with embedded_server(self.settings(home, api_port)) as after_crash:
            assert after_crash.dropzone.endpoint_url == endpoint

    def test_a_kept_port_taken_by_another_program_is_a_loud_error(self, tmp_path: Path) -> None:
        home = tmp_path / "home"
        taken = free_port()
        (home / "seaweedfs").mkdir(parents=True)
        (home / "seaweedfs" / PORT_FILE).write_text(f"{taken}\n")
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", taken))
            squatter.listen()
            with (
                pytest.raises(EmbeddedSeaweedError, match=f"S3 port {taken}"),
                embedded_server(self.settings(home, free_port())),
            ):
                pass


async def test_a_stalled_job_whose_twin_is_waiting_ends_failed_not_twice(
    committed_database: str,
) -> None:
    """A stalled periodic job (queueing lock) while its next run already waits: retrying it
    would break the lock's uniqueness; the waiting twin does the work."""
    url = committed_database
    async with await psycopg.AsyncConnection.connect(db.libpq_url(url), autocommit=True) as conn:
        for status in ("doing", "todo"):  # the doing one has no worker: it is stalled
            await conn.execute(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status,"
                " queueing_lock) VALUES ('q', 'dropzone:sweep_buckets', '{}', %s, 'sweep')",
                [status],
            )
    await queue.open_queue(make_settings(url, Path("/nonexistent")), max_size=2)
    try:
        assert await queue.recover_stalled_jobs(stalled_timeout=30) == []
    finally:
        await queue.close_queue()
    assert await job_statuses(url, "q") == ["failed", "todo"]
