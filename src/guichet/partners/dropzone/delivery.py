"""Delivering a processed row's outcome: its e-mail (once: each row stays locked while its
message is sent and is recorded as sent in the same short transaction) and its archive copies
in the service's archive bucket (out of the partners' reach, see `backends`)."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Sequence
from email.message import Message
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core import mail, services, storage
from guichet.core.config import Settings
from guichet.core.logging import get_logger
from guichet.partners.dropzone import backends, report_mail
from guichet.partners.dropzone.models import (
    DropzoneObject,
    MailStatus,
    ObjectStatus,
    dropzone_object_table,
)
from guichet.partners.models import Partner, Run

log = get_logger(__name__)


async def send_reports(object_ids: Sequence[int], settings: Settings) -> None:
    """Send each row's e-mail once. Each row is locked, sent and recorded as sent in a
    transaction of its own, committed as soon as the server accepted its message: a crash
    (SIGKILL) between the two resends at most the one message in flight, with the same
    Message-ID — not the whole batch. A row another job holds is waited for. On an SMTP
    error, the e-mails already sent stay recorded and the error is raised (the job retries the
    others). The messages share one SMTP connection, opened for the first one."""
    async with contextlib.AsyncExitStack() as stack:
        smtp: mail.Send | None = None

        async def send(message: Message | mail.RenderedMessage) -> None:
            nonlocal smtp
            if smtp is None:
                smtp = await stack.enter_async_context(mail.current().session())
            await smtp(message)

        for object_id in sorted(set(object_ids)):
            async with services.transaction() as session:
                found = (
                    await session.execute(_PENDING_MAIL.where(DropzoneObject.id == object_id))
                ).first()
                if found is None:  # sent already (by another job), or not processed yet
                    continue
                obj, partner = found
                outcome = await _send_report(settings, obj, partner, send)
                await session.execute(_RECORD_MAIL, [outcome])


_PENDING_MAIL = (
    select(DropzoneObject, Partner)
    .join(Partner, Partner.id == DropzoneObject.partner_id)
    .where(
        DropzoneObject.status == ObjectStatus.DONE,
        DropzoneObject.mail_status == MailStatus.PENDING,
    )
    # Waits for a row another transaction holds (the archive job, another sender): the
    # row is then read again, and a sender that finds it sent moves on.
    .with_for_update(of=DropzoneObject)
    .execution_options(populate_existing=True)
)


_RECORD_MAIL = (
    update(dropzone_object_table)
    .where(dropzone_object_table.c.id == bindparam("object_id"))
    .values(
        mail_status=bindparam("new_mail_status"),
        mail_sent_at=func.now(),
        mail_message_id=bindparam("new_message_id"),
    )
)


async def _send_report(
    settings: Settings, obj: DropzoneObject, partner: Partner, send: mail.Send
) -> dict[str, Any]:
    """Send one row's e-mail; returns what to record."""
    if not partner.contact_emails:
        log.warning("dropzone.no_recipient", object_id=obj.id, partner_id=partner.partner_id)
        return {
            "object_id": obj.id,
            "new_mail_status": str(MailStatus.NO_RECIPIENT),
            "new_message_id": None,
        }
    message = report_mail.build(
        settings.mail, obj, env=settings.dropzone.env, recipients=partner.contact_emails
    )
    await send(message)
    log.info("dropzone.report_sent", object_id=obj.id)
    return {
        "object_id": obj.id,
        "new_mail_status": str(MailStatus.SENT),
        "new_message_id": report_mail.message_id(obj),
    }


async def stored_sources(
    session: AsyncSession, rows: Sequence[DropzoneObject]
) -> dict[uuid.UUID, str]:
    """The stored source of each row's run, when the file was read (run id → blob key)."""
    run_ids = [row.run_id for row in rows if row.run_id is not None]
    found = await session.execute(
        select(Run.id, Run.source_key).where(Run.id.in_(run_ids), Run.source_size > 0)
    )
    return {row.id: row.source_key for row in found}


async def archive(obj: DropzoneObject, source: str | None) -> None:
    """The file under `{bucket}/success/` or `{bucket}/failure/` of the archive bucket, its
    report under `{bucket}/reports/`. A file that was read is archived as it was stored
    (`source`, its apiKey stripped); one never read (not `.json`, too large) is copied as it
    is."""
    assert obj.archive_key is not None
    backend = backends.current()
    archive_bucket = await backend.archive_bucket()
    if source is not None:
        body = await storage.get_bytes(storage.current(), source)
        await backend.put(archive_bucket, obj.archive_key, body, "application/json")
    else:  # False: the source is gone
        await backend.copy_between(obj.bucket, obj.key, archive_bucket, obj.archive_key)
    bucket, _, archived = obj.archive_key.partition("/")
    report_key = f"{bucket}/reports/{archived.partition('/')[2]}.report.json"
    report = json.dumps(obj.report, ensure_ascii=False).encode()
    await backend.put(archive_bucket, report_key, report, "application/json")
