"""The ``guichet`` command: server commands, ``bal`` and ``loader`` tools, admin commands."""

from __future__ import annotations

import typer

from guichet.bal._cli import app as bal_app

app = typer.Typer(help="Guichet — deposit gateway.", no_args_is_help=True)
app.add_typer(bal_app, name="bal")

try:  # the server commands live with the server; the validators work without them
    from guichet.server_cli import register
except ImportError:  # pragma: no cover - only while the server module is absent
    pass
else:
    register(app)


def main() -> None:
    app()
