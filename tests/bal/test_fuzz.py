"""Property tests: mutated real BAL files never make the validator raise, hang or blow up memory."""

from __future__ import annotations

import datetime as dt
import json
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guichet.bal import PROFILES, Report, validate

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "bal" / "corpus"
SMALL_FILES = (
    sorted(p.read_bytes() for p in CORPUS.glob("*/*.csv") if p.stat().st_size < 40_000)
    if CORPUS.is_dir()
    else [b"cle_interop;numero\n91534_xxxx_00001;1\n"]
)
TODAY = dt.date(2026, 11, 22)
FUZZ = settings(
    max_examples=60,
    deadline=5_000,  # a hang shows up as a deadline failure, not as a stuck CI run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check(report: Report) -> None:
    """Everything a caller may do with a report works and serializes."""
    json.dumps(report.summary())
    for problem in report.problems():
        json.dumps(problem.to_json())
    assert report.is_valid in (True, False)
    for profile in PROFILES:
        json.dumps(report.for_profile(profile).summary())


@st.composite
def byte_mutations(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SMALL_FILES)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 64))]
        else:
            del data[pos:]
    return bytes(data)


@st.composite
def cell_mutations(draw: st.DrawFn) -> bytes:
    text = draw(st.sampled_from(SMALL_FILES)).decode("utf-8", errors="replace")
    lines = text.splitlines()
    delimiter = ";" if lines and lines[0].count(";") else ","
    rows = [line.split(delimiter) for line in lines]
    for _ in range(draw(st.integers(1, 6))):
        if not rows:
            break
        row = draw(st.sampled_from(rows))
        if row:
            index = draw(st.integers(0, len(row) - 1))
            row[index] = draw(st.text(max_size=40))
    new_delimiter = draw(st.sampled_from([";", ",", "\t", "|"]))
    linebreak = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16", "latin-1"]))
    out = linebreak.join(new_delimiter.join(r) for r in rows)
    return out.encode(encoding, errors="replace")


@FUZZ
@given(data=byte_mutations(), profile=st.sampled_from([None, *PROFILES]))
def test_mutated_bytes_never_raise(data: bytes, profile: str | None) -> None:
    _check(validate(data, profile, today=TODAY))


@FUZZ
@given(data=cell_mutations())
def test_mutated_cells_delimiters_and_encodings_never_raise(data: bytes) -> None:
    _check(validate(data, today=TODAY))


@FUZZ
@given(header=st.lists(st.text(max_size=12), max_size=30), rows=st.integers(0, 5), data=st.data())
def test_arbitrary_tables_never_raise(header: list[str], rows: int, data: st.DataObject) -> None:
    cells = [header] + [
        data.draw(st.lists(st.text(max_size=20), min_size=len(header), max_size=len(header)))
        for _ in range(rows)
    ]
    text = "\n".join(";".join(c.replace(";", "").replace("\n", "") for c in r) for r in cells)
    _check(validate(text.encode("utf-8"), today=TODAY))


def _peak_mib(data: bytes) -> float:
    tracemalloc.start()
    try:
        report = validate(data, today=TODAY)
        report.summary()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "shape",
    ["huge_cell", "many_columns", "many_short_rows", "one_giant_quoted_field"],
)
def test_pathological_shapes_stay_bounded(shape: str) -> None:
    header = "cle_interop;voie_nom;numero;commune_insee;commune_nom;source;date_der_maj"
    row = "35047_0001_00001;Rue de la Paix;1;35047;Bruz;Bruz;2024-01-01"
    if shape == "huge_cell":
        data = f"{header}\n{row.replace('Rue de la Paix', 'R' * 5_000_000)}\n"
    elif shape == "many_columns":
        data = ";".join(f"c{i}" for i in range(20_000)) + "\n" + ";".join("x" * 20_000) + "\n"
    elif shape == "many_short_rows":
        data = header + "\n" + (row + "\n") * 20_000
    else:
        data = f'{header}\n"{"a;" * 2_000_000}\n'
    encoded = data.encode("utf-8")
    peak = _peak_mib(encoded)
    # Generous bound: a linear, modest multiple of the input, never quadratic blow-ups.
    assert peak < 64 + 40 * len(encoded) / 2**20, f"{shape}: {peak:.0f} MiB"
