"""French administrative reference data (COG 2026): communes, municipal arrondissements,
communes déléguées / associées, former codes, départements, régions, EPCI.

Built by `scripts/build_cog_data.py` from @etalab/decoupage-administratif 6.0.0, the package
the reference BAL publication service bundles. Pure: no I/O beyond reading the shipped data
file, once, at the first lookup (~0.1 s); every lookup after that is a dict access.

Vocabulary: a *current* code is a commune actuelle or a municipal arrondissement (what may
publish a BAL); a *former* code is one listed in the `anciensCodes` of a current commune.
"""

from __future__ import annotations

from guichet.cog._index import load
from guichet.cog._model import Commune, CommuneType, Departement, Epci, Region

__all__ = [
    "Commune",
    "CommuneType",
    "Departement",
    "Epci",
    "PerimeterType",
    "Region",
    "commune",
    "communes_of_departement",
    "current_code_of",
    "departement",
    "entries",
    "epci",
    "epci_of_commune",
    "is_current",
    "is_former",
    "is_in_perimeter",
    "is_known",
    "region",
    "source",
]

PerimeterType = str  # "commune" | "departement" | "epci", as in chefs de file perimeters


def source() -> str:
    """Where the data comes from, e.g. `@etalab/decoupage-administratif@6.0.0`."""
    return load().source


def commune(code: str) -> Commune | None:
    """The current commune (or municipal arrondissement) with this code."""
    return load().current.get(code)


def is_current(code: str) -> bool:
    return code in load().current


def is_former(code: str) -> bool:
    """True if `code` is listed in the former codes of a current commune."""
    return code in load().former


def is_known(code: str) -> bool:
    """Current or former: the codes accepted with `ancienneCommuneAllowed=true`."""
    index = load()
    return code in index.current or code in index.former


def entries(code: str) -> tuple[Commune, ...]:
    """Every entry with this code: a commune actuelle and its commune déléguée often share it."""
    return load().by_code.get(code, ())


def current_code_of(code: str) -> str | None:
    """The current commune a code belongs to today.

    A current code maps to itself; a former code to the commune that absorbed it; a commune
    déléguée or associée to its chef-lieu; an unknown code to None.
    """
    index = load()
    if code in index.current:
        return code
    if code in index.former:
        return index.former[code]
    for entry in index.by_code.get(code, ()):
        if entry.parent is not None:
            return entry.parent
    return None


def communes_of_departement(code: str) -> tuple[Commune, ...]:
    """Current communes and municipal arrondissements of a département."""
    return load().by_departement.get(code, ())


def departement(code: str) -> Departement | None:
    return load().departements.get(code)


def region(code: str) -> Region | None:
    return load().regions.get(code)


def epci(siren: str) -> Epci | None:
    return load().epci.get(siren)


def epci_of_commune(code: str) -> Epci | None:
    """The EPCI à fiscalité propre a commune actuelle belongs to (None for arrondissements)."""
    index = load()
    siren = index.epci_of.get(code)
    return index.epci[siren] if siren is not None else None


def is_in_perimeter(commune_code: str, kind: PerimeterType, code: str) -> bool:
    """Whether a current commune lies in a perimeter (`commune`, `departement` or `epci`).

    A municipal arrondissement lies in the perimeters of its commune (Paris, Lyon, Marseille).
    """
    found = commune(commune_code)
    if found is None:
        return False
    codes = {found.code} if found.parent is None else {found.code, found.parent}
    if kind == "commune":
        return code in codes
    if kind == "departement":
        return found.departement == code
    if kind == "epci":
        member = epci(code)
        return member is not None and not codes.isdisjoint(member.membres)
    raise ValueError(f"unknown perimeter type {kind!r}")
