"""The diff's row pairing on integer codes (:mod:`guichet.bal._diff_match`) against the rule
it implements, written plainly: a queue of old rows per key, each new row taking the earliest
old row it may (two rows that both have an id never pair)."""

from __future__ import annotations

from collections import deque

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from guichet.bal._diff_match import pair_in_order
from guichet.bal._diff_rows import combine

Side = list[tuple[int, bool]]
"""(key, has an id) of each row; a negative key is no key."""

sides = st.lists(st.tuples(st.integers(-1, 6), st.booleans()), max_size=40)


def plain_pairs(old: Side, new: Side) -> set[tuple[int, int]]:
    queues: dict[tuple[int, bool], deque[int]] = {}
    for i, (key, ided) in enumerate(old):
        if key >= 0:
            queues.setdefault((key, ided), deque()).append(i)
    pairs = set()
    for j, (key, ided) in enumerate(new):
        free = queues.get((key, False))
        other = None if ided else queues.get((key, True))
        if free and (not other or free[0] < other[0]):
            pairs.add((free.popleft(), j))
        elif other:
            pairs.add((other.popleft(), j))
    return pairs


def arrays(side: Side) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keys = np.array([key for key, _ in side], dtype=np.int64)
    ided = np.array([has for _, has in side], dtype=bool)
    return keys, ided, np.arange(len(side), dtype=np.intp)


@given(sides, sides)
def test_rows_pair_as_the_rule_says(old: Side, new: Side) -> None:
    old_keys, old_ided, old_rows = arrays(old)
    new_keys, new_ided, new_rows = arrays(new)
    olds, news = pair_in_order(old_keys, new_keys, old_rows, new_rows, (old_ided, new_ided))
    assert set(zip(olds.tolist(), news.tolist(), strict=True)) == plain_pairs(old, new)


@given(sides, sides)
def test_without_ids_the_kth_row_of_a_key_pairs_with_the_kth(old: Side, new: Side) -> None:
    old = [(key, False) for key, _ in old]
    new = [(key, False) for key, _ in new]
    old_keys, _, old_rows = arrays(old)
    new_keys, _, new_rows = arrays(new)
    olds, news = pair_in_order(old_keys, new_keys, old_rows, new_rows)
    assert set(zip(olds.tolist(), news.tolist(), strict=True)) == plain_pairs(old, new)


def test_only_the_given_rows_pair() -> None:
    keys = np.array([1, 1, 2, 2], dtype=np.int64)
    olds, news = pair_in_order(keys, keys, np.array([1, 2]), np.array([0, 3]))
    assert (olds.tolist(), news.tolist()) == ([1, 2], [0, 3])


@given(st.lists(st.tuples(st.integers(-1, 3), st.integers(-1, 3), st.integers(-1, 3)), max_size=30))
def test_combined_codes_are_equal_exactly_when_every_code_is(rows: list[tuple[int, ...]]) -> None:
    columns = [np.array(column, dtype=np.intp) for column in zip(*rows, strict=True)] or [
        np.zeros(0, dtype=np.intp)
    ]
    keys = combine(*columns).tolist()
    for i, row in enumerate(rows):
        for j, other in enumerate(rows):
            assert (keys[i] == keys[j]) == (row == other)


def test_combined_codes_are_compacted_instead_of_overflowing() -> None:
    big = np.array([2**40, 0, 2**40, 5], dtype=np.intp)
    keys = combine(big, big, big, np.array([1, 1, 1, 2], dtype=np.intp)).tolist()
    assert keys[0] == keys[2]
    assert len(set(keys)) == 3
    assert max(keys) < 2**62
