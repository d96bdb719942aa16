"""The ``guichet`` command: server commands, ``bal`` and ``loader`` tools, admin commands."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import typer

# Validators are run on big files from scripts and CI jobs: their start-up must not pay for the
# server stack (FastAPI, SQLAlchemy, Alembic, uvicorn: ~1 s of imports).
_LIGHT_COMMANDS = frozenset({"bal", "loader"})


def build_app(*, only: str | None = None) -> typer.Typer:
    """The whole command tree, or only the ``bal`` or ``loader`` tool (fast start-up)."""
    import typer  # here: the fast paths of `main` (`bal validate`, serve's preflight) skip it

    app = typer.Typer(help="Guichet — deposit gateway.", no_args_is_help=True)
    if only in (None, "bal"):
        from guichet.bal._cli import app as bal_app

        app.add_typer(bal_app, name="bal")
    if only in (None, "loader"):
        from guichet.loader._cli import app as loader_app

        app.add_typer(loader_app, name="loader")
    if only is None:
        from guichet.runtime.commands import register

        register(app)  # the server's commands, then each front's
    return app


def main() -> None:
    # numpy's OpenBLAS starts a thread per core at import, which spins for a while: ~0.1 s of
    # a second core per command, and nothing here multiplies matrices
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        _main()
    except BrokenPipeError:  # the reader left early (`guichet bal diff A B --json | head`)
        _leave_quietly()


def _leave_quietly() -> NoReturn:
    """Exit as click does on a closed pipe (status 1), without a traceback, nor a second
    error when Python flushes the standard output at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(1)


def _main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else None
    if command == "bal" and sys.argv[2:3] == ["diff"]:  # nor the validator's modules
        from guichet.bal._diff_cli import run_fast_diff

        run_fast_diff(sys.argv[3:])
    if command == "bal":  # a plain `bal validate` skips typer's parsing (~80 ms), else returns
        from guichet.bal._cli import run_fast

        run_fast(sys.argv[2:])
    if command == "serve":
        # Before the server stack is imported (seconds on a busy machine): a second `make run`
        # on a busy port says so at once, having started nothing.
        from guichet.runtime.preflight import check_command_line

        check_command_line(sys.argv[2:])
    build_app(only=command if command in _LIGHT_COMMANDS else None)()
