"""Communes of the reference validator (``lib/utils/cog.ts`` over its ``minicog.json``, §9.1).

"current" = a commune or municipal arrondissement code of the COG vintage shipped with
@ban-team/validateur-bal 3.5.2 (Paris, Lyon and Marseille themselves are absent); "old" = a code
listed in some current commune's ``anciensCodes``. Data: ``data/communes.tsv.gz``, built by
``scripts/build_bal_communes.py``; loaded once, on first use.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True, slots=True)
class _Cog:
    names: dict[str, str]
    anciens: dict[str, frozenset[str]]
    old: frozenset[str]


_NO_ANCIENS: frozenset[str] = frozenset()


@cache
def _cog() -> _Cog:
    # beside this module, not through importlib.resources: its import costs ~10 ms of start-up
    raw = Path(__file__).with_name("data").joinpath("communes.tsv.gz").read_bytes()
    # one flat split (3 fields a line) instead of a split per line: ~3x faster to load
    cells = gzip.decompress(raw).decode("utf-8").rstrip("\n").replace("\n", "\t").split("\t")
    codes, noms, formers = cells[0::3], cells[1::3], cells[2::3]
    anciens = {
        code: frozenset(former.split(","))
        for code, former in zip(codes, formers, strict=True)
        if former
    }
    old = frozenset().union(*anciens.values())
    return _Cog(dict(zip(codes, noms, strict=True)), anciens, old)


def classify(code: str) -> str | None:
    """One lookup for the parsers: ``"ancienne"`` if ``code`` is an old commune (checked first,
    as the reference does), ``"actuelle"`` if current, else ``None``."""
    cog = _cog()
    if code in cog.old:
        return "ancienne"
    return "actuelle" if code in cog.names else None


def is_current(code: str) -> bool:
    """``isCommuneActuelle``: a current commune or municipal arrondissement code."""
    return code in _cog().names


def is_old(code: str) -> bool:
    """``isCommuneAncienne``: a former commune code (in some ``anciensCodes``)."""
    return code in _cog().old


def commune_name(code: str) -> str | None:
    """COG name of a current commune, else ``None``."""
    return _cog().names.get(code)


def anciens_codes(code: str) -> frozenset[str] | None:
    """``getCommune(code).anciensCodes`` (empty when absent); ``None`` if ``code`` is not current.

    ``None`` is where the reference crashes (``getCommune`` is undefined, RULES §11 #1).
    """
    cog = _cog()
    if code not in cog.names:
        return None
    return cog.anciens.get(code, _NO_ANCIENS)
