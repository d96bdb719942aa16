"""Partner loader REST endpoint: `POST /api/third_party/loader` against a real `guichet serve`.

Workload: a flat file of 100,000 transactions across 1,000 properties (100 declarants with 10
nested properties each, ~20 MB), validated and integrated in one request; then the latency of a
small file (1 property, 5 transactions), posted sequentially. The server runs in a subprocess
(embedded PostgreSQL, GUICHET_HOME in a temporary directory, 127.0.0.1, a free port); peak memory
is the server process's high-water RSS (VmHWM), PostgreSQL's own processes not included.
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _common import ROOT, free_port

sys.path.insert(0, str(ROOT))

from tests.loader import factories as f

PARTNER = "bench-partner"
SMALL_POSTS = 200
START_TIMEOUT = 120.0
REQUEST_TIMEOUT = 300.0


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    home: Path

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")


@contextmanager
def serve() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="guichet-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
        env.update(GUICHET_HOME=str(home), GUICHET_LOG__LEVEL="WARNING", GUICHET_HOST="127.0.0.1")
        log = (Path(tmp) / "serve.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "guichet", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        server = Server(f"http://127.0.0.1:{port}", process, home)
        try:
            _wait_healthy(server)
            yield server
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def _wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"guichet serve exited with {server.process.returncode}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("guichet serve did not become healthy")


def create_partner(client: httpx.Client, server: Server, partner_id: str) -> str:
    token = (server.home / "admin_token").read_text().strip()
    response = client.post(
        "/admin/loaders/partners",
        json={"partner_id": partner_id},
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
    key: str = response.json()["api_key"]
    return key


def big_file(key: str) -> bytes:
    document = json.loads(f.big_file())
    document.update(inigPtynm=PARTNER, apiKey=key)
    return json.dumps(document).encode()


def small_file(key: str, n: int) -> bytes:
    document: dict[str, Any] = f.header(
        inigPtynm=PARTNER,
        apiKey=key,
        properties=[f.property_(f"S{n}")],
        transactions=[f.transaction(f"S{n}-T{t}", f"S{n}") for t in range(5)],
    )
    return json.dumps(document).encode()


def _post(client: httpx.Client, body: bytes) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    response = client.post(
        "/api/third_party/loader", content=body, headers={"Content-Type": "application/json"}
    )
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
    result: dict[str, Any] = response.json()
    return elapsed, result


def measure() -> dict[str, Any]:
    with serve() as server, httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT) as client:
        key = create_partner(client, server, PARTNER)
        body = big_file(key)
        rss_before = server.rss_mib()
        big_s, big = _post(client, body)
        again_s, again = _post(client, body)
        peak = server.peak_rss_mib()
        latencies = [_post(client, small_file(key, n))[0] for n in range(SMALL_POSTS)]
    return {
        "size_mib": len(body) / 2**20,
        "big_s": big_s,
        "big_status": big["status"],
        "big_total": big["total_count"],
        "again_s": again_s,
        "again_status": again["status"],
        "rss_before": rss_before,
        "peak_rss": peak,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": statistics.quantiles(latencies, n=20)[-1] * 1000,
    }


def run() -> str:
    m = measure()
    return "\n".join(
        [
            "## Partner loader REST endpoint (`POST /api/third_party/loader`)",
            "",
            "A real `guichet serve` (embedded PostgreSQL, in-process worker) on 127.0.0.1;"
            " the client is `httpx`, in another process. Peak memory: the server process's VmHWM.",
            "",
            "| workload | result | wall time | server peak RSS |",
            "|---|---|---:|---:|",
            f"| 100,000 transactions / 1,000 properties / 100 declarants, {m['size_mib']:.1f} MiB,"
            f" first post (all created) | {m['big_status']}, {m['big_total']} items"
            f" | {m['big_s']:.2f} s | {m['peak_rss']:.0f} MiB (idle: {m['rss_before']:.0f} MiB) |",
            f"| same file again (all already known) | {m['again_status']}"
            f" | {m['again_s']:.2f} s | |",
            f"| small file (1 property, 5 transactions), {SMALL_POSTS} sequential posts"
            f" | p50 {m['p50_ms']:.1f} ms, p95 {m['p95_ms']:.1f} ms | | |",
            "",
            "Target: the 100,000-transaction file validated and integrated in ≤ 10 s.",
        ]
    )


if __name__ == "__main__":
    print(run())
