"""Revisions: create, attach a file, the commune's lock, and the public reads (the workflow and
its rules: `publication`).

Services flush and never commit: the request (or the caller's `transaction()`) owns the
transaction. Everything that changes which revision is current happens in one transaction,
under a per-commune advisory lock, and the partial unique index
`depot_revision_one_current_key` guarantees at most one current revision per commune whatever
happens (several API processes, several machines, a crash in the middle).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import errors as pg_errors
from sqlalchemy import Row, Select, func, select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from guichet import cog
from guichet.core.storage import StoredBlob
from guichet.depot import errors
from guichet.depot.models import (
    ChefDeFile,
    Client,
    File,
    Mandataire,
    Revision,
    RevisionStatus,
)

# First key of the two-key advisory locks taken by this domain (second key: the commune).
_LOCK_NAMESPACE = 0x0DE9
LOCK_TIMEOUT = "10s"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def utcnow_ms() -> dt.datetime:
    """Now, to the millisecond (what JavaScript dates, hence the wire, carry)."""
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


async def lock_commune(session: AsyncSession, code_commune: str) -> None:
    """Serialize the writers of one commune across processes and machines until commit.

    A writer that waits longer than LOCK_TIMEOUT gets the reference's 412 "publication déjà
    en cours" rather than a stuck request.
    """
    await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    try:
        await session.execute(
            select(func.pg_advisory_xact_lock(_LOCK_NAMESPACE, func.hashtext(code_commune)))
        )
    except DBAPIError as exc:
        if isinstance(exc.orig, pg_errors.LockNotAvailable):
            raise errors.PublicationInProgress() from None
        raise


async def locked(session: AsyncSession, revision_id: str) -> Revision:
    """The revision re-read under a row lock (what another transaction committed is seen)."""
    revision = await session.scalar(
        select(Revision)
        .where(Revision.id == revision_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if revision is None:  # deleted meanwhile (no route deletes revisions)
        raise errors.unknown_id("Revision", revision_id)
    return revision


# --- revisions and their file -------------------------------------------------------------------


async def create_revision(
    session: AsyncSession, *, client: Client, code_commune: str, context: dict[str, Any]
) -> Revision:
    revision = Revision(
        client_id=client.id,
        code_commune=code_commune,
        context=context,
        status=RevisionStatus.PENDING,
        is_ready=False,
        is_current=False,
    )
    session.add(revision)
    await session.flush()
    await session.refresh(revision)
    return revision


async def get_file(session: AsyncSession, revision_id: str) -> File | None:
    found: File | None = await session.scalar(select(File).where(File.revision_id == revision_id))
    return found


async def check_file_can_be_attached(session: AsyncSession, revision: Revision) -> None:
    if revision.status != RevisionStatus.PENDING:
        raise errors.RevisionNotEditable()
    if await get_file(session, revision.id) is not None:
        raise errors.FileAlreadyAttached()


async def attach_file(
    session: AsyncSession, *, revision_id: str, file_id: str, blob: StoredBlob
) -> File:
    """Record a stored blob as the revision's file, if the revision still accepts one."""
    revision = await locked(session, revision_id)
    await check_file_can_be_attached(session, revision)
    item = File(
        id=file_id,
        revision_id=revision.id,
        blob_key=blob.key,
        size=blob.size,
        hash=blob.sha256,
        type="bal",
    )
    session.add(item)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # a concurrent upload won (depot_file_revision_id_key)
        raise errors.FileAlreadyAttached() from None
    await session.refresh(item)
    return item


# --- reading --------------------------------------------------------------------------------


async def current_revision(session: AsyncSession, code_commune: str) -> Revision | None:
    found: Revision | None = await session.scalar(
        select(Revision).where(Revision.code_commune == code_commune, Revision.is_current)
    )
    return found


# What `GET /communes/{code}/current-revision` shows, as plain columns: one Core SELECT (no
# ORM identity map, no eager loads). views.current_revision_row renders it.
CURRENT_REVISION_ROW = (
    select(
        Revision.id,
        Revision.client_id,
        Revision.code_commune,
        Revision.is_ready,
        Revision.is_current,
        Revision.status,
        Revision.context,
        Revision.validation,
        Revision.habilitation,
        Revision.report_key,
        Revision.published_at,
        Revision.created_at,
        Revision.updated_at,
        Client.legacy_id.label("client_legacy_id"),
        Client.nom.label("client_nom"),
        Mandataire.nom.label("mandataire_nom"),
        ChefDeFile.nom.label("chef_nom"),
        ChefDeFile.email.label("chef_email"),
        ChefDeFile.is_email_public.label("chef_email_public"),
        File.id.label("file_id"),
        File.size.label("file_size"),
        File.hash.label("file_hash"),
        File.type.label("file_type"),
        File.created_at.label("file_created_at"),
    )
    .join(Client, Client.id == Revision.client_id)
    .join(Mandataire, Mandataire.id == Client.mandataire_id)
    .outerjoin(ChefDeFile, ChefDeFile.id == Client.chef_de_file_id)
    .outerjoin(File, File.revision_id == Revision.id)
)


async def current_revision_row(connection: AsyncConnection, code_commune: str) -> Row[Any] | None:
    """The current revision of the commune with its client and file, or None."""
    result = await connection.execute(
        CURRENT_REVISION_ROW.where(Revision.code_commune == code_commune, Revision.is_current)
    )
    return result.first()


async def require_current_revision(session: AsyncSession, code_commune: str) -> Revision:
    found = await current_revision(session, code_commune)
    if found is None:
        raise errors.NoCurrentRevision(code_commune)
    return found


def _page(query: Select[Revision], limit: int | None, offset: int) -> Select[Revision]:
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return query


async def revisions_of_commune(
    session: AsyncSession, code_commune: str, status: str, *, limit: int | None, offset: int
) -> Sequence[Revision]:
    query = select(Revision).where(Revision.code_commune == code_commune)
    if status != "all":
        query = query.where(Revision.status == status)
    query = query.order_by(Revision.created_at, Revision.id)
    return (await session.scalars(_page(query, limit, offset))).all()


async def current_revisions(
    session: AsyncSession,
    *,
    published_since: dt.datetime | None,
    codes: list[str] | None,
    limit: int | None,
    offset: int,
) -> list[Revision]:
    query = select(Revision).where(Revision.is_current)
    if published_since is not None:
        query = query.where(Revision.published_at > published_since)
    if codes is not None:
        query = query.where(Revision.code_commune.in_(codes))
    query = query.order_by(Revision.published_at, Revision.id)
    rows = (await session.scalars(query)).all()
    # Former communes are left out (as the reference does), before paging.
    current = [r for r in rows if cog.is_current(r.code_commune)]
    return current[offset : None if limit is None else offset + limit]


async def latest_per_commune(
    session: AsyncSession, *, client_id: str | None, limit: int | None, offset: int
) -> Sequence[Revision]:
    """For each commune, its latest created revision (of one client, or of anyone)."""
    query = select(Revision).ext(distinct_on(Revision.code_commune))
    if client_id is not None:
        query = query.where(Revision.client_id == client_id)
    query = query.order_by(Revision.code_commune, Revision.created_at.desc(), Revision.id.desc())
    return (await session.scalars(_page(query, limit, offset))).all()


async def clients_by_id(session: AsyncSession, ids: Iterable[str]) -> dict[str, Client]:
    wanted = set(ids)
    if not wanted:
        return {}
    found = (await session.scalars(select(Client).where(Client.id.in_(wanted)))).unique()
    return {c.id: c for c in found}
