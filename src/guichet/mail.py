"""Outgoing mail: build a message, then `send` it through SMTP, or into the Maildir outbox
(`$GUICHET_HOME/outbox`) when no SMTP server is configured.

Sending is slow and fallible, so domains call `send` from a job, never inside a request.
Any Maildir reader shows the outbox: `mutt -f var/outbox`, or Python's `mailbox.Maildir`.
"""

from __future__ import annotations

import asyncio
import mailbox
from email.message import EmailMessage, Message
from email.utils import formatdate, getaddresses, make_msgid, parseaddr
from pathlib import Path
from typing import Annotated, Protocol

import aiosmtplib
from fastapi import Depends, Request

from guichet.config import MailSettings, Settings, SmtpSettings
from guichet.logging import get_logger

log = get_logger(__name__)


class Mailer(Protocol):
    async def send(self, message: Message) -> None: ...


def build_message(
    settings: MailSettings,
    *,
    to: str | list[str],
    subject: str,
    text: str,
    html: str | None = None,
    reply_to: str | None = None,
) -> EmailMessage:
    """A UTF-8 message with a text part (and an HTML alternative), From/Date/Message-ID set."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to if isinstance(to, str) else ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(
        domain=parseaddr(settings.sender)[1].rpartition("@")[2] or None
    )
    if reply_to:
        message["Reply-To"] = reply_to
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def create_mailer(settings: Settings) -> Mailer:
    if settings.smtp.host:
        return SmtpMailer(settings.smtp, bcc=settings.mail.bcc)
    return MaildirMailer(settings.outbox_dir, bcc=settings.mail.bcc)


def _recipients(message: Message, bcc: list[str]) -> list[str]:
    fields = [*message.get_all("To", []), *message.get_all("Cc", []), *message.get_all("Bcc", [])]
    addresses = [address for _, address in getaddresses(fields) if address]
    return list(dict.fromkeys([*addresses, *bcc]))  # dedupe, keep order


class SmtpMailer:
    def __init__(self, settings: SmtpSettings, *, bcc: list[str] | None = None) -> None:
        self.settings = settings
        self.bcc = bcc or []

    async def send(self, message: Message) -> None:
        settings = self.settings
        recipients = _recipients(message, self.bcc)
        del message["Bcc"]  # never shown to the recipients
        password = settings.password.get_secret_value() if settings.password else None
        await aiosmtplib.send(
            message,
            recipients=recipients,
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=password,
            use_tls=settings.security == "tls",
            # None lets aiosmtplib use STARTTLS when the server offers it.
            start_tls={"auto": None, "starttls": True}.get(settings.security, False),
            timeout=settings.timeout,
        )
        log.info(
            "mail.sent",
            transport="smtp",
            to_count=len(recipients),
            message_id=message["Message-ID"],
        )


class MaildirMailer:
    """Development outbox: every message becomes a file in a Maildir (atomic tmp → new)."""

    # Messages up to this size are written on the event loop: cheaper than the thread hop.
    INLINE_BYTES = 64 * 1024

    def __init__(self, directory: Path, *, bcc: list[str] | None = None) -> None:
        self.directory = directory
        self.bcc = bcc or []
        self._maildir: mailbox.Maildir | None = None

    async def send(self, message: Message) -> None:
        recipients = _recipients(message, self.bcc)
        # Keep the envelope visible in the outbox, as a real MTA would in Delivered-To.
        del message["X-Guichet-Envelope-To"]
        message["X-Guichet-Envelope-To"] = ", ".join(recipients)
        del message["Bcc"]
        data = message.as_bytes()
        if len(data) <= self.INLINE_BYTES:
            self._deliver(data)
        else:
            await asyncio.to_thread(self._deliver, data)
        log.info(
            "mail.sent",
            transport="outbox",
            to_count=len(recipients),
            message_id=message["Message-ID"],
        )

    def _deliver(self, data: bytes) -> None:
        if self._maildir is None:
            self.directory.parent.mkdir(parents=True, exist_ok=True)
            self._maildir = mailbox.Maildir(self.directory, create=True)
        self._maildir.add(data)


# --- process-wide mailer (jobs) and request dependency (routes) ------------------------------

_current: Mailer | None = None


def configure(mailer: Mailer | None) -> None:
    global _current
    _current = mailer


def current() -> Mailer:
    """The process's mailer, for jobs (set by `create_app` and `guichet worker`)."""
    if _current is None:
        raise RuntimeError("guichet.mail.configure() was not called")
    return _current


def get_mailer(request: Request) -> Mailer:
    mailer: Mailer = request.app.state.mailer
    return mailer


MailerDep = Annotated[Mailer, Depends(get_mailer)]
