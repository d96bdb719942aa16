"""Bulk fast paths for the columns whose values (nearly) never repeat.

Memoizing ``readValue`` is useless on ``cle_interop``, ``x``/``y``/``long``/``lat``, the BAN ids
or ``cad_parcelles``: nearly every value is new. Instead, one regex pass over the column joined
with ``"\\n"`` finds the values that are *not* in a "happy" shape; every happy value is known to
read without any error, to a value the caller computes in bulk (``float``, the raw string, a
slice). Only the other values go through ``ValueReader`` one by one.

Each ``*_HAPPY`` pattern must imply, for a raw value ``v`` it fully matches:
``reader(v).errors == ()`` and the bulk value below; ``tests/bal/test_bulk.py`` checks it with
hypothesis against the per-value path.

* ``FLOAT_HAPPY`` (x, y, long, lat): value ``float(v)`` (``_values._FLOAT``, nothing to trim);
* ``UUID_HAPPY`` (id_ban_*): value ``v``;
* ``CAD_HAPPY`` (cad_parcelles): no error (the parsed value is not used by any check);
* ``CLE_HAPPY`` (cle_interop): lower-case ASCII, 5 + 4 + 5 characters, optional suffixes; the
  value is ``v`` and ``additional`` is ``codeCommune = v[:5].upper()``, ``codeVoie =
  v[6:10].upper()``, ``numeroVoie = v[11:16].lstrip("0")`` — provided that the commune part
  ``v[:5]`` has no error of its own (its COG status: checked once per commune).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Final

from guichet.bal._shapes import cad_misses, cle_misses, float_misses, uuid_misses
from guichet.bal._values import _FLOAT, _UUID_V4

FLOAT_HAPPY: Final = _FLOAT.pattern
UUID_HAPPY: Final = _UUID_V4.pattern
CAD_HAPPY: Final = r"[0-9A-Za-z]{14,15}(?:\|[0-9A-Za-z]{14,15})*"
CLE_HAPPY: Final = r"[0-9a-z]{5}_(?!xxxx|0000)[0-9a-z]{4}_[0-9]{5}(?:_[0-9a-z]+)*"

CLE_COMMUNE: Final = slice(0, 5)
"""The commune part of a happy cle_interop: its COG status is its only possible error."""
CLE_VOIE: Final = slice(6, 10)
CLE_NUMERO: Final = slice(11, 16)

_RUNS: dict[str, re.Pattern[str]] = {}
_VECTORIZED: dict[str, Callable[[Sequence[str]], list[int] | None]] = {
    FLOAT_HAPPY: float_misses,
    CLE_HAPPY: cle_misses,
    CAD_HAPPY: cad_misses,
    UUID_HAPPY: uuid_misses,
}


def _run(pattern: str) -> re.Pattern[str]:
    """``(?:P\\n)*+``: as many whole happy lines as possible, without backtracking."""
    run = _RUNS.get(pattern)
    if run is None:
        run = _RUNS[pattern] = re.compile(f"(?:(?:{pattern})\n)*+")
    return run


def misses(column: Sequence[str], pattern: str) -> list[int]:
    """Indexes of the values of ``column`` that ``pattern`` does not fully match, in order."""
    vectorize = _VECTORIZED.get(pattern)  # numpy: 2-3x faster than the regex
    if vectorize is not None and (vectorized := vectorize(column)) is not None:
        return vectorized
    joined = "\n".join(column)
    joined += "\n"
    if joined.count("\n") != len(column):  # a value holds "\n" (quoted cell): one by one
        full = re.compile(pattern).fullmatch
        return [i for i, value in enumerate(column) if full(value) is None]
    run = _run(pattern)
    found: list[int] = []
    end, pos, line = len(joined), 0, 0
    while True:
        stop = run.match(joined, pos).end()  # type: ignore[union-attr]  # (...)*+ always matches
        line += joined.count("\n", pos, stop)
        if stop == end:
            return found
        found.append(line)
        pos = joined.index("\n", stop) + 1
        line += 1
