"""Partners: creation, key rotation, contacts, (de)activation, and authentication of a file.

Services flush, never commit: the request (or the CLI's transaction) owns the transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.logging import get_logger
from guichet.loader import FileRejected, read_header
from guichet.partners import keys
from guichet.partners.errors import (
    FileRefused,
    PartnerExists,
    PartnerNotFound,
    PartnerUnauthorized,
)
from guichet.partners.intake import Depositor
from guichet.partners.models import Account, Partner

log = get_logger(__name__)


async def create(
    session: AsyncSession,
    *,
    partner_id: str,
    name: str | None = None,
    contact_emails: list[str] | None = None,
) -> tuple[Partner, str]:
    """A new partner and its own account (for flat files); returns the clear key, shown once."""
    key = keys.generate_key()
    inserted = await session.execute(
        insert(Partner)
        .values(
            partner_id=partner_id,
            name=name or partner_id,
            key_hash=keys.hash_key(key),
            key_hint=keys.hint(key),
            contact_emails=contact_emails or [],
        )
        .on_conflict_do_nothing(index_elements=[Partner.partner_id])
        .returning(Partner.id)
    )
    new_id = inserted.scalar_one_or_none()
    if new_id is None:
        raise PartnerExists(partner_id=partner_id)
    session.add(Account(owner_partner_id=new_id, created_by_partner_id=new_id))
    await session.flush()
    partner = await session.get_one(Partner, new_id)
    log.info("loaders.partner_created", partner_id=partner_id)
    return partner, key


async def get(session: AsyncSession, partner_id: str) -> Partner:
    partner = await session.scalar(select(Partner).where(Partner.partner_id == partner_id))
    if partner is None:
        raise PartnerNotFound(partner_id=partner_id)
    return partner


async def list_partners(
    session: AsyncSession, *, offset: int = 0, limit: int = 50
) -> tuple[list[Partner], int]:
    total = await session.scalar(select(func.count()).select_from(Partner))
    rows = await session.scalars(
        select(Partner).order_by(Partner.partner_id).offset(offset).limit(limit)
    )
    return list(rows), total or 0


async def update(session: AsyncSession, partner: Partner, **changes: Any) -> Partner:
    """Set `name`, `contact_emails` and/or `is_active` (None values are left unchanged)."""
    for field in ("name", "contact_emails", "is_active"):
        value = changes.get(field)
        if value is not None:
            setattr(partner, field, value)
    await session.flush()
    await session.refresh(partner)
    log.info("loaders.partner_updated", partner_id=partner.partner_id, fields=sorted(changes))
    return partner


async def rotate_key(session: AsyncSession, partner: Partner) -> str:
    """A new key; the old one stops working when the transaction commits."""
    key = keys.generate_key()
    partner.key_hash = keys.hash_key(key)
    partner.key_hint = keys.hint(key)
    partner.key_rotated_at = func.now()
    await session.flush()
    await session.refresh(partner)
    log.info("loaders.partner_key_rotated", partner_id=partner.partner_id)
    return key


async def authenticate(session: AsyncSession, partner_id: str, api_key: str) -> Partner:
    """The active partner whose key this is; `PartnerUnauthorized` otherwise (same answer and
    about the same time for an unknown partner, a wrong key and a deactivated partner)."""
    partner = await session.scalar(select(Partner).where(Partner.partner_id == partner_id))
    return _checked(partner, partner_id, api_key)


def check_key(partner: Partner, api_key: str) -> Partner:
    """`authenticate` for a partner already loaded (the same checks, without the query)."""
    return _checked(partner, partner.partner_id, api_key)


def _checked(partner: Partner | None, partner_id: str, api_key: str) -> Partner:
    is_valid = keys.matches(api_key, partner.key_hash if partner is not None else None)
    if partner is None or not is_valid or not partner.is_active:
        log.warning(
            "loaders.authentication_failed",
            partner_id=partner_id[:100],
            reason="unknown" if partner is None else "key" if not is_valid else "inactive",
        )
        raise PartnerUnauthorized()
    return partner


async def own_account_id(session: AsyncSession, partner: Partner) -> int:
    account_id = await session.scalar(
        select(Account.id).where(Account.owner_partner_id == partner.id)
    )
    assert account_id is not None, "every partner has its own account (created with it)"
    return account_id


def credentials(document: Any) -> tuple[str, str] | None:
    """The header's (`inigPtynm`, `apiKey`), when both are non-empty strings."""
    if type(document) is not dict:
        return None
    partner_id, api_key = document.get("inigPtynm"), document.get("apiKey")
    if type(partner_id) is str and type(api_key) is str and partner_id and api_key:
        return partner_id, api_key
    return None


async def authenticate_file(session: AsyncSession, document: Any) -> Partner:
    """The partner named and keyed by a file's header. A header too broken to name anyone is
    a 400 KO (its own validation error), a wrong partner or key a 401 (see `errors`)."""
    found = credentials(document)
    if found is None:
        try:
            read_header(document)
        except FileRejected as rejected:
            raise FileRefused(rejected) from None
        raise PartnerUnauthorized()  # unreachable with the current header rules
    return await authenticate(session, *found)


def check_file_key(partner: Partner, document: Any) -> Partner:
    """`partner` if the file's header carries its key (the drop zone knows the partner from the
    bucket; the key in the file must still be its own); `PartnerUnauthorized` otherwise."""
    found = credentials(document)
    if found is None or found[0] != partner.partner_id:
        raise PartnerUnauthorized()
    return check_key(partner, found[1])


async def depositor(session: AsyncSession, partner: Partner) -> Depositor:
    return Depositor(partner, await own_account_id(session, partner))
