"""Must-show 1 of issue #13: every code block of README.md and docs/*.md that is meant to be run
(marked `<!-- guide: run -->`) runs, as printed, against a live `guichet serve`, and prints
what the guide shows.

The scratch directory looks like a fresh clone after `make run`: `.venv` and `tests` link to the
repository's, and the server's home is its `var/` (the default, as with `make run`). The guides
are written for `127.0.0.1:8000` and the drop zone's `127.0.0.1:8333`; the test's server runs on
free ports, so those two addresses are replaced in the commands and in the expected outputs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_until_healthy
from tests.docs.guides import Block, Step, output_matches, runnable_blocks

ROOT = Path(__file__).resolve().parents[2]
GUIDES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_STEP_END = "@@guide-step-end"


@dataclass
class Server:
    workdir: Path
    port: int
    s3_port: int
    process: subprocess.Popen[bytes]

    def localise(self, text: str) -> str:
        return text.replace("127.0.0.1:8000", f"127.0.0.1:{self.port}").replace(
            "127.0.0.1:8333", f"127.0.0.1:{self.s3_port}"
        )


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUICHET_", "AWS_"))}
    env["GUICHET_LOG__FORMAT"] = "json"
    return env


def free_api_port() -> int:
    """An API port whose default S3 port (+ 333) is free too, as 8000 / 8333 with `make run`."""
    for _ in range(50):
        port = free_port()
        if port + 333 <= 65535:
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port + 333))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port pair")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    for tool in ("curl", "jq", "bash"):
        if shutil.which(tool) is None:
            pytest.skip(f"the guides use {tool}, not installed here")
    workdir = tmp_path_factory.mktemp("clone")
    (workdir / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (workdir / "tests").symlink_to(ROOT / "tests")
    port = free_api_port()
    log = (workdir / "serve.log").open("wb")
    process = subprocess.Popen(
        [".venv/bin/guichet", "serve", "--port", str(port)],
        cwd=workdir,
        env=environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_until_healthy(
        f"http://127.0.0.1:{port}", process, (workdir / "serve.log").read_text, timeout=90
    )
    state = json.loads((workdir / "var/seaweedfs/state.json").read_text())
    actual_s3 = int(state["endpoint_url"].rpartition(":")[2])
    try:
        yield Server(workdir, port, actual_s3, process)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def run_session(server: Server, blocks: list[Block]) -> list[tuple[Step, str, int]]:
    """The blocks' commands, in order, in one bash: (step, its stdout, its exit status)."""
    steps = [step for block in blocks for step in block.steps()]
    script = [f"cd {server.workdir}"]
    for step in steps:
        script += [server.localise(step.command), f'printf "\\n{_STEP_END} %d\\n" "$?"']
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=server.workdir,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    pieces = re.split(rf"\n?{_STEP_END} (\d+)\n", result.stdout)
    outputs, statuses = pieces[0:-1:2], [int(code) for code in pieces[1::2]]
    assert len(statuses) == len(steps), f"the session stopped early:\n{result.stderr}"
    return list(zip(steps, outputs, statuses, strict=True))


def test_the_guides_mark_their_runnable_blocks() -> None:
    marked = {guide.name: len(runnable_blocks(guide)) for guide in GUIDES}
    assert marked["README.md"] >= 3
    assert marked["publication.md"] >= 1 and marked["loaders.md"] >= 3
    assert marked["dropzone.md"] >= 4  # CLI, exports, the boto3 snippet, the outbox


@pytest.mark.parametrize(
    "guide", [guide for guide in GUIDES if runnable_blocks(guide)], ids=lambda path: path.name
)
def test_guide_runs_as_printed(server: Server, guide: Path) -> None:
    blocks = runnable_blocks(guide)
    failures = []
    for step, output, status in run_session(server, blocks):
        where = f"{guide.name}:{step.line}: $ {step.command.splitlines()[0][:100]}"
        if status != 0:
            failures.append(f"{where}\n  exit status {status}\n  output: {output[-1500:]}")
        elif step.checks_output:
            expected = server.localise("\n".join(step.expected))
            if not output_matches(expected, output):
                failures.append(f"{where}\n  expected:\n{expected}\n  got:\n{output[-3000:]}")
    assert not failures, "\n\n".join(failures)
