"""The numpy grouping of the cross-row checks against the plain dict-of-groups algorithm."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from guichet.bal._crossrows import (
    _codes,
    _flag_groups_with_several,
    _uses_ids,
    _voie_codes,
    uses_ids_many,
)
from guichet.bal._rows import TOPONYME_NUMERO, Names, RowTable

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
    many = uses_ids_many([id_commune] * 2, [id_toponyme] * 2, [id_adresse] * 2, [numero] * 2)
    assert many.tolist() == [expected, expected]


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
