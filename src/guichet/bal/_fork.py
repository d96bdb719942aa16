"""A function computed in a forked child process, its result brought back through a pipe.

Why ``fork`` and not ``multiprocessing``: the work reads a big text the parent already holds;
a forked child sees it for free (copy-on-write), starts in about a millisecond and needs no
pickling of its inputs. Only the (compact) result is pickled back.

Guarantees, whatever happens:

* the child never returns into the caller's code: it always ends with ``os._exit`` (no atexit
  handlers, no flush of the parent's inherited stdio buffers);
* the child never outlives its :class:`Forked`: :meth:`Forked.result` reaps it, and
  :meth:`Forked.close` (the caller's ``finally``) kills it if it still runs and reaps it; a
  child whose parent died stops by itself at the next :func:`parent_alive` check (or on the
  broken pipe when it writes);
* a child that fails (exception, killed, unreadable result) is not an error: :meth:`result`
  then computes the function in the calling process, so the outcome never depends on it.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable
from contextlib import suppress
from typing import Generic, NoReturn, TypeVar

T = TypeVar("T")

_READ_SIZE = 1 << 20


def can_fork() -> bool:
    return hasattr(os, "fork")


class Forked(Generic[T]):
    """``work()`` running in a child process, started at once: call :meth:`result` to get it,
    and :meth:`close` in a ``finally`` (a no-op once the result is in)."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._pid: int | None = None
        self._read_fd: int | None = None
        parent = os.getpid()
        try:
            read_fd, write_fd = os.pipe()
        except OSError:  # out of file descriptors: work() will run here
            return
        try:
            pid = os.fork()
        except OSError:  # out of processes or memory: work() will run here
            os.close(read_fd)
            os.close(write_fd)
            return
        if pid == 0:  # pragma: no cover - the child's coverage is not collected
            os.close(read_fd)
            _child(parent, write_fd, work)
        os.close(write_fd)
        self._pid, self._read_fd = pid, read_fd

    def result(self) -> T:
        """The child's result (waiting for it), or ``work()`` computed here if the child failed
        or could not be started."""
        data = self._collect()
        if data is not None:
            try:
                return pickle.loads(data)  # type: ignore[no-any-return]  # what work() returned
            except Exception:  # a truncated result is only a failed child
                pass
        return self._work()

    def _collect(self) -> bytes | None:
        """Everything the child wrote, if it exited normally; the child is reaped."""
        if self._read_fd is None:
            return None
        parts = []
        try:
            while block := os.read(self._read_fd, _READ_SIZE):
                parts.append(block)
        finally:
            os.close(self._read_fd)
            self._read_fd = None
        status = self._reap()
        return b"".join(parts) if status == 0 else None

    def _reap(self) -> int | None:
        """Wait for the child; its exit status (None if killed by a signal)."""
        pid, self._pid = self._pid, None
        if pid is None:
            return None
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None

    def close(self) -> None:
        """Kill the child if it still runs, and reap it (idempotent)."""
        if self._read_fd is not None:
            os.close(self._read_fd)
            self._read_fd = None
        if self._pid is not None:
            with suppress(ProcessLookupError):  # already exited: only reaping is left
                os.kill(self._pid, signal.SIGKILL)
            self._reap()


_forked_by: int | None = None
"""In a child started here: the process id of its parent."""


def parent_alive() -> bool:
    """False in a child whose parent has died (an orphan is re-parented: its parent id
    changes); True anywhere else."""
    return _forked_by is None or os.getppid() == _forked_by


def _child(parent: int, write_fd: int, work: Callable[[], T]) -> NoReturn:  # pragma: no cover
    global _forked_by  # this process's own state, set once, right after fork
    status = 1
    try:
        _forked_by = parent
        payload = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
        with open(write_fd, "wb", closefd=True) as pipe:
            pipe.write(payload)
        status = 0
    finally:
        os._exit(status)  # whatever was raised: never run the caller's code in the child
