"""``guichet bal fix``: apply the reference's remediations to a file and write it back.

The reference only returns remediations as data (editors apply them on import); this writes a
corrected CSV that keeps the input's delimiter, line ending and column order, in UTF-8:

* a remediation is applied when it has a value, to the cell of its column;
* a missing ``commune_insee``, ``commune_nom`` or ``date_der_maj`` column is added at the end
  of the header (the existing columns keep their order);
* BAN ids (``id_ban_*``) are only filled in a file that already has BAN id columns: a file
  without them stays in its format (the reference proposes random ids for every row of a 1.3
  file, which are not ids issued by the BAN);
* rows are written from the parsed cells (quoted only where needed: delimiter, quote or line
  break in the cell), without the empty lines the reference ignores and without a BOM.

Then the result is validated again: it has fewer problems, and fixing it again changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from guichet.bal import _cog
from guichet.bal._csv import parse_csv
from guichet.bal._encoding import read_text
from guichet.bal._remediations import NewUuid
from guichet.bal._report import Report
from guichet.bal._validate import validate

_ADDABLE = ("commune_insee", "commune_nom", "date_der_maj")
"""Columns added when missing (required columns whose value the remediation knows)."""
_BAN_IDS = ("id_ban_commune", "id_ban_toponyme", "id_ban_adresse")
_LINEBREAK_NAMES = {"\n": "LF (Unix)", "\r\n": "CRLF (Windows)", "\r": "CR (ancien Mac)"}


@dataclass(frozen=True, slots=True)
class Change:
    line: int
    """Data row index (0-based, as in the reports)."""
    column: str
    old: str | None
    """The cell before (None: the column was added)."""
    new: str
    reason: str


@dataclass
class FixResult:
    before: Report
    data: bytes | None = None
    """The corrected file (None when the input cannot be read as a BAL)."""
    changes: list[Change] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)
    not_applied: Counter[str] = field(default_factory=Counter)
    """Remediations left out, by French reason."""


def fix(
    data: bytes,
    profile: str | None = None,
    *,
    today: dt.date | None = None,
    new_uuid: NewUuid | None = None,
) -> FixResult:
    """Apply the remediations of ``data``'s report; ``result.data`` is the corrected file."""
    report = validate(data, profile, today=today, remediations=True, new_uuid=new_uuid)
    result = FixResult(before=report)
    if not report.parse_ok or report.remediations is None:
        return result
    _, text = read_text(data)
    parsed = parse_csv(text)
    header = list(parsed.fields)
    rows = parsed.rows
    at = {
        c.schema_name: c.index
        for c in report.columns
        if c.schema_name is not None and c.locale is None
    }
    with_ids = any(name in at for name in _BAN_IDS)
    planned: dict[str, list[tuple[int, str, str]]] = {}  # column -> (line, value, reason)
    for line, remediations in report.remediations:
        for name, entry in remediations.items():
            skipped = _skip(name, entry.get("value"), with_ids)
            if skipped:
                result.not_applied[skipped] += 1
            elif name in at or name in _ADDABLE or name in _BAN_IDS:
                planned.setdefault(name, []).append((line, entry["value"], _reason(name, entry)))
    for name, edits in planned.items():
        index = at.get(name)
        if index is None:
            # a new column must have a value on every row: an empty cell would be an error
            if len(edits) != len(rows):
                result.not_applied[
                    f"colonne {name} absente et pas déductible sur chaque ligne"
                ] += len(edits)
                continue
            index = len(header)
            header.append(name)
            result.added_columns.append(name)
            for row in rows:
                row.append("")
        added = name in result.added_columns
        for line, value, reason in edits:
            old = rows[line][index]
            if old != value:
                rows[line][index] = value
                result.changes.append(Change(line, name, None if added else old, value, reason))
    result.changes.sort(key=lambda change: change.line)  # stable: columns in remediation order
    result.data = _write(header, rows, parsed.delimiter, parsed.linebreak, text)
    return result


def _skip(name: str, value: str | None, with_ids: bool) -> str | None:
    """Why a remediation is not applied (None: it is)."""
    if name in _BAN_IDS and not with_ids:
        return "identifiants BAN : le fichier n’a pas de colonnes id_ban_*"
    if value is None:
        return "identifiant BAN de la commune inconnu (sans accès à l’API BAN)"
    if name == "commune_insee" and _cog.classify(value.upper()) is None:
        return "commune_insee : le code commune de cle_interop n’existe pas"
    return None


def _reason(name: str, entry: dict[str, Any]) -> str:
    first = entry["errors"][0]
    if name == "date_der_maj":
        if first.endswith("date_invalide"):
            return "date réécrite au format AAAA-MM-JJ"
        return "date du jour (date absente, invalide ou dans le futur)"
    if name == "commune_insee":
        return "code INSEE de la commune tiré de cle_interop"
    if name == "commune_nom":
        return "nom officiel de la commune (COG)"
    return "identifiant BAN attribué"


def _quote(cell: str, delimiter: str) -> str:
    if delimiter in cell or '"' in cell or "\n" in cell or "\r" in cell:
        return '"' + cell.replace('"', '""') + '"'
    return cell


def _write(
    header: list[str], rows: Iterable[list[str]], delimiter: str, linebreak: str, text: str
) -> bytes:
    lines = [delimiter.join(_quote(cell, delimiter) for cell in row) for row in (header, *rows)]
    out = linebreak.join(lines)
    if text.endswith(("\n", "\r")):
        out += linebreak
    return out.encode("utf-8")


# --- what the command prints ------------------------------------------------------------------


def counts(report: Report) -> Counter[str]:
    """Problems by level (E, W, I), as ``guichet bal validate`` counts them."""
    levels: Counter[str] = Counter()
    for (level, _), n in report.problem_counts().items():
        levels[level] += n
    return levels


def describe(result: FixResult, after: Report, out: str, shown: int = 20) -> list[str]:
    """French lines telling what changed, and the verdict before and after."""
    before = result.before
    lines = [
        f"Fichier corrigé écrit : {out} (UTF-8, séparateur {before.delimiter!r}, fin de ligne "
        f"{_LINEBREAK_NAMES.get(before.linebreak or '', '?')})"
    ]
    if before.encoding != "utf-8":
        lines.append(f"Encodage d’origine {before.encoding} converti en UTF-8.")
    if not result.changes:
        lines.append("Aucune correction à appliquer : le contenu est inchangé.")
    else:
        touched = len({change.line for change in result.changes})
        lines.append(f"{len(result.changes)} valeur(s) corrigée(s) sur {touched} ligne(s) :")
        by_column = Counter((change.column, change.reason) for change in result.changes)
        for (column, reason), n in by_column.most_common():
            lines.append(f"  {column} : {n} — {reason}")
    if result.added_columns:
        lines.append("Colonne(s) ajoutée(s) en fin de ligne : " + ", ".join(result.added_columns))
    for reason, n in result.not_applied.most_common():
        lines.append(f"Non appliqué ({n}) : {reason}")
    if result.changes:
        lines.append("Premières corrections :")
        for change in result.changes[:shown]:
            old = "(colonne ajoutée)" if change.old is None else f"« {change.old} »"
            lines.append(f"  ligne {change.line + 1} · {change.column} : {old} → « {change.new} »")
    lines.append("Avant : " + _verdict(before))
    lines.append("Après : " + _verdict(after))
    return lines


def _verdict(report: Report) -> str:
    n = counts(report)
    verdict = "VALIDE" if report.is_valid else "INVALIDE"
    return f"{verdict} — {n['E']} erreur(s), {n['W']} avertissement(s), {n['I']} information(s)"
