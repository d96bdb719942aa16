"""The numpy happy-shape checks (``_shapes``) against ``re.fullmatch`` of the bulk patterns."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from guichet.bal import _bulk
from guichet.bal._shapes import cad_misses, cle_misses, float_misses, uuid_misses

floatish = st.one_of(
    st.text(alphabet="0123456789-.", max_size=8),
    st.text(alphabet="0123456789-.,e+ \t\nx", max_size=8),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.from_regex(_bulk.FLOAT_HAPPY, fullmatch=True),
    st.sampled_from(["", "-", ".", "-0", "0.", ".5", "00", "000", "01.5", "0.5", "-.5", "1..2"]),
)


def _expected(column: list[str], pattern: str) -> list[int]:
    full = re.compile(pattern).fullmatch
    return [i for i, value in enumerate(column) if full(value) is None]


@settings(max_examples=1000)
@given(st.lists(floatish, max_size=12))
@example(["-1.5", "1-", "--1", "0", "09", "090", "0.09", "10.", "1.2.3", "-"])
@example(["é1"])
def test_float_misses_are_the_regex_misses(column: list[str]) -> None:
    got = float_misses(column)
    if got is None:  # not applicable: only for values the bytes view cannot hold
        assert any(not value.isascii() or "\n" in value for value in column)
        return
    assert got == _expected(column, _bulk.FLOAT_HAPPY)
    assert _bulk.misses(column, _bulk.FLOAT_HAPPY) == got


cleish = st.one_of(
    st.text(alphabet="0123456789abx_", max_size=24),
    st.text(alphabet="0_aAx-\n é", max_size=20),
    st.from_regex(_bulk.CLE_HAPPY, fullmatch=True),
    st.from_regex(r"[0-9a-z_]{5}_[0-9ax]{4}_[0-9_]{5}[_a-z0-9]{0,6}", fullmatch=True),
    st.sampled_from(["35047_xxxx_00001", "35047_0000_00001", "35047_0001_00001_", "a" * 16]),
)


@settings(max_examples=1000)
@given(st.lists(cleish, max_size=10))
@example(["35047_0001_00001__bis", "35047_0001_00001_bis", "35047_0001_0000a", "35047_0001_00001a"])
@example(["35_47_0001_00001", "35047_00_1_00001", "35047_0x0x_00001", "35047_0001_00001_b_"])
def test_cle_misses_are_the_regex_misses(column: list[str]) -> None:
    got = cle_misses(column)
    if got is None:
        assert any(not value.isascii() or "\n" in value for value in column)
        return
    assert got == _expected(column, _bulk.CLE_HAPPY)
    assert _bulk.misses(column, _bulk.CLE_HAPPY) == got


cadish = st.one_of(
    st.lists(st.text(alphabet="0123456789ABZaz", min_size=12, max_size=17), max_size=3).map(
        "|".join
    ),
    st.text(alphabet="0A|z \né", max_size=34),
    st.from_regex(_bulk.CAD_HAPPY, fullmatch=True),
)


@settings(max_examples=1000)
@given(st.lists(cadish, max_size=10))
@example(["", "|", "35004700AS0562|", "|350047000AS0562", "350047000AS0562||350047000AS0562"])
def test_cad_misses_are_the_regex_misses(column: list[str]) -> None:
    got = cad_misses(column)
    if got is None:
        assert any(not value.isascii() or "\n" in value for value in column)
        return
    assert got == _expected(column, _bulk.CAD_HAPPY)
    assert _bulk.misses(column, _bulk.CAD_HAPPY) == got


uuidish = st.one_of(
    st.uuids().map(str),
    st.uuids(version=4).map(str),
    st.uuids(version=4).map(lambda u: str(u).upper()),
    st.from_regex(_bulk.UUID_HAPPY, fullmatch=True),
    st.text(alphabet="0123456789abcdefABCDEFgx-4", min_size=34, max_size=38),
    st.text(alphabet="0-4a\né", max_size=40),
    st.sampled_from(
        [
            "",
            "00000000-0000-0000-0000-000000000000",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "0246e48c-f33d-433a-8984-034219be842e",
            "0246e48c-f33d-433a-c984-034219be842e",
            "0246e48c-f33d-533a-8984-034219be842e",
            "0246e48cf33d-433a-8984-034219be842e-",
            "0246e48c-f33d-433a-8984-034219be842E",
        ]
    ),
)


@settings(max_examples=1000)
@given(st.lists(uuidish, max_size=10))
def test_uuid_misses_are_the_regex_misses(column: list[str]) -> None:
    got = uuid_misses(column)
    if got is None:
        assert any(not value.isascii() or "\n" in value for value in column)
        return
    assert got == _expected(column, _bulk.UUID_HAPPY)
    assert _bulk.misses(column, _bulk.UUID_HAPPY) == got
