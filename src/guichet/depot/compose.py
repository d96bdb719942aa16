"""Telling the national base (BAN) that a commune's BAL changed: `POST {url}/ban/communes/{code}/
compose` with `Authorization: Token <token>`, as the reference does on every publish; the BAN
then reads `GET /communes/{code}/current-revision` and downloads the file.

The reference fires the call and forgets it: a compose lost to a BAN outage is never sent again
and the BAL goes missing downstream until someone notices. Here each compose is a retried job,
and the national base's acknowledgement (a 2xx) is recorded per commune (`BanCompose`): the
periodic reconciliation (`missed`) finds every current revision the BAN has not acknowledged
and composes it again. Compose jobs carry no queueing lock (procrastinate cannot retry a job
whose lock a waiting twin took): the reconciliation skips a commune whose compose job waits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import Text, cast, column, exists, literal, or_, select, table
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core import services
from guichet.core.config import NotificationSettings
from guichet.core.logging import get_logger
from guichet.depot import service
from guichet.depot.models import Revision
from guichet.depot.webhooks_models import BanCompose

log = get_logger(__name__)


COMPOSE_TASK = "depot:compose_commune"  # its job rows' name (see guichet.depot.tasks)


class ComposeFailed(Exception):
    """The BAN did not answer, timed out or answered 5xx: worth another attempt."""


def compose_url(settings: NotificationSettings, code_commune: str) -> str | None:
    if settings.ban_compose_url is None:
        return None
    return f"{settings.ban_compose_url.rstrip('/')}/ban/communes/{code_commune}/compose"


async def send(code_commune: str) -> bool:
    """Compose the commune's current revision unless the BAN acknowledged it already; True
    when acknowledged now. Raises `ComposeFailed` when worth retrying; a 4xx is logged and
    left to the reconciliation (a wrong token is fixed by configuration, not by retrying)."""
    settings = services.current().settings.notifications
    url = compose_url(settings, code_commune)
    if url is None:
        return False
    async with services.transaction() as session:
        current = await service.current_revision(session, code_commune)
        acknowledged = await session.get(BanCompose, code_commune)
        if current is None or (acknowledged and acknowledged.revision_id == current.id):
            return False
        revision_id = current.id
    headers = {}
    if settings.ban_token is not None:
        headers["Authorization"] = f"Token {settings.ban_token.get_secret_value()}"
    try:
        async with httpx.AsyncClient(timeout=settings.timeout, trust_env=False) as http:
            response = await http.post(url, headers=headers)
    except httpx.HTTPError as exc:
        log.warning("depot.ban_compose_failed", code_commune=code_commune, error=type(exc).__name__)
        raise ComposeFailed(type(exc).__name__) from None
    if response.status_code >= 500:
        log.warning("depot.ban_compose_failed", code_commune=code_commune,
                    status_code=response.status_code)  # fmt: skip
        raise ComposeFailed(f"HTTP {response.status_code}")
    if not response.is_success:
        log.error("depot.ban_compose_refused", code_commune=code_commune,
                  status_code=response.status_code)  # fmt: skip
        return False
    async with services.transaction() as session:
        await acknowledge(session, code_commune, revision_id)
    log.info("depot.ban_composed", code_commune=code_commune, revision_id=revision_id)
    return True


async def acknowledge(session: AsyncSession, code_commune: str, revision_id: str) -> None:
    statement = insert(BanCompose).values(code_commune=code_commune, revision_id=revision_id)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[BanCompose.code_commune],
            set_={"revision_id": revision_id, "composed_at": statement.excluded.composed_at},
        )
    )


def _compose_waiting() -> Any:
    """A compose job of the commune waits or runs already (a retrying one included): it will
    send the current revision, another one would only double the calls."""
    return exists(
        select(literal(1))
        .select_from(
            table(
                "procrastinate_jobs", column("task_name"), column("status"), column("args", JSONB)
            )
        )
        .where(
            column("task_name") == COMPOSE_TASK,
            cast(column("status"), Text).in_(["todo", "doing"]),
            column("args", JSONB)["code_commune"].astext == Revision.code_commune,
        )
    )


async def missed(session: AsyncSession, *, grace: float, limit: int) -> list[str]:
    """Communes whose current revision, published more than `grace` seconds ago, the BAN has
    not acknowledged (oldest first: a backlog is worked through in publication order)."""
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=grace)
    query = (
        select(Revision.code_commune)
        .outerjoin(BanCompose, BanCompose.code_commune == Revision.code_commune)
        .where(
            Revision.is_current.is_(True),
            Revision.published_at < before,
            or_(BanCompose.revision_id.is_(None), BanCompose.revision_id != Revision.id),
            ~_compose_waiting(),
        )
        .order_by(Revision.published_at)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())
