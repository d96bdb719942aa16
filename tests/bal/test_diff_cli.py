"""``guichet bal diff OLD NEW [--json]``: the French summary, the JSON, the exit statuses."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guichet.bal import diff
from guichet.bal._cli import app
from guichet.bal._diff_cli import run_fast_diff, write_json

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "bal" / "corpus"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/bal is not beside the repo")
BRUZ_13 = CORPUS / "ecosystem" / "aitf_bal_35047_bruz_v1.3.csv"
BRUZ_14 = CORPUS / "derived" / "bruz_1.4_ids.csv"


@pytest.fixture
def edited(tmp_path: Path) -> Path:
    """Bruz 1.4 with one row removed and one position moved."""
    lines = BRUZ_14.read_text("utf-8").splitlines()
    header = lines[0].split(";")
    moved = lines[3].split(";")
    moved[header.index("lat")] = "48.1"
    lines[3] = ";".join(moved)
    del lines[5]
    path = tmp_path / "edited.csv"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["diff", *args])
    return result.exit_code, result.stdout, result.stderr


def test_text_summary_in_french(edited: Path) -> None:
    status, out, _ = _run(str(BRUZ_14), str(edited))
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == (
        "Adresses : 0 ajoutée(s), 1 supprimée(s), 1 modifiée(s), 5\u202f841 inchangée(s)"
    )
    assert lines[1] == "Voies : 0 ajoutée(s), 0 supprimée(s), 0 renommée(s)"
    assert lines[2] == "Premières adresses modifiées :"
    assert lines[3] == (
        "  id 6d428f79-8340-4c47-97e3-2e3610973ced : lat « 48.02821431455416 » → « 48.1 »"
    )
    assert len(lines) == 4


def test_identical_files_say_so() -> None:
    status, out, _ = _run(str(BRUZ_13), str(BRUZ_14))
    assert status == 0
    assert out.splitlines()[-1] == "Aucune différence (date_der_maj n’est pas comparée)."


def test_json_is_the_issue_shape(edited: Path) -> None:
    status, out, _ = _run(str(BRUZ_14), str(edited), "--json")
    assert status == 0
    document = json.loads(out)
    assert document == diff(BRUZ_14, edited).to_json()
    assert list(document) == ["summary", "adresses"]
    assert list(document["adresses"]) == ["added", "removed", "modified"]
    assert document["summary"]["adresses"] == {
        "added": 0,
        "removed": 1,
        "modified": 1,
        "unchanged": 5841,
    }
    [modified] = document["adresses"]["modified"]
    assert list(modified) == ["key", "changes"]
    assert list(modified["changes"]) == ["lat"]
    assert modified["changes"]["lat"][1] == "48.1"


def test_json_writer_batches_match_to_json(edited: Path) -> None:
    result = diff(BRUZ_13, edited)
    out = io.StringIO()
    write_json(result, out)
    assert json.loads(out.getvalue()) == result.to_json()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("does/not/exist.csv", "derived/bruz_1.4_ids.csv",
         "ancien fichier « {old} » : fichier introuvable"),
        ("derived/bruz_1.4_ids.csv", "fixtures/troll.png",
         "nouveau fichier « {new} » : ce n’est pas un fichier texte"),
        ("derived/bruz_1.4_ids.csv", "derived/edge_too_many_fields.csv",
         "nouveau fichier « {new} » : CSV illisible"),
    ],
)  # fmt: skip
def test_unreadable_file_exits_2_with_one_french_line(old: str, new: str, message: str) -> None:
    old_path, new_path = CORPUS / old, CORPUS / new
    status, out, err = _run(str(old_path), str(new_path))
    assert status == 2
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith("Différence impossible : ")
    assert message.format(old=old_path, new=new_path) in line


def test_the_fast_path_runs_without_typer(edited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run_fast_diff([str(BRUZ_14), str(edited), "--json"])
    assert exited.value.code == 0
    assert json.loads(capsys.readouterr().out) == diff(BRUZ_14, edited).to_json()
    run_fast_diff(["--help"])  # anything else is left to typer: returns
    run_fast_diff([str(BRUZ_14)])


@pytest.mark.parametrize("command", ["diff", "validate"])
def test_a_reader_that_leaves_early_ends_the_command_quietly(command: str, tmp_path: Path) -> None:
    """``guichet bal diff A B --json | head``: no traceback when the pipe closes."""
    bruz = BRUZ_14.read_text("utf-8")
    big = tmp_path / "big.csv"  # (output far bigger than a pipe's buffer)
    big.write_text(bruz + "".join(bruz.splitlines(keepends=True)[1:]) * 4, "utf-8")
    files = [str(BRUZ_14), str(big)] if command == "diff" else [str(big)]
    process = subprocess.Popen(
        [sys.executable, "-m", "guichet", "bal", command, *files, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(10).startswith(b"{")
    process.stdout.close()
    errors = process.stderr.read().decode()
    process.wait(timeout=120)
    assert errors == ""
