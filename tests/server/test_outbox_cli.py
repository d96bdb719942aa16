"""`guichet outbox list|show`: the Maildir outbox read back decoded (bodies are base64 on disk)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guichet.core.config import MailSettings
from guichet.core.mail import MaildirMailer, build_message
from guichet.runtime.cli import build_app

BODY = "Votre fichier déposé a été traité : fichier rejeté (REJECTED).\nMotif : « creDtTm »\n"


async def send_two(outbox: Path) -> None:
    mailer = MaildirMailer(outbox)
    first = build_message(
        MailSettings(), to="compta@acme.example", subject="Premier envoi", text="Bonjour.\n"
    )
    await mailer.send(first)
    second = build_message(
        MailSettings(),
        to="compta@acme.example",
        subject="[Guichet loader][stg] loader.json : REJECTED",
        text=BODY,
    )
    second.set_content(BODY, cte="base64")  # as the drop zone's reports are stored
    second.add_attachment(
        b'{"status": "KO"}', maintype="application", subtype="json", filename="rapport.json"
    )
    await mailer.send(second)


def run(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), ["outbox", *args], env={"GUICHET_HOME": str(home)})
    return result.exit_code, result.output


@pytest.fixture
async def home(tmp_path: Path) -> Path:
    await send_two(tmp_path / "outbox")
    stored = b"".join(path.read_bytes() for path in (tmp_path / "outbox/new").iterdir())
    assert "déposé".encode() not in stored  # encoded on disk: what a reader has to undo
    return tmp_path


def test_list_numbers_the_mails_oldest_first(home: Path) -> None:
    code, output = run(home, "list")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].split()[0] == "1" and lines[0].endswith("Premier envoi")
    assert lines[1].split()[0] == "2" and "to compta@acme.example" in lines[1]
    assert lines[1].endswith("loader.json : REJECTED")

    code, output = run(home, "list", "--json")
    rows = json.loads(output)
    assert [row["number"] for row in rows] == [1, 2]
    assert rows[1]["subject"] == "[Guichet loader][stg] loader.json : REJECTED"


def test_show_prints_headers_decoded_text_and_attachments(home: Path) -> None:
    code, output = run(home, "show")  # the newest by default
    assert code == 0, output
    assert "Subject: [Guichet loader][stg] loader.json : REJECTED" in output
    assert "To: compta@acme.example" in output
    assert "X-Guichet-Envelope-To: compta@acme.example" in output
    assert BODY.strip() in output
    assert "[attachment] rapport.json (application/json, 16 bytes)" in output

    assert "Bonjour." in run(home, "show", "1")[1]
    assert run(home, "show", "last")[1] == output
    key = json.loads(run(home, "list", "--json")[1])[0]["key"]
    assert "Premier envoi" in run(home, "show", key)[1]
    assert "base64" in run(home, "show", "2", "--raw")[1]


def test_unknown_number_and_empty_outbox_say_so(home: Path, tmp_path: Path) -> None:
    code, output = run(home, "show", "9")
    assert code == 1 and "no e-mail number 9 (the outbox holds 2)" in output
    empty = tmp_path / "empty"
    assert run(empty, "list")[1].startswith("no e-mail in")
    code, output = run(empty, "show")
    assert code == 1 and "the outbox is empty" in output
