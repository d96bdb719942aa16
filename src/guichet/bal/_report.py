"""The validation report: the reference's summary shape plus a per-problem detail in French."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from guichet.bal._csv import ParseError
from guichet.bal._fields import Column
from guichet.bal._rows import LineErrors, RowTable, error_codes, errors_in_order, first_seen
from guichet.bal._schema import (
    FIELDS,
    PROFILES,
    Level,
    code_in_format,
    column_in_format,
    get_profile,
    label_of,
    level_of,
)

if TYPE_CHECKING:
    from guichet.bal._remediations import RowRemediations

_LINEBREAK_NAMES = {"\n": "Unix", "\r\n": "Windows", "\r": "Old Mac/BSD"}

RowProblem = tuple[int, str, "str | None", "str | None", Level]
"""(line, code, header name, raw cell, level) of one row error."""


@dataclass(frozen=True, slots=True)
class FileError:
    """A file the reference cannot judge (it throws): binary, unsupported encoding, crash."""

    code: str
    message: str
    reference_error: str
    """What the reference itself says (it rejects instead of reporting)."""

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "referenceError": self.reference_error}


@dataclass(frozen=True, slots=True)
class RowView:
    """A row as :attr:`Report.rows` shows it."""

    line: int
    code_commune: str | None


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found, in a form a person can act on."""

    line: int
    """Data row index as the reference counts it (0-based, blank lines removed); -1 for the file."""
    column: str | None
    value: str | None
    code: str
    level: Level
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "value": self.value,
            "code": self.code,
            "level": self.level,
            "message": self.message,
        }


@dataclass(frozen=True)
class Report:
    """Result of :func:`guichet.bal.validate` for one profile.

    ``for_profile`` gives the same file seen through another profile without validating again.
    """

    profile: str
    encoding: str | None
    linebreak: str | None = None
    delimiter: str | None = None
    original_fields: list[str] = field(default_factory=list)
    parse_errors: list[ParseError] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    global_errors: list[str] = field(default_factory=list)
    table: RowTable = field(default_factory=RowTable)
    """Per-row values and errors (internal)."""
    row_count: int = 0
    file_error: FileError | None = None
    fatal_parse: bool = False
    remediations: list[tuple[int, RowRemediations]] | None = None
    """(line, remediations) of the rows that have some, when asked for (``validate(...,
    remediations=True)``): the reference's ``row.remediations``, same keys and values."""

    # -- verdicts ---------------------------------------------------------------------------

    @property
    def parse_ok(self) -> bool:
        return self.file_error is None and not self.fatal_parse

    @property
    def is_valid(self) -> bool:
        """No error-level code in this profile (the reference's ``profilesValidation`` verdict)."""
        return self.parse_ok and self.profiles_validation[self.profile]["isValid"]

    def for_profile(self, profile: str) -> Report:
        get_profile(profile)
        return replace(self, profile=profile)

    @cached_property
    def _errors_by_line(self) -> list[LineErrors]:
        return self.table.sorted_errors()

    @cached_property
    def own_errors(self) -> list[LineErrors]:
        """The rows' own errors, rows in order; :attr:`RowTable.flagged` has the rest."""
        return self.table.own_errors()

    @cached_property
    def rows_errors(self) -> list[str]:
        return error_codes(self.own_errors, self.table.flagged)

    @property
    def rows(self) -> list[RowView]:
        """Each row's line and commune (compatibility view; prefer :meth:`row_communes`)."""
        return [RowView(line, code) for line, code in self.row_communes()]

    def row_communes(self) -> Iterator[tuple[int, str | None]]:
        """(line, commune code) of every row: commune_insee, else the commune of cle_interop."""
        for line, commune in enumerate(self.table.communes):
            yield line, commune.code_commune

    def rows_outside(
        self, code_commune: str, limit: int
    ) -> tuple[int, list[tuple[int, str | None]]]:
        """How many rows are not of ``code_commune`` (:meth:`row_communes`), and the (line,
        commune code) of the first ``limit`` of them; rows share their commune objects, so
        each is decided once and the rows found with numpy (a file has 100ks of rows)."""
        codes, communes = self.table.coded("communes")
        outside = np.array([c.code_commune != code_commune for c in communes], dtype=bool)
        lines = np.flatnonzero(outside[codes]) if len(communes) else np.zeros(0, np.intp)
        first = [(line, self.table.communes[line].code_commune) for line in lines[:limit].tolist()]
        return len(lines), first

    @cached_property
    def unique_errors(self) -> list[str]:
        return list(dict.fromkeys([*self.global_errors, *self.rows_errors]))

    @cached_property
    def profiles_validation(self) -> dict[str, dict[str, Any]]:
        unique = self.unique_errors
        return {
            key: {
                "code": p.code,
                "name": p.name,
                "isValid": not any(level_of(key, code) == "E" for code in unique),
            }
            for key, p in PROFILES.items()
        }

    # -- profile views ----------------------------------------------------------------------

    @property
    def _format(self) -> str:
        return PROFILES[self.profile].format

    def profil_errors(self) -> list[dict[str, str]]:
        fmt = self._format
        return [
            {"code": code, "level": level_of(self.profile, code)}
            for code in self.unique_errors
            if code_in_format(code, fmt)
        ]

    def not_found_fields(self) -> list[dict[str, str]]:
        fmt = self._format
        return [
            {"schemaName": name, "level": level_of(self.profile, f"field.{name}.missing")}
            for name in self.not_found
            if fmt in FIELDS[name].formats
        ]

    def row_errors(self) -> Iterator[tuple[int, str, str | None, Level]]:
        """Every row error kept by this profile: (line, code, header name, level)."""
        for line, code, header, _, level in self.row_problems():
            yield line, code, header, level

    @property
    def errors_by_line(self) -> list[LineErrors]:
        """Every row's errors (before the profile's filter), rows in order; (code, header name
        or None, raw cell or None) tuples, often shared between rows."""
        return self._errors_by_line

    def keeps_column(self, header: str | None) -> bool:
        """Whether this profile keeps the row errors of a column (by its header name)."""
        return column_in_format(header, self._format)

    def row_problems(self) -> Iterator[RowProblem]:
        """(line, code, header name, raw cell, level) of every row error kept by this profile."""
        fmt, profile = self._format, self.profile
        kept: dict[str | None, bool] = {}  # column_in_format per header (few distinct)
        levels: dict[str, Level] = {}  # level_of per code (few distinct)
        # lazily: callers may stop early
        for line, errors in errors_in_order(self.own_errors, self.table.flagged):
            for code, header, value in errors:
                keep = kept.get(header)
                if keep is None:
                    keep = kept[header] = column_in_format(header, fmt)
                if keep:
                    level = levels.get(code)
                    if level is None:
                        level = levels[code] = level_of(profile, code)
                    yield line, code, header, value, level

    def problem_counts(self) -> Counter[tuple[Level, str]]:
        """How many :meth:`problems` there are of each (level, code), without making them: the
        rows' own errors are counted at C speed, the cross-row checks' by their arrays."""
        counts: Counter[tuple[Level, str]] = Counter(
            (problem.level, problem.code) for problem in self.file_problems()
        )
        if not self.parse_ok:
            return counts
        errors = chain.from_iterable(map(itemgetter(1), self.own_errors))
        by_column = Counter(map(itemgetter(0, 1), errors))  # (code, header): its errors
        flagged = self.table.flagged
        if flagged is not None:
            rows_of_set = np.bincount(flagged.which, minlength=len(flagged.sets)).tolist()
            for errors_of_set, rows in zip(flagged.sets, rows_of_set, strict=True):
                for code, header, _ in errors_of_set:
                    by_column[code, header] += rows
        # in the order problems() meets them (a caller may rank equal counts by it)
        for code, header in first_seen(self.own_errors, flagged, itemgetter(0, 1)):
            if self.keeps_column(header):
                counts[level_of(self.profile, code), code] += by_column[code, header]
        return counts

    def problems(self) -> Iterator[Problem]:
        """File-level problems first, then row problems in row order, with French messages."""
        yield from self.file_problems()
        if self.parse_ok:
            for line, code, header, value, level in self.row_problems():
                yield Problem(line, header, value, code, level, label_of(code))

    def file_problems(self) -> Iterator[Problem]:
        """The problems :meth:`problems` gives before the rows' ones."""
        if self.file_error is not None:
            yield Problem(-1, None, None, self.file_error.code, "E", self.file_error.message)
            return
        for error in self.parse_errors:
            yield Problem(
                -1 if error.row is None else error.row,
                None,
                None,
                f"parse.{error.code}",
                "E" if self.fatal_parse else "W",
                error.message,
            )
        if self.fatal_parse:
            return
        for entry in self.profil_errors():
            code = entry["code"]
            if code.startswith(("field.", "file.", "rows.")):
                yield Problem(-1, None, None, code, entry["level"], label_of(code))  # type: ignore[arg-type]

    # -- serialization ----------------------------------------------------------------------

    def summary(self, *, row_errors: bool = True) -> dict[str, Any]:
        """The reference's report without ``rows``, plus ``rowCount`` and ``rowErrors`` (the
        last key; left out when not ``row_errors``, for a caller that streams it)."""
        head: dict[str, Any] = {
            "encoding": self.encoding,
            "linebreak": self.linebreak,
            "delimiter": self.delimiter,
            "originalFields": self.original_fields,
            "parseOk": self.parse_ok,
            "parseErrors": [e.to_json() for e in self.parse_errors],
        }
        if self.file_error is not None:
            return {**head, "fileError": self.file_error.to_json(), "rowCount": self.row_count}
        if self.fatal_parse:
            return {**head, "rowCount": self.row_count}
        summary = {
            **head,
            "fields": [c.to_json() for c in self.columns],
            "notFoundFields": self.not_found_fields(),
            "fileValidation": self.file_validation(),
            "profilesValidation": self.profiles_validation,
            "globalErrors": self.global_errors,
            "rowsErrors": self.rows_errors,
            "uniqueErrors": self.unique_errors,
            "profile": self.profile,
            "profilErrors": self.profil_errors(),
        }
        if self.remediations is not None:
            summary["remediations"] = [[line, rem] for line, rem in self.remediations]
        summary["rowCount"] = self.row_count
        if row_errors:
            summary["rowErrors"] = [
                [line, code, level] for line, code, _, level in self.row_errors()
            ]
        return summary

    def file_validation(self) -> dict[str, dict[str, Any]]:
        linebreak = _LINEBREAK_NAMES.get(self.linebreak or "", "Inconnu")
        return {
            "encoding": {"value": self.encoding, "isValid": self.encoding == "utf-8"},
            "delimiter": {"value": self.delimiter, "isValid": self.delimiter == ";"},
            "linebreak": {"value": linebreak, "isValid": linebreak in ("Unix", "Windows")},
        }
