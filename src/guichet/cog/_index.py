"""Loading of the shipped data file into lookup tables (once, at first use)."""

from __future__ import annotations

import gc
import gzip
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from guichet.cog._model import Commune, CommuneType, Departement, Epci, Region

DATA_FILE = "cog.json.gz"

_TYPES = {
    "A": CommuneType.ACTUELLE,
    "D": CommuneType.DELEGUEE,
    "S": CommuneType.ASSOCIEE,
    "M": CommuneType.ARRONDISSEMENT_MUNICIPAL,
}


@dataclass(frozen=True, slots=True)
class Index:
    source: str
    current: dict[str, Commune]  # communes actuelles and municipal arrondissements, by code
    by_code: dict[str, tuple[Commune, ...]]  # every entry (a code can be actuelle + déléguée)
    former: dict[str, str]  # former code → code of the commune actuelle that absorbed it
    by_departement: dict[str, tuple[Commune, ...]]  # current communes only
    departements: dict[str, Departement]
    regions: dict[str, Region]
    epci: dict[str, Epci]
    epci_of: dict[str, str]  # commune code → EPCI SIREN


def _communes(rows: list[list[Any]]) -> list[Commune]:
    return [
        Commune(code, nom, _TYPES[kind], dep, reg, parent or None, tuple(anciens))
        for code, kind, nom, dep, reg, parent, anciens in rows
    ]


@cache
def load() -> Index:
    # ~150,000 small objects are allocated here, all long-lived: pausing the cyclic GC avoids
    # several full collections that would otherwise double the load time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return parse(resources.files("guichet.cog").joinpath(DATA_FILE).read_bytes())
    finally:
        if enabled:
            gc.enable()


def parse(raw: bytes) -> Index:
    """Build the lookup tables from the gzip'd JSON written by scripts/build_cog_data.py."""
    data = json.loads(gzip.decompress(raw))
    communes = _communes(data["communes"])
    by_code: dict[str, list[Commune]] = {}
    by_departement: dict[str, list[Commune]] = {}
    current: dict[str, Commune] = {}
    former: dict[str, str] = {}
    for commune in communes:
        by_code.setdefault(commune.code, []).append(commune)
        if commune.is_current:
            current[commune.code] = commune
            by_departement.setdefault(commune.departement, []).append(commune)
            for old in commune.anciens_codes:
                former[old] = commune.code
    epcis = [Epci(code, nom, kind, tuple(membres)) for code, nom, kind, membres in data["epci"]]
    return Index(
        source=data["source"],
        current=current,
        by_code={code: tuple(entries) for code, entries in by_code.items()},
        former=former,
        by_departement={code: tuple(entries) for code, entries in by_departement.items()},
        departements={row[0]: Departement(*row) for row in data["departements"]},
        regions={row[0]: Region(*row) for row in data["regions"]},
        epci={epci.code: epci for epci in epcis},
        epci_of={member: epci.code for epci in epcis for member in epci.membres},
    )
