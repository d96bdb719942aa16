""":class:`AdresseIds` behaves as the list of optional strings it stands for."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from guichet.bal import _ids
from guichet.bal._ids import AdresseIds

_UUID = "8f14e45f-ceea-467f-a9b0-2c2f1e4e5a11"
ids = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from([_UUID, _UUID.upper(), "x", "X", "00000000-0000-4000-8000-000000000000"]),
    st.uuids().map(str),
    st.uuids(version=4).map(lambda u: str(u).upper()),
)


def _codes_partition(codes: list[int], values: list[str | None]) -> bool:
    return all(
        (codes[i] == codes[j]) == (values[i] == values[j])
        for i in range(len(values))
        for j in range(len(values))
    )


@given(st.lists(ids, max_size=30), st.lists(ids, max_size=10))
def test_ids_are_the_list_they_stand_for(first: list[str | None], then: list[str | None]) -> None:
    """Reading, extending, present rows, codes (no id: one value) and distinctness, pickled or
    not; "" is no id, as the reader takes an empty cell."""
    expected = [value or None for value in first + then]
    held = AdresseIds.of(first)
    held.extend(AdresseIds.of(then))
    for found in (held, pickle.loads(pickle.dumps(held))):
        assert list(found) == expected and len(found) == len(expected)
        assert found.present().tolist() == [value is not None for value in expected]
        assert _codes_partition(found.codes().tolist(), expected)
        given_ids = [value for value in expected if value is not None]
        assert found.all_distinct() == (len(set(given_ids)) == len(given_ids))
        assert found == held


@given(st.lists(ids, min_size=1, max_size=20), st.data())
def test_a_row_set_again_holds_its_new_id(values: list[str | None], data: st.DataObject) -> None:
    """The exact path sets a dirty row's id: a string held as bytes may replace one held as a
    string, and the reverse."""
    held = AdresseIds.of(values)
    expected = [value or None for value in values]
    for _ in range(5):
        i = data.draw(st.integers(0, len(values) - 1))
        value = data.draw(ids)
        held[i] = value
        expected[i] = value or None
    assert list(held) == expected
    assert _codes_partition(held.codes().tolist(), expected)
    with pytest.raises(IndexError):
        held[len(values)] = _UUID


@given(st.lists(ids, min_size=1, max_size=20), st.data())
def test_rows_assigned_at_once_hold_what_one_by_one_would(
    values: list[str | None], data: st.DataObject
) -> None:
    held, one_by_one = AdresseIds.of(values), AdresseIds.of(values)
    rows = sorted(data.draw(st.sets(st.integers(0, len(values) - 1))))
    new = [data.draw(ids) for _ in rows]
    held.assign(rows, new)
    for row, value in zip(rows, new, strict=True):
        one_by_one[row] = value
    assert held == one_by_one and list(held) == list(one_by_one)
    with pytest.raises(IndexError):
        held.assign([len(values)], [_UUID])


def test_only_a_lower_case_uuid_v4_is_held_as_bytes() -> None:
    assert _ids.word_of(_UUID) == bytes.fromhex(_UUID.replace("-", ""))
    for other in (_UUID.upper(), _UUID[:14] + "1" + _UUID[15:], _UUID + " ", "x"):
        assert _ids.word_of(other) is None
    assert AdresseIds.none(3).present().tolist() == [False] * 3


def test_the_codes_hold_without_the_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    values = [_UUID, None, _UUID.upper(), _UUID, "x", None]
    monkeypatch.setattr(_ids._fast, "cells", None)
    held = AdresseIds.of(values)
    assert _codes_partition(held.codes().tolist(), values)
    assert not held.all_distinct()
    assert np.count_nonzero(held.present()) == 4
