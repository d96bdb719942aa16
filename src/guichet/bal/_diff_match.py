"""Matching the rows of two files: which old row is which new row.

Three passes, each over the rows the previous ones left unmatched:

1. **BAN id**: rows carrying the same ``id_ban_adresse`` (or ``@a:`` id of ``uid_adresse``,
   case-insensitive) are the same address;
2. **address**: rows with the same (commune, voie, numero, suffixe) key (see
   :data:`._diff_read.Key`) — but two rows that both carry an id are the same address only when
   their ids are equal (pass 1), never by their key;
3. **renamed voie**: in a voie paired with a voie of another name (:mod:`._diff_voies`), rows
   with the same (numero, suffixe), with the same id rule.

Duplicates: a key (or id) held by several rows pairs them in order of appearance — the k-th
old row with that key goes with the k-th new row with it; the extra rows of the side that has
more are added or removed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from operator import ne
from typing import TYPE_CHECKING

import numpy as np

from guichet.bal._diff_rows import NO_ID, SideRows, combine, concatenated, id_codes, id_hashes

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Pairs = tuple[NDArray[np.intp], NDArray[np.intp]]
    """Old rows and the new rows they pair with (same length)."""

BY_ID, BY_ADDRESS, BY_RENAMED_VOIE = 0, 1, 2
"""How a pair was matched (:attr:`Matching.how`)."""


@dataclass
class Matching:
    """Pairs of (old row, new row), and how each pair was found."""

    ided: tuple[NDArray[np.bool_], NDArray[np.bool_]]
    """Which old rows and which new rows have a BAN id."""
    _olds: list[NDArray[np.intp]] = field(default_factory=list)
    _news: list[NDArray[np.intp]] = field(default_factory=list)
    _hows: list[NDArray[np.intp]] = field(default_factory=list)

    def add(self, pairs: Pairs, how: int) -> None:
        olds, news = pairs
        self._olds.append(olds)
        self._news.append(news)
        self._hows.append(np.full(len(olds), how, dtype=np.intp))

    @property
    def old_rows(self) -> NDArray[np.intp]:
        return concatenated(self._olds)

    @property
    def new_rows(self) -> NDArray[np.intp]:
        return concatenated(self._news)

    @property
    def how(self) -> NDArray[np.intp]:
        return concatenated(self._hows)

    def unmatched(
        self, old_count: int, new_count: int
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Old rows and new rows without a pair, each in file order."""
        return _others(self.old_rows, old_count), _others(self.new_rows, new_count)


def _others(taken: NDArray[np.intp], count: int) -> NDArray[np.intp]:
    """``range(count)`` without ``taken``."""
    free = np.ones(count, dtype=bool)
    free[taken] = False
    return np.flatnonzero(free)


def match_rows(old: SideRows, new: SideRows) -> Matching:
    """Passes 1 and 2."""
    old_ids, new_ids = id_hashes(old, new)
    old_ided, new_ided = old_ids != NO_ID, new_ids != NO_ID
    matching = Matching(ided=(old_ided, new_ided))
    if old_ided.any() and new_ided.any():
        old_rows, new_rows = np.flatnonzero(old_ided), np.flatnonzero(new_ided)
        pairs = pair_in_order(old_ids, new_ids, old_rows, new_rows)
        if not _same_ids(old, new, pairs):  # two ids with one hash: paired exactly, once more
            old_ids, new_ids = id_codes(old, new)
            pairs = pair_in_order(old_ids, new_ids, old_rows, new_rows)
        matching.add(pairs, BY_ID)
    old_left, new_left = matching.unmatched(len(old), len(new))
    old_keys, new_keys = address_keys(old, new)
    pairs = pair_in_order(old_keys, new_keys, old_left, new_left, matching.ided)
    matching.add(pairs, BY_ADDRESS)
    return matching


def _same_ids(old: SideRows, new: SideRows, pairs: Pairs) -> bool:
    assert old.ids is not None and new.ids is not None
    olds = map(old.ids.__getitem__, pairs[0].tolist())
    news = map(new.ids.__getitem__, pairs[1].tolist())
    return not any(map(ne, olds, news))


def address_keys(old: SideRows, new: SideRows) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Each row's (commune, voie, numero, suffixe) as one integer, the same on both sides."""

    def both(name: str) -> NDArray[np.intp]:
        return np.concatenate([getattr(old, name), getattr(new, name)])

    keys = combine(both("communes"), both("voies"), both("numeros"), both("suffixes"))
    return keys[: len(old)], keys[len(old) :]


def pair_in_order(
    old_keys: NDArray[np.int64] | NDArray[np.intp],
    new_keys: NDArray[np.int64] | NDArray[np.intp],
    old_rows: NDArray[np.intp],
    new_rows: NDArray[np.intp],
    ided: tuple[NDArray[np.bool_], NDArray[np.bool_]] | None = None,
) -> Pairs:
    """Pairs of ``old_rows`` and ``new_rows`` (ascending) with equal keys, in order of
    appearance; with ``ided`` (which rows have an id), two rows that both have an id never
    pair. Negative keys (no key) never pair."""
    old_rows = old_rows[old_keys[old_rows] >= 0]
    new_rows = new_rows[new_keys[new_rows] >= 0]
    if ided is not None and ided[0][old_rows].any() and ided[1][new_rows].any():
        return _pair_with_ids(old_keys, new_keys, old_rows, new_rows, ided)
    return _pair_by_rank(old_keys[old_rows], new_keys[new_rows], old_rows, new_rows)


def _pair_by_rank(
    old_keys: NDArray[np.int64] | NDArray[np.intp],
    new_keys: NDArray[np.int64] | NDArray[np.intp],
    old_rows: NDArray[np.intp],
    new_rows: NDArray[np.intp],
) -> Pairs:
    """The k-th old row with a key pairs with the k-th new row with it.

    One stable sort of both sides' keys (old rows first) puts each key's rows together, old
    ones in file order then new ones in file order: the new row at rank q of its key pairs
    with the old row at rank q, when there is one. (Keys follow the files' order of streets
    and numbers, so the sort mostly merges long sorted runs.)
    """
    count = len(old_keys)
    keys = np.concatenate([old_keys, new_keys])
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.ones(len(ordered), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    group = np.cumsum(starts) - 1  # each sorted row's key group
    group_start = np.flatnonzero(starts)
    olds_in_group = np.add.reduceat(order < count, group_start) if len(order) else group_start
    rank = np.arange(len(order)) - group_start[group]
    new_rank = rank - olds_in_group[group]  # among the new rows of its key
    paired = (order >= count) & (new_rank < olds_in_group[group])
    news = order[paired] - count
    olds = order[group_start[group[paired]] + new_rank[paired]]
    # in new-file order: what reads the rows of the pairs then reads both texts in order
    # (in key order, cache misses made comparing them 3 times slower)
    in_order = np.argsort(news, kind="stable")
    return old_rows[olds[in_order]], new_rows[news[in_order]]


def _pair_with_ids(
    old_keys: NDArray[np.int64] | NDArray[np.intp],
    new_keys: NDArray[np.int64] | NDArray[np.intp],
    old_rows: NDArray[np.intp],
    new_rows: NDArray[np.intp],
    ided: tuple[NDArray[np.bool_], NDArray[np.bool_]],
) -> Pairs:
    """:func:`pair_in_order` when both sides have rows with an id: a queue of old rows per key
    (rows with an id and rows without one apart, for the id rule); each new row takes the
    earliest it may."""
    with_id: dict[int, deque[int]] = {}
    without_id: dict[int, deque[int]] = {}
    rows = old_rows.tolist()
    for i, key, has_id in zip(
        rows, old_keys[old_rows].tolist(), ided[0][old_rows].tolist(), strict=True
    ):
        queues = with_id if has_id else without_id
        queues.setdefault(key, deque()).append(i)
    olds: list[int] = []
    news: list[int] = []
    rows = new_rows.tolist()
    for j, key, has_id in zip(
        rows, new_keys[new_rows].tolist(), ided[1][new_rows].tolist(), strict=True
    ):
        free = without_id.get(key)
        other = None if has_id else with_id.get(key)
        if free and (not other or free[0] < other[0]):
            olds.append(free.popleft())
            news.append(j)
        elif other:
            olds.append(other.popleft())
            news.append(j)
    return np.array(olds, dtype=np.intp), np.array(news, dtype=np.intp)
