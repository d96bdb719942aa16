"""Reading the rows of an opened BAL file for the diff: only what the diff needs from each
row, no validation.

Per row, the matching keys (normalized with the validator's value readers and
:func:`._text.normalize`, :mod:`._diff_values`) and the *projection*: the compared cells joined
by a separator that occurs in no cell, so that "unchanged" is one string comparison per pair of
rows. Cells are split chunk by chunk (the whole file's cells as Python strings would take ~20
times the text), and every value-level computation runs once per distinct value (memo
dictionaries read through ``map``, at C speed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import compress, islice, repeat
from typing import overload

from guichet.bal._columns import (
    FieldCountMismatch,
    ListChunk,
    NativeChunk,
    PlainLines,
    native_split,
)
from guichet.bal._csv import parse_csv
from guichet.bal._diff_fields import Layout
from guichet.bal._diff_open import OpenedBal, UnreadableBalError, parse_message
from guichet.bal._diff_rows import SideRows
from guichet.bal._diff_values import (
    Memo,
    cle_commune,
    id_keys,
    numero_key,
    reader_value,
    uid_ids,
    voie_names,
)
from guichet.bal._text import js_trim
from guichet.bal._values import ValueReader

_SEPARATORS = "\x1f\x1e\x1d\x1c\x00"
"""Candidates for the projection separator and the end-of-row mark (:func:`_projections`):
the first two absent from the text."""


def read_rows(opened: OpenedBal, compared: Sequence[str], today_reader: ValueReader) -> SideRows:
    """Keys, ids, voies and projections of every row of ``opened``."""
    absent = list(islice((s for s in _SEPARATORS if s not in opened.text), 2))
    if len(absent) < 2:  # pragma: no cover - a text holding four of five control characters
        raise UnreadableBalError("file.parse", "caractères de contrôle inattendus dans le texte")
    rows = _RowsBuilder(opened.layout, compared, today_reader, *absent)
    try:
        for columns in _column_chunks(opened, absent[1]):
            rows.add(columns)
    except FieldCountMismatch:  # found while reading: the CSV step says which row
        raise UnreadableBalError("file.parse", parse_message(parse_csv(opened.text))) from None
    return rows.result


def _column_chunks(opened: OpenedBal, mark: str) -> Iterator[Sequence[Sequence[str]]]:
    """The rows, chunk by chunk, as columns (``columns[j][i]``)."""
    if opened.plain is not None and native_split():
        for chunk in opened.plain.chunks():
            assert isinstance(chunk, NativeChunk)
            yield _NativeColumns(chunk)
        return
    if opened.plain is not None:
        yield from _plain_columns(opened.plain, mark)
        return
    rows = opened.quoted_rows or []
    for start in range(0, len(rows), _QUOTED_CHUNK_ROWS):
        yield list(zip(*rows[start : start + _QUOTED_CHUNK_ROWS], strict=True))


def _plain_columns(plain: PlainLines, mark: str) -> Iterator[Sequence[Sequence[str]]]:
    """``plain.chunks()``'s columns, without making each line a string first.

    A chunk's line breaks become a cell ``mark`` (absent from the text) and one split gives
    every cell: the rows are exactly the lines when the marks fall every ``width + 1`` cells.
    A chunk where they do not (a short or long row), or with an empty line, goes through
    ``plain.chunks`` for that range: the validator's own reading (it skips empty lines and
    raises :class:`FieldCountMismatch`).
    """
    text, linebreak, delimiter, width = plain.text, plain.linebreak, plain.delimiter, plain.width
    start, stop = plain.start, len(text)
    while start < stop:
        end = text.find(linebreak, start + plain.chunk_chars, stop)
        if end == -1:  # the last chunk: without the text's final line break
            end = stop - len(linebreak) if text.endswith(linebreak, start) else stop
        columns = _split_lines(text[start:end], delimiter, linebreak, mark, width)
        if columns is not None:
            yield columns
        else:  # an empty line or a row of another width: the validator's path decides
            for chunk in plain.chunks(start, end):
                assert isinstance(chunk, ListChunk)
                yield chunk.columns
        start = end + len(linebreak)


class _NativeColumns(Sequence[Sequence[str]]):
    """A native chunk's columns as lists of cells, each made on first use: a cell string is
    made once per distinct value of its column (``coded``), except in the columns whose values
    never repeat."""

    def __init__(self, chunk: NativeChunk) -> None:
        self.chunk = chunk
        self._made: dict[int, list[str]] = {}

    def __len__(self) -> int:
        return self.chunk.width

    @overload
    def __getitem__(self, j: int) -> Sequence[str]: ...
    @overload
    def __getitem__(self, j: slice) -> Sequence[Sequence[str]]: ...
    def __getitem__(self, j: int | slice) -> Sequence[str] | Sequence[Sequence[str]]:
        if isinstance(j, slice):
            return [self[k] for k in range(len(self))[j]]
        column = self._made.get(j)
        if column is None:
            values, codes = self.chunk.coded(j)
            column = self._made[j] = list(map(values.__getitem__, codes.tolist()))
        return column


def _split_lines(
    piece: str, delimiter: str, linebreak: str, mark: str, width: int
) -> list[list[str]] | None:
    """The columns of the lines of ``piece``, or None when a line is empty or does not have
    ``width`` cells."""
    if not piece or piece.startswith(linebreak) or linebreak * 2 in piece:
        return None
    lines = piece.count(linebreak) + 1
    flat = piece.replace(linebreak, delimiter + mark + delimiter).split(delimiter)
    stride = width + 1
    if len(flat) != lines * stride - 1 or flat[width::stride].count(mark) != lines - 1:
        return None
    return [flat[j::stride] for j in range(width)]


class _RowsBuilder:
    """Accumulates :class:`SideRows` chunk by chunk; every value is read once (memo dicts)."""

    def __init__(
        self,
        layout: Layout,
        compared: Sequence[str],
        reader: ValueReader,
        separator: str,
        end_of_row: str,
    ) -> None:
        self.layout = layout
        self.compared = list(compared)
        self.result = SideRows([], [], [], separator, {}, {}, end_of_row)
        self._end_of_row = end_of_row
        self._has_ids = bool({"id_ban_adresse", "id_ban_toponyme"} & layout.fields)
        self._communes = Memo(reader_value(reader, "commune_insee"))
        self._cle_communes = Memo(lambda raw: cle_commune(reader, raw))
        self._voies = Memo(lambda cells: voie_names(reader, cells))
        self._voies_only = Memo(lambda raw: voie_names(reader, (raw, "")))
        self._numeros = Memo(lambda raw: numero_key(reader, raw))
        self._suffixes = Memo(lambda raw: js_trim(raw) or None)
        self._uids = Memo(lambda raw: uid_ids(reader, raw))

    def add(self, columns: Sequence[Sequence[str]]) -> None:
        size = len(columns[0]) if columns else 0
        if not size:
            return
        cells = _ChunkCells(self.layout, columns, size, self._uids)
        result = self.result
        voies = self._voies_of(cells)
        communes = self._communes_of(cells)
        norms = [norm for _, norm in voies]
        numeros = map(self._numeros.__getitem__, cells.field("numero"))
        suffixes = map(self._suffixes.__getitem__, cells.field("suffixe"))
        result.keys += zip(communes, norms, numeros, suffixes, strict=False)  # maps: no len
        commune_voies = list(zip(communes, voies, strict=True))  # shared by both counts
        self._count_spellings(commune_voies)
        if self._has_ids:
            result.ids += id_keys(cells.field("id_ban_adresse"))
            self._first_voie_ids(commune_voies, id_keys(cells.field("id_ban_toponyme")))
        else:
            result.ids += repeat("", size)
        result.projections += _projections(
            cells, self.compared, size, result.separator, self._end_of_row
        )

    def _voies_of(self, cells: _ChunkCells) -> list[tuple[str, str]]:
        """(name as written, normalized name) of every row, one shared tuple per distinct
        cells."""
        if "toponyme" in self.layout.columns:
            return list(map(self._voies.__getitem__, cells.name_cells()))
        return list(map(self._voies_only.__getitem__, cells.field("voie_nom")))

    def _communes_of(self, cells: _ChunkCells) -> list[str | None]:
        """``commune_insee`` where the validator reads a value there, else the commune part of
        ``cle_interop`` (the validator's ``codeCommune(row)``)."""
        communes = list(map(self._communes.__getitem__, cells.field("commune_insee")))
        if None in communes and "cle_interop" in self.layout.columns:
            cles = cells.field("cle_interop")
            for i in [i for i, commune in enumerate(communes) if commune is None]:
                communes[i] = self._cle_communes[cles[i]]
        return communes

    def _count_spellings(self, voies: list[tuple[str | None, tuple[str, str]]]) -> None:
        """``voies``: (commune, (name, normalized name)) of every row of the chunk."""
        spellings = self.result.spellings
        for (commune, (name, norm)), count in Counter(voies).items():
            if norm:  # rows without a voie name belong to no voie
                key = ((commune, norm), name)
                spellings[key] = spellings.get(key, 0) + count

    def _first_voie_ids(
        self, voies: list[tuple[str | None, tuple[str, str]]], voie_ids: list[str]
    ) -> None:
        ided = list(compress(voies, voie_ids))
        # the chunk's first id of each voie: a dict built backwards keeps the first value
        in_chunk = dict(zip(reversed(ided), reversed(list(filter(None, voie_ids))), strict=True))
        first = self.result.voie_ids
        for (commune, (_, norm)), voie_id in in_chunk.items():
            if norm and (commune, norm) not in first:
                first[commune, norm] = voie_id


def _projections(
    cells: _ChunkCells, compared: list[str], size: int, separator: str, end_of_row: str
) -> list[str]:
    """Each row's compared cells joined by ``separator``.

    The columns are interleaved into one list, each row followed by ``end_of_row``, joined
    once and split at ``separator + end_of_row + separator``: one string made per row, no
    per-row tuple. Exact because neither character occurs in the text: no cell contains them,
    so that sequence only occurs at the ends of rows.
    """
    if not compared:
        return [""] * size
    native = cells.native_indexes(compared)
    if native is not None:
        chunk, indexes = native
        return chunk.joined(indexes, separator)
    width = len(compared) + 1
    interleaved: list[str] = [end_of_row] * (size * width)
    for position, name in enumerate(compared):
        interleaved[position::width] = cells.field(name)
    rows = separator.join(interleaved).split(separator + end_of_row + separator)
    rows[-1] = rows[-1][: -len(separator + end_of_row)]
    return rows


_QUOTED_CHUNK_ROWS = 4096


class _ChunkCells:
    """The cells of one chunk by field name (1.4 names: BAN ids may come from uid_adresse)."""

    def __init__(
        self, layout: Layout, columns: Sequence[Sequence[str]], size: int, uids: Memo
    ) -> None:
        self._layout = layout
        self._columns = columns
        self._size = size
        self._uids = uids
        self._uid_ids: list[tuple[str, str, str]] | None = None

    def field(self, name: str) -> Sequence[str]:
        """Every row's cell of ``name`` ('' where the file has no such column)."""
        index = self._layout.columns.get(name)
        column: Sequence[str] = [""] * self._size if index is None else self._columns[index]
        uid_part = _UID_PARTS.get(name)
        if uid_part is None or "uid_adresse" not in self._layout.columns:
            return column
        from_uid = [ids[uid_part] for ids in self._uid_column()]
        if index is None:
            return from_uid
        return [cell or other for cell, other in zip(column, from_uid, strict=True)]

    def native_indexes(self, names: Sequence[str]) -> tuple[NativeChunk, tuple[int, ...]] | None:
        """The native chunk and the column index of each of ``names`` (-1: no such column),
        when each of them is a column as written (not a BAN id read from uid_adresse)."""
        columns = self._columns
        if not isinstance(columns, _NativeColumns):
            return None
        if "uid_adresse" in self._layout.columns and any(n in _UID_PARTS for n in names):
            return None
        return columns.chunk, tuple(self._layout.columns.get(name, -1) for name in names)

    def _uid_column(self) -> list[tuple[str, str, str]]:
        if self._uid_ids is None:
            raw = self._columns[self._layout.columns["uid_adresse"]]
            self._uid_ids = list(map(self._uids.__getitem__, raw))
        return self._uid_ids

    def name_cells(self) -> Iterator[tuple[str, str]]:
        """(voie_nom, toponyme) cells of every row."""
        return zip(self.field("voie_nom"), self.field("toponyme"), strict=True)


_UID_PARTS = {"id_ban_commune": 0, "id_ban_toponyme": 1, "id_ban_adresse": 2}
