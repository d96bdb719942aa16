"""``validate()``: bytes in, :class:`Report` out, with the reference's verdicts."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import replace
from typing import TYPE_CHECKING

from guichet.bal._columns import FieldCountMismatch, parse_columns
from guichet.bal._crossrows import BanLookup, check_rows, commune_ban_ids
from guichet.bal._csv import ParsedCsv, parse_csv
from guichet.bal._encoding import (
    BalFileError,
    BinaryFileError,
    UnsupportedEncodingError,
    file_bytes,
    read_text,
)
from guichet.bal._fields import Column, compute_fields
from guichet.bal._gc import gc_paused
from guichet.bal._parallel import CrashedRows, Progress, read_rows
from guichet.bal._reader import RowsReader
from guichet.bal._report import FileError, Report
from guichet.bal._rows import ReferenceCrash
from guichet.bal._schema import get_profile
from guichet.bal._text import NormalizeError
from guichet.bal._values import ValueReader

if TYPE_CHECKING:  # the remediations' pass is imported when asked for
    from guichet.bal._remediations import NewUuid

Source = bytes | bytearray | memoryview | str | os.PathLike[str]


def detect_profile(columns: list[Column]) -> str:
    """``calculateProfile``: BAN id columns mean 1.4, and with ``toponyme`` 1.5."""
    names = {c.schema_name for c in columns}
    if {"id_ban_commune", "id_ban_toponyme", "id_ban_adresse"} <= names:
        return "1.5" if "toponyme" in names else "1.4"
    return "1.3"


def _read_text(source: Source) -> tuple[str, str]:
    """``read_text`` of the bytes or of the file (mapped when big: no copy of it is made)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return read_text(bytes(source))
    with file_bytes(source) as buf:
        return read_text(buf)


def validate(
    source: Source,
    profile: str | None = None,
    *,
    today: dt.date | None = None,
    ban_lookup: BanLookup | None = None,
    progress: Progress | None = None,
    processes: int | None = None,
    remediations: bool = False,
    new_uuid: NewUuid | None = None,
) -> Report:
    """Validate a BAL file (bytes or a path) against ``profile`` (auto-detected when None).

    ``today`` freezes the date used by ``date_der_maj`` checks; ``ban_lookup`` maps an INSEE code
    to its BAN commune id (None: offline, as the reference behaves without network).
    ``processes``: how many processes may read the rows (None: a big file is read by up to two,
    one of them forked for the call; 1: this process only). The report is the same either way.
    ``remediations``: also compute the reference's per-row remediations
    (:attr:`Report.remediations`; a second pass over the rows, so only on demand), with uuids
    from ``new_uuid`` (default: random uuid v4).
    """
    if profile is not None:
        get_profile(profile)
    with gc_paused():
        return _validate(
            source,
            profile,
            today=today,
            ban_lookup=ban_lookup,
            progress=progress,
            processes=processes,
            new_uuid=(new_uuid or _random_uuid()) if remediations else None,
        )


def _random_uuid() -> NewUuid:
    from guichet.bal._remediations import random_uuid

    return random_uuid


def _validate(
    source: Source,
    profile: str | None,
    *,
    today: dt.date | None,
    ban_lookup: BanLookup | None,
    progress: Progress | None,
    processes: int | None,
    new_uuid: NewUuid | None,
) -> Report:
    try:
        encoding, text = _read_text(source)  # strictly valid UTF-8 (the usual case) decoded once
    except BinaryFileError as exc:
        return _file_error(
            profile,
            None,
            "file.binary",
            _BINARY_MESSAGE.format(kind=exc.kind),
            "Error: Non-text file cannot be processed",
        )
    except UnsupportedEncodingError as exc:
        return _file_error(
            profile,
            None,
            exc.code,
            _ENCODING_MESSAGE.format(name=exc.encoding_name),
            f"Error: Encoding currently not supported: {exc.encoding_name}",
        )
    except BalFileError as exc:  # any other file the reference cannot read: reported, not raised
        return _file_error(profile, None, exc.code, exc.message, f"Error: {exc.reference_message}")
    parsed = parse_columns(text)
    if isinstance(parsed, ParsedCsv):
        return _fatal_parse(profile, encoding, parsed)
    base = Report(
        profile=profile or "1.3",
        encoding=encoding,
        linebreak=parsed.linebreak,
        delimiter=parsed.delimiter,
        original_fields=parsed.fields,
        parse_errors=parsed.errors,
    )
    fields = compute_fields(parsed.fields)
    value_reader = ValueReader(today=today or dt.date.today())
    try:
        table = read_rows(
            lambda: RowsReader(fields.columns, value_reader),
            parsed,
            0 if progress is None else text.count(parsed.linebreak) + 1,  # a scan: if needed
            progress,
            processes,
        )
    except FieldCountMismatch:  # the reference stops at the CSV step: report it exactly
        return _fatal_parse(profile, encoding, parse_csv(text))
    except CrashedRows as crashed:
        return _crash_report(replace(base, row_count=crashed.rows), crashed.crash)
    delimiter, linebreak = parsed.delimiter, parsed.linebreak
    kept = text if new_uuid is not None else None  # read again for the remediations
    del text, parsed  # the text is the biggest object: not kept for the cross-row checks
    base = replace(base, row_count=table.count)
    global_errors = [f"field.{name}.missing" for name in fields.not_found]
    commune_ids = commune_ban_ids(table, ban_lookup)
    try:
        global_errors += check_rows(table, commune_ids)
    except NormalizeError as exc:  # only reachable through names already normalized per row
        return _crash_report(base, ReferenceCrash(-1, str(exc), f"TypeError: {exc}"))
    global_errors += _file_codes(encoding, delimiter, linebreak)
    fixes = None
    if kept is not None and new_uuid is not None:
        again = parse_columns(kept)
        assert not isinstance(again, ParsedCsv)  # the same text parsed without a fatal error
        from guichet.bal._remediations import compute_remediations

        fixes = compute_remediations(
            again.chunks, fields.columns, value_reader, commune_ids, new_uuid
        )
    return replace(
        base,
        profile=profile or detect_profile(fields.columns),
        columns=fields.columns,
        not_found=fields.not_found,
        global_errors=list(dict.fromkeys(global_errors)),
        table=table,
        remediations=fixes,
    )


def _fatal_parse(profile: str | None, encoding: str, parsed: ParsedCsv) -> Report:
    return Report(
        profile=profile or "1.3",
        encoding=encoding,
        linebreak=parsed.linebreak,
        delimiter=parsed.delimiter,
        original_fields=parsed.fields,
        parse_errors=parsed.errors,
        row_count=len(parsed.rows),
        fatal_parse=True,
    )


def _file_codes(encoding: str, delimiter: str, linebreak: str) -> list[str]:
    codes = []
    if encoding != "utf-8":
        codes.append("file.encoding.non_standard")
    if delimiter != ";":
        codes.append("file.delimiter.non_standard")
    if linebreak not in ("\n", "\r\n"):
        codes.append("file.linebreak.non_standard")
    return codes


_BINARY_MESSAGE = (
    "Le fichier n’est pas un fichier texte (format détecté : {kind}). "
    "Une BAL doit être un fichier CSV encodé en UTF-8."
)
_ENCODING_MESSAGE = (
    "L’encodage du fichier ({name}) n’est pas pris en charge. "
    "Enregistrez le fichier en UTF-8 (recommandé) ou en Windows-1252."
)


def _file_error(
    profile: str | None, encoding: str | None, code: str, message: str, reference: str
) -> Report:
    return Report(
        profile=profile or "1.3",
        encoding=encoding,
        file_error=FileError(code=code, message=message, reference_error=reference),
    )


def _crash_report(base: Report, crash: ReferenceCrash) -> Report:
    error = FileError(
        code="file.validation_impossible",
        message=f"Ligne de données {crash.line + 1} : {crash.message}",
        reference_error=crash.reference_error,
    )
    return replace(base, file_error=error)
