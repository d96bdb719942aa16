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

Either way the row engine sees :class:`Chunk` objects, whose columns it reads
dictionary-encoded (:class:`Coded`): every check then runs once per distinct value, and per row
only as numpy index arrays.

Cutting lines into cells and encoding the columns is native (:mod:`._cells`, a small C
extension: :class:`NativeChunk`) where the extension was built, and pure Python otherwise, with
the same result (``tests/bal/test_native_cells.py``). A cell then becomes a Python string only
when it is the first of its value in its column of the chunk; ``str.split`` made one per cell,
which was most of the time of a big file. (pyarrow's CSV reader with quoting off was measured
too: no clear gain, as its cells still had to become Python strings; polars alone takes ~0.3 s
to import.)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import count, repeat
from typing import TYPE_CHECKING, NamedTuple, overload

import numpy as np

from guichet.bal import _fast
from guichet.bal._csv import (
    ParsedCsv,
    ParseError,
    guess_delimiter,
    guess_linebreak,
    parse_csv,
    rename_headers,
)

CHUNK_CHARS = 1 << 21
"""Text per chunk: big enough to amortize the per-chunk work (numpy calls and memo passes per
column). With native cells (few strings per chunk) 2M characters read the benchmark files
15-20 % faster than the 256k that suited ``str.split`` (whose cells, ~7x the text as Python
strings, had to stay in a core's cache); larger chunks gained little more."""

_QUOTED_CHUNK_ROWS = 4096
_UUID_OTHER_CASE, _UUID_BAD = 2, 3
"""Kinds of cells of ``_cells.uuid_words`` (0: empty, 1: a lower-case uuid, held as bytes)."""
_INTP_SIZE = np.dtype(np.intp).itemsize

if TYPE_CHECKING:
    from numpy.typing import NDArray

_cells = _fast.cells
"""The native splitter, or None (the pure-Python split)."""


class Coded(NamedTuple):
    """One column of a chunk: ``values[codes[i]]`` is the cell of row ``i``.

    ``values`` is usually duplicate-free, but need not be (a column whose values never repeat is
    not worth deduplicating): every consumer keys its results by value, not by code.
    """

    values: Sequence[str]
    codes: NDArray[np.intp]


FloatColumn = tuple[Coded, "NDArray[np.bool_]", "NDArray[np.float64]"]
"""A column read as floats: the column, which cells are not in the happy float shape
(``_bulk.FLOAT_HAPPY``), and ``float`` of the others (NaN for those)."""


class UuidColumn(NamedTuple):
    """A column read as uuids v4 (``_bulk.UUID_HAPPY``) without a string per cell."""

    coded: Coded
    """Every cell, made a string when read."""
    misses: NDArray[np.bool_]
    """The cells neither empty nor in the happy uuid shape."""
    other_case: NDArray[np.bool_]
    """The happy cells with an upper-case digit."""
    words: bytes
    """The 16 bytes of each happy cell in lower case, zero for the others."""


class Chunk(ABC):
    """Consecutive data rows, read column by column."""

    size: int

    @abstractmethod
    def coded(self, j: int, *, unique: bool = False) -> Coded:
        """Column ``j`` (each column is asked for once); ``unique``: its values are known to
        (nearly) never repeat, so do not look for repeats."""

    def floats(self, j: int) -> FloatColumn | None:
        """Column ``j`` read as floats where its cells lie, instead of :meth:`coded` (its cells
        then become strings only when read: most never are); None where this chunk cannot."""
        return None

    def uuids(self, j: int) -> UuidColumn | None:
        """Column ``j`` read as uuids where its cells lie, instead of :meth:`coded`, as
        :meth:`floats`; None where this chunk cannot."""
        return None

    @abstractmethod
    def row(self, i: int) -> list[str]:
        """Every cell of row ``i`` (the exact per-row path, for a few rows)."""


class ListChunk(Chunk):
    """A chunk held as Python lists of cells (``columns[j][i]``)."""

    def __init__(self, columns: Sequence[Sequence[str]]) -> None:
        self.columns = columns
        self.size = len(columns[0]) if columns else 0

    def coded(self, j: int, *, unique: bool = False) -> Coded:
        column = self.columns[j]
        if unique:
            return Coded(list(column), np.arange(len(column), dtype=np.intp))
        if column and column[-1] == column[0] and column.count(column[0]) == len(column):
            # one value (a commune, a source, an empty column): ``count`` compares at ~10 ns a
            # cell, hashing into a dict costs ~50
            return Coded([column[0]], np.zeros(len(column), dtype=np.intp))
        index = dict.fromkeys(column)
        if len(index) > len(column) // 2:  # nearly unique: not worth a dictionary
            return Coded(list(column), np.arange(len(column), dtype=np.intp))
        index.update(zip(index, count()))
        size = len(column)
        return Coded(list(index), np.fromiter(map(index.__getitem__, column), np.intp, size))

    def row(self, i: int) -> list[str]:
        return [column[i] for column in self.columns]


class NativeChunk(Chunk):
    """A chunk cut by :func:`._cells.split`: ``bounds`` holds, per row, where each cell starts
    in ``text`` (and one past the line's end); cells become strings only when asked for."""

    def __init__(self, text: str, rows: int, bounds: bytes, width: int) -> None:
        self._text = text
        self._bounds = bounds
        self.width = width
        self.size = rows

    @property
    def bounds(self) -> bytes:
        """Where each row's cells start (see :func:`._cells.split`)."""
        return self._bounds

    def coded(self, j: int, *, unique: bool = False) -> Coded:
        assert _cells is not None
        return self._as_coded(
            _cells.column(self._text, self._bounds, self.size, self.width, j, unique)
        )

    def _as_coded(self, read: tuple[list[str], bytes | None] | None) -> Coded:
        assert read is not None
        values, codes = read
        if codes is None:
            return Coded(values, np.arange(len(values), dtype=np.intp))
        return Coded(values, np.frombuffer(codes, dtype=np.intp))

    def floats(self, j: int) -> FloatColumn:
        assert _cells is not None
        bad, floats = _cells.floats_at(self._text, self._bounds, self.size, self.width, j)
        return (
            Coded(_CellsOf(self, j), np.arange(self.size, dtype=np.intp)),
            np.frombuffer(bad, dtype=bool).copy(),
            np.frombuffer(floats, dtype=np.float64),
        )

    def uuids(self, j: int) -> UuidColumn:
        assert _cells is not None
        kinds, words = _cells.uuid_words(self._text, self._bounds, self.size, self.width, j)
        kind = np.frombuffer(kinds, dtype=np.uint8)
        return UuidColumn(
            Coded(_CellsOf(self, j), np.arange(self.size, dtype=np.intp)),
            kind == _UUID_BAD,
            kind == _UUID_OTHER_CASE,
            words,
        )

    def row(self, i: int) -> list[str]:
        stride = self.width + 1
        at = np.frombuffer(
            self._bounds, dtype=np.intp, count=stride, offset=i * stride * _INTP_SIZE
        )
        starts = at.tolist()
        text = self._text
        return [text[starts[j] : starts[j + 1] - 1] for j in range(self.width)]

    def cell(self, i: int, j: int) -> str:
        """Cell ``j`` of row ``i``."""
        start, stop = np.frombuffer(
            self._bounds, dtype=np.intp, count=2, offset=(i * (self.width + 1) + j) * _INTP_SIZE
        ).tolist()
        return self._text[start : stop - 1]


class _CellsOf(Sequence[str]):
    """Column ``j`` of a :class:`NativeChunk`, a cell made a string when read."""

    def __init__(self, chunk: NativeChunk, j: int) -> None:
        self._chunk = chunk
        self._j = j

    def __len__(self) -> int:
        return self._chunk.size

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        size = self._chunk.size
        if not -size <= i < size:
            raise IndexError("cell index out of range")
        return self._chunk.cell(i % size, self._j)


def native_split() -> bool:
    """Whether :func:`parse_columns` cuts texts without quotes into :class:`NativeChunk`."""
    return _cells is not None


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
    """Raises :class:`FieldCountMismatch` when a row of a text without quotes has the wrong
    number of cells (detected while reading)."""
    plain: PlainLines | None = None
    """The data lines of a text without quotes (None with quotes): lets a caller read
    consecutive ranges of lines independently, instead of ``chunks``."""


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
    plain = PlainLines(text, start, delimiter, linebreak, len(fields), chunk_chars)
    return ColumnarCsv(linebreak, delimiter, fields, [], plain.chunks(), plain)


def _from_rows(parsed: ParsedCsv) -> ParsedCsv | ColumnarCsv:
    if parsed.fatal:
        return parsed
    rows = parsed.rows
    parsed.rows = []  # the chunks below own the rows now (freed as they are transposed)

    def chunks() -> Iterator[Chunk]:
        for start in range(0, len(rows), _QUOTED_CHUNK_ROWS):
            # every row has len(fields) cells (the parse is not fatal)
            yield ListChunk(list(zip(*rows[start : start + _QUOTED_CHUNK_ROWS], strict=True)))
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


@dataclass(frozen=True)
class PlainLines:
    """The data lines of a text without quotes, ``text[start:]``, cut into chunks of columns.

    Any line break of the text splits it into two ranges read exactly like the whole (the
    split is ``str.split(linebreak)`` either way): :meth:`ranges` cuts it for several readers.
    """

    text: str
    start: int
    delimiter: str
    linebreak: str
    width: int
    chunk_chars: int = CHUNK_CHARS

    def ranges(self, count: int, first: float | None = None) -> list[tuple[int, int]]:
        """Up to ``count`` consecutive (start, stop) ranges, cut at line breaks; together they
        hold every data line once, in order. Of about equal size, or the first one about
        ``first`` of the text and the others sharing the rest equally."""
        text, linebreak = self.text, self.linebreak
        size = len(text) - self.start
        share = 1 / count if first is None else first
        bounds, begin = [], self.start
        for k in range(1, count):
            at = share + (1 - share) * (k - 1) / (count - 1)
            cut = text.find(linebreak, self.start + int(size * at))
            if cut == -1:
                break
            if cut >= begin:  # tiny texts: two cuts may fall on the same line break
                bounds.append((begin, cut))
                begin = cut + len(linebreak)
        bounds.append((begin, len(text)))
        return bounds

    def chunks(self, start: int | None = None, stop: int | None = None) -> Iterator[Chunk]:
        """Chunks of columns for the lines of ``text[start:stop]`` (default: every data line);
        ``stop`` is the end of the text or a line break."""
        return _plain_chunks(
            self.text,
            self.start if start is None else start,
            len(self.text) if stop is None else stop,
            self.delimiter,
            self.linebreak,
            self.width,
            self.chunk_chars,
        )


def _plain_chunks(
    text: str, start: int, stop: int, delimiter: str, linebreak: str, width: int, chunk_chars: int
) -> Iterator[Chunk]:
    """Chunks of columns for the data lines of ``text[start:stop]`` (no quotes in the text)."""
    if native_split():
        yield from _native_chunks(text, start, stop, delimiter, linebreak, width, chunk_chars)
        return
    expected = width - 1
    while start < stop:
        end = text.find(linebreak, start + chunk_chars, stop)
        if end == -1:
            end = stop
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
        yield ListChunk([flat[j::width] for j in range(width)])


def _native_chunks(
    text: str, start: int, stop: int, delimiter: str, linebreak: str, width: int, chunk_chars: int
) -> Iterator[Chunk]:
    """:func:`_plain_chunks` cut by the native splitter, at the same line breaks."""
    assert _cells is not None
    while start < stop:
        end = text.find(linebreak, start + chunk_chars, stop)
        if end == -1:
            end = stop
        split = _cells.split(text, start, end, delimiter, linebreak, width)
        start = end + len(linebreak)
        if split is None:
            raise FieldCountMismatch
        rows, bounds = split
        if rows:
            yield NativeChunk(text, rows, bounds, width)
