"""The streamed JSON of ``guichet bal validate --json`` equals the report's own lists: every
row error once per kept error, in order, with the profile's filter and levels."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest

from guichet.bal import validate
from guichet.bal._cli import _write_json

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "bal" / "corpus"
TODAY = dt.date(2026, 11, 22)
FILES = [
    "derived/bruz_errors.csv",  # field and row errors, a localized column
    "derived/bruz_1.4_ids.csv",  # BAN ids: cross-row warnings shared by many rows
    "fixtures/1.4_1.3-invalid-uid_adresse.csv",  # uid_adresse codes, dropped by 1.4
    "fixtures/1.4_1.4-bad-id-ban-adresse.csv",  # id_ban codes, dropped by 1.3
    "fixtures/sample.csv",
]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/bal is not beside the repo")
@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("profile", ["1.3", "1.4", "1.5", "1.3-relax"])
def test_json_rows_are_the_reports_lists(name: str, profile: str) -> None:
    report = validate(CORPUS / name, today=TODAY).for_profile(profile)
    out = io.StringIO()
    _write_json(report, out)
    written = json.loads(out.getvalue())
    assert written["rowErrors"] == report.summary()["rowErrors"]
    assert written["problems"] == [p.to_json() for p in report.problems()]


def test_tails_are_not_mixed_up_when_the_cache_is_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    from guichet.bal import _json_rows

    monkeypatch.setattr(_json_rows, "_TAILS_KEPT", 2)
    data = (CORPUS / "derived" / "bruz_errors.csv").read_bytes() if CORPUS.is_dir() else None
    if data is None:
        pytest.skip("../shared/bal is not beside the repo")
    report = validate(data, today=TODAY)
    out = io.StringIO()
    _write_json(report, out)
    written = json.loads(out.getvalue())
    assert written["rowErrors"] == report.summary()["rowErrors"]
    assert written["problems"] == [p.to_json() for p in report.problems()]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/bal is not beside the repo")
@pytest.mark.parametrize("batch", [3, 5_000])
def test_the_binary_path_writes_the_same_text(batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real stdout gets the rows as bytes through its buffer, around the text parts, batch
    after batch."""
    from guichet.bal import _json_rows

    monkeypatch.setattr(_json_rows, "_LINES_PER_BATCH", batch)
    report = validate(CORPUS / "derived" / "bruz_1.4_ids.csv", today=TODAY)
    text = io.StringIO()
    _write_json(report, text)
    raw = io.BytesIO()
    wrapper = io.TextIOWrapper(raw, encoding="utf-8")
    _write_json(report, wrapper)
    wrapper.flush()
    assert raw.getvalue().decode("utf-8") == text.getvalue()
    assert json.loads(text.getvalue())["problems"]


def test_cells_with_percent_signs_and_small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Items are ``%``-templates: a ``%`` in a cell stays itself; runs cut by batches."""
    from guichet.bal import _json_rows

    monkeypatch.setattr(_json_rows, "_LINES_PER_BATCH", 3)
    header = "cle_interop;voie_nom;numero;commune_nom;source;date_der_maj"
    rows = [
        f"35047_0001_{i:05d};{'A%' if i % 3 else 'Rue %d'};{i};Bruz;S;2021-01-01"
        for i in range(1, 9)
    ]
    report = validate(("\n".join([header, *rows]) + "\n").encode(), today=TODAY)
    out = io.StringIO()
    _write_json(report, out)
    written = json.loads(out.getvalue())
    assert written["rowErrors"] == report.summary()["rowErrors"]
    assert written["problems"] == [p.to_json() for p in report.problems()]
    assert any(p["value"] == "A%" for p in written["problems"])


def test_the_json_is_json_dumps_of_the_report() -> None:
    """Byte for byte what ``json.dumps`` writes, with cells that JSON escapes (quotes,
    backslashes, control characters) or leaves alone (non-ASCII) in the problems' values."""
    header = "cle_interop;voie_nom;numero;commune_nom;source;date_der_maj"
    cells = ['RUE "A"', "RUE \\B", "RUE\tC", "RUE\x01D", "RUE’É", "RUE %S"]  # all caps: a code
    rows = [
        f"35047_0001_{i:05d};{cell};{i};Bruz;S;{'2021-01-01' if i % 2 else '01/02/2021'}"
        for i, cell in enumerate(cells, start=1)
    ]
    report = validate(("\n".join([header, *rows]) + "\n").encode(), today=TODAY)
    out = io.StringIO()
    _write_json(report, out)
    problems = [p.to_json() for p in report.problems()]
    assert {p["value"] for p in problems} >= set(cells)  # every cell is a problem's value
    expected = json.dumps({**report.summary(), "problems": problems}, ensure_ascii=False)
    assert out.getvalue() == expected + "\n"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/bal is not beside the repo")
@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("profile", ["1.3", "1.4", "1.3-relax"])
def test_counts_and_outside_rows_are_the_walks(name: str, profile: str) -> None:
    """The problems counted from the arrays are those :meth:`Report.problems` gives, the rows
    outside a commune those :meth:`Report.row_communes` gives, the first ones in order."""
    from collections import Counter

    report = validate(CORPUS / name, today=TODAY).for_profile(profile)
    problems = list(report.problems())
    counted = report.problem_counts()
    assert counted == Counter((p.level, p.code) for p in problems)
    assert list(counted) == list(dict.fromkeys((p.level, p.code) for p in problems))  # order
    assert sum(report.problem_counts().values()) == len(problems)
    communes = list(report.row_communes())
    for code in {code for _, code in communes[:3]} | {"35047", "00000"}:
        outside = [(line, found) for line, found in communes if found != code]
        assert report.rows_outside(code, 5) == (len(outside), outside[:5])
        assert report.rows_outside(code, 0) == (len(outside), [])
