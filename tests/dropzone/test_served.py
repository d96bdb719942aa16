"""End to end on a real `guichet serve` (subprocess: embedded PostgreSQL, embedded SeaweedFS,
in-process worker, Maildir outbox): the seed's snippets work with only the endpoint added, and a
worker killed with SIGKILL in the middle of a file leaves it processed once after restart."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, read_outbox, wait_until_healthy
from tests.dropzone.conftest import s3_client
from tests.loader import factories as f

NODE_MODULES = Path.home() / ".cache" / "guichet-node-s3"


@dataclass
class Served:
    home: Path
    port: int
    s3_port: int
    process: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {(self.home / 'admin_token').read_text().strip()}"}

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
        env.update(
            GUICHET_HOME=str(self.home),
            GUICHET_LOG__FORMAT="json",
            GUICHET_DROPZONE__SEAWEEDFS__S3_PORT=str(self.s3_port),
        )
        env.update(self.extra_env or {})
        log = (self.home.parent / "serve.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "guichet", "serve", "--port", str(self.port)],
            env=env, cwd=self.home.parent, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        log.close()
        log_path = self.home.parent / "serve.log"
        wait_until_healthy(self.url, self.process, lambda: log_path.read_text()[-3000:], timeout=90)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process is None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def partner(self, partner_id: str) -> dict[str, Any]:
        created = httpx.post(
            f"{self.url}/admin/loaders/partners",
            json={"partner_id": partner_id, "contact_emails": [f"ops@{partner_id}.test"]},
            headers=self.admin,
        )
        assert created.status_code == 201, created.text
        provisioned = httpx.post(
            f"{self.url}/admin/dropzone/partners/{partner_id}", headers=self.admin
        )
        assert provisioned.status_code == 201, provisioned.text
        time.sleep(1.5)  # SeaweedFS applies a new identity within about a second
        return {"api_key": created.json()["api_key"], **provisioned.json()}

    def objects(self, partner_id: str) -> list[dict[str, Any]]:
        path = f"{self.url}/admin/dropzone/partners/{partner_id}/objects"
        items: list[dict[str, Any]] = httpx.get(path, headers=self.admin).json()["items"]
        return items

    def outbox(self) -> list[EmailMessage]:
        return read_outbox(self.home / "outbox")


def wait_for_mail(served: Served, count: int, timeout: float) -> list[EmailMessage]:
    deadline = time.monotonic() + timeout
    while True:
        mails = served.outbox()
        if len(mails) >= count or time.monotonic() > deadline:
            return mails
        time.sleep(0.05)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("dropzone-served") / "home"
    home.mkdir()
    server = Served(home, free_port(), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


PYTHON_SNIPPET = """
import json
import os
import boto3
from datetime import datetime

s3_client = boto3.client(
    's3',
    region_name='eu-west-1',
    aws_access_key_id=os.environ.get('AWS_ACCESS_KEY_ID'),
    aws_secret_access_key=os.environ.get('AWS_SECRET_ACCESS_KEY'),
    endpoint_url=os.environ['ENDPOINT_URL'],
)

loader_data = {
    'inigPtynm': 'qlower',
    'apiKey': 'votre-cle-api',
    'creDtTm': datetime.now().isoformat(),
    'versionId': '2.0',
    'declarants': [],
    'properties': [],
    'transactions': []
}

bucket_name = 'ql-loader-stg-qlower'  # ou 'prod' pour production
file_name = f'loader-{int(datetime.now().timestamp() * 1000)}.json'

s3_client.put_object(
    Bucket=bucket_name,
    Key=file_name,
    Body=json.dumps(loader_data),
    ContentType='application/json'
)
"""

NODE_SNIPPET = """
const { S3Client, PutObjectCommand } = require('@aws-sdk/client-s3');

const s3Client = new S3Client({
  region: 'eu-west-1',
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  },
  endpoint: process.env.ENDPOINT_URL,
});

const loaderData = {
  inigPtynm: 'qlower',
  apiKey: 'votre-cle-api',
  creDtTm: new Date().toISOString(),
  versionId: '2.0',
  declarants: [],
  properties: [],
  transactions: []
};

const bucketName = 'ql-loader-stg-qlower'; // ou 'prod' pour production
const fileName = `loader-${Date.now()}.json`;

(async () => {
await s3Client.send(new PutObjectCommand({
  Bucket: bucketName,
  Key: fileName,
  Body: JSON.stringify(loaderData),
  ContentType: 'application/json',
}));
})();
"""


@pytest.fixture(scope="module")
def qlower(served: Served) -> dict[str, Any]:
    return served.partner("qlower")


def _snippet_env(qlower: dict[str, Any], served: Served) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": qlower["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": qlower["aws_secret_access_key"],
        "ENDPOINT_URL": served.endpoint,
    }


def test_seed_python_snippet(served: Served, qlower: dict[str, Any], tmp_path: Path) -> None:
    """The guide's boto3 code, `endpoint_url` added and the partner's key filled in. Its
    `datetime.now().isoformat()` has no time zone, which the same guide requires: the e-mail
    arrives (within 5 s) and says why the file was rejected."""
    before = len(served.outbox())
    script = tmp_path / "snippet.py"
    script.write_text(PYTHON_SNIPPET.replace("votre-cle-api", qlower["api_key"]))
    started = time.monotonic()
    subprocess.run([sys.executable, str(script)], env=_snippet_env(qlower, served), check=True)
    mails = wait_for_mail(served, before + 1, timeout=5)
    elapsed = time.monotonic() - started
    assert len(mails) == before + 1, f"no e-mail after {elapsed:.1f} s"
    mail = mails[-1]
    assert str(mail["Subject"]).startswith("[Guichet loader][stg] loader-")
    assert str(mail["Subject"]).endswith(": REJECTED")
    body = mail.get_body(("plain",))
    assert body is not None and "sans fuseau horaire" in body.get_content()
    assert mail["To"] == "ops@qlower.test"


def test_seed_node_snippet(served: Served, qlower: dict[str, Any], tmp_path: Path) -> None:
    """The guide's Node code, `endpoint` added (nothing else: with the IP address Guichet hands
    out, the SDK addresses the bucket in the path): `toISOString()` carries `Z`, so the file is
    integrated: SUCCESS."""
    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "node_modules" / "@aws-sdk" / "client-s3").exists():
        if shutil.which("npm") is None or node is None:
            pytest.skip("node/npm unavailable")
        NODE_MODULES.mkdir(parents=True, exist_ok=True)
        install = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "@aws-sdk/client-s3"],
            cwd=NODE_MODULES, capture_output=True, timeout=300, check=False,
        )  # fmt: skip
        if install.returncode != 0:
            pytest.skip("@aws-sdk/client-s3 cannot be installed here")
    before = len(served.outbox())
    script = NODE_MODULES / f"snippet-{os.getpid()}.js"
    script.write_text(NODE_SNIPPET.replace("votre-cle-api", qlower["api_key"]))
    try:
        subprocess.run([str(node), str(script)], env=_snippet_env(qlower, served), check=True)
    finally:
        script.unlink(missing_ok=True)
    mails = wait_for_mail(served, before + 1, timeout=5)
    assert len(mails) == before + 1
    assert str(mails[-1]["Subject"]).endswith(": SUCCESS")


def test_sigkill_mid_file_processed_once_after_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    server = Served(home, free_port(), free_port())
    server.start()
    try:
        partner = server.partner("crash")
        document = json.loads(f.big_file(transactions=60_000, properties=300))
        document.update(
            inigPtynm="crash", apiKey=partner["api_key"], creDtTm="2026-01-15T10:30:00Z"
        )
        client = s3_client(
            server.endpoint, partner["aws_access_key_id"], partner["aws_secret_access_key"]
        )
        client.put_object(Bucket="ql-loader-stg-crash", Key="big.json", Body=json.dumps(document))
        deadline = time.monotonic() + 30
        while not (items := server.objects("crash")) or items[0]["attempts"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        server.stop(signal.SIGKILL)  # in the middle of the file: its transaction is lost
        assert server.outbox() == []
        server.start()
        deadline = time.monotonic() + 60
        while not (mails := server.outbox()) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)  # would a second e-mail come?
        (item,) = server.objects("crash")
        assert item["status"] == "done" and item["result"] == "SUCCESS"
        assert item["attempts"] == 2, item  # the killed attempt, then the one that finished
        assert len(server.outbox()) == 1
        assert str(mails[0]["Subject"]).endswith("big.json : SUCCESS")
        path = f"{server.url}/admin/loaders/partners/crash"
        runs = httpx.get(f"{path}/runs", headers=server.admin).json()
        assert runs["total"] == 1
        records = httpx.get(f"{path}/records/transactions", headers=server.admin).json()
        assert records["total"] == 60_000
    finally:
        server.stop()


def _workers_of(parent: int) -> list[int]:
    """Pids of the `guichet worker` processes whose parent is `parent`."""
    return _children_of(parent, [b"-m", b"guichet", b"worker"])


def _children_of(parent: int, command: list[bytes] | None = None) -> list[int]:
    """Pids of the processes whose parent is `parent` (and whose arguments 1… are `command`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and (command is None or arguments[1 : 1 + len(command)] == command):
            found.append(int(entry.name))
    return sorted(found)


def _pool_of(parent: int) -> list[int]:
    """The validation pool's processes (multiprocessing) below `parent`."""
    found = []
    for child in _children_of(parent):
        with contextlib.suppress(OSError):
            if b"multiprocessing" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
    return found


def _eventually(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return result


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_worker_processes_live_and_die_with_serve(tmp_path: Path) -> None:
    """`serve` runs GUICHET_WORKER__PROCESSES workers that process files too, stops them on
    SIGTERM, and takes them down with it on SIGKILL (no orphan keeps processing), with the
    processes of its validation pool."""
    home = tmp_path / "home"
    home.mkdir()
    server = Served(home, free_port(), free_port(), extra_env={"GUICHET_WORKER__PROCESSES": "2"})
    server.start()
    try:
        assert server.process is not None
        parent = server.process.pid
        children = _eventually(lambda: len(_workers_of(parent)) == 2 and _workers_of(parent))
        partner = server.partner("procs")
        client = s3_client(
            server.endpoint, partner["aws_access_key_id"], partner["aws_secret_access_key"]
        )
        for n in range(40):
            document = json.loads(f.big_file(transactions=1, properties=1))
            document.update(inigPtynm="procs", apiKey=partner["api_key"],
                            creDtTm="2026-01-15T10:30:00Z")  # fmt: skip
            client.put_object(Bucket="ql-loader-stg-procs", Key=f"f{n}.json",
                              Body=json.dumps(document))  # fmt: skip
        _eventually(lambda: len(server.outbox()) == 40, timeout=60)
        pool = _pool_of(parent)
        assert pool, "the validation pool is warmed at start"
        server.stop(signal.SIGKILL)
        gone = [*children, *pool]  # SeaweedFS and PostgreSQL stay: the next start stops them
        _eventually(lambda: not any(Path(f"/proc/{pid}").exists() for pid in gone))
        server.start()
        assert server.process is not None
        parent = server.process.pid
        children = _eventually(lambda: len(_workers_of(parent)) == 2 and _workers_of(parent))
        server.stop(signal.SIGTERM)
        assert not any(Path(f"/proc/{pid}").exists() for pid in children)
        assert len(server.outbox()) == 40  # each file e-mailed once, whoever processed it
    finally:
        server.stop()
