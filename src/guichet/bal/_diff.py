"""``diff(old, new)``: what changed between two BAL files (issue #15).

Rows are matched by BAN id, then by address, then inside renamed voies (:mod:`._diff_match`);
voies are paired by id, name or addresses (:mod:`._diff_voies`). A matched pair is
**unchanged** when every compared field (:mod:`._diff_fields`: the fields both files have,
under their 1.4 names, never ``date_der_maj``) holds the same cell, as written; otherwise it is
**modified** and its ``changes`` list the fields that differ. Unmatched new rows are **added**,
unmatched old rows **removed**.

Both files are read with the validator's modules (encoding, CSV, columns, value readers) but
not validated. Both are read in this process by default: since cells are cut natively
(:mod:`._cells`), reading the bigger file in a forked child (``processes=2``, :mod:`._fork`)
was measured slower on 250k-row files (2.2–2.6 s against 1.6–1.7 s): pickling its rows back
costs more than reading them.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import compress
from operator import ne

import numpy as np

from guichet.bal import _fork
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
from guichet.bal._diff_rows import Key, SideRows
from guichet.bal._diff_voies import VoieMatching, match_voies, renamed_voie_keys, voies_of
from guichet.bal._values import ValueReader

__all__ = ["BalDiff", "DiffPage", "DiffSummary", "Modification", "UnreadableBalError", "diff"]


def diff(old: Source, new: Source, *, processes: int | None = None) -> BalDiff:
    """The diff of two BAL files (bytes or paths), any BAL versions.

    ``processes``: 1 or None (default) reads both files in this process, 2 reads the bigger
    one in a forked child (slower since the native split, see above). Raises
    :class:`UnreadableBalError` (its ``side`` is ``"old"`` or ``"new"``) for a file the
    validator could not read.
    """
    with _gc_paused():  # millions of acyclic strings and tuples: nothing for the collector
        old_file = _open(old, "old")
        new_file = _open(new, "new")
        compared = compared_fields(old_file.layout, new_file.layout)
        reader = ValueReader(today=dt.date.today())  # (the date only matters to date_der_maj)
        old_rows, new_rows = _read_both(old_file, new_file, compared, reader, processes)
        return _Diff(old_file, new_file, old_rows, new_rows, compared).result()


def _open(source: Source, side: str) -> OpenedBal:
    try:
        return open_bal(source)
    except UnreadableBalError as exc:
        exc.side = side
        raise


def _read_both(
    old: OpenedBal, new: OpenedBal, compared: list[str], reader: ValueReader, processes: int | None
) -> tuple[SideRows, SideRows]:
    if not _parallel(processes):
        return _read(old, compared, reader, "old"), _read(new, compared, reader, "new")
    # the child reads the bigger text: this process also opened both files and will match them
    sides = [(old, "old"), (new, "new")]
    (here, here_side), (there, there_side) = sorted(sides, key=lambda side: len(side[0].text))
    child = _fork.Forked(lambda: _read(there, compared, reader, there_side))
    try:
        rows = {here_side: _read(here, compared, reader, here_side)}
        rows[there_side] = child.result()  # a failed child: redone here (and raises here)
    finally:
        child.close()
    return rows["old"], rows["new"]


def _parallel(processes: int | None) -> bool:
    return _fork.can_fork() and processes is not None and processes > 1


def _read(opened: OpenedBal, compared: list[str], reader: ValueReader, side: str) -> SideRows:
    try:
        return read_rows(opened, compared, reader)
    except UnreadableBalError as exc:
        exc.side = side
        raise


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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

    def result(self) -> BalDiff:
        old, new = self.old, self.new
        matching = match_rows(old, new)
        voies = match_voies(voies_of(old), voies_of(new), old, new)
        if voies.moved:  # pass 3: rows of voies paired under another name
            old_left, new_left = matching.unmatched(len(old), len(new))
            old_keys, new_keys = renamed_voie_keys(voies.moved, old, new)
            pairs = pair_in_order(old_keys, new_keys, old_left, new_left, (old.ids, new.ids))
            matching.add(pairs, BY_RENAMED_VOIE)
        removed, added = matching.unmatched(len(old), len(new))
        modified = self._modified(matching)
        summary = DiffSummary(
            AdresseCounts(
                added=len(added),
                removed=len(removed),
                modified=len(modified),
                unchanged=len(matching.old_rows) - len(modified),
            ),
            VoieCounts(len(voies.added), len(voies.removed), len(voies.renamed)),
        )
        return BalDiff(
            summary=summary,
            added=LazyList(len(added), lambda k: self._row(self.new_file, added[k])),
            removed=LazyList(len(removed), lambda k: self._row(self.old_file, removed[k])),
            modified=LazyList(len(modified), lambda k: self._modification(*modified[k])),
            voies=_voie_changes(voies),
            compared_fields=tuple(self.compared),
        )

    def _modified(self, matching: Matching) -> list[tuple[int, int, int]]:
        """(old row, new row, how) of the pairs whose projections differ, in new-file order."""
        old_p, new_p = self.old.projections, self.new.projections
        olds, news = matching.old_rows, matching.new_rows
        differs: Iterable[bool]
        if self.old.separator == self.new.separator:
            differs = map(ne, map(old_p.__getitem__, olds), map(new_p.__getitem__, news))
        else:  # pragma: no cover - a text holding the usual separator: compare the cells
            differs = (bool(self._changes(i, j)) for i, j in zip(olds, news, strict=True))
        at = np.flatnonzero(np.fromiter(differs, dtype=bool, count=len(olds)))
        new_rows = np.array(news, dtype=np.intp)[at]
        at = at[np.argsort(new_rows, kind="stable")]  # in the new file's order
        return list(
            zip(
                np.array(olds, dtype=np.intp)[at].tolist(),
                np.array(news, dtype=np.intp)[at].tolist(),
                np.array(matching.how, dtype=np.intp)[at].tolist(),
                strict=True,
            )
        )

    def _changes(self, old: int, new: int) -> dict[str, tuple[str, str]]:
        old_cells = self.old.projections[old].split(self.old.separator)
        new_cells = self.new.projections[new].split(self.new.separator)
        # the few fields that differ, found at C speed (250k modified rows: ~1 s less)
        differ = compress(range(len(old_cells)), map(ne, old_cells, new_cells))
        compared = self.compared
        return {compared[i]: (old_cells[i], new_cells[i]) for i in differ}

    def _modification(self, old: int, new: int, how: int) -> Modification:
        key: KeyJson
        if how == BY_ID:
            key = {"id_ban_adresse": self.old.ids[old]}
        else:
            key = _address_key(self.old.keys[old])
        return Modification(key, self._changes(old, new), old, new)

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
