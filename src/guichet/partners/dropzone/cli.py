"""`guichet dropzone …`: provision, rotate and revoke partner keys; sweep; list a partner's files.

Declared by `guichet.partners.front`. Uses the configured database and drop zone; in the
embedded default it attaches to the PostgreSQL and SeaweedFS of a running `guichet serve` (or
starts them for the command). Secrets are printed once, on stdout only, and never logged.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.config import Settings
from guichet.core.errors import GuichetError
from guichet.core.fronts import CommandRunner
from guichet.partners import registry as partners
from guichet.partners.dropzone import backends, provisioning, tasks
from guichet.partners.dropzone.router import BucketRead, ObjectRead

T = TypeVar("T")

app = typer.Typer(
    help="Partner S3 drop zone: buckets, write-only keys, files.", no_args_is_help=True
)

PartnerArg = Annotated[str, typer.Argument(help="The partner id (`inigPtynm`).")]


def register(root: typer.Typer, run: CommandRunner) -> None:
    global _runner
    _runner = run
    root.add_typer(app, name="dropzone")


# The runtime's runner, given at registration (typer commands take only their own arguments).
_runner: CommandRunner | None = None


def _run(action: Callable[[AsyncSession, Settings], Awaitable[T]]) -> T:
    assert _runner is not None, "register() was not called"
    try:
        return _runner(action, drop_zone=True)
    except GuichetError as error:
        typer.echo(f"error: {error.message} {error.details or ''}", err=True)
        raise typer.Exit(1) from None


def _print(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _credentials(provisioned: provisioning.Provisioned) -> dict[str, Any]:
    return {
        "bucket": provisioned.bucket.bucket,
        "region": provisioned.region,
        "endpoint_url": provisioned.endpoint_url,
        "AWS_ACCESS_KEY_ID": provisioned.credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": provisioned.credentials.secret_access_key,
    }


@app.command()
def provision(partner_id: PartnerArg) -> None:
    """Create the partner's bucket and a write-only key (printed once)."""

    async def action(session: AsyncSession, settings: Settings) -> dict[str, Any]:
        partner = await partners.get(session, partner_id)
        done = await provisioning.provision(session, backends.current(), settings.dropzone, partner)
        return _credentials(done)

    _print(_run(action))


@app.command()
def rotate(partner_id: PartnerArg) -> None:
    """Issue a new key (printed once); the previous one stops working."""

    async def action(session: AsyncSession, settings: Settings) -> dict[str, Any]:
        partner = await partners.get(session, partner_id)
        done = await provisioning.rotate(session, backends.current(), settings.dropzone, partner)
        return _credentials(done)

    _print(_run(action))


@app.command()
def revoke(partner_id: PartnerArg) -> None:
    """Revoke the partner's key (bucket and files are kept)."""

    async def action(session: AsyncSession, settings: Settings) -> dict[str, Any]:
        partner = await partners.get(session, partner_id)
        row = await provisioning.revoke(session, backends.current(), partner)
        return BucketRead.model_validate(row).model_dump(mode="json")

    _print(_run(action))


@app.command()
def status(partner_id: PartnerArg) -> None:
    """The partner's bucket and key id."""

    async def action(session: AsyncSession, settings: Settings) -> dict[str, Any]:
        partner = await partners.get(session, partner_id)
        row = await provisioning.get_bucket(session, partner)
        return BucketRead.model_validate(row).model_dump(mode="json")

    _print(_run(action))


@app.command()
def files(
    partner_id: PartnerArg,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """The partner's dropped files and their processing status (reports left out)."""

    async def action(session: AsyncSession, settings: Settings) -> list[dict[str, Any]]:
        partner = await partners.get(session, partner_id)
        rows, _ = await provisioning.list_objects(session, partner, limit=limit)
        return [
            ObjectRead.model_validate(row).model_dump(mode="json", exclude={"report"})
            for row in rows
        ]

    _print(_run(action))


@app.command()
def sweep() -> None:
    """List every partner bucket into the ledger now (jobs run in the workers)."""

    async def action(session: AsyncSession, settings: Settings) -> dict[str, int]:
        return await tasks.sweep()

    _print(_run(action))
