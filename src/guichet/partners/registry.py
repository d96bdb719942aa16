"""Partners: creation, key rotation, contacts, (de)activation, and authentication of a file.

Services flush, never commit: the request (or the CLI's transaction) owns the transaction.
"""

from __future__ import annotations

import json
import re
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


# Bodies up to this size are parsed before authentication, so that a broken header gets its
# detailed 400 (parsing a megabyte costs about 10 ms); a larger body is authenticated first,
# from its raw bytes (`authenticate_unparsed`), so that nobody unknown gets it parsed.
PARSE_BEFORE_AUTH_BYTES = 1024 * 1024
# Candidate values looked at per header key: a file names its partner and key once, at the
# root; a few more tolerate the same names in pass-through fields before the header.
_CANDIDATES = 3
# Header values are at most 1,024 characters (`guichet.loader` refuses longer ones), up to six
# bytes each once escaped: a longer string cannot be a header value, and the bound keeps a
# broken body (an unterminated string) from costing more than one short scan per occurrence.
_STRING = rb'"(?:[^"\\]|\\.){0,6200}"'
_MEMBERS = {
    name: re.compile(b'"' + name.encode() + rb'"\s*:\s*(' + _STRING + b")")
    for name in ("inigPtynm", "apiKey")
}


def raw_credentials(body: bytes) -> list[tuple[str, str]]:
    """(`inigPtynm`, `apiKey`) pairs a body may carry, found in its bytes without parsing it
    (a scan at C speed: no allocation beyond the few values found)."""
    found = {name: _string_values(pattern, body) for name, pattern in _MEMBERS.items()}
    return [(pid, key) for pid in found["inigPtynm"] for key in found["apiKey"] if pid and key]


def _string_values(pattern: re.Pattern[bytes], body: bytes) -> list[str]:
    values: list[str] = []
    for match in pattern.finditer(body):
        try:
            value = json.loads(match.group(1))
        except ValueError:  # bad escape or UTF-8: not a value the header could hold
            continue
        if value not in values:
            values.append(value)
        if len(values) == _CANDIDATES:
            break
    return values


async def authenticate_unparsed(session: AsyncSession, body: bytes) -> Partner:
    """The partner a large body authenticates as, before it is parsed; `PartnerUnauthorized`
    when no partner id and key it holds match. The parsed header is checked afterwards all
    the same (`authenticate_file`): this only keeps unknown senders from getting a parse."""
    for partner_id, api_key in raw_credentials(body):
        try:
            return await authenticate(session, partner_id, api_key)
        except PartnerUnauthorized:
            continue
    raise PartnerUnauthorized()


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
