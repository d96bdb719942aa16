"""Operator routes of the re-validation (admin token): start or resume, follow, read the report.

Ours, not the reference's: errors in the default format (`{"code", "message"}`), fields in
camelCase as the rest of the publication API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import JSONResponse

from guichet.core.auth import require_admin
from guichet.core.db import Session
from guichet.core.logging import get_logger
from guichet.depot import revalidation

log = get_logger(__name__)

router = APIRouter(
    prefix="/admin/revalidations",
    tags=["re-validation (operators)"],
    dependencies=[Depends(require_admin)],
)

PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=500)]


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def start(session: Session) -> JSONResponse:
    """Re-validate every current revision with this server's validator version: one job per
    revision. Called again, resumes the run of that version (each revision is validated once
    per validator version)."""
    started = await revalidation.start(session)
    run = started.run
    log.info("depot.revalidation_started", revalidation_id=run.id, resumed=started.resumed,
             added=started.added, deferred=started.deferred)  # fmt: skip
    body = {
        **revalidation.view(run, await revalidation.counts(session, run.id)),
        "resumed": started.resumed,
        "added": started.added,
        "deferred": started.deferred,
    }
    return JSONResponse(body, status_code=status.HTTP_202_ACCEPTED)


@router.get("")
async def list_runs(session: Session, page: PageNumber = 1, per_page: PerPage = 20) -> JSONResponse:
    """The runs, newest first, with their progress."""
    runs, total = await revalidation.list_runs(
        session, offset=(page - 1) * per_page, limit=per_page
    )
    items = [revalidation.view(run, await revalidation.counts(session, run.id)) for run in runs]
    return JSONResponse(_page(items, total, page, per_page))


@router.get("/{revalidation_id}")
async def get_run(
    revalidation_id: str, session: Session, page: PageNumber = 1, per_page: PerPage = 100
) -> JSONResponse:
    """A run's progress and its report: the communes whose verdict changed (valid → invalid
    and back, new or resolved errors and warnings) or that could not be validated, by commune
    code, page by page."""
    run = await revalidation.get(session, revalidation_id)
    found = await revalidation.counts(session, run.id)
    checks, total = await revalidation.report_page(
        session, run.id, offset=(page - 1) * per_page, limit=per_page
    )
    report = [revalidation.check_view(check) for check in checks]
    return JSONResponse(
        {**revalidation.view(run, found), "report": _page(report, total, page, per_page)}
    )


def _page(items: list[dict[str, Any]], total: int, page: int, per_page: int) -> dict[str, Any]:
    return {
        "items": items,
        "total": total,
        "page": page,
        "perPage": per_page,
        "pages": revalidation.pages(total, per_page),
    }
