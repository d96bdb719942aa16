"""``guichet bal validate FILE``: a readable summary, or JSON, and an exit status.

Exit status: 0 valid, 1 invalid, 2 unreadable (missing file, binary, unsupported encoding, parse
failure).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from guichet.bal._report import Problem, Report
from guichet.bal._schema import PROFILES
from guichet.bal._validate import validate

app = typer.Typer(help="Valider une Base Adresse Locale (BAL).", no_args_is_help=True)

EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2
_BIG_FILE = 5_000_000
_SHOWN_PROBLEMS = 50
_JSON_BATCH = 5_000
_TAILS_KEPT = 50_000


def _parse_today(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("format attendu : AAAA-MM-JJ") from None


@app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="Fichier BAL (CSV).")],
    profile: Annotated[
        str | None,
        typer.Option(help=f"Profil : {', '.join(PROFILES)} (détecté si absent)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Rapport JSON sur la sortie.")] = False,
    today: Annotated[str | None, typer.Option(help="Date du jour (AAAA-MM-JJ).")] = None,
) -> None:
    """Valide FILE comme le validateur de référence et résume le résultat."""
    err = Console(stderr=True)
    if profile is not None and profile not in PROFILES:
        err.print(f"[red]Profil inconnu : {profile}[/red] (profils : {', '.join(PROFILES)})")
        raise typer.Exit(EXIT_UNREADABLE)
    try:
        size = file.stat().st_size
    except OSError as exc:
        err.print(f"[red]Fichier illisible : {exc.strerror} ({file})[/red]")
        raise typer.Exit(EXIT_UNREADABLE) from None
    report = _run(file, profile, _parse_today(today), show_progress=size > _BIG_FILE, console=err)
    if as_json:
        _write_json(report, sys.stdout)
    else:
        _print_text(report, Console(soft_wrap=True))
    raise typer.Exit(_exit_status(report))


def _run(
    file: Path, profile: str | None, today: dt.date | None, *, show_progress: bool, console: Console
) -> Report:
    if not show_progress or not console.is_terminal:
        return validate(file, profile, today=today)
    with Progress(
        TextColumn("Validation"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} lignes"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("rows", total=None)
        return validate(
            file,
            profile,
            today=today,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )


def _write_json(report: Report, out: TextIO) -> None:
    """The summary plus ``problems``, streamed: a big file has hundreds of thousands of them."""
    head = json.dumps(report.summary(), ensure_ascii=False)
    out.write(head[:-1] + ', "problems": [')
    separator = ""
    for batch in _batches(map(_ProblemJson(), report.problems()), _JSON_BATCH):
        out.write(separator + ", ".join(batch))
        separator = ", "
    out.write("]}\n")


class _ProblemJson:
    """``json.dumps(problem.to_json())``, the part after ``line`` encoded once per distinct
    (column, value, code, level, message): rows repeat the same problems."""

    def __init__(self) -> None:
        self._tails: dict[tuple[object, ...], str] = {}

    def __call__(self, problem: Problem) -> str:
        key = (problem.column, problem.value, problem.code, problem.level, problem.message)
        tail = self._tails.get(key)
        if tail is None:
            if len(self._tails) >= _TAILS_KEPT:  # distinct values (cells) must not pile up
                self._tails.clear()
            fields = problem.to_json()
            del fields["line"]
            tail = self._tails[key] = json.dumps(fields, ensure_ascii=False)[1:]
        return f'{{"line": {problem.line}, {tail}'


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _exit_status(report: Report) -> int:
    if not report.parse_ok:
        return EXIT_UNREADABLE
    return EXIT_VALID if report.is_valid else EXIT_INVALID


def _print_text(report: Report, console: Console) -> None:
    if report.file_error is not None:
        console.print(f"[bold red]Fichier non validable[/bold red] : {report.file_error.message}")
        return
    console.print(
        f"Encodage {report.encoding} · séparateur {report.delimiter!r} · "
        f"{report.row_count:,} lignes · profil {report.profile}"
    )
    if not report.parse_ok:
        console.print("[bold red]Lecture du CSV impossible[/bold red]")
        for error in report.parse_errors:
            where = f" (ligne de données {error.row})" if error.row is not None else ""
            console.print(f"  {error.code} : {error.message}{where}")
        return
    by_code: Counter[tuple[str, str]] = Counter()
    messages: dict[str, str] = {}
    shown: list[Problem] = []
    for p in report.problems():  # one pass keeping only counts: files can be huge
        by_code[p.level, p.code] += 1
        messages.setdefault(p.code, p.message)
        if p.level in ("E", "W") and p.line >= 0 and len(shown) < _SHOWN_PROBLEMS:
            shown.append(p)
    counts: Counter[str] = Counter()
    for (level, _), n in by_code.items():
        counts[level] += n
    verdict = "[bold green]VALIDE[/]" if report.is_valid else "[bold red]INVALIDE[/]"
    console.print(
        f"{verdict} — {counts['E']} erreur(s), {counts['W']} avertissement(s), "
        f"{counts['I']} information(s)"
    )
    ranked = sorted(by_code.items(), key=lambda kv: ("EWI".index(kv[0][0]), -kv[1]))
    for (level, code), n in ranked:
        console.print(f"  [{level}] {code} ×{n} — {messages[code]}")
    if shown:
        console.print("Premières lignes concernées :")
    for p in shown:
        value = "" if p.value is None else f" = {p.value!r}"
        column = f" {p.column}{value}" if p.column else ""
        console.print(f"  ligne {p.line + 1}{column} : [{p.level}] {p.code}")
