"""Checks `guichet serve` runs before it starts anything (database, SeaweedFS, migrations,
workers): each failure is one plain line on stderr and exit code 2.

`guichet.runtime.cli.main` runs them on the raw command line before importing the server stack
(FastAPI, SQLAlchemy, the fronts: seconds on a busy machine), so that a second `make run` on a
busy port fails at once; `serve` runs them again (cheap) for any other way in. This module
imports nothing heavier than the settings.
"""

from __future__ import annotations

import fcntl
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from guichet.core.config import Settings

EXIT_CODE = 2
# The embedded PostgreSQL's owner holds this lock for as long as a `serve` runs on the home.
_HOME_LOCK = Path("postgres") / "lock"


class PreflightError(Exception):
    """One plain line telling what is wrong and what to do."""


def check(settings: Settings) -> None:
    """Raise `PreflightError` if `serve` cannot start with these settings."""
    _check_port(settings)
    _check_home_writable(settings.home)


def check_or_exit(settings: Settings) -> None:
    try:
        check(settings)
    except PreflightError as error:
        print(f"guichet serve: {error}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_CODE) from None


def check_command_line(args: Sequence[str]) -> None:
    """`guichet serve ARGS`: the checks, with `--host`/`--port` read from `args`. Anything this
    cannot read (a malformed option, `--help`, invalid settings) is left to the full command,
    which reports it in its own way."""
    if any(arg in ("--help", "-h") for arg in args):
        return
    try:
        overrides = _address_options(args)
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except Exception:  # typer / pydantic say it better, with the whole command loaded
        return
    check_or_exit(settings)


def _address_options(args: Sequence[str]) -> dict[str, object]:
    found: dict[str, object] = {}
    items = list(args)
    for index, arg in enumerate(items):
        for name in ("host", "port"):
            flag = f"--{name}"
            if arg == flag and index + 1 < len(items):
                found[name] = items[index + 1]
            elif arg.startswith(flag + "="):
                found[name] = arg.partition("=")[2]
    if "port" in found:
        found["port"] = int(str(found["port"]))
    return found


# --- the checks -------------------------------------------------------------------------------


def _check_port(settings: Settings) -> None:
    if settings.port == 0 or _bindable(settings.host, settings.port):
        return
    where = f"{settings.host}:{settings.port}"
    if serve_running(settings.home):
        raise PreflightError(
            f"{where} is already in use by the Guichet running on this home "
            f"({settings.home}): it is up already; to run a second one, give it another "
            f"GUICHET_HOME and --port (or GUICHET_PORT)"
        )
    raise PreflightError(
        f"{where} is already in use by another program: stop it, or choose another port "
        f"with --port or GUICHET_PORT"
    )


def _bindable(host: str, port: int) -> bool:
    """Whether uvicorn could listen there now (it sets SO_REUSEADDR too: a port whose last
    connections linger in TIME_WAIT after a restart counts as free)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return True  # an unknown host is uvicorn's error to report, with its own words
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError:
            return False
    return True


def serve_running(home: Path) -> bool:
    """Whether a `serve` (or a command that started the embedded database) runs on `home`:
    its owner holds the lock exclusively; a shared try fails then, and is released at once."""
    path = home / _HOME_LOCK
    try:
        lock = path.open("rb")
    except OSError:
        return False
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
    return False


def _check_home_writable(home: Path) -> None:
    """The home, or the directory it will be created in, accepts a new file."""
    target = home
    while not target.exists():
        if target.parent == target:
            break
        target = target.parent
    if not target.is_dir():
        raise PreflightError(
            f"the data directory {home} cannot be created: {target} is not a directory "
            f"(set GUICHET_HOME to a writable directory)"
        )
    try:
        with tempfile.TemporaryFile(dir=target, prefix=".guichet-preflight-"):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise PreflightError(
            f"the data directory {home} is not writable ({target}: {reason}); set "
            f"GUICHET_HOME to a writable directory"
        ) from None
