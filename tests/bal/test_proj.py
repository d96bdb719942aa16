"""guichet.bal._proj against @etalab/project-legal 0.6.0 / proj4 2.22.0."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from guichet.bal import _proj
from guichet.bal._proj import ProjError, proj

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "bal" / "vectors"
EXTRA = Path(__file__).resolve().parent / "data" / "extra_cases.json"


def _js_number(v: Any) -> float | None:
    return float("nan") if v == "NaN" else v


@cache
def _extra_proj() -> list[dict[str, Any]]:
    return json.loads(EXTRA.read_text("utf-8"))["proj"]  # type: ignore[no-any-return]


def _check(case: dict[str, Any]) -> None:
    lon, lat = (_js_number(v) for v in case["input"])
    expected = case["output"]
    if isinstance(expected, dict):
        with pytest.raises(ProjError, match="Invalid WGS-84 coordinates"):
            proj(lon, lat)
        return
    got = proj(lon, lat)
    if expected is None:
        assert got is None
        return
    assert got is not None
    # centimetre rounding of values equal to ~1e-9 m: a tie could flip, nothing more
    assert abs(got[0] - expected[0]) <= 0.0100001
    assert abs(got[1] - expected[1]) <= 0.0100001


def test_proj_vectors() -> None:
    path = SHARED / "proj.json"
    if not path.exists():
        pytest.skip(f"{path} not available")
    cases = json.loads(path.read_text("utf-8"))["cases"]
    assert len(cases) == 23
    for case in cases:
        _check(case)
        if isinstance(case["output"], list):  # in fact identical on every vector
            assert list(proj(*case["input"]) or ()) == case["output"]


@pytest.mark.parametrize("case", _extra_proj(), ids=range(len(_extra_proj())))
def test_proj_like_project_legal(case: dict[str, Any]) -> None:
    _check(case)


def test_unrounded_projection_matches_proj4() -> None:
    """The closed forms agree with proj4js's own output to well under a millimetre."""
    epsg = (2154, 5490, 2972, 2975, 4471, 4467, 3163, 3296, 3297, 3298, 3299, 2988)
    by_epsg = dict(zip(epsg, (zone[4] for zone in _proj._ZONES), strict=True))
    checked = 0
    for case in _extra_proj():
        if "raw" not in case:
            continue
        x, y = by_epsg[case["zone"]](*case["input"])
        assert math.isclose(x, case["raw"][0], abs_tol=1e-6)
        assert math.isclose(y, case["raw"][1], abs_tol=1e-6)
        checked += 1
    assert checked > 300


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(None, None), (5.6, None), (None, 45.0), (float("nan"), 45.0), (2.0, float("nan")),
     (200.0, 0.0), (-180.0001, 0.0), (0.0, 90.5), (float("inf"), 0.0)],
)  # fmt: skip
def test_proj_throws_like_the_reference(lon: float | None, lat: float | None) -> None:
    with pytest.raises(ProjError):
        proj(lon, lat)
    assert issubclass(ProjError, ValueError)


def test_outside_every_zone_is_none() -> None:
    assert proj(0.0, 0.0) is None
    assert proj(180.0, 90.0) is None
    assert proj(10.39, 51.56) is None


def test_first_zone_wins_and_bounds_are_inclusive() -> None:
    # lon -150 is on the edge of both UTM 5S (3296) and UTM 6S (3297): 5S comes first
    utm5s, utm6s = _proj._ZONES[7][4], _proj._ZONES[8][4]
    x5, y5 = utm5s(-150.0, -20.0)
    assert proj(-150.0, -20.0) == (round(x5, 2), round(y5, 2))
    assert utm6s(-150.0, -20.0)[0] != x5
    assert proj(-9.86, 41.15) is not None
