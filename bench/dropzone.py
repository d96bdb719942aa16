"""Drop zone: 1,000 loader files put into a partner bucket of a real `guichet serve` (embedded
PostgreSQL, embedded SeaweedFS, in-process worker, Maildir outbox); time until the last e-mail,
and the latency from each upload to its e-mail (p50, p99). Target: p50 ≤ 2 s.

    python bench/dropzone.py [FILES]
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from email import message_from_binary_file, policy
from pathlib import Path
from typing import Any

import boto3
import httpx
from _common import free_port
from botocore.config import Config

FILES = 1_000
UPLOAD_THREADS = 8


def _start(home: Path, port: int, s3_port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
    env.update(
        GUICHET_HOME=str(home),
        GUICHET_LOG__FORMAT="json",
        GUICHET_LOG__LEVEL="WARNING",
        GUICHET_DROPZONE__SEAWEEDFS__S3_PORT=str(s3_port),
    )
    tuning = ("GUICHET_WORKER__", "GUICHET_DROPZONE__BATCH_SIZE")  # to try other settings
    env.update({k: v for k, v in os.environ.items() if k.startswith(tuning)})
    log = (home.parent / "serve.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "guichet", "serve", "--port", str(port)],
        env=env, cwd=home.parent, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            raise RuntimeError((home.parent / "serve.log").read_text()[-3000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("guichet serve not healthy after 90 s")
        time.sleep(0.1)


def _document(api_key: str, n: int) -> bytes:
    document = {
        "inigPtynm": "bench",
        "apiKey": api_key,
        "creDtTm": "2026-01-15T10:30:00+01:00",
        "versionId": "2.0",
        "properties": [{"id": f"P{n}", "description": "T2", "streetName": "rue des Tanneurs",
                        "townName": "Lille", "postCode": "59000", "ctry": "FR", "lastName": "M",
                        "firstName": "Claire", "email": "claire.martin@example.org",
                        "acquisitionDate": "2023-07-12"}],
        "transactions": [{"id": f"T{n}", "reqdExctnDt": "2025-02-05", "id-prty": f"P{n}",
                          "amt": 780.0, "ccy": "EUR", "purpose": "LOYER", "ref": "Loyer"}],
    }  # fmt: skip
    return json.dumps(document).encode()


def _delivered(outbox: Path) -> dict[str, float]:
    """Maildir file name → delivery time (its mtime). Only a directory listing: the polling
    must not eat the CPU it measures (the messages are parsed once, at the end)."""
    directory = outbox / "new"
    if not directory.exists():
        return {}
    return {entry.name: entry.stat().st_mtime for entry in os.scandir(directory)}


def _mails(outbox: Path, delivered: dict[str, float]) -> dict[str, tuple[float, str]]:
    """key → (delivery time, status) of every delivered message."""
    found: dict[str, tuple[float, str]] = {}
    for name, at in delivered.items():
        with (outbox / "new" / name).open("rb") as file:
            message = message_from_binary_file(file, policy=policy.default)
        subject = str(message["Subject"])  # "[Guichet loader][stg] <key> : <status>"
        key, _, status = subject.split("] ", 1)[1].rpartition(" : ")
        found[key] = (at, status)
    return found


def _quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted `values` (NaN if empty)."""
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]


def _worker_settings() -> str:
    """The job workers the served process runs (its defaults unless GUICHET_WORKER__*)."""
    from guichet.core.config import Settings
    from guichet.partners.dropzone.tasks import DRAINS_PER_PROCESS

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    processes = settings.worker_processes
    return (
        f"in-process worker + {processes} `guichet worker` process(es),"
        f" at most {DRAINS_PER_PROCESS} drains at once each,"
        f" batches of {settings.dropzone.batch_size}"
    )


def _archived(home: Path, s3_port: int) -> int:
    """How many archive copies (`success/`) the bucket holds (service credentials)."""
    identity = json.loads((home / "seaweedfs" / "s3.json").read_text())["identities"][0]
    key = identity["credentials"][0]
    client = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{s3_port}", region_name="eu-west-1",
        aws_access_key_id=key["accessKey"], aws_secret_access_key=key["secretKey"],
    )  # fmt: skip
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket="ql-loader-stg-bench", Prefix="success/"
    )
    return sum(page.get("KeyCount", 0) for page in pages)


def measure(files: int = FILES, threads: int = UPLOAD_THREADS) -> dict[str, Any]:
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="guichet-bench-dz-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        port, s3_port = free_port(), free_port()
        process = _start(home, port, s3_port)
        try:
            url = f"http://127.0.0.1:{port}"
            admin = {"Authorization": f"Bearer {(home / 'admin_token').read_text().strip()}"}
            partner = {"partner_id": "bench", "contact_emails": ["ops@bench.test"]}
            created = httpx.post(f"{url}/admin/loaders/partners", headers=admin, json=partner)
            api_key = created.json()["api_key"]
            creds = httpx.post(f"{url}/admin/dropzone/partners/bench", headers=admin).json()
            time.sleep(1.5)  # the new identity reaches the S3 gateway
            client = boto3.client(
                "s3", endpoint_url=f"http://127.0.0.1:{s3_port}", region_name="eu-west-1",
                aws_access_key_id=creds["aws_access_key_id"],
                aws_secret_access_key=creds["aws_secret_access_key"],
                config=Config(max_pool_connections=threads,
                              request_checksum_calculation="when_required"),
            )  # fmt: skip
            bodies = [(f"loader-{n:05d}.json", _document(api_key, n)) for n in range(files)]
            uploaded: dict[str, float] = {}

            def upload(item: tuple[str, bytes]) -> None:
                key, body = item
                client.put_object(Bucket="ql-loader-stg-bench", Key=key, Body=body,
                                  ContentType="application/json")  # fmt: skip
                uploaded[key] = time.time()

            start = time.time()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(upload, bodies))
            upload_done = time.time()
            deadline = time.monotonic() + 600
            while (
                len(delivered := _delivered(home / "outbox")) < files
                and time.monotonic() < deadline
            ):
                time.sleep(0.2)
            while _archived(home, s3_port) < files and time.monotonic() < deadline:
                time.sleep(0.5)
            archives_done = time.time()
            mails = _mails(home / "outbox", delivered)
            latencies = sorted(mails[k][0] - uploaded[k] for k in mails if k in uploaded)
            first = min(t for t, _ in mails.values()) if mails else float("nan")
            statuses: dict[str, int] = {}
            for _, status in mails.values():
                statuses[status] = statuses.get(status, 0) + 1
            last = max(t for t, _ in mails.values()) if mails else float("nan")
            drain = last - first if len(mails) > 1 else float("nan")
            return {
                "files": files,
                "threads": threads,
                "mails": len(mails),
                "statuses": statuses,
                "upload_s": upload_done - start,
                "upload_rate": files / (upload_done - start),
                "first_mail_s": first - start,
                "last_mail_s": last - start,
                "archives_s": archives_done - start,
                "throughput": len(mails) / (last - start) if mails else float("nan"),
                "steady": (len(mails) - 1) / drain if drain and drain > 0 else float("nan"),
                "p50": statistics.median(latencies) if latencies else float("nan"),
                "quantiles": {q: _quantile(latencies, q) for q in (0.1, 0.25, 0.75, 0.9, 0.99)},
                "min": latencies[0] if latencies else float("nan"),
                "max": latencies[-1] if latencies else float("nan"),
                "load": load_at_start,
            }
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


SCENARIOS = [
    (1, "one client putting its files one after another (the seed's snippet in a loop)"),
    (UPLOAD_THREADS, f"a burst: {UPLOAD_THREADS} upload threads"),
]


def _row(m: dict[str, Any]) -> str:
    verdict = "✅" if m["p50"] <= 2.0 else "❌"
    q = m["quantiles"]
    load = "/".join(f"{x:.1f}" for x in m["load"])
    return (
        f"| {m['threads']} | {m['mails']:,} {m['statuses']} | {m['upload_s']:.1f} s"
        f" ({m['upload_rate']:.0f}/s) | {m['first_mail_s']:.2f} s | {m['last_mail_s']:.1f} s"
        f" | {m['steady']:.0f} files/s | {m['p50']:.2f} s {verdict} | {q[0.9]:.2f} s"
        f" | {q[0.99]:.2f} s | {m['max']:.2f} s | {m['archives_s']:.1f} s | {load} |"
    )


def run(files: int = FILES) -> str:
    results = [measure(files, threads) for threads, _ in SCENARIOS]
    scenarios = "; ".join(f"{threads} thread(s): {text}" for threads, text in SCENARIOS)
    return "\n".join(
        [
            "## Partner S3 drop zone (upload → processing → e-mail)",
            "",
            f"A real `guichet serve` (embedded PostgreSQL + SeaweedFS, {_worker_settings()},"
            f" Maildir outbox) on 127.0.0.1; {files:,} small loader files (1 property,"
            " 1 transaction each) put by boto3 into one partner bucket, from the same machine"
            f" ({os.cpu_count()} CPUs, shared by the uploader, SeaweedFS, PostgreSQL and"
            f" Guichet). Scenarios: {scenarios}. Latency = e-mail file written − that object's"
            " PUT returned. Archives = every source copied to `success/` (archive copies wait"
            " while files wait).",
            "",
            "| upload threads | e-mails | upload | first e-mail | last e-mail | steady"
            " throughput | latency p50 | p90 | p99 | max | archives done | load at start |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            *(_row(m) for m in results),
            "",
            "Target: p50 ≤ 2 s. While the files arrive faster than they are processed, the"
            " latency of the n-th file is about n ÷ throughput − its upload time: the p50 is"
            " bounded by the steady throughput, not by the time one file takes (first e-mail).",
        ]
    )


if __name__ == "__main__":
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else FILES))
