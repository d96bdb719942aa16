"""What operators read: a partner's runs (with their reports) and its integrated records."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

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
