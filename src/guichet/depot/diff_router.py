"""What changed (issue #15, beyond the reference): a revision's diff, and the feed of
current-revision changes. Public, like the revision files they are computed from."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from guichet.core.db import Session
from guichet.core.errors import route_class
from guichet.core.storage import Blobs
from guichet.depot import diffs, errors, views
from guichet.depot.deps import RevisionParam, load
from guichet.depot.models import Revision

router = APIRouter(route_class=route_class(errors.NEST_FORMAT), tags=["changes"])

PageSize = Annotated[int, Query(ge=1, le=10_000, description="Items per page")]


@router.get(
    "/revisions/{revision_id}/diff", name="revision_diff", summary="What changed in a revision"
)
async def revision_diff(
    revision: RevisionParam,
    session: Session,
    blobs: Blobs,
    against: Annotated[str | None, Query(description="Another revision of the commune")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: PageSize = 1000,
) -> JSONResponse:
    """The revision against the commune's current revision when it was computed (for a
    published revision: the one it replaced), or `against` another revision of the commune.
    Lists in one stable order (added, removed, modified), `limit` items per page; `next` is the
    cursor of the following page (null on the last one)."""
    if against is None:
        against_id = await diffs.default_against(session, revision)
    else:
        other: Revision = await load(session, Revision, "Revision", against)
        if other.code_commune != revision.code_commune or other.id == revision.id:
            raise diffs.DiffAgainstInvalid(other.id, revision.code_commune)
        against_id = other.id
    stored = await diffs.compute_and_store(
        session, blobs, diffs.in_pool, revision_id=revision.id, against_id=against_id,
        default=against is None,
    )  # fmt: skip
    await session.commit()
    return JSONResponse(await diffs.page(blobs, stored, cursor, limit))


@router.get("/current-revisions/changes", summary="Feed of current-revision changes")
async def current_revision_changes(
    request: Request,
    session: Session,
    since: Annotated[
        str | None,
        Query(description="The `next` of the previous answer; `now` to start from now"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    """Every change of a commune's current revision after the cursor, in commit order, with
    its diff summary (null until computed) and the link to the details. Keep `next` and ask
    again with it: no change is ever missed or repeated."""
    if since == "now":
        return JSONResponse({"changes": [], "next": str(await diffs.last_seq(session))})
    position = _position(since)
    found = await diffs.changes_since(session, position, limit)
    base = request.app.state.settings.base_url
    changes: list[dict[str, Any]] = [
        {
            "codeCommune": change.code_commune,
            "revisionId": change.revision_id,
            "previousRevisionId": change.previous_id,
            "publishedAt": views.js_date(change.published_at),
            "summary": summary,
            "diffUrl": f"{base}/revisions/{change.revision_id}/diff",
        }
        for change, summary in found
    ]
    last = found[-1][0].seq if found else position
    return JSONResponse({"changes": changes, "next": str(last)})


def _position(since: str | None) -> int:
    if since is None:
        return 0
    if not since.isdigit() or len(since) > 18:
        raise diffs.CursorInvalid()
    return int(since)
