"""French reference data (COG 2026) shipped in `guichet.cog`, and its build script."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest

from guichet import cog
from guichet.cog import CommuneType
from guichet.cog._index import load, parse

ROOT = Path(__file__).parents[2]


class TestData:
    def test_source_and_counts(self) -> None:
        index = load()
        assert cog.source() == "@etalab/decoupage-administratif@6.0.0"
        assert len(index.current) == 34969 + 45  # communes actuelles + arrondissements
        assert sum(len(v) for v in index.by_code.values()) == 37590
        assert len(index.departements) == 109 and len(index.regions) == 26
        assert len(index.epci) == 1255

    def test_load_is_fast(self) -> None:
        load.cache_clear()
        start = time.perf_counter()
        load()
        assert time.perf_counter() - start < 1.0  # ~0.1 s here; generous for slow CI

    def test_current_commune(self) -> None:
        paris = cog.commune("75056")
        assert paris is not None
        assert (paris.nom, paris.type, paris.departement, paris.region) == (
            "Paris", CommuneType.ACTUELLE, "75", "11"
        )  # fmt: skip
        assert paris.is_current and paris.parent is None

    def test_municipal_arrondissement_is_current(self) -> None:
        arrondissement = cog.commune("13201")
        assert arrondissement is not None
        assert arrondissement.type is CommuneType.ARRONDISSEMENT_MUNICIPAL
        assert arrondissement.parent == "13055"
        assert cog.is_current("69381")

    def test_commune_deleguee_shares_the_code_of_its_chef_lieu(self) -> None:
        actuelle, deleguee = cog.entries("01015")
        assert (actuelle.type, deleguee.type) == (CommuneType.ACTUELLE, CommuneType.DELEGUEE)
        assert (actuelle.nom, deleguee.nom) == ("Arboys en Bugey", "Arbignieu")
        assert deleguee.parent == "01015" and actuelle.anciens_codes == ("01340",)

    def test_former_codes(self) -> None:
        assert cog.is_former("01340") and not cog.is_current("01340")
        assert cog.is_known("01340") and cog.is_known("01015")
        assert cog.current_code_of("01340") == "01015"
        assert not cog.is_known("99999") and cog.current_code_of("99999") is None

    def test_commune_associee_maps_to_its_chef_lieu(self) -> None:
        [associee] = [c for c in cog.entries("01120") if c.type is CommuneType.ASSOCIEE]
        assert associee.nom == "Cordieux"
        assert cog.current_code_of("01120") == associee.parent == "01262"

    def test_departements_regions(self) -> None:
        assert cog.departement("2A") == cog.Departement("2A", "Corse-du-Sud", "94")
        assert cog.region("84") is not None
        assert cog.departement("971") is not None
        communes = cog.communes_of_departement("75")
        assert {c.code for c in communes} >= {"75056", "75101", "75120"}
        assert all(c.is_current for c in communes)

    def test_epci_membership(self) -> None:
        epci = cog.epci_of_commune("74042")
        assert epci is not None and epci.nom == "CC Faucigny - Glières"
        assert "74042" in epci.membres
        assert cog.epci(epci.code) == epci
        every_member = {m for e in load().epci.values() for m in e.membres}
        assert every_member <= set(load().current)

    def test_perimeters(self) -> None:
        marseille_epci = cog.epci_of_commune("13055")
        assert marseille_epci is not None
        assert cog.is_in_perimeter("13201", "epci", marseille_epci.code)
        assert cog.is_in_perimeter("13201", "commune", "13055")
        assert cog.is_in_perimeter("13201", "departement", "13")
        assert not cog.is_in_perimeter("75056", "departement", "13")
        assert not cog.is_in_perimeter("01340", "commune", "01340")  # former: not current
        with pytest.raises(ValueError):
            cog.is_in_perimeter("75056", "canton", "x")

    def test_public_names(self) -> None:
        assert cog.__all__ == sorted(cog.__all__)
        assert all(hasattr(cog, name) for name in cog.__all__)


class TestBuildScript:
    def test_builds_a_deterministic_file_the_loader_reads(self, tmp_path: Path) -> None:
        spec = importlib.util.spec_from_file_location(
            "build_cog", ROOT / "scripts/build_cog_data.py"
        )
        assert spec is not None and spec.loader is not None
        script = importlib.util.module_from_spec(spec)
        sys.modules["build_cog"] = script
        spec.loader.exec_module(script)

        data = tmp_path / "data"
        data.mkdir()
        sample = {
            "regions": [{"code": "84", "nom": "ARA"}],
            "departements": [{"code": "01", "nom": "Ain", "region": "84"}],
            "communes": [
                {"code": "01015", "nom": "Arboys", "type": "commune-actuelle",
                 "departement": "01", "region": "84", "anciensCodes": ["01340"]},
                {"code": "01015", "nom": "Arbignieu", "type": "commune-deleguee",
                 "departement": "01", "region": "84", "chefLieu": "01015"},
            ],
            "epci": [{"code": "200000001", "nom": "CC", "type": "CC",
                      "membres": [{"code": "01015"}]}],
        }  # fmt: skip
        for name, rows in sample.items():
            (data / f"{name}.json").write_text(json.dumps(rows))
        first, second = tmp_path / "1.json.gz", tmp_path / "2.json.gz"
        script.write(script.build(data, "0.0.0"), first)
        script.write(script.build(data, "0.0.0"), second)
        assert first.read_bytes() == second.read_bytes()

        index = parse(first.read_bytes())
        assert index.source == "@etalab/decoupage-administratif@0.0.0"
        assert index.former == {"01340": "01015"}
        assert index.epci_of == {"01015": "200000001"}
        assert json.loads(gzip.decompress(first.read_bytes()))["communes"][1][1] == "D"
