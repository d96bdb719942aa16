"""The first hour with `guichet serve` (issue #13): preflight checks that fail at once with one
plain line and start nothing, the start banner, no alarming start-up line, a quiet Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from guichet.core.config import LogSettings, Settings
from guichet.runtime import banner
from tests.conftest import free_port, wait_until_healthy

# A busy machine (two cores, several test runs) must still see the answer well within this.
PREFLIGHT_BOUND = 2.0


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
    env.update(GUICHET_HOME=str(home), **extra)
    return env


def guichet() -> list[str]:
    """The `guichet` script of this environment (the path the banner tells to use)."""
    return [str(Path(sys.executable).parent / "guichet")]


def run_serve(
    home: Path, port: int, cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    """`guichet serve` run to its end: the result, and the seconds it took. A refusal (exit 2,
    which starts nothing) is tried up to three times and the fastest one counts: on a loaded
    machine (the suite's workers, the servers of other tests) one start of the interpreter alone
    may stall past the bound; each refusal must still say the same thing."""
    results: list[tuple[subprocess.CompletedProcess[str], float]] = []
    for _ in range(3):
        started = time.monotonic()
        result = subprocess.run(
            [*guichet(), "serve", "--port", str(port)],
            env=environment(home),
            cwd=cwd or home.parent,
            capture_output=True,
            text=True,
            timeout=60,
        )
        results.append((result, time.monotonic() - started))
        if result.returncode != 2 or results[-1][1] < PREFLIGHT_BOUND:
            break
    outcomes = {(r.returncode, r.stdout, r.stderr) for r, _ in results}
    assert len(outcomes) == 1, outcomes
    return min(results, key=lambda pair: pair[1])


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


class TestPreflight:
    def test_busy_port_fails_at_once_with_one_line_and_starts_nothing(
        self, tmp_path: Path, busy_port: int
    ) -> None:
        home = tmp_path / "var"
        result, seconds = run_serve(home, busy_port)
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            f"guichet serve: 127.0.0.1:{busy_port} is already in use by another program: stop "
            "it, or choose another port with --port or GUICHET_PORT"
        ]
        assert result.stdout == ""
        assert seconds < PREFLIGHT_BOUND, seconds
        assert not home.exists()  # no database, no SeaweedFS, no token: nothing was started

    def test_data_directory_that_cannot_be_written(self, tmp_path: Path) -> None:
        (tmp_path / "a-file").write_text("not a directory")
        home = tmp_path / "a-file" / "var"
        result, seconds = run_serve(home, free_port(), cwd=tmp_path)
        assert result.returncode == 2
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            f"guichet serve: the data directory {home} cannot be created"
        ), result.stderr
        assert seconds < PREFLIGHT_BOUND, seconds


@dataclass
class Served:
    home: Path
    port: int
    process: subprocess.Popen[str]
    stdout: Path
    stderr: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start(home: Path, port: int, **extra: str) -> Served:
    home.mkdir(parents=True)
    out, err = home.parent / "serve.out", home.parent / "serve.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [*guichet(), "serve", "--port", str(port)],
            env=environment(home, **extra),
            cwd=home.parent,
            stdout=stdout,
            stderr=stderr,
            text=True,
            start_new_session=True,  # its own process group: a Ctrl-C reaches all of it
        )
    served = Served(home, port, process, out, err)
    deadline = time.monotonic() + 90
    wait_until_healthy(served.url, process, err.read_text, timeout=90)
    # The banner comes once uvicorn listens; /health may answer a moment before it is written.
    while "Stop with Ctrl-C." not in out.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    return served


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    # Console logs (what a terminal gets), and one worker child to be stopped by the Ctrl-C.
    running = start(
        tmp_path / "home",
        free_port(),
        GUICHET_LOG__FORMAT="console",
        GUICHET_WORKER__PROCESSES="1",
    )
    yield running
    if running.process.poll() is None:  # safety net if the test failed midway
        # Ctrl-C first: `serve` stops its PostgreSQL and SeaweedFS (a SIGKILL would leave them).
        os.killpg(running.process.pid, signal.SIGINT)
        try:
            running.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(running.process.pid, signal.SIGKILL)
            running.process.wait()


def test_banner_second_start_and_ctrl_c(served: Served) -> None:
    output = served.stdout.read_text()
    # The banner: where everything is, and what to run next with the real script path.
    assert f"API           {served.url}" in output
    assert f"API docs      {served.url}/docs" in output
    endpoint = (served.home / "seaweedfs/state.json").read_text()
    s3 = json.loads(endpoint)["endpoint_url"]
    assert f"Drop zone S3  {s3}" in output
    assert f"Outbox        {served.home / 'outbox'}" in output
    assert f"Admin token   {served.home / 'admin_token'}" in output
    script = guichet()[0]
    assert f"{script} loaders create-partner acme" in output
    assert f"GUICHET_HOME={served.home} " in output  # not the default home: said so

    # A second start on the same home and port: one plain line at once, nothing started.
    result, seconds = run_serve(served.home, served.port)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"guichet serve: 127.0.0.1:{served.port} is already in use by the Guichet running on "
        f"this home ({served.home}): it is up already; to run a second one, give it another "
        "GUICHET_HOME and --port (or GUICHET_PORT)"
    ]
    assert seconds < PREFLIGHT_BOUND, seconds
    assert httpx.get(f"{served.url}/health").status_code == 200  # the first one is untouched

    # Ctrl-C in the terminal: SIGINT to the whole foreground process group.
    os.killpg(served.process.pid, signal.SIGINT)
    assert served.process.wait(timeout=90) in (0, 130)
    logs = served.stderr.read_text()
    assert "serve.stopped" in logs
    assert "Traceback" not in logs and "KeyboardInterrupt" not in logs, logs
    exits = [line for line in logs.splitlines() if "serve.worker_process_exited" in line]
    assert all("warning" not in line for line in exits), exits
    # httpx's own request lines (the SeaweedFS probe's "403 Forbidden") are not logged.
    assert "403 Forbidden" not in logs and "HTTP Request:" not in logs


def test_ready_event_holds_the_same_facts_off_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(home=tmp_path / "home", port=18123, log=LogSettings(format="json"))
    facts = banner.start_facts(settings, admin_token_configured=False)
    # Through the real logging configuration (JSON), as `serve` does off a terminal.
    from guichet.core.logging import configure_logging

    configure_logging(settings.log)
    try:
        banner.announce(settings, facts)
    finally:
        configure_logging(LogSettings(format="console"))
    captured = capsys.readouterr()
    assert captured.out == ""  # no banner text: the event instead
    event = json.loads(captured.err.strip().splitlines()[-1])
    assert event["event"] == "serve.ready"
    assert event["api_url"] == "http://127.0.0.1:18123"
    assert event["docs_url"] == "http://127.0.0.1:18123/docs"
    assert event["admin"] == str(tmp_path / "home" / "admin_token")  # not masked as a secret
    assert event["outbox"] == str(tmp_path / "home" / "outbox")
    assert event["next_command"].endswith(
        "loaders create-partner acme --name ACME --email compta@acme.example"
    )
