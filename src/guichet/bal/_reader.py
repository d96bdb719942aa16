"""The column pass: :class:`RowsReader` reads the rows of a file chunk by chunk (see
:mod:`._rows` for the two ways the row rules are applied, and why the result is exact).

Every cell of a column is checked with C-level passes over the whole column (memoized readers,
numpy shape checks or regexes over joined columns, numpy for the coordinates); the rows those
passes cannot prove clean go through the exact per-row path (:meth:`RowsReader._read_row`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from itertools import count, repeat
from operator import attrgetter, truth
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from guichet.bal import _bulk, _fast
from guichet.bal._columns import Chunk, Coded, UuidColumn
from guichet.bal._fields import Column, js_key_order
from guichet.bal._ids import AdresseIds
from guichet.bal._proj import lambert93_many
from guichet.bal._rows import (
    COORD_MARGIN_M,
    COORD_TOLERANCE_M,
    NORMALIZE_CRASH,
    TOPONYME_NUMERO,
    Cells,
    Commune,
    Names,
    ReferenceCrash,
    RowState,
    RowTable,
    check_row,
    commune_checks,
    kind_clean,
    names_checks,
)
from guichet.bal._text import NormalizeError
from guichet.bal._unique import countable_span, unique_first_inverse, unique_inverse
from guichet.bal._values import UNSET, ValueReader, ValueResult

if TYPE_CHECKING:
    from numpy.typing import NDArray


class _Memo(dict[Any, Any]):
    """A dict that computes missing entries: ``map(memo.__getitem__, column)`` runs at C speed
    and calls Python only once per distinct value."""

    def __init__(self, compute: Callable[[Any], Any]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self._compute(key)
        return value


class _ReadMemo(dict[str, ValueResult]):
    """``readValue`` of one column memoized."""

    def __init__(self, read: Callable[[str], ValueResult]) -> None:
        super().__init__()
        self._read = read

    def __missing__(self, raw: str) -> ValueResult:
        result = self[raw] = self._read(raw)
        return result

    def trim(self) -> None:
        """Forget everything past ``_MEMO_LIMIT`` values (a column whose values never repeat)."""
        if len(self) > _MEMO_LIMIT:
            self.clear()


_BULK_PATTERNS = {
    "x": _bulk.FLOAT_HAPPY,
    "y": _bulk.FLOAT_HAPPY,
    "long": _bulk.FLOAT_HAPPY,
    "lat": _bulk.FLOAT_HAPPY,
    "cle_interop": _bulk.CLE_HAPPY,
    "id_ban_commune": _bulk.UUID_HAPPY,
    "id_ban_toponyme": _bulk.UUID_HAPPY,
    "id_ban_adresse": _bulk.UUID_HAPPY,
    "cad_parcelles": _bulk.CAD_HAPPY,
}
_NEAR_UNIQUE = frozenset({"cle_interop", "uid_adresse", "id_ban_adresse", "x", "y", "long", "lat"})
"""Columns whose values (nearly) never repeat in a real file: looking for repeats costs a pass."""
_COMMUNE_FIELDS = ("cle_interop", "commune_insee", "commune_nom", "commune_deleguee_insee")
"""The cells checks 2, 3 and 8 read (cle_interop by its commune part)."""
_NAME_FIELDS = ("voie_nom", "toponyme", "lieudit_complement_nom")
_KIND: dict[int | None, int | None] = {None: None, TOPONYME_NUMERO: TOPONYME_NUMERO}
"""numero → a numero of the same kind for checks 5 and 7 (any other number: 1)."""
_ID_FIELDS = ("id_ban_commune", "id_ban_toponyme", "id_ban_adresse")
_HAPPY_CLE_TAIL = "_0001_00001"
"""Makes a happy cle_interop of a commune part: no error but the commune's own."""

Ids = tuple[list[str | None], list[str | None], AdresseIds]


class RowsReader:
    """Reads the rows of one file, chunk after chunk, into a :class:`RowTable`."""

    def __init__(self, columns: list[Column], reader: ValueReader) -> None:
        self._width = len(columns)
        self._known = [
            (c.index, c.name, c.normalized_name, c.schema_name, c.locale is not None)
            for c in js_key_order(columns)
            if c.schema_name is not None
        ]
        # the schema columns the checks read (never a localized one): schema name -> index
        self._at = {schema: i for i, _, _, schema, localized in self._known if not localized}
        self._prefixed: dict[tuple[str, str], str] = {}
        self._memos = {
            index: _ReadMemo(reader.reader(schema, localized))
            for index, _, _, schema, localized in self._known
        }
        self._communes = _Memo(self._commune_for_key)
        self._names = _Memo(self._names_for_key)
        self._kinds = _Memo(kind_clean)
        self._cle_commune_clean = _Memo(self._cle_commune_is_clean)
        self._numero5 = _Memo(lambda n: f"{n:05d}" if n else None)
        self._upper = _Memo(str.upper)
        self._chunk_floats: dict[int, NDArray[np.float64]] = {}
        """The chunk's float columns by index, when read with their happy shapes."""
        self._float_misses: dict[int, NDArray[np.bool_]] = {}
        """The cells of those not in the happy shape, when read with the chunk's floats."""
        self._adresse_ids: UuidColumn | None = None
        """The chunk's id_ban_adresse column, when read as uuids (no string per cell)."""
        self._uuid_misses: dict[int, NDArray[np.bool_]] = {}
        """Its cells neither empty nor in the happy shape, by index, when read so."""
        self.table = RowTable()
        self.rows_seen = 0
        """Rows given so far, the chunk being read included."""
        if "suffixe" in self._at:
            self.table.suffixe = []
        if "uid_adresse" in self._at or any(name in self._at for name in _ID_FIELDS):
            self.table.id_commune, self.table.id_toponyme = [], []
            self.table.id_adresse = AdresseIds()
            self.table.code_voie = []

    # -- exact path -------------------------------------------------------------------------

    def _code(self, normalized: str, error: str) -> str:
        key = (normalized, error)
        code = self._prefixed.get(key)
        if code is None:
            code = self._prefixed[key] = f"{normalized}.{error}"
        return code

    def _read_row(
        self,
        line: int,
        cells: Sequence[str],
        checks: Callable[[RowState, Cells], None],
        known: Sequence[tuple[int, str, str, str, bool]] | None = None,
    ) -> RowState:
        """``readValue`` on every known cell (or only ``known``'s), then ``checks``: the
        reference's own loop."""
        state = RowState(line=line)
        parsed: dict[str, Any] = {}
        raw: dict[str, str] = {}
        additional: dict[str, Any] = {}
        errors = state.errors
        for index, header, normalized, _, _ in self._known if known is None else known:
            value = cells[index]
            raw[normalized] = value
            result: ValueResult = self._memos[index][value]
            for error in result.errors:
                errors.append((self._code(normalized, error), header, value))
            if result.additional is not None:
                additional[normalized] = result.additional
            if result.value is not UNSET:
                parsed[normalized] = result.value
        try:
            checks(state, Cells(parsed, raw, additional))
        except NormalizeError as exc:  # KNOWN: the reference throws on the word "constructor"
            raise ReferenceCrash(line, NORMALIZE_CRASH, f"TypeError: {exc}") from None
        return state

    def _made_up_row(
        self, names: Sequence[str], key: Sequence[str], checks: Callable[[RowState, Cells], None]
    ) -> RowState | None:
        """The exact path on a row made of ``key``'s cells; None if it crashes.

        Only those cells are read: the other (empty) ones give no value the checks read and
        only field codes, which the callers ignore.
        """
        cells = [""] * self._width
        for name, value in zip(names, key, strict=True):
            cells[self._at[name]] = value + _HAPPY_CLE_TAIL if name == "cle_interop" else value
        wanted = set(names)
        known = [column for column in self._known if column[2] in wanted]
        try:
            return self._read_row(-1, cells, checks, known)
        except ReferenceCrash:
            return None

    def _commune_for_key(self, key: tuple[str, ...]) -> Commune:
        names = [name for name in _COMMUNE_FIELDS if name in self._at]
        state = self._made_up_row(names, key, commune_checks)
        if state is None:
            return Commune(None, None, clean=False)
        return state.commune(_no_row_code(state))

    def _names_for_key(self, key: tuple[str, ...]) -> Names:
        names = [name for name in _NAME_FIELDS if name in self._at]
        state = self._made_up_row(names, key, names_checks)
        if state is None:
            return Names(None, None, clean=False)
        return state.names(_no_row_code(state))

    def _cle_commune_is_clean(self, commune: str) -> bool:
        return not self._memos[self._at["cle_interop"]][commune + _HAPPY_CLE_TAIL].errors

    # -- column pass ------------------------------------------------------------------------

    def read_chunk(self, chunk: Chunk) -> None:
        """Read the rows of ``chunk``; raises :class:`ReferenceCrash` where the reference throws."""
        start = self.table.count
        size = chunk.size
        self.rows_seen += size
        if not size:
            return
        self._chunk_floats.clear()
        self._float_misses.clear()
        self._adresse_ids = None
        self._uuid_misses.clear()
        cols: dict[int, Coded] = {}
        for index, _, _, schema, localized in self._known:
            cols[index] = self._column(chunk, index, schema, localized)
        dirty = np.zeros(size, dtype=bool)
        bulk_bad: dict[int, NDArray[np.bool_]] = {}
        cle = self._at.get("cle_interop")
        cle_commune = None if cle is None else _derived(cols[cle], _bulk.CLE_COMMUNE)
        for known in self._known:
            self._column_pass(start, known, cols[known[0]], dirty, bulk_bad, cle_commune)
        numero = self._parsed(cols, "numero", size)
        communes = self._grouped(cols, _COMMUNE_FIELDS, self._communes, dirty, size, cle_commune)
        names = self._grouped(cols, _NAME_FIELDS, self._names, dirty, size)
        keys, kind_of = _combine(
            [
                _recoded(list(map(_KIND.get, numero.values, repeat(1))), numero.codes),
                self._part(cols, "position", size),
                _recoded(list(map(truth, map(_voie_nom, names.values))), names.codes),
            ],
            size,
        )
        dirty |= ~_fast.truths(map(self._kinds.__getitem__, keys))[kind_of]
        self._numero_candidates(cols, numero, dirty)
        _coordinate_candidates(self._floats(cols, bulk_bad, size), dirty)
        numeros: list[int | None] = _take(numero)
        ids = self._ids(cols, size, dirty)
        if ids is not None:  # check 9 in bulk: rows where no branch of _check_ban_ids fires
            commune, toponyme, adresse = (
                _fast.truths(ids[0]),
                _fast.truths(ids[1]),
                ids[2].present(),
            )
            toponyme_row = _fast.equals(numeros, TOPONYME_NUMERO)
            uses_none = ~(commune | toponyme | adresse)
            dirty |= ~(uses_none | (commune & toponyme & (adresse | toponyme_row)))
        self._read_dirty(chunk, start, dirty, numeros, _take(communes), _take(names), cols, ids)
        for memo in self._memos.values():
            memo.trim()

    def _column(self, chunk: Chunk, index: int, schema: str, localized: bool) -> Coded:
        """Column ``index`` coded, or read as floats or as uuids where the chunk can."""
        floats = self._float_column(chunk, index, schema, localized)
        if floats is not None:
            return floats
        if schema == "id_ban_adresse" and not localized and not self._memos[index][""].errors:
            # (an empty cell is then no id and no error: the uuids' misses leave it out)
            found = chunk.uuids(index)
            if found is not None:
                self._adresse_ids, self._uuid_misses[index] = found, found.misses
                return found.coded
        return chunk.coded(index, unique=schema in _NEAR_UNIQUE and not localized)

    def _float_column(self, chunk: Chunk, index: int, schema: str, localized: bool) -> Coded | None:
        """A float column read as floats where the chunk can (None: to be coded)."""
        if localized or _BULK_PATTERNS.get(schema) != _bulk.FLOAT_HAPPY:
            return None
        found = chunk.floats(index)
        if found is None:
            return None
        coded, self._float_misses[index], self._chunk_floats[index] = found
        return coded

    def _column_pass(
        self,
        start: int,
        known: tuple[int, str, str, str, bool],
        coded: Coded,
        dirty: NDArray[np.bool_],
        bulk_bad: dict[int, NDArray[np.bool_]],
        cle_commune: _Derived | None,
    ) -> None:
        """One column: its field errors; the rows whose value the row checks cannot take as
        is made ``dirty``; the values not in the happy shape of a bulk column in ``bulk_bad``."""
        index, header, normalized, schema, localized = known
        pattern = None if localized else _BULK_PATTERNS.get(schema)
        if pattern is None:
            bad = self._memo_bad(index, coded.values)
        else:
            bad = bulk_bad[index] = self._bulk_bad(index, coded.values, pattern)
            if schema == "cle_interop" and cle_commune is not None:
                # the commune part of a happy shape may still be wrong
                clean = map(self._cle_commune_clean.__getitem__, cle_commune.values)
                bad |= ~_fast.truths(clean)[cle_commune.of_value]
            if schema in ("x", "y") or schema in _ID_FIELDS:
                # an empty x or y only skips the distance check; an empty id is no id, which
                # check 9 and the cross-row checks read in bulk (``_ids``)
                dirty |= _but_empty(bad, coded.values)[coded.codes]
            elif schema != "cad_parcelles":  # the checks read the others' values
                dirty |= bad[coded.codes]
            bad = self._with_errors(index, coded.values, bad)
        if bad.any():
            rows = np.flatnonzero(bad[coded.codes]).tolist()
            self._field_errors(start, rows, coded, index, header, normalized)

    def _with_errors(
        self, index: int, values: Sequence[str], bad: NDArray[np.bool_]
    ) -> NDArray[np.bool_]:
        """Which of the ``bad`` values read with errors (an empty cell often has none)."""
        memo = self._memos[index]
        at = np.flatnonzero(bad).tolist()
        out = np.zeros(len(values), dtype=bool)
        out[at] = [bool(memo[values[i]].errors) for i in at]
        return out

    def _read_dirty(
        self,
        chunk: Chunk,
        start: int,
        dirty: NDArray[np.bool_],
        numeros: list[int | None],
        communes: list[Commune],
        names: list[Names],
        cols: dict[int, Coded],
        ids: Ids | None,
    ) -> None:
        """The exact path on the dirty rows (its results replace the column pass's), then the
        chunk's rows appended to the table."""
        suffixes = None if self.table.suffixe is None else _take(self._parsed(cols, "suffixe", 0))
        code_voie = self._code_voie(cols, chunk.size)
        rows = np.flatnonzero(dirty).tolist()
        adresses: list[str | None] = []
        for i in rows:
            state = self._read_row(start + i, chunk.row(i), check_row)
            if state.errors:
                self.table.errors[start + i] = state.errors
            else:
                self.table.errors.pop(start + i, None)
            numeros[i], communes[i], names[i] = state.numero, state.commune(), state.names()
            if suffixes is not None:
                suffixes[i] = state.suffixe
            if ids is not None and code_voie is not None:
                ids[0][i], ids[1][i] = state.id_commune, state.id_toponyme
                adresses.append(state.id_adresse)
                code_voie[i] = state.code_voie
        if ids is not None and code_voie is not None:
            ids[2].assign(rows, adresses)
        table = self.table
        table.count += chunk.size
        table.numero += numeros
        table.communes += communes
        table.names += names
        if table.suffixe is not None and suffixes is not None:
            table.suffixe += suffixes
        if ids is not None and code_voie is not None:
            for kept, new in zip(
                (table.id_commune, table.id_toponyme, table.code_voie),
                (ids[0], ids[1], code_voie),
                strict=True,
            ):
                assert kept is not None
                kept += new
            assert table.id_adresse is not None
            table.id_adresse.extend(ids[2])

    def _memo_bad(self, index: int, values: Sequence[str]) -> NDArray[np.bool_]:
        """Which values of a memoized column read with errors."""
        return _fast.truths(map(_errors, map(self._memos[index].__getitem__, values)))

    def _bulk_bad(self, index: int, values: Sequence[str], pattern: str) -> NDArray[np.bool_]:
        """Which values are not in the happy shape (they may or may not have errors)."""
        if pattern == _bulk.FLOAT_HAPPY and (misses := self._float_misses.get(index)) is not None:
            return misses  # read with the chunk's floats (``_column``)
        if pattern == _bulk.FLOAT_HAPPY and (native := _fast.native_floats(values)) is not None:
            bad, self._chunk_floats[index] = native  # the floats are read at once
            return bad
        if pattern == _bulk.UUID_HAPPY and (misses := self._uuid_misses.get(index)) is not None:
            return misses  # read with the chunk's uuids (``_column``)
        if pattern == _bulk.UUID_HAPPY and (found := _fast.native_uuid_misses(values)) is not None:
            return found
        if pattern == _bulk.CLE_HAPPY and (found := _fast.native_cle_misses(values)) is not None:
            return found
        bad = np.zeros(len(values), dtype=bool)
        bad[_bulk.misses(values, pattern)] = True
        return bad

    def _field_errors(
        self, start: int, rows: list[int], coded: Coded, index: int, header: str,
        normalized: str,
    ) -> None:  # fmt: skip
        memo, errors = self._memos[index], self.table.errors
        values, codes = coded.values, coded.codes.tolist()
        for i in rows:
            value = values[codes[i]]
            for error in memo[value].errors:
                code = self._code(normalized, error)
                errors.setdefault(start + i, []).append((code, header, value))

    def _part(self, cols: dict[int, Coded], name: str, size: int) -> Coded | _Values:
        """A column by schema name; every cell None when the file has no such column."""
        index = self._at.get(name)
        return _none_column(size) if index is None else cols[index]

    def _parsed(self, cols: dict[int, Coded], name: str, size: int) -> _Values:
        """The parsed value (None when unset) of a memoized column."""
        index = self._at.get(name)
        if index is None:
            return _none_column(size)
        memo = self._memos[index]
        values, codes = cols[index]
        parsed = [None if r.value is UNSET else r.value for r in map(memo.__getitem__, values)]
        return _Values(parsed, codes)

    def _grouped(
        self,
        cols: dict[int, Coded],
        fields: tuple[str, ...],
        memo: _Memo,
        dirty: NDArray[np.bool_],
        size: int,
        cle_commune: _Derived | None = None,
    ) -> _Values:
        """One shared object per combination of ``fields``' cells (unclean ones: dirty rows);
        cle_interop is read by its commune part, ``cle_commune``."""
        parts: list[tuple[Sequence[str], NDArray[np.intp]]] = []
        for name in fields:
            index = self._at.get(name)
            if index is None:
                continue
            if name == "cle_interop":
                assert cle_commune is not None
                parts.append((cle_commune.values, cle_commune.codes))
            else:
                parts.append(cols[index])
        keys, inverse = _combine(parts, size)
        shared = list(map(memo.__getitem__, keys))
        unclean = ~_fast.truths(map(_clean, shared))
        if unclean.any():
            dirty |= unclean[inverse]
        return _Values(shared, inverse)

    def _numero_candidates(
        self, cols: dict[int, Coded], numero: _Values, dirty: NDArray[np.bool_]
    ) -> None:
        """Check 1: rows whose happy cle_interop numero part differs from numero's 5 digits."""
        index = self._at.get("cle_interop")
        if index is None or "numero" not in self._at:
            return
        parts = _derived(cols[index], _bulk.CLE_NUMERO)
        # both sides as codes of the part values; no part equals a numero without 5 digits
        expected = map(self._numero5.__getitem__, numero.values)
        codes = np.fromiter(
            map(parts.code_of.get, expected, repeat(-1)), np.intp, len(numero.values)
        )
        dirty |= parts.codes != codes[numero.codes]

    def _floats(
        self, cols: dict[int, Coded], bulk_bad: dict[int, NDArray[np.bool_]], size: int
    ) -> list[NDArray[np.float64]] | None:
        """long, lat, x, y as floats (NaN where not happy: dirty rows, empty x/y), or None when
        a long or lat column is missing (every row then gets a coordinates code)."""
        if "long" not in self._at or "lat" not in self._at:
            return None
        out = []
        for name in ("long", "lat", "x", "y"):
            index = self._at.get(name)
            if index is None:
                out.append(np.full(size, math.nan))
            else:
                values, codes = cols[index]
                floats = self._chunk_floats.get(index)
                if floats is None:
                    floats = _parse_floats(values, bulk_bad[index])
                out.append(floats[codes])
        return out

    def _ids(self, cols: dict[int, Coded], size: int, dirty: NDArray[np.bool_]) -> Ids | None:
        """BAN ids of every row (dirty rows: filled by the exact path), or None without ids."""
        if self.table.id_commune is None:
            return None
        if "uid_adresse" in self._at:  # ids hidden in uid_adresse: read by the exact path
            values, codes = cols[self._at["uid_adresse"]]
            dirty |= _fast.truths(values)[codes]
        ids: list[list[str | None]] = []
        for name in _ID_FIELDS[:2]:
            index = self._at.get(name)
            # a happy id is its raw value; an empty cell is no id; other cells are dirty rows
            if index is None:
                ids.append([None] * size)
            else:
                values, codes = cols[index]
                ids.append(_take(_Values(_fast.none_if_empty(values), codes)))
        return ids[0], ids[1], self._adresses(cols, size)

    def _adresses(self, cols: dict[int, Coded], size: int) -> AdresseIds:
        """The id_ban_adresse of every row, as :meth:`_ids`."""
        found = self._adresse_ids
        if found is not None:
            cells = found.coded.values
            other_case = np.flatnonzero(found.other_case).tolist()
            return AdresseIds(found.words, {i: cells[i] for i in other_case})
        index = self._at.get("id_ban_adresse")
        if index is None:
            return AdresseIds.none(size)
        values, codes = cols[index]
        return AdresseIds.of(_take(_Values(list(values), codes)))

    def _code_voie(self, cols: dict[int, Coded], size: int) -> list[str | None] | None:
        """codeVoie of every happy cle_interop (dirty rows: the exact path), when ids exist."""
        if self.table.code_voie is None:
            return None
        index = self._at.get("cle_interop")
        if index is None:
            return [None] * size
        values, codes = cols[index]
        parts, distinct = _fast.slices(values, _bulk.CLE_VOIE)
        return _fast.take(list(map(self._upper.__getitem__, distinct)), parts[codes])


class _Values(NamedTuple):
    """Like :class:`Coded`, any values: row ``i`` has ``values[codes[i]]``."""

    values: list[Any]
    codes: NDArray[np.intp]


def _recoded(values: list[Any], codes: NDArray[np.intp]) -> _Values:
    """Rows of ``codes`` with ``values`` (one per code), equal values sharing one code: a
    combination of such columns (:func:`_combine`) then has as many keys as distinct values,
    not as the codes they came from (a numero's kind: 3 values, not hundreds of numeros)."""
    code_of, distinct = _fast.factorize(values)
    return _Values(distinct, code_of.astype(np.intp, copy=False)[codes])


def _none_column(size: int) -> _Values:
    return _Values([None], np.zeros(size, dtype=np.intp))


def _take(column: _Values) -> list[Any]:
    """Every row's value, as a list."""
    return _fast.take(column.values, column.codes)


class _Derived(NamedTuple):
    """The ``part`` slices of a coded column's cells, deduplicated."""

    values: list[str]
    of_value: NDArray[np.intp]
    """The part's code of each value of the column."""
    codes: NDArray[np.intp]
    """The part's code of each row."""
    code_of: dict[str, int]
    """part -> code."""


def _derived(coded: Coded, part: slice) -> _Derived:
    of_value, distinct = _fast.slices(coded.values, part)
    return _Derived(distinct, of_value, of_value[coded.codes], dict(zip(distinct, count())))


def _but_empty(bad: NDArray[np.bool_], values: Sequence[str]) -> NDArray[np.bool_]:
    """``bad`` without the empty values (only the few bad values are looked at)."""
    out = bad.copy()
    out[[i for i in np.flatnonzero(bad).tolist() if not values[i]]] = False
    return out


def _combine(
    parts: Sequence[tuple[Sequence[Hashable], NDArray[np.intp]]], size: int
) -> tuple[list[tuple[Any, ...]], NDArray[np.intp]]:
    """The distinct combinations of ``parts``' values over the rows, and each row's one."""
    if not parts:
        return [()], np.zeros(size, dtype=np.intp)
    key = np.zeros(size, dtype=np.int64)
    span = 1
    for values, codes in parts:
        n = max(len(values), 1)
        if span * n > countable_span(size):  # compacted (in order): it stays countable
            key = unique_inverse(key)[1]
            span = int(key.max()) + 1 if size else 1
        key = key * n + codes
        span *= n
    _, first, inverse = unique_first_inverse(key)
    picked = [[values[c] for c in codes[first].tolist()] for values, codes in parts]
    return list(zip(*picked, strict=True)), inverse.astype(np.intp, copy=False)


_errors = attrgetter("errors")
_clean = attrgetter("clean")
_voie_nom = attrgetter("voie_nom")


def _no_row_code(state: RowState) -> bool:
    return all(header is not None for _, header, _ in state.errors)


_MEMO_LIMIT = 200_000


def _parse_floats(values: Sequence[str], bad: NDArray[np.bool_]) -> NDArray[np.float64]:
    """``float`` of every happy value (the same as parseFloat, see :mod:`._bulk`); NaN else."""
    if bad.any():  # the few bad values read as "nan": one pass over a copy, not a gather
        values = list(values)
        for i in np.flatnonzero(bad).tolist():
            values[i] = "nan"
    return np.fromiter(map(float, values), dtype=np.float64, count=len(values))


def _coordinate_candidates(
    floats: list[NDArray[np.float64]] | None, dirty: NDArray[np.bool_]
) -> None:
    """Check 6: rows not proven clean — outside Lambert-93's box, or near the tolerance."""
    if floats is None:
        dirty[:] = True
        return
    lon, lat, x, y = floats
    inside, px, py = lambert93_many(lon, lat)
    with np.errstate(invalid="ignore"):
        dist: NDArray[np.float64] = np.sqrt((x - px) ** 2 + (y - py) ** 2)
        no_xy = np.isnan(x) | np.isnan(y)
        clean = inside & (no_xy | (dist <= COORD_TOLERANCE_M - COORD_MARGIN_M))
    dirty |= ~clean
