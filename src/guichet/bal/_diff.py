"""``diff(old, new)``: what changed between two BAL files (issue #15).

Rows are matched by BAN id, then by address, then inside renamed voies (:mod:`._diff_match`);
voies are paired by id, name or addresses (:mod:`._diff_voies`). A matched pair is
**unchanged** when every compared field (:mod:`._diff_fields`: the fields both files have,
under their 1.4 names, never ``date_der_maj``) holds the same cell, as written; otherwise it is
**modified** and its ``changes`` list the fields that differ. Unmatched new rows are **added**,
unmatched old rows **removed**.

Both files are read with the validator's modules (encoding, CSV, columns, value readers) but
not validated, one after the other in this process: each row becomes integer codes
(:mod:`._diff_rows`), matched with numpy, and compared natively where cells are cut natively
(:mod:`._cells`). Reading the bigger file in a forked child was measured slower once reading
got fast (2.2–2.6 s against 1.6–1.7 s on 250k-row files, before rows became codes): sending
its rows back cost more than reading them.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np

from guichet.bal._diff_fields import compared_fields
from guichet.bal._diff_match import BY_ID, BY_RENAMED_VOIE, Matching, match_rows, pair_in_order
from guichet.bal._diff_open import OpenedBal, Source, UnreadableBalError, open_bal
from guichet.bal._diff_read import read_rows
from guichet.bal._diff_result import (
    AdresseCounts,
    BalDiff,
    DiffPage,
    DiffSummary,
    KeyJson,
    LazyList,
    Modification,
    Row,
    VoieChanges,
    VoieCounts,
)
from guichet.bal._diff_rows import Key, SideRows, Vocabulary, differences, differing
from guichet.bal._diff_voies import VoieMatching, match_voies, renamed_voie_keys
from guichet.bal._gc import gc_paused
from guichet.bal._values import ValueReader

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["BalDiff", "DiffPage", "DiffSummary", "Modification", "UnreadableBalError", "diff"]


def diff(old: Source, new: Source) -> BalDiff:
    """The diff of two BAL files (bytes or paths), any BAL versions.

    Raises :class:`UnreadableBalError` (its ``side`` is ``"old"`` or ``"new"``) for a file the
    validator could not read.
    """
    with gc_paused():  # millions of acyclic strings and tuples: nothing for the collector
        old_file = _open(old, "old")
        new_file = _open(new, "new")
        compared = compared_fields(old_file.layout, new_file.layout)
        reader = ValueReader(today=dt.date.today())  # (the date only matters to date_der_maj)
        vocabulary = Vocabulary()  # shared: equal values get equal codes in both files
        # rows pair by BAN id only when both files have ids
        ids = all("id_ban_adresse" in opened.layout.fields for opened in (old_file, new_file))
        old_rows = _read(old_file, compared, reader, vocabulary, ids, "old")
        new_rows = _read(new_file, compared, reader, vocabulary, ids, "new")
        return _Diff(old_file, new_file, old_rows, new_rows, compared).result()


def _open(source: Source, side: str) -> OpenedBal:
    try:
        return open_bal(source)
    except UnreadableBalError as exc:
        exc.side = side
        raise


def _read(
    opened: OpenedBal,
    compared: list[str],
    reader: ValueReader,
    vocabulary: Vocabulary,
    ids: bool,
    side: str,
) -> SideRows:
    try:
        return read_rows(opened, compared, reader, vocabulary, address_ids=ids)
    except UnreadableBalError as exc:
        exc.side = side
        raise


_BLOCK = 2048
"""Modifications built together (see :meth:`_Diff._modification`)."""


class _Diff:
    """Matching, voies and counts of two read files, then the lazy lists of the result."""

    def __init__(
        self,
        old_file: OpenedBal,
        new_file: OpenedBal,
        old: SideRows,
        new: SideRows,
        compared: list[str],
    ) -> None:
        self.old_file, self.new_file = old_file, new_file
        self.old, self.new = old, new
        self.compared = compared
        self._records: dict[str, list[str] | list[tuple[str, ...]]] = {}
        self._modified_rows = np.zeros((3, 0), dtype=np.intp)
        """Old rows, new rows and how matched, of the modified pairs (in new-file order)."""
        self._block: tuple[int, list[Modification]] = (-1, [])
        """The last block of modifications built (they are read in order)."""

    def result(self) -> BalDiff:
        old, new = self.old, self.new
        matching = match_rows(old, new)
        voies = match_voies(old.voie_list, new.voie_list, old, new)
        if voies.moved:  # pass 3: rows of voies paired under another name
            old_left, new_left = matching.unmatched(len(old), len(new))
            old_keys, new_keys = renamed_voie_keys(voies.moved, old, new)
            pairs = pair_in_order(old_keys, new_keys, old_left, new_left, matching.ided)
            matching.add(pairs, BY_RENAMED_VOIE)
        removed, added = (rows.tolist() for rows in matching.unmatched(len(old), len(new)))
        self._modified_rows = modified = self._modified(matching)
        modified_count = modified.shape[1]
        summary = DiffSummary(
            AdresseCounts(
                added=len(added),
                removed=len(removed),
                modified=modified_count,
                unchanged=len(matching.old_rows) - modified_count,
            ),
            VoieCounts(len(voies.added), len(voies.removed), len(voies.renamed)),
        )
        return BalDiff(
            summary=summary,
            added=LazyList(len(added), lambda k: self._row(self.new_file, added[k])),
            removed=LazyList(len(removed), lambda k: self._row(self.old_file, removed[k])),
            modified=LazyList(modified_count, self._modification),
            voies=_voie_changes(voies),
            compared_fields=tuple(self.compared),
        )

    def _modified(self, matching: Matching) -> NDArray[np.intp]:
        """Old rows, new rows and how matched of the pairs whose compared cells differ, in
        new-file order."""
        order = np.argsort(matching.new_rows, kind="stable")  # (reads both texts in order)
        olds, news, how = matching.old_rows[order], matching.new_rows[order], matching.how[order]
        at = np.flatnonzero(differing(self.old.cells, self.new.cells, olds, news))
        return np.stack([olds[at], news[at], how[at]])

    def _modification(self, k: int) -> Modification:
        """The ``k``-th modification: built with the others of its block (the cells that
        differ found natively, the keys read in one pass)."""
        block, at = divmod(k, _BLOCK)
        if self._block[0] != block:
            self._block = (block, self._modifications(block * _BLOCK, (block + 1) * _BLOCK))
        return self._block[1][at]

    def _modifications(self, start: int, stop: int) -> list[Modification]:
        olds, news, how = self._modified_rows[:, start:stop]
        by_id = how == BY_ID
        keys: list[KeyJson] = [_address_key(key) for key in self.old.keys(olds)]
        for i in np.flatnonzero(by_id).tolist():
            keys[i] = {"id_ban_adresse": self.old.id(int(olds[i]))}
        compared = self.compared
        return [
            Modification(key, {compared[i]: (a, b) for i, a, b in changes}, old, new)
            for key, changes, old, new in zip(
                keys,
                differences(self.old.cells, self.new.cells, olds, news),
                olds.tolist(),
                news.tolist(),
                strict=True,
            )
        ]

    def _row(self, opened: OpenedBal, index: int) -> Row:
        side = "old" if opened is self.old_file else "new"
        records = self._records.get(side)
        if records is None:
            records = self._records[side] = opened.records()
        cells = opened.cells(records[index])
        return {name: cells[column] for name, column in opened.layout.columns.items()}


def _address_key(key: Key) -> KeyJson:
    commune, voie, numero, suffixe = key
    return {"commune_insee": commune, "voie": voie, "numero": numero, "suffixe": suffixe}


def _voie_changes(voies: VoieMatching) -> VoieChanges:
    return VoieChanges(voies.added, voies.removed, voies.renamed)
