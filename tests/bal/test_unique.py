"""The counting (or hashing) ``np.unique`` of the combined keys gives what ``np.unique``
gives."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from guichet.bal import _fast
from guichet.bal._unique import unique_first_inverse, unique_inverse

# small ranges (counted), wide ones (hashed) and negative values (hashed), some repeated
values = st.one_of(
    st.lists(st.integers(0, 40), max_size=60),
    st.lists(st.integers(0, 2**40), max_size=30),
    st.lists(st.integers(-(2**62), 2**62), max_size=30),
    st.lists(st.sampled_from([0, 7, -5, 2**40, 2**62, -(2**63)]), max_size=60),
)


@given(values)
@example([])
@example([5, 5, 5])
@example([7000])  # one value: a range wider than 4 rows, within the spare
def test_unique_inverse_is_numpy_unique(items: list[int]) -> None:
    array = np.array(items, dtype=np.int64)
    distinct, inverse = unique_inverse(array)
    expected, expected_inverse = np.unique(array, return_inverse=True)
    assert distinct.tolist() == expected.tolist()
    assert inverse.tolist() == expected_inverse.reshape(-1).tolist()


@given(values)
@example([3, 1, 3, 0, 1])
def test_unique_first_inverse_is_numpy_unique(items: list[int]) -> None:
    array = np.array(items, dtype=np.int64)
    expected = np.unique(array, return_index=True, return_inverse=True)
    for native in (_fast.cells, None):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_fast, "cells", native)
            distinct, first, inverse = unique_first_inverse(array)
        assert distinct.tolist() == expected[0].tolist()
        assert first.tolist() == expected[1].tolist()
        assert inverse.tolist() == expected[2].reshape(-1).tolist()
