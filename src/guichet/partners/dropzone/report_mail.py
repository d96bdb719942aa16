"""The result e-mail of one dropped file (SPEC §5.2): status in the subject, a French summary in
the body, the full JSON report attached. The Message-ID is derived from the ledger row, so the
(rare) resend after a crash between "sent" and "recorded" is recognisable as the same message.

One e-mail goes out per processed file, so the message is rendered straight to bytes (a
`mail.RenderedMessage`) rather than built from `email.mime` objects and flattened, which cost
about a sixth of the processing CPU. The layout is what `email.mime` produced: multipart/mixed,
a base64 UTF-8 text part, the base64 JSON attachment.
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
from email.utils import formataddr, formatdate, parseaddr
from typing import Any

from guichet.core import mail
from guichet.core.config import MailSettings
from guichet.core.mail import headers as mail_headers
from guichet.partners.dropzone.models import DropzoneObject

MAX_ERRORS = 10

STATUS_LABELS = {
    "SUCCESS": "succès",
    "PARTIAL_SUCCESS": "succès partiel",
    "ERROR": "erreur",
    "REJECTED": "fichier rejeté",
}
MODEL_LABELS = {
    "clients": "clients (comptes)",
    "declarants": "déclarants",
    "properties": "biens",
    "associates": "associés",
    "transactions": "transactions",
    "documents": "documents",
}


def message_id(obj: DropzoneObject) -> str:
    return f"<dropzone-{obj.id}-{obj.etag[:16]}@guichet>"


def _summary_lines(report: dict[str, Any]) -> list[str]:
    """The report in words; a section with nothing to list is left out, title included."""
    if report.get("status") == "KO":
        details = str(report.get("errors") or report.get("error") or "")
        return [
            "Le fichier a été refusé dans son ensemble : aucune donnée n'a été intégrée.",
            f"Motif ({report.get('type')}) : {report.get('message')}",
            *([details] if details.strip() else []),
        ]
    if not report.get("total_count") and not report.get("combined_result"):
        return ["Le fichier ne contient aucun élément : il n'y avait rien à intégrer."]
    lines = [
        f"Éléments traités : {report.get('total_count', 0)}"
        f" (réussis : {report.get('success_count', 0)},"
        f" en erreur : {report.get('failed_count', 0)})",
    ]
    per_model = report.get("combined_result") or []
    if per_model:
        lines += ["", "Par modèle :"]
    for entry in per_model:
        model, item = entry.get("model", "?"), entry.get("item", {})
        label = MODEL_LABELS.get(model, model)
        lines.append(
            f"  - {label} : {item.get('success', 0)} réussi(s), {item.get('error', 0)} en erreur"
        )
    errors = report.get("errors") or []
    # A report lists its first errors only and counts the others (`omitted_errors`).
    total = len(errors) + int(report.get("omitted_errors_count") or 0)
    if errors:
        lines += ["", f"Premières erreurs ({min(len(errors), MAX_ERRORS)} sur {total}) :"]
        for error in errors[:MAX_ERRORS]:
            lines.append(
                f"  - [{error.get('model')}] {error.get('id') or '-'} ({error.get('type')}) :"
                f" {error.get('error')}"
            )
    return lines + _omitted_lines(report)


def _omitted_lines(report: dict[str, Any]) -> list[str]:
    """The errors the report does not list one by one, counted per model, code and field."""
    omitted = report.get("omitted_errors") or []
    if not omitted:
        return []
    lines = [
        "",
        f"Erreurs non détaillées dans le rapport ({report.get('omitted_errors_count')}),"
        " par type :",
    ]
    for entry in omitted[:MAX_ERRORS]:
        field = f", champ '{entry.get('field')}'" if entry.get("field") else ""
        lines.append(
            f"  - [{entry.get('model')}] {entry.get('code')}{field} : {entry.get('count')}"
        )
    if len(omitted) > MAX_ERRORS:
        lines.append(f"  - … et {len(omitted) - MAX_ERRORS} autres types d'erreurs")
    return lines


def build(
    settings: MailSettings, obj: DropzoneObject, *, env: str, recipients: list[str]
) -> mail.RenderedMessage:
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
    filename = f"report-{name}.json" if not name.endswith(".json") else f"report-{name}"
    identifier = message_id(obj)
    from_, sender = _from(settings.sender)
    # The parts are base64 only, whose alphabet has no "_": "=_" can never appear in them.
    boundary = f"=_guichet_{secrets.token_hex(12)}"
    data = "".join(
        [
            "MIME-Version: 1.0\n",
            from_,
            mail_headers.header("To", ", ".join(recipients)),
            mail_headers.header("Subject", f"[Guichet loader][{env}] {obj.key} : {status}"),
            f"Date: {formatdate(usegmt=True)}\n",
            mail_headers.structured_header("Message-ID", identifier),
            f'Content-Type: multipart/mixed; boundary="{boundary}"\n',
            f"\n--{boundary}\n",
            _part('Content-Type: text/plain; charset="utf-8"\n', "\n".join(lines)),
            f"\n--{boundary}\n",
            _part(
                "Content-Type: application/json\n",
                json.dumps(attachment, ensure_ascii=False, indent=2),
                _DISPOSITION
                + mail_headers.mime_parameter("filename", filename, len(_DISPOSITION))
                + "\n",
            ),
            f"\n--{boundary}--\n",
        ]
    )
    return mail.RenderedMessage(
        data=data.encode("ascii"),
        sender=sender,
        recipients=tuple(dict.fromkeys(recipients)),
        message_id=identifier,
    )


_DISPOSITION = "Content-Disposition: attachment"


def _part(content_type: str, text: str, disposition: str = "") -> str:
    """A MIME part: its headers, then the UTF-8 text in base64 lines of 76 characters (what
    `email.mime` wrote; ASCII whatever the text, so the message stays 7-bit)."""
    body = base64.encodebytes(text.encode("utf-8")).decode("ascii")
    return f"{content_type}Content-Transfer-Encoding: base64\n{disposition}\n{body}"


@functools.lru_cache(maxsize=8)
def _from(sender: str) -> tuple[str, str]:
    """The From header line and the envelope sender: the same for every message (one setting),
    so parsed once."""
    name, address = parseaddr(sender)
    value = formataddr((name, address), charset="utf-8") if name else address
    return mail_headers.structured_header("From", value), address
