"""Processing one object of a partner bucket: `download` it (outside any transaction, so that a
batch's downloads overlap), then `process` it: the S3 channel's own checks, then exactly the
REST endpoint's code (`guichet.partners.service.receive`: authenticate, store, validate,
integrate, record the run).

S3-only checks, before anything is integrated (each failure is a REJECTED run whose report is
the contract's KO body): size cap (from the GET's headers: a larger body is left unread), a
`.json` key (other keys are not downloaded), valid JSON, a well-formed header whose `inigPtynm`
is the bucket's partner and whose `creDtTm` carries its time zone (the S3 guide requires it; the
REST channel tolerates Europe/Paris by default).

The caller owns the transaction: the run, the records, the ledger row and the follow-up job
(archive + e-mail) are committed together, so a crash anywhere leaves the object pending and
nothing integrated; the retried job starts from scratch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.config import DropzoneSettings, LoadersSettings
from guichet.core.logging import get_logger
from guichet.core.storage import BlobStore
from guichet.loader import (
    FileRejected,
    FileTooLarge,
    InvalidValue,
    WrongFormat,
    load_json,
    read_header,
)
from guichet.partners import service as loader_service
from guichet.partners.dropzone.backends import Backend
from guichet.partners.dropzone.models import DropzoneObject
from guichet.partners.errors import AUTH_DETAIL, AUTH_MESSAGE, FileRefused, PartnerUnauthorized
from guichet.partners.models import Channel, Partner, Run, RunStatus

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: RunStatus
    report: dict[str, Any]
    run_id: uuid.UUID
    archive_key: str


class ObjectGone(Exception):
    """The object version is no longer in the bucket (deleted or overwritten)."""


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _field(key: str, reason: str) -> str:
    return f"Champ '{key}' dans l'en-tête invalide : {reason}"


def check_header(
    body: bytes, partner: Partner, bucket: str, *, max_bytes: int, now: dt.datetime
) -> Any:
    """The S3 channel's header rules; the body's JSON value, or `FileRejected` (a KO report)."""
    document = load_json(body, max_bytes=max_bytes)
    header = read_header(document, now=now)
    problems = []
    if header.partner_id != partner.partner_id:
        problems.append(
            _field(
                "inigPtynm",
                f"'{header.partner_id[:100]}' n'est pas le partenaire du bucket {bucket}",
            )
        )
    if not header.has_offset:
        problems.append(
            _field(
                "creDtTm",
                f"'{document['creDtTm'][:64]}' sans fuseau horaire : obligatoire pour un dépôt S3"
                " (ex. 2024-01-15T10:30:00+01:00)",
            )
        )
    if problems:
        raise InvalidValue(problems)
    return document


def archive_key(key: str, status: RunStatus, processed_at: dt.datetime) -> str:
    folder = "success" if status is RunStatus.SUCCESS else "failure"
    stamp = processed_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    directory, _, name = key.rpartition("/")
    prefix = f"{directory}/" if directory else ""
    return f"{folder}/{prefix}{stamp}_{name}"


async def _reject(
    session: AsyncSession,
    store: BlobStore,
    partner: Partner,
    body: bytes,
    report: dict[str, Any],
    received_at: dt.datetime,
    batch: InBatch,
) -> uuid.UUID:
    """Record a REJECTED run with the REST channel's own functions (source kept, as for REST)."""
    run = Run(id=batch.run_id, partner_id=partner.id, channel=Channel.S3, received_at=received_at)
    source = await loader_service.store_source(store, partner, run, body, batch.writes)
    await loader_service.record_run(
        session, run, source, RunStatus.REJECTED, report, {}, writes=batch.writes
    )
    return run.id


@dataclass(frozen=True, slots=True)
class Download:
    """What the bucket gave for one object version: its body, or the reason it is rejected
    without being read (too large, not `.json`); `received_at` is its upload time."""

    received_at: dt.datetime | None
    body: bytes = b""
    rejection: FileRejected | None = None


async def download(backend: Backend, settings: DropzoneSettings, obj: DropzoneObject) -> Download:
    """Read one object version (HEAD only for a non-JSON key); raises `ObjectGone`."""
    max_bytes = settings.max_file_bytes
    if not obj.key.lower().endswith(".json"):  # not downloaded: HEAD only
        info = await backend.head(obj.bucket, obj.key)
        if info is None or info.etag != obj.etag:
            raise ObjectGone()
        if info.size > max_bytes:
            return Download(info.last_modified, rejection=_too_large(info.size, max_bytes))
        reason = f"'{obj.key[-100:]}' : seuls les fichiers .json sont traités"
        return Download(info.last_modified, rejection=WrongFormat(reason))
    # One GET (metadata + body; a body over the cap is left unread), no HEAD first.
    fetched = await backend.fetch(obj.bucket, obj.key, max_bytes=max_bytes)
    if fetched is None or fetched[0].etag != obj.etag:
        raise ObjectGone()  # deleted, or overwritten: the new version has its own row
    info, data = fetched
    if data is None:
        return Download(info.last_modified, rejection=_too_large(info.size, max_bytes))
    if "-" not in obj.etag and _md5(data) != obj.etag:
        raise ObjectGone()  # the body does not match its ETag (torn read)
    return Download(info.last_modified, body=data)


def _too_large(size: int, max_bytes: int) -> FileTooLarge:
    return FileTooLarge(f"{size} octets, la limite est {max_bytes}")


async def _checked(
    download: Download, partner: Partner, obj: DropzoneObject, max_bytes: int
) -> FileRejected | loader_service.Parsed:
    """The S3 channel's header rules on a downloaded body (in a thread when it is large): its
    JSON value, or why it is rejected."""
    if download.rejection is not None:
        return download.rejection
    body, now = download.body, loader_service.utcnow()
    try:
        document = await loader_service.run_cpu(
            len(body), check_header, body, partner, obj.bucket, max_bytes=max_bytes, now=now
        )
    except FileRejected as rejected:
        return rejected
    return loader_service.Parsed(document)


PartnerContext = loader_service.KnownPartner


@dataclass(frozen=True, slots=True)
class InBatch:
    """How a batch processes this file: its run id (the same if the file is redone), where
    its run and source go (`None`: written at once) and whether each client entry gets a
    savepoint."""

    run_id: uuid.UUID
    writes: loader_service.BatchWrites | None = None
    entry_savepoints: bool = True


async def process(
    session: AsyncSession,
    store: BlobStore,
    settings: DropzoneSettings,
    obj: DropzoneObject,
    context: PartnerContext,
    download: Download,
    batch: InBatch | None = None,
) -> Outcome:
    """Check, integrate and record one downloaded object version (of `context.partner`'s
    bucket)."""
    batch = batch or InBatch(uuid.uuid4())
    partner = context.partner
    max_bytes = settings.max_file_bytes
    body = download.body
    received_at = download.received_at or obj.seen_at
    checked = await _checked(download, partner, obj, max_bytes)
    if isinstance(checked, FileRejected):
        report = checked.to_json()
        run_id = await _reject(session, store, partner, body, report, received_at, batch)
        return _outcome(obj, RunStatus.REJECTED, report, run_id)
    limits = LoadersSettings(max_body_bytes=max_bytes)
    try:
        reply = await loader_service.receive(
            session, store, limits, body, channel=Channel.S3, received_at=received_at,
            known=context, parsed=checked, run_id=batch.run_id, writes=batch.writes,
            entry_savepoints=batch.entry_savepoints,
        )  # fmt: skip
    except FileRefused as refused:
        run_id = await _reject(session, store, partner, body, refused.body, received_at, batch)
        return _outcome(obj, RunStatus.REJECTED, refused.body, run_id)
    except PartnerUnauthorized:
        report = {
            "status": "KO",
            "type": "ValueError",
            "message": AUTH_MESSAGE,
            "errors": AUTH_DETAIL,
        }
        run_id = await _reject(session, store, partner, body, report, received_at, batch)
        return _outcome(obj, RunStatus.REJECTED, report, run_id)
    assert reply.run_id is not None
    status = RunStatus(reply.body["status"]) if reply.status_code == 200 else RunStatus.REJECTED
    return _outcome(obj, status, reply.body, reply.run_id)


def _outcome(
    obj: DropzoneObject, status: RunStatus, report: dict[str, Any], run_id: uuid.UUID
) -> Outcome:
    key = archive_key(obj.key, status, loader_service.utcnow())
    log.info("dropzone.object_processed", object_id=obj.id, key=obj.key, status=str(status))
    return Outcome(status, report, run_id, key)
