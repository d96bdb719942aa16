"""Chaos: mixed traffic against a real `guichet serve` while PostgreSQL is killed once and a job
worker twice; then the invariants that must hold whatever happened.

`guichet serve` runs on the embedded default (PostgreSQL, SeaweedFS, in-process worker plus its
`guichet worker` process(es), Maildir outbox), on 127.0.0.1 only. For `DURATION` seconds:

* publishers, one per commune, loop over create → upload → compute → publish;
* readers poll `GET /communes/{code}/current-revision` and `GET /health`;
* loader clients post small files to `POST /api/third_party/loader`;
* a dropper puts small loader files into the partner's bucket (S3, boto3).

Faults (SIGKILL, no warning): the postmaster at `PG_KILL_AT`, a `guichet worker` child at each of
`WORKER_KILLS`. Afterwards the traffic stops, the queue drains, and the invariants are checked:
exactly one current revision per published commune (the last acknowledged publication), every
acknowledged loader post stored, every dropped file processed and e-mailed exactly once, no job
left `doing`. Recovery = from PostgreSQL's death to the last failed request of any kind.

    python bench/chaos.py            (or: make bench ARGS=chaos)
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from email import message_from_binary_file, policy
from pathlib import Path
from typing import Any

import boto3
import httpx
from _common import free_port, table
from botocore.config import Config

DURATION = 60.0
PG_KILL_AT = 15.0
WORKER_KILLS = (30.0, 45.0)
RECOVERY_TARGET_S = 10.0
DRAIN_TIMEOUT_S = 180.0
COMMUNES = ("31591", "35047", "44109", "33063")
TEMPLATE = Path(__file__).resolve().parents[1] / "tests" / "depot" / "data"
TEMPLATE_FILE = TEMPLATE / "bal-valid-31591.csv"
PARTNER = "chaos"
BUCKET = f"ql-loader-stg-{PARTNER}"
LOADER_CLIENTS = 2
READERS = 3


class DatabaseUnreachable(Exception):
    """`guichet psql` could not run a query (the database did not come back)."""


# --- the server -----------------------------------------------------------------------------


@dataclass
class Server:
    home: Path
    port: int
    s3_port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def admin_token(self) -> str:
        return (self.home / "admin_token").read_text().strip()

    def env(self) -> dict[str, str]:
        return _environment(self.home, self.s3_port)

    def sql(self, query: str) -> list[list[str]]:
        """Rows of `query`, through `guichet psql` (attached to the running PostgreSQL)."""
        done = subprocess.run(
            [sys.executable, "-m", "guichet", "psql", "--", "-At", "-F", "\t", "-c", query],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise DatabaseUnreachable(done.stderr.strip().splitlines()[-1:] or ["no output"])
        return [line.split("\t") for line in done.stdout.splitlines() if line]

    def postmaster_pid(self) -> int:
        pid_file = self.home / "postgres" / "data" / "postmaster.pid"
        return int(pid_file.read_text().splitlines()[0])

    def worker_pids(self) -> list[int]:
        """The `guichet worker` children of `serve`."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if int(stat[1]) == self.process.pid and b"worker" in argv:
                found.append(int(entry.name))
        return found


def _environment(home: Path, s3_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
    env.update(
        GUICHET_HOME=str(home),
        GUICHET_LOG__FORMAT="json",
        GUICHET_LOG__LEVEL="WARNING",
        GUICHET_DROPZONE__SEAWEEDFS__S3_PORT=str(s3_port),
    )
    return env


def start_server(root: Path) -> Server:
    home = root / "home"
    home.mkdir()
    port, s3_port = free_port(), free_port()
    with (root / "serve.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "guichet", "serve", "--port", str(port)],
            env=_environment(home, s3_port),
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    server = Server(home, port, s3_port, process)
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise RuntimeError((root / "serve.log").read_text()[-3000:])
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("guichet serve not healthy after 120 s")
        time.sleep(0.2)


def stop_server(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


# --- set-up through the admin APIs -----------------------------------------------------------


@dataclass
class Parties:
    depot_token: str
    loader_key: str
    s3: Any


def set_up(server: Server) -> Parties:
    admin = server.admin_token()
    depot_admin = {"Authorization": f"Token {admin}"}
    loaders_admin = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        mandataire = http.post(
            "/mandataires", headers=depot_admin, json={"nom": "chaos", "email": "m@chaos.test"}
        ).json()
        perimeters = [{"type": "commune", "code": code} for code in COMMUNES]
        chef = http.post(
            "/chefs-de-file",
            headers=depot_admin,
            json={"nom": "chaos", "email": "c@chaos.test", "perimeters": perimeters},
        ).json()
        client = http.post(
            "/clients",
            headers=depot_admin,
            json={
                "nom": "chaos",
                "mandataireId": mandataire["id"],
                "chefDeFileId": chef["id"],
                "isActive": True,
            },
        ).json()
        partner = http.post(
            "/admin/loaders/partners",
            headers=loaders_admin,
            json={"partner_id": PARTNER, "contact_emails": ["ops@chaos.test"]},
        ).json()
        creds = http.post(f"/admin/dropzone/partners/{PARTNER}", headers=loaders_admin).json()
    time.sleep(1.5)  # the new S3 identity reaches the gateway
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{server.s3_port}",
        region_name="eu-west-1",
        aws_access_key_id=creds["aws_access_key_id"],
        aws_secret_access_key=creds["aws_secret_access_key"],
        config=Config(
            request_checksum_calculation="when_required",
            retries={"max_attempts": 1},
            connect_timeout=5,
            read_timeout=10,
        ),
    )
    return Parties(client["token"], partner["api_key"], s3)


# --- traffic --------------------------------------------------------------------------------


@dataclass
class Ledger:
    """Everything sent and what came back, with times relative to the start."""

    start: float = field(default_factory=time.monotonic)
    outcomes: list[tuple[str, float, str]] = field(default_factory=list)
    published: dict[str, list[str]] = field(default_factory=lambda: collections.defaultdict(list))
    posted: list[str] = field(default_factory=list)
    uncertain_posts: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    faults: list[tuple[str, float]] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.start

    def record(self, kind: str, outcome: str) -> None:
        self.outcomes.append((kind, self.now(), outcome))


def _bal(code: str) -> bytes:
    return TEMPLATE_FILE.read_text("utf-8").replace("31591", code).encode()


async def _call(
    ledger: Ledger, kind: str, request: Any, ok: tuple[int, ...] = (200, 201)
) -> httpx.Response | None:
    """The response if its status is one of `ok` (recorded as "ok"), else None (the status or
    the transport error recorded)."""
    try:
        response: httpx.Response = await request
    except httpx.HTTPError as exc:
        ledger.record(kind, type(exc).__name__)
        return None
    if response.status_code in ok:
        ledger.record(kind, "ok")
        return response
    ledger.record(kind, str(response.status_code))
    return None


async def publisher(http: httpx.AsyncClient, ledger: Ledger, code: str, token: str) -> None:
    auth = {"Authorization": f"Token {token}"}
    data = _bal(code)
    md5 = hashlib.md5(data).hexdigest()
    while ledger.now() < DURATION:
        created = await _call(
            ledger,
            "publication: create",
            http.post(f"/communes/{code}/revisions", headers=auth, json={"context": {}}),
        )
        if created is None:
            await asyncio.sleep(0.2)
            continue
        rid = created.json()["id"]
        upload = {**auth, "Content-Type": "text/csv", "Content-MD5": md5}
        if await _upload_compute_publish(http, ledger, rid, data, upload, auth):
            ledger.published[code].append(rid)
        await asyncio.sleep(0.1)


async def _upload_compute_publish(
    http: httpx.AsyncClient,
    ledger: Ledger,
    rid: str,
    data: bytes,
    upload: dict[str, str],
    auth: dict[str, str],
) -> bool:
    """The three calls after create, each made only if the previous one succeeded."""
    put = http.put(f"/revisions/{rid}/files/bal", content=data, headers=upload)
    if await _call(ledger, "publication: upload", put) is None:
        return False
    compute = http.post(f"/revisions/{rid}/compute", headers=auth)
    if await _call(ledger, "publication: compute", compute) is None:
        return False
    publish = http.post(f"/revisions/{rid}/publish", headers=auth)
    return await _call(ledger, "publication: publish", publish) is not None


async def reader(http: httpx.AsyncClient, ledger: Ledger, index: int) -> None:
    while ledger.now() < DURATION:
        code = COMMUNES[index % len(COMMUNES)]
        index += 1
        # 404 until the commune's first publication is acknowledged
        ok = (200,) if ledger.published.get(code) else (200, 404)
        await _call(
            ledger, "read: current-revision", http.get(f"/communes/{code}/current-revision"), ok
        )
        await _call(ledger, "read: health", http.get("/health"))
        await asyncio.sleep(0.05)


def _loader_document(api_key: str, ident: str) -> bytes:
    document = {
        "inigPtynm": PARTNER, "apiKey": api_key, "creDtTm": "2026-01-15T10:30:00+01:00",
        "versionId": "2.0",
        "properties": [{"id": ident, "description": "T2", "streetName": "rue des Tanneurs",
                        "townName": "Lille", "postCode": "59000", "ctry": "FR", "lastName": "M",
                        "firstName": "Claire", "email": "claire.martin@example.org",
                        "acquisitionDate": "2023-07-12"}],
    }  # fmt: skip
    return json.dumps(document).encode()


async def loader_client(http: httpx.AsyncClient, ledger: Ledger, index: int, api_key: str) -> None:
    count = 0
    while ledger.now() < DURATION:
        ident = f"P-api-{index}-{count}"
        count += 1
        body = _loader_document(api_key, ident)
        try:
            response = await http.post(
                "/api/third_party/loader",
                content=body,
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            ledger.record("loader: post", type(exc).__name__)
            ledger.uncertain_posts.append(ident)
            continue
        if response.status_code == 200:
            ledger.record("loader: post", "ok")
            ledger.posted.append(ident)
        else:
            ledger.record("loader: post", str(response.status_code))
        await asyncio.sleep(0.1)


async def dropper(ledger: Ledger, s3: Any, api_key: str) -> None:
    count = 0
    while ledger.now() < DURATION:
        key = f"chaos-{count:05d}.json"
        body = _loader_document(api_key, f"P-drop-{count}")
        count += 1
        try:
            await asyncio.to_thread(
                s3.put_object, Bucket=BUCKET, Key=key, Body=body, ContentType="application/json"
            )
        except Exception as exc:  # any failure of the S3 side counts as a failed drop
            ledger.record("drop: put", type(exc).__name__)
        else:
            ledger.record("drop: put", "ok")
            ledger.dropped.append(key)
        await asyncio.sleep(0.2)


async def faults(server: Server, ledger: Ledger) -> None:
    await asyncio.sleep(max(0.0, PG_KILL_AT - ledger.now()))
    os.kill(server.postmaster_pid(), signal.SIGKILL)
    ledger.faults.append(("PostgreSQL postmaster SIGKILL", ledger.now()))
    for at in WORKER_KILLS:
        await asyncio.sleep(max(0.0, at - ledger.now()))
        pids = server.worker_pids()
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            ledger.faults.append((f"`guichet worker` SIGKILL (pid {pids[0]})", ledger.now()))
        else:
            ledger.faults.append(("`guichet worker` SIGKILL: no worker process found", at))


async def traffic(server: Server, parties: Parties) -> Ledger:
    ledger = Ledger()
    limits = httpx.Limits(max_connections=32, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as http:
        await asyncio.gather(
            *(publisher(http, ledger, code, parties.depot_token) for code in COMMUNES),
            *(reader(http, ledger, index) for index in range(READERS)),
            *(loader_client(http, ledger, i, parties.loader_key) for i in range(LOADER_CLIENTS)),
            dropper(ledger, parties.s3, parties.loader_key),
            faults(server, ledger),
        )
    return ledger


# --- afterwards -----------------------------------------------------------------------------


def _mails_by_key(outbox: Path) -> collections.Counter[str]:
    """How many result e-mails each dropped key got (subject `[…][stg] <key> : <status>`)."""
    counts: collections.Counter[str] = collections.Counter()
    for directory in (outbox / "new", outbox / "cur"):
        if not directory.exists():
            continue
        for entry in directory.iterdir():
            with entry.open("rb") as file:
                subject = str(message_from_binary_file(file, policy=policy.default)["Subject"])
            if "] " in subject and " : " in subject:
                counts[subject.split("] ", 1)[1].rpartition(" : ")[0]] += 1
    return counts


def drain(server: Server, ledger: Ledger) -> float:
    """Seconds until every dropped file got its e-mail and no job is waiting or running."""
    start = time.monotonic()
    while time.monotonic() - start < DRAIN_TIMEOUT_S:
        mails = _mails_by_key(server.home / "outbox")
        busy = server.sql(
            "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
            " AND (scheduled_at IS NULL OR scheduled_at <= now())"
        )
        if all(mails[key] for key in ledger.dropped) and busy[0][0] == "0":
            return time.monotonic() - start
        time.sleep(1)
    return float("nan")


def invariants(server: Server, ledger: Ledger) -> list[tuple[str, bool, str]]:
    checks: list[tuple[str, bool, str]] = []
    current = {
        row[0]: row[1:]
        for row in server.sql(
            "SELECT code_commune, count(*), max(id) FROM depot_revision"
            " WHERE is_current GROUP BY code_commune"
        )
    }
    published = {code: ids for code, ids in ledger.published.items() if ids}
    one_current = all(current.get(code, ["0"])[0] == "1" for code in published)
    last_is_current = all(
        current.get(code, ["", ""])[1] == ids[-1] for code, ids in published.items()
    )
    statuses = {
        row[0]: row[1]
        for row in server.sql("SELECT id, status FROM depot_revision WHERE status = 'published'")
    }
    acknowledged = [rid for ids in published.values() for rid in ids]
    lost_publications = [rid for rid in acknowledged if rid not in statuses]
    checks.append((
        "exactly one current revision per published commune, the last acknowledged one",
        one_current and last_is_current,
        f"{len(published)} communes, {len(acknowledged)} publications acknowledged",
    ))  # fmt: skip
    checks.append((
        "every acknowledged publication is stored as published",
        not lost_publications,
        f"{len(lost_publications)} lost",
    ))  # fmt: skip
    stored = {row[0] for row in server.sql("SELECT external_id FROM loader_record")}
    lost_posts = [ident for ident in ledger.posted if ident not in stored]
    checks.append((
        "every acknowledged loader post has its records stored",
        not lost_posts,
        f"{len(ledger.posted)} acknowledged, {len(lost_posts)} lost"
        f" ({len(ledger.uncertain_posts)} posts without an answer)",
    ))  # fmt: skip
    mails = _mails_by_key(server.home / "outbox")
    missing = [key for key in ledger.dropped if mails[key] == 0]
    doubled = [key for key in ledger.dropped if mails[key] > 1]
    checks.append((
        "every dropped file processed and e-mailed exactly once",
        not missing and not doubled,
        f"{len(ledger.dropped)} dropped, {len(missing)} without e-mail, {len(doubled)} with more"
        " than one",
    ))  # fmt: skip
    jobs = {
        row[0]: int(row[1])
        for row in server.sql("SELECT status, count(*) FROM procrastinate_jobs GROUP BY status")
    }
    failed = server.sql(
        "SELECT task_name, count(*) FROM procrastinate_jobs WHERE status = 'failed'"
        " GROUP BY task_name"
    )
    detail = ", ".join(f"{status}: {count}" for status, count in sorted(jobs.items()))
    if failed:
        detail += " (failed: " + ", ".join(f"{name} × {n}" for name, n in failed) + ")"
    checks.append(("no job left `doing`", jobs.get("doing", 0) == 0, detail))
    return checks


def recovery(ledger: Ledger) -> tuple[float, dict[str, float]]:
    """From PostgreSQL's death to the last failed request, overall and per kind of request."""
    killed = next(at for name, at in ledger.faults if name.startswith("PostgreSQL"))
    last: dict[str, float] = {}
    for kind, at, outcome in ledger.outcomes:
        if at >= killed and outcome != "ok":
            last[kind] = max(last.get(kind, killed), at)
    per_kind = {kind: at - killed for kind, at in last.items()}
    return (max(per_kind.values(), default=0.0), per_kind)


# --- report ---------------------------------------------------------------------------------


def measure() -> dict[str, Any]:
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="guichet-bench-chaos-") as tmp:
        server = start_server(Path(tmp))
        try:
            parties = set_up(server)
            ledger = asyncio.run(traffic(server, parties))
            try:
                drained = drain(server, ledger)
                checks = invariants(server, ledger)
            except DatabaseUnreachable as exc:
                drained = float("nan")
                reason = " ".join(exc.args[0])
                checks = [("the database answers after the faults", False, reason)]
            serve_alive = server.process.poll() is None
        finally:
            stop_server(server)
    return {
        "ledger": ledger,
        "drained": drained,
        "checks": checks,
        "recovery": recovery(ledger),
        "serve_alive": serve_alive,
        "load": load,
    }


def run() -> str:
    result = measure()
    ledger: Ledger = result["ledger"]
    by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for kind, _, outcome in ledger.outcomes:
        by_kind[kind][outcome] += 1
    rows = [
        [
            kind,
            f"{sum(counts.values()):,}",
            ", ".join(f"{o}: {n:,}" for o, n in sorted(counts.items()) if o != "ok") or "none",
        ]
        for kind, counts in sorted(by_kind.items())
    ]
    total, per_kind = result["recovery"]
    verdict = "✅" if total <= RECOVERY_TARGET_S else "❌"
    recovery_text = ", ".join(f"{kind} {s:.1f} s" for kind, s in sorted(per_kind.items()))
    check_rows = [[name, "✅" if ok else "❌", detail] for name, ok, detail in result["checks"]]
    faults = "; ".join(f"{name} at {at:.1f} s" for name, at in ledger.faults)
    return "\n\n".join(
        [
            "## Chaos (`bench/chaos.py`)",
            f"{DURATION:.0f} s of mixed traffic against a real `guichet serve` (embedded "
            "PostgreSQL and SeaweedFS, in-process worker and its `guichet worker` process, "
            f"Maildir outbox, 127.0.0.1): {len(COMMUNES)} publishers (create → upload → compute"
            f" → publish, one commune each), {READERS} readers (current revision + health), "
            f"{LOADER_CLIENTS} loader clients (`POST /api/third_party/loader`), one dropper "
            "(S3 `PutObject` every 0.2 s). Faults: " + faults + ".",
            table(["requests", "sent", "failures by status or error"], rows),
            f"Recovery (PostgreSQL's death → last failed request): {total:.1f} s {verdict} "
            f"(target ≤ {RECOVERY_TARGET_S:.0f} s; per kind: {recovery_text or 'no failure'}). "
            f"Queue drained {result['drained']:.1f} s after the traffic stopped; "
            f"`serve` {'still running' if result['serve_alive'] else 'DIED'} at the end.",
            "Invariants checked afterwards:",
            table(["invariant", "holds", "detail"], check_rows),
            "Load average at start: " + "/".join(f"{x:.1f}" for x in result["load"]) + ".",
        ]
    )


if __name__ == "__main__":
    print(run())
