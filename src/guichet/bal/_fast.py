"""The native helpers of :mod:`._cells` (a small C extension), each with its pure-Python
equivalent: the extension is optional (built where a C compiler is at hand) and every caller
gets the same result either way (``tests/bal/test_native_cells.py``)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from itertools import count, repeat
from operator import eq, truth
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from types import ModuleType

    from numpy.typing import NDArray


def _load() -> ModuleType | None:
    try:
        from guichet.bal import _cells
    except ImportError:  # pragma: no cover - built without a C compiler
        return None
    return _cells


cells: ModuleType | None = _load()
"""The extension, or None where it was not built."""


def truths(values: Iterable[Any]) -> NDArray[np.bool_]:
    """``bool`` of every value."""
    if cells is not None and type(values) is list:
        return np.frombuffer(cells.truths(values), dtype=bool).copy()
    return np.fromiter(map(truth, values), dtype=bool)


def none_if_empty(values: Sequence[str]) -> list[str | None]:
    """``[v or None for v in values]``, the few empty values found at C speed (an id column
    has a value on nearly every row)."""
    out: list[str | None] = list(values)
    for empty in np.flatnonzero(~truths(values)).tolist():
        out[empty] = None
    return out


def native_floats(values: Sequence[str]) -> tuple[NDArray[np.bool_], NDArray[np.float64]] | None:
    """(values not in the happy float shape, ``float`` of the others and NaN for them), or
    None without the extension."""
    if cells is None or type(values) is not list:
        return None
    bad, floats = cells.floats(values)
    return np.frombuffer(bad, dtype=bool).copy(), np.frombuffer(floats, dtype=np.float64)


def native_uuid_misses(values: Sequence[str]) -> NDArray[np.bool_] | None:
    """The values that are not a uuid v4 in the happy shape, or None without the extension."""
    if cells is None or type(values) is not list:
        return None
    return np.frombuffer(cells.uuids(values), dtype=bool).copy()


def factorize(values: Sequence[Hashable]) -> tuple[NDArray[np.int64], list[Any]]:
    """Each value's code (equal values, as dictionary keys, share one; codes in order of first
    appearance) and the distinct values."""
    if cells is not None and type(values) is list:
        codes, distinct = cells.factorize(values)
        return np.frombuffer(codes, dtype=np.int64), distinct
    index: dict[Hashable, Any] = dict.fromkeys(values)
    distinct = list(index)
    index.update(zip(distinct, count()))
    return np.fromiter(map(index.__getitem__, values), np.int64, len(values)), distinct


def equals(values: Sequence[Any], value: Any) -> NDArray[np.bool_]:
    """``item == value`` of every item."""
    if cells is not None and type(values) is list:
        return np.frombuffer(cells.equals(values, value), dtype=bool).copy()
    return np.fromiter(map(eq, values, repeat(value)), bool, len(values))


def native_cle_misses(values: Sequence[str]) -> NDArray[np.bool_] | None:
    """The values not in cle_interop's happy shape (``_bulk.CLE_HAPPY``), or None without the
    extension."""
    if cells is None or type(values) is not list:
        return None
    return np.frombuffer(cells.cles(values), dtype=bool).copy()


def slices(values: Sequence[str], part: slice) -> tuple[NDArray[np.intp], list[str]]:
    """:func:`factorize` of ``value[part]`` for every value (``part``: ``start:stop``, both
    given, non-negative)."""
    start, stop = part.start, part.stop
    if cells is not None and type(values) is list:
        codes, distinct = cells.slices(values, start, stop)
        return np.frombuffer(codes, dtype=np.intp), distinct
    sliced = [value[start:stop] for value in values]
    index: dict[str, Any] = dict.fromkeys(sliced)
    distinct = list(index)
    index.update(zip(distinct, count()))
    return np.fromiter(map(index.__getitem__, sliced), np.intp, len(sliced)), distinct


def take(values: list[Any], codes: NDArray[np.intp]) -> list[Any]:
    """``values[code]`` of every code, as a list."""
    if cells is not None and codes.dtype == np.intp:
        taken: list[Any] = cells.take(values, np.ascontiguousarray(codes))
        return taken
    return list(map(values.__getitem__, codes.tolist()))
