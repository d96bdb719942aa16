"""Mail: SMTP against a real (in-process) aiosmtpd server, and the Maildir outbox."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from guichet import mail
from guichet.config import MailSettings, SmtpSettings
from tests.conftest import Inbox, make_settings, read_outbox


def message(**overrides: Any) -> EmailMessage:
    values: dict[str, Any] = {
        "to": "mairie@example.fr",
        "subject": "Code d’identification",
        "text": "Votre code : 123456",
        "html": "<p>Votre code : <b>123456</b></p>",
    }
    values.update(overrides)
    return mail.build_message(MailSettings(sender="Guichet <noreply@guichet.test>"), **values)


class TestBuildMessage:
    def test_headers_and_alternatives(self) -> None:
        built = message()
        assert built["From"] == "Guichet <noreply@guichet.test>"
        assert built["Message-ID"].endswith("@guichet.test>")
        assert built.get_content_type() == "multipart/alternative"
        plain = built.get_body(("plain",))
        assert plain is not None and "Votre code : 123456" in plain.get_content()


class TestSmtpMailer:
    async def test_sends_to_recipients_and_bcc(self, smtp_server: tuple[Inbox, int]) -> None:
        inbox, port = smtp_server
        mailer = mail.SmtpMailer(
            SmtpSettings(host="127.0.0.1", port=port, security="none"), bcc=["audit@guichet.test"]
        )
        await mailer.send(message(to=["a@example.fr", "b@example.fr"]))
        [envelope] = inbox.envelopes
        assert envelope.mail_from == "noreply@guichet.test"
        assert envelope.rcpt_tos == ["a@example.fr", "b@example.fr", "audit@guichet.test"]
        received = message_from_bytes(envelope.content, policy=policy.default)
        assert received["Subject"] == "Code d’identification"
        assert received["Bcc"] is None

    async def test_create_mailer_picks_smtp_when_host_is_set(
        self, smtp_server: tuple[Inbox, int], tmp_path: Path
    ) -> None:
        inbox, port = smtp_server
        settings = make_settings(
            "postgresql://x@/x",
            tmp_path,
            smtp={"host": "127.0.0.1", "port": port, "security": "none"},
        )
        await mail.create_mailer(settings).send(message())
        assert len(inbox.envelopes) == 1


class TestMaildirMailer:
    async def test_writes_to_outbox_under_home(self, tmp_path: Path) -> None:
        settings = make_settings(
            "postgresql://x@/x", tmp_path, mail={"bcc": ["audit@guichet.test"]}
        )
        mailer = mail.create_mailer(settings)
        assert isinstance(mailer, mail.MaildirMailer)
        await mailer.send(message())
        [stored] = read_outbox(tmp_path / "outbox")
        assert stored["Subject"] == "Code d’identification"
        assert stored["X-Guichet-Envelope-To"] == "mairie@example.fr, audit@guichet.test"
        assert not list((tmp_path / "outbox" / "tmp").iterdir())
