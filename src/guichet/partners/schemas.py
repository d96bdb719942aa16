"""Request and response bodies of the operator (admin) API of the partner loaders.

The partner endpoint itself (`POST /api/third_party/loader`) has no schema here: its body is the
loader file, read raw and checked by `guichet.loader`, and its answers are the contract's (§5.1).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

PartnerId = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
]
"""`inigPtynm`: what the partner writes in every file (letters, digits, `._-`; ≤ 100)."""
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _mailbox(value: str) -> str:
    """An address the result e-mails can carry in a header as is: an ASCII dot-atom local part
    and a domain of letters, digits and hyphens, an internationalised one in its ASCII (IDNA)
    form. Commas, quotes, angle brackets and other specials are refused: they would change
    what a header means."""
    local, _, domain = value.rpartition("@")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError("adresse e-mail invalide") from None
    address = f"{local}@{ascii_domain}"
    if not _LOCAL.fullmatch(local) or not _DOMAIN.fullmatch(ascii_domain) or len(address) > 254:
        raise ValueError("adresse e-mail invalide")
    return address


_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN = re.compile(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")

Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254), AfterValidator(_mailbox)
]
Emails = Annotated[list[Email], Field(max_length=20)]

T = TypeVar("T")


class PartnerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partner_id: PartnerId
    name: Name | None = None
    contact_emails: Emails = []


class PartnerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    contact_emails: Emails | None = None
    is_active: bool | None = None


class PartnerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    partner_id: str
    name: str
    contact_emails: list[str]
    is_active: bool
    key_hint: str
    key_rotated_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime


class PartnerWithKey(PartnerRead):
    api_key: str
    """Shown once, on creation and rotation; only its hash is kept."""


class RunSummary(BaseModel):
    """A run in a list: its counts, without its report (read one run, or its errors by page)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel: str
    received_at: dt.datetime
    finished_at: dt.datetime
    status: str
    total_count: int
    success_count: int
    failed_count: int
    tally: dict[str, dict[str, int]]
    source_key: str
    source_size: int
    source_sha256: str


class RunRead(RunSummary):
    report: dict[str, Any]
    """The answer the partner got (its errors capped, see `guichet.loader.Report.to_json`)."""


class ReportErrorRead(BaseModel):
    """One element of a report's `errors` (SPEC §5.1)."""

    model: str
    type: str
    error: str
    created_at: str
    id: str


class DocumentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    url: str
    status: str
    blob_key: str | None
    size: int | None
    sha256: str | None
    content_type: str | None
    error: str | None
    fetched_at: dt.datetime | None


class RecordRead(BaseModel):
    model: str
    external_id: str
    account_email: str | None
    declarant_id: str | None
    property_id: str | None
    run_id: uuid.UUID | None
    created_at: dt.datetime
    data: dict[str, Any]
    document: DocumentRead | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int
