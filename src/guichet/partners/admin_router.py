"""Operator API of the partner loaders (admin token): partners, their runs and their records.

Errors use the default format (`{"code", "message", "details"}`): these routes are ours, not the
contract's.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, status

from guichet.core.auth import require_admin
from guichet.core.db import Session
from guichet.partners import operators
from guichet.partners import registry as partners
from guichet.partners.models import Partner
from guichet.partners.schemas import (
    Page,
    PartnerCreate,
    PartnerRead,
    PartnerUpdate,
    PartnerWithKey,
    RecordRead,
    ReportErrorRead,
    RunRead,
    RunSummary,
)

router = APIRouter(
    prefix="/admin/loaders",
    tags=["loaders (operators)"],
    dependencies=[Depends(require_admin)],
)

PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=500)]
RecordModel = Literal["declarants", "properties", "associates", "transactions", "documents"]


async def _partner(session: Session, partner_id: Annotated[str, Path()]) -> Partner:
    return await partners.get(session, partner_id)


ExistingPartner = Annotated[Partner, Depends(_partner)]


def _with_key(partner: Partner, key: str) -> PartnerWithKey:
    return PartnerWithKey.model_validate(
        {**PartnerRead.model_validate(partner).model_dump(), "api_key": key}
    )


@router.post("/partners", status_code=status.HTTP_201_CREATED, response_model=PartnerWithKey)
async def create_partner(body: PartnerCreate, session: Session) -> PartnerWithKey:
    """Create a partner; the answer holds its API key, shown this once."""
    partner, key = await partners.create(
        session,
        partner_id=body.partner_id,
        name=body.name,
        contact_emails=[str(email) for email in body.contact_emails],
    )
    return _with_key(partner, key)


@router.get("/partners", response_model=Page[PartnerRead])
async def list_partners(
    session: Session, page: PageNumber = 1, per_page: PerPage = 50
) -> Page[PartnerRead]:
    found, total = await partners.list_partners(
        session, offset=(page - 1) * per_page, limit=per_page
    )
    items = [PartnerRead.model_validate(partner) for partner in found]
    return Page(items=items, total=total, page=page, per_page=per_page)


@router.get("/partners/{partner_id}", response_model=PartnerRead)
async def get_partner(partner: ExistingPartner) -> Partner:
    return partner


@router.patch("/partners/{partner_id}", response_model=PartnerRead)
async def update_partner(
    partner: ExistingPartner, body: PartnerUpdate, session: Session
) -> Partner:
    """Change the name or contacts, or (de)activate: a deactivated partner's files get 401."""
    return await partners.update(session, partner, **body.model_dump(exclude_unset=True))


@router.post("/partners/{partner_id}/key", response_model=PartnerWithKey)
async def rotate_key(partner: ExistingPartner, session: Session) -> PartnerWithKey:
    """Issue a new API key (shown this once); the previous one stops working at once."""
    key = await partners.rotate_key(session, partner)
    return _with_key(partner, key)


@router.get("/partners/{partner_id}/runs", response_model=Page[RunSummary])
async def list_runs(
    partner: ExistingPartner, session: Session, page: PageNumber = 1, per_page: PerPage = 20
) -> Page[RunSummary]:
    """The partner's files, newest first, with their counts (each run's report: one run, or
    its errors page by page)."""
    runs, total = await operators.list_runs(
        session, partner, offset=(page - 1) * per_page, limit=per_page
    )
    items = [RunSummary.model_validate(run) for run in runs]
    return Page(items=items, total=total, page=page, per_page=per_page)


@router.get("/partners/{partner_id}/runs/{run_id}", response_model=RunRead)
async def get_run(partner: ExistingPartner, run_id: uuid.UUID, session: Session) -> RunRead:
    """One run with the report the partner got."""
    return RunRead.model_validate(await operators.get_run(session, partner, run_id))


@router.get("/partners/{partner_id}/runs/{run_id}/errors", response_model=Page[ReportErrorRead])
async def list_run_errors(
    partner: ExistingPartner,
    run_id: uuid.UUID,
    session: Session,
    page: PageNumber = 1,
    per_page: PerPage = 100,
) -> Page[ReportErrorRead]:
    """The errors of a run's report, in report order, page by page."""
    errors, total = await operators.list_run_errors(
        session, partner, run_id, offset=(page - 1) * per_page, limit=per_page
    )
    items = [ReportErrorRead.model_validate(error) for error in errors]
    return Page(items=items, total=total, page=page, per_page=per_page)


@router.get("/partners/{partner_id}/records/{model}", response_model=Page[RecordRead])
async def list_records(
    partner: ExistingPartner,
    model: RecordModel,
    session: Session,
    page: PageNumber = 1,
    per_page: PerPage = 50,
) -> Page[RecordRead]:
    """The partner's integrated records of one model, newest first."""
    items, total = await operators.list_records(
        session, partner, model, offset=(page - 1) * per_page, limit=per_page
    )
    return Page(items=items, total=total, page=page, per_page=per_page)
