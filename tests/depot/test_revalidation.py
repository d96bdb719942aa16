"""Re-validation of every current revision (`guichet depot revalidate`, `/admin/revalidations`):
the report of changed verdicts, idempotence, resumption, authorization, and a worker killed
while it validates (real `guichet worker` processes on a committed database)."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import structlog
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from guichet.core import db, services
from guichet.core.storage import put_bytes
from guichet.depot import revalidation, revalidation_tasks
from guichet.depot.compute import VALIDATOR_VERSION
from guichet.depot.models import (
    AuthorizationStrategy,
    Client,
    File,
    Revision,
    RevisionStatus,
    new_id,
)
from guichet.depot.revalidation_models import RevalidationCheck
from guichet.runtime.app import build_services
from tests.conftest import make_settings, migrated_database
from tests.depot import factories
from tests.depot.conftest import ADMIN, CORPUS

TASK = "depot:revalidate_revision"
ROUTE = "/admin/revalidations"

# What compute stores for the 6-row BAL of Escoulis: valid, two warnings.
WARNINGS = ["field.certification_commune.missing", "source.valeur_manquante"]
NEW_ERRORS = ["numero.type_invalide", "row.adresse_incomplete"]

Runner = Callable[[], Awaitable[int]]


@pytest.fixture(scope="module", autouse=True)
def _revalidation_pool() -> Iterator[None]:
    yield
    revalidation_tasks.pool.shutdown()


@pytest.fixture
def run_jobs(connection: AsyncConnection) -> Runner:
    """Run the waiting re-validation jobs of the test's transaction, as a worker would;
    returns how many ran."""

    async def run() -> int:
        ran = 0
        while True:
            row = (
                await connection.execute(
                    text(
                        "SELECT id, args FROM procrastinate_jobs WHERE status = 'todo'"
                        " AND task_name = :task ORDER BY id LIMIT 1"
                    ),
                    {"task": TASK},
                )
            ).first()
            if row is None:
                return ran
            await connection.execute(
                text("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = :id"),
                {"id": row.id},
            )
            await revalidation_tasks.revalidate_revision(**row.args)
            await connection.execute(
                text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = :id"),
                {"id": row.id},
            )
            ran += 1

    return run


def escoulis_as(code: str, name: str, data: bytes) -> bytes:
    return data.replace(b"31591", code.encode()).replace(b"Escoulis", name.encode())


def with_bad_numero(data: bytes) -> bytes:
    lines = data.split(b"\n")
    fields = lines[1].split(b";")
    fields[4] = b"abc"  # numero
    lines[1] = b";".join(fields)
    return b"\n".join(lines)


def stored(valid: bool, errors: list[str], warnings: list[str], rows: int = 6) -> dict[str, Any]:
    """A revision's `validation` as compute writes it."""
    return {
        "valid": valid, "format": "1.3", "validatorVersion": VALIDATOR_VERSION,
        "errors": errors, "warnings": warnings, "infos": [], "rowsCount": rows,
    }  # fmt: skip


async def current_revision(
    session: AsyncSession, owner: Client, code: str, data: bytes, validation: dict[str, Any]
) -> Revision:
    """A published current revision of `code` with its file in the blob store."""
    revision = Revision(
        client_id=owner.id, code_commune=code, context={}, status=RevisionStatus.PUBLISHED,
        is_ready=None, is_current=True, validation=validation,
    )  # fmt: skip
    session.add(revision)
    await session.flush()
    key = f"revisions/{revision.id}/{new_id()}.csv"
    await put_bytes(services.current().blob_store, key, data)
    session.add(
        File(revision_id=revision.id, blob_key=key, size=len(data),
             hash=hashlib.sha256(data).hexdigest())
    )  # fmt: skip
    await session.flush()
    return revision


async def three_communes(session: AsyncSession, bal: bytes) -> dict[str, Revision]:
    """Current revisions of three communes and one pending revision:

    * 31591: stored verdict what the validator says today (a publication-time rule's warning
      besides, not the file's): no change;
    * 91534: stored invalid by an "older validator" (an error it no longer reports): valid again;
    * 64445: a file with a bad `numero`, stored valid without warnings: now invalid.
    """
    owner = await factories.mandataire(session)
    party = await factories.client(session, owner, strategy=AuthorizationStrategy.INTERNAL)
    client = party.client
    revisions = {
        "31591": await current_revision(
            session, client, "31591", bal,
            stored(True, [], [*WARNINGS, "rows.delete_many_addresses"]),
        ),
        "91534": await current_revision(
            session, client, "91534", escoulis_as("91534", "Saclay", bal),
            stored(False, ["ancienne.regle_retiree"], WARNINGS),
        ),
        "64445": await current_revision(
            session, client, "64445", with_bad_numero(escoulis_as("64445", "Pau", bal)),
            stored(True, [], []),
        ),
    }  # fmt: skip
    # Not current: never re-validated.
    session.add(Revision(client_id=client.id, code_commune="31591", context={}))
    await session.flush()
    return revisions


async def checks(session: AsyncSession) -> list[RevalidationCheck]:
    found = await session.scalars(
        select(RevalidationCheck).order_by(RevalidationCheck.code_commune)
    )
    return list(found)


async def check_rows(session: AsyncSession) -> list[tuple[str, str, Any]]:
    result = await session.execute(
        text(
            "SELECT code_commune, status, checked_at FROM depot_revalidation_check"
            " ORDER BY code_commune"
        )
    )
    return [(row[0], row[1], row[2]) for row in result]


async def job_count(session: AsyncSession) -> int:
    count = await session.scalar(
        text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = :task"), {"task": TASK}
    )
    return int(count or 0)


# --- the report ---------------------------------------------------------------------------------


async def test_revalidation_reports_the_communes_whose_verdict_changed(
    client: httpx.AsyncClient, session: AsyncSession, bal_31591: bytes, run_jobs: Runner
) -> None:
    revisions = await three_communes(session, bal_31591)

    started = await client.post(ROUTE, headers=ADMIN)
    assert started.status_code == 202, started.text
    run = started.json()
    assert (run["status"], run["revisions"], run["remaining"]) == ("running", 3, 3)
    assert (run["resumed"], run["added"], run["deferred"]) == (False, 3, 3)
    assert run["validatorVersion"] == VALIDATOR_VERSION
    assert await job_count(session) == 3  # one job per current revision

    assert await run_jobs() == 3

    body = (await client.get(f"{ROUTE}/{run['id']}", headers=ADMIN)).json()
    assert body["status"] == "done" and body["finishedAt"] is not None
    assert body["remaining"] == 0
    assert body["checks"] == {"pending": 0, "done": 3, "failed": 0}
    assert (body["changed"], body["becameInvalid"], body["becameValid"]) == (2, 1, 1)
    report = body["report"]
    assert (report["total"], report["pages"]) == (2, 1)
    now_invalid, valid_again = report["items"]
    assert now_invalid["codeCommune"] == "64445"
    assert now_invalid["revisionId"] == revisions["64445"].id
    assert now_invalid["before"]["valid"] is True and now_invalid["after"]["valid"] is False
    assert now_invalid["changes"] == {
        "becameInvalid": True, "becameValid": False, "newErrors": NEW_ERRORS,
        "resolvedErrors": [], "newWarnings": WARNINGS, "resolvedWarnings": [],
    }  # fmt: skip
    assert valid_again["codeCommune"] == "91534"
    assert valid_again["changes"] == {
        "becameInvalid": False, "becameValid": True, "newErrors": [],
        "resolvedErrors": ["ancienne.regle_retiree"], "newWarnings": [], "resolvedWarnings": [],
    }  # fmt: skip
    # 31591 did not change: the publication-time rule's warning is not the file's verdict.
    assert "31591" not in {item["codeCommune"] for item in report["items"]}

    # Pages: one item per page, the second page holds the second commune.
    second = (await client.get(f"{ROUTE}/{run['id']}?page=2&per_page=1", headers=ADMIN)).json()
    assert [i["codeCommune"] for i in second["report"]["items"]] == ["91534"]
    assert (second["report"]["total"], second["report"]["pages"]) == (2, 2)
    listed = (await client.get(f"{ROUTE}?per_page=1", headers=ADMIN)).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == run["id"]

    # The revisions themselves are left as they were: the operator decides.
    await session.refresh(revisions["64445"])
    assert revisions["64445"].validation == stored(True, [], [])


# --- idempotence and resumption ---------------------------------------------------------------


async def test_running_it_twice_validates_each_revision_once(
    client: httpx.AsyncClient, session: AsyncSession, bal_31591: bytes, run_jobs: Runner
) -> None:
    await three_communes(session, bal_31591)
    first = (await client.post(ROUTE, headers=ADMIN)).json()
    with structlog.testing.capture_logs() as logs:
        assert await run_jobs() == 3
    assert [e["event"] for e in logs if e["event"].startswith("depot.revalidation")] == [
        "depot.revalidation_checked"
    ] * 3  # what a job that validates logs (looked for below)
    checked = await check_rows(session)
    assert [status for _, status, _ in checked] == ["done"] * 3

    again = await client.post(ROUTE, headers=ADMIN)
    body = again.json()
    assert again.status_code == 202
    assert body["id"] == first["id"]  # the run of this validator version, not a new one
    assert (body["resumed"], body["added"], body["deferred"], body["starts"]) == (
        True, 0, 0, 2,
    )  # fmt: skip
    assert body["status"] == "done"
    assert await job_count(session) == 3  # no new job
    assert await run_jobs() == 0
    assert await check_rows(session) == checked  # same rows, same times: none validated again

    # A job that finds its check done (a retried job, a duplicate) does nothing.
    revision_id = (await checks(session))[0].revision_id
    with structlog.testing.capture_logs() as logs:
        await revalidation_tasks.revalidate_revision(revision_id, VALIDATOR_VERSION)
    assert [entry for entry in logs if entry["event"].startswith("depot.revalidation")] == []
    assert await check_rows(session) == checked

    # The database itself refuses a second check of a revision by the same version.
    with pytest.raises(IntegrityError):
        async with session.begin_nested():
            await session.execute(
                text(
                    "INSERT INTO depot_revalidation_check"
                    " (revalidation_id, revision_id, validator_version, code_commune)"
                    " VALUES (:run, :revision, :version, '31591')"
                ),
                {"run": first["id"], "revision": revision_id, "version": VALIDATOR_VERSION},
            )


async def test_a_second_start_resumes_an_interrupted_run(
    client: httpx.AsyncClient,
    session: AsyncSession,
    connection: AsyncConnection,
    bal_31591: bytes,
    run_jobs: Runner,
) -> None:
    revisions = await three_communes(session, bal_31591)
    first = (await client.post(ROUTE, headers=ADMIN)).json()
    # One job ran, then the run was interrupted: the other two jobs were lost (aborted).
    job = (
        await connection.execute(
            text("SELECT id, args FROM procrastinate_jobs WHERE task_name = :t ORDER BY id"),
            {"t": TASK},
        )
    ).first()
    assert job is not None
    await revalidation_tasks.revalidate_revision(**job.args)
    await connection.execute(
        text("UPDATE procrastinate_jobs SET status = 'aborted' WHERE task_name = :t"), {"t": TASK}
    )
    [done_before] = [row for row in await check_rows(session) if row[1] == "done"]
    # Meanwhile a commune published for the first time.
    owner = (await session.get(Client, revisions["31591"].client_id)) or pytest.fail()
    await current_revision(session, owner, "31592", escoulis_as("31592", "Escanecrabe",
                           bal_31591), stored(True, [], WARNINGS))  # fmt: skip

    resumed = (await client.post(ROUTE, headers=ADMIN)).json()
    assert resumed["id"] == first["id"] and resumed["resumed"] is True
    # The new publication gets a check; the two pending checks a job again; the done one none.
    assert (resumed["added"], resumed["deferred"], resumed["revisions"]) == (1, 3, 4)
    assert resumed["remaining"] == 3 and resumed["status"] == "running"
    assert await run_jobs() == 3

    rows = await check_rows(session)
    assert [code for code, _, _ in rows] == ["31591", "31592", "64445", "91534"]
    assert {status for _, status, _ in rows} == {"done"}
    assert done_before in rows  # validated once, before the interruption, and left alone
    body = (await client.get(f"{ROUTE}/{first['id']}", headers=ADMIN)).json()
    assert (body["status"], body["remaining"], body["checks"]["done"]) == ("done", 0, 4)


async def test_a_missing_file_fails_its_check_and_a_resumption_retries_it(
    client: httpx.AsyncClient, session: AsyncSession, bal_31591: bytes, run_jobs: Runner
) -> None:
    revisions = await three_communes(session, bal_31591)
    target = revisions["91534"].id
    file = await session.scalar(
        text("SELECT blob_key FROM depot_file WHERE revision_id = :r"), {"r": target}
    )
    await session.execute(
        update(File).where(File.revision_id == target).values(blob_key=f"{file}.gone")
    )
    run = (await client.post(ROUTE, headers=ADMIN)).json()
    await run_jobs()
    body = (await client.get(f"{ROUTE}/{run['id']}", headers=ADMIN)).json()
    assert body["status"] == "done"  # a failure ends its check: the run does not hang
    assert body["checks"] == {"pending": 0, "done": 2, "failed": 1}
    failed = [i for i in body["report"]["items"] if i["status"] == "failed"]
    assert [(i["codeCommune"], i["error"]) for i in failed] == [
        ("91534", "Le fichier de la révision est introuvable dans le stockage")
    ]

    await session.execute(update(File).where(File.revision_id == target).values(blob_key=file))
    resumed = (await client.post(ROUTE, headers=ADMIN)).json()
    assert (resumed["added"], resumed["deferred"], resumed["status"]) == (0, 1, "running")
    assert await run_jobs() == 1
    body = (await client.get(f"{ROUTE}/{run['id']}", headers=ADMIN)).json()
    assert body["checks"] == {"pending": 0, "done": 3, "failed": 0}
    assert body["status"] == "done" and body["becameValid"] == 1


# --- authorization --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", ROUTE), ("GET", ROUTE), ("GET", f"{ROUTE}/{'0' * 24}")],
)
async def test_only_the_admin_reaches_the_revalidation_routes(
    client: httpx.AsyncClient, parties: factories.Parties, method: str, path: str
) -> None:
    refused = {
        "no token": {},
        "unknown token": {"Authorization": "Token not-a-known-token"},
        "client token": parties.chef.headers,
        "client token as bearer": parties.chef.bearer,
    }
    for label, headers in refused.items():
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 403, (label, response.text)
        assert response.json() == {"code": "admin_forbidden", "message": "Non autorisé"}
    admitted = await client.request(method, path, headers=ADMIN)
    expected = {"POST": 202, "GET": 404 if path.endswith("0" * 24) else 200}[method]
    assert admitted.status_code == expected, admitted.text


async def test_an_unknown_run_is_a_404(client: httpx.AsyncClient) -> None:
    for run_id in ("0" * 24, "not-an-id"):
        response = await client.get(f"{ROUTE}/{run_id}", headers=ADMIN)
        assert response.status_code == 404
        assert response.json()["code"] == "revalidation_not_found"


def test_verdicts_leave_the_publication_rules_out() -> None:
    before = revalidation.stored_verdict(
        stored(False, ["commune_insee.out_of_perimeter"], ["rows.delete_many_addresses"])
    )
    assert before["valid"] is True and before["errors"] == [] and before["warnings"] == []
    unreadable = revalidation.stored_verdict(
        {"valid": False, "parseErrors": [{"type": "FileError", "code": "file.encoding"}]}
    )
    assert unreadable["valid"] is False and unreadable["errors"] == ["file.encoding"]
    assert revalidation.changes(before, before) is None


# --- a worker killed during the re-validation (real processes) -------------------------------

BRUZ = CORPUS / "aitf_bal_35047_bruz_v1.3.csv"
KILL_COMMUNES = [f"35{n:03d}" for n in (1, 2, 3, 4, 6, 7, 8, 9)]


def bruz_as(code: str) -> bytes:
    """The real Bruz BAL (5,843 rows) moved to commune `code`."""
    rows = list(csv.reader(io.StringIO(BRUZ.read_bytes().decode("utf-8-sig")), delimiter=";"))
    header, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(header)
    for row in body:
        row[col["commune_insee"]] = code
        row[col["cle_interop"]] = code + row[col["cle_interop"]][5:]
        writer.writerow(row)
    return out.getvalue().encode()


@pytest.fixture
def committed_database(postgres_server: str) -> Iterator[str]:
    with migrated_database(postgres_server, f"guichet_revalidation_{os.getpid()}") as url:
        yield url


@pytest.fixture
async def committed_revisions(committed_database: str, tmp_path: Path) -> AsyncIterator[Path]:
    """Current revisions of `KILL_COMMUNES`, committed; yields the blob directory."""
    blobs = tmp_path / "blobs"
    built = build_services(make_settings(committed_database, tmp_path / "seed",
                                         storage={"directory": blobs}))  # fmt: skip
    services.install(built)
    try:
        async with built.transaction() as session:
            owner = await factories.mandataire(session)
            party = await factories.client(session, owner, strategy=AuthorizationStrategy.INTERNAL)
            for code in KILL_COMMUNES:
                await current_revision(session, party.client, code, bruz_as(code),
                                       stored(True, [], []))  # fmt: skip
    finally:
        services.install(None)
        await built.aclose()
    yield blobs


def guichet_env(database_url: str, home: Path, blobs: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GUICHET_DATABASE_URL": database_url,
        "GUICHET_HOME": str(home),
        "GUICHET_STORAGE__DIRECTORY": str(blobs),
        "GUICHET_DROPZONE__ENABLED": "false",
        "GUICHET_LOG__LEVEL": "WARNING",
        # A silent worker is dead after 3 s; every worker looks for such jobs every second.
        "GUICHET_WORKER__HEARTBEAT_INTERVAL": "1",
        "GUICHET_WORKER__STALLED_TIMEOUT": "3",
    }


def guichet_cli(env: dict[str, str], home: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "guichet", *args], env=env, cwd=home,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def start_worker(env: dict[str, str], home: Path, concurrency: int) -> subprocess.Popen[bytes]:
    home.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "guichet", "worker", "--concurrency", str(concurrency)]
    return subprocess.Popen(command, env={**env, "GUICHET_HOME": str(home)}, cwd=home,
                            stdin=subprocess.DEVNULL)  # fmt: skip


def query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(db.libpq_url(database_url)) as conn:
        return list(conn.execute(sql).fetchall())


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_a_worker_killed_during_the_revalidation_the_run_completes(
    committed_database: str, committed_revisions: Path, tmp_path: Path
) -> None:
    env = guichet_env(committed_database, tmp_path / "cli", committed_revisions)
    (tmp_path / "cli").mkdir()
    started = guichet_cli(env, tmp_path / "cli", "depot", "revalidate")
    assert f"{len(KILL_COMMUNES)} revision(s)" in started, started

    doing = "SELECT id FROM procrastinate_jobs WHERE status = 'doing'"
    first = start_worker(env, tmp_path / "first", concurrency=2)
    second = None
    try:
        # Kill the first worker while it validates: jobs in `doing`, checks still pending.
        await wait_for(lambda: bool(query(committed_database, doing)), "no job ever started")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_jobs = [row[0] for row in query(committed_database, doing)]
        pending = query(
            committed_database,
            "SELECT count(*) FROM depot_revalidation_check WHERE status = 'pending'",
        )[0][0]
        assert killed_jobs and pending > 0, (killed_jobs, pending)

        # Another worker (another machine, as far as the queue knows) takes over, and retries
        # the jobs the dead one held once its heartbeat is 3 s old.
        second = start_worker(env, tmp_path / "second", concurrency=2)
        run_done = "SELECT status FROM depot_revalidation"
        await wait_for(lambda: query(committed_database, run_done) == [("done",)],
                       "the run never completed", timeout=180)  # fmt: skip
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(30)

    rows = query(
        committed_database,
        "SELECT code_commune, status, checked_at IS NOT NULL FROM depot_revalidation_check"
        " ORDER BY code_commune",
    )
    # Every current revision validated, once: one check each (unique per revision and
    # version), each recorded once (a check leaves `pending` once; `remaining` counts down
    # exactly to zero).
    assert rows == [(code, "done", True) for code in sorted(KILL_COMMUNES)]
    assert query(committed_database, "SELECT revisions, remaining FROM depot_revalidation") == [
        (len(KILL_COMMUNES), 0)
    ]
    # The CLI shows the run; started again, it resumes the finished run and queues nothing.
    shown = guichet_cli(env, tmp_path / "cli", "depot", "revalidation")
    assert f"done: {len(KILL_COMMUNES)} done, 0 failed, 0 pending" in shown, shown
    again = guichet_cli(env, tmp_path / "cli", "depot", "revalidate")
    assert "resumed" in again and "0 added now" in again and "0 job(s) queued" in again, again

    # The jobs the killed worker held were retried and ended well.
    states = query(
        committed_database,
        f"SELECT status FROM procrastinate_jobs WHERE id IN ({','.join(map(str, killed_jobs))})",
    )
    assert {state for (state,) in states} == {"succeeded"}, states
