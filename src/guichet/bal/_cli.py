"""``guichet bal validate FILE``: a readable summary, or JSON, and an exit status.

Exit status: 0 valid, 1 invalid, 2 unreadable (missing file, binary, unsupported encoding, parse
failure).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TextIO

from guichet.bal._cli_messages import looks_binary, os_error, parse_failure, unreadable_file
from guichet.bal._gc import gc_paused
from guichet.bal._json_rows import RowItems
from guichet.bal._report import Problem, Report
from guichet.bal._schema import PROFILES, label_of
from guichet.bal._validate import validate

if TYPE_CHECKING:  # rich is imported only to print (~30 ms of start-up the JSON output skips)
    import typer
    from rich.console import Console

EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def __getattr__(name: str) -> Any:
    """``app``, the typer application, made on first use: ``run_fast`` (a plain
    ``bal validate``) never imports typer (~40 ms of start-up)."""
    if name == "app":
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def _app() -> typer.Typer:
    import typer

    # the commands' annotations are strings naming `typer`: typer resolves them in this
    # module's globals when it reads the commands
    globals()["typer"] = typer
    app = typer.Typer(help="Valider une Base Adresse Locale (BAL).", no_args_is_help=True)
    app.command("diff")(diff_command)
    app.command("validate")(validate_command)
    app.command("fix")(fix_command)
    return app


_BIG_FILE = 5_000_000
_SHOWN_PROBLEMS = 50
_TAILS_KEPT = 50_000


def _parse_today(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        import typer

        raise typer.BadParameter("format attendu : AAAA-MM-JJ") from None


def diff_command(
    old: Annotated[Path, typer.Argument(help="Ancienne version de la BAL (CSV).")],
    new: Annotated[Path, typer.Argument(help="Nouvelle version de la BAL (CSV).")],
    as_json: Annotated[bool, typer.Option("--json", help="Différences en JSON.")] = False,
) -> None:
    """Compare deux versions d’une BAL : adresses ajoutées, supprimées, modifiées ; voies."""
    from guichet.bal._diff_cli import run_diff

    run_diff(old, new, as_json)


def validate_command(
    file: Annotated[Path, typer.Argument(help="Fichier BAL (CSV).")],
    profile: Annotated[
        str | None,
        typer.Option(help=f"Profil : {', '.join(PROFILES)} (détecté si absent)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Rapport JSON sur la sortie.")] = False,
    today: Annotated[str | None, typer.Option(help="Date du jour (AAAA-MM-JJ).")] = None,
    remediations: Annotated[
        bool,
        typer.Option(
            "--remediations",
            help="Avec --json : les corrections proposées par ligne (clé remediations).",
        ),
    ] = False,
) -> None:
    """Valide FILE comme le validateur de référence et résume le résultat."""
    _exit(_validate_file(file, profile, as_json, today, remediations))


def _validate_file(
    file: Path, profile: str | None, as_json: bool, today: str | None, remediations: bool = False
) -> int:
    """``validate_command``'s work; its exit status."""
    if profile is not None and profile not in PROFILES:
        _console(stderr=True).print(
            f"[red]Profil inconnu : {profile}[/red] (profils : {', '.join(PROFILES)})"
        )
        return EXIT_UNREADABLE
    size = _file_size(file)
    if size is None:
        return EXIT_UNREADABLE
    day = _parse_today(today)
    with gc_paused():  # the report is written from 100ks of objects: no cycles to look for
        if (
            size > _BIG_FILE
            and not remediations
            and _may_be_terminal()
            and (err := _console(stderr=True)).is_terminal
        ):
            report = _run_with_progress(file, profile, day, err)
        else:
            report = validate(file, profile, today=day, remediations=remediations)
        if as_json:
            _write_json(report, sys.stdout)
        elif report.file_error is None and not report.parse_ok:
            _print_lines(parse_failure(report, _looks_binary(file)), _console(soft_wrap=True))
        else:
            _print_text(report, _console(soft_wrap=True))
    return _exit_status(report)


def _file_size(file: Path) -> int | None:
    """The size of ``file``; one plain French line and None if it is not a readable file."""
    unreadable = unreadable_file(file)
    if unreadable is None:
        try:
            return file.stat().st_size
        except OSError as exc:
            unreadable = os_error(file, exc)
    _console(stderr=True, soft_wrap=True).print(
        unreadable, style="red", markup=False, highlight=False
    )
    return None


def _looks_binary(file: Path) -> bool:
    with file.open("rb") as f:
        return looks_binary(f.read(1024))


def _print_lines(lines: Iterable[str], console: Console) -> None:
    for line in lines:
        console.print(line, markup=False, highlight=False)


def fix_command(
    file: Annotated[Path, typer.Argument(help="Fichier BAL (CSV) à corriger.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Fichier corrigé à écrire.")],
    profile: Annotated[
        str | None,
        typer.Option(help=f"Profil : {', '.join(PROFILES)} (détecté si absent)."),
    ] = None,
    today: Annotated[str | None, typer.Option(help="Date du jour (AAAA-MM-JJ).")] = None,
) -> None:
    """Applique les corrections proposées (dates, commune, identifiants BAN) et écrit OUTPUT."""
    import typer

    from guichet.bal._fix import describe, fix  # only this command needs it

    if profile is not None and profile not in PROFILES:
        _console(stderr=True).print(f"Profil inconnu : {profile}", style="red", markup=False)
        raise typer.Exit(EXIT_UNREADABLE)
    if _file_size(file) is None:
        raise typer.Exit(EXIT_UNREADABLE)
    day = _parse_today(today)
    data = file.read_bytes()
    with gc_paused():
        result = fix(data, profile, today=day)
        if result.data is None:  # not a BAL the validator can read: say why, write nothing
            report = result.before
            if report.file_error is not None:
                lines = [f"Fichier non validable : {report.file_error.message}"]
            else:
                lines = parse_failure(report, looks_binary(data[:1024]))
            _print_lines([*lines, "Aucun fichier écrit."], _console(stderr=True, soft_wrap=True))
            raise typer.Exit(EXIT_UNREADABLE)
        try:
            output.write_bytes(result.data)
        except OSError as exc:
            _console(stderr=True).print(os_error(output, exc), style="red", markup=False)
            raise typer.Exit(EXIT_UNREADABLE) from None
        after = validate(result.data, result.before.profile, today=day)
        _print_lines(describe(result, after, str(output)), _console(soft_wrap=True))
    raise typer.Exit(_exit_status(after))


def run_fast(args: Sequence[str]) -> None:
    """``guichet bal ARGS`` without typer, when ``args`` are a plainly valid ``validate`` call
    (then the process exits here); anything else returns at once, for typer to handle with its
    own help and messages. Why: typer 0.29 builds pydantic adapters for the parameters, about
    80 ms of a 0.2 s start-up."""
    parsed = _plain_validate_args(args)
    if parsed is None:
        return
    status = _validate_file(*parsed)
    if _real_streams():
        _flush_and_leave(status)
    sys.exit(status)


_VALUED_OPTIONS = ("--profile", "--today")


def _plain_validate_args(args: Sequence[str]) -> tuple[Path, str | None, bool, str | None] | None:
    """(file, profile, as_json, today) of ``validate FILE [--profile P] [--json] [--today D]``
    (options anywhere, ``--opt=value`` too, each at most once), or None for anything else."""
    if not args or args[0] != "validate":
        return None
    file: str | None = None
    values: dict[str, str] = {}
    as_json = False
    rest = iter(args[1:])
    for arg in rest:
        name, equals, value = arg.partition("=")
        if name in _VALUED_OPTIONS and name not in values:
            if not equals:
                value = next(rest, "-")
            if value.startswith("-"):  # missing, or maybe an option: typer decides
                return None
            values[name] = value
        elif arg == "--json" and not as_json:
            as_json = True
        elif arg.startswith("-") or not arg or file is not None:
            return None  # help, unknown option, repeated option, extra argument
        else:
            file = arg
    today = values.get("--today")
    if file is None or (today is not None and not _is_date(today)):
        return None
    return Path(file), values.get("--profile"), as_json, today


def _is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _console(*, stderr: bool = False, soft_wrap: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=soft_wrap)


def _may_be_terminal() -> bool:
    """Whether rich may see a terminal on stderr (asked before importing it): a TTY, or one of
    the variables that make rich assume one."""
    overrides = ("FORCE_COLOR", "TTY_COMPATIBLE", "FORCE_TERMINAL")
    return sys.stderr.isatty() or any(name in os.environ for name in overrides)


def _exit(status: int) -> NoReturn:
    """Exit with ``status``. As the ``guichet`` command (the real stdout and stderr), at once
    once they are flushed: tearing down the report's millions of objects takes ~0.07 s on a
    300k-row file and is of no use. Elsewhere (a test runner replaces them) as typer does."""
    if _real_streams():
        _flush_and_leave(status)
    import typer

    raise typer.Exit(status)


def _real_streams() -> bool:
    """Whether this is the ``guichet`` command itself (the real stdout and stderr)."""
    out, err = sys.__stdout__, sys.__stderr__
    return out is not None and err is not None and sys.stdout is out and sys.stderr is err


def _flush_and_leave(status: int) -> NoReturn:
    for stream in (sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()
    os._exit(status)


def _run_with_progress(
    file: Path, profile: str | None, today: dt.date | None, console: Console
) -> Report:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("Validation"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} lignes"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("rows", total=0)  # (None would break the "{task.total:,}" column)
        return validate(
            file,
            profile,
            today=today,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )


def _write_json(report: Report, out: TextIO) -> None:
    """``json.dumps`` of the summary plus ``problems``, streamed: a big file has hundreds of
    thousands of row errors, listed twice (``rowErrors``, ``problems``)."""
    head = json.dumps(report.summary(row_errors=False), ensure_ascii=False)
    out.write(head[:-1])
    items = RowItems(report)
    if report.parse_ok:  # the summary's last key
        out.write(', "rowErrors": [')
        _write_batches(out, items.batches(0))
        out.write("]")
    out.write(', "problems": [')
    file_items = [item.encode() for item in map(_ProblemJson(), report.file_problems())]
    batches: Iterable[list[bytes]] = [file_items] if file_items else []
    if report.parse_ok:
        batches = chain(batches, items.batches(1))
    _write_batches(out, batches)
    out.write("]}\n")


def _write_batches(out: TextIO, batches: Iterable[list[bytes]]) -> None:
    """``", ".join`` of every batch's UTF-8 items, written batch by batch: to the binary
    buffer under ``out`` when it has one (the real stdout), else decoded."""
    raw = getattr(out, "buffer", None)
    if raw is not None:
        out.flush()  # what was written as text goes first
    separator = b""
    for batch in batches:
        data = b", ".join(batch)  # one item: itself, not a copy (the native batches: MBs)
        if raw is not None:
            raw.write(separator)
            raw.write(data)
        else:
            out.write((separator + data).decode())
        separator = b", "
    if raw is not None:
        raw.flush()


class _ProblemJson:
    """``json.dumps(problem.to_json())``, the part after ``line`` encoded once per distinct
    (column, value, code, level, message): rows repeat the same problems."""

    def __init__(self) -> None:
        self._tails: dict[tuple[object, ...], str] = {}

    def __call__(self, problem: Problem) -> str:
        key = (problem.column, problem.value, problem.code, problem.level, problem.message)
        return f'{{"line": {problem.line}, {self._tail(key, problem)}'

    def _tail(self, key: tuple[object, ...], problem: Problem) -> str:
        tail = self._tails.get(key)
        if tail is None:
            if len(self._tails) >= _TAILS_KEPT:  # distinct values (cells) must not pile up
                self._tails.clear()
            fields = problem.to_json()
            del fields["line"]
            tail = self._tails[key] = json.dumps(fields, ensure_ascii=False)[1:]
        return tail


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
    by_code = report.problem_counts()  # counted without making them: files can be huge
    messages = {p.code: p.message for p in reversed(list(report.file_problems()))}
    shown = list(
        islice(
            (p for p in report.problems() if p.level in ("E", "W") and p.line >= 0),
            _SHOWN_PROBLEMS,
        )
    )
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
        console.print(f"  [{level}] {code} ×{n} — {messages.get(code) or label_of(code)}")
    if shown:
        console.print("Premières lignes concernées :")
    for p in shown:
        value = "" if p.value is None else f" = {p.value!r}"
        column = f" {p.column}{value}" if p.column else ""
        console.print(f"  ligne {p.line + 1}{column} : [{p.level}] {p.code}")
