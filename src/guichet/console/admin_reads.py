"""What the operators' desk reads that no front lists yet, on top of the fronts' own tables and
shapes: habilitations waiting, revisions waiting or refused, runs of every partner, the job
queue's failed and stalled jobs (and their retry, with procrastinate's own SQL function), the
Maildir outbox. Every row is shaped by the fronts' views where one exists."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email import message_from_binary_file, policy
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from guichet.console.paging import Pages
from guichet.depot import habilitations, service, views
from guichet.depot.models import Habilitation, HabilitationStatus, Revision, RevisionStatus
from guichet.partners.models import Partner, Run

JSON = dict[str, Any]
PAGE_SIZE = 20


async def _count(session: AsyncSession, query: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)


# --- publication API ------------------------------------------------------------------------


async def pending_habilitations(session: AsyncSession, pages: Pages) -> list[JSON]:
    """Habilitations waiting for a PIN, ProConnect or an operator, oldest first, each as
    `GET /habilitations/{id}` shows it with its client's name."""
    rows = await session.scalars(
        _pending_habilitations()
        .order_by(Habilitation.created_at, Habilitation.id)
        .offset(pages.offset)
        .limit(pages.size)
    )
    found = list(rows)
    clients = await service.clients_by_id(session, {h.client_id for h in found})
    return [
        {**habilitations.view(h), "client": views.public_client(clients[h.client_id])}
        for h in found
    ]


def _pending_habilitations() -> Any:
    return select(Habilitation).where(Habilitation.status == HabilitationStatus.PENDING)


async def pending_habilitations_count(session: AsyncSession) -> int:
    return await _count(session, _pending_habilitations())


def _waiting_or_refused() -> Any:
    """Revisions not published: waiting for a file or a validation, or refused."""
    return select(Revision).where(
        Revision.status == RevisionStatus.PENDING,
        or_(Revision.validation.is_(None), Revision.validation["valid"].as_boolean().is_(False)),
    )


async def waiting_or_refused_revisions(session: AsyncSession, pages: Pages) -> list[JSON]:
    """Newest first, as `GET /communes/{code}/revisions` lists them."""
    rows = await session.scalars(
        _waiting_or_refused()
        .order_by(Revision.created_at.desc(), Revision.id.desc())
        .offset(pages.offset)
        .limit(pages.size)
    )
    found = list(rows)
    clients = await service.clients_by_id(session, {r.client_id for r in found})
    return [views.revision_in_list(r, clients[r.client_id]) for r in found]


async def waiting_or_refused_count(session: AsyncSession) -> int:
    return await _count(session, _waiting_or_refused())


# --- partner loaders ------------------------------------------------------------------------


async def all_runs(session: AsyncSession, pages: Pages) -> list[tuple[Run, str]]:
    """Runs of every partner, newest first, without their reports: (run, partner id)."""
    rows = await session.execute(
        select(Run, Partner.partner_id)
        .join(Partner, Partner.id == Run.partner_id)
        .options(defer(Run.report))
        .order_by(Run.received_at.desc(), Run.id)
        .offset(pages.offset)
        .limit(pages.size)
    )
    return [(run, partner_id) for run, partner_id in rows.all()]


async def runs_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Run)) or 0)


# --- the job queue --------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    id: int
    queue: str
    task: str
    status: str
    attempts: int
    args: JSON
    scheduled_at: dt.datetime | None
    stalled: bool


# `doing` jobs whose worker is gone or silent for the stalled timeout: the worker's own
# recovery sends them back to `todo`; an operator may do it sooner.
_TROUBLED = """
    FROM procrastinate_jobs j
    LEFT JOIN procrastinate_workers w ON w.id = j.worker_id
   WHERE j.status = 'failed'
      OR (j.status = 'doing'
          AND (w.id IS NULL OR w.last_heartbeat < now() - make_interval(secs => :stalled)))
"""


async def troubled_jobs(session: AsyncSession, pages: Pages, stalled_timeout: float) -> list[Job]:
    rows = await session.execute(
        text(
            "SELECT j.id, j.queue_name, j.task_name, j.status::text AS status, j.attempts,"
            " j.args, j.scheduled_at" + _TROUBLED + " ORDER BY j.id DESC OFFSET :o LIMIT :l"
        ),
        {"stalled": stalled_timeout, "o": pages.offset, "l": pages.size},
    )
    return [
        Job(
            r.id,
            r.queue_name,
            r.task_name,
            r.status,
            r.attempts,
            r.args,
            r.scheduled_at,
            stalled=r.status == "doing",
        )
        for r in rows
    ]


async def troubled_count(session: AsyncSession, stalled_timeout: float) -> int:
    found = await session.scalar(text("SELECT count(*)" + _TROUBLED), {"stalled": stalled_timeout})
    return int(found or 0)


async def retry_job(session: AsyncSession, job_id: int, stalled_timeout: float) -> bool:
    """Back to `todo` now, through procrastinate's own function (failed or doing jobs); False
    when the job is neither failed nor stalled any more."""
    job = await session.execute(
        text("SELECT j.id, j.priority, j.queue_name, j.lock" + _TROUBLED + " AND j.id = :id"),
        {"stalled": stalled_timeout, "id": job_id},
    )
    row = job.first()
    if row is None:
        return False
    await session.execute(
        text("SELECT procrastinate_retry_job_v2(:id, now(), :priority, :queue, :lock)"),
        {"id": row.id, "priority": row.priority, "queue": row.queue_name, "lock": row.lock},
    )
    return True


# --- the outbox -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    date: dt.datetime | None
    sender: str
    to: str
    subject: str


def outbox(directory: Path, pages: Pages) -> list[Mail]:
    """A page of the Maildir outbox, newest first (headers only)."""
    paths = outbox_files(directory)
    shown = paths[pages.offset : pages.offset + pages.size]
    return [_mail(path) for path in shown]


def outbox_files(directory: Path) -> list[Path]:
    files = [p for sub in ("new", "cur") for p in (directory / sub).glob("*") if p.is_file()]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)


def _mail(path: Path) -> Mail:
    with path.open("rb") as file:
        message = message_from_binary_file(file, policy=policy.default)  # headers decoded
    try:
        date = parsedate_to_datetime(str(message["Date"])) if message["Date"] else None
    except (TypeError, ValueError):
        date = None
    return Mail(
        date=date,
        sender=str(message["From"] or ""),
        to=str(message["To"] or ""),
        subject=str(message["Subject"] or ""),
    )
