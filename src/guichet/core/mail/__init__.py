"""Outgoing mail: build a message, then `send` it through SMTP, or into the Maildir outbox
(`$GUICHET_HOME/outbox`) when no SMTP server is configured.

A message is either an `email.message.Message` (convenient, for the occasional mail) or a
`RenderedMessage`: bytes already serialised with the RFC 5322 helpers of `mail_headers`. The
drop zone sends one e-mail per processed file, and building and flattening `email` objects was
a sixth of its CPU; rendering the few headers it needs directly is an order of magnitude
cheaper, and the helpers keep every line valid.

Sending is slow and fallible, so domains call `send` from a job, never inside a request.
Any Maildir reader shows the outbox: `mutt -f var/outbox`, or Python's `mailbox.Maildir`.
"""

from __future__ import annotations

import asyncio
import contextlib
import mailbox
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.utils import formatdate, getaddresses, make_msgid, parseaddr
from pathlib import Path
from typing import Annotated, Protocol

import aiosmtplib
from fastapi import Depends, Request

from guichet.core.config import MailSettings, Settings, SmtpSettings
from guichet.core.logging import get_logger
from guichet.core.mail.headers import header

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """A message already serialised to RFC 5322 bytes, with its envelope.

    `data` is 7-bit ASCII with `\\n` line endings (as `Message.as_bytes()` gives): SMTP turns
    them into CRLF and dot-stuffs, the Maildir stores them as they are. It holds no Bcc header:
    blind recipients are only in the envelope.
    """

    data: bytes
    sender: str
    """Envelope sender (MAIL FROM): the address of the From header."""
    recipients: tuple[str, ...]
    """Envelope recipients (To and Cc); the mailer adds its configured bcc."""
    message_id: str


Send = Callable[["Message | RenderedMessage"], Awaitable[None]]


class Mailer(Protocol):
    async def send(self, message: Message | RenderedMessage) -> None: ...

    def session(self) -> contextlib.AbstractAsyncContextManager[Send]:
        """A `send` for several messages in a row (one SMTP connection for all)."""
        ...


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


def _recipients(message: Message | RenderedMessage, bcc: list[str]) -> list[str]:
    if isinstance(message, RenderedMessage):
        addresses: Iterable[str] = message.recipients
    else:
        fields = [
            *message.get_all("To", []),
            *message.get_all("Cc", []),
            *message.get_all("Bcc", []),
        ]
        addresses = [address for _, address in getaddresses(fields) if address]
    return list(dict.fromkeys([*addresses, *bcc]))  # dedupe, keep order


def _message_id(message: Message | RenderedMessage) -> str | None:
    if isinstance(message, RenderedMessage):
        return message.message_id
    return message["Message-ID"]


class SmtpMailer:
    def __init__(self, settings: SmtpSettings, *, bcc: list[str] | None = None) -> None:
        self.settings = settings
        self.bcc = bcc or []

    async def send(self, message: Message | RenderedMessage) -> None:
        async with self.session() as send:
            await send(message)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Send]:
        """Send several messages over one connection: one TCP connect, TLS handshake and
        login for all (the drop zone e-mails a batch of files at once). It connects on the
        first message only."""
        client: aiosmtplib.SMTP | None = None

        async def send(message: Message | RenderedMessage) -> None:
            nonlocal client
            if client is None:
                client = self._client()
                await client.connect()
            await self._send_on(client, message)

        try:
            yield send
        finally:
            if client is not None and client.is_connected:
                # The messages are accepted already: a failing QUIT changes nothing.
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.quit()
                client.close()

    def _client(self) -> aiosmtplib.SMTP:
        settings = self.settings
        password = settings.password.get_secret_value() if settings.password else None
        return aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=password,
            use_tls=settings.security == "tls",
            start_tls=_start_tls(settings),
            timeout=settings.timeout,
        )

    async def _send_on(self, client: aiosmtplib.SMTP, message: Message | RenderedMessage) -> None:
        recipients = _recipients(message, self.bcc)
        if isinstance(message, RenderedMessage):
            # Raw bytes: aiosmtplib needs the envelope sender, and converts the bare LFs to CRLF
            # and dot-stuffs the lines starting with "." itself (`execute_data_command`).
            # What `send_message` would decide for a Message: UTF-8 addresses need SMTPUTF8
            # (refused with SMTPNotSupported by a server without it). The data is ASCII already.
            sender = message.sender
            ascii_only = sender.isascii() and all(address.isascii() for address in recipients)
            options = [] if ascii_only else ["SMTPUTF8"]
            await client.sendmail(sender, recipients, message.data, mail_options=options)
        else:
            del message["Bcc"]  # never shown to the recipients
            await client.send_message(message, recipients=recipients)
        log.info(
            "mail.sent",
            transport="smtp",
            to_count=len(recipients),
            message_id=_message_id(message),
        )


ENVELOPE_HEADER = "X-Guichet-Envelope-To"


class MaildirMailer:
    """Development outbox: every message becomes a file in a Maildir (atomic tmp → new)."""

    # Messages up to this size are written on the event loop: cheaper than the thread hop.
    INLINE_BYTES = 64 * 1024

    def __init__(self, directory: Path, *, bcc: list[str] | None = None) -> None:
        self.directory = directory
        self.bcc = bcc or []
        self._maildir: mailbox.Maildir | None = None

    async def send(self, message: Message | RenderedMessage) -> None:
        recipients = _recipients(message, self.bcc)
        # Keep the envelope visible in the outbox, as a real MTA would in Delivered-To.
        if isinstance(message, RenderedMessage):
            # Header order means nothing to readers: prepending is one concatenation.
            envelope = header(ENVELOPE_HEADER, ", ".join(recipients))
            data = envelope.encode("ascii") + message.data
        else:
            del message[ENVELOPE_HEADER]
            message[ENVELOPE_HEADER] = ", ".join(recipients)
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
            message_id=_message_id(message),
        )

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Send]:
        """Nothing to share between messages: each is its own file."""
        yield self.send

    def _deliver(self, data: bytes) -> None:
        if self._maildir is None:
            self.directory.parent.mkdir(parents=True, exist_ok=True)
            self._maildir = mailbox.Maildir(self.directory, create=True)
        self._maildir.add(data)


# --- the process's mailer (jobs) and request dependency (routes) -----------------------------


def current() -> Mailer:
    """The process's mailer, for jobs (part of the installed `Services`)."""
    from guichet.core import services

    return services.current().mailer


def get_mailer(request: Request) -> Mailer:
    mailer: Mailer = request.app.state.mailer
    return mailer


MailerDep = Annotated[Mailer, Depends(get_mailer)]


def _start_tls(settings: SmtpSettings) -> bool | None:
    """STARTTLS: required with `starttls`, and with `auto` whenever credentials are set (a
    server that does not offer it must not get the password in clear); with `auto` and no
    credentials, used when offered (None); never with `none` (explicitly disabled) or `tls`."""
    if settings.security == "starttls":
        return True
    if settings.security == "auto":
        return True if settings.username else None
    return False
