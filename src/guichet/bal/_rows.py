"""Rows: every cell read, then the reference's row checks (``Schema.row``), column by column.

One set of rules, two ways to apply them:

* the exact per-row path (:meth:`RowsReader._read_row`): ``readValue`` on every cell, then
  ``_check_row`` in the reference's order — a port of the reference's loop;
* the column pass (:meth:`RowsReader.read_chunk`): C-level passes over whole columns (memoized
  readers, regexes over joined columns, numpy for the coordinates) find the field errors and
  *prove* that most rows are clean for the row checks. Rows it cannot prove clean ("dirty": a
  row check may fire, a value was not read in bulk) go through the exact path, whose result
  replaces whatever the column pass found for them. Every shortcut is thus only a filter; a
  row check never has a second implementation.

Checks 2, 3 and 8 only read the commune cells, check 4 the names, checks 5 and 7 the kind of
numero, the position and whether there is a name: their outcome is memoized per combination of
those cells (:class:`Commune`, :class:`Names`, ``_kind_clean``), each combination being run once
through the exact path on a made-up row. Checks 1 (numero vs cle_interop), 6 (coordinates) and
9 (BAN ids) read unique values and are filtered in bulk.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import count, repeat
from operator import attrgetter, itemgetter, truth
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from guichet.bal import _bulk, _cog
from guichet.bal._columns import Chunk, Coded
from guichet.bal._fields import Column, js_key_order
from guichet.bal._proj import ProjError, lambert93_many, proj
from guichet.bal._text import NormalizeError, normalize
from guichet.bal._values import UNSET, ValueReader, ValueResult

if TYPE_CHECKING:
    from numpy.typing import NDArray

TOPONYME_NUMERO = 99_999
"""The numero that marks a toponyme (lieu-dit) row rather than an address."""

COORD_TOLERANCE_M = 10.0
_COORD_MARGIN_M = 0.05
"""Distances this close to the tolerance are re-checked exactly: numpy's sin/tan/pow may differ
from libm in the last bit, which can move a centimetre rounding (< 0.015 m on the distance)."""

Error = tuple[str, str | None, str | None]
"""A row error: (code, header name of its column or None for row codes, the raw cell or None)."""


class ReferenceCrash(Exception):
    """A row on which the reference validator throws instead of reporting.

    ``message`` tells the user, in French, what in the row cannot be judged and how to fix it;
    ``reference_error`` is what the reference throws.
    """

    def __init__(self, line: int, message: str, reference_error: str) -> None:
        super().__init__(f"line {line}: {reference_error}")
        self.line = line
        self.message = message
        self.reference_error = reference_error


_CHEF_LIEU_CRASH = (
    "la commune {code} de cle_interop est une commune ancienne et commune_deleguee_insee vaut "
    "{deleguee} ; sans colonne commune_insee le chef-lieu ne peut pas être vérifié. Ajoutez la "
    "colonne commune_insee avec le code de la commune actuelle."
)
_NORMALIZE_CRASH = (
    "le nom de voie ou le complément contient le mot « constructor », que le validateur de "
    "référence ne sait pas traiter."
)


# --- the table the cross-row checks and the report read ---------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Commune:
    """What rows with the same commune cells share (compared by identity)."""

    code_commune: str | None
    commune_deleguee: str | None
    clean: bool = True
    """Checks 2, 3 and 8 add nothing and cannot crash (meaningless on dirty rows)."""


@dataclass(frozen=True, slots=True, eq=False)
class Names:
    """What rows with the same voie_nom, toponyme and lieudit share (compared by identity)."""

    voie_nom: str | None
    lieudit: str | None
    clean: bool = True
    """Check 4 adds nothing and cannot crash (meaningless on dirty rows)."""


@dataclass(slots=True)
class RowTable:
    """Per-row values, one list per kind (index = the reference's row index), sparse errors.

    A list is None when no column can give it a value (every row has None).
    """

    count: int = 0
    errors: dict[int, list[Error]] = field(default_factory=dict)
    numero: list[int | None] = field(default_factory=list)
    communes: list[Commune] = field(default_factory=list)
    names: list[Names] = field(default_factory=list)
    suffixe: list[str | None] | None = None
    code_voie: list[str | None] | None = None
    """Only kept when ids exist (the voie checks are the only ones to read it)."""
    id_commune: list[str | None] | None = None
    id_toponyme: list[str | None] | None = None
    id_adresse: list[str | None] | None = None

    def add(self, line: int, code: str) -> None:
        self.errors.setdefault(line, []).append((code, None, None))

    def sorted_errors(self) -> list[tuple[int, list[Error]]]:
        return sorted(self.errors.items())

    def is_toponyme(self, i: int) -> bool:
        return self.numero[i] == TOPONYME_NUMERO

    def numero_keys(self) -> list[str]:
        """``getNumeroIdentifier`` of every row: the JavaScript template string, ``undefined``
        included (a suffixe written "undefined" collides with no suffixe, as in the reference)."""
        voies = {names: normalize(names.voie_nom) for names in dict.fromkeys(self.names)}
        deleguees = {
            commune: "undefined" if commune.commune_deleguee is None else commune.commune_deleguee
            for commune in dict.fromkeys(self.communes)
        }
        suffixes = repeat(None) if self.suffixe is None else self.suffixe
        return [
            f"{'undefined' if numero is None else numero}#"
            f"{'undefined' if suffixe is None else suffixe}#{voies[names]}#{deleguees[commune]}"
            # not strict: an absent column is an endless repeat(None)
            for numero, suffixe, names, commune in zip(
                self.numero, suffixes, self.names, self.communes, strict=False
            )
        ]

    def voie_keys(self, *, typed: bool) -> list[tuple[str, str | None, bool | None]]:
        """``getVoieIdentifier`` of every row (``typed``: with its toponyme/voie kind); tuples
        compare exactly like the reference's strings."""
        voies = {names: normalize(names.voie_nom) for names in dict.fromkeys(self.names)}
        codes = repeat(None) if self.code_voie is None else self.code_voie
        kinds = (numero == TOPONYME_NUMERO for numero in self.numero) if typed else repeat(None)
        return [
            (voies[names], code, kind)
            for names, code, kind in zip(self.names, codes, kinds, strict=False)
        ]


# --- the exact per-row path ---------------------------------------------------------------------


@dataclass(slots=True)
class RowState:
    """One row read by the exact path: what the checks and the table need."""

    line: int
    errors: list[Error] = field(default_factory=list)
    has_numero: bool = False
    numero: int | None = None
    voie_nom: str | None = None
    lieudit: str | None = None
    suffixe: str | None = None
    commune_deleguee: str | None = None
    code_commune: str | None = None
    code_voie: str | None = None
    id_commune: str | None = None
    id_toponyme: str | None = None
    id_adresse: str | None = None

    def commune(self, clean: bool = True) -> Commune:
        return Commune(self.code_commune, self.commune_deleguee, clean)

    def names(self, clean: bool = True) -> Names:
        return Names(self.voie_nom, self.lieudit, clean)


@dataclass(slots=True)
class _Cells:
    """The parsed values of one row that the row checks read (the reference's parsedValues)."""

    parsed: dict[str, Any]
    raw: dict[str, str]
    additional: dict[str, Any]


def _fill_state(state: RowState, cells: _Cells) -> None:
    pv = cells.parsed
    cle = cells.additional.get("cle_interop")
    uid = cells.additional.get("uid_adresse")
    state.has_numero = "numero" in pv
    state.numero = pv.get("numero")
    voie = pv.get("voie_nom") or pv.get("toponyme")
    state.voie_nom = voie or None
    state.lieudit = pv.get("lieudit_complement_nom")
    state.suffixe = pv.get("suffixe")
    state.commune_deleguee = pv.get("commune_deleguee_insee")
    state.code_commune = pv.get("commune_insee") or (cle["codeCommune"] if cle else None) or None
    state.code_voie = cle.get("codeVoie") if cle else None
    state.id_commune = pv.get("id_ban_commune") or (uid["idBanCommune"] if uid else None) or None
    state.id_toponyme = pv.get("id_ban_toponyme") or (uid["idBanToponyme"] if uid else None) or None
    state.id_adresse = pv.get("id_ban_adresse") or (uid["idBanAdresse"] if uid else None) or None


def _check_row(state: RowState, cells: _Cells) -> None:
    """Every row check, in the reference's order."""
    _fill_state(state, cells)
    pv, rv = cells.parsed, cells.raw
    add = state.errors.append
    cle_parsed = pv.get("cle_interop")
    numero = state.numero
    # 1. numero vs the numero part of cle_interop (numero 0 is falsy and skips the check).
    if cle_parsed and numero:
        numero_voie = cells.additional["cle_interop"]["numeroVoie"]
        if not numero_voie or int(numero_voie) != numero:
            add(("row.incoherence_numero", None, None))
    _check_commune(state, pv)
    _check_voie_lieudit(state)
    is_address = _check_position(state, rv)
    _check_coordinates(state, pv, rv, is_address)
    _check_complete(state)
    _check_chef_lieu(state)
    _check_ban_ids(state)


def _commune_checks(state: RowState, cells: _Cells) -> None:
    """Checks 2, 3 and 8 (see :class:`Commune`)."""
    _fill_state(state, cells)
    _check_commune(state, cells.parsed)
    _check_chef_lieu(state)


def _names_checks(state: RowState, cells: _Cells) -> None:
    """Check 4 (see :class:`Names`)."""
    _fill_state(state, cells)
    _check_voie_lieudit(state)


def _check_commune(state: RowState, pv: dict[str, Any]) -> None:
    add = state.errors.append
    # 2. a commune is needed, from commune_insee or cle_interop.
    if not pv.get("cle_interop") and not pv.get("commune_insee"):
        add(("row.commune_manquante", None, None))
    # 3. commune_nom must be the COG name of a current commune.
    if state.code_commune:
        name = _cog.commune_name(state.code_commune)
        commune_nom = pv.get("commune_nom")
        if name is not None and commune_nom and commune_nom != name:
            add(("row.commune_nom_invalide", None, None))


def _check_voie_lieudit(state: RowState) -> None:
    # 4. voie_nom and lieudit_complement_nom must differ (also fires when both are empty).
    if normalize(state.voie_nom) == normalize(state.lieudit):
        state.errors.append(("row.voie_nom_have_same_lieudit_complement_nom", None, None))


def _check_position(state: RowState, rv: dict[str, str]) -> bool:
    """Check 5; returns whether the row is an address (not a toponyme)."""
    is_address = state.has_numero and state.numero != TOPONYME_NUMERO
    # 5. an address needs a position type.
    if is_address and not rv.get("position"):
        state.errors.append(("row.position_manquante", None, None))
    return is_address


def _check_complete(state: RowState) -> None:
    # 7. an address needs a numero and a street name.
    if state.numero is None or not state.voie_nom:
        state.errors.append(("row.adresse_incomplete", None, None))


def _kind_clean(key: tuple[int | None, str | None, bool]) -> bool:
    """Whether checks 5 and 7 add nothing for (numero, raw position, has a voie name)."""
    numero, position, has_voie = key
    state = RowState(-1, has_numero=numero is not None, numero=numero)
    state.voie_nom = "voie" if has_voie else None
    _check_position(state, {} if position is None else {"position": position})
    _check_complete(state)
    return not state.errors


def _check_coordinates(
    state: RowState, pv: dict[str, Any], rv: dict[str, str], is_address: bool
) -> None:
    """6. coordinates: present for an address, projectable, and x/y within 10 m of long/lat."""
    add = state.errors.append
    if is_address and (not rv.get("long") or not rv.get("lat")):
        add(("row.longlat_vides", None, None))
        return
    try:
        projected = proj(pv.get("long"), pv.get("lat"))
    except ProjError:
        projected = None
    if projected is not None:
        x, y = pv.get("x"), pv.get("y")
        # sqrt of the sum, as the reference computes it (hypot may differ in the last bit)
        if (
            x is not None
            and y is not None
            and math.sqrt((x - projected[0]) ** 2 + (y - projected[1]) ** 2) > COORD_TOLERANCE_M
        ):
            add(("row.longlat_xy_incoherents", None, None))
    elif state.numero != TOPONYME_NUMERO:
        add(("row.longlat_invalides", None, None))


def _check_chef_lieu(state: RowState) -> None:
    """8. commune_deleguee_insee must be a former commune of (or equal to) the row's commune."""
    deleguee = state.commune_deleguee
    if not deleguee:
        return
    if any(header in ("commune_deleguee_insee", "commune_insee") for _, header, _ in state.errors):
        return
    code = state.code_commune
    if not code:
        return
    anciens = _cog.anciens_codes(code)
    if anciens is None:
        raise ReferenceCrash(
            state.line,
            _CHEF_LIEU_CRASH.format(code=code, deleguee=deleguee),
            "TypeError: Cannot read properties of undefined (reading 'anciensCodes')",
        )
    if deleguee not in anciens and deleguee != code:
        state.errors.append(("row.chef_lieu_invalide", None, None))


def _ban_ids_clean(
    id_commune: str | None, id_toponyme: str | None, id_adresse: str | None, numero: int | None
) -> bool:
    """Whether check 9 adds nothing (the negation of every branch of ``_check_ban_ids``)."""
    if not (id_commune or id_toponyme or id_adresse):
        return True
    return bool(id_commune and id_toponyme and (id_adresse or numero == TOPONYME_NUMERO))


def _check_ban_ids(state: RowState) -> None:
    """9. once a row uses one BAN id it must carry all of them (one code per missing id)."""
    if not (state.id_commune or state.id_toponyme or state.id_adresse):
        return
    add = state.errors.append
    if not state.id_commune:
        add(("row.lack_of_id_ban", None, None))
    if not state.id_toponyme:
        add(("row.lack_of_id_ban", None, None))
    if not state.id_adresse and state.numero != TOPONYME_NUMERO:
        add(("row.lack_of_id_ban", None, None))


# --- the column pass ----------------------------------------------------------------------------


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

Ids = tuple[list[str | None], list[str | None], list[str | None]]


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
        self._kinds = _Memo(_kind_clean)
        self._cle_commune_clean = _Memo(self._cle_commune_is_clean)
        self._numero5 = _Memo(lambda n: f"{n:05d}" if n else None)
        self._upper = _Memo(str.upper)
        self.table = RowTable()
        self.rows_seen = 0
        """Rows given so far, the chunk being read included."""
        if "suffixe" in self._at:
            self.table.suffixe = []
        if "uid_adresse" in self._at or any(name in self._at for name in _ID_FIELDS):
            self.table.id_commune, self.table.id_toponyme, self.table.id_adresse = [], [], []
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
        checks: Callable[[RowState, _Cells], None],
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
            checks(state, _Cells(parsed, raw, additional))
        except NormalizeError as exc:  # KNOWN: the reference throws on the word "constructor"
            raise ReferenceCrash(line, _NORMALIZE_CRASH, f"TypeError: {exc}") from None
        return state

    def _made_up_row(
        self, names: Sequence[str], key: Sequence[str], checks: Callable[[RowState, _Cells], None]
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
        state = self._made_up_row(names, key, _commune_checks)
        if state is None:
            return Commune(None, None, clean=False)
        return state.commune(_no_row_code(state))

    def _names_for_key(self, key: tuple[str, ...]) -> Names:
        names = [name for name in _NAME_FIELDS if name in self._at]
        state = self._made_up_row(names, key, _names_checks)
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
        cols = {
            index: chunk.coded(index, unique=schema in _NEAR_UNIQUE and not localized)
            for index, _, _, schema, localized in self._known
        }
        dirty = np.zeros(size, dtype=bool)
        bulk_bad: dict[int, NDArray[np.bool_]] = {}
        for index, header, normalized, schema, localized in self._known:
            pattern = None if localized else _BULK_PATTERNS.get(schema)
            coded = cols[index]
            if pattern is None:
                bad = self._memo_bad(index, coded.values)
            else:
                bad = bulk_bad[index] = self._bulk_bad(schema, coded.values, pattern)
                if schema in ("x", "y"):  # an empty x or y only skips the distance check
                    dirty |= (bad & _truths(coded.values))[coded.codes]
                elif schema != "cad_parcelles":  # the checks read the others' values
                    dirty |= bad[coded.codes]
            if bad.any():
                rows = np.flatnonzero(bad[coded.codes]).tolist()
                self._field_errors(start, rows, coded, index, header, normalized)
        numero = self._parsed(cols, "numero", size)
        communes = self._grouped(cols, _COMMUNE_FIELDS, self._communes, dirty, size)
        names = self._grouped(cols, _NAME_FIELDS, self._names, dirty, size)
        keys, kind_of = _combine(
            [
                (list(map(_KIND.get, numero.values, repeat(1))), numero.codes),
                self._part(cols, "position", size),
                (list(map(truth, map(_voie_nom, names.values))), names.codes),
            ],
            size,
        )
        dirty |= ~_truths(map(self._kinds.__getitem__, keys))[kind_of]
        self._numero_candidates(cols, numero, dirty)
        _coordinate_candidates(self._floats(cols, bulk_bad, size), dirty)
        numeros: list[int | None] = _take(numero)
        ids = self._ids(cols, size, dirty)
        if ids is not None:
            dirty |= ~_truths(map(_ban_ids_clean, *ids, numeros))
        self._read_dirty(chunk, start, dirty, numeros, _take(communes), _take(names), cols, ids)
        for memo in self._memos.values():
            memo.trim()

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
        for i in np.flatnonzero(dirty).tolist():
            state = self._read_row(start + i, chunk.row(i), _check_row)
            if state.errors:
                self.table.errors[start + i] = state.errors
            else:
                self.table.errors.pop(start + i, None)
            numeros[i], communes[i], names[i] = state.numero, state.commune(), state.names()
            if suffixes is not None:
                suffixes[i] = state.suffixe
            if ids is not None and code_voie is not None:
                ids[0][i], ids[1][i] = state.id_commune, state.id_toponyme
                ids[2][i] = state.id_adresse
                code_voie[i] = state.code_voie
        table = self.table
        table.count += chunk.size
        table.numero += numeros
        table.communes += communes
        table.names += names
        if table.suffixe is not None and suffixes is not None:
            table.suffixe += suffixes
        if ids is not None and code_voie is not None:
            for kept, new in zip(
                (table.id_commune, table.id_toponyme, table.id_adresse, table.code_voie),
                (*ids, code_voie),
                strict=True,
            ):
                assert kept is not None
                kept += new

    def _memo_bad(self, index: int, values: list[str]) -> NDArray[np.bool_]:
        """Which values of a memoized column read with errors."""
        return _truths(map(_errors, map(self._memos[index].__getitem__, values)))

    def _bulk_bad(self, schema: str, values: list[str], pattern: str) -> NDArray[np.bool_]:
        """Which values are not in the happy shape (they may or may not have errors)."""
        bad = np.zeros(len(values), dtype=bool)
        bad[_bulk.misses(values, pattern)] = True
        if schema == "cle_interop":  # the commune part of a happy shape may still be wrong
            parts = map(itemgetter(_bulk.CLE_COMMUNE), values)
            bad |= ~_truths(map(self._cle_commune_clean.__getitem__, parts))
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
    ) -> _Values:
        """One shared object per combination of ``fields``' cells (unclean ones: dirty rows)."""
        parts: list[Coded] = []
        for name in fields:
            index = self._at.get(name)
            if index is not None:
                coded = cols[index]
                parts.append(_derived(coded, _bulk.CLE_COMMUNE) if name == "cle_interop" else coded)
        keys, inverse = _combine(parts, size)
        shared = list(map(memo.__getitem__, keys))
        unclean = ~_truths(map(_clean, shared))
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
        of_part = {part: code for code, part in enumerate(parts.values)}
        expected = map(self._numero5.__getitem__, numero.values)
        codes = np.fromiter(map(of_part.get, expected, repeat(-1)), np.intp, len(numero.values))
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
                out.append(_parse_floats(values, bulk_bad[index])[codes])
        return out

    def _ids(self, cols: dict[int, Coded], size: int, dirty: NDArray[np.bool_]) -> Ids | None:
        """BAN ids of every row (dirty rows: filled by the exact path), or None without ids."""
        if self.table.id_commune is None:
            return None
        if "uid_adresse" in self._at:  # ids hidden in uid_adresse: read by the exact path
            values, codes = cols[self._at["uid_adresse"]]
            dirty |= _truths(values)[codes]
        ids: list[list[str | None]] = []
        for name in _ID_FIELDS:
            index = self._at.get(name)
            # a happy id is its raw value; an empty cell is no id; other cells are dirty rows
            if index is None:
                ids.append([None] * size)
            else:
                values, codes = cols[index]
                ids.append(_take(_Values([v or None for v in values], codes)))
        return ids[0], ids[1], ids[2]

    def _code_voie(self, cols: dict[int, Coded], size: int) -> list[str | None] | None:
        """codeVoie of every happy cle_interop (dirty rows: the exact path), when ids exist."""
        if self.table.code_voie is None:
            return None
        index = self._at.get("cle_interop")
        if index is None:
            return [None] * size
        values, codes = cols[index]
        parts = map(itemgetter(_bulk.CLE_VOIE), values)
        return _take(_Values(list(map(self._upper.__getitem__, parts)), codes))


class _Values(NamedTuple):
    """Like :class:`Coded`, any values: row ``i`` has ``values[codes[i]]``."""

    values: list[Any]
    codes: NDArray[np.intp]


def _none_column(size: int) -> _Values:
    return _Values([None], np.zeros(size, dtype=np.intp))


def _take(column: _Values | Coded) -> list[Any]:
    """Every row's value, as a list."""
    return list(map(column.values.__getitem__, column.codes.tolist()))


def _truths(values: Iterable[Any]) -> NDArray[np.bool_]:
    return np.fromiter(map(truth, values), dtype=bool)


def _derived(coded: Coded, part: slice) -> Coded:
    """The column of the ``part`` slices of ``coded``'s cells, deduplicated."""
    sliced = list(map(itemgetter(part), coded.values))
    index: dict[str, Any] = dict.fromkeys(sliced)
    index.update(zip(index, count()))
    remap = np.fromiter(map(index.__getitem__, sliced), np.intp, len(sliced))
    return Coded(list(index), remap[coded.codes])


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
        if span * n >= 1 << 62:  # compact the key first: it would overflow
            _, key = np.unique(key, return_inverse=True)
            span = int(key.max()) + 1
        key = key * n + codes
        span *= n
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    picked = [[values[c] for c in codes[first].tolist()] for values, codes in parts]
    return list(zip(*picked, strict=True)), inverse.astype(np.intp, copy=False)


_errors = attrgetter("errors")
_clean = attrgetter("clean")
_voie_nom = attrgetter("voie_nom")


def _no_row_code(state: RowState) -> bool:
    return all(header is not None for _, header, _ in state.errors)


_MEMO_LIMIT = 200_000


def _parse_floats(values: list[str], bad: NDArray[np.bool_]) -> NDArray[np.float64]:
    """``float`` of every happy value (the same as parseFloat, see :mod:`._bulk`); NaN else."""
    if not bad.any():
        return np.fromiter(map(float, values), dtype=np.float64, count=len(values))
    out = np.full(len(values), math.nan)
    happy = np.flatnonzero(~bad)
    out[happy] = list(map(float, map(values.__getitem__, happy.tolist())))
    return out


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
        clean = inside & (no_xy | (dist <= COORD_TOLERANCE_M - _COORD_MARGIN_M))
    dirty |= ~clean
