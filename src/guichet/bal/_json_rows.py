"""The row part of ``guichet bal validate --json``: ``rowErrors`` and the rows' ``problems``.

A file with BAN ids can have a cross-row warning on every row (hundreds of thousands of items,
each listed twice). Each distinct error tuple — shared by the rows the cross-row checks flag —
is encoded once; a row's item is then its line number and that encoded tail, built in a list
comprehension-like loop with no generator layers (this used to be a third of the run on the
100k-row BAL 1.4 benchmark file).
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from itertools import groupby, islice
from operator import itemgetter

import numpy as np

from guichet.bal import _fast
from guichet.bal._report import Report
from guichet.bal._rows import Error
from guichet.bal._schema import label_of, level_of

_TAILS_KEPT = 50_000
"""Encoded tails kept at once: errors on cells (distinct values) must not pile up."""
_LINES_PER_BATCH = 5_000
_MISSING: tuple[bytes, bytes] = (b"", b"")


class _Tails:
    """(``rowErrors`` tail, ``problems`` tail) of each error tuple; None when the profile drops
    it."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self._kept: dict[str | None, bool] = {}
        self._tails: dict[Error, tuple[bytes, bytes] | None] = {}
        self._code_levels: dict[str, tuple[str, str]] = {}

    def __call__(self, error: Error) -> tuple[bytes, bytes] | None:
        tails = self._tails
        known = tails.get(error, _MISSING)
        if known is not _MISSING:
            return known
        if len(tails) >= _TAILS_KEPT:
            tails.clear()
        code, header, value = error
        keep = self._kept.get(header)
        if keep is None:
            keep = self._kept[header] = self._report.keeps_column(header)
        if not keep:
            tails[error] = None
            return None
        code_level = self._code_levels.get(code)
        if code_level is None:
            level = level_of(self._report.profile, code)
            code_level = self._code_levels[code] = (
                f"{_json_text(code)}, {_json_text(level)}]",
                f'"code": {_json_text(code)}, "level": {_json_text(level)}, '
                f'"message": {_json_text(label_of(code))}}}',
            )
        # json.dumps of [code, level] and of the problem without its line, a few times faster
        cell = f'"column": {_json_text(header)}, "value": {_json_text(value)}, '
        tail = tails[error] = (code_level[0].encode(), (cell + code_level[1]).encode())
        return tail


def _json_text(value: str | None) -> str:
    """``json.dumps(value, ensure_ascii=False)`` of a string or None."""
    return "null" if value is None else _encode_string(value)


_encode_string: Callable[[str], str] = json.encoder.encode_basestring


class RowItems:
    """The two row arrays of one report, as batches of UTF-8 items: ``rowErrors`` (``which``
    0) and the rows' ``problems`` (1). Each distinct error is encoded once for both."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self._tails = _Tails(report)

    def batches(self, which: int) -> Iterator[list[bytes]]:
        opening = b'{"line": ' if which else b"["
        if _fast.cells is not None:
            return _native_items(self._report, self._tails, which, opening)
        return _python_items(self._report, self._tails, which, opening)


def _python_items(
    report: Report, tails: _Tails, which: int, opening: bytes
) -> Iterator[list[bytes]]:
    """The items without the native helper.

    A row's items are a ``%d`` template filled with its line number, the template made once per
    distinct list of errors; consecutive rows with equal lists (the cross-row checks give
    every row the same warnings) are filled by one C-level ``map``. Bytes, not
    text: the messages' "’" would make every joined string two bytes a character, then be
    encoded again (tens of MB on a file with BAN ids).
    """
    templates: dict[tuple[Error, ...], tuple[bytes, int]] = {}
    lines = iter(report.errors_by_line)
    while batch := list(islice(lines, _LINES_PER_BATCH)):
        numbers = list(map(itemgetter(0), batch))
        out: list[bytes] = []
        start = 0
        # runs of rows with equal error lists (compared element by element, identity first:
        # the cross-row checks share one tuple between all the rows they flag)
        for errors, run in groupby(map(itemgetter(1), batch)):
            size = len(list(run))  # (a generator expression counting them cost a row each)
            key = tuple(errors)
            found = templates.get(key)
            if found is None:
                if len(templates) >= _TAILS_KEPT:
                    templates.clear()
                found = templates[key] = _template(errors, tails, which, opening)
            template, kept = found
            if kept == 1:
                out += map(template.__mod__, numbers[start : start + size])
            elif kept:
                run_numbers = numbers[start : start + size]
                out += map(template.__mod__, zip(*(run_numbers,) * kept, strict=True))
            start += size
        if out:
            yield out


def _native_items(
    report: Report, tails: _Tails, which: int, opening: bytes
) -> Iterator[list[bytes]]:
    """The items written natively (:func:`._cells.items`), from the rows' own errors and the
    cross-row checks' arrays (no list of errors per row is made): the same bytes, each batch
    one element; a tail is computed in Python once per distinct error."""
    assert _fast.cells is not None

    def tail_of(error: Error) -> bytes | None:
        found = tails(error)
        return None if found is None else found[which]

    known: dict[Error, bytes | None] = {}
    own = report.own_errors
    flagged = report.table.flagged
    lines = flagged.lines if flagged else _NO_LINES
    which_set = flagged.which if flagged else _NO_LINES
    sets = flagged.sets if flagged else []
    end = max(own[-1][0] + 1 if own else 0, int(lines[-1]) + 1 if len(lines) else 0)
    own_at = flag_at = 0
    for stop in range(_LINES_PER_BATCH, end + _LINES_PER_BATCH, _LINES_PER_BATCH):
        own_to = bisect_left(own, stop, lo=own_at, key=itemgetter(0))
        flag_to = int(np.searchsorted(lines, stop))
        if len(known) >= _TAILS_KEPT:
            known.clear()
        data: bytes = _fast.cells.items(
            own[own_at:own_to],
            lines[flag_at:flag_to],
            which_set[flag_at:flag_to],
            sets,
            known,
            tail_of,
            opening,
        )
        own_at, flag_at = own_to, flag_to
        if data:
            yield [data]


_NO_LINES = np.zeros(0, dtype=np.intp)


def _template(
    errors: Sequence[Error], tails: _Tails, which: int, opening: bytes
) -> tuple[bytes, int]:
    """The row's items as a ``%``-template of its line number, and how many there are."""
    encoded = [tail[which] for tail in map(tails, errors) if tail is not None]
    items = [opening + b"%d, " + tail.replace(b"%", b"%%") for tail in encoded]
    return b", ".join(items), len(items)
