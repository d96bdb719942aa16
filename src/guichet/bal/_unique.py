"""``np.unique`` of the integer keys the reader and the cross-row checks combine, by counting.

Those keys (codes of several columns combined) are usually below a few times the number of rows;
a count over their range then gives what ``np.unique`` gives, without its sort: on 100k rows,
0.7 ms instead of 5 ms, measured. A range much wider than the rows would cost more in fresh
memory than the sort: there the keys are hashed (``_cells.item_codes``, ~1 ms on 100k rows) and
only the distinct ones sorted (voie names by code voie on the 1.4 benchmark: 1.7k keys over a
range of 580k, 4.3 ms with ``np.unique``), or ``np.unique`` without the extension.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from guichet.bal import _fast

if TYPE_CHECKING:
    from numpy.typing import NDArray

_SPARE = 1024
"""A range this much wider than the rows is still counted (small arrays: no sort at all)."""


def unique_inverse(values: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.intp]]:
    """``np.unique(values, return_inverse=True)``: the distinct values, ascending, and the
    index of each value among them."""
    if not _countable(values):
        hashed = _hashed(values)
        if hashed is not None:
            return hashed[0], hashed[2]
        distinct, sorted_inverse = np.unique(values, return_inverse=True)
        return distinct, sorted_inverse.reshape(-1)
    distinct = np.flatnonzero(np.bincount(values)).astype(np.int64, copy=False)
    rank = np.empty(int(distinct[-1]) + 1, dtype=np.intp)
    rank[distinct] = np.arange(len(distinct))
    inverse: NDArray[np.intp] = rank[values]
    return distinct, inverse


def unique_first_inverse(
    values: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.intp], NDArray[np.intp]]:
    """``np.unique(values, return_index=True, return_inverse=True)``: also where each distinct
    value is first met."""
    if not _countable(values):
        hashed = _hashed(values)
        if hashed is not None:
            return hashed
        distinct, first, inverse = np.unique(values, return_index=True, return_inverse=True)
        return distinct, first, inverse.reshape(-1)
    distinct, inverse = unique_inverse(values)
    first = np.full(len(distinct), len(values), dtype=np.intp)
    np.minimum.at(first, inverse, np.arange(len(values)))
    return distinct, first, inverse


def countable_span(size: int) -> int:
    """The widest range of keys counted for ``size`` of them: a key combining several codes
    (``key * span + code``) compacted (:func:`unique_inverse`) before it grows past this stays
    countable, and its order is kept."""
    return 4 * size + _SPARE


def _countable(values: NDArray[np.int64]) -> bool:
    """Non-negative integers whose range is not much wider than their number."""
    if not len(values) or values.dtype.kind not in "iu":
        return False
    return int(values.min()) >= 0 and int(values.max()) < countable_span(len(values))


def _hashed(
    values: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.intp], NDArray[np.intp]] | None:
    """``unique_first_inverse`` by hashing the values then sorting the distinct ones; None
    without the extension or for other than int64 values."""
    cells = _fast.cells
    if cells is None or values.dtype != np.int64:
        return None
    found, found_firsts = cells.item_codes(np.ascontiguousarray(values), 8)
    codes = np.frombuffer(found, dtype=np.int64)
    firsts = np.frombuffer(found_firsts, dtype=np.int64).astype(np.intp)
    order = np.argsort(values[firsts], kind="stable")
    rank = np.empty(len(order), dtype=np.intp)
    rank[order] = np.arange(len(order))
    inverse: NDArray[np.intp] = rank[codes]
    return values[firsts[order]], firsts[order], inverse
