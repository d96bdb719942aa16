"""Public reading routes (§2.4 #6–13). Long lists take optional `limit` / `offset`; without
them the answer is the reference's (the whole list)."""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from guichet import cog
from guichet.core.db import Session
from guichet.core.errors import route_class
from guichet.core.storage import BlobNotFound, BlobReader, Blobs
from guichet.depot import errors, service, views
from guichet.depot.cache import ResponseCache
from guichet.depot.deps import ClientParam, Commune, RevisionParam, get_commune
from guichet.depot.models import File, Revision

router = APIRouter(route_class=route_class(errors.NEST_FORMAT), tags=["revisions"])

Limit = Annotated[int | None, Query(ge=1, le=100_000, description="Page size (default: all)")]
# Bounded by PostgreSQL's bigint: a larger offset is a 400, not a database error (500).
Offset = Annotated[int, Query(ge=0, le=2**63 - 1, description="Items skipped")]


def parse_js_date(value: str) -> dt.datetime:
    """What `new Date(value)` accepts in practice: ISO 8601 (UTC when no zone) or RFC 2822."""
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise errors.PipeError("Invalid date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _codes(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    codes = [code for value in values for code in value.split(",") if code]
    for code in codes:
        if not cog.is_known(code):
            raise errors.PipeError(f"Code commune {code} invalide")
    return codes


@router.get("/current-revisions")
async def current_revisions(
    session: Session,
    published_since: Annotated[str | None, Query(alias="publishedSince")] = None,
    codes_communes: Annotated[list[str] | None, Query(alias="codesCommunes")] = None,
    limit: Limit = None,
    offset: Offset = 0,
) -> JSONResponse:
    """The current revision of every (current) commune: the changes feed of the BAN."""
    since = parse_js_date(published_since) if published_since else None
    revisions = await service.current_revisions(
        session, published_since=since, codes=_codes(codes_communes), limit=limit, offset=offset
    )
    clients = await service.clients_by_id(session, (r.client_id for r in revisions))
    return JSONResponse([views.current_revision_item(r, clients[r.client_id]) for r in revisions])


@router.get("/communes/{code_commune}/current-revision")
async def current_revision(
    request: Request,
    code_commune: str,
    ancienne_commune_allowed: Annotated[str | None, Query(alias="ancienneCommuneAllowed")] = None,
) -> Response:
    """The current revision of the commune, with its client and file (§2.5).

    The hottest route (the BAN polls it): served from the process's cache (see
    `guichet.depot.cache`), else read with one SELECT outside any write transaction.
    """
    code = get_commune(code_commune, ancienne_commune_allowed)
    response_cache: ResponseCache | None = getattr(request.app.state, "depot_cache", None)
    if response_cache is None:
        body = await _read_current(request, code)
    else:
        # Keyed by the (checked) commune code only: nothing the client chose, so a bounded set.
        body = await response_cache.get_or_load(code, lambda: _read_current(request, code))
    if body is None:
        raise errors.NoCurrentRevision(code)
    return Response(body, media_type="application/json")


async def _read_current(request: Request, code: str) -> bytes | None:
    """The rendered body, or None without a current revision."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    bind = maker.kw.get("bind")
    if isinstance(bind, AsyncEngine):
        # A lone SELECT in autocommit: no BEGIN / COMMIT round trips.
        async with bind.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            row = await service.current_revision_row(connection, code)
    else:  # bound to a connection (tests): read through it, in its transaction
        async with maker() as session:
            row = await service.current_revision_row(await session.connection(), code)
    if row is None:
        return None
    url = views.report_link(request, row.id) if row.report_key is not None else None
    # Rendered exactly as JSONResponse renders (the same bytes as every other route).
    return bytes(JSONResponse(views.current_revision_row(row, report_url=url)).body)


async def _with_client(request: Request, session: Session, revision: Revision) -> views.JSON:
    clients = await service.clients_by_id(session, [revision.client_id])
    bal_file = await service.get_file(session, revision.id)
    return views.revision_with_client(
        revision,
        clients[revision.client_id],
        bal_file,
        report_url=views.report_url(request, revision),
    )


@router.get("/communes/{code_commune}/revisions")
async def commune_revisions(
    request: Request,
    code_commune: Commune,
    session: Session,
    status: str | None = None,
    limit: Limit = None,
    offset: Offset = 0,
) -> JSONResponse:
    """The commune's revisions in creation order: `status` = published (default), pending, all."""
    status = status or "published"
    if status not in ("published", "pending", "all"):
        raise errors.QueryInvalid(
            "status must be one of the following values: published, pending, all"
        )
    revisions = await service.revisions_of_commune(
        session, code_commune, status, limit=limit, offset=offset
    )
    clients = await service.clients_by_id(session, (r.client_id for r in revisions))
    return JSONResponse(
        [
            views.revision_in_list(r, clients[r.client_id], report_url=views.report_url(request, r))
            for r in revisions
        ]
    )


async def _download(session: Session, blobs: Blobs, revision: Revision) -> StreamingResponse:
    bal_file: File | None = await service.get_file(session, revision.id)
    if bal_file is None:
        raise errors.NoBalFile(revision.id)
    try:
        reader = await blobs.open(bal_file.blob_key)
    except BlobNotFound:
        raise errors.BlobMissing() from None
    return StreamingResponse(
        _chunks(reader),
        headers={
            # set as is: Starlette would add "; charset=utf-8" to a text/* media type
            "Content-Type": "text/csv",
            "Content-Disposition": f'attachment; filename="bal-{revision.code_commune}.csv"',
            "Content-Length": str(reader.size),
        },
    )


async def _chunks(reader: BlobReader) -> AsyncIterator[bytes]:
    try:
        async for chunk in reader:
            yield chunk
    finally:
        await reader.aclose()


@router.get(
    "/communes/{code_commune}/current-revision/files/bal/download", response_class=StreamingResponse
)
async def download_current(
    code_commune: Commune, session: Session, blobs: Blobs
) -> StreamingResponse:
    """The current BAL of the commune, byte for byte as uploaded."""
    revision = await service.require_current_revision(session, code_commune)
    return await _download(session, blobs, revision)


@router.get("/revisions/{revision_id}")
async def get_revision(request: Request, revision: RevisionParam, session: Session) -> JSONResponse:
    return JSONResponse(await _with_client(request, session, revision))


@router.get("/revisions/{revision_id}/files/bal/download", response_class=StreamingResponse)
async def download_revision(
    revision: RevisionParam, session: Session, blobs: Blobs
) -> StreamingResponse:
    """The file of any revision, pending ones included."""
    return await _download(session, blobs, revision)


@router.get("/revisions/client/{client_id}")
async def client_revisions(
    client: ClientParam, session: Session, limit: Limit = None, offset: Offset = 0
) -> JSONResponse:
    """For each commune, the latest revision this client created."""
    revisions = await service.latest_per_commune(
        session, client_id=client.id, limit=limit, offset=offset
    )
    return JSONResponse([views.client_revision_item(r) for r in revisions])


@router.get("/last-revisions")
async def last_revisions(session: Session, limit: Limit = None, offset: Offset = 0) -> JSONResponse:
    """For each commune, its latest created revision (any client, any status)."""
    revisions = await service.latest_per_commune(
        session, client_id=None, limit=limit, offset=offset
    )
    return JSONResponse([views.last_revision_item(r) for r in revisions])
