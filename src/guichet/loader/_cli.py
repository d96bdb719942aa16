"""``guichet loader validate FILE`` and ``guichet loader schema``.

Exit status of ``validate``: 0 every item valid, 1 some items refused, 2 unreadable (missing
file, too large, not JSON, header or layout refused: the REST API's 400 ``KO`` cases).
"""

from __future__ import annotations

import errno
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from guichet.loader._errors import FileRejected
from guichet.loader._header import PARIS
from guichet.loader._layout import Layout
from guichet.loader._models import Model
from guichet.loader._report import Report
from guichet.loader._schema import json_schema
from guichet.loader._source import DEFAULT_MAX_BYTES
from guichet.loader._validate import Validation, validate_file

app = typer.Typer(help="Fichiers partenaires « Loaders 2.0 » (JSON).", no_args_is_help=True)

EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2
_SHOWN_ERRORS = 50
_NOUNS = {Model.PROPERTIES: "propriétés", Model.DECLARANTS: "déclarants"}
NO_ITEMS = "Aucun élément dans le fichier (ni déclarant, ni bien, ni transaction, ni document)."
# The operating system words its errors in English (strerror): the usual ones, in French.
_OS_REASONS = {
    errno.ENOENT: "fichier introuvable",
    errno.EACCES: "accès refusé",
    errno.EPERM: "accès refusé",
    errno.EISDIR: "c'est un dossier, pas un fichier",
    errno.ENOTDIR: "un élément du chemin n'est pas un dossier",
    errno.ENAMETOOLONG: "nom de fichier trop long",
    errno.ELOOP: "trop de liens symboliques",
    errno.EIO: "erreur d'entrée-sortie",
}


@app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="Fichier JSON à valider.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Rapport JSON de l'API REST sur la sortie.")
    ] = False,
    self_contained: Annotated[
        bool,
        typer.Option(
            "--self-contained",
            help="Refuser les liens vers des objets absents du fichier (sinon : au serveur).",
        ),
    ] = False,
    max_bytes: Annotated[int, typer.Option(help="Taille maximale acceptée, en octets.")] = (
        DEFAULT_MAX_BYTES
    ),
) -> None:
    """Valide FILE élément par élément et résume le résultat en français."""
    err = Console(stderr=True, soft_wrap=True)
    try:
        validation = validate_file(file, max_bytes=max_bytes, self_contained=self_contained)
    except OSError as exc:
        err.print(Text(f"Fichier illisible : {os_reason(exc)} ({file})", style="red"))
        raise typer.Exit(EXIT_UNREADABLE) from None
    except FileRejected as exc:
        if as_json:
            _write_json(exc.to_json())
        else:
            err.print(Text(f"Fichier refusé ({exc.wire_type}) : {exc.message}", style="red"))
            for detail in exc.details:
                err.print(Text(f"  - {detail}"))
        raise typer.Exit(EXIT_UNREADABLE) from None
    report = Report(validation)
    if as_json:
        _write_json(report.to_json())
    else:
        _print_summary(file, validation, report, Console(highlight=False, soft_wrap=True))
    raise typer.Exit(EXIT_VALID if validation.is_valid else EXIT_INVALID)


@app.command("schema")
def schema_command() -> None:
    """Affiche le JSON Schema (2020-12) du format accepté."""
    _write_json(json_schema(), indent=2)


def os_reason(exc: OSError) -> str:
    """Why ``exc`` prevented reading, in French (never the system's English text)."""
    if exc.errno is None:
        return "lecture impossible"
    return _OS_REASONS.get(exc.errno, f"lecture impossible (erreur système {exc.errno})")


def _write_json(value: Any, indent: int | None = None) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=indent) + "\n")


def _print_summary(file: Path, validation: Validation, report: Report, out: Console) -> None:
    header = validation.header
    issued = header.created_at.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S")
    zone = "" if header.has_offset else " (sans fuseau : Europe/Paris supposé)"
    out.print(Text(f"Fichier : {file}"))
    out.print(Text(f"Partenaire : {header.partner_id} · version {header.version}"))
    out.print(Text(f"Émis le {issued} (heure de Paris){zone}"))
    if validation.layout is Layout.CLIENTS:
        out.print(Text(f"Disposition : clients[] ({len(validation.clients)} client(s))"))
    else:
        out.print(Text("Disposition : à plat (compte du partenaire)"))
    if report.counts():
        out.print(_counts_table(report))
    else:  # no empty table: say it
        out.print(Text(NO_ITEMS))
    _print_external(validation, out)
    _print_list(out, "Erreurs", [issue.message for issue in validation.issues()])
    _print_list(out, "Avertissements", [issue.message for issue in validation.warnings])
    counts = report.counts().values()
    accepted, refused = sum(ok for ok, _ in counts), sum(ko for _, ko in counts)
    style = "green" if refused == 0 else "red"
    verdict = f"Résultat : {report.status} · {accepted} élément(s) accepté(s), {refused} refusé(s)"
    out.print(Text(verdict, style=style))


def _counts_table(report: Report) -> Table:
    table = Table("Modèle", "Acceptés", "Refusés", title="Éléments")
    for model, (ok, ko) in report.counts().items():
        table.add_row(str(model), str(ok), str(ko))
    return table


def _print_external(validation: Validation, out: Console) -> None:
    by_model: dict[Model, set[str]] = {}
    for _, reference in validation.external_references():
        by_model.setdefault(reference.model, set()).add(reference.id)
    if by_model:
        parts = ", ".join(f"{len(ids)} {_NOUNS[model]}" for model, ids in by_model.items())
        out.print(
            Text(f"Liens vers des objets absents du fichier : {parts} (vérifiés à l'intégration)")
        )


def _print_list(out: Console, title: str, lines: list[str]) -> None:
    if not lines:
        return
    shown = lines[:_SHOWN_ERRORS]
    more = f", {len(shown)} premiers" if len(lines) > len(shown) else ""
    out.print(Text(f"{title} ({len(lines)}{more}) :", style="bold"))
    for line in shown:
        out.print(Text(f"  - {line}"))
