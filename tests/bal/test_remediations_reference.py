"""Differential test: Guichet's remediations against the reference's on every corpus file.

The reference's remediations (``--mode=full --det-uuid --ban=offline --today=2026-11-22``) are
stored in data/reference_remediations.json.gz, made by scripts/bal_reference_remediations.py;
the uuids are compared through the same counter (:func:`counter_uuids`).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from guichet.bal import validate
from guichet.bal._remediations import counter_uuids

SHARED_BAL = Path(__file__).resolve().parents[2].parent / "shared" / "bal"
CORPUS = SHARED_BAL / "corpus"
EXPECTED = Path(__file__).with_name("data") / "reference_remediations.json.gz"
CASES = Path(__file__).with_name("data") / "remediation_cases"
TODAY = dt.date(2026, 11, 22)
MOCK_COMMUNE_ID = "0246e48c-f33d-433a-8984-034219be842e"  # the runner's --ban=mock:<id>


def _expected() -> dict[str, Any]:
    return json.loads(gzip.decompress(EXPECTED.read_bytes()))  # type: ignore[no-any-return]


def _corpus() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for folder in ("fixtures", "ecosystem", "derived"):
        for path in sorted((CORPUS / folder).glob("*")):
            if path.suffix in (".csv", ".png"):
                files[path.name] = path
    return files


def _cases() -> list[Any]:
    if not CORPUS.is_dir():
        return []
    corpus = _corpus()
    return [pytest.param(corpus[name], name, id=name) for name in _expected() if name in corpus]


@pytest.mark.parametrize("name", [n for n in _expected() if n.startswith("cases/")])
def test_same_remediations_on_hand_made_cases(name: str) -> None:
    """Missing commune names and columns, partial BAN ids, shared streets, a BAN lookup."""
    path = CASES / name.removeprefix("cases/")
    lookup = (lambda code: MOCK_COMMUNE_ID) if name.endswith(".mock.csv") else None
    report = validate(
        path, today=TODAY, remediations=True, new_uuid=counter_uuids(), ban_lookup=lookup
    )
    expected = _expected()[name]
    assert report.remediations is not None
    actual = [[line, _ordered(rem)] for line, rem in report.remediations]
    assert actual == [[line, _ordered(rem)] for line, rem in expected["rows"]]


pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/bal is not beside the repo")


def _ordered(remediations: dict[str, Any]) -> list[Any]:
    """Keys in order and values: the reference's insertion order is part of the output."""
    return [[key, list(value.items())] for key, value in remediations.items()]


@pytest.mark.parametrize(("path", "name"), _cases())
def test_same_remediations_as_reference(path: Path, name: str) -> None:
    expected = _expected()[name]
    report = validate(path, today=TODAY, remediations=True, new_uuid=counter_uuids())
    if "error" in expected:  # the reference threw: Guichet reports a file error, no rows
        assert report.file_error is not None
        assert report.remediations is None
        return
    if expected.get("parseOk") is False:
        assert not report.parse_ok
        return
    assert report.remediations is not None
    assert report.row_count == expected["rowCount"]
    actual = [[line, _ordered(rem)] for line, rem in report.remediations]
    wanted = [[line, _ordered(rem)] for line, rem in expected["rows"]]
    assert len(actual) == len(wanted)
    for got, want in zip(actual, wanted, strict=True):
        assert got == want


def test_the_corpus_has_every_kind_of_remediation() -> None:
    """The stored reference data exercises every remediation (else the test above proves less)."""
    kinds: set[tuple[str, str]] = set()
    for entry in _expected().values():
        for _, rem in entry.get("rows", []):
            for key, value in rem.items():
                kinds.add((key, value["errors"][0]))
    assert {key for key, _ in kinds} == {
        "date_der_maj",
        "commune_insee",
        "commune_nom",
        "id_ban_commune",
        "id_ban_toponyme",
        "id_ban_adresse",
    }
    assert ("date_der_maj", "date_der_maj.date_invalide") in kinds
    assert ("commune_nom", "commune_nom_invalide") in kinds


def test_no_remediations_unless_asked() -> None:
    data = (CORPUS / "fixtures" / "sample.csv").read_bytes()
    assert validate(data, today=TODAY).remediations is None
    assert "remediations" not in validate(data, today=TODAY).summary()
    summary = validate(data, today=TODAY, remediations=True).summary()
    assert summary["remediations"]
    assert list(summary)[-2:] == ["remediations", "rowCount"] or "rowErrors" in summary


def test_uuids_are_random_by_default() -> None:
    data = (CORPUS / "fixtures" / "sample.csv").read_bytes()
    first = validate(data, today=TODAY, remediations=True).remediations
    second = validate(data, today=TODAY, remediations=True).remediations
    assert first is not None and second is not None
    ids = [rem["id_ban_adresse"]["value"] for _, rem in first if "id_ban_adresse" in rem]
    assert ids and all(len(i) == 36 and i[14] == "4" for i in ids)
    assert ids != [rem["id_ban_adresse"]["value"] for _, rem in second if "id_ban_adresse" in rem]


def test_the_json_report_carries_them_when_asked() -> None:
    from typer.testing import CliRunner

    from guichet.bal._cli import app

    path = CORPUS / "fixtures" / "sample.csv"
    args = ["validate", str(path), "--json", "--today", "2026-11-22"]
    plain = json.loads(CliRunner().invoke(app, args).output)
    assert "remediations" not in plain
    done = CliRunner().invoke(app, [*args, "--remediations"])
    report = json.loads(done.output)
    lines = [line for line, _ in report["remediations"]]
    assert lines == sorted(lines) and len(lines) == 15
    direct = validate(path, today=TODAY, remediations=True, new_uuid=counter_uuids())
    assert direct.remediations is not None
    # the same remediations but the ids, random in the command
    pairs = zip(report["remediations"], direct.remediations, strict=True)
    for (line, got), (want_line, want) in pairs:
        assert line == want_line and list(got) == list(want)
        assert got.get("date_der_maj") == want.get("date_der_maj")
    assert report["rowErrors"] == plain["rowErrors"]
