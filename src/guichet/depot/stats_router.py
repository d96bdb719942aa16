"""Statistics routes (§2.4 #36–38): two for the admin, the incubateur metrics public."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from guichet.core.auth import Admin
from guichet.core.db import Session
from guichet.core.errors import route_class
from guichet.depot import errors, stats
from guichet.depot.service import utcnow

router = APIRouter(route_class=route_class(errors.NEST_FORMAT), tags=["stats"])

DateFrom = Annotated[str | None, Query(alias="from", description="yyyy-MM-dd (with `to`)")]
DateTo = Annotated[str | None, Query(description="yyyy-MM-dd (with `from`)")]
# Bounded by PostgreSQL's bigint: a larger value is a 400, not a database error (500).
Offset = Annotated[int, Query(ge=0, le=2**63 - 1)]
Limit = Annotated[int | None, Query(ge=0, le=2**63 - 1, description="default: all")]


@router.get("/stats/firsts-publications")
async def firsts_publications(
    _: Admin, session: Session, from_: DateFrom = None, to: DateTo = None
) -> JSONResponse:
    """Per day (default: the last month), the cumulative number of communes published at least
    once by the end of that day."""
    when = stats.period(from_, to, now=utcnow())
    return JSONResponse(await stats.firsts_publications(session, when))


@router.get("/stats/publications")
async def publications(
    _: Admin, session: Session, from_: DateFrom = None, to: DateTo = None
) -> JSONResponse:
    """Per day with publications, per commune: how many, and how many via Mes Adresses / the
    moissonneur. Divergence: those two counts are real (always 0 in the reference)."""
    when = stats.period(from_, to, now=utcnow())
    return JSONResponse(await stats.publications(session, when))


@router.get("/stats/metrics-incubateur")
async def metrics_incubateur(
    session: Session, offset: Offset = 0, limit: Limit = None
) -> JSONResponse:
    """Public. `{count, results: [{insee, metrics: {tu, yau, mau, wau}}]}` by commune code."""
    return JSONResponse(
        await stats.metrics_incubateur(session, offset=offset, limit=limit, now=utcnow())
    )
