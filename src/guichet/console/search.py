"""Communes by code or name, for the search of `/ui/`.

Names are compared without accents, case or punctuation ("saint etienne" finds
"Saint-Étienne"); names that start with the words typed come first. The index is built once
from guichet.cog's table of current communes (about 35,000 names, a few tens of ms).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from guichet import cog

# guichet.cog exposes lookups by code; the table behind them is what a search by name needs.
from guichet.cog._index import load

MAX_RESULTS = 20
_CODE = re.compile(r"\d[\dAB]\d{3}", re.IGNORECASE)
_NOT_WORD = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Found:
    code: str
    nom: str
    departement: str
    former_of: str | None = None  # a former code: the current commune that absorbed it

    @property
    def departement_nom(self) -> str:
        item = cog.departement(self.departement)
        return item.nom if item is not None else self.departement


def normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _NOT_WORD.sub(" ", plain).strip()


@cache
def _names() -> tuple[tuple[str, cog.Commune], ...]:
    communes = sorted(load().current.values(), key=lambda c: (normalize(c.nom), c.code))
    return tuple((normalize(c.nom), c) for c in communes)


def by_code(query: str) -> Found | None:
    """The commune of a code (current, or former with the commune it belongs to today)."""
    code = query.strip().upper()
    if not _CODE.fullmatch(code):
        return None
    current = cog.commune(code)
    if current is not None:
        return Found(current.code, current.nom, current.departement)
    today = cog.current_code_of(code) if cog.is_former(code) else None
    if today is None:
        return None
    former = cog.entries(code)
    successor = cog.commune(today)
    nom = former[0].nom if former else code
    departement = successor.departement if successor is not None else code[:2]
    return Found(code, nom, departement, former_of=today)


def by_name(query: str, limit: int = MAX_RESULTS) -> list[Found]:
    """Current communes whose name starts with, then contains, the words typed."""
    wanted = normalize(query)
    if len(wanted) < 2:
        return []
    starting: list[Found] = []
    containing: list[Found] = []
    for name, commune in _names():
        if name.startswith(wanted):
            starting.append(Found(commune.code, commune.nom, commune.departement))
        elif len(containing) < limit and wanted in name:
            containing.append(Found(commune.code, commune.nom, commune.departement))
    exact = [found for found in starting if normalize(found.nom) == wanted]
    rest = [found for found in starting if normalize(found.nom) != wanted]
    return (exact + rest + containing)[:limit]


def search(query: str) -> list[Found]:
    found = by_code(query)
    return [found] if found is not None else by_name(query)
