"""The ``guichet`` command: server commands, ``bal`` and ``loader`` tools, admin commands."""

from __future__ import annotations

import sys

import typer

from guichet.bal._cli import app as bal_app

# Validators are run on big files from scripts and CI jobs: their start-up must not pay for the
# server stack (FastAPI, SQLAlchemy, Alembic, uvicorn: ~1 s of imports).
_LIGHT_COMMANDS = frozenset({"bal", "loader"})


def build_app(*, with_server: bool = True) -> typer.Typer:
    app = typer.Typer(help="Guichet — deposit gateway.", no_args_is_help=True)
    app.add_typer(bal_app, name="bal")
    try:
        from guichet.loader._cli import app as loader_app
    except ImportError:  # pragma: no cover - only while the loader package is being written
        pass
    else:
        app.add_typer(loader_app, name="loader")
    if with_server:
        from guichet.depot.cli import register as register_depot
        from guichet.loaders.cli import register as register_loaders
        from guichet.server_cli import register

        register(app)
        register_depot(app)
        register_loaders(app)
    return app


def main() -> None:
    light = len(sys.argv) > 1 and sys.argv[1] in _LIGHT_COMMANDS
    build_app(with_server=not light)()
