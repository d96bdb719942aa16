"""Drop-zone routes: operators provision buckets and keys and read every run; a partner reads its
own runs with its API key (`X-Partner-Id` + `X-API-Key` headers), its errors in French
(`guichet.partners.errors.PartnerFormat`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict

from guichet.core.auth import require_admin
from guichet.core.config import Settings
from guichet.core.db import Session
from guichet.core.errors import route_class
from guichet.partners import registry as partners
from guichet.partners.dropzone import backends, provisioning, tasks
from guichet.partners.dropzone.models import DropzoneObject
from guichet.partners.errors import PARTNER_FORMAT
from guichet.partners.models import Partner

admin_router = APIRouter(
    prefix="/admin/dropzone", tags=["drop zone (operators)"], dependencies=[Depends(require_admin)]
)
partner_router = APIRouter(
    prefix="/api/third_party/dropzone",
    tags=["drop zone (partners)"],
    route_class=route_class(PARTNER_FORMAT),
)

PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=500)]


class BucketRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    bucket: str
    backend: str
    access_key_id: str | None
    credentials_rotated_at: dt.datetime | None
    revoked_at: dt.datetime | None
    created_at: dt.datetime


class CredentialsRead(BaseModel):
    bucket: str
    region: str
    endpoint_url: str | None
    aws_access_key_id: str
    aws_secret_access_key: str
    """Shown once; only the key id is kept."""


class ObjectRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    bucket: str
    key: str
    etag: str
    size: int | None
    source: str
    status: str
    attempts: int
    uploaded_at: dt.datetime | None
    seen_at: dt.datetime
    processed_at: dt.datetime | None
    run_id: uuid.UUID | None
    result: str | None
    report: dict[str, Any] | None
    archive_key: str | None
    mail_status: str
    mail_sent_at: dt.datetime | None


class ObjectPage(BaseModel):
    items: list[ObjectRead]
    total: int
    page: int
    per_page: int


def _backend() -> backends.Backend:
    return backends.current()


Backend = Annotated[backends.Backend, Depends(_backend)]


async def _partner(session: Session, partner_id: Annotated[str, Path()]) -> Partner:
    return await partners.get(session, partner_id)


ExistingPartner = Annotated[Partner, Depends(_partner)]


async def _authenticated_partner(
    session: Session,
    partner_id: Annotated[str, Header(alias="X-Partner-Id")],
    api_key: Annotated[str, Header(alias="X-API-Key")],
) -> Partner:
    return await partners.authenticate(session, partner_id, api_key)


CurrentPartner = Annotated[Partner, Depends(_authenticated_partner)]


def _credentials(provisioned: provisioning.Provisioned) -> CredentialsRead:
    return CredentialsRead(
        bucket=provisioned.bucket.bucket,
        region=provisioned.region,
        endpoint_url=provisioned.endpoint_url,
        aws_access_key_id=provisioned.credentials.access_key_id,
        aws_secret_access_key=provisioned.credentials.secret_access_key,
    )


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@admin_router.post(
    "/partners/{partner_id}", status_code=status.HTTP_201_CREATED, response_model=CredentialsRead
)
async def provision(
    partner: ExistingPartner, session: Session, backend: Backend, request: Request
) -> CredentialsRead:
    """Create the partner's bucket `ql-loader-{env}-{partner}` and a key that can only write
    into it; the secret is in this answer only."""
    settings = _settings(request).dropzone
    return _credentials(await provisioning.provision(session, backend, settings, partner))


@admin_router.post("/partners/{partner_id}/credentials", response_model=CredentialsRead)
async def rotate(
    partner: ExistingPartner, session: Session, backend: Backend, request: Request
) -> CredentialsRead:
    """Issue a new key (shown once); the previous one stops working."""
    settings = _settings(request).dropzone
    return _credentials(await provisioning.rotate(session, backend, settings, partner))


@admin_router.delete("/partners/{partner_id}/credentials", response_model=BucketRead)
async def revoke(partner: ExistingPartner, session: Session, backend: Backend) -> Any:
    """Revoke the partner's key; the bucket and its files stay."""
    return await provisioning.revoke(session, backend, partner)


@admin_router.get("/partners/{partner_id}", response_model=BucketRead)
async def get_bucket(partner: ExistingPartner, session: Session) -> Any:
    return await provisioning.get_bucket(session, partner)


@admin_router.get("/partners/{partner_id}/objects", response_model=ObjectPage)
async def list_objects(
    partner: ExistingPartner, session: Session, page: PageNumber = 1, per_page: PerPage = 50
) -> ObjectPage:
    """The files found in the partner's bucket, newest first, with their processing status."""
    return await _page(session, partner, page, per_page)


# A row id: bounded by PostgreSQL's bigint, so a larger one is a 4xx, not a database error.
ObjectId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@admin_router.get("/partners/{partner_id}/objects/{object_id}", response_model=ObjectRead)
async def get_object(
    partner: ExistingPartner, object_id: ObjectId, session: Session
) -> DropzoneObject:
    return await provisioning.get_object(session, partner, object_id)


@admin_router.post("/sweep")
async def sweep() -> dict[str, int]:
    """List every partner bucket now (the periodic sweep runs every minute)."""
    return await tasks.sweep()


@partner_router.get("/objects", response_model=ObjectPage)
async def my_objects(
    partner: CurrentPartner, session: Session, page: PageNumber = 1, per_page: PerPage = 50
) -> ObjectPage:
    """Your dropped files, newest first: status, result and report."""
    return await _page(session, partner, page, per_page)


@partner_router.get("/objects/{object_id}", response_model=ObjectRead)
async def my_object(
    partner: CurrentPartner, object_id: ObjectId, session: Session
) -> DropzoneObject:
    return await provisioning.get_object(session, partner, object_id)


async def _page(session: Session, partner: Partner, page: int, per_page: int) -> ObjectPage:
    rows, total = await provisioning.list_objects(
        session, partner, offset=(page - 1) * per_page, limit=per_page
    )
    items = [ObjectRead.model_validate(row) for row in rows]
    return ObjectPage(items=items, total=total, page=page, per_page=per_page)
