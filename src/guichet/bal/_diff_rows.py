"""What the diff keeps of the rows of one file (:class:`SideRows`): integer codes, no Python
object per row.

Every matching field of a row (commune, normalized voie name, numero, suffixe, BAN id) is a
code in a :class:`Vocabulary` shared by both files, so that equal values have equal codes on
both sides and rows are matched with numpy on integers (:mod:`._diff_match`). The compared
cells stay in the text: :class:`NativeCells` keeps where each row starts and ends, and pairs
of rows are compared natively (:func:`._cells.differ`, :func:`._cells.differences`);
:class:`JoinedCells` (no extension, quoted texts, ids read from ``uid_adresse``) keeps each
row's compared cells joined in one string.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import compress, starmap
from operator import ne
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from guichet.bal import _fast

if TYPE_CHECKING:
    from numpy.typing import NDArray

    IdCodes = tuple[NDArray[np.int64], NDArray[np.int64]]

Key = tuple[str | None, str, int | str | None, str | None]
"""(commune, normalized voie name, numero, suffixe) of a row (:mod:`._diff_read`)."""

VoieKey = tuple[str | None, str]
"""(commune, normalized voie name)."""


class Voie(NamedTuple):
    """A voie of one file (see :mod:`._diff_voies`; a named tuple: 25k voies are made per
    file)."""

    commune: str | None
    name: str
    """The spelling (trimmed) most of its rows use, the first one met on a tie."""
    id: str | None
    """The first ``id_ban_toponyme`` (lower-cased) met in its rows; None when they carry
    none."""

    def to_json(self) -> dict[str, Any]:
        return {"commune_insee": self.commune, "voie_nom": self.name, "id_ban_toponyme": self.id}


NO_ID = -1
"""The code of a row without a BAN id (and of any key that never pairs)."""


class Codes(dict[Hashable, int]):
    """Distinct values of one field and their codes (0, 1, 2… in order of first use):
    ``codes[value]`` gives a new value the next code."""

    def __init__(self, first: Sequence[Hashable] = ()) -> None:
        super().__init__()
        self.value_of: list[Any] = []
        """``value_of[code]`` is the value of ``code``."""
        self.of(first)

    def __missing__(self, value: Hashable) -> int:
        code = self[value] = len(self.value_of)
        self.value_of.append(value)
        return code

    def of(self, values: Sequence[Hashable]) -> NDArray[np.intp]:
        """The codes of ``values`` (new ones added)."""
        return np.fromiter(map(self.__getitem__, values), np.intp, len(values))


@dataclass
class Vocabulary:
    """The codes of both files' values, field by field."""

    communes: Codes = field(default_factory=Codes)
    voies: Codes = field(default_factory=lambda: Codes([""]))
    """Normalized voie names; '' (code 0) for a row without one."""
    numeros: Codes = field(default_factory=Codes)
    suffixes: Codes = field(default_factory=Codes)

    @staticmethod
    def has_voie(voies: NDArray[np.intp]) -> NDArray[np.bool_]:
        """Which of the rows of these ``voies`` codes have a voie name."""
        return np.not_equal(voies, 0)


def combine(*columns: NDArray[np.intp]) -> NDArray[np.int64]:
    """One integer per row, equal for two rows exactly when each of their codes is (codes are
    at least :data:`NO_ID`). Compacted with ``np.unique`` where it would overflow."""
    key = columns[0].astype(np.int64) + 1
    span = int(key.max(initial=0)) + 1
    for column in columns[1:]:
        size = int(column.max(initial=NO_ID)) + 2
        if span * size >= 1 << 62:
            distinct, key = np.unique(key, return_inverse=True)
            span = len(distinct)
        key = key * size + (column + 1)
        span *= size
    return key


class RowCells(ABC):
    """The compared cells of every row of one file."""

    @abstractmethod
    def row(self, i: int) -> list[str]:
        """Row ``i``'s compared cells, in the order of the compared fields."""


@dataclass
class NativeCells(RowCells):
    """The compared cells left in the text: only where each row starts and ends is kept (16
    bytes a row, where the cells' bounds took ~200); :func:`._cells.differ` cuts the rows of
    each pair again."""

    text: str
    delimiter: str
    width: int
    columns: tuple[int, ...]
    """The column of each compared field (-1: an empty cell)."""
    _starts: list[NDArray[np.intp]] = field(default_factory=list)
    _ends: list[NDArray[np.intp]] = field(default_factory=list)

    def add(self, bounds: bytes) -> None:
        """The rows of a chunk (:func:`._cells.split`'s bounds)."""
        cells = np.frombuffer(bounds, dtype=np.intp).reshape(-1, self.width + 1)
        self._starts.append(cells[:, 0].copy())
        self._ends.append(cells[:, self.width] - 1)

    @cached_property
    def starts(self) -> NDArray[np.intp]:
        return concatenated(self._starts)

    @cached_property
    def ends(self) -> NDArray[np.intp]:
        return concatenated(self._ends)

    def row(self, i: int) -> list[str]:
        cells = self.text[self.starts[i] : self.ends[i]].split(self.delimiter)
        return [cells[j] if j >= 0 else "" for j in self.columns]


def concatenated(parts: list[NDArray[np.intp]]) -> NDArray[np.intp]:
    """The arrays one after the other (an empty array for none)."""
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp)


@dataclass
class JoinedCells(RowCells):
    """Each row's compared cells joined by ``separator`` (a character absent from the text,
    as ``end_of_row``, which :func:`._diff_read._joined` needs)."""

    separator: str
    end_of_row: str
    rows: list[str] = field(default_factory=list)

    def row(self, i: int) -> list[str]:
        return self.rows[i].split(self.separator)


def differing(
    old: RowCells, new: RowCells, olds: NDArray[np.intp], news: NDArray[np.intp]
) -> NDArray[np.bool_]:
    """Whether each pair (``olds[k]``, ``news[k]``) has a compared cell that differs."""
    native = _native_pairs(old, new, olds, news)
    if native is not None and _fast.cells is not None:
        return np.frombuffer(_fast.cells.differ(*native), dtype=bool)
    if (
        isinstance(old, JoinedCells)
        and isinstance(new, JoinedCells)
        and old.separator == new.separator  # one string comparison per pair
    ):
        old_rows = map(old.rows.__getitem__, olds.tolist())
        new_rows = map(new.rows.__getitem__, news.tolist())
        return np.fromiter(map(ne, old_rows, new_rows), bool, len(olds))
    pairs = zip(map(old.row, olds.tolist()), map(new.row, news.tolist()), strict=True)
    return np.fromiter(starmap(ne, pairs), bool, len(olds))


Changes = list[tuple[int, str, str]]
"""The compared cells of a pair that differ: (index among the compared fields, old, new)."""


def differences(
    old: RowCells, new: RowCells, olds: NDArray[np.intp], news: NDArray[np.intp]
) -> list[Changes]:
    """The changes of each pair (``olds[k]``, ``news[k]``)."""
    native = _native_pairs(old, new, olds, news)
    if native is not None and _fast.cells is not None:
        changes: list[Changes] = _fast.cells.differences(*native)
        return changes
    return [
        _changes(old_cells, new_cells)
        for old_cells, new_cells in zip(
            map(old.row, olds.tolist()), map(new.row, news.tolist()), strict=True
        )
    ]


def _native_pairs(
    old: RowCells, new: RowCells, olds: NDArray[np.intp], news: NDArray[np.intp]
) -> tuple[Any, ...] | None:
    """The arguments of :func:`._cells.differ` and :func:`._cells.differences` for these
    pairs, when both sides' cells are native and the extension is there."""
    if not (isinstance(old, NativeCells) and isinstance(new, NativeCells) and _fast.cells):
        return None
    olds, news = (np.ascontiguousarray(rows, dtype=np.intp) for rows in (olds, news))
    return (
        old.text, old.starts, old.ends, old.delimiter, old.width, old.columns,
        new.text, new.starts, new.ends, new.delimiter, new.width, new.columns,
        olds, news,
    )  # fmt: skip


def _changes(old_cells: list[str], new_cells: list[str]) -> Changes:
    # the few fields that differ, found at C speed
    differ = compress(range(len(old_cells)), map(ne, old_cells, new_cells))
    return [(i, old_cells[i], new_cells[i]) for i in differ]


@dataclass
class SideRows:
    """What the diff needs from the rows of one file (index = data row, blank lines skipped):
    per row, the codes of its matching fields in ``vocabulary``, and its compared cells."""

    vocabulary: Vocabulary
    cells: RowCells
    communes: NDArray[np.intp]
    voies: NDArray[np.intp]
    numeros: NDArray[np.intp]
    suffixes: NDArray[np.intp]
    ids: list[str] | None
    """Each row's ``id_ban_adresse`` (or ``@a:`` id of ``uid_adresse``), trimmed and
    lower-cased, '' for none; None when the file has no id column."""
    voie_list: dict[VoieKey, Voie]
    """Every voie of the file, in order of first appearance."""

    def __len__(self) -> int:
        return len(self.communes)

    @cached_property
    def voie_keys(self) -> NDArray[np.int64]:
        """Each row's (commune, voie) as one integer (see :meth:`voie_key_code`)."""
        return (self.communes.astype(np.int64) << 32) | self.voies

    def voie_key_code(self, voie: VoieKey) -> int | None:
        """The :attr:`voie_keys` code of ``voie``; None when no row of either file has it."""
        commune = self.vocabulary.communes.get(voie[0])
        norm = self.vocabulary.voies.get(voie[1])
        return None if commune is None or norm is None else (commune << 32) | norm

    def keys(self, rows: NDArray[np.intp]) -> list[Key]:
        """The (commune, voie, numero, suffixe) of each of ``rows``."""
        words = self.vocabulary
        return list(
            zip(
                map(words.communes.value_of.__getitem__, self.communes[rows].tolist()),
                map(words.voies.value_of.__getitem__, self.voies[rows].tolist()),
                map(words.numeros.value_of.__getitem__, self.numeros[rows].tolist()),
                map(words.suffixes.value_of.__getitem__, self.suffixes[rows].tolist()),
                strict=True,
            )
        )

    def id(self, i: int) -> str:
        """Row ``i``'s BAN id ('' when it has none)."""
        return "" if self.ids is None else self.ids[i]


def id_hashes(old: SideRows, new: SideRows) -> IdCodes:
    """Each row's BAN id as its string hash (non-negative), :data:`NO_ID` for none: equal ids
    have equal codes, and different ids almost never do — a caller checks what it paired
    (:func:`id_codes` is exact, and 4 times slower)."""
    return _id_codes(old, new, _hashes)


def id_codes(old: SideRows, new: SideRows) -> IdCodes:
    """Each row's BAN id as a code, the same in both files, different for different ids;
    :data:`NO_ID` for none."""
    return _id_codes(old, new, _factorized)


def _id_codes(
    old: SideRows, new: SideRows, codes_of: Callable[[list[str]], NDArray[np.int64]]
) -> IdCodes:
    if old.ids is None or new.ids is None:  # no row has an id on one side: nothing to pair
        return np.full(len(old), NO_ID, dtype=np.int64), np.full(len(new), NO_ID, dtype=np.int64)
    ids = old.ids + new.ids
    codes = codes_of(ids)
    codes[~_fast.truths(ids)] = NO_ID
    return codes[: len(old)], codes[len(old) :]


def _hashes(ids: list[str]) -> NDArray[np.int64]:
    return np.fromiter(map(hash, ids), np.int64, len(ids)) & np.int64(2**63 - 1)


def _factorized(ids: list[str]) -> NDArray[np.int64]:
    return _fast.factorize(ids)[0].copy()
