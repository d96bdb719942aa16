"""`guichet depot …`: administration of the publication API from a shell (declared by
`guichet.depot.front`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.errors import GuichetError
from guichet.core.fronts import CommandRunner
from guichet.depot import parties, views
from guichet.depot.deps import load
from guichet.depot.models import Client

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[T]]


def register(app: typer.Typer, run: CommandRunner) -> None:
    global _runner
    _runner = run
    depot = typer.Typer(help="BAL publication API: clients and their tokens.", no_args_is_help=True)
    depot.command("clients")(list_clients)
    depot.command("renew-token")(renew_token)
    app.add_typer(depot, name="depot")


# The runtime's runner, given at registration (typer commands take only their own arguments).
_runner: CommandRunner | None = None


def _run(work: Work[T]) -> T:
    assert _runner is not None, "register() was not called"
    try:
        return _runner(lambda session, _: work(session))
    except GuichetError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None


def list_clients() -> None:
    """List the clients (never their tokens: only hashes are stored)."""

    async def work(session: AsyncSession) -> list[Client]:
        return list(await parties.list_clients(session))

    for client in _run(work):
        item = views.client(client)
        typer.echo(
            f"{item['id']}  {item['authorizationStrategy']:<13} "
            f"{'active' if item['isActive'] else 'inactive':<8} {item['nom']}"
        )


def renew_token(client_id: Annotated[str, typer.Argument(help="Client id (24 hex).")]) -> None:
    """Issue a new token for a client (the old one stops working) and print it once."""

    async def work(session: AsyncSession) -> str:
        client = await load(session, Client, "Client", client_id)
        return await parties.renew_token(session, client)

    typer.echo(_run(work))
