"""The bulk fast paths (``_bulk``, the coordinate filter) against the per-value path.

Each happy regex must imply "no error, and this value" for ``ValueReader``; ``misses`` must find
exactly the values the regex does not fully match; the numpy projection must stay within a
centimetre of ``proj`` so that the coordinate filter's margin is safe.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from guichet.bal import _bulk, _cog
from guichet.bal._proj import L93_BOX, lambert93_many, proj
from guichet.bal._rows import COORD_MARGIN_M
from guichet.bal._values import UNSET, ValueReader

READER = ValueReader(today=dt.date(2026, 11, 22))
COMMUNES = sorted(_cog._cog().names)[:2000:7] + sorted(_cog._cog().old)[:300:7]


def _happy(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


numeric_like = st.text(alphabet="0123456789-.,e+ \t", max_size=14)
floats_text = st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr)


@settings(max_examples=600)
@given(st.one_of(numeric_like, floats_text, st.from_regex(_bulk.FLOAT_HAPPY, fullmatch=True)))
@example("-0")
@example("0.")
@example("01")
def test_float_happy_reads_without_error(value: str) -> None:
    for field in ("x", "y", "long", "lat"):
        result = READER.read(field, value)
        if _happy(_bulk.FLOAT_HAPPY, value):
            assert result.errors == ()
            assert result.value == float(value)
            assert math.copysign(1, result.value) == math.copysign(1, float(value))  # type: ignore[arg-type]


cle_like = st.text(alphabet="0123456789abxXAB_- ", max_size=24)
cle_happy = st.builds(
    lambda commune, rest: commune.lower() + rest[5:],
    st.sampled_from(COMMUNES),
    st.from_regex(_bulk.CLE_HAPPY, fullmatch=True),
)


@settings(max_examples=600)
@given(st.one_of(cle_like, cle_happy, st.from_regex(_bulk.CLE_HAPPY, fullmatch=True)))
@example("35047_xxxx_00001")
@example("35047_0000_00001")
@example("35047_000a_00001_bis_ter")
@example("2a004_0001_00001")
def test_cle_happy_reads_like_the_parser(value: str) -> None:
    """A happy cle_interop whose commune part is clean: no error, the bulk value/additional."""
    if not _happy(_bulk.CLE_HAPPY, value):
        return
    result = READER.read("cle_interop", value)
    commune = value[_bulk.CLE_COMMUNE]
    commune_errors = READER.read("cle_interop", commune + "_0001_00001").errors
    # the commune part is the only source of errors of a happy value
    assert result.errors == commune_errors
    if commune_errors:
        return
    assert result.value == value
    assert result.additional is not None
    assert result.additional["codeCommune"] == commune.upper()
    assert result.additional["codeVoie"] == value[_bulk.CLE_VOIE].upper()
    assert result.additional["numeroVoie"] == value[_bulk.CLE_NUMERO].lstrip("0")


@given(st.from_regex(r"[0-9]{5}", fullmatch=True), st.integers(1, 99_999))
@example("00000", 1)
@example("00012", 12)
def test_cle_numero_comparison(part: str, numero: int) -> None:
    """Check 1 in bulk: the 5-digit part differs from numero's 5 digits iff the check fires."""
    numero_voie = part.lstrip("0")
    fires = not numero_voie or int(numero_voie) != numero
    assert (part != f"{numero:05d}") == fires


uuid_like = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.text(alphabet="0123456789abcdefABCDEF-4 ", max_size=40),
)


@settings(max_examples=400)
@given(uuid_like)
def test_uuid_happy_reads_without_error(value: str) -> None:
    for field in ("id_ban_commune", "id_ban_toponyme", "id_ban_adresse"):
        result = READER.read(field, value)
        if _happy(_bulk.UUID_HAPPY, value):
            assert (result.errors, result.value) == ((), value)


cad_like = st.lists(st.text(alphabet="0123456789ABZaz |é", min_size=12, max_size=16), max_size=3)


@settings(max_examples=400)
@given(st.one_of(cad_like.map("|".join), st.from_regex(_bulk.CAD_HAPPY, fullmatch=True)))
def test_cad_happy_reads_without_error(value: str) -> None:
    if _happy(_bulk.CAD_HAPPY, value):
        assert READER.read("cad_parcelles", value).errors == ()


@settings(max_examples=300)
@given(st.lists(st.one_of(numeric_like, st.sampled_from(["1.5", "", "a\nb", "2\n3.5"]))))
def test_misses_are_the_values_not_matched(column: list[str]) -> None:
    expected = [i for i, v in enumerate(column) if not _happy(_bulk.FLOAT_HAPPY, v)]
    assert _bulk.misses(column, _bulk.FLOAT_HAPPY) == expected


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.floats(L93_BOX[0], L93_BOX[2]),
            st.floats(L93_BOX[1], L93_BOX[3]),
        ),
        min_size=1,
        max_size=50,
    )
)
def test_numpy_lambert93_within_a_centimetre_of_proj(points: list[tuple[float, float]]) -> None:
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    inside, x, y = lambert93_many(lon, lat)
    assert inside.all()
    for (lo, la), px, py in zip(points, x.tolist(), y.tolist(), strict=True):
        exact = proj(lo, la)
        assert exact is not None
        # one centimetre at most: the margin of the coordinate filter covers both axes
        assert abs(px - exact[0]) <= 0.0100001 and abs(py - exact[1]) <= 0.0100001
        assert math.hypot(0.0100001, 0.0100001) < COORD_MARGIN_M


def test_numpy_lambert93_outside_the_box() -> None:
    inside, _, _ = lambert93_many(np.array([-61.0, math.nan, 4.5]), np.array([16.2, 45.0, 60.0]))
    assert inside.tolist() == [False, False, False]


def test_reader_unset_is_not_a_float() -> None:
    assert READER.read("x", "").value is UNSET
