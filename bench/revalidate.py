"""Re-validation of every current revision (`guichet depot revalidate`) with 1, then 2 `guichet
worker` processes.

A real `guichet serve` home (embedded PostgreSQL, local blob store, no in-process worker) holds
2,000 current revisions of 2,000 real communes, inserted directly (rows and blobs, as a
publication leaves them). Their files are cut from the real BAL of Bruz (35047), replicated with
renamed streets as `_bigbal` does, moved to their commune: sizes drawn from a log-normal law of
median 500 rows (what 26 million addresses over 35,000 communes give on average, with a long
tail), plus a few communes of 50,000 rows. For each worker count: `guichet depot revalidate`,
then the workers are started and the run followed in the database until it is done; the run is
deleted before the next measurement. CPU = user + system time of the worker processes and their
validator pools (from the kernel at exit, start-up included); PostgreSQL's is not counted.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _bigbal import TEMPLATE
from _common import free_port, table

GUICHET = Path(sys.executable).with_name("guichet")
REVISIONS = int(os.environ.get("BENCH_REVALIDATE_REVISIONS", "2000"))
MEDIAN_ROWS = 500
BIG_ROWS, BIG_FILES = 50_000, 4
WORKER_COUNTS = (1, 2)
CONCURRENCY = 4  # jobs per worker (the default)
SEED = 20261203
BASE_ENV = {
    "GUICHET_LOG__LEVEL": "WARNING",
    "GUICHET_LOG__FORMAT": "json",
    "GUICHET_DROPZONE__ENABLED": "false",
    "GUICHET_WORKER__IN_PROCESS": "false",
    "GUICHET_WORKER__PROCESSES": "0",
}


# --- the files --------------------------------------------------------------------------------


def _template_rows(count: int) -> tuple[list[str], list[list[str]]]:
    """`count` rows of Bruz: replica k renames every street (`… k`) and gives new voie codes."""
    text = TEMPLATE.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    header, body = rows[0], rows[1:]
    drop = header.index("uid_adresse")  # BAN ids: they would repeat across replicas
    col = {name: i for i, name in enumerate(header)}
    out: list[list[str]] = []
    codes: dict[tuple[int, str], str] = {}
    replica = 0
    while len(out) < count:
        for row in body:
            _, voie, numero, *rest = row[col["cle_interop"]].split("_")
            code = codes.setdefault((replica, voie), f"{len(codes) + 1:04x}")
            new = list(row)
            new[col["cle_interop"]] = "_".join(["COMMUNE", code, numero, *rest])
            if replica:
                new[col["voie_nom"]] = f"{row[col['voie_nom']]} {replica}"
            out.append([v for i, v in enumerate(new) if i != drop])
            if len(out) == count:
                break
        replica += 1
    return [h for i, h in enumerate(header) if i != drop], out


def _sizes(rng: random.Random) -> list[int]:
    """Rows per file: log-normal around the median, clipped; the biggest ones at 50,000."""
    sizes = [min(20_000, max(10, round(rng.lognormvariate(0, 1.0) * MEDIAN_ROWS)))
             for _ in range(REVISIONS - BIG_FILES)]  # fmt: skip
    sizes += [BIG_ROWS] * BIG_FILES
    rng.shuffle(sizes)
    return sizes


def _communes(count: int) -> list[tuple[str, str]]:
    from guichet import cog

    found: list[tuple[str, str]] = []
    for number in [f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B"]:
        for commune in cog.communes_of_departement(number):
            if commune.type == "commune-actuelle":
                found.append((commune.code, commune.nom))
    return found[:: max(1, len(found) // count)][:count]


def _file(header: list[str], rows: list[list[str]], code: str, nom: str) -> bytes:
    col = {name: i for i, name in enumerate(header)}
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        new = list(row)
        new[col["cle_interop"]] = new[col["cle_interop"]].replace("COMMUNE", code.lower(), 1)
        new[col["commune_insee"]] = code
        new[col["commune_nom"]] = nom
        writer.writerow(new)
    return out.getvalue().encode()


# --- the home -----------------------------------------------------------------------------------


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
    return {**env, **BASE_ENV, "GUICHET_HOME": str(home)}


def _serve(home: Path) -> subprocess.Popen[bytes]:
    port = free_port()
    process = subprocess.Popen(
        [str(GUICHET), "serve", "--port", str(port)],
        env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"guichet serve exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("guichet serve did not start")


@dataclass
class Seeded:
    files: int
    rows: int
    bytes: int
    median_rows: int
    biggest_rows: int


async def _seed(home: Path) -> Seeded:
    """The current revisions, as publications leave them: revision, file row, blob."""
    from guichet.core.config import Settings
    from guichet.core.storage import put_bytes
    from guichet.depot import tokens
    from guichet.depot.models import AuthorizationStrategy as Strategy
    from guichet.depot.models import Client, File, Mandataire, Revision, RevisionStatus, new_id
    from guichet.runtime.app import build_services
    from guichet.runtime.commands import database

    rng = random.Random(SEED)
    sizes = _sizes(rng)
    header, pool = _template_rows(max(sizes))
    communes = _communes(len(sizes))
    settings = Settings(_env_file=None, home=home, dropzone={"enabled": False})
    total_rows = total_bytes = 0
    with database(settings) as settings:
        built = build_services(settings)
        try:
            async with built.transaction() as session:
                owner = Mandataire(nom="bench", email="bench@bench.example")
                session.add(owner)
                await session.flush()
                client = Client(mandataire_id=owner.id, nom="bench", is_active=True,
                                token_hash=tokens.hash_token(tokens.generate_token()),
                                authorization_strategy=Strategy.INTERNAL)  # fmt: skip
                session.add(client)
                await session.flush()
                for (code, nom), rows in zip(communes, sizes, strict=True):
                    data = _file(header, pool[:rows], code, nom)
                    revision = Revision(
                        client_id=client.id, code_commune=code, context={},
                        status=RevisionStatus.PUBLISHED, is_current=True, is_ready=None,
                        validation={"valid": True, "format": "1.3", "validatorVersion": "3.5.2",
                                    "errors": [], "warnings": [], "infos": [],
                                    "rowsCount": rows},
                    )  # fmt: skip
                    session.add(revision)
                    await session.flush()
                    key = f"revisions/{revision.id}/{new_id()}.csv"
                    await put_bytes(built.blob_store, key, data)
                    session.add(File(revision_id=revision.id, blob_key=key, size=len(data),
                                     hash=hashlib.sha256(data).hexdigest()))  # fmt: skip
                    total_rows += rows
                    total_bytes += len(data)
        finally:
            await built.aclose()
    ordered = sorted(sizes)
    return Seeded(len(sizes), total_rows, total_bytes, ordered[len(ordered) // 2], ordered[-1])


# --- one measurement ----------------------------------------------------------------------------


def _database_url(home: Path) -> str:
    """The libpq URL of the serve's embedded PostgreSQL (attached, not started)."""
    from guichet.core import db
    from guichet.core.config import Settings
    from guichet.runtime.commands import database

    with database(Settings(_env_file=None, home=home)) as settings:
        return db.libpq_url(settings.sqlalchemy_url)


def _sql(url: str, query: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(query)
        return list(cursor.fetchall()) if cursor.description else []


@dataclass
class Measured:
    workers: int
    revisions: int
    wall_s: float
    steady_s: float
    cpu_s: float
    megabytes: float
    changed: int
    load: str


def _measure(home: Path, url: str, workers: int) -> Measured:
    _sql(url, "DELETE FROM depot_revalidation")  # one run per validator version: start afresh
    load = "/".join(f"{value:.1f}" for value in os.getloadavg())
    started = subprocess.run([str(GUICHET), "depot", "revalidate"], env=_env(home),
                             capture_output=True, text=True, check=True)  # fmt: skip
    print(started.stdout.strip(), flush=True)
    begin = time.perf_counter()
    processes = [
        subprocess.Popen([str(GUICHET), "worker", "--concurrency", str(CONCURRENCY)],
                         env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(workers)
    ]  # fmt: skip
    try:
        while _sql(url, "SELECT status FROM depot_revalidation") != [("done",)]:
            time.sleep(0.5)
        wall = time.perf_counter() - begin
    finally:
        cpu = 0.0
        for process in processes:
            process.send_signal(signal.SIGTERM)
            _, _, usage = os.wait4(process.pid, 0)
            cpu += usage.ru_utime + usage.ru_stime  # the validator pools' included (reaped)
    [(count, first, last, size, changed)] = _sql(
        url,
        "SELECT count(*), min(checked_at), max(checked_at), sum(size), count(*) FILTER"
        " (WHERE changed) FROM depot_revalidation_check WHERE status = 'done'",
    )
    return Measured(workers, count, wall, (last - first).total_seconds(), cpu, float(size) / 1e6,
                    changed, load)  # fmt: skip


def run() -> str:
    root = Path(tempfile.mkdtemp(prefix="guichet-bench-revalidate-"))
    home = root / "home"
    server = _serve(home)
    try:
        seeded = asyncio.run(_seed(home))
        print(f"seeded {seeded}", flush=True)
        url = _database_url(home)
        results = [_measure(home, url, workers) for workers in WORKER_COUNTS]
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(root, ignore_errors=True)
    return _section(seeded, results)


def _section(seeded: Seeded, results: list[Measured]) -> str:
    rows = [
        [
            f"{m.workers} × `guichet worker --concurrency {CONCURRENCY}`",
            f"{m.revisions:,}",
            f"{m.wall_s:.1f} s",
            f"{m.revisions / m.wall_s:.1f}",
            f"{m.revisions / m.steady_s:.1f}" if m.steady_s > 0 else "",
            f"{m.megabytes / m.wall_s:.1f} MB/s",
            f"{m.cpu_s:.1f} s",
            f"{m.cpu_s / m.wall_s:.2f}",
            f"{m.cpu_s / m.megabytes:.3f} s",
            f"{m.cpu_s * 1000 / m.revisions:.0f} ms",
            m.load,
        ]
        for m in results
    ]
    return "\n\n".join(
        [
            "## Re-validation of every current revision (`guichet depot revalidate`)",
            f"A `guichet serve` home (embedded PostgreSQL, local blob store, no in-process "
            f"worker) holding {seeded.files:,} current revisions of {seeded.files:,} real "
            f"communes: {seeded.rows:,} rows, {seeded.bytes / 1e6:.0f} MB; files cut from the "
            f"real BAL of Bruz (35047, replicated with renamed streets) and moved to their "
            f"commune, sizes log-normal with median {seeded.median_rows} rows, the "
            f"{BIG_FILES} biggest {seeded.biggest_rows:,} rows. `guichet depot revalidate` "
            "queues one job per revision, then the workers are started; wall = workers "
            "started → run done (start-up included), steady = first → last check recorded. "
            "CPU = user + system of the worker processes and their validator pools (one pool "
            "process per worker on 2 cores), from the kernel at exit; PostgreSQL's not "
            "counted; cores used = worker CPU ÷ wall. The machine is shared with other work: "
            "load average (1/5/15 min) given per run; when the cores used stay the same with "
            "two workers, the other work held the rest of the machine.",
            table(
                [
                    "workers",
                    "revisions",
                    "wall",
                    "revisions/s",
                    "steady revisions/s",
                    "validated",
                    "worker CPU",
                    "cores used",
                    "CPU per MB",
                    "CPU per revision",
                    "load at start",
                ],
                rows,
            ),
            "Each revision is validated once per validator version (the run is deleted between "
            "the two measurements); the verdicts that changed (stored verdicts here say valid "
            f"with no warning): {results[-1].changed:,}.",
        ]
    )


if __name__ == "__main__":
    print(run())
