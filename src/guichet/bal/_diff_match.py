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
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import ne

import numpy as np

from guichet.bal._diff_rows import SideRows

Pairs = tuple[list[int], list[int]]
"""Old rows and the new rows they pair with (same length)."""

BY_ID, BY_ADDRESS, BY_RENAMED_VOIE = 0, 1, 2
"""How a pair was matched (:attr:`Matching.how`)."""


@dataclass
class Matching:
    """Pairs of (old row, new row), and how each pair was found."""

    old_rows: list[int] = field(default_factory=list)
    new_rows: list[int] = field(default_factory=list)
    how: list[int] = field(default_factory=list)

    def add(self, pairs: Pairs, how: int) -> None:
        olds, news = pairs
        self.old_rows += olds
        self.new_rows += news
        self.how += [how] * len(olds)

    def unmatched(self, old_count: int, new_count: int) -> tuple[list[int], list[int]]:
        """Old rows and new rows without a pair, each in file order."""
        return _others(self.old_rows, old_count), _others(self.new_rows, new_count)


def _others(taken: list[int], count: int) -> list[int]:
    """``range(count)`` without ``taken`` (numpy: 250k rows in a few milliseconds)."""
    free = np.ones(count, dtype=bool)
    free[np.array(taken, dtype=np.intp)] = False
    return np.flatnonzero(free).tolist()


def match_rows(old: SideRows, new: SideRows) -> Matching:
    """Passes 1 and 2."""
    matching = Matching()
    old_ided = list(compress(range(len(old)), old.ids))
    new_ided = list(compress(range(len(new)), new.ids))
    if old_ided and new_ided:
        matching.add(pair_in_order(old.ids, new.ids, old_ided, new_ided), BY_ID)
    old_left, new_left = matching.unmatched(len(old), len(new))
    pairs = pair_in_order(old.keys, new.keys, old_left, new_left, (old.ids, new.ids))
    matching.add(pairs, BY_ADDRESS)
    return matching


def pair_in_order(
    old_keys: Sequence[Hashable | None],
    new_keys: Sequence[Hashable | None],
    old_rows: list[int],
    new_rows: list[int],
    ids: tuple[Sequence[str], Sequence[str]] | None = None,
) -> Pairs:
    """Pairs of ``old_rows`` and ``new_rows`` (ascending) with equal keys, in order of
    appearance; with ``ids``, two rows that both have an id never pair. Empty keys (None,
    '') never pair."""
    old_rows = _with_keys(old_keys, old_rows)
    new_rows = _with_keys(new_keys, new_rows)
    old_with_id = ids is not None and any(_keys_of(ids[0], old_rows))
    new_with_id = ids is not None and any(_keys_of(ids[1], new_rows))
    if not (old_with_id and new_with_id):
        fast = _pair_unique(old_keys, new_keys, old_rows, new_rows)
        if fast is not None:
            return fast
    return _pair_general(old_keys, new_keys, old_rows, new_rows, ids)


def _with_keys(keys: Sequence[Hashable | None], rows: list[int]) -> list[int]:
    """``rows`` whose key is not empty."""
    if len(rows) == len(keys):  # every row (their keys are read without indexing)
        return list(compress(rows, keys))
    return list(compress(rows, map(keys.__getitem__, rows)))


def _pair_unique(
    old_keys: Sequence[Hashable | None],
    new_keys: Sequence[Hashable | None],
    old_rows: list[int],
    new_rows: list[int],
) -> Pairs | None:
    """The pairs when no key repeats on either side (dictionary lookups at C speed); None
    when one does."""
    old_of_key = dict(zip(_keys_of(old_keys, old_rows), old_rows, strict=True))
    if len(old_of_key) != len(old_rows):
        return None
    found: list[int] = list(map(old_of_key.get, _keys_of(new_keys, new_rows), repeat(-1)))
    hit = list(map(ne, found, repeat(-1)))
    olds = list(compress(found, hit))
    if len(set(olds)) != len(olds):  # a key repeated in the new file (and in the old one)
        return None
    return olds, list(compress(new_rows, hit))


def _keys_of(keys: Sequence[Hashable | None], rows: list[int]) -> Iterable[Hashable | None]:
    """The keys of ``rows`` (ascending, all non-empty); ``keys`` itself when that is all."""
    if len(rows) == len(keys):
        return keys
    return map(keys.__getitem__, rows)


def _pair_general(
    old_keys: Sequence[Hashable | None],
    new_keys: Sequence[Hashable | None],
    old_rows: list[int],
    new_rows: list[int],
    ids: tuple[Sequence[str], Sequence[str]] | None,
) -> Pairs:
    """:func:`pair_in_order` with repeated keys: a queue of old rows per key (rows with an id
    and rows without one apart, for the id rule); each new row takes the earliest it may."""
    with_id: dict[Hashable, deque[int]] = {}
    without_id: dict[Hashable, deque[int]] = {}
    for i in old_rows:
        queues = with_id if ids is not None and ids[0][i] else without_id
        queues.setdefault(old_keys[i], deque()).append(i)
    olds: list[int] = []
    news: list[int] = []
    for j in new_rows:
        key = new_keys[j]
        free = without_id.get(key)
        ided = None if ids is not None and ids[1][j] else with_id.get(key)
        if free and (not ided or free[0] < ided[0]):
            olds.append(free.popleft())
            news.append(j)
        elif ided:
            olds.append(ided.popleft())
            news.append(j)
    return olds, news
