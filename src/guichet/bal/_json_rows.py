"""The row part of ``guichet bal validate --json``: ``rowErrors`` and the rows' ``problems``.

A file with BAN ids can have a cross-row warning on every row (hundreds of thousands of items,
each listed twice). Each distinct error tuple — shared by the rows the cross-row checks flag —
is encoded once; a row's item is then its line number and that encoded tail, built in a list
comprehension-like loop with no generator layers (this used to be a third of the run on the
100k-row BAL 1.4 benchmark file).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import groupby, islice
from operator import itemgetter

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
        level = level_of(self._report.profile, code)
        problem = {
            "column": header,
            "value": value,
            "code": code,
            "level": level,
            "message": label_of(code),
        }
        tail = tails[error] = (
            json.dumps([code, level], ensure_ascii=False)[1:].encode(),
            json.dumps(problem, ensure_ascii=False)[1:].encode(),
        )
        return tail


def row_items(report: Report, which: int) -> Iterator[list[bytes]]:
    """Batches of items, UTF-8 encoded: ``rowErrors`` (``which`` 0) or the rows' ``problems``
    (1).

    A row's items are a ``%d`` template filled with its line number, the template made once per
    distinct list of errors; consecutive rows with equal lists (the cross-row checks give
    every row the same warnings) are filled by one C-level ``map``. Bytes, not
    text: the messages' "’" would make every joined string two bytes a character, then be
    encoded again (tens of MB on a file with BAN ids).
    """
    opening = b'{"line": ' if which else b"["
    if _fast.cells is not None:
        yield from _native_items(report, which, opening)
        return
    tails = _Tails(report)
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


def _native_items(report: Report, which: int, opening: bytes) -> Iterator[list[bytes]]:
    """:func:`row_items` written natively (:func:`._cells.items`): the same bytes, each batch
    one element; a tail is computed in Python once per distinct error."""
    assert _fast.cells is not None
    tails = _Tails(report)

    def tail_of(error: Error) -> bytes | None:
        found = tails(error)
        return None if found is None else found[which]

    known: dict[Error, bytes | None] = {}
    rows = report.errors_by_line
    for start in range(0, len(rows), _LINES_PER_BATCH):
        if len(known) >= _TAILS_KEPT:
            known.clear()
        data: bytes = _fast.cells.items(
            rows[start : start + _LINES_PER_BATCH], known, tail_of, opening
        )
        if data:
            yield [data]


def _template(errors: list[Error], tails: _Tails, which: int, opening: bytes) -> tuple[bytes, int]:
    """The row's items as a ``%``-template of its line number, and how many there are."""
    encoded = [tail[which] for tail in map(tails, errors) if tail is not None]
    items = [opening + b"%d, " + tail.replace(b"%", b"%%") for tail in encoded]
    return b", ".join(items), len(items)
