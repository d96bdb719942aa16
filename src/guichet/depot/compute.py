"""Validation of a revision's file, off the event loop.

`check_file` runs in a process pool (the validator is CPU-bound: a 50 MB file takes seconds,
and a thread would hold the GIL meanwhile, stalling every other request of the process). It
returns what api-depot's own rules need from the rows (their communes) together with the
validator's verdict and the first `MAX_PROBLEMS` problems for the detailed report. The rules
that need the database (perimeter, mass deletion) are applied by `publication.record_validation`.

This module imports the validator and the standard library only: it is what the pool's
processes import.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import datetime as dt
import multiprocessing
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from guichet.bal import HttpBanLookup, validate
from guichet.core import lifetime

# The validator is a port of @ban-team/validateur-bal 3.5.2, reference-exact: clients compare
# `validatorVersion` with what the reference service writes.
VALIDATOR_VERSION = "3.5.2"
MAX_PROBLEMS = 10_000
WRONG_COMMUNE = "commune_insee.valeur_inattendue"
_PARIS = ZoneInfo("Europe/Paris")
T = TypeVar("T")


@dataclass(frozen=True)
class FileCheck:
    """The validator's verdict on one file, for one commune."""

    parse_ok: bool
    profile: str
    parse_errors: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
    rows_count: int = 0
    all_rows_in_commune: bool = True
    problems: list[dict[str, Any]] = field(default_factory=list)
    problems_count: int = 0


def today() -> dt.date:
    return dt.datetime.now(_PARIS).date()


BanApi = tuple[str, float]
"""(base URL, timeout) of the BAN API: plain values, they cross to the pool's processes."""

_ban_lookups: dict[BanApi, HttpBanLookup] = {}
"""One lookup (and its cache) per BAN API, kept by each pool process across files."""


def _ban_lookup(ban: BanApi | None) -> HttpBanLookup | None:
    if ban is None:
        return None
    if ban not in _ban_lookups:
        _ban_lookups[ban] = HttpBanLookup(ban[0], timeout=ban[1])
    return _ban_lookups[ban]


def check_file(
    data: bytes, code_commune: str, day: dt.date, ban: BanApi | None = None
) -> FileCheck:
    """Validate `data` (profile auto-detected) and check that every row is of `code_commune`."""
    report = validate(data, None, today=day, ban_lookup=_ban_lookup(ban))
    # the first problems only, and the others counted: a big 1.4 file has 100ks of them
    problems = [problem.to_json() for problem in islice(report.problems(), MAX_PROBLEMS)]
    count = report.problem_counts().total()
    if not report.parse_ok:
        parse_errors = report.summary()["parseErrors"]
        if report.file_error is not None:
            error = report.file_error
            parse_errors = [{"type": "FileError", "code": error.code, "message": error.message}]
        return FileCheck(
            parse_ok=False,
            profile=report.profile,
            parse_errors=parse_errors,
            problems=problems,
            problems_count=count,
        )
    levels: dict[str, list[str]] = {"E": [], "W": [], "I": []}
    for entry in report.profil_errors():
        levels[entry["level"]].append(entry["code"])
    # The reference's rule: commune_insee, else the commune part of cle_interop.
    outside, first = report.rows_outside(code_commune, MAX_PROBLEMS - len(problems))
    problems += [_wrong_commune(line, found, code_commune) for line, found in first]
    return FileCheck(
        parse_ok=True,
        profile=report.profile,
        errors=levels["E"],
        warnings=levels["W"],
        infos=levels["I"],
        rows_count=report.row_count,
        all_rows_in_commune=not outside,
        problems=problems,
        problems_count=count + outside,
    )


def _wrong_commune(line: int, found: str | None, expected: str) -> dict[str, Any]:
    message = (
        f"La ligne est de la commune {found}, la révision de la commune {expected}"
        if found
        else f"La ligne n’indique pas sa commune, la révision est de la commune {expected}"
    )
    return {
        "line": line,
        "column": "commune_insee",
        "value": found,
        "code": WRONG_COMMUNE,
        "level": "E",
        "message": message,
    }


def _ready() -> None:
    """Run in a pool process: unpickling it imported this module, hence the validator."""


class ComputeFailed(Exception):
    """The pool could not validate the file (a worker died or the time limit passed)."""


class ComputePool:
    """A lazily started pool of `spawn`ed processes (forking a threaded server is unsafe)."""

    def __init__(
        self, workers: int | None = None, *, timeout: float = 600.0, renew_after: int = 20
    ) -> None:
        self.workers = workers or max(1, min(4, (os.cpu_count() or 2) // 2))
        self.timeout = timeout
        self.renew_after = renew_after
        self.renewals = 0  # executors replaced so far (read by tests and logs)
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._submitted = 0
        self._lock = threading.Lock()
        self._atexit = False

    def _get(self) -> concurrent.futures.ProcessPoolExecutor:
        """The executor for one more task. After `renew_after` tasks, the next one gets a new
        executor and the old one is shut down without waiting: its processes finish what they
        have and exit, giving back the memory a huge file made them keep. (Not the executor's
        own `max_tasks_per_child`: on Python 3.11 an executor deadlocks when a process reaches
        that limit while tasks are queued, CPython gh-115634, and every compute hangs.)"""
        retired = None
        with self._lock:
            if self._executor is not None and self._submitted >= self.renew_after:
                retired, self._executor = self._executor, None
                self.renewals += 1
            if self._executor is None:
                self._executor = self._new_executor()
                self._submitted = 0
            self._submitted += 1
            executor = self._executor
        if retired is not None:
            retired.shutdown(wait=False)  # queued and running tasks still complete
        return executor

    def _new_executor(self) -> concurrent.futures.ProcessPoolExecutor:
        executor = concurrent.futures.ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            # a SIGKILL of the server must not leave its pool running forever
            initializer=lifetime.die_with_parent,
            initargs=(os.getpid(),),
        )
        if not self._atexit:
            # before the interpreter tears modules down (else a noisy traceback)
            atexit.register(self.shutdown)
            self._atexit = True
        return executor

    def _reset(self, executor: concurrent.futures.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is executor:
                self._executor = None
        for process in list(getattr(executor, "_processes", {}).values()):
            process.kill()
        executor.shutdown(wait=False, cancel_futures=True)

    def warm(self) -> None:
        """Start the processes now, in the background: the first compute then pays neither the
        spawn nor the validator's imports (about a second on these machines)."""
        with self._lock:
            if self._executor is None:
                self._executor = self._new_executor()
            executor = self._executor
        for _ in range(self.workers):
            executor.submit(_ready)

    async def check(self, data: bytes, code_commune: str, ban: BanApi | None = None) -> FileCheck:
        try:
            return await self.run(check_file, data, code_commune, today(), ban)
        except ComputeFailed:
            raise
        except Exception as exc:  # the validator raised: a bug, logged with its traceback
            raise ComputeFailed(f"validator error: {type(exc).__name__}") from exc

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in a pool process (both picklable). A dead process or the time
        limit: `ComputeFailed` (the pool is renewed); what `function` raises is raised here."""
        executor = self._get()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(executor, function, *args)
        try:
            return await asyncio.wait_for(future, self.timeout)
        except (concurrent.futures.process.BrokenProcessPool, TimeoutError) as exc:
            self._reset(executor)
            raise ComputeFailed(type(exc).__name__) from exc

    def shutdown(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


# One pool per process, shared by every app instance (tests build many apps).
pool = ComputePool()
