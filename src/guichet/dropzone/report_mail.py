"""The result e-mail of one dropped file (SPEC §5.2): status in the subject, a French summary in
the body, the full JSON report attached. The Message-ID is derived from the ledger row, so the
(rare) resend after a crash between "sent" and "recorded" is recognisable as the same message.
"""

from __future__ import annotations

import json
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr
from typing import Any

from guichet.config import MailSettings
from guichet.dropzone.models import DropzoneObject

MAX_ERRORS = 10

STATUS_LABELS = {
    "SUCCESS": "succès",
    "PARTIAL_SUCCESS": "succès partiel",
    "ERROR": "erreur",
    "REJECTED": "fichier rejeté",
}
MODEL_LABELS = {
    "declarants": "déclarants",
    "properties": "biens",
    "associates": "associés",
    "transactions": "transactions",
    "documents": "documents",
}


def message_id(obj: DropzoneObject) -> str:
    return f"<dropzone-{obj.id}-{obj.etag[:16]}@guichet>"


def _summary_lines(report: dict[str, Any]) -> list[str]:
    if report.get("status") == "KO":
        return [
            "Le fichier a été refusé dans son ensemble : aucune donnée n'a été intégrée.",
            f"Motif ({report.get('type')}) : {report.get('message')}",
            str(report.get("errors") or report.get("error") or ""),
        ]
    lines = [
        f"Éléments traités : {report.get('total_count', 0)}"
        f" (réussis : {report.get('success_count', 0)},"
        f" en erreur : {report.get('failed_count', 0)})",
        "",
        "Par modèle :",
    ]
    for entry in report.get("combined_result", []):
        model, item = entry.get("model", "?"), entry.get("item", {})
        label = MODEL_LABELS.get(model, model)
        lines.append(
            f"  - {label} : {item.get('success', 0)} réussi(s), {item.get('error', 0)} en erreur"
        )
    errors = report.get("errors", [])
    if errors:
        lines += ["", f"Premières erreurs ({min(len(errors), MAX_ERRORS)} sur {len(errors)}) :"]
        for error in errors[:MAX_ERRORS]:
            lines.append(
                f"  - [{error.get('model')}] {error.get('id') or '-'} ({error.get('type')}) :"
                f" {error.get('error')}"
            )
    return lines


def build(
    settings: MailSettings, obj: DropzoneObject, *, env: str, recipients: list[str]
) -> Message:
    status = obj.result or "ERROR"
    report: dict[str, Any] = dict(obj.report or {})
    name = obj.key.rpartition("/")[2]
    lines = [
        "Bonjour,",
        "",
        f"Votre fichier déposé dans le bucket {obj.bucket} a été traité : "
        f"{STATUS_LABELS.get(status, status)} ({status}).",
        "",
        f"Fichier : {obj.key}",
        f"Taille : {obj.size if obj.size is not None else '?'} octets — ETag : {obj.etag}",
        f"Reçu le : {obj.uploaded_at.isoformat() if obj.uploaded_at else obj.seen_at.isoformat()}",
        f"Traité le : {obj.processed_at.isoformat() if obj.processed_at else '?'}",
        f"Identifiant du traitement : {obj.run_id}",
        "",
        *_summary_lines(report),
        "",
        "Le rapport complet (JSON) est joint à ce message.",
        "",
        "— Guichet",
    ]
    attachment = {
        **report,
        "run_id": str(obj.run_id),
        "bucket": obj.bucket,
        "s3_key": obj.key,
        "etag": obj.etag,
        "version_id": None,
    }
    message = MIMEMultipart()
    message["From"] = _address(settings.sender)
    message["To"] = ", ".join(recipients)
    message["Subject"] = _header(f"[Guichet loader][{env}] {obj.key} : {status}")
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(obj)
    message.attach(MIMEText("\n".join(lines), "plain", "utf-8"))
    part = MIMEApplication(json.dumps(attachment, ensure_ascii=False, indent=2).encode(), "json")
    filename = f"report-{name}.json" if not name.endswith(".json") else f"report-{name}"
    part.add_header("Content-Disposition", "attachment", filename=_parameter(filename))
    message.attach(part)
    return message


# The message is built with the `email.mime` classes: one per dropped file, and about ten times
# cheaper than `EmailMessage` (whose header registry parses every header it is given).


def _header(value: str) -> str:
    """RFC 2047 encoded when not ASCII."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def _address(value: str) -> str:
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if name else address


def _parameter(value: str) -> str | tuple[str, str, str]:
    return value if value.isascii() else ("utf-8", "", value)
