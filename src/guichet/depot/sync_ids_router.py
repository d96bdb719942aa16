"""`POST /revisions/{id}/sync-ids-ban-publish` (§2.4 #5): admin only. The work and every
deliberate difference from the reference: `guichet.depot.sync_ids`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from guichet.core.auth import Admin
from guichet.core.db import Session
from guichet.core.errors import route_class
from guichet.core.storage import Blobs
from guichet.depot import errors, sync_ids, views
from guichet.depot.deps import RevisionParam

router = APIRouter(route_class=route_class(errors.NEST_FORMAT), tags=["publications"])


@router.post("/revisions/{revision_id}/sync-ids-ban-publish")
async def sync_ids_ban_publish(
    request: Request, revision: RevisionParam, _: Admin, session: Session, blobs: Blobs
) -> JSONResponse:
    """Republish the commune's current revision with the BAN's ids (commune, streets,
    addresses), as a new published revision of the same client: the new revision, without
    `client` nor `files` (as the reference answers). 412 if the revision is not current or the
    rewritten file is not valid, 424 if the BAN fails, 503 without a BAN API."""
    published = await sync_ids.sync_and_publish(
        session, blobs, request.app.state.settings.ban, revision
    )
    return JSONResponse(views.revision(published))
