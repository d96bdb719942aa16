"""`guichet depot …`: administration of the publication API from a shell (declared by
`guichet.depot.front`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.errors import GuichetError
from guichet.core.fronts import CommandRunner
from guichet.depot import parties, revalidation, views
from guichet.depot.deps import load
from guichet.depot.models import Client
from guichet.depot.revalidation_models import Revalidation, RevalidationStatus

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[T]]


def register(app: typer.Typer, run: CommandRunner) -> None:
    global _runner
    _runner = run
    depot = typer.Typer(
        help="BAL publication API: clients and their tokens, re-validation.", no_args_is_help=True
    )
    depot.command("clients")(list_clients)
    depot.command("renew-token")(renew_token)
    depot.command("revalidate")(revalidate)
    depot.command("revalidation")(show_revalidation)
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


# --- re-validation ----------------------------------------------------------------------------


def revalidate(
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the progress until the run is done.")
    ] = False,
) -> None:
    """Re-validate every current revision with this version of the validator: one job per
    revision, run by the workers (`guichet serve`, `guichet worker`) of every machine. Run
    again, it resumes the run of this validator version: no revision is validated twice."""

    async def work(session: AsyncSession) -> tuple[revalidation.Started, dict[str, int]]:
        started = await revalidation.start(session)
        return started, await revalidation.counts(session, started.run.id)

    started, found = _run(work)
    run = started.run
    verb = "resumed" if started.resumed else "started"
    typer.echo(
        f"re-validation {run.id} (validator {run.validator_version}) {verb}: "
        f"{run.revisions} revision(s), {started.added} added now, "
        f"{found['done'] + found['failed']} already checked, {started.deferred} job(s) queued"
    )
    if wait:
        _follow(run.id)
    else:
        typer.echo(f"progress and report: guichet depot revalidation {run.id}")


def _follow(run_id: str) -> None:
    """Print the progress every few seconds until the run is done, then its report."""
    last = None
    while True:
        view = _run(lambda session: _view(session, run_id))
        line = _progress(view)
        if line != last:
            typer.echo(line)
            last = line
        if view["status"] == RevalidationStatus.DONE:
            break
        time.sleep(FOLLOW_INTERVAL)
    show_revalidation(run_id)


FOLLOW_INTERVAL = 2.0


async def _view(session: AsyncSession, run_id: str) -> dict[str, Any]:
    run = await revalidation.get(session, run_id)
    return revalidation.view(run, await revalidation.counts(session, run.id))


def _progress(view: dict[str, Any]) -> str:
    checks = view["checks"]
    return (
        f"{view['status']}: {checks['done']} done, {checks['failed']} failed, "
        f"{checks['pending']} pending; {view['changed']} changed verdict(s) "
        f"({view['becameInvalid']} now invalid, {view['becameValid']} now valid)"
    )


def show_revalidation(
    revalidation_id: Annotated[
        str | None, typer.Argument(help="Run id (default: the latest run).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Communes listed at most.", min=0)] = 50,
) -> None:
    """A re-validation's progress and the communes whose verdict changed."""

    async def work(session: AsyncSession) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
        run = await _chosen_run(session, revalidation_id)
        view = revalidation.view(run, await revalidation.counts(session, run.id))
        checks, total = await revalidation.report_page(session, run.id, offset=0, limit=limit)
        return view, [revalidation.check_view(check) for check in checks], total

    view, report, total = _run(work)
    typer.echo(f"re-validation {view['id']} (validator {view['validatorVersion']})")
    typer.echo(_progress(view))
    for item in report:
        typer.echo(_report_line(item))
    if total > len(report):
        typer.echo(f"… {total - len(report)} more (GET /admin/revalidations/{view['id']})")


async def _chosen_run(session: AsyncSession, run_id: str | None) -> Revalidation:
    if run_id is not None:
        return await revalidation.get(session, run_id)
    run = await revalidation.latest(session)
    if run is None:
        raise revalidation.RevalidationNotFound("(none yet)")
    return run


def _report_line(item: dict[str, Any]) -> str:
    if item["status"] == "failed":
        return f"{item['codeCommune']}  failed: {item['error']}"
    changes = item["changes"] or {}
    verdict = (
        "valid → invalid" if changes.get("becameInvalid")
        else "invalid → valid" if changes.get("becameValid")
        else "valid" if (item["after"] or {}).get("valid") else "invalid"
    )  # fmt: skip
    parts = [verdict]
    for key, label in (
        ("newErrors", "new errors"), ("resolvedErrors", "resolved errors"),
        ("newWarnings", "new warnings"), ("resolvedWarnings", "resolved warnings"),
    ):  # fmt: skip
        if changes.get(key):
            parts.append(f"{label}: {', '.join(changes[key])}")
    return f"{item['codeCommune']}  " + "; ".join(parts)
