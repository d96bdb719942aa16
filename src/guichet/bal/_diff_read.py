"""Reading the rows of an opened BAL file for the diff: only what the diff needs from each
row, no validation.

The rows come chunk by chunk as dictionary-encoded columns (the validator's
:class:`._columns.Chunk`): every value-level computation (the matching keys, normalized with
the validator's value readers and :func:`._text.normalize`, :mod:`._diff_values`) runs once
per distinct value of a chunk, and per row only numpy indexing gives each row its codes
(:class:`._diff_rows.SideRows`). Where cells are cut natively, the compared cells stay in
the text (:class:`._diff_rows.NativeCells`); elsewhere each row's compared cells are joined
into one string (:class:`._diff_rows.JoinedCells`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING

import numpy as np

from guichet.bal._columns import (
    Chunk,
    Coded,
    FieldCountMismatch,
    ListChunk,
    NativeChunk,
    native_split,
)
from guichet.bal._csv import parse_csv
from guichet.bal._diff_fields import Layout
from guichet.bal._diff_open import OpenedBal, UnreadableBalError, parse_message
from guichet.bal._diff_rows import (
    Codes,
    JoinedCells,
    NativeCells,
    RowCells,
    SideRows,
    Vocabulary,
    Voie,
    VoieKey,
    combine,
    concatenated,
)
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

if TYPE_CHECKING:
    from numpy.typing import NDArray

_SEPARATORS = "\x1f\x1e\x1d\x1c\x00"
"""Candidates for the separator and the end-of-row mark of :class:`JoinedCells` (see
:func:`_joined`): the first two absent from the text."""

_QUOTED_CHUNK_ROWS = 4096
_UID_PARTS = {"id_ban_commune": 0, "id_ban_toponyme": 1, "id_ban_adresse": 2}


def read_rows(
    opened: OpenedBal,
    compared: Sequence[str],
    reader: ValueReader,
    vocabulary: Vocabulary,
    *,
    address_ids: bool = True,
) -> SideRows:
    """The codes (in ``vocabulary``) and compared cells of every row of ``opened``; its BAN
    ids of addresses only with ``address_ids`` (the diff needs them when both files have
    some)."""
    rows = _RowsBuilder(opened, compared, reader, vocabulary, address_ids)
    try:
        for chunk in _chunks(opened):
            rows.add(chunk)
    except FieldCountMismatch:  # found while reading: the CSV step says which row
        raise UnreadableBalError("file.parse", parse_message(parse_csv(opened.text))) from None
    return rows.result()


def _chunks(opened: OpenedBal) -> Iterator[Chunk]:
    if opened.plain is not None:
        yield from opened.plain.chunks()
        return
    rows = opened.quoted_rows or []
    for start in range(0, len(rows), _QUOTED_CHUNK_ROWS):
        yield ListChunk(list(zip(*rows[start : start + _QUOTED_CHUNK_ROWS], strict=True)))


class _Columns:
    """One chunk's columns by field name; a field the file lacks reads as empty cells."""

    def __init__(self, chunk: Chunk, layout: Layout) -> None:
        self.chunk = chunk
        self.size = chunk.size
        self._layout = layout
        self._coded: dict[str, Coded] = {}

    def coded(self, name: str, *, unique: bool = False) -> Coded:
        found = self._coded.get(name)
        if found is None:
            index = self._layout.columns.get(name)
            if index is None:
                found = Coded([""], np.zeros(self.size, dtype=np.intp))
            else:
                found = self.chunk.coded(index, unique=unique)
            self._coded[name] = found
        return found

    def pairs(self, first: str, second: str) -> tuple[list[tuple[str, str]], NDArray[np.intp]]:
        """The distinct (``first``, ``second``) cells of the chunk and each row's pair."""
        values, codes = self.coded(first)
        others, other_codes = self.coded(second)
        if len(others) == 1:
            return [(value, others[0]) for value in values], codes
        distinct, pair_codes = np.unique(codes * len(others) + other_codes, return_inverse=True)
        width = len(others)
        return [(values[k // width], others[k % width]) for k in distinct.tolist()], pair_codes

    def cells(self, name: str) -> list[str]:
        """Every row's cell of ``name``, as strings."""
        values, codes = self.coded(name)
        return list(map(values.__getitem__, codes.tolist()))


def _mapped(coded: Coded, memo: Memo) -> NDArray[np.intp]:
    """Each row's ``memo[cell]`` (an integer code), computed once per distinct cell."""
    values, codes = coded
    table = np.fromiter(map(memo.__getitem__, values), np.intp, len(values))
    return table[codes]


class _RowsBuilder:
    """Accumulates :class:`SideRows` chunk by chunk; every value is read once (memo dicts)."""

    def __init__(
        self,
        opened: OpenedBal,
        compared: Sequence[str],
        reader: ValueReader,
        vocabulary: Vocabulary,
        address_ids: bool,
    ) -> None:
        layout = self.layout = opened.layout
        self.vocabulary = words = vocabulary
        self._cells = _cells_of(opened, compared)
        self._compared = list(compared)
        self._parts: dict[str, list[NDArray[np.intp]]] = {name: [] for name in _PARTS}
        self._has_ids = bool({"id_ban_adresse", "id_ban_toponyme"} & layout.fields)
        self._address_ids = address_ids and "id_ban_adresse" in layout.fields
        self._names = Codes()
        """The spellings of voie names of this file (as written, trimmed)."""
        self._voie_id_codes = Codes([""])
        self._ids: list[str] = []
        read_commune = reader_value(reader, "commune_insee")
        self._communes = Memo(lambda raw: words.communes[read_commune(raw)])
        self._cle_communes = Memo(lambda raw: words.communes[cle_commune(reader, raw)])
        self._voies = Memo(lambda cells: self._voie_codes(voie_names(reader, cells)))
        self._numeros = Memo(lambda raw: words.numeros[numero_key(reader, raw)])
        self._suffixes = Memo(lambda raw: words.suffixes[js_trim(raw) or None])
        self._uids = Memo(lambda raw: uid_ids(reader, raw))

    def _voie_codes(self, names: tuple[str, str]) -> tuple[int, int]:
        name, norm = names
        return self._names[name], self.vocabulary.voies[norm]

    def add(self, chunk: Chunk) -> None:
        if not chunk.size:
            return
        columns = _Columns(chunk, self.layout)
        communes = self._communes_of(columns)
        names, voies = self._voies_of(columns)
        parts = self._parts
        parts["communes"].append(communes)
        parts["voies"].append(voies)
        parts["names"].append(names)
        parts["numeros"].append(_mapped(columns.coded("numero"), self._numeros))
        parts["suffixes"].append(_mapped(columns.coded("suffixe"), self._suffixes))
        if self._address_ids:
            self._ids += self._id_texts(columns, "id_ban_adresse")
        if self._has_ids:
            voie_ids = self._voie_id_codes.of(self._id_texts(columns, "id_ban_toponyme"))
            parts["voie_ids"].append(voie_ids)
        self._add_cells(columns)

    def result(self) -> SideRows:
        rows = {name: concatenated(parts) for name, parts in self._parts.items()}
        names, voie_ids = rows.pop("names"), rows.pop("voie_ids")
        side = SideRows(
            self.vocabulary,
            self._cells,
            **rows,
            ids=self._ids if self._address_ids else None,
            voie_list={},
        )
        side.voie_list = self._voie_list(side, names, voie_ids if self._has_ids else None)
        return side

    def _voie_list(
        self, rows: SideRows, names: NDArray[np.intp], voie_ids: NDArray[np.intp] | None
    ) -> dict[VoieKey, Voie]:
        """Every voie of the file, in order of first appearance: its name is the spelling most
        of its rows use (the first one met on a tie), its id the first one met in its rows.
        Rows without a voie name belong to no voie."""
        at = np.flatnonzero(Vocabulary.has_voie(rows.voies))
        voies, names = rows.voie_keys[at], names[at]
        _, spelling_rows, counts = np.unique(
            combine(voies, names), return_index=True, return_counts=True
        )
        # per voie, its spellings by count (descending), then by first appearance
        ranked = spelling_rows[np.lexsort((spelling_rows, -counts, voies[spelling_rows]))]
        starts = np.flatnonzero(_starts(voies[ranked]))  # each voie's spellings start there
        best = ranked[starts]  # each voie's name: where it is first written
        # a voie first appears with the first of its spellings to appear
        first_rows = np.minimum.reduceat(ranked, starts) if len(ranked) else ranked
        ids = self._first_ids(rows, at, voie_ids)
        order = np.argsort(first_rows)
        firsts, bests = first_rows[order], best[order]
        commune_of, norm_of = self.vocabulary.communes.value_of, self.vocabulary.voies.value_of
        name_of = self._names.value_of
        found: dict[VoieKey, Voie] = {}
        for commune, norm, name, code in zip(
            rows.communes[at[firsts]].tolist(),
            rows.voies[at[firsts]].tolist(),
            names[bests].tolist(),
            voies[firsts].tolist(),
            strict=True,
        ):
            voie = Voie(commune_of[commune], name_of[name], ids.get(code))
            found[voie.commune, norm_of[norm]] = voie
        return found

    def _first_ids(
        self, rows: SideRows, at: NDArray[np.intp], voie_ids: NDArray[np.intp] | None
    ) -> dict[int, str]:
        """The first id (``id_ban_toponyme``) of each voie code of rows ``at`` that has one."""
        if voie_ids is None:
            return {}
        ided = at[voie_ids[at] != 0]  # 0: no id
        codes, first = np.unique(rows.voie_keys[ided], return_index=True)
        texts = self._voie_id_codes.value_of
        return dict(
            zip(
                codes.tolist(),
                [texts[code] for code in voie_ids[ided[first]].tolist()],
                strict=True,
            )
        )

    def _communes_of(self, columns: _Columns) -> NDArray[np.intp]:
        """``commune_insee`` where the validator reads a value there, else the commune part of
        ``cle_interop`` (the validator's ``codeCommune(row)``)."""
        communes = _mapped(columns.coded("commune_insee"), self._communes)
        if "cle_interop" not in self.layout.columns:
            return communes
        missing = np.flatnonzero(communes == self.vocabulary.communes[None])
        if len(missing):
            cles, codes = columns.coded("cle_interop")
            at = codes[missing].tolist()
            from_cles = map(self._cle_communes.__getitem__, map(cles.__getitem__, at))
            communes[missing] = np.fromiter(from_cles, np.intp, len(at))
        return communes

    def _voies_of(self, columns: _Columns) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """The codes of each row's voie name as written and normalized (``voie_nom``, else
        ``toponyme``)."""
        pairs, codes = columns.pairs("voie_nom", "toponyme")
        both = list(map(self._voies.__getitem__, pairs))
        names = np.fromiter((name for name, _ in both), np.intp, len(both))
        norms = np.fromiter((norm for _, norm in both), np.intp, len(both))
        return names[codes], norms[codes]

    def _id_texts(self, columns: _Columns, name: str) -> list[str]:
        """Each row's trimmed, lower-cased id in ``name`` (else in ``uid_adresse``), '' for
        none."""
        if "uid_adresse" not in self.layout.columns:
            # the ids of addresses hardly ever repeat: not looked for
            values, rows = columns.coded(name, unique=name == "id_ban_adresse")
        else:
            pairs, rows = columns.pairs(name, "uid_adresse")
            part = _UID_PARTS[name]
            values = [cell or self._uids[uid][part] for cell, uid in pairs]
        texts = id_keys(values)
        if len(texts) == columns.size and _is_identity(rows):  # (as coded unique)
            return texts
        return list(map(texts.__getitem__, rows.tolist()))

    def _add_cells(self, columns: _Columns) -> None:
        cells = self._cells
        if isinstance(cells, NativeCells):
            assert isinstance(columns.chunk, NativeChunk)
            cells.add(columns.chunk.bounds)
            return
        assert isinstance(cells, JoinedCells)
        fields = [self._field(columns, name) for name in self._compared]
        cells.rows += _joined(fields, columns.size, cells.separator, cells.end_of_row)

    def _field(self, columns: _Columns, name: str) -> list[str]:
        """Every row's cell of ``name`` (a BAN id: else the one of ``uid_adresse``)."""
        column = columns.cells(name)
        part = _UID_PARTS.get(name)
        if part is None or "uid_adresse" not in self.layout.columns:
            return column
        uids = self._uids
        raw_uids = columns.cells("uid_adresse")
        return [cell or uids[uid][part] for cell, uid in zip(column, raw_uids, strict=True)]


_PARTS = ("communes", "voies", "numeros", "suffixes", "names", "voie_ids")


def _starts(ordered: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Where each run of equal values of ``ordered`` starts."""
    starts = np.ones(len(ordered), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    return starts


def _is_identity(rows: NDArray[np.intp]) -> bool:
    return bool((rows == np.arange(len(rows))).all())


def _cells_of(opened: OpenedBal, compared: Sequence[str]) -> RowCells:
    """Native cells where the text is cut natively and every compared field is a column as
    written; else joined cells."""
    layout = opened.layout
    plain = opened.plain
    from_uid = "uid_adresse" in layout.columns and any(name in _UID_PARTS for name in compared)
    if plain is not None and native_split() and not from_uid:
        columns = tuple(layout.columns.get(name, -1) for name in compared)
        return NativeCells(plain.text, plain.delimiter, plain.width, columns)
    absent = list(islice((s for s in _SEPARATORS if s not in opened.text), 2))
    if len(absent) < 2:  # pragma: no cover - a text holding four of five control characters
        raise UnreadableBalError("file.parse", "caractères de contrôle inattendus dans le texte")
    return JoinedCells(absent[0], absent[1])


def _joined(fields: list[list[str]], size: int, separator: str, end_of_row: str) -> list[str]:
    """Each row's cells of ``fields`` joined by ``separator``.

    The columns are interleaved into one list, each row followed by ``end_of_row``, joined
    once and split at ``separator + end_of_row + separator``: one string made per row, no
    per-row tuple. Exact because neither character occurs in the text: no cell contains them,
    so that sequence only occurs at the ends of rows.
    """
    if not fields:
        return [""] * size
    width = len(fields) + 1
    interleaved: list[str] = [end_of_row] * (size * width)
    for position, column in enumerate(fields):
        interleaved[position::width] = column
    rows = separator.join(interleaved).split(separator + end_of_row + separator)
    rows[-1] = rows[-1][: -len(separator + end_of_row)]
    return rows
