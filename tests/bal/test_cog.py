"""guichet.bal._cog and its data file (built by scripts/build_bal_communes.py from minicog.json)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import time
from importlib import resources
from pathlib import Path
from types import ModuleType

import pytest

from guichet.bal import _cog
from tests.bal import reference_node

MINICOG = "@ban-team/validateur-bal/minicog.json"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_bal_communes.py"


def _build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_bal_communes", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_current_communes_and_arrondissements() -> None:
    assert _cog.is_current("91534")
    assert _cog.commune_name("91534") == "Saclay"
    assert _cog.is_current("2A004")
    assert not _cog.is_current("2a004")  # callers upper-case first
    assert _cog.is_current("75101")  # municipal arrondissements are communes here
    assert _cog.is_current("97411")


def test_paris_lyon_marseille_are_absent() -> None:
    for code in ("75056", "69123", "13055"):
        assert not _cog.is_current(code)
        assert not _cog.is_old(code)
        assert _cog.commune_name(code) is None


def test_old_communes() -> None:
    assert _cog.is_old("12076")
    assert _cog.is_old("01340")
    assert not _cog.is_current("12076")
    assert _cog.commune_name("12076") is None
    assert _cog.anciens_codes("12076") is None  # the reference's crash case


def test_anciens_codes() -> None:
    owners = [c for c in ("01015", "01033", "01036") if _cog.anciens_codes(c)]
    assert owners, "some current communes list former ones"
    for code in owners:
        former = _cog.anciens_codes(code)
        assert isinstance(former, frozenset)
        assert all(_cog.is_old(f) for f in former)
    assert _cog.anciens_codes("91534") == frozenset({"78534"})
    assert _cog.anciens_codes("01001") == frozenset()


def test_data_file_matches_minicog() -> None:
    modules = reference_node.node_modules(MINICOG)
    if modules is None:
        pytest.skip(reference_node.why_not())
    communes = json.loads((modules / MINICOG).read_text("utf-8"))
    assert len(communes) == 35011
    for commune in communes:
        code = commune["code"]
        assert _cog.commune_name(code) == commune["nom"]
        assert _cog.anciens_codes(code) == frozenset(commune.get("anciensCodes", []))
    old = {c for commune in communes for c in commune.get("anciensCodes", [])}
    assert _cog.is_old.__module__ == "guichet.bal._cog"
    assert all(_cog.is_old(c) for c in old)
    # the shipped file is exactly what the script builds (reproducible gzip)
    shipped = resources.files("guichet.bal").joinpath("data/communes.tsv.gz").read_bytes()
    assert gzip.decompress(shipped).decode("utf-8") == _build_script().to_tsv(communes)


def test_to_tsv_rejects_separators() -> None:
    build = _build_script()
    assert build.to_tsv([{"code": "1", "nom": "A", "anciensCodes": ["2", "3"]}]) == "1\tA\t2,3\n"
    with pytest.raises(ValueError, match="separator"):
        build.to_tsv([{"code": "1", "nom": "A\tB"}])


def test_loads_fast() -> None:
    _cog._cog.cache_clear()
    start = time.perf_counter()
    _cog.is_current("91534")
    assert time.perf_counter() - start < 0.5  # ~20 ms in practice
