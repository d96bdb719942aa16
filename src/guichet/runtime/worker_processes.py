"""The `guichet worker` processes of `guichet serve`: jobs are mostly Python, so one process uses
one core at most; `serve` starts `settings.worker_processes` more workers on the same home.

Each child attaches to the embedded PostgreSQL and SeaweedFS the parent owns (their state files
under the home), runs jobs only (the event listeners stay in the parent), and dies with the
parent: with a SIGKILL of `serve` its jobs are lost together with the parent's, and taken up
again after the next start. A child that exits on its own is started again after a pause.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

from guichet.core import lifetime
from guichet.core.config import Settings
from guichet.core.logging import get_logger

log = get_logger(__name__)

RESTART_PAUSE = 2.0  # seconds before a child that exited is started again
PARENT_PID_VARIABLE = "_GUICHET_SERVE_PID"
# 0, or stopped by SIGINT/SIGTERM: as a return code (-N) or as the shell's 128 + N.
_NORMAL_EXIT_CODES = frozenset(
    {0, *(code for sig in (signal.SIGINT, signal.SIGTERM) for code in (-sig, 128 + sig))}
)


def die_with_serve() -> None:
    """In a child of `serve` (its pid in the environment): die with it (see `lifetime`)."""
    expected = os.environ.pop(PARENT_PID_VARIABLE, None)
    if expected is not None:
        lifetime.die_with_parent(int(expected))


def child_environment(settings: Settings) -> dict[str, str]:
    """The parent's environment (same home, same configuration), minus what only the parent
    does: listening to S3 events, starting more workers."""
    env = dict(os.environ)
    env.update(
        GUICHET_HOME=str(settings.home),
        GUICHET_DROPZONE__LISTEN_EVENTS="false",
        GUICHET_WORKER__PROCESSES="0",
    )
    env[PARENT_PID_VARIABLE] = str(os.getpid())
    return env


class WorkerProcesses:
    """Starts, restarts and stops the children; use as a context manager."""

    def __init__(self, settings: Settings, count: int) -> None:
        self.count = count
        self.timeout = settings.worker.shutdown_timeout + 5
        self.env = child_environment(settings)
        self.processes: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watchers: list[threading.Thread] = []

    def __enter__(self) -> WorkerProcesses:
        for index in range(self.count):
            watcher = threading.Thread(
                target=self._keep_running, args=(index,), name=f"worker-{index}", daemon=True
            )
            self._watchers.append(watcher)
            watcher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "guichet", "worker"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            # Out of the terminal's process group: a Ctrl-C reaches `serve` alone, which stops
            # its children gracefully (SIGTERM), instead of each child dying of its own
            # KeyboardInterrupt (a traceback when it came during the child's start-up).
            process_group=0,
        )

    def _keep_running(self, index: int) -> None:
        while not self._stopping.is_set():
            with self._lock:
                if self._stopping.is_set():
                    return
                process = self._spawn()
                self.processes.append(process)
            log.info("serve.worker_process_started", index=index, pid=process.pid)
            code = process.wait()
            if self._stopping.is_set():
                return
            # A clean exit (0, or asked by a signal) is news, not a problem; anything else is.
            level = log.info if code in _NORMAL_EXIT_CODES else log.warning
            level("serve.worker_process_exited", index=index, pid=process.pid, code=code)
            self._stopping.wait(RESTART_PAUSE)

    def stop(self) -> None:
        """SIGTERM (procrastinate's graceful stop), then SIGKILL after the shutdown timeout."""
        with self._lock:
            self._stopping.set()
            running = [p for p in self.processes if p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(self.timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for watcher in self._watchers:
            watcher.join(1)


@contextlib.contextmanager
def worker_processes(settings: Settings) -> Iterator[WorkerProcesses | None]:
    count = settings.worker_processes
    if count == 0:
        yield None
        return
    with WorkerProcesses(settings, count) as children:
        yield children
