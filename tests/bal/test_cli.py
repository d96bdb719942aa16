"""``guichet bal validate``: exit statuses, text and JSON outputs."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from guichet.bal import validate
from guichet.bal._cli import _plain_validate_args, _write_json, run_fast
from guichet.runtime.cli import build_app

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "bal" / "corpus"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/bal is not beside the repo")
TODAY = "2026-11-22"


def _run(*args: str) -> Any:
    """`guichet bal validate ...` as the console command runs it."""
    return CliRunner().invoke(build_app(only="bal"), ["bal", "validate", *args, "--today", TODAY])


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("ecosystem/apidepot_bal-valid.csv", 0),
        ("fixtures/sample.csv", 1),
        ("fixtures/troll.png", 2),
        ("derived/edge_too_few_fields.csv", 2),
        ("does/not/exist.csv", 2),
    ],
)
def test_exit_status(path: str, status: int) -> None:
    result = _run(str(CORPUS / path))
    assert result.exit_code == status, result.output


def test_text_summary_is_french_and_counts_problems() -> None:
    result = _run(str(CORPUS / "fixtures/sample.csv"))
    assert "INVALIDE" in result.output
    assert "cle_interop.numero_prefixe_manquant ×10" in result.output


@pytest.mark.parametrize(
    "path", ["fixtures/sample.csv", "fixtures/1.4_1.4-incoherent-id-ban.csv", "fixtures/troll.png"]
)
def test_json_output_is_the_summary_plus_every_problem(path: str) -> None:
    """The streamed writer gives exactly ``json.dumps`` of the whole report."""
    report = validate(CORPUS / path)
    out = io.StringIO()
    _write_json(report, out)
    expected = {**report.summary(), "problems": [p.to_json() for p in report.problems()]}
    assert out.getvalue() == json.dumps(expected, ensure_ascii=False) + "\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["validate", "f.csv"], ("f.csv", None, False, None)),
        (["validate", "--json", "f.csv", "--profile", "1.4"], ("f.csv", "1.4", True, None)),
        (
            ["validate", "--profile=1.3", "f.csv", "--today=2026-11-22"],
            ("f.csv", "1.3", False, "2026-11-22"),
        ),
        (
            ["validate", "a=b.csv", "--today", "2026-01-31", "--json"],
            ("a=b.csv", None, True, "2026-01-31"),
        ),
    ],
)
def test_plain_validate_calls_skip_typer(args: list[str], expected: tuple[Any, ...]) -> None:
    file, *rest = expected
    assert _plain_validate_args(args) == (Path(file), *rest)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["validate"],
        ["--help"],
        ["validate", "--help"],
        ["validate", "f.csv", "g.csv"],
        ["validate", "f.csv", "--profile"],
        ["validate", "f.csv", "--profile", "--json"],
        ["validate", "f.csv", "--json", "--json"],
        ["validate", "f.csv", "--profile", "1.3", "--profile=1.4"],
        ["validate", "f.csv", "--today", "22/11/2026"],
        ["validate", "f.csv", "--json=yes"],
        ["validate", "f.csv", "--unknown"],
        ["validate", "-"],
        ["validate", ""],
        ["other", "f.csv"],
    ],
)
def test_anything_else_is_left_to_typer(args: list[str]) -> None:
    assert _plain_validate_args(args) is None


@pytest.mark.parametrize("extra", [["--json"], [], ["--profile", "1.5"], ["--profile", "9.9"]])
def test_the_fast_path_prints_what_typer_prints(
    extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(CORPUS / "fixtures/sample.csv")
    expected = _run(path, *extra)
    with pytest.raises(SystemExit) as exited:
        run_fast(["validate", path, *extra, "--today", TODAY])
    assert exited.value.code == expected.exit_code
    assert run_fast(["validate", path, "--help"]) is None  # left to typer
    captured = capsys.readouterr()
    assert captured.out == expected.stdout
