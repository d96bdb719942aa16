"""The numpy grouping of the cross-row checks against the plain dict-of-groups algorithm."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from guichet.bal._crossrows import (
    _codes,
    _Columns,
    _flag_groups_with_several,
    _uses_ids,
    _voie_codes,
    uses_ids_many,
)
from guichet.bal._ids import AdresseIds
from guichet.bal._rows import TOPONYME_NUMERO, Names, RowTable

_UUID = "8f14e45f-ceea-467f-a9b0-2c2f1e4e5a11"
_UUID_2 = "8f14e45f-ceea-467f-a9b0-2c2f1e4e5a12"

keys = st.one_of(
    st.none(), st.sampled_from(["a", "b", "c"]), st.tuples(st.sampled_from("xy"), st.booleans())
)


def _plain(rows: list[int], keys: Sequence[Hashable], values: Sequence[Hashable]) -> set[int]:
    """The rows the reference flags: groups by key, flagged when they hold several values."""
    groups: dict[Hashable, list[int]] = {}
    for row in rows:
        groups.setdefault(keys[row], []).append(row)
    flagged: set[int] = set()
    for members in groups.values():
        if len(members) > 1 and len({values[r] for r in members}) > 1:
            flagged.update(members)
    return flagged


@given(st.data(), st.integers(0, 30))
def test_flag_groups_with_several_is_the_plain_algorithm(data: st.DataObject, size: int) -> None:
    row_keys = data.draw(st.lists(keys, min_size=size, max_size=size))
    row_values = data.draw(st.lists(keys, min_size=size, max_size=size))
    rows = sorted(data.draw(st.sets(st.integers(0, size - 1))) if size else set())
    table = RowTable(count=size)
    table.add(0, "before")  # codes already there stay first
    chosen = np.array(rows, dtype=np.intp)
    _flag_groups_with_several(table, chosen, _codes(row_keys), _codes(row_values), "code")
    flagged = {line for line, errors in table.errors.items() if ("code", None, None) in errors}
    assert flagged == _plain(rows, row_keys, row_values)
    assert table.errors[0][0] == ("before", None, None)
    assert all(errors.count(("code", None, None)) <= 1 for errors in table.errors.values())


@given(
    st.sampled_from([None, "", "c"]),
    st.sampled_from([None, "", "t"]),
    st.sampled_from([None, "", "a"]),
    st.sampled_from([None, 0, 1, TOPONYME_NUMERO]),
)
def test_uses_ids(
    id_commune: str | None, id_toponyme: str | None, id_adresse: str | None, numero: int | None
) -> None:
    """The former per-row loop: a row with a commune id uses ids when it has a toponyme id and
    an adresse id (or is a toponyme)."""
    expected = bool(id_commune) and bool(id_toponyme and (id_adresse or numero == TOPONYME_NUMERO))
    assert _uses_ids(id_commune, id_toponyme, id_adresse, numero) == expected
    table = RowTable(
        count=2,
        numero=[numero] * 2,
        id_commune=[id_commune] * 2,
        id_toponyme=[id_toponyme] * 2,
        id_adresse=AdresseIds.of([id_adresse] * 2),
    )
    assert uses_ids_many(table, _Columns(table)).tolist() == [expected, expected]


names_pool = [Names(v, None) for v in ("Rue A", "rue a", "Rue  A", "Rue B", None, "Lieu-dit Rue A")]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(range(len(names_pool))),
            st.sampled_from([None, "0001", "0002", "XXXX"]),
            st.sampled_from([1, 2, TOPONYME_NUMERO, None]),
        ),
        max_size=40,
    )
)
def test_voie_codes_group_rows_like_the_reference_keys(rows: list[tuple[int, Any, Any]]) -> None:
    """``_voie_codes`` (one key per distinct pair) partitions rows as ``voie_keys`` does, and
    the typed codes as the typed keys."""
    table = RowTable(count=len(rows))
    table.names = [names_pool[n] for n, _, _ in rows]
    table.code_voie = [code for _, code, _ in rows]
    table.numero = [numero for _, _, numero in rows]
    codes = _voie_codes(table).tolist()
    keys = table.voie_keys(typed=False)
    typed_keys = table.voie_keys(typed=True)
    toponyme = [numero == TOPONYME_NUMERO for numero in table.numero]
    typed = [code * 2 + int(t) for code, t in zip(codes, toponyme, strict=True)]
    for i in range(len(rows)):
        for j in range(len(rows)):
            assert (codes[i] == codes[j]) == (keys[i] == keys[j])
            assert (typed[i] == typed[j]) == (typed_keys[i] == typed_keys[j])


def _plain_adresse_checks(table: RowTable, ids: list[str | None]) -> dict[int, list[str]]:
    """The reference's validateAdresseBanIds, with dicts of groups."""
    keys = table.numero_keys()
    flagged: dict[int, list[str]] = {}
    by_id: dict[Any, list[int]] = {}
    for i, (id_, numero) in enumerate(zip(ids, table.numero, strict=True)):
        if id_ and numero != TOPONYME_NUMERO:
            by_id.setdefault(id_, []).append(i)
    for members in by_id.values():
        if len({keys[r] for r in members}) > 1:
            for r in members:
                flagged.setdefault(r, []).append("row.different_adresse_with_same_id_ban_adresse")
    by_key: dict[str, list[int]] = {}
    for i, numero in enumerate(table.numero):
        if numero != TOPONYME_NUMERO:
            by_key.setdefault(keys[i], []).append(i)
    for members in by_key.values():
        if len({ids[r] for r in members}) > 1:
            for r in members:
                flagged.setdefault(r, []).append("row.different_id_ban_adresses_with_same_adresse")
    return {line: flagged[line] for line in sorted(flagged)}


@given(
    st.lists(
        st.tuples(
            st.sampled_from([1, 2, TOPONYME_NUMERO, None]),
            st.sampled_from([None, "a", "undefined"]),
            st.sampled_from(range(len(names_pool))),
            st.one_of(
                st.none(),
                st.sampled_from(["i1", "i2", "i3", _UUID, _UUID.upper(), _UUID_2]),
                st.uuids().map(str),
                st.uuids(version=4).map(lambda u: str(u).upper()),
            ),
        ),
        max_size=30,
    )
)
def test_adresse_checks_are_the_plain_algorithm(rows: list[tuple[Any, Any, int, Any]]) -> None:
    """Ids held as bytes (a lower-case uuid v4) or as strings (any other): the same groups as
    the strings (a uuid in upper case is another id)."""
    from guichet.bal._crossrows import _check_adresse_ban_ids
    from guichet.bal._rows import Commune

    commune = Commune("35047", None)
    table = RowTable(count=len(rows))
    table.numero = [numero for numero, _, _, _ in rows]
    table.suffixe = [suffixe for _, suffixe, _, _ in rows]
    table.names = [names_pool[n] for _, _, n, _ in rows]
    table.communes = [commune] * len(rows)
    ids = [id_ for _, _, _, id_ in rows]
    table.id_adresse = AdresseIds.of(ids)
    _check_adresse_ban_ids(table, table)
    got = {line: [code for code, _, _ in errors] for line, errors in table.sorted_errors()}
    assert got == _plain_adresse_checks(table, ids)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1, 12, TOPONYME_NUMERO, None]),
            st.sampled_from([None, "a", "undefined", "B#"]),
            st.sampled_from(range(len(names_pool))),
            st.sampled_from([None, "35001", "undefined"]),
        ),
        max_size=20,
    ),
    st.booleans(),
)
def test_numero_keys_are_the_reference_template(
    rows: list[tuple[Any, Any, int, Any]], with_suffixe: bool
) -> None:
    from guichet.bal._rows import Commune
    from guichet.bal._text import normalize

    table = RowTable(count=len(rows))
    table.numero = [numero for numero, _, _, _ in rows]
    table.suffixe = [suffixe for _, suffixe, _, _ in rows] if with_suffixe else None
    table.names = [names_pool[n] for _, _, n, _ in rows]
    table.communes = [Commune("35047", deleguee) for _, _, _, deleguee in rows]

    def js(value: object) -> str:
        return "undefined" if value is None else str(value)

    expected = [
        f"{js(numero)}#{js(suffixe if with_suffixe else None)}#"
        f"{normalize(names_pool[n].voie_nom)}#{js(deleguee)}"
        for numero, suffixe, n, deleguee in rows
    ]
    assert table.numero_keys() == expected


@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1, 12, TOPONYME_NUMERO, None]),
            st.sampled_from([None, "a", "undefined", "B#", "", "#"]),
            st.sampled_from(range(len(names_pool) + 1)),
            st.sampled_from([None, "35001", "undefined", "1#"]),
        ),
        max_size=20,
    ),
    st.booleans(),
)
def test_numero_key_codes_group_rows_like_the_reference_strings(
    rows: list[tuple[Any, Any, int, Any]], with_suffixe: bool
) -> None:
    """``_numero_key_codes`` (parts' codes combined when no part holds a "#") partitions the
    rows as the reference's template strings do, collisions of "#" and "undefined" included."""
    from guichet.bal._crossrows import _numero_key_codes
    from guichet.bal._rows import Commune

    pool = [*names_pool, Names("b#12#a", None)]  # a voie whose key part holds "#"
    communes = {d: Commune("35047", d) for d in (None, "35001", "undefined", "1#")}
    table = RowTable(count=len(rows))
    table.numero = [numero for numero, _, _, _ in rows]
    table.suffixe = [suffixe for _, suffixe, _, _ in rows] if with_suffixe else None
    table.names = [pool[n] for _, _, n, _ in rows]
    table.communes = [communes[deleguee] for _, _, _, deleguee in rows]
    codes = _numero_key_codes(table).tolist()
    keys = table.numero_keys()
    for i in range(len(rows)):
        for j in range(len(rows)):
            assert (codes[i] == codes[j]) == (keys[i] == keys[j])


@given(
    st.integers(1, 12).flatmap(
        lambda size: st.tuples(
            st.just(size),
            st.sets(st.integers(0, size - 1)),
            st.lists(
                st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.sets(st.integers(0, size - 1))),
                max_size=5,
            ),
        )
    )
)
def test_pending_flags_are_sequential_adds(case: tuple[int, set[int], list[Any]]) -> None:
    """Flags applied at once (``_Pending``) give each row the codes that ``add_many`` calls in
    the same order give, after the row's own errors."""
    from guichet.bal._crossrows import _Pending

    size, with_errors, flags = case
    sequential, pending_table = RowTable(count=size), RowTable(count=size)
    for table in (sequential, pending_table):
        for line in sorted(with_errors):
            table.errors[line] = [("own", "col", "v")]
    pending = _Pending()
    for code, lines in flags:
        sequential.add_many(sorted(lines), code)
        pending.add_many(sorted(lines), code)
    pending.apply(pending_table)
    assert pending_table.sorted_errors() == sequential.sorted_errors()
