"""What operators read: a partner's runs (with their reports) and its integrated records."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, defer

from guichet.partners.errors import RunNotFound
from guichet.partners.models import Account, Document, Partner, Record, Run
from guichet.partners.schemas import DocumentRead, RecordRead


async def list_runs(
    session: AsyncSession, partner: Partner, *, offset: int, limit: int
) -> tuple[Sequence[Run], int]:
    total = await session.scalar(
        select(func.count()).select_from(Run).where(Run.partner_id == partner.id)
    )
    runs = await session.scalars(
        select(Run)
        .options(defer(Run.report))  # a list shows counts; reports are read one run at a time
        .where(Run.partner_id == partner.id)
        .order_by(Run.received_at.desc(), Run.id)
        .offset(offset)
        .limit(limit)
    )
    return runs.all(), total or 0


async def get_run(session: AsyncSession, partner: Partner, run_id: uuid.UUID) -> Run:
    run = await session.get(Run, run_id)
    if run is None or run.partner_id != partner.id:
        raise RunNotFound(run_id=str(run_id))
    return run


# A page of a run's report errors, cut by PostgreSQL (the report is never loaded whole); a
# refused file's KO body has a string there, hence no errors to list.
_ERRORS_PAGE = text(
    """
    SELECT error.value
      FROM loader_run r,
           jsonb_array_elements(CASE WHEN jsonb_typeof(r.report->'errors') = 'array'
                                     THEN r.report->'errors' ELSE '[]'::jsonb END)
           WITH ORDINALITY AS error(value, position)
     WHERE r.id = :run_id
     ORDER BY error.position
    OFFSET :offset LIMIT :limit
    """
)
_ERRORS_COUNT = text(
    """
    SELECT CASE WHEN jsonb_typeof(report->'errors') = 'array'
                THEN jsonb_array_length(report->'errors') ELSE 0 END
      FROM loader_run WHERE id = :run_id
    """
)


async def list_run_errors(
    session: AsyncSession, partner: Partner, run_id: uuid.UUID, *, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of the errors a run's report lists, in report order, and how many it lists."""
    await _check_run(session, partner, run_id)
    total = await session.scalar(_ERRORS_COUNT, {"run_id": run_id})
    rows = await session.scalars(_ERRORS_PAGE, {"run_id": run_id, "offset": offset, "limit": limit})
    return list(rows), total or 0


async def _check_run(session: AsyncSession, partner: Partner, run_id: uuid.UUID) -> None:
    owner = await session.scalar(select(Run.partner_id).where(Run.id == run_id))
    if owner != partner.id:
        raise RunNotFound(run_id=str(run_id))


async def list_records(
    session: AsyncSession, partner: Partner, model: str, *, offset: int, limit: int
) -> tuple[list[RecordRead], int]:
    """Newest first, with the account e-mail, the parent ids and a document's fetch state."""
    where = (Record.partner_id == partner.id, Record.model == model)
    total = await session.scalar(select(func.count()).select_from(Record).where(*where))
    declarant, prop = aliased(Record), aliased(Record)
    rows = await session.execute(
        select(Record, Account.email, declarant.external_id, prop.external_id, Document)
        .join(Account, Account.id == Record.account_id)
        .outerjoin(declarant, declarant.id == Record.declarant_record_id)
        .outerjoin(prop, prop.id == Record.property_record_id)
        .outerjoin(Document, Document.record_id == Record.id)
        .where(*where)
        .order_by(Record.id.desc())
        .offset(offset)
        .limit(limit)
    )
    records = [
        RecordRead(
            model=record.model,
            external_id=record.external_id,
            account_email=email,
            declarant_id=declarant_id,
            property_id=property_id,
            run_id=record.run_id,
            created_at=record.created_at,
            data=record.data,
            document=DocumentRead.model_validate(document) if document is not None else None,
        )
        for record, email, declarant_id, property_id, document in rows
    ]
    return records, total or 0
