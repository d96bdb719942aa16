"""French messages of the command line for files it cannot validate (issue #13).

One clear line for what the user gave (a directory, a missing or unreadable file, a file that is
not a CSV), then at most a few details: a non-CSV file gives one papaparse error per line, and
those are summarized, not listed.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

from guichet.bal._csv import ParseError
from guichet.bal._report import Report
from guichet.bal._schema import FIELDS

SHOWN_PARSE_ERRORS = 3


def unreadable_file(file: Path) -> str | None:
    """Why ``file`` cannot be read as a file (None: it can be opened)."""
    if file.is_dir():
        return f"{file} est un dossier : indiquez un fichier CSV (BAL)."
    try:
        with file.open("rb"):
            pass
    except OSError as exc:
        return os_error(file, exc)
    return None


def os_error(file: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return f"Fichier introuvable : {file}"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"Lecture du fichier refusée (droits insuffisants) : {file}"
    if exc.errno == errno.EISDIR:
        return f"{file} est un dossier : indiquez un fichier CSV (BAL)."
    # The system's own wording (strerror) is English: never shown.
    reason = _OS_REASONS.get(exc.errno or 0, f"erreur système {exc.errno}" if exc.errno else "")
    return f"Fichier illisible : {file}" + (f" ({reason})" if reason else "")


_OS_REASONS = {
    errno.ELOOP: "trop de liens symboliques, ou une boucle de liens",
    errno.ENOTDIR: "un élément du chemin n’est pas un dossier",
    errno.ENAMETOOLONG: "nom de fichier trop long",
    errno.EIO: "erreur d’entrée-sortie du disque",
    errno.ENXIO: "périphérique introuvable",
    errno.ENODEV: "périphérique introuvable",
    errno.EMFILE: "trop de fichiers ouverts",
    errno.ENFILE: "trop de fichiers ouverts",
    errno.ENOMEM: "mémoire insuffisante",
    errno.EBUSY: "fichier occupé",
    errno.ETXTBSY: "fichier occupé",
    errno.EOVERFLOW: "fichier trop volumineux pour être lu",
    errno.EFBIG: "fichier trop volumineux pour être lu",
}


_FIELD_COUNT = re.compile(r"expected (\d+) fields but parsed (\d+)")


def parse_failure(report: Report, data_looks_binary: bool) -> list[str]:
    """The line (and a few details) for a CSV the reference cannot parse (``parseOk: false``)."""
    errors = report.parse_errors
    counts = [e for e in errors if e.code in ("TooFewFields", "TooManyFields")]
    if not any(name.strip() for name in report.original_fields) and not report.row_count:
        return ["Fichier non validable : le fichier est vide (ni en-tête, ni ligne)."]
    if data_looks_binary:
        head = "le fichier ne semble pas être du texte (octets de contrôle ou binaires)."
    elif not any(name in FIELDS for name in report.original_fields):
        head = (
            "ce n’est pas un CSV de BAL : sa première ligne ne nomme aucune colonne de BAL. "
            "Une BAL est un CSV séparé par des points-virgules (;) dont la première ligne "
            "nomme les colonnes (cle_interop, numero, voie_nom…)."
        )
    elif any(e.code == "MissingQuotes" for e in errors):
        head = (
            'un guillemet (") ouvert n’est jamais refermé : la suite du fichier est lue '
            "comme une seule valeur."
        )
    elif counts:
        head = (
            f"{len(counts)} ligne(s) n’ont pas autant de colonnes que l’en-tête (un séparateur "
            "dans une valeur non entourée de guillemets ?)."
        )
    else:
        head = "le CSV ne peut pas être lu (" + _french(errors[0]) + ")." if errors else ""
    lines = [f"Fichier non validable : {head}"]
    # One line per distinct problem: a file often repeats the same one (same row, same code).
    details = list(dict.fromkeys(_french(error) for error in errors))
    lines += [f"  {detail}" for detail in details[:SHOWN_PARSE_ERRORS]]
    if len(details) > SHOWN_PARSE_ERRORS:
        lines.append(f"  … et {len(details) - SHOWN_PARSE_ERRORS} autre(s) erreur(s) de lecture")
    return lines


def _french(error: ParseError) -> str:
    where = f"ligne de données {error.row + 1} : " if error.row is not None else ""
    if error.code in ("TooFewFields", "TooManyFields"):
        found = _FIELD_COUNT.search(error.message)
        if found:
            expected, parsed = found.groups()
            return f"{where}{parsed} champ(s) au lieu de {expected}"
    text = {
        "MissingQuotes": "guillemet ouvrant jamais refermé",
        "InvalidQuotes": "guillemets mal placés dans une valeur",
        "UndetectableDelimiter": "séparateur de colonnes introuvable (; , ou tabulation)",
        "TooFewFields": "trop peu de champs",
        "TooManyFields": "trop de champs",
    }.get(error.code, f"erreur de lecture {error.code}")  # the parser's own text is English
    return f"{where}{text}"


def looks_binary(data: bytes) -> bool:
    """Control bytes (other than tab, line breaks, form feed) in the first KiB: not a text file
    (the reference decodes such a file as Windows-1252 and fails to parse it)."""
    head = data[:1024]
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return controls > len(head) // 100
