"""End to end: `guichet serve` as a subprocess, with nothing configured but GUICHET_HOME."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.conftest import free_port, wait_until_healthy


@dataclass
class Served:
    home: Path
    port: int
    process: subprocess.Popen[str]
    stderr: Path
    stderr_file: IO[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def postmaster_pid(self) -> int:
        return int((self.home / "postgres/data/postmaster.pid").read_text().split()[0])

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not alive (postgres is not our child here, but be exact anyway).
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[1].startswith("Z"))


def start(home: Path, port: int) -> Served:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
    env.update(GUICHET_HOME=str(home), GUICHET_LOG__FORMAT="json")
    home.mkdir(parents=True, exist_ok=True)
    stderr = home.parent / f"{home.name}-{port}.log"
    stderr_file = stderr.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "guichet", "serve", "--port", str(port)],  # = `guichet serve`
        env=env,
        cwd=home.parent,
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        text=True,
    )
    served = Served(home, port, process, stderr, stderr_file)
    try:
        wait_until_healthy(served.url, process, stderr.read_text, timeout=60)
    except BaseException:  # (pytest.fail's exception too): no server left behind
        process.kill()
        raise
    return served


@pytest.fixture
def servers() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for served in started:
        if served.process.poll() is None:  # safety net if a test failed midway
            served.process.kill()
            served.process.wait()
        assert served.process.stdout is not None
        served.process.stdout.close()
        served.stderr_file.close()


class TestServe:
    def test_two_homes_side_by_side_then_sigterm_stops_everything(
        self, tmp_path: Path, servers: list[Served]
    ) -> None:
        servers += [start(tmp_path / "a", free_port()), start(tmp_path / "b", free_port())]
        a, b = servers
        assert a.postmaster_pid() != b.postmaster_pid()
        for served in servers:
            assert httpx.get(f"{served.url}/health").json()["database"] == "ok"
            assert httpx.get(f"{served.url}/docs").status_code == 200

        # The admin token: printed once on stdout, stored 0600, never in the logs.
        postmasters = [served.postmaster_pid() for served in servers]
        for served in servers:
            assert served.terminate() == 0
        for served, pid in zip(servers, postmasters, strict=True):
            assert not alive(pid), "the embedded postgres outlived guichet serve"
            assert not (served.home / "postgres/data/postmaster.pid").exists()
            token = (served.home / "admin_token").read_text().strip()
            assert (served.home / "admin_token").stat().st_mode & 0o777 == 0o600
            assert served.process.stdout is not None
            assert token in served.process.stdout.read()
            assert token not in served.stderr.read_text()

    def test_stale_postmaster_of_a_crashed_run_does_not_block_restart(
        self, tmp_path: Path, servers: list[Served]
    ) -> None:
        port = free_port()
        crashed = start(tmp_path / "home", port)
        servers.append(crashed)
        stale = crashed.postmaster_pid()
        crashed.process.kill()  # SIGKILL: no cleanup at all
        crashed.process.wait()
        assert alive(stale)

        restarted = start(tmp_path / "home", port)
        servers.append(restarted)
        assert not alive(stale)
        assert restarted.postmaster_pid() != stale
        assert restarted.terminate() == 0
        assert restarted.process.stdout is not None
        assert "Admin token" not in restarted.process.stdout.read()  # shown once, first run only
