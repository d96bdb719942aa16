"""Publication routes (§2.4 #1–4) and the detailed validation report: parse, call
`guichet.depot.publication`, shape the reference's JSON."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from guichet.core.db import Session
from guichet.core.errors import NotFound, route_class
from guichet.core.logging import get_logger
from guichet.core.storage import BlobNotFound, Blobs, get_bytes
from guichet.depot import diffs, errors, publication, service, views
from guichet.depot.bodies import CSV_BODY, openapi_body, parse_body
from guichet.depot.deps import Commune, CurrentClient, OwnedRevision, RevisionParam
from guichet.depot.schemas import PublishBody, RevisionCreate

log = get_logger(__name__)

router = APIRouter(route_class=route_class(errors.NEST_FORMAT), tags=["publications"])


def _sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return maker


@router.post(
    "/communes/{code_commune}/revisions",
    status_code=201,
    openapi_extra=openapi_body(RevisionCreate),
)
async def create_revision(
    request: Request, code_commune: Commune, client: CurrentClient, session: Session
) -> JSONResponse:
    """Step 1: a pending revision for the commune, with the depositor's context."""
    body = await parse_body(request, RevisionCreate)
    context = body.context.model_dump(exclude_unset=True)
    revision = await service.create_revision(
        session, client=client, code_commune=code_commune, context=context
    )
    log.info(
        "depot.revision_created",
        revision_id=revision.id,
        client_id=client.id,
        code_commune=code_commune,
    )
    return JSONResponse(views.revision_with_client(revision, client, None), status_code=201)


@router.put("/revisions/{revision_id}/files/bal", openapi_extra=CSV_BODY)
async def upload_file(
    request: Request, revision: OwnedRevision, session: Session, blobs: Blobs
) -> JSONResponse:
    """Step 2: the BAL file as the raw body (≤ 50,000,000 bytes, optional hex Content-MD5)."""
    maker = _sessionmaker(request)
    item = await publication.attach_file(session, maker, blobs, revision, request)
    return JSONResponse(views.file(item))


@router.post("/revisions/{revision_id}/compute")
async def compute_revision(
    request: Request,
    revision: OwnedRevision,
    client: CurrentClient,
    session: Session,
    blobs: Blobs,
) -> JSONResponse:
    """Step 3: validate the file; `isReady` is `validation.valid`."""
    ban_settings = request.app.state.settings.ban
    done = await publication.compute_revision(
        session, _sessionmaker(request), blobs, ban_settings, revision, client
    )
    url = views.report_url(request, done.revision)
    return JSONResponse(
        views.revision_with_client(done.revision, done.client, done.file, report_url=url)
    )


@router.post(
    "/revisions/{revision_id}/publish", openapi_extra=openapi_body(PublishBody, required=False)
)
async def publish_revision(
    request: Request, revision: OwnedRevision, client: CurrentClient, session: Session
) -> JSONResponse:
    """Step 4: the ready revision becomes the commune's current one."""
    body = await parse_body(request, PublishBody)
    published = await publication.publish(
        session, revision=revision, client=client, habilitation_id=body.habilitationId
    )
    bal_file = await service.get_file(session, published.id)
    url = views.report_url(request, published)
    return JSONResponse(views.revision_with_client(published, client, bal_file, report_url=url))


@router.get(
    "/revisions/{revision_id}/validation-report", name="validation_report", tags=["revisions"]
)
async def validation_report(
    revision: RevisionParam, blobs: Blobs, session: Session
) -> JSONResponse:
    """The detailed report of the last compute: row (0-based data row, -1 for the file),
    column, value, code, level and a French message for every problem (first 10,000). Under a
    mass-deletion rule, the removed addresses are named (first 1,000), from the revision's
    diff (issue #15, beyond the reference)."""
    if revision.report_key is None or revision.validation is None:
        raise NotFound(f"Aucun rapport de validation pour la révision {revision.id}")
    try:
        report: dict[str, Any] = json.loads(await get_bytes(blobs, revision.report_key))
    except BlobNotFound:
        raise errors.BlobMissing() from None
    removed, count = await diffs.removed_addresses(
        session, blobs, revision, diffs.in_pool, publication.REMOVED_LISTED
    )
    return JSONResponse(publication.report_with_rules(report, revision.validation, removed, count))
