"""BAL publication API, end to end against a real `guichet serve` (embedded PostgreSQL).

1. The four publication calls for a ~50 MB BAL of one commune (245k rows, valid), each timed,
   while a background client measures the latency of `GET /health` during the whole sequence
   (the validation runs in a process pool: the event loop must not stall).
2. `GET /communes/{code}/current-revision` under 50 concurrent clients: `wrk -t1 -c50 -d8s
   --latency` (requests/s, p50/p99 latency). wrk is installed from the distribution's packages
   when missing (`apt-get install wrk`, as root); without it this figure is not written at all:
   an in-process Python client measures itself more than the server (518 req/s where wrk gives
   3,586 on the same machine). BENCH_DEPOT_WORKERS=N serves with `--workers N`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _bigbal import build
from _common import free_port, table

GUICHET = Path(sys.executable).with_name("guichet")
CODE = "35047"
CONCURRENCY = 50
WRK_SECONDS = 8
WORKERS = int(os.environ.get("BENCH_DEPOT_WORKERS", "1"))
SERVER_ENV = {"GUICHET_LOG__LEVEL": "WARNING", "GUICHET_LOG__FORMAT": "json"}


def _start(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
    env.update(GUICHET_HOME=str(home), **SERVER_ENV)
    process = subprocess.Popen(
        [str(GUICHET), "serve", "--port", str(port), "--workers", str(WORKERS)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"guichet serve exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("guichet serve did not start")


async def _probe(http: httpx.AsyncClient, stop: asyncio.Event, samples: list[float]) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        await http.get("/health")
        samples.append(time.perf_counter() - start)
        await asyncio.sleep(0.02)


async def _publication(api: str, admin: dict[str, str], data: bytes) -> dict[str, Any]:
    # keep-alive shorter than uvicorn's (5 s): never reuse a connection the server is closing
    limits = httpx.Limits(keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=api, timeout=300, limits=limits) as http:
        mandataire = (
            await http.post(
                "/mandataires", headers=admin, json={"nom": "bench", "email": "b@bench.example"}
            )
        ).json()
        chef = (
            await http.post(
                "/chefs-de-file",
                headers=admin,
                json={
                    "nom": "bench",
                    "email": "c@bench.example",
                    "perimeters": [{"type": "commune", "code": CODE}],
                },
            )
        ).json()
        created = (
            await http.post(
                "/clients",
                headers=admin,
                json={
                    "nom": "bench",
                    "mandataireId": mandataire["id"],
                    "chefDeFileId": chef["id"],
                    "isActive": True,
                },
            )
        ).json()
        auth = {"Authorization": f"Token {created['token']}"}
        stop, samples = asyncio.Event(), list[float]()
        probe = asyncio.create_task(_probe(http, stop, samples))
        timings: dict[str, float] = {}
        start = time.perf_counter()
        revision = (
            await http.post(
                f"/communes/{CODE}/revisions",
                headers=auth,
                json={"context": {"organisation": "bench"}},
            )
        ).json()
        timings["create"] = time.perf_counter() - start
        rid = revision["id"]
        start = time.perf_counter()
        upload = await http.put(
            f"/revisions/{rid}/files/bal",
            content=data,
            headers={
                **auth,
                "Content-Type": "text/csv",
                "Content-MD5": hashlib.md5(data).hexdigest(),
            },
        )
        timings["upload"] = time.perf_counter() - start
        assert upload.status_code == 200, upload.text
        start = time.perf_counter()
        computed = (await http.post(f"/revisions/{rid}/compute", headers=auth)).json()
        timings["compute"] = time.perf_counter() - start
        assert computed["isReady"] is True, computed["validation"]
        start = time.perf_counter()
        published = await http.post(f"/revisions/{rid}/publish", headers=auth)
        timings["publish"] = time.perf_counter() - start
        assert published.status_code == 200
        stop.set()
        await probe
        download = await http.get(f"/communes/{CODE}/current-revision/files/bal/download")
        assert download.content == data
    return {"timings": timings, "rows": computed["validation"]["rowsCount"], "probe": samples}


def _ensure_wrk() -> str | None:
    """wrk's path, installed with apt-get (Debian's ``wrk`` package) when missing and allowed
    (root, apt-get present); None if it still is not there."""
    found = shutil.which("wrk")
    apt = shutil.which("apt-get")
    if found or apt is None or os.geteuid() != 0:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "wrk"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"wrk not installed: {' '.join(command)}: {done.stderr.strip()[-300:]}")
            return None
    return shutil.which("wrk")


_WRK_LATENCY = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_WRK_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def _wrk(api: str, wrk: str) -> dict[str, Any]:
    """wrk's own figures (an event-loop C client: it measures the server, not itself)."""
    httpx.get(f"{api}/communes/{CODE}/current-revision")  # warm-up
    command = [wrk, "-t1", f"-c{CONCURRENCY}", f"-d{WRK_SECONDS}s", "--latency"]
    output = subprocess.run(
        [*command, f"{api}/communes/{CODE}/current-revision"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    latency = {q: float(v) * _WRK_UNITS[unit] for q, v, unit in _WRK_LATENCY.findall(output)}
    done = re.search(r"(\d+) requests in ([\d.]+)s", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert done is not None and rps is not None, output
    return {
        "client": "wrk " + " ".join(command[1:]),
        "requests": int(done.group(1)),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "none",
        "seconds": float(done.group(2)),
        "rps": float(rps.group(1)),
        "p50": latency["50"],
        "p99": latency["99"],
        "raw": output.strip(),
    }


def _cpu_seconds(pid: int) -> float:
    """CPU time of the process and its children (the API processes of `--workers N`)."""
    total = 0.0
    for task in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{task}/stat").read_text().rsplit(") ", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children(pid: int) -> list[int]:
    """Python children only (not the embedded PostgreSQL nor SeaweedFS)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
            name = (entry / "comm").read_text().strip()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid and name.startswith("python"):
            found.append(int(entry.name))
    return found


def run() -> str:
    data = build()
    home = Path(tempfile.mkdtemp(prefix="guichet-bench-depot-"))
    port = free_port()
    process = _start(home / "home", port)
    api = f"http://127.0.0.1:{port}"
    try:
        admin = {"Authorization": "Token " + (home / "home" / "admin_token").read_text().strip()}
        flow = asyncio.run(_publication(api, admin, data))
        wrk = _ensure_wrk()
        load = None
        if wrk is not None:  # no wrk, no figure (never a Python client measuring itself)
            cpu_before = _cpu_seconds(process.pid)
            load = _wrk(api, wrk)
            cpu = _cpu_seconds(process.pid) - cpu_before
            load["cpu_ms"] = cpu * 1000 / max(1, load["requests"])
    finally:
        process.terminate()
        process.wait(timeout=60)
        shutil.rmtree(home, ignore_errors=True)
    timings, probe = flow["timings"], flow["probe"]
    rows = [[step, f"{seconds:.2f} s"] for step, seconds in timings.items()]
    rows.append(["total", f"{sum(timings.values()):.2f} s"])
    return "\n\n".join(
        [
            "## BAL publication API (`bench/depot_api.py`)",
            f"A {len(data) / 1e6:.1f} MB BAL of commune {CODE} ({flow['rows']:,} rows, valid), "
            "published with the four calls against `guichet serve` (embedded PostgreSQL, local "
            "blob store, loopback):",
            table(["call", "wall time"], rows),
            f"Meanwhile `GET /health` every 20 ms: {len(probe)} requests, p50 "
            f"{statistics.median(probe) * 1000:.1f} ms, max {max(probe) * 1000:.1f} ms "
            "(the validation runs in a process pool, the event loop never stalls).",
            _load_section(load),
        ]
    )


def _load_section(load: dict[str, Any] | None) -> str:
    if load is None:
        return (
            f"`GET /communes/{CODE}/current-revision` under load: not measured (wrk is not "
            "installed and could not be installed with apt-get)."
        )
    return "\n\n".join(
        [
            f"`GET /communes/{CODE}/current-revision`, {CONCURRENCY} concurrent connections "
            f"({load['client']}) against `guichet serve --workers {WORKERS}` (embedded "
            f"PostgreSQL, in-process job worker, {_settings_text()}, response cache on; "
            f"{os.cpu_count()} CPUs shared with the load generator):",
            table(
                ["requests", "non-2xx", "req/s", "p50", "p99", "server CPU / request"],
                [
                    [
                        f"{load['requests']:,.0f}",
                        f"{load['errors']:.0f}",
                        f"{load['rps']:.0f}",
                        f"{load['p50'] * 1000:.1f} ms",
                        f"{load['p99'] * 1000:.1f} ms",
                        f"{load['cpu_ms']:.1f} ms",
                    ]
                ],
            ),
            "The load generator shares the machine with the server: when the server's CPU per "
            "request times req/s stays well under one core, the client is the bottleneck.",
            f"```\n{load['raw']}\n```",
        ]
    )


def _settings_text() -> str:
    return ", ".join(f"{k}={v}" for k, v in SERVER_ENV.items())


if __name__ == "__main__":
    print(run())
