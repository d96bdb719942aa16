"""The BAN adresse ids of a table's rows, held without a Python string per row.

Every row of a 1.4 file carries its own ``id_ban_adresse``: 100k distinct 36-character strings
on 100k rows, each made, sent from a second process, hashed into a set and freed. The cross-row
checks only ask which rows have an id, whether two rows hold the same one, and which do. An id
in its usual shape (a uuid v4 written in lower case) is held here as its 16 bytes: two such ids
are equal strings exactly when their bytes are. Any other id (a uuid with an upper-case digit,
which the reference compares as a different string) is kept as its string, never equal to one
held as bytes. A row without an id holds zero bytes (a uuid v4 is never zero: its version digit
is 4) and no string.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from operator import eq, truth
from typing import TYPE_CHECKING, Final

import numpy as np

from guichet.bal import _fast

if TYPE_CHECKING:
    from numpy.typing import NDArray

_WORD: Final = 16
_LOWER_UUID_V4: Final = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)
"""``_values._UUID_V4`` in lower case only: the ids held as bytes."""


def word_of(value: str) -> bytes | None:
    """The 16 bytes of an id in the usual shape, or None for any other string."""
    if _LOWER_UUID_V4.fullmatch(value) is None:
        return None
    return bytes.fromhex(value.replace("-", ""))  # (uuid.UUID: 4x slower)


class AdresseIds:
    """One optional id per row: ``ids[i]`` is row ``i``'s (a string, or None)."""

    __slots__ = ("_others", "_words")

    def __init__(self, words: bytes | bytearray = b"", others: dict[int, str] | None = None):
        self._words = bytearray(words)
        self._others = {} if others is None else others
        """Rows whose id is not held as bytes: their string."""

    @classmethod
    def none(cls, rows: int) -> AdresseIds:
        """``rows`` rows without an id."""
        return cls(bytes(_WORD * rows))

    @classmethod
    def of(cls, ids: Iterable[str | None]) -> AdresseIds:
        """The ids of ``ids``' rows (None or "": no id); the usual ones converted at once (a
        quoted file's columns come as strings)."""
        values = [value or "" for value in ids]
        misses = _fast.native_uuid_misses(values)
        if misses is None:  # without the extension
            usual = np.fromiter(map(truth, map(_LOWER_UUID_V4.fullmatch, values)), bool)
        else:  # in the happy shape, and without an upper-case digit
            usual = ~misses & np.fromiter(map(eq, map(str.lower, values), values), bool)
        rows = np.flatnonzero(usual).tolist()
        words = np.zeros((len(values), _WORD), dtype=np.uint8)
        if rows:
            digits = "".join([values[i] for i in rows]).replace("-", "")
            words[rows] = np.frombuffer(bytes.fromhex(digits), dtype=np.uint8).reshape(-1, _WORD)
        unusual = np.flatnonzero(~usual & _fast.truths(values)).tolist()
        others = {i: values[i] for i in unusual}
        return cls(words.tobytes(), others)

    def __reduce__(self) -> tuple[type[AdresseIds], tuple[bytes, dict[int, str]]]:
        # bytes pickle as one copy: 16 bytes a row, where a string each cost ~0.3 µs both ways
        return AdresseIds, (bytes(self._words), self._others)

    def __len__(self) -> int:
        return len(self._words) // _WORD

    def __getitem__(self, i: int) -> str | None:
        found = self._others.get(i)
        if found is not None:
            return found
        word = bytes(self._words[_WORD * i : _WORD * (i + 1)])
        if len(word) != _WORD:
            raise IndexError(i)
        return str(uuid.UUID(bytes=word)) if any(word) else None

    def __setitem__(self, i: int, value: str | None) -> None:
        if not 0 <= i < len(self):
            raise IndexError(i)
        word = word_of(value) if value else None
        self._words[_WORD * i : _WORD * (i + 1)] = word or bytes(_WORD)
        if word is None and value:
            self._others[i] = value
        else:
            self._others.pop(i, None)

    def assign(self, rows: list[int], values: list[str | None]) -> None:
        """``ids[rows[k]] = values[k]`` for every k, the values converted at once (the rows the
        exact path read: thousands in a big file)."""
        if not rows:
            return
        if not all(0 <= row < len(self) for row in rows):
            raise IndexError(rows)
        new = AdresseIds.of(values)
        words = np.frombuffer(self._words, dtype=np.uint8).reshape(-1, _WORD)
        words[rows] = np.frombuffer(new._words, dtype=np.uint8).reshape(-1, _WORD)
        del words  # (a view: the words cannot grow while it lives)
        for row in rows:
            self._others.pop(row, None)
        self._others.update({rows[k]: value for k, value in new._others.items()})

    def __iter__(self) -> Iterator[str | None]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AdresseIds):
            return NotImplemented
        return self._words == other._words and self._others == other._others

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"AdresseIds({list(self)!r})"

    def extend(self, more: AdresseIds) -> None:
        """``more``'s rows after these."""
        offset = len(self)
        self._words += more._words
        self._others.update({offset + i: value for i, value in more._others.items()})

    def present(self) -> NDArray[np.bool_]:
        """The rows that have an id."""
        halves = np.frombuffer(self._words, dtype=np.uint64).reshape(-1, 2)
        out: NDArray[np.bool_] = (halves[:, 0] | halves[:, 1]) != 0
        out[list(self._others)] = True
        return out

    def codes(self) -> NDArray[np.int64]:
        """Each row's code: equal ids share one, and so do the rows without an id."""
        codes, distinct = _word_codes(self._words)
        if self._others:
            strings = _fast.factorize(list(self._others.values()))[0]
            codes[list(self._others)] = strings + distinct
        return codes

    def all_distinct(self) -> bool:
        """Whether no id is held by two rows (rows without an id aside)."""
        if len(set(self._others.values())) < len(self._others):
            return False
        halves = np.frombuffer(self._words, dtype=np.uint64).reshape(-1, 2)
        held = int(np.count_nonzero(halves[:, 0] | halves[:, 1]))
        del halves  # (a view: the words cannot grow while it lives)
        distinct = _word_codes(self._words)[1]
        return distinct - (held < len(self)) == held  # zero bytes: one more value


def _word_codes(words: bytearray) -> tuple[NDArray[np.int64], int]:
    """Each 16-byte word's code, equal words sharing one (in order of first appearance), and
    how many distinct words there are."""
    cells = _fast.cells
    if cells is not None:
        codes, firsts = cells.item_codes(words, _WORD)
        return np.frombuffer(codes, dtype=np.int64).copy(), len(firsts) // 8
    split = [bytes(words[k : k + _WORD]) for k in range(0, len(words), _WORD)]
    found, values = _fast.factorize(split)
    return found.copy(), len(values)
