"""Cross-row checks (``Schema.rows``), run once every row has been read."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from functools import cached_property
from itertools import compress
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from guichet.bal import _fast
from guichet.bal._rows import TOPONYME_NUMERO, Error, FlaggedRows, Names, RowTable
from guichet.bal._text import normalize
from guichet.bal._unique import countable_span, unique_inverse

if TYPE_CHECKING:
    from numpy.typing import NDArray

BanLookup = Callable[[str], "str | None"]
"""Gives the BAN id of a commune from its INSEE code, or None when unknown or unreachable."""


class Flags(Protocol):
    """Where a check puts the rows it flags: a :class:`RowTable` or a :class:`_Pending`."""

    def add_many(self, lines: Iterable[int], code: str) -> None: ...


def check_rows(table: RowTable, commune_ids: dict[str, str]) -> list[str]:
    """Run every cross-row check; row codes are added to the table, ``rows.*`` codes returned.

    ``commune_ids``: the BAN id of each commune (:func:`commune_ban_ids`)."""
    global_codes: list[str] = []
    if not table.count:
        global_codes.append("rows.empty")
    flags = _Pending()
    columns = _Columns(table)
    global_codes.extend(_check_use_ban_ids(table, commune_ids, flags, columns))
    _check_voie_ban_ids(table, flags, columns)
    _check_adresse_ban_ids(table, flags, columns)
    _check_lieudit_declared(table, flags, columns)
    flags.apply(table)
    return global_codes


class _Columns:
    """What several checks read of a table, computed once (100ks of rows each time)."""

    def __init__(self, table: RowTable) -> None:
        self._table = table

    @cached_property
    def names(self) -> tuple[NDArray[np.int64], list[Names]]:
        """Each row's :class:`Names` code (they compare by identity: cheap) and the distinct."""
        return self._table.coded("names")

    @cached_property
    def toponyme(self) -> NDArray[np.bool_]:
        """The rows of a toponyme (numero 99999)."""
        return self._each_row("numero", lambda values: _fast.equals(values, TOPONYME_NUMERO))

    @cached_property
    def has_toponyme_id(self) -> NDArray[np.bool_]:
        return self._each_row("id_toponyme", _fast.truths)

    @cached_property
    def has_commune_id(self) -> NDArray[np.bool_]:
        return self._each_row("id_commune", _fast.truths)

    def _each_row(
        self, name: str, test: Callable[[list[Any]], NDArray[np.bool_]]
    ) -> NDArray[np.bool_]:
        """``test`` of column ``name``'s values, once per distinct value where the column is
        already coded (:mod:`._parallel` codes them), else on every row."""
        coded = self._table.codes.get(name)
        if coded is not None:
            codes, distinct = coded
            return test(distinct)[codes]
        values = getattr(self._table, name)
        assert values is not None
        return test(values)

    @cached_property
    def has_adresse_id(self) -> NDArray[np.bool_]:
        assert self._table.id_adresse is not None
        return self._table.id_adresse.present()


class _Pending:
    """The checks' flags, given to the table at the end, all at once, as arrays
    (:class:`FlaggedRows`): each flagged row gets, after its own errors, the codes of the
    checks that flagged it in the order they ran (as sequential ``add`` calls would). A row is
    flagged at most once by a check."""

    def __init__(self) -> None:
        self._flags: list[tuple[str, NDArray[np.intp]]] = []

    def add_many(self, lines: Iterable[int], code: str) -> None:
        rows = lines if isinstance(lines, np.ndarray) else np.fromiter(lines, np.intp)
        self._flags.append((code, rows))

    def apply(self, table: RowTable) -> None:
        flags = [(code, lines) for code, lines in self._flags if len(lines)]
        if not flags:
            return
        combo = np.zeros(table.count, dtype=np.intp)  # bit k: flagged by the k-th entry
        for k, (_, lines) in enumerate(flags):
            combo[lines] |= 1 << k
        flagged = np.flatnonzero(combo)
        bits = combo[flagged]
        # each combination's rank among those present (a table of 2 ** flags, not a sort)
        present = np.flatnonzero(np.bincount(bits, minlength=1 << len(flags)))
        rank = np.zeros(1 << len(flags), dtype=np.intp)
        rank[present] = np.arange(len(present))
        sets: list[tuple[Error, ...]] = [
            tuple((code, None, None) for k, (code, _) in enumerate(flags) if combination >> k & 1)
            for combination in present.tolist()
        ]
        firsts = [(int(lines.min()), code) for code, lines in flags]
        table.flagged = FlaggedRows(flagged, rank[bits], sets, firsts)


def commune_ban_ids(table: RowTable, ban_lookup: BanLookup | None) -> dict[str, str]:
    """One lookup per distinct commune, in row order; failures are simply absent."""
    if ban_lookup is None:
        return {}
    # distinct Commune objects in row order give the codes in the order they first appear
    codes = (commune.code_commune for commune in dict.fromkeys(table.communes))
    found: dict[str, str] = {}
    for code in dict.fromkeys(code for code in codes if code):
        ban_id = ban_lookup(code)
        if ban_id:
            found[code] = ban_id
    return found


def _check_use_ban_ids(
    table: RowTable, commune_ids: dict[str, str], flags: Flags, columns: _Columns | None = None
) -> list[str]:
    if table.id_commune is None or table.id_toponyme is None or table.id_adresse is None:
        return []  # no row has any id: nothing to compare, no row "uses" ids
    if commune_ids:  # only with a BAN lookup
        mismatched = []
        for i in compress(range(table.count), table.id_commune):
            code = table.communes[i].code_commune
            expected = commune_ids.get(code) if code else None
            if expected and expected != table.id_commune[i]:
                mismatched.append(i)
        flags.add_many(mismatched, "row.cog_no_match_id_ban_commune")
    using = int(np.count_nonzero(uses_ids_many(table, columns or _Columns(table))))
    if table.count and using == table.count:  # every row uses ids: the districts are all ids
        return ["rows.multi_id_ban_commune"] if len(table.coded("id_commune")[1]) > 1 else []
    if using > 0:
        return ["rows.every_line_required_id_ban"]
    return []


def _uses_ids(
    id_commune: str | None, id_toponyme: str | None, id_adresse: str | None, numero: int | None
) -> bool:
    """Whether a row "uses" BAN ids: all of them (no adresse id for a toponyme)."""
    return bool(id_commune and id_toponyme and (id_adresse or numero == TOPONYME_NUMERO))


def uses_ids_many(table: RowTable, columns: _Columns) -> NDArray[np.bool_]:
    """:func:`_uses_ids` of every row (of a table with id columns), with C-speed passes."""
    uses: NDArray[np.bool_] = columns.has_commune_id & columns.has_toponyme_id
    uses &= columns.has_adresse_id | columns.toponyme
    return uses


def _flag_groups_with_several(
    flags: Flags,
    rows: NDArray[np.intp],
    keys: NDArray[np.int64],
    values: NDArray[np.int64],
    code: str,
) -> None:
    """Flag with ``code`` every row of ``rows`` whose key is shared by rows (of ``rows``)
    holding more than one distinct value; ``keys`` and ``values``: every row's codes.

    With numpy over codes, not with a dict of row lists: the groups of a 100k-row file with BAN
    ids are as many as its rows. A group holds several values when its smallest and its largest
    differ (no sort of the pairs).
    """
    if not len(rows):
        return
    keys, values = keys[rows], values[rows]
    size = int(keys.max()) + 1
    smallest = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    largest = np.full(size, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(smallest, keys, values)
    np.maximum.at(largest, keys, values)
    flags.add_many(rows[(smallest != largest)[keys]], code)


def _codes(values: Sequence[Hashable]) -> NDArray[np.int64]:
    """Each value's code; equal values (``==``, as in a set) share one."""
    return _fast.factorize(values)[0]


def _voie_codes(table: RowTable, columns: _Columns | None = None) -> NDArray[np.int64]:
    """The codes of every row's ``getVoieIdentifier`` (normalized name, codeVoie): equal codes
    for equal keys, as :meth:`RowTable.voie_keys` would give, but each key is built once per
    distinct (names, codeVoie) pair instead of once per row."""
    assert table.code_voie is not None
    names, distinct_names = (columns or _Columns(table)).names
    voies, distinct_voies = table.coded("code_voie")
    span = max(len(distinct_voies), 1)
    pairs, inverse = unique_inverse(names * span + voies)
    normalized = {n: normalize(n.voie_nom) for n in distinct_names}
    keys = [
        (normalized[distinct_names[p // span]], distinct_voies[p % span]) for p in pairs.tolist()
    ]
    key_codes: NDArray[np.int64] = _codes(keys)[inverse]
    return key_codes


def _check_voie_ban_ids(table: RowTable, flags: Flags, columns: _Columns | None = None) -> None:
    columns = columns or _Columns(table)
    if table.id_toponyme is None:
        return
    with_toponyme_id = np.flatnonzero(columns.has_toponyme_id)
    ids = table.coded("id_toponyme")[0]
    voie = _voie_codes(table, columns)
    _flag_groups_with_several(
        flags, with_toponyme_id, ids, voie, "row.different_voie_nom_with_same_id_ban_toponyme"
    )
    # the typed key is the voie key and the kind (toponyme or voie): a pair of codes
    toponyme = columns.toponyme
    _flag_groups_with_several(
        flags,
        with_toponyme_id,
        voie * 2 + toponyme,
        ids,
        "row.different_id_ban_toponyme_with_same_voie_nom",
    )


def _check_adresse_ban_ids(table: RowTable, flags: Flags, columns: _Columns | None = None) -> None:
    columns = columns or _Columns(table)
    if table.id_adresse is None:  # no id: no group of the first check, one value in the second
        return
    is_address = ~columns.toponyme
    numero_keys = _numero_key_codes(table, columns)
    has_id = columns.has_adresse_id
    if table.id_adresse.all_distinct():  # the usual case: no id given twice
        _flag_distinct_ids(flags, np.flatnonzero(is_address), numero_keys, has_id)
        return
    ids = table.id_adresse.codes()
    _flag_groups_with_several(
        flags,
        np.flatnonzero(is_address & has_id),
        ids,
        numero_keys,
        "row.different_adresse_with_same_id_ban_adresse",
    )
    # "no id" counts as a value here: a copy with an id and a copy without one collide.
    _flag_groups_with_several(
        flags,
        np.flatnonzero(is_address),
        numero_keys,
        ids,
        "row.different_id_ban_adresses_with_same_adresse",
    )


def _numero_key_codes(table: RowTable, columns: _Columns | None = None) -> NDArray[np.int64]:
    """The codes of every row's ``getNumeroIdentifier`` (:meth:`RowTable.numero_keys`): equal
    codes for equal keys, without building a string per row.

    The key is ``numero#suffixe#voie#deleguee``; when no suffixe, voie or deleguee holds a
    ``#`` (a numero never does), the string splits back into its four parts, so two keys are
    equal exactly when their parts are: the parts' codes are combined instead. Otherwise the
    strings themselves are compared (``"a#b"`` + ``"c"`` and ``"a"`` + ``"b#c"`` collide, as in
    the reference).
    """
    names, distinct_names = (columns or _Columns(table)).names
    communes, distinct_communes = table.coded("communes")
    voies = [f"{normalize(n.voie_nom)}" for n in distinct_names]
    deleguees = [_undefined(c.commune_deleguee) for c in distinct_communes]
    suffixes, distinct_suffixes = (
        table.coded("suffixe")
        if table.suffixe is not None
        else _fast.factorize([None] * table.count)
    )
    parts = [*voies, *deleguees, *map(_undefined, distinct_suffixes)]
    if any("#" in part for part in parts):
        return _codes(table.numero_keys())
    numeros = table.coded("numero")[0]  # an int's text is its value's; None: "undefined"
    # "undefined" as a suffixe and no suffixe are the same key
    suffixe_text = _codes(list(map(_undefined, distinct_suffixes)))[suffixes]
    parts_codes = [numeros, suffixe_text, _codes(voies)[names], _codes(deleguees)[communes]]
    spans = [int(column.max()) + 1 if len(column) else 1 for column in parts_codes]
    key, spread = np.zeros(table.count, dtype=np.int64), 1
    # the narrowest parts first, compacted on the way: the key stays countable (no sort)
    for span, column in sorted(zip(spans, parts_codes, strict=True), key=itemgetter(0)):
        if spread * span > countable_span(table.count):
            key = unique_inverse(key)[1]
            spread = int(key.max()) + 1 if len(key) else 1
        key = key * span + column
        spread *= span
    codes: NDArray[np.int64] = unique_inverse(key)[1]  # codes below the row count
    return codes


def _undefined(value: str | None) -> str:
    """A value as a JavaScript template string shows it (``undefined`` for None)."""
    return "undefined" if value is None else value


def _flag_distinct_ids(
    flags: Flags, rows: NDArray[np.intp], keys: NDArray[np.int64], has_id: NDArray[np.bool_]
) -> None:
    """Both checks when no adresse id is given twice: no group of the first check has two
    rows; in the second, a group holds several values iff it has two rows or more and one of
    them has an id (the ids all differ; "no id" is one value)."""
    if not len(rows):
        return
    keys = keys[rows]
    size = int(keys.max()) + 1
    several = (np.bincount(keys, minlength=size) > 1) & (
        np.bincount(keys, weights=has_id[rows], minlength=size) > 0
    )
    flags.add_many(rows[several[keys]], "row.different_id_ban_adresses_with_same_adresse")


def _check_lieudit_declared(table: RowTable, flags: Flags, columns: _Columns | None = None) -> None:
    columns = columns or _Columns(table)
    declared = {table.names[i].voie_nom for i in np.flatnonzero(columns.toponyme).tolist()}
    # decided once per distinct Names (rows share them), then found row by row with numpy
    names, distinct = columns.names
    undeclared = np.array(
        [n.lieudit is not None and n.lieudit not in declared for n in distinct], dtype=bool
    )
    if undeclared.any():
        flags.add_many(np.flatnonzero(undeclared[names]), "row.lieudit_complement_nom_not_declared")
