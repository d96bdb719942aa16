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
from itertools import islice

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

    A row's items are ``b"%d" % line`` joining pieces made once per distinct list of error
    objects (keyed by identity: the table holds every error while this runs, and the
    cross-row checks share one tuple between all the rows they flag). Bytes, not text: the
    messages' "’" would make every joined string two bytes a character, then be encoded
    again (tens of MB on a file with BAN ids).
    """
    tails = _Tails(report)
    opening = b'{"line": ' if which else b"["
    pieces_of: dict[tuple[int, ...], list[bytes]] = {}
    lines = iter(report.errors_by_line)
    while batch := list(islice(lines, _LINES_PER_BATCH)):
        out: list[bytes] = []
        add = out.append
        for line, errors in batch:
            key = tuple(map(id, errors))
            pieces = pieces_of.get(key)
            if pieces is None:
                if len(pieces_of) >= _TAILS_KEPT:
                    pieces_of.clear()
                pieces = pieces_of[key] = _pieces(errors, tails, which, opening)
            if pieces:
                add((b"%d" % line).join(pieces))
        if out:
            yield out


def _pieces(errors: list[Error], tails: _Tails, which: int, opening: bytes) -> list[bytes]:
    """``[opening, ", " + tail0 + ", " + opening, ..., ", " + tailN]`` ([] if none is kept):
    joined with a line number, the row's items."""
    encoded = [tail[which] for tail in map(tails, errors) if tail is not None]
    if not encoded:
        return []
    middles = [b", " + tail + b", " + opening for tail in encoded[:-1]]
    return [opening, *middles, b", " + encoded[-1]]
