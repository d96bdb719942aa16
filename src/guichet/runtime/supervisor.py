"""What the embedded servers of a Guichet home (PostgreSQL, SeaweedFS) have in common: one process
owns each server, holds a lock for as long as it runs, and recognises the leftovers of a crashed
owner by their pid and command line."""

from __future__ import annotations

import fcntl
import os
import signal
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def looks_like(pid: int, program: bytes) -> bool:
    """Best effort against pid reuse: on Linux, the command line names `program`."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():
        return process_alive(pid) and not Path("/proc/self").exists()
    try:
        return program in cmdline.read_bytes()
    except OSError:
        return False


def signal_and_wait(pid: int, steps: list[tuple[signal.Signals, float]]) -> bool:
    """Send each signal in turn until the process is gone; True if it is."""
    for sig, wait in steps:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not process_alive(pid):
                return True
            time.sleep(0.05)
    return not process_alive(pid)


class OwnedService:
    """A service of one Guichet home that a single process owns: the owner holds an exclusive
    flock on ``root/lock`` for its whole life, so a leftover of a crashed owner is recognised
    (nobody holds its lock) and other commands attach instead of starting a second one.
    Subclasses implement ``start`` and ``stop``; use them as context managers."""

    root: Path
    _lock: IO[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _acquire_lock(self) -> bool:
        lock = (self.root / "lock").open("ab")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return False
        self._lock = lock
        return True
