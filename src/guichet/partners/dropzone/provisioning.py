"""A partner's bucket and write-only credentials: provision, rotate, revoke; and the ledger reads
of operators and partners.

The backend calls (bucket, identity, key) happen before the caller's transaction commits. What
they create is removed again when a later step fails, and a provisioning starts by removing
whatever keys the partner's identity holds without any being recorded (left behind by a
transaction that did not commit): no key lives that the database does not know of, and a
revocation removes the identity with all its keys.

The bucket's row is written before any backend call, so two partners whose ids make the same
bucket name (`zz_x`, `zz-x`, `ZZ-X`) cannot share a bucket or an identity: the second gets a 409.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
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


class BucketNameTaken(Conflict):
    code = "dropzone_bucket_name_taken"
    default_message = "Ce nom de bucket est déjà celui d'un autre partenaire"


def _taken(bucket: str, owner: str | None) -> BucketNameTaken:
    other = f"du partenaire « {owner} »" if owner else "d'un autre partenaire"
    return BucketNameTaken(
        f"Le bucket {bucket} est déjà celui {other} : les identifiants de partenaire sont mis"
        " en minuscules et « _ » devient « - » dans le nom du bucket ; choisir un identifiant"
        " de partenaire qui donne un autre nom",
        bucket=bucket,
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
    if row is None:
        row = await _claim_bucket(session, backend, settings, partner)
    # No key recorded: any key the identity holds was left by a provisioning whose transaction
    # did not commit. Removed first, so that the key issued now is the identity's only one.
    await backend.delete_identity(row.identity)
    await backend.ensure_bucket(row.bucket)
    credentials = await backend.create_credentials(row.identity, row.bucket)
    try:
        row.access_key_id = credentials.access_key_id
        row.credentials_rotated_at, row.revoked_at = _now(), None
        await session.flush()
    except BaseException:
        await backend.delete_identity(row.identity)  # the key was never handed out
        raise
    log.info("dropzone.provisioned", partner_id=partner.partner_id, bucket=row.bucket)
    return Provisioned(row, credentials, backend.public_endpoint_url, settings.region)


async def _claim_bucket(
    session: AsyncSession, backend: Backend, settings: DropzoneSettings, partner: Partner
) -> DropzoneBucket:
    """The partner's new bucket row, written before any backend call; `BucketNameTaken` when
    another partner has that name (checked, then enforced by the unique index against a
    concurrent provisioning)."""
    name = backends.bucket_name(settings.env, partner.partner_id)
    owner = await session.scalar(
        select(Partner.partner_id)
        .join(DropzoneBucket, DropzoneBucket.partner_id == Partner.id)
        .where(DropzoneBucket.bucket == name)
    )
    if owner is not None:
        raise _taken(name, owner)
    row = DropzoneBucket(
        partner_id=partner.id,
        bucket=name,
        backend=backend.name,
        identity=backends.identity_name(name),
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise _taken(name, None) from None
    return row


async def rotate(
    session: AsyncSession, backend: Backend, settings: DropzoneSettings, partner: Partner
) -> Provisioned:
    """A new key; the previous one stops working now (also re-enables a revoked partner)."""
    row = await get_bucket(session, partner)
    await backend.ensure_bucket(row.bucket)
    credentials = await backend.create_credentials(row.identity, row.bucket)
    try:
        if row.access_key_id is not None:
            await backend.delete_credentials(row.identity, row.access_key_id)
        row.access_key_id = credentials.access_key_id
        row.credentials_rotated_at, row.revoked_at = _now(), None
        await session.flush()
    except BaseException:
        # The new key was never handed out; the old one stays the recorded one.
        await backend.delete_credentials(row.identity, credentials.access_key_id)
        raise
    log.info("dropzone.credentials_rotated", partner_id=partner.partner_id, bucket=row.bucket)
    return Provisioned(row, credentials, backend.public_endpoint_url, settings.region)


async def revoke(session: AsyncSession, backend: Backend, partner: Partner) -> DropzoneBucket:
    """Delete the partner's identity with every key it holds (the recorded one, and any left
    by a failure): it can no longer write. Bucket and files are kept."""
    row = await get_bucket(session, partner)
    await backend.delete_identity(row.identity)
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
