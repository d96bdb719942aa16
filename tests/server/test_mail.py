"""Mail: SMTP against a real (in-process) aiosmtpd server, and the Maildir outbox."""

from __future__ import annotations

import mailbox
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from guichet.core import mail
from guichet.core.config import MailSettings, SmtpSettings
from guichet.core.mail import headers as mail_headers
from tests.conftest import Inbox, free_port, make_settings, read_outbox


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


# A body with lines starting with "." (SMTP dot-stuffing) and a lone ".": a bare DATA terminator.
DOTTED_BODY = "first line\n.\n..two dots\n.hidden\nlast line\n"


def rendered(to: tuple[str, ...] = ("a@example.fr", "b@example.fr")) -> mail.RenderedMessage:
    data = "".join(
        [
            mail_headers.structured_header("From", "Guichet <noreply@guichet.test>"),
            mail_headers.header("To", ", ".join(to)),
            mail_headers.header("Subject", "Rapport d’intégration\r\nBcc: x@evil.test"),
            mail_headers.structured_header("Message-ID", "<rendered-1@guichet.test>"),
            'Content-Type: text/plain; charset="us-ascii"\n',
            "\n",
            DOTTED_BODY,
        ]
    )
    return mail.RenderedMessage(
        data=data.encode("ascii"),
        sender="noreply@guichet.test",
        recipients=to,
        message_id="<rendered-1@guichet.test>",
    )


class TestRendering:
    def test_short_plain_values_are_written_as_is(self) -> None:
        assert mail_headers.header("Subject", "Bonjour") == "Subject: Bonjour\n"
        assert mail_headers.mime_parameter("filename", "a.json", 31) == '; filename="a.json"'

    def test_long_ascii_values_are_folded_before_spaces(self) -> None:
        value = " ".join(["word"] * 100)
        line = mail_headers.header("Subject", value)
        assert all(len(part) <= 78 for part in line.splitlines())
        parsed = message_from_bytes(line.encode() + b"\n", policy=policy.default)
        assert parsed["Subject"] == value

    @pytest.mark.parametrize(
        "value", ["é", "a\r\nBcc: x", "\x00\x1b", "=?utf-8?q?x?=", " lead", "trail ", "x" * 2000]
    )
    def test_other_values_are_encoded_words(self, value: str) -> None:
        line = mail_headers.header("Subject", value)
        assert line.startswith("Subject: =?utf-8?b?") and line.isascii()
        assert all(len(part) <= 78 for part in line.splitlines())
        parsed = message_from_bytes(line.encode() + b"\n", policy=policy.default)
        assert parsed["Subject"] == value

    def test_structured_values_are_never_encoded(self) -> None:
        with pytest.raises(ValueError):
            mail_headers.structured_header("Message-ID", "<a\nBcc: x@evil>")
        with pytest.raises(ValueError):
            mail_headers.structured_header("From", "x" * 1000 + "@example.fr")


class _Authenticator:
    """Accepts any login and records what it was sent."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        self.seen.append(data)
        return AuthResult(success=True)


class TestSmtpMailer:
    async def test_credentials_never_go_in_clear_with_auto_security(self) -> None:
        """A server that offers AUTH but not STARTTLS: `auto` with credentials refuses to log in
        (the password would cross in clear); `none` is the explicit opt-out."""
        authenticator = _Authenticator()
        controller = Controller(
            Inbox(), hostname="127.0.0.1", port=free_port(),
            authenticator=authenticator, auth_require_tls=False,
        )  # fmt: skip
        controller.start()
        try:
            secured = SmtpSettings(
                host="127.0.0.1", port=controller.port, security="auto",
                username="guichet", password="s3cret-password",
            )  # fmt: skip
            with pytest.raises(Exception, match=r"(?i)starttls|tls"):
                await mail.SmtpMailer(secured).send(message())
            assert authenticator.seen == []
            explicit = secured.model_copy(update={"security": "none"})
            await mail.SmtpMailer(explicit).send(message())
            assert len(authenticator.seen) == 1
        finally:
            controller.stop()

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

    async def test_sends_a_rendered_message(self, smtp_server: tuple[Inbox, int]) -> None:
        inbox, port = smtp_server
        mailer = mail.SmtpMailer(
            SmtpSettings(host="127.0.0.1", port=port, security="none"), bcc=["audit@guichet.test"]
        )
        await mailer.send(rendered())
        [envelope] = inbox.envelopes
        assert envelope.mail_from == "noreply@guichet.test"
        assert envelope.rcpt_tos == ["a@example.fr", "b@example.fr", "audit@guichet.test"]
        # CRLF on the wire, and the dot-stuffing undone by the server: the same message.
        assert envelope.content.replace(b"\r\n", b"\n") == rendered().data
        received = message_from_bytes(envelope.content, policy=policy.default)
        assert received["Subject"] == "Rapport d’intégration\r\nBcc: x@evil.test"
        assert received["Bcc"] is None
        assert received.get_content().replace("\r\n", "\n") == DOTTED_BODY

    async def test_a_session_sends_over_one_connection(self) -> None:
        class Peers:
            def __init__(self) -> None:
                self.greetings = 0
                self.peers: list[Any] = []

            async def handle_EHLO(
                self, server: Any, session: Any, envelope: Any, hostname: str, responses: Any
            ) -> Any:
                self.greetings += 1
                session.host_name = hostname
                return responses

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                self.peers.append(session.peer)
                return "250 OK"

        handler = Peers()
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        try:
            mailer = mail.SmtpMailer(
                SmtpSettings(host="127.0.0.1", port=controller.port, security="none")
            )
            async with mailer.session():
                pass  # nothing to send: no connection at all
            assert handler.greetings == 0
            async with mailer.session() as send:
                for _ in range(3):
                    await send(rendered())
            assert len(handler.peers) == 3 and len(set(handler.peers)) == 1
            assert handler.greetings == 1
            await mailer.send(message())  # `send` alone: a connection of its own
            assert len(set(handler.peers)) == 2
        finally:
            controller.stop()

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

    async def test_writes_a_rendered_message(self, tmp_path: Path) -> None:
        mailer = mail.MaildirMailer(tmp_path / "outbox", bcc=["audit@guichet.test", "a@example.fr"])
        await mailer.send(rendered())
        [stored] = read_outbox(tmp_path / "outbox")
        assert stored["X-Guichet-Envelope-To"] == "a@example.fr, b@example.fr, audit@guichet.test"
        assert stored["Subject"] == "Rapport d’intégration\r\nBcc: x@evil.test"
        assert stored["Bcc"] is None
        assert stored.get_content() == DOTTED_BODY
        [(_, raw)] = mailbox.Maildir(tmp_path / "outbox", create=False).items()
        assert raw["Message-ID"] == "<rendered-1@guichet.test>"
        assert raw.get_payload() == DOTTED_BODY

    async def test_the_envelope_header_is_encoded_when_needed(self, tmp_path: Path) -> None:
        mailer = mail.MaildirMailer(tmp_path / "outbox")
        await mailer.send(rendered(to=("josé@exemple.fr",)))
        [stored] = read_outbox(tmp_path / "outbox")
        assert stored["X-Guichet-Envelope-To"] == "josé@exemple.fr"
