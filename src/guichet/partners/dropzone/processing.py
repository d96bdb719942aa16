"""Processing one object of a partner bucket: `download` it (outside any transaction, so that a
batch's downloads overlap), then `process` it: the S3 channel's own checks (its header rules,
the key of the bucket's partner), then the channel-neutral `guichet.partners.intake` (store,
validate, integrate, record the run), as the REST endpoint does.

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
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from guichet.core.config import DropzoneSettings
from guichet.core.logging import get_logger
from guichet.loader import (
    FileRejected,
    FileTooLarge,
    InvalidValue,
    WrongFormat,
    load_json,
    read_header,
)
from guichet.partners import intake, registry
from guichet.partners.dropzone.backends import Backend
from guichet.partners.dropzone.models import DropzoneObject
from guichet.partners.errors import PartnerUnauthorized
from guichet.partners.models import Channel, Partner, RunStatus

log = get_logger(__name__)


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


# ASCII control characters (CR, LF, TAB…): S3 accepts them in a key, but object_store cannot
# name such a key and a copy or a report beside it would carry them into archive names.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def has_control_characters(key: str) -> bool:
    return _CONTROL_CHARACTERS.search(key) is not None


def archive_key(bucket: str, key: str, status: RunStatus, processed_at: dt.datetime) -> str | None:
    """Where the archive copy goes in the service's archive bucket (`{bucket}/success/…` or
    `{bucket}/failure/…`); None for a key that is never read (control characters)."""
    if has_control_characters(key):
        return None
    folder = "success" if status is RunStatus.SUCCESS else "failure"
    stamp = processed_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    directory, _, name = key.rpartition("/")
    prefix = f"{directory}/" if directory else ""
    return f"{bucket}/{folder}/{prefix}{stamp}_{name}"


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
    if has_control_characters(obj.key):
        # Final, not retried: no S3 call can name it, and retrying will not change the key.
        reason = (
            f"{json.dumps(obj.key[-100:])} : le nom du fichier contient un caractère de contrôle"
            " (retour à la ligne, tabulation…) ; renommer le fichier et le déposer à nouveau"
        )
        return Download(obj.uploaded_at, rejection=WrongFormat(reason))
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
) -> FileRejected | Any:
    """The S3 channel's header rules on a downloaded body (in a thread when it is large): its
    JSON value, or why it is rejected."""
    if download.rejection is not None:
        return download.rejection
    body, now = download.body, intake.utcnow()
    try:
        return await intake.run_cpu(
            len(body), check_header, body, partner, obj.bucket, max_bytes=max_bytes, now=now
        )
    except FileRejected as rejected:
        return rejected


async def process(
    recorder: intake.Recorder,
    settings: DropzoneSettings,
    obj: DropzoneObject,
    depositor: intake.Depositor,
    download: Download,
    run_id: uuid.UUID,
) -> Processed:
    """Check, integrate and record one downloaded object version of `depositor`'s bucket, as
    the run `run_id`."""
    received_at = download.received_at or obj.seen_at
    checked = await _checked(download, depositor.partner, obj, settings.max_file_bytes)
    document = None if isinstance(checked, FileRejected) else checked
    delivery = intake.Delivery(download.body, document, Channel.S3, received_at, run_id)
    if isinstance(checked, FileRejected):
        outcome = await intake.reject(recorder, delivery, depositor, checked.to_json())
        return _processed(obj, outcome)
    try:
        registry.check_file_key(depositor.partner, document)
    except PartnerUnauthorized as unauthorized:
        outcome = await intake.reject(recorder, delivery, depositor, unauthorized.to_json())
        return _processed(obj, outcome)
    return _processed(obj, await intake.intake(recorder, delivery, depositor))


@dataclass(frozen=True, slots=True)
class Processed:
    """How a dropped file ended: its run (status, report) and where its archive copy goes."""

    status: RunStatus
    report: dict[str, Any]
    run_id: uuid.UUID
    archive_key: str | None


def _processed(obj: DropzoneObject, outcome: intake.Outcome) -> Processed:
    key = archive_key(obj.bucket, obj.key, outcome.status, intake.utcnow())
    status = str(outcome.status)
    log.info("dropzone.object_processed", object_id=obj.id, key=obj.key, status=status)
    return Processed(outcome.status, outcome.report, outcome.run_id, key)
