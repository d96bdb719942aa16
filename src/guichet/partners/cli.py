"""`guichet loaders …`: partner administration from the command line (same services as the API).

Declared by `guichet.partners.front`. Uses GUICHET_DATABASE_URL, or the embedded
PostgreSQL of GUICHET_HOME (attached if `guichet serve` runs, started for the command otherwise).
API keys are printed once, on stdout only, and never logged.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.errors import GuichetError
from guichet.core.fronts import CommandRunner
from guichet.partners import registry as partners
from guichet.partners.schemas import PartnerCreate, PartnerRead, PartnerUpdate

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

app = typer.Typer(help="Partner loaders: partners and their API keys.", no_args_is_help=True)

PartnerArg = Annotated[str, typer.Argument(help="The partner id (`inigPtynm`).")]
EmailsOption = Annotated[
    list[str] | None, typer.Option("--email", help="Contact e-mail (repeat for several).")
]


def register(root: typer.Typer, run: CommandRunner) -> None:
    global _runner
    _runner = run
    root.add_typer(app, name="loaders")


# The runtime's runner, given at registration (typer commands take only their own arguments).
_runner: CommandRunner | None = None


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction; domain errors become a message and exit 1."""
    assert _runner is not None, "register() was not called"
    try:
        return _runner(lambda session, _: work(session))
    except GuichetError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None


def _valid(schema: type[M], **values: Any) -> M:
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            typer.echo(f"error: {where}: {error['msg']}", err=True)
        raise typer.Exit(2) from None


def _show(partner: Any, **extra: str) -> None:
    data = PartnerRead.model_validate(partner).model_dump(mode="json")
    typer.echo(json.dumps({**data, **extra}, indent=2, ensure_ascii=False))


@app.command("create-partner")
def create_partner(
    partner_id: PartnerArg,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    email: EmailsOption = None,
) -> None:
    """Create a partner and print its API key (shown this once)."""

    body = _valid(PartnerCreate, partner_id=partner_id, name=name, contact_emails=email or [])

    async def work(session: AsyncSession) -> None:
        partner, key = await partners.create(
            session, partner_id=body.partner_id, name=body.name, contact_emails=body.contact_emails
        )
        _show(partner, api_key=key)

    _run(work)


@app.command("list-partners")
def list_partners() -> None:
    """List every partner (no keys: only their last 4 characters)."""

    async def work(session: AsyncSession) -> None:
        found, _ = await partners.list_partners(session, limit=10_000)
        for partner in found:
            state = "active" if partner.is_active else "inactive"
            emails = ",".join(partner.contact_emails)
            typer.echo(f"{partner.partner_id}\t{state}\t…{partner.key_hint}\t{emails}")

    _run(work)


@app.command("rotate-key")
def rotate_key(partner_id: PartnerArg) -> None:
    """Issue a new API key (printed once); the previous one stops working at once."""

    async def work(session: AsyncSession) -> None:
        partner = await partners.get(session, partner_id)
        key = await partners.rotate_key(session, partner)
        _show(partner, api_key=key)

    _run(work)


def _set(partner_id: str, **changes: Any) -> None:
    async def work(session: AsyncSession) -> None:
        partner = await partners.get(session, partner_id)
        _show(await partners.update(session, partner, **changes))

    _run(work)


@app.command("set-contacts")
def set_contacts(partner_id: PartnerArg, email: EmailsOption = None) -> None:
    """Replace the partner's contact e-mails."""
    body = _valid(PartnerUpdate, contact_emails=email or [])
    _set(partner_id, contact_emails=body.contact_emails)


@app.command("deactivate")
def deactivate(partner_id: PartnerArg) -> None:
    """Refuse the partner's files from now on (401), keeping its data."""
    _set(partner_id, is_active=False)


@app.command("activate")
def activate(partner_id: PartnerArg) -> None:
    """Accept the partner's files again."""
    _set(partner_id, is_active=True)
