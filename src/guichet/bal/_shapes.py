"""Happy-shape checks of whole columns with numpy: the same answers as :func:`_bulk.misses`.

``misses`` runs a regex over the joined column, about 150 ns a value: the biggest single cost
of the coordinates (four columns whose values never repeat). Here the joined column is seen as
bytes and each rule of the pattern becomes a few numpy passes over the bytes or over
per-value arrays; rare characters (a sign, a decimal point, anything unexpected) are found with
``flatnonzero`` and attributed to their value with ``searchsorted``.

Each function returns None when it does not apply (a value is not ASCII or holds a line
break): the caller then runs the regex. ``tests/bal/test_shapes.py`` checks them against
``re.fullmatch`` with hypothesis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

_NL, _MINUS, _DOT, _ZERO, _UNDERSCORE, _PIPE, _X = b"\n-.0_|x"
_DIGITS = b"0123456789"
_LOWER_ALNUM = _DIGITS + b"abcdefghijklmnopqrstuvwxyz"
_ALNUM = _LOWER_ALNUM + b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _table(allowed: bytes) -> NDArray[np.bool_]:
    """Byte -> whether it is *not* in ``allowed``."""
    other = np.ones(256, dtype=bool)
    other[list(allowed)] = False
    return other


_FLOAT_CHARS = _DIGITS + b"-.\n"
_FLOAT_OTHER = _table(_FLOAT_CHARS)
_CLE_CHARS = _LOWER_ALNUM + b"_\n"
_CLE_OTHER = _table(_CLE_CHARS)
_CAD_CHARS = _ALNUM + b"|\n"
_CAD_OTHER = _table(_CAD_CHARS)
_IS_DIGIT = ~_table(_DIGITS)


class _Joined:
    """A column as the bytes of its values, each followed by ``"\\n"``."""

    def __init__(self, raw: bytes, data: NDArray[np.uint8], ends: NDArray[np.intp]) -> None:
        self.raw = raw
        self.data = data
        self.ends = ends
        """Index of the line break closing each value."""
        self.starts = np.empty_like(ends)
        self.starts[:1] = 0
        self.starts[1:] = ends[:-1] + 1

    @classmethod
    def of(cls, column: Sequence[str]) -> _Joined | None:
        try:
            raw = ("\n".join(column) + "\n").encode("ascii")
        except UnicodeEncodeError:
            return None
        data = np.frombuffer(raw, dtype=np.uint8)
        ends = np.flatnonzero(data == _NL)
        if len(ends) != len(column):  # a value holds a line break
            return None
        return cls(raw, data, ends)

    def mark_others(self, chars: bytes, others: NDArray[np.bool_], bad: NDArray[np.bool_]) -> None:
        """Mark ``bad`` the values holding a byte outside ``chars`` (``others``: its table)."""
        if self.raw.translate(None, chars):  # rare: then found byte by byte
            bad[self.owners(np.flatnonzero(others[self.data]))] = True

    def at(self, offset: int) -> NDArray[np.uint8]:
        """Each value's byte at ``offset`` (anything for values not that long)."""
        return self.data[np.minimum(self.starts + offset, len(self.data) - 1)]

    def owners(self, positions: NDArray[np.intp]) -> NDArray[np.intp]:
        """The value each byte position belongs to."""
        owners: NDArray[np.intp] = np.searchsorted(self.ends, positions)
        return owners


def float_misses(column: Sequence[str]) -> list[int] | None:
    """``misses(column, FLOAT_HAPPY)``, i.e. the values not fully matching
    ``-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?[0-9]?``; None when not applicable.

    Spelled out, a happy value is: an optional ``-`` first, then digits with at most one ``.``;
    the integer part (before the ``.``, or everything) is not empty; with a ``.``, at least
    one digit follows it and an integer part starting with ``0`` is just ``0``; without one, a
    ``0`` may only be followed by one more digit (the pattern's trailing ``[0-9]?``).
    """
    if not column:
        return []
    joined = _Joined.of(column)
    if joined is None:
        return None
    data, ends = joined.data, joined.ends
    bad = np.zeros(len(column), dtype=bool)
    joined.mark_others(_FLOAT_CHARS, _FLOAT_OTHER, bad)
    body = _after_sign(joined, bad)
    dot, has_dot = _decimal_points(joined, bad)
    integer = dot - body  # the integer part's length (the whole body without a ".")
    bad |= integer < 1
    bad |= has_dot & (ends - dot < 2)  # no digit after the "."
    leading_zero = data[body] == _ZERO  # (an empty body is at its line break)
    bad |= leading_zero & np.where(has_dot, integer > 1, integer > 2)  # see the rules above
    found: list[int] = np.flatnonzero(bad).tolist()
    return found


def _after_sign(joined: _Joined, bad: NDArray[np.bool_]) -> NDArray[np.intp]:
    """Where each value's body starts, past a leading ``-``; values with a ``-`` anywhere else
    are marked ``bad``."""
    data, starts = joined.data, joined.starts
    signed = data[starts] == _MINUS
    if np.count_nonzero(data == _MINUS) != np.count_nonzero(signed):  # a "-" inside a value
        at = np.flatnonzero(data == _MINUS)
        owner = joined.owners(at)
        bad[owner[at != starts[owner]]] = True
    body: NDArray[np.intp] = starts + signed
    return body


def _decimal_points(
    joined: _Joined, bad: NDArray[np.bool_]
) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """The position of each value's ``.`` (its line break when it has none) and whether it has
    one; values with several are marked ``bad``."""
    data, starts, ends = joined.data, joined.starts, joined.ends
    at = np.flatnonzero(data == _DOT)
    if len(at) == len(ends) and np.all((starts <= at) & (at < ends)):
        return at, np.ones(len(ends), dtype=bool)  # the usual case: one "." in every value
    owner = joined.owners(at)
    dots = np.bincount(owner, minlength=len(ends))
    bad |= dots > 1
    dot = ends.copy()
    dot[owner] = at
    return dot, dots == 1


def cle_misses(column: Sequence[str]) -> list[int] | None:
    """``misses(column, CLE_HAPPY)``: the values not fully matching
    ``[0-9a-z]{5}_(?!xxxx|0000)[0-9a-z]{4}_[0-9]{5}(?:_[0-9a-z]+)*``; None when not applicable.

    Spelled out: only ``[0-9a-z_]``, at least 16 bytes; ``_`` at offsets 5 and 10 and nowhere
    else before 16; digits at 11 to 15; offsets 6 to 9 neither ``xxxx`` nor ``0000``; past 16,
    ``_``-separated non-empty runs: a ``_`` at 16 (if longer), no ``__``, no final ``_``.
    """
    if not column:
        return []
    joined = _Joined.of(column)
    if joined is None:
        return None
    data = joined.data
    bad = joined.ends - joined.starts < 16  # the fixed part's length
    joined.mark_others(_CLE_CHARS, _CLE_OTHER, bad)
    for offset in (*range(5), *range(6, 10)):
        bad |= joined.at(offset) == _UNDERSCORE
    for offset in (5, 10):
        bad |= joined.at(offset) != _UNDERSCORE
    for offset in range(11, 16):
        bad |= ~_IS_DIGIT[joined.at(offset)]
    for forbidden in (_X, _ZERO):  # (?!xxxx|0000)
        bad |= np.logical_and.reduce([joined.at(offset) == forbidden for offset in range(6, 10)])
    longer = joined.ends - joined.starts > 16  # the fixed part's length
    bad |= longer & (joined.at(16) != _UNDERSCORE)
    # an empty run: "__", or a "_" ending the value (the fixed part has none: checked above)
    after = data[1:]
    empty = (data[:-1] == _UNDERSCORE) & ((after == _UNDERSCORE) | (after == _NL))
    bad[joined.owners(np.flatnonzero(empty))] = True
    found: list[int] = np.flatnonzero(bad).tolist()
    return found


def cad_misses(column: Sequence[str]) -> list[int] | None:
    """``misses(column, CAD_HAPPY)``: the values not fully matching
    ``[0-9A-Za-z]{14,15}(?:\\|[0-9A-Za-z]{14,15})*``, i.e. ``|``-separated runs of 14 or 15
    ASCII letters or digits; None when not applicable."""
    if not column:
        return []
    joined = _Joined.of(column)
    if joined is None:
        return None
    data = joined.data
    bad = np.zeros(len(column), dtype=bool)
    joined.mark_others(_CAD_CHARS, _CAD_OTHER, bad)
    ends = np.flatnonzero((data == _PIPE) | (data == _NL))  # where each run ends
    runs = np.diff(ends, prepend=-1) - 1
    bad[joined.owners(ends[(runs < 14) | (runs > 15)])] = True  # runs of 14 or 15
    found: list[int] = np.flatnonzero(bad).tolist()
    return found


_HEX = _DIGITS + b"abcdefABCDEF"
_IS_HEX = ~_table(_HEX)
_UUID_HYPHENS = (8, 13, 18, 23)
_UUID_VARIANT = ~_table(b"89abAB")


def uuid_misses(column: Sequence[str]) -> list[int] | None:
    """``misses(column, UUID_HAPPY)``: the values that are not a uuid v4 written
    ``xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`` (hex digits of either case); None when not
    applicable.

    A happy value is 36 bytes long: those values' bytes (and line break) form a (n, 37) table
    whose columns are checked at once; any other length is a miss (an empty cell, often).
    """
    if not column:
        return []
    joined = _Joined.of(column)
    if joined is None:
        return None
    bad = joined.ends - joined.starts != 36
    sized = np.flatnonzero(~bad)
    if len(sized) == len(column):
        table = joined.data.reshape(len(column), 37)
    else:  # each 36-byte value is followed by its line break: 37 bytes from its start
        table = joined.data[joined.starts[sized][:, None] + np.arange(37)]
    hex_digits = np.ones(37, dtype=bool)
    hex_digits[[*_UUID_HYPHENS, 36]] = False  # (36: the line break)
    wrong = ~_IS_HEX[table[:, hex_digits]].all(axis=1)
    wrong |= (table[:, list(_UUID_HYPHENS)] != _MINUS).any(axis=1)
    wrong |= table[:, 14] != ord("4")
    wrong |= ~_UUID_VARIANT[table[:, 19]]
    bad[sized[wrong]] = True
    missed: list[int] = np.flatnonzero(bad).tolist()
    return missed
