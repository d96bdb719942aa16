"""A partner's bucket and write-only credentials: provision, rotate, revoke; and the ledger reads
of operators and partners.

The backend calls (bucket, identity, key) happen before the caller's transaction commits: if the
commit fails, the partner never received the key, and a new provision or rotation replaces it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.config import DropzoneSettings
from guichet.core.errors import Conflict, NotFound
from guichet.core.logging import get_logger
from guichet.partners.dropzone import backends
from guichet.partners.dropzone.backends import Backend, Credentials
from guichet.partners.dropzone.models import DropzoneBucket, DropzoneObject
from guichet.partners.models import Partner

log = get_logger(__name__)


class BucketNotProvisioned(NotFound):
    code, default_message = "dropzone_not_provisioned", "Aucun bucket pour ce partenaire"


class AlreadyProvisioned(Conflict):
    code, default_message = (
        "dropzone_already_provisioned",
        "Bucket et identifiants déjà créés (utiliser la rotation)",
    )


class ObjectNotFound(NotFound):
    code, default_message = "dropzone_object_not_found", "Dépôt inconnu"


@dataclass(frozen=True, slots=True)
class Provisioned:
    bucket: DropzoneBucket
    credentials: Credentials
    endpoint_url: str | None
    region: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def get_bucket(session: AsyncSession, partner: Partner) -> DropzoneBucket:
    row = await session.scalar(
        select(DropzoneBucket).where(DropzoneBucket.partner_id == partner.id)
    )
    if row is None:
        raise BucketNotProvisioned(partner_id=partner.partner_id)
    return row


async def provision(
    session: AsyncSession, backend: Backend, settings: DropzoneSettings, partner: Partner
) -> Provisioned:
    """Create the partner's bucket and its first key (shown once); 409 if it already has one."""
    row = await session.scalar(
        select(DropzoneBucket).where(DropzoneBucket.partner_id == partner.id).with_for_update()
    )
    if row is not None and row.access_key_id is not None:
        raise AlreadyProvisioned(bucket=row.bucket)
    name = backends.bucket_name(settings.env, partner.partner_id)
    await backend.ensure_bucket(name)
    identity = backends.identity_name(name)
    credentials = await backend.create_credentials(identity, name)
    if row is None:
        row = DropzoneBucket(
            partner_id=partner.id, bucket=name, backend=backend.name, identity=identity
        )
        session.add(row)
    row.access_key_id = credentials.access_key_id
    row.credentials_rotated_at, row.revoked_at = _now(), None
    await session.flush()
    log.info("dropzone.provisioned", partner_id=partner.partner_id, bucket=name)
    return Provisioned(row, credentials, backend.public_endpoint_url, settings.region)


async def rotate(
    session: AsyncSession, backend: Backend, settings: DropzoneSettings, partner: Partner
) -> Provisioned:
    """A new key; the previous one stops working now (also re-enables a revoked partner)."""
    row = await get_bucket(session, partner)
    await backend.ensure_bucket(row.bucket)
    credentials = await backend.create_credentials(row.identity, row.bucket)
    if row.access_key_id is not None:
        await backend.delete_credentials(row.identity, row.access_key_id)
    row.access_key_id = credentials.access_key_id
    row.credentials_rotated_at, row.revoked_at = _now(), None
    await session.flush()
    log.info("dropzone.credentials_rotated", partner_id=partner.partner_id, bucket=row.bucket)
    return Provisioned(row, credentials, backend.public_endpoint_url, settings.region)


async def revoke(session: AsyncSession, backend: Backend, partner: Partner) -> DropzoneBucket:
    """Delete the partner's key: it can no longer write. Bucket and files are kept."""
    row = await get_bucket(session, partner)
    if row.access_key_id is not None:
        await backend.delete_credentials(row.identity, row.access_key_id)
    row.access_key_id, row.revoked_at = None, _now()
    await session.flush()
    log.info("dropzone.credentials_revoked", partner_id=partner.partner_id, bucket=row.bucket)
    return row


async def list_objects(
    session: AsyncSession, partner: Partner, *, offset: int = 0, limit: int = 50
) -> tuple[list[DropzoneObject], int]:
    condition = DropzoneObject.partner_id == partner.id
    total = await session.scalar(select(func.count()).select_from(DropzoneObject).where(condition))
    rows = await session.scalars(
        select(DropzoneObject)
        .where(condition)
        .order_by(DropzoneObject.seen_at.desc(), DropzoneObject.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), total or 0


async def get_object(session: AsyncSession, partner: Partner, object_id: int) -> DropzoneObject:
    obj = await session.get(DropzoneObject, object_id)
    if obj is None or obj.partner_id != partner.id:
        raise ObjectNotFound(object_id=object_id)
    return obj
