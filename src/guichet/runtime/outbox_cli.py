"""`guichet outbox list|show`: read the e-mails Guichet wrote into its Maildir outbox (no SMTP
server configured), decoded: their bodies are base64 or quoted-printable on disk.

Reads files only: no database, no server needed, and it works while `serve` runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email import message_from_binary_file, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated

import typer

from guichet.core.config import Settings
from guichet.core.mail import ENVELOPE_HEADER

app = typer.Typer(
    help="Read the e-mails sent to the Maildir outbox ($GUICHET_HOME/outbox).",
    no_args_is_help=True,
)

_SHOWN_HEADERS = ("Date", "From", "To", "Cc", "Reply-To", "Subject", "Message-ID", ENVELOPE_HEADER)


@dataclass(frozen=True)
class Sent:
    number: int
    """1 = the oldest: stable while the outbox only grows."""
    path: Path
    message: EmailMessage

    @property
    def key(self) -> str:
        return self.path.name.split(":", 1)[0]  # the Maildir key, without the ":2,flags"


def outbox_messages(directory: Path) -> list[Sent]:
    """The messages of the Maildir `directory`, oldest first (`new/` and `cur/`)."""
    files = [path for sub in ("new", "cur") for path in (directory / sub).glob("*")]
    files.sort(key=lambda path: (path.stat().st_mtime_ns, path.name))
    found = []
    for number, path in enumerate(files, start=1):
        with path.open("rb") as file:
            message = message_from_binary_file(file, policy=policy.default)
        assert isinstance(message, EmailMessage)  # policy.default builds EmailMessage
        found.append(Sent(number, path, message))
    return found


def text_body(message: EmailMessage) -> str:
    """The plain-text body, decoded (the HTML one if there is no text part)."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else content.decode(errors="replace")


def attachments(message: EmailMessage) -> list[tuple[str, str, int]]:
    """(file name, content type, size in bytes) of each attachment."""
    found = []
    for part in message.iter_attachments():
        assert isinstance(part, EmailMessage)
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        found.append((part.get_filename() or "(no name)", part.get_content_type(), size))
    return found


def _outbox_dir() -> Path:
    settings = Settings()
    if settings.smtp.host:
        typer.echo(
            f"note: GUICHET_SMTP__HOST is set ({settings.smtp.host}): new e-mails go there, "
            "not to the outbox",
            err=True,
        )
    return settings.outbox_dir


def _pick(messages: list[Sent], which: str) -> Sent:
    if not messages:
        raise _fail("the outbox is empty")
    if which == "last":
        return messages[-1]
    if which.isdigit():
        number = int(which)
        if 1 <= number <= len(messages):
            return messages[number - 1]
        raise _fail(f"no e-mail number {which} (the outbox holds {len(messages)})")
    matches = [sent for sent in messages if sent.key.startswith(which)]
    if len(matches) == 1:
        return matches[0]
    raise _fail(f"{len(matches)} e-mails have a key starting with {which!r}")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"guichet outbox: {message}", err=True)
    return typer.Exit(1)


@app.command("list")
def list_messages(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per e-mail.")] = False,
) -> None:
    """The e-mails of the outbox, oldest first: number, date, recipients, subject."""
    directory = _outbox_dir()
    messages = outbox_messages(directory)
    if as_json:
        rows = [
            {
                "number": sent.number,
                "key": sent.key,
                "date": str(sent.message["Date"] or ""),
                "to": str(sent.message["To"] or ""),
                "subject": str(sent.message["Subject"] or ""),
                "path": str(sent.path),
            }
            for sent in messages
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not messages:
        typer.echo(f"no e-mail in {directory}")
        return
    for sent in messages:
        message = sent.message
        typer.echo(
            f"{sent.number:>4}  {message['Date'] or ''}  to {message['To'] or ''}  "
            f"{message['Subject'] or ''}"
        )
    typer.echo(f"({len(messages)} in {directory}; read one: guichet outbox show NUMBER)")


@app.command("show")
def show_message(
    which: Annotated[
        str,
        typer.Argument(
            help="NUMBER from `outbox list`, `last` (the newest), or a Maildir key (or its start)."
        ),
    ] = "last",
    raw: Annotated[bool, typer.Option(help="The message as stored, undecoded.")] = False,
) -> None:
    """One e-mail: its headers, its decoded text, its attachments."""
    sent = _pick(outbox_messages(_outbox_dir()), which)
    if raw:
        typer.echo(sent.path.read_bytes().decode("ascii", errors="replace"), nl=False)
        return
    message = sent.message
    for name in _SHOWN_HEADERS:
        value = message[name]
        if value is not None:
            typer.echo(f"{name}: {value}")
    typer.echo(f"File: {sent.path}")
    typer.echo("")
    typer.echo(text_body(message).rstrip("\n"))
    for filename, content_type, size in attachments(message):
        typer.echo(f"\n[attachment] {filename} ({content_type}, {size} bytes)")
