"""Record types of the French administrative reference (COG)."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class CommuneType(StrEnum):
    """The `type` values of @etalab/decoupage-administratif."""

    ACTUELLE = "commune-actuelle"
    DELEGUEE = "commune-deleguee"
    ASSOCIEE = "commune-associee"
    ARRONDISSEMENT_MUNICIPAL = "arrondissement-municipal"


# NamedTuples rather than dataclasses: ~37,000 communes are built at first use, and
# tuple construction is several times faster than a frozen dataclass's __init__.
class Commune(NamedTuple):
    code: str
    nom: str
    type: CommuneType
    departement: str
    region: str
    # Chef-lieu (a commune actuelle) of a déléguée or associée; the commune (Paris, Lyon,
    # Marseille) of a municipal arrondissement; None for a commune actuelle.
    parent: str | None
    # Codes of the former communes merged into this one (communes nouvelles).
    anciens_codes: tuple[str, ...]

    @property
    def is_current(self) -> bool:
        """A commune actuelle or a municipal arrondissement: what can publish a BAL."""
        return self.type in (CommuneType.ACTUELLE, CommuneType.ARRONDISSEMENT_MUNICIPAL)


class Departement(NamedTuple):
    code: str
    nom: str
    region: str


class Region(NamedTuple):
    code: str
    nom: str


class Epci(NamedTuple):
    """An EPCI à fiscalité propre (CC, CA, CU, métropole), identified by its SIREN."""

    code: str
    nom: str
    type: str
    membres: tuple[str, ...]  # codes of its member communes (communes actuelles)
