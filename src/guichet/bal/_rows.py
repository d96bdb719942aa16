"""Rows: every cell read, then the reference's row checks (``Schema.row``), column by column.

One set of rules, two ways to apply them:

* the exact per-row path (``RowsReader._read_row`` in :mod:`._reader`): ``readValue`` on every
  cell, then :func:`check_row` (here) in the reference's order — a port of the reference's loop;
* the column pass (``RowsReader.read_chunk``, :mod:`._reader`): C-level passes over whole
  columns (memoized readers, numpy or regexes over joined columns, numpy for the coordinates)
  find the field errors and
  *prove* that most rows are clean for the row checks. Rows it cannot prove clean ("dirty": a
  row check may fire, a value was not read in bulk) go through the exact path, whose result
  replaces whatever the column pass found for them. Every shortcut is thus only a filter; a
  row check never has a second implementation.

Checks 2, 3 and 8 only read the commune cells, check 4 the names, checks 5 and 7 the kind of
numero, the position and whether there is a name: their outcome is memoized per combination of
those cells (:class:`Commune`, :class:`Names`, ``kind_clean``), each combination being run once
through the exact path on a made-up row. Checks 1 (numero vs cle_interop), 6 (coordinates) and
9 (BAN ids) read unique values and are filtered in bulk.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeVar

from guichet.bal import _cog, _fast
from guichet.bal._ids import AdresseIds
from guichet.bal._proj import ProjError, proj
from guichet.bal._text import normalize

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

TOPONYME_NUMERO = 99_999
"""The numero that marks a toponyme (lieu-dit) row rather than an address."""

COORD_TOLERANCE_M = 10.0
COORD_MARGIN_M = 0.05
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
NORMALIZE_CRASH = (
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

    def __reduce__(self) -> tuple[type[Commune], tuple[str | None, str | None, bool]]:
        # a child sends hundreds of them: the generated __setstate__ costs ~8 µs each
        return Commune, (self.code_commune, self.commune_deleguee, self.clean)


@dataclass(frozen=True, slots=True, eq=False)
class Names:
    """What rows with the same voie_nom, toponyme and lieudit share (compared by identity)."""

    voie_nom: str | None
    lieudit: str | None
    clean: bool = True
    """Check 4 adds nothing and cannot crash (meaningless on dirty rows)."""

    def __reduce__(self) -> tuple[type[Names], tuple[str | None, str | None, bool]]:
        return Names, (self.voie_nom, self.lieudit, self.clean)  # as Commune.__reduce__


@dataclass(frozen=True, slots=True, eq=False)
class FlaggedRows:
    """The codes of the cross-row checks, kept as arrays until the report is written: row
    ``lines[i]`` has the errors ``sets[which[i]]`` after its own.

    A file with BAN ids can have two of them on every row: appended to the rows' lists, which
    were then sorted and walked for the report, they were a third of the BAL 1.4 benchmark.
    """

    lines: NDArray[np.intp]
    """The flagged rows, ascending."""
    which: NDArray[np.intp]
    sets: list[tuple[Error, ...]]
    firsts: list[tuple[int, str]]
    """(first row flagged, code) of each check that flagged rows, in the order they ran."""


K = TypeVar("K")

Coding = tuple["NDArray[np.int64]", list[Any]]
"""Each row's code and the distinct values, as :func:`._fast.factorize` gives them."""

LineErrors = tuple[int, list[Error]]
"""A row's line and its errors."""


def error_codes(own: list[LineErrors], flagged: FlaggedRows | None) -> list[str]:
    """The distinct codes of the rows' errors, in the order the rows give them: ``own``, the
    rows' own errors (lines ascending), each followed by the codes ``flagged`` gives it."""
    return first_seen(own, flagged, itemgetter(0))


def first_seen(
    own: list[LineErrors], flagged: FlaggedRows | None, key: Callable[[Error], K]
) -> list[K]:
    """The distinct ``key(error)`` of the rows' errors, in the order the rows give them.

    A check's error comes after every error of the rows before its first row and of that row's
    own errors; between them, the checks' go in the order the checks ran (a stable sort).
    """
    found: dict[K, None] = {}
    start = 0
    for first, code in sorted(flagged.firsts if flagged else (), key=itemgetter(0)):
        cut = bisect_right(own, first, key=itemgetter(0))
        found.update(_keys_of(own[start:cut], key))  # a key already there keeps its place
        found.setdefault(key((code, None, None)))
        start = cut
    found.update(_keys_of(own[start:], key))
    return list(found)


def errors_in_order(
    own: list[LineErrors], flagged: FlaggedRows | None
) -> Iterator[tuple[int, Sequence[Error]]]:
    """(line, errors) of each row with errors, rows in order: ``own``, the rows' own errors
    (lines ascending), each followed by what ``flagged`` gives it; made as they are walked (the
    first rows of a big file come at once)."""
    if flagged is None:
        yield from own
        return
    sets = flagged.sets
    rest = iter(own)
    mine = next(rest, None)
    for line, k in zip(flagged.lines.tolist(), flagged.which.tolist(), strict=True):
        while mine is not None and mine[0] < line:
            yield mine
            mine = next(rest, None)
        if mine is not None and mine[0] == line:
            yield line, [*mine[1], *sets[k]]
            mine = next(rest, None)
        else:
            yield line, sets[k]
    if mine is not None:
        yield mine
    yield from rest


def _keys_of(rows: list[LineErrors], key: Callable[[Error], K]) -> dict[K, None]:
    errors = chain.from_iterable(map(itemgetter(1), rows))
    return dict.fromkeys(map(key, errors))  # at C speed: 100ks of errors


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
    id_adresse: AdresseIds | None = None
    flagged: FlaggedRows | None = None
    """What the cross-row checks added to the rows (:func:`._crossrows.check_rows`)."""
    codes: dict[str, Coding] = field(default_factory=dict)
    """Columns already coded (:meth:`coded`): a second process codes its rows' columns to send
    them, and this one its own while it waits (:mod:`._parallel`)."""

    def coded(self, name: str) -> Coding:
        """``_fast.factorize`` of the column ``name`` (a list), kept for the next callers."""
        found = self.codes.get(name)
        if found is None:
            found = self.codes[name] = _fast.factorize(getattr(self, name))
        return found

    def add(self, line: int, code: str) -> None:
        self.errors.setdefault(line, []).append((code, None, None))

    def add_many(self, lines: Iterable[int], code: str) -> None:
        """:meth:`add` on each line (one shared error tuple: they are immutable); ``lines``
        may be a numpy array (its items become Python ints)."""
        error: Error = (code, None, None)
        setdefault = self.errors.setdefault
        tolist = getattr(lines, "tolist", None)
        for line in lines if tolist is None else tolist():
            setdefault(line, []).append(error)

    def own_errors(self) -> list[LineErrors]:
        """The rows' own errors (not the cross-row checks'), rows in order."""
        # keyed by the line: ints sort much faster than tuples (a third faster than sorting
        # the lines and looking each up, measured on 100k rows)
        return sorted(self.errors.items(), key=itemgetter(0))

    def sorted_errors(self) -> list[LineErrors]:
        """Every row's errors, its own then the cross-row checks', rows in order."""
        in_order = errors_in_order(self.own_errors(), self.flagged)
        return [(line, list(errors)) for line, errors in in_order]

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
class Cells:
    """The parsed values of one row that the row checks read (the reference's parsedValues)."""

    parsed: dict[str, Any]
    raw: dict[str, str]
    additional: dict[str, Any]


def _fill_state(state: RowState, cells: Cells) -> None:
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


def check_row(state: RowState, cells: Cells) -> None:
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


def commune_checks(state: RowState, cells: Cells) -> None:
    """Checks 2, 3 and 8 (see :class:`Commune`)."""
    _fill_state(state, cells)
    _check_commune(state, cells.parsed)
    _check_chef_lieu(state)


def names_checks(state: RowState, cells: Cells) -> None:
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


def kind_clean(key: tuple[int | None, str | None, bool]) -> bool:
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
