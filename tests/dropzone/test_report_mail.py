"""The drop-zone result e-mail, rendered straight to bytes: read back with Python's `email`
parser, it must say exactly what the former `email.mime` message said, and stay a valid message
whatever the S3 key holds (accents, CR/LF, control characters, 1,024 characters)."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from email import message_from_bytes, policy
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr, parsedate_to_datetime
from typing import Any
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from guichet.core.config import MailSettings
from guichet.partners.dropzone import report_mail
from guichet.partners.dropzone.models import DropzoneObject

SENDER = "Guichet Équipe <noreply@guichet.test>"
RECIPIENTS = ["ops@acme.test", "dev@acme.test"]
AT = dt.datetime(2026, 1, 15, 10, 30, tzinfo=dt.UTC)

SUCCESS = {
    "status": "SUCCESS",
    "total_count": 2,
    "success_count": 2,
    "failed_count": 0,
    "end_date": "2026-01-15T10:31:00.000Z",
    "errors": [],
    "combined_result": [
        {"model": "properties", "item": {"success": 1, "error": 0}},
        {"model": "transactions", "item": {"success": 1, "error": 0}},
    ],
}
PARTIAL = {
    **SUCCESS,
    "status": "PARTIAL_SUCCESS",
    "total_count": 14,
    "success_count": 2,
    "failed_count": 12,
    "errors": [
        {"model": "transactions", "id": f"T{n}", "type": "validation", "error": f"prty « P{n} »"}
        for n in range(12)
    ],
}
REJECTED = {"status": "KO", "type": "header", "message": "apiKey invalide", "errors": ["x"]}


def make_object(key: str = "in/loader.json", *, result: str = "SUCCESS", **report: Any) -> Any:
    return DropzoneObject(
        id=42,
        partner_id=1,
        bucket="ql-loader-stg-acme",
        key=key,
        etag="0123456789abcdef0123456789abcdef",
        size=1234,
        source="event",
        uploaded_at=AT,
        seen_at=AT,
        processed_at=AT + dt.timedelta(seconds=3),
        run_id=uuid.UUID(int=7),
        result=result,
        report=report or dict(SUCCESS),
    )


def render(obj: Any, *, env: str = "stg", sender: str = SENDER) -> bytes:
    built = report_mail.build(MailSettings(sender=sender), obj, env=env, recipients=RECIPIENTS)
    return built.data


def parse(data: bytes) -> EmailMessage:
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def filename_of(key: str) -> str:
    name = key.rpartition("/")[2]
    return f"report-{name}" if name.endswith(".json") else f"report-{name}.json"


def attachment(message: EmailMessage) -> EmailMessage:
    (part,) = message.iter_attachments()
    assert isinstance(part, EmailMessage)
    return part


def filename(message: EmailMessage) -> str | None:
    """The attachment's file name, the same for both of Python's readers (`get_filename()`, and
    the parsed header's `params`)."""
    part = attachment(message)
    assert part["Content-Disposition"].params.get("filename") == part.get_filename()
    return part.get_filename()


def assert_whole_sections(data: bytes) -> None:
    """Each RFC 2231 section of the file name decodes on its own: some readers decode the
    sections one by one (Python joins the bytes first, so it would not notice a split)."""
    for section in re.findall(rb"filename\*\d+\*=(?:utf-8'')?([^;\s]*)", data):
        unquote_to_bytes(section).decode("utf-8")  # strict: raises on a split character


def text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    content = body.get_content()
    assert isinstance(content, str)
    return content


def assert_every_section_has_lines(content: str) -> None:
    """A title ("Par modèle :") is followed by its list, never by a blank line or the end."""
    lines = content.splitlines()
    for n, line in enumerate(lines):
        if line.endswith(" :"):
            assert n + 1 < len(lines) and lines[n + 1].startswith("  - "), (line, lines[n + 1 :])


def assert_valid(data: bytes) -> None:
    """7-bit, no line over 998 characters, no defect found by the parser."""
    assert data.isascii()
    assert max(len(line) for line in data.split(b"\n")) <= 998
    assert_whole_sections(data)
    message = parse(data)
    assert [part.defects for part in message.walk()] == [[], [], []]


# --- the former implementation (email.mime + as_bytes), as the reference for the content -------


def old_build(settings: MailSettings, obj: Any, *, env: str, recipients: list[str]) -> Message:
    status = obj.result or "ERROR"
    report: dict[str, Any] = dict(obj.report or {})
    name = obj.key.rpartition("/")[2]
    lines = [
        "Bonjour,",
        "",
        f"Votre fichier déposé dans le bucket {obj.bucket} a été traité : "
        f"{report_mail.STATUS_LABELS.get(status, status)} ({status}).",
        "",
        f"Fichier : {obj.key}",
        f"Taille : {obj.size if obj.size is not None else '?'} octets — ETag : {obj.etag}",
        f"Reçu le : {obj.uploaded_at.isoformat() if obj.uploaded_at else obj.seen_at.isoformat()}",
        f"Traité le : {obj.processed_at.isoformat() if obj.processed_at else '?'}",
        f"Identifiant du traitement : {obj.run_id}",
        "",
        *report_mail._summary_lines(report),
        "",
        "Le rapport complet (JSON) est joint à ce message.",
        "",
        "— Guichet",
    ]
    attached = {
        **report,
        "run_id": str(obj.run_id),
        "bucket": obj.bucket,
        "s3_key": obj.key,
        "etag": obj.etag,
        "version_id": None,
    }
    name_, address = parseaddr(settings.sender)
    message = MIMEMultipart()
    message["From"] = formataddr((name_, address), charset="utf-8") if name_ else address
    message["To"] = ", ".join(recipients)
    subject = f"[Guichet loader][{env}] {obj.key} : {status}"
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8").encode()
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = report_mail.message_id(obj)
    message.attach(MIMEText("\n".join(lines), "plain", "utf-8"))
    part = MIMEApplication(json.dumps(attached, ensure_ascii=False, indent=2).encode(), "json")
    filename = f"report-{name}.json" if not name.endswith(".json") else f"report-{name}"
    part.add_header(
        "Content-Disposition",
        "attachment",
        filename=filename if filename.isascii() else ("utf-8", "", filename),
    )
    message.attach(part)
    return message


class TestSameContentAsEmailMime:
    @pytest.mark.parametrize("report", [SUCCESS, PARTIAL, REJECTED], ids=["ok", "partial", "ko"])
    @pytest.mark.parametrize("key", ["in/loader.json", "in/données été.csv", "a"])
    def test_reads_the_same(self, report: dict[str, Any], key: str) -> None:
        result = {"KO": "REJECTED", "PARTIAL_SUCCESS": "PARTIAL_SUCCESS"}.get(
            report["status"], "SUCCESS"
        )
        obj = make_object(key, result=result, **report)
        new = parse(render(obj))
        former = old_build(MailSettings(sender=SENDER), obj, env="stg", recipients=RECIPIENTS)
        old = parse(former.as_bytes())
        for name in ("From", "To", "Message-ID", "MIME-Version"):
            assert new[name] == old[name], name
        # The former message folded a non-ASCII subject right after "Subject:", which readers
        # decode with a leading space: the new one is the exact subject.
        assert (
            new["Subject"] == old["Subject"].lstrip() == f"[Guichet loader][stg] {key} : {result}"
        )
        assert new.get_content_type() == old.get_content_type() == "multipart/mixed"
        assert abs(parsedate_to_datetime(new["Date"]) - parsedate_to_datetime(old["Date"])) < (
            dt.timedelta(seconds=5)
        )
        assert text(new) == text(old)
        new_part, old_part = attachment(new), attachment(old)
        assert new_part.get_content_type() == old_part.get_content_type() == "application/json"
        assert new_part.get_content_disposition() == "attachment"
        assert new_part.get_filename() == old_part.get_filename() == filename_of(key)
        assert new_part.get_content() == old_part.get_content()  # the same JSON bytes
        assert json.loads(new_part.get_content()) == {
            **report,
            "run_id": str(uuid.UUID(int=7)),
            "bucket": "ql-loader-stg-acme",
            "s3_key": key,
            "etag": "0123456789abcdef0123456789abcdef",
            "version_id": None,
        }
        assert_valid(render(obj))

    def test_summary_of_a_partial_success(self) -> None:
        content = text(parse(render(make_object(result="PARTIAL_SUCCESS", **PARTIAL))))
        assert "Premières erreurs (10 sur 12) :" in content
        assert "  - [transactions] T9 (validation) : prty « P9 »" in content
        assert "] T10 " not in content
        assert "succès partiel (PARTIAL_SUCCESS)" in content

    def test_a_file_without_items_has_no_empty_section(self) -> None:
        """Issue #13: a SUCCESS with 0 items ended on a bare "Par modèle :"."""
        empty = {**SUCCESS, "total_count": 0, "success_count": 0, "combined_result": []}
        content = text(parse(render(make_object(**empty))))
        assert "Par modèle" not in content and "Éléments traités" not in content
        lines = content.splitlines()
        at = lines.index("Le fichier ne contient aucun élément : il n'y avait rien à intégrer.")
        assert lines[at + 1 : at + 3] == ["", "Le rapport complet (JSON) est joint à ce message."]
        assert_every_section_has_lines(content)

    def test_a_rejection_without_details_has_no_blank_reason(self) -> None:
        bare = {"status": "KO", "type": "WrongFormat", "message": "JSON malformé", "errors": ""}
        content = text(parse(render(make_object(result="REJECTED", **bare))))
        lines = content.splitlines()
        at = lines.index("Motif (WrongFormat) : JSON malformé")
        assert lines[at + 1 : at + 3] == ["", "Le rapport complet (JSON) est joint à ce message."]

    @pytest.mark.parametrize("report", [SUCCESS, PARTIAL], ids=["ok", "partial"])
    def test_every_section_title_has_lines(self, report: dict[str, Any]) -> None:
        content = text(parse(render(make_object(result=report["status"], **report))))
        assert "Par modèle :" in content
        assert_every_section_has_lines(content)

    def test_envelope(self) -> None:
        built = report_mail.build(
            MailSettings(sender=SENDER),
            make_object(),
            env="stg",
            recipients=["a@acme.test", "b@acme.test", "a@acme.test"],
        )
        assert built.sender == "noreply@guichet.test"
        assert built.recipients == ("a@acme.test", "b@acme.test")
        assert built.message_id == report_mail.message_id(make_object())
        assert parse(built.data)["Message-ID"] == "<dropzone-42-0123456789abcdef@guichet>"
        assert b"Bcc" not in built.data

    def test_sender_without_display_name(self) -> None:
        message = parse(render(make_object(), sender="noreply@guichet.test"))
        assert message["From"] == "noreply@guichet.test"


KEYS = {
    "accents": "in/données/été 2026 — relevé.json",
    "crlf_and_controls": "in/a\r\nb\tc\x00d\x07e\x1b[0m\x7f.json",
    "ascii_1024": "k" * 1024,
    "ascii_words_1024": ("mot " * 256)[:1023] + "x",
    "non_ascii_1024": "é" * 512,
    "astral_1024": "in/" + "😀" * 255,
    "encoded_word_lookalike": "in/=?utf-8?q?pwned?=.json",
    "quotes_and_backslashes": 'in/a "b" \\c;d=e.json',
    "spaces_at_the_ends": "in/ a  b .json ",
}


class TestHeaderValues:
    @pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
    def test_subject_and_filename_read_back(self, key: str) -> None:
        data = render(make_object(key))
        assert_valid(data)
        message = parse(data)
        assert message["Subject"] == f"[Guichet loader][stg] {key} : SUCCESS"
        assert filename(message) == filename_of(key)
        assert json.loads(attachment(message).get_content())["s3_key"] == key

    @pytest.mark.parametrize("key", ["in/x\nBcc: x@evil", "in/x\r\nBcc: x@evil", "x\rBcc: x@evil"])
    def test_no_header_injection(self, key: str) -> None:
        data = render(make_object(key))
        message = parse(data)
        assert message["Bcc"] is None
        assert not re.search(rb"^Bcc:", data, re.MULTILINE | re.IGNORECASE)
        assert sorted(message.keys()) == sorted(
            ["MIME-Version", "From", "To", "Subject", "Date", "Message-ID", "Content-Type"]
        )
        assert message["Subject"] == f"[Guichet loader][stg] {key} : SUCCESS"
        assert filename(message) == filename_of(key)

    def test_common_headers_stay_within_78_columns(self) -> None:
        for key in ("in/loader.json", "in/données été.json", KEYS["ascii_1024"]):
            data = render(make_object(key))
            head = data.partition(b"\n\n")[0]
            assert max(len(line) for line in head.split(b"\n")) <= 78
            part_heads = [chunk.partition(b"\n\n")[0] for chunk in data.split(b"\n--")[1:-1]]
            assert max(len(line) for chunk in part_heads for line in chunk.split(b"\n")) <= 78

    def test_short_ascii_values_stay_readable(self) -> None:
        data = render(make_object("in/loader.json"))
        assert b"Subject: [Guichet loader][stg] in/loader.json : SUCCESS\n" in data
        assert b'Content-Disposition: attachment; filename="report-loader.json"\n' in data
        assert b"To: ops@acme.test, dev@acme.test\n" in data

    def test_long_non_ascii_filename_uses_rfc2231_sections(self) -> None:
        key = "in/" + "données-" * 40 + ".json"
        data = render(make_object(key))
        assert b"filename*0*=utf-8''report-donn%C3%A9es" in data
        assert b"filename*1*=" in data
        assert_valid(data)
        assert filename(parse(data)) == filename_of(key)


class TestStructure:
    def test_boundary_is_unique_and_absent_from_the_parts(self) -> None:
        boundaries = set()
        for key in KEYS.values():
            data = render(make_object(key))
            message = parse(data)
            boundary = message.get_boundary()
            assert boundary is not None
            boundaries.add(boundary)
            for part in message.iter_parts():
                assert boundary.encode() not in part.as_bytes()
            assert data.count(f"--{boundary}".encode()) == 3
            assert data.endswith(f"\n--{boundary}--\n".encode())
        assert len(boundaries) == len(KEYS)

    def test_parts_are_base64_utf8(self) -> None:
        message = parse(render(make_object("in/é.json")))
        plain, json_part = message.iter_parts()
        assert plain["Content-Type"] == 'text/plain; charset="utf-8"'
        for part in (plain, json_part):
            assert part["Content-Transfer-Encoding"] == "base64"
            lines = part.get_payload().splitlines()
            assert all(len(line) <= 76 for line in lines)


@settings(max_examples=300, deadline=None)
@given(
    key=st.text(max_size=1024),
    status=st.text(max_size=40) | st.sampled_from(["SUCCESS", "PARTIAL_SUCCESS", "ERROR"]),
    env=st.sampled_from(["stg", "prod", "é t"]),
)
@example(key="\n" * 1024, status="", env="stg")
@example(key=" " * 1024, status=" ", env="stg")
@example(key="=?utf-8?b?QQ==?=", status="=?", env="stg")
def test_any_key_and_status_read_back(key: str, status: str, env: str) -> None:
    obj = make_object(key, result=status or None)
    data = render(obj, env=env)
    assert data.isascii()
    assert max(len(line) for line in data.split(b"\n")) <= 998
    assert_whole_sections(data)
    message = parse(data)
    expected_status = status or "ERROR"
    assert message["Subject"] == f"[Guichet loader][{env}] {key} : {expected_status}"
    assert message["Bcc"] is None
    assert filename(message) == filename_of(key)
    assert json.loads(attachment(message).get_content())["s3_key"] == key
    assert f"\nFichier : {key}\nTaille : 1234 octets" in text(message)
