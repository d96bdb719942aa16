"""Voies of two files: which were added, removed, renamed.

A **voie** of a file is the set of its rows (addresses and toponymes, numero 99999 included)
with the same commune and the same normalized voie name (``voie_nom``, else ``toponyme``,
normalized by the validator's ``normalize``: case, accents, abbreviations, stop words); rows
without a voie name belong to none. Its **name** is the spelling (trimmed) most of its rows
use, the first one met on a tie; its **id** the first ``id_ban_toponyme`` (or ``@v:`` id) of its
rows.

An old voie and a new voie are the **same voie**, tried in this order, each step over the
voies the previous ones left:

1. when both carry the same id;
2. when they have the same commune and normalized name — unless both carry ids (different
   ones, since step 1 did not pair them);
3. when, in the same commune, they hold exactly the same non-empty set of (numero, suffixe)
   and not both carry ids: a street renamed without ids. Several candidates: in order of
   appearance.

A pair is **renamed** when its names differ (a change of case or accents counts: the name a
person reads changed); old voies without a pair are **removed**, new ones **added**.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from guichet.bal._diff_rows import SideRows, Voie, VoieKey, combine

if TYPE_CHECKING:
    from numpy.typing import NDArray


class RenamedVoie(NamedTuple):
    """A voie whose name changed."""

    old: Voie
    new: Voie

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old.to_json(), "new": self.new.to_json()}


@dataclass
class VoieMatching:
    """The voies of both files paired (see the module's rules)."""

    added: list[Voie] = field(default_factory=list)
    removed: list[Voie] = field(default_factory=list)
    renamed: list[RenamedVoie] = field(default_factory=list)
    moved: list[tuple[VoieKey, VoieKey]] = field(default_factory=list)
    """Pairs whose normalized names differ: their rows could not match by address key."""


def match_voies(
    old_voies: dict[VoieKey, Voie],
    new_voies: dict[VoieKey, Voie],
    old_rows: SideRows,
    new_rows: SideRows,
) -> VoieMatching:
    pairs: dict[VoieKey, VoieKey] = {}  # old -> new
    taken: set[VoieKey] = set()

    def pair(old_key: VoieKey, new_key: VoieKey) -> None:
        pairs[old_key] = new_key
        taken.add(new_key)

    new_by_id: dict[str, VoieKey] = {}
    for key, voie in new_voies.items():
        if voie.id is not None:
            new_by_id.setdefault(voie.id, key)
    for key, voie in old_voies.items():
        found = None if voie.id is None else new_by_id.get(voie.id)
        if found is not None and found not in taken:
            pair(key, found)
    for key, voie in old_voies.items():
        other = new_voies.get(key)
        free = key not in pairs and other is not None and key not in taken
        if free and (voie.id is None or other is None or other.id is None):
            pair(key, key)
    _pair_by_addresses(old_voies, new_voies, old_rows, new_rows, pairs, taken)
    return _matching(old_voies, new_voies, pairs)


def _pair_by_addresses(
    old_voies: dict[VoieKey, Voie],
    new_voies: dict[VoieKey, Voie],
    old_rows: SideRows,
    new_rows: SideRows,
    pairs: dict[VoieKey, VoieKey],
    taken: set[VoieKey],
) -> None:
    """Step 3, only looked at when both files have unpaired voies in a same commune."""
    old_left = [key for key in old_voies if key not in pairs]
    new_left = [key for key in new_voies if key not in taken]
    communes = {key[0] for key in old_left} & {key[0] for key in new_left}
    if not communes:
        return
    old_sets = _addresses(old_rows, {key for key in old_left if key[0] in communes})
    new_sets = _addresses(new_rows, {key for key in new_left if key[0] in communes})
    candidates: dict[tuple[str | None, frozenset[int]], list[VoieKey]] = {}
    for new_key, addresses in new_sets.items():  # in order of appearance
        candidates.setdefault((new_key[0], addresses), []).append(new_key)
    for old_key, addresses in old_sets.items():
        for new_key in candidates.get((old_key[0], addresses), ()):
            if new_key in taken:
                continue
            if old_voies[old_key].id is None or new_voies[new_key].id is None:
                pairs[old_key] = new_key
                taken.add(new_key)
                break


def _addresses(rows: SideRows, wanted: set[VoieKey]) -> dict[VoieKey, frozenset[int]]:
    """The (numero, suffixe) set of each ``wanted`` voie, in order of appearance (as codes of
    the vocabulary both files share)."""
    voie_codes = _voie_codes(rows, wanted)
    at = np.flatnonzero(np.isin(rows.voie_keys, list(voie_codes)))
    addresses = combine(rows.numeros[at], rows.suffixes[at])
    found: dict[VoieKey, set[int]] = {}
    for voie, address in zip(rows.voie_keys[at].tolist(), addresses.tolist(), strict=True):
        found.setdefault(voie_codes[voie], set()).add(address)
    return {key: frozenset(addresses) for key, addresses in found.items()}


def _voie_codes(rows: SideRows, voies: Iterable[VoieKey]) -> dict[int, VoieKey]:
    """The :attr:`SideRows.voie_keys` code of each of ``voies`` (those its rows have)."""
    codes = {}
    for voie in voies:
        code = rows.voie_key_code(voie)
        if code is not None:
            codes[code] = voie
    return codes


def _matching(
    old_voies: dict[VoieKey, Voie], new_voies: dict[VoieKey, Voie], pairs: dict[VoieKey, VoieKey]
) -> VoieMatching:
    matching = VoieMatching()
    paired_new = set(pairs.values())
    matching.removed = [voie for key, voie in old_voies.items() if key not in pairs]
    matching.added = [voie for key, voie in new_voies.items() if key not in paired_new]
    for old_key, new_key in pairs.items():
        old, new = old_voies[old_key], new_voies[new_key]
        if old.name != new.name:
            matching.renamed.append(RenamedVoie(old, new))
        if old_key != new_key:
            matching.moved.append((old_key, new_key))
    return matching


def renamed_voie_keys(
    moved: Iterable[tuple[VoieKey, VoieKey]], old_rows: SideRows, new_rows: SideRows
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Row keys for pass 3 of the row matching: (pair, numero, suffixe) as one integer for the
    rows of a voie paired under another name, -1 for the others (they never pair)."""
    old_pair: dict[VoieKey, int] = {}
    new_pair: dict[VoieKey, int] = {}
    for index, (old_key, new_key) in enumerate(moved):
        old_pair[old_key] = index
        new_pair[new_key] = index
    old_pairs, new_pairs = _pair_of(old_rows, old_pair), _pair_of(new_rows, new_pair)
    keys = combine(
        np.concatenate([old_pairs, new_pairs]),
        np.concatenate([old_rows.numeros, new_rows.numeros]),
        np.concatenate([old_rows.suffixes, new_rows.suffixes]),
    )
    keys[np.concatenate([old_pairs, new_pairs]) < 0] = -1
    return keys[: len(old_rows)], keys[len(old_rows) :]


def _pair_of(rows: SideRows, pair_of: dict[VoieKey, int]) -> NDArray[np.intp]:
    """Each row's index in ``pair_of`` (-1: its voie is not there)."""
    codes = _voie_codes(rows, pair_of)
    known = np.array(list(codes), dtype=np.int64)
    index = np.array([pair_of[voie] for voie in codes.values()], dtype=np.intp)
    pairs = np.full(len(rows), -1, dtype=np.intp)
    at = np.flatnonzero(np.isin(rows.voie_keys, known))
    order = np.argsort(known)
    pairs[at] = index[order][np.searchsorted(known[order], rows.voie_keys[at])]
    return pairs
