"""Opening a BAL file for the diff: bytes or a path to text, header, delimiter and line break,
with the validator's own modules (:func:`._encoding.read_text`, :func:`._columns.parse_columns`,
:func:`._fields.compute_fields`). A file the validator could not read raises
:class:`UnreadableBalError`, with one French sentence.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from guichet.bal._columns import ColumnarCsv, ListChunk, PlainLines, parse_columns
from guichet.bal._csv import ParsedCsv
from guichet.bal._diff_fields import Layout, layout_of
from guichet.bal._encoding import (
    BalFileError,
    BinaryFileError,
    Buffer,
    UnsupportedEncodingError,
    file_bytes,
    read_text,
)

Source = bytes | bytearray | memoryview | str | os.PathLike[str]
"""Bytes of a file, or its path (a ``str`` is a path, as for :func:`guichet.bal.validate`)."""


class UnreadableBalError(Exception):
    """A file the diff cannot read: missing, binary, unsupported encoding, or a CSV the
    validator cannot parse. ``message`` is one French sentence for a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.side: str | None = None
        """``"old"`` or ``"new"`` once :func:`guichet.bal.diff` knows which file it is."""


@dataclass
class OpenedBal:
    """A decoded file and its header: what both sides need before their rows are read."""

    text: str
    encoding: str
    delimiter: str
    linebreak: str
    header: list[str]
    layout: Layout
    plain: PlainLines | None
    """The data lines of a text without quotes (the validator's chunking); None for a quoted
    text, whose rows are in ``quoted_rows``."""
    quoted_rows: list[tuple[str, ...]] | None = None

    def records(self) -> list[str] | list[tuple[str, ...]]:
        """Every data row: its line (text without quotes) or its cells (quoted text)."""
        if self.quoted_rows is not None:
            return self.quoted_rows
        assert self.plain is not None
        lines = self.text[self.plain.start :].split(self.linebreak)
        if "" in lines:  # papaparse's skipEmptyLines: the only lines that split to [""]
            lines = list(filter(None, lines))
        return lines

    def cells(self, record: str | tuple[str, ...]) -> Sequence[str]:
        """The cells of one of :meth:`records`."""
        return record if isinstance(record, tuple) else record.split(self.delimiter)


def open_bal(source: Source) -> OpenedBal:
    """Decode ``source`` and read its header as the validator does; raises
    :class:`UnreadableBalError` where the validator would report an unreadable file."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _open_bytes(bytes(source))
    try:
        with file_bytes(source) as buf:
            return _open_bytes(buf)
    except OSError as exc:
        raise UnreadableBalError("file.unreadable", _os_message(exc)) from None


def _open_bytes(buf: Buffer) -> OpenedBal:
    try:
        encoding, text = read_text(buf)
    except BinaryFileError as exc:
        message = f"ce n’est pas un fichier texte (format détecté : {exc.kind})"
        raise UnreadableBalError("file.binary", message) from None
    except UnsupportedEncodingError as exc:
        message = f"encodage non pris en charge ({exc.encoding_name})"
        raise UnreadableBalError("file.encoding.unsupported", message) from None
    except BalFileError as exc:
        raise UnreadableBalError(exc.code, exc.message) from None
    parsed = parse_columns(text)
    if isinstance(parsed, ParsedCsv):
        raise UnreadableBalError("file.parse", parse_message(parsed))
    return _opened(text, encoding, parsed)


def _os_message(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "fichier introuvable"
    if isinstance(exc, IsADirectoryError):
        return "c’est un dossier, pas un fichier"
    if isinstance(exc, PermissionError):
        return "lecture non autorisée"
    return f"lecture impossible ({exc.strerror or exc})"


def _opened(text: str, encoding: str, parsed: ColumnarCsv) -> OpenedBal:
    layout = layout_of(parsed.fields)
    common = (encoding, parsed.delimiter, parsed.linebreak, parsed.fields, layout)
    if parsed.plain is not None:
        return OpenedBal(parsed.plain.text, *common, plain=parsed.plain)
    rows: list[tuple[str, ...]] = []
    for chunk in parsed.chunks:
        assert isinstance(chunk, ListChunk)  # a quoted text's rows, transposed
        rows += zip(*chunk.columns, strict=True)
    return OpenedBal(text, *common, plain=None, quoted_rows=rows)


def parse_message(parsed: ParsedCsv) -> str:
    error = next(e for e in parsed.errors if e.code in _FATAL_MESSAGES)
    where = "" if error.row is None else f" (ligne de données {error.row + 1})"
    return f"CSV illisible : {_FATAL_MESSAGES[error.code]}{where}"


_FATAL_MESSAGES = {
    "MissingQuotes": "un guillemet n’est pas refermé",
    "UndetectableDelimiter": "séparateur de colonnes introuvable",
    "TooFewFields": "une ligne a moins de colonnes que l’en-tête",
    "TooManyFields": "une ligne a plus de colonnes que l’en-tête",
}
