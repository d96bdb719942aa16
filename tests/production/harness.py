"""A production-shaped deployment for the scale-out tests (issue #16).

Everything Guichet depends on is started here, by the harness, as separate servers, and the
Guichet processes get nothing but `GUICHET_*` variables, each with its own (empty) home, as on
separate machines:

* PostgreSQL: the same binaries as the embedded one, but its own cluster listening on TCP
  127.0.0.1 with password authentication (SCRAM), a `guichet` role owning a `guichet`
  database, migrated with `guichet migrate` as an operator would;
* SeaweedFS: one `weed mini` (S3 API, master, filer) holding the blob bucket and the partners'
  drop-zone buckets;
* SMTP: an aiosmtpd server keeping every message;
* `guichet serve` API processes (no in-process worker) and `guichet worker` processes.
"""

from __future__ import annotations

import contextlib
import email
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import httpx
import psycopg
from aiosmtpd.controller import Controller

from guichet.core.config import DropzoneSettings, Settings
from guichet.runtime import postgres
from guichet.runtime.seaweedfs import EmbeddedSeaweed

ADMIN_TOKEN = "production-harness-" + "x" * 24
BLOB_BUCKET = "guichet-blobs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- PostgreSQL -----------------------------------------------------------------------------


class ExternalPostgres:
    """A PostgreSQL cluster on TCP with a password, as a managed database would be."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.process: subprocess.Popen[bytes] | None = None
        # root may not run PostgreSQL: the embedded server's system user runs this one too
        self.run_as = postgres._run_as()

    @property
    def url(self) -> str:
        return f"postgresql://guichet:{self.password}@127.0.0.1:{self.port}/guichet"

    def _run(self, command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            user=self.run_as.uid,
            group=self.run_as.gid,
            extra_groups=self.run_as.extra_groups,
            **kwargs,
        )

    def start(self) -> None:
        self.run_as.own(self.root)
        password_file = self.root / "pwfile"
        password_file.write_text(self.password)
        if self.run_as.uid is not None:
            os.chown(password_file, self.run_as.uid, self.run_as.gid or 0)
        log = (self.root / "postgres.log").open("ab")
        initdb = self._run(
            [str(postgres.POSTGRES_BIN_PATH / "initdb"), "-D", str(self.data), "-U", "postgres",
             "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={password_file}",
             "--encoding=UTF8", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert initdb.wait(120) == 0, (self.root / "postgres.log").read_text()[-2000:]
        password_file.unlink()
        self.process = self._run(
            [str(postgres.POSTGRES_BIN_PATH / "postgres"), "-D", str(self.data),
             "-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.root),
             "-c", "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        admin = f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"
        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(admin, autocommit=True, connect_timeout=2) as conn:
                    conn.execute(f"CREATE ROLE guichet LOGIN PASSWORD '{self.password}'")
                    conn.execute("CREATE DATABASE guichet OWNER guichet")
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- SMTP -----------------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler keeping every message."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(message["Subject"]) for message in list(self.messages)]


# --- Guichet processes ----------------------------------------------------------------------


@dataclass
class GuichetProcess:
    name: str
    home: Path
    process: subprocess.Popen[bytes]
    port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self) -> str:
        return (self.home / "process.log").read_text(errors="replace")[-3000:]


@dataclass
class Deployment:
    root: Path
    environment: dict[str, str]
    database_url: str
    mailbox: Mailbox
    dropzone_endpoint: str
    apis: list[GuichetProcess] = field(default_factory=list)
    workers: list[GuichetProcess] = field(default_factory=list)

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Token {ADMIN_TOKEN}"}

    def _spawn(self, name: str, args: list[str], extra: dict[str, str]) -> GuichetProcess:
        home = self.root / name
        home.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
        env.update(self.environment, GUICHET_HOME=str(home), **extra)
        with (home / "process.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "guichet", *args],
                env=env,
                cwd=home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return GuichetProcess(name, home, process)

    def guichet(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A one-off `guichet` command (an operator's), with the deployment's variables."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
        env.update(self.environment, GUICHET_HOME=str(self.root / "operator"))
        return subprocess.run(
            [sys.executable, "-m", "guichet", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            cwd=self.root,
        )

    def start_api(self, name: str) -> GuichetProcess:
        port = free_port()
        api = self._spawn(
            name,
            ["serve", "--port", str(port), "--no-migrate"],
            {"GUICHET_WORKER__IN_PROCESS": "false", "GUICHET_WORKER__PROCESSES": "0"},
        )
        api.port = port
        deadline = time.monotonic() + 90
        while True:
            if api.process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{api.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{api.url}/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not healthy after 90 s:\n{api.log_tail()}")
            time.sleep(0.2)
        self.apis.append(api)
        return api

    def start_worker(self, name: str) -> GuichetProcess:
        worker = self._spawn(name, ["worker"], {})
        self.workers.append(worker)
        return worker

    def stop_processes(self) -> None:
        for process in [*self.apis, *self.workers]:
            process.terminate()

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def _seaweed_environment(server: EmbeddedSeaweed) -> dict[str, str]:
    """The drop zone and blob store pointed at an external SeaweedFS (its service identity)."""
    dropzone = server.apply(Settings(_env_file=None, database_url="postgresql://x/y")).dropzone
    secret = dropzone.secret_access_key
    assert secret is not None and dropzone.access_key_id and dropzone.endpoint_url
    key, value = dropzone.access_key_id, secret.get_secret_value()
    return {
        "GUICHET_DROPZONE__SEAWEEDFS__EMBEDDED": "false",
        "GUICHET_DROPZONE__SEAWEEDFS__MASTER": str(dropzone.seaweedfs.master),
        "GUICHET_DROPZONE__SEAWEEDFS__FILER": str(dropzone.seaweedfs.filer),
        "GUICHET_DROPZONE__ENDPOINT_URL": dropzone.endpoint_url,
        "GUICHET_DROPZONE__ACCESS_KEY_ID": key,
        "GUICHET_DROPZONE__SECRET_ACCESS_KEY": value,
        "GUICHET_STORAGE__BACKEND": "s3",
        "GUICHET_STORAGE__S3__ENDPOINT_URL": dropzone.endpoint_url,
        "GUICHET_STORAGE__S3__BUCKET": BLOB_BUCKET,
        "GUICHET_STORAGE__S3__ACCESS_KEY_ID": key,
        "GUICHET_STORAGE__S3__SECRET_ACCESS_KEY": value,
        "GUICHET_STORAGE__S3__ADDRESSING_STYLE": "path",
    }


def _create_bucket(s3: dict[str, str], bucket: str) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=s3["GUICHET_STORAGE__S3__ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=s3["GUICHET_STORAGE__S3__ACCESS_KEY_ID"],
        aws_secret_access_key=s3["GUICHET_STORAGE__S3__SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket=bucket)


@contextlib.contextmanager
def deployment(root: Path) -> Iterator[Deployment]:
    """The outside servers started, the database migrated; no Guichet process yet."""
    with contextlib.ExitStack() as stack:
        # PostgreSQL's system user must reach its directory: not under pytest's private tree
        pg_root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="guichet-pg-")))
        pg_root.chmod(0o711)
        database = ExternalPostgres(pg_root / "cluster")
        stack.callback(database.stop)
        database.start()
        seaweed = EmbeddedSeaweed(root / "seaweed", DropzoneSettings(seaweedfs={"s3_port": 0}))  # type: ignore[arg-type]
        stack.callback(seaweed.stop)
        seaweed.start()
        mailbox = Mailbox()
        smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
        smtp.start()
        stack.callback(smtp.stop)
        s3 = _seaweed_environment(seaweed)
        _create_bucket(s3, BLOB_BUCKET)  # production buckets exist before Guichet starts
        environment = {
            "GUICHET_ENVIRONMENT": "production",
            "GUICHET_DATABASE_URL": database.url,
            "GUICHET_ADMIN_TOKEN": ADMIN_TOKEN,
            "GUICHET_LOG__FORMAT": "json",
            "GUICHET_LOG__LEVEL": "WARNING",
            "GUICHET_SMTP__HOST": "127.0.0.1",
            "GUICHET_SMTP__PORT": str(smtp.port),
            "GUICHET_SMTP__SECURITY": "none",
            "GUICHET_MAIL__SENDER": "Guichet <noreply@guichet.test>",
            # a dead worker's jobs are retried after 5 s (default 30 s)
            "GUICHET_WORKER__HEARTBEAT_INTERVAL": "1",
            "GUICHET_WORKER__STALLED_TIMEOUT": "5",
            **s3,
        }
        endpoint = s3["GUICHET_DROPZONE__ENDPOINT_URL"]
        started = Deployment(root, environment, database.url, mailbox, endpoint)
        stack.callback(started.stop_processes)
        migrated = started.guichet("migrate")
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        yield started
