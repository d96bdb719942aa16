"""The CSV step seen column by column, in chunks of rows: what the row engine consumes.

``parse_columns(text)`` gives the same header, rows and errors as :func:`_csv.parse_csv`, but
the data rows come as chunks of *columns* (``chunk[j][i]`` = cell ``j`` of the chunk's row ``i``)
so that every cell of a column can be checked with one C-level pass (``map``, a regex over the
joined column), and so that only one chunk of cells is alive at a time: a 300k-row file holds
6.6M cells, ~450 MB as Python strings.

Text without ``"`` (papaparse's fast mode, nearly every BAL) is cut at line breaks into chunks
of about ``CHUNK_CHARS`` characters; a chunk whose lines do not all hold exactly one delimiter
less than the header has cells means a fatal ``TooFewFields``/``TooManyFields`` file: the
caller then asks :func:`_csv.parse_csv` for the exact errors (:class:`FieldCountMismatch`).
Text with quotes goes through ``parse_csv`` and its rows are transposed chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat

from guichet.bal._csv import (
    ParsedCsv,
    ParseError,
    guess_delimiter,
    guess_linebreak,
    parse_csv,
    rename_headers,
)

CHUNK_CHARS = 1 << 20
"""Text per chunk: big enough to amortize the per-chunk work, small enough to stay in cache."""

_QUOTED_CHUNK_ROWS = 4096

Column = Sequence[str]
Chunk = list[Column]


class FieldCountMismatch(Exception):
    """A data row has more or fewer cells than the header: the file is not parsed (fatal)."""


@dataclass
class ColumnarCsv:
    """``parse_csv``'s result with the rows as chunks of columns (consumed once)."""

    linebreak: str
    delimiter: str
    fields: list[str]
    errors: list[ParseError]
    """Non-fatal papaparse errors (``InvalidQuotes``); fatal files are returned as ParsedCsv."""
    chunks: Iterator[Chunk]
    """Raises :class:`FieldCountMismatch` (no quotes: detected while reading)."""


def parse_columns(text: str, chunk_chars: int = CHUNK_CHARS) -> ParsedCsv | ColumnarCsv:
    """``parse_csv(text)``, as a fatal ParsedCsv or as chunks of columns."""
    if '"' in text or not text.strip("\ufeff"):
        return _from_rows(parse_csv(text))
    full = text
    if text.startswith("\ufeff"):  # as parse_csv: CsvToJson's stripBom
        text = text[1:]
    linebreak = guess_linebreak(text)
    delimiter = guess_delimiter(text, linebreak, has_quote=False)
    if delimiter is None:  # UndetectableDelimiter is fatal: parse_csv reports it exactly
        return parse_csv(full)
    fields, start = _plain_header(text, delimiter, linebreak)
    chunks = _plain_chunks(text, start, delimiter, linebreak, len(fields), chunk_chars)
    return ColumnarCsv(linebreak, delimiter, fields, [], chunks)


def _from_rows(parsed: ParsedCsv) -> ParsedCsv | ColumnarCsv:
    if parsed.fatal:
        return parsed
    rows = parsed.rows
    parsed.rows = []  # the chunks below own the rows now (freed as they are transposed)

    def chunks() -> Iterator[Chunk]:
        for start in range(0, len(rows), _QUOTED_CHUNK_ROWS):
            # every row has len(fields) cells (the parse is not fatal)
            yield list(zip(*rows[start : start + _QUOTED_CHUNK_ROWS], strict=True))
        rows.clear()

    return ColumnarCsv(parsed.linebreak, parsed.delimiter, parsed.fields, parsed.errors, chunks())


def _plain_header(text: str, delimiter: str, linebreak: str) -> tuple[list[str], int]:
    """The header of a text without quotes and the offset of the line after it.

    As ``_csv._split_rows``: empty lines are skipped; the header is renamed only when it is the
    very first line, and a first line that is just U+FEFF is renamed to ``[""]`` then skipped
    (the next non-empty line becomes the header, not renamed).
    """
    start, first = 0, True
    while start <= len(text):
        end = text.find(linebreak, start)
        if end == -1:
            end = len(text)
        line = text[start:end]
        is_first, first = first, False
        start = end + len(linebreak)
        if not line:
            continue
        cells = line.split(delimiter)
        if is_first:
            cells = rename_headers(cells)
            if cells == [""]:
                continue
        return cells, start
    return [], len(text)


def _plain_chunks(
    text: str, start: int, delimiter: str, linebreak: str, width: int, chunk_chars: int
) -> Iterator[Chunk]:
    """Chunks of columns for the data lines of ``text[start:]`` (no quotes in the text)."""
    size = len(text)
    expected = width - 1
    while start < size:
        end = text.find(linebreak, start + chunk_chars)
        if end == -1:
            end = size
        lines = text[start:end].split(linebreak)
        start = end + len(linebreak)
        if "" in lines:  # skipEmptyLines: an empty line is the only one splitting to [""]
            lines = list(filter(None, lines))
            if not lines:
                continue
        if list(map(str.count, lines, repeat(delimiter))).count(expected) != len(lines):
            raise FieldCountMismatch
        # one split of the whole chunk then strided slices: no per-row list is ever built
        flat = delimiter.join(lines).split(delimiter)
        del lines
        yield [flat[j::width] for j in range(width)]
