"""Differential test: guichet.bal against the reference's own reports on every corpus file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from guichet.bal import Report, validate

SHARED_BAL = Path(__file__).resolve().parents[2].parent / "shared" / "bal"
EXPECTED = SHARED_BAL / "expected"
TODAY = dt.date(2026, 11, 22)
COMPARED_KEYS = (
    "encoding",
    "delimiter",
    "linebreak",
    "originalFields",
    "parseOk",
    "parseErrors",
    "fields",
    "notFoundFields",
    "fileValidation",
    "profilesValidation",
    "globalErrors",
    "rowsErrors",
    "uniqueErrors",
    "profile",
    "profilErrors",
    "rowCount",
    "rowErrors",
)
# Files the reference cannot report on (it throws); Guichet returns a file-level error instead
# (documented in src/guichet/bal/README.md).
REFERENCE_THROWS = {
    "troll.png": "file.binary",
    "edge_utf16le_bom.csv": "file.encoding.unsupported",
    "edge_crash_ancienne_commune_deleguee.csv": "file.validation_impossible",
}


def _corpus() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for folder in ("fixtures", "ecosystem", "derived"):
        for path in sorted((SHARED_BAL / "corpus" / folder).glob("*")):
            if path.suffix in (".csv", ".png"):
                files[path.name] = path
    return files


def _cases() -> list[Any]:
    if not EXPECTED.is_dir():
        return []
    corpus = _corpus()
    cases = []
    for expected in sorted(EXPECTED.glob("*.json")):
        name, _, rest = expected.name.partition(".csv.")
        if not rest:
            name, _, rest = expected.name.partition(".png.")
            name += ".png"
        else:
            name += ".csv"
        profile = rest.removesuffix(".json")
        if profile == "error":  # the reference threw: one case is enough
            profile = "auto"
        if name in corpus:
            cases.append(pytest.param(corpus[name], profile, expected, id=f"{name}:{profile}"))
    return cases


_reports: dict[Path, Report] = {}


def _report(path: Path, profile: str) -> Report:
    """Validate each file once; the other profiles are views of the same result."""
    if path not in _reports:
        _reports[path] = validate(path, today=TODAY)
    report = _reports[path]
    if profile == "auto" or report.file_error is not None:
        return report
    return report.for_profile(profile)


pytestmark = pytest.mark.skipif(
    not EXPECTED.is_dir(), reason="../shared/bal is not beside the repo"
)


@pytest.mark.parametrize(("path", "profile", "expected_path"), _cases())
def test_same_summary_as_reference(path: Path, profile: str, expected_path: Path) -> None:
    expected = json.loads(expected_path.read_text("utf-8"))
    if "error" in expected:
        report = _report(path, profile)
        assert report.file_error is not None
        assert report.file_error.code == REFERENCE_THROWS[path.name]
        assert report.file_error.reference_error == expected["error"]
        return
    actual = _report(path, profile).summary()
    for key in COMPARED_KEYS:
        if key in expected:
            assert actual.get(key) == expected[key], key
    assert set(expected) <= set(actual)


def test_every_throwing_file_is_known() -> None:
    throwing = {p.name.split(".error.json")[0] for p in EXPECTED.glob("*.error.json")}
    assert throwing == set(REFERENCE_THROWS)
