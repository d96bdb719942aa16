"""Issue #13 in the BAL command line: files it cannot validate get one clear French line and
exit 2 (no traceback, parser errors capped); every code has a French message."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guichet.bal import label_of
from guichet.bal._cli import app
from guichet.bal._cli_messages import os_error, parse_failure
from guichet.bal._csv import ParseError
from guichet.bal._report import Report

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
NOT_CSV = "# Guichet\n\nUn dépôt, des BAL, des partenaires.\n\n" + "".join(
    f"- point {i}, avec une virgule, ou deux\n" for i in range(60)
)


def _run(*args: str) -> tuple[int, list[str]]:
    done = CliRunner().invoke(app, ["validate", *args])
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    assert "Traceback" not in done.output
    return done.exit_code, [line for line in done.output.splitlines() if line.strip()]


def test_a_directory(tmp_path: Path) -> None:
    status, lines = _run(str(tmp_path))
    assert status == 2
    assert lines == [f"{tmp_path} est un dossier : indiquez un fichier CSV (BAL)."]


def test_a_missing_file(tmp_path: Path) -> None:
    status, lines = _run(str(tmp_path / "absent.csv"))
    assert status == 2
    assert lines == [f"Fichier introuvable : {tmp_path / 'absent.csv'}"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "bal.csv"
    path.write_text("cle_interop\n")
    path.chmod(0)
    status, lines = _run(str(path))
    assert status == 2 and lines[0].startswith("Lecture du fichier refusée")


def test_a_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "image.csv"
    path.write_bytes(PNG)
    status, lines = _run(str(path))
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith("Fichier non validable : Le fichier n’est pas")


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "random.csv"
    path.write_bytes(bytes(range(256)) * 20)
    status, lines = _run(str(path))
    assert status == 2
    assert lines[0].startswith("Fichier non validable : ")
    assert len(lines) <= 5


def test_a_text_that_is_not_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text(NOT_CSV, encoding="utf-8")
    status, lines = _run(str(path))
    assert status == 2
    assert lines[0].startswith("Fichier non validable : ce n’est pas un CSV de BAL")
    # 60 parser errors: three shown, the rest counted
    assert len(lines) == 5
    assert lines[1] == "  ligne de données 1 : 3 champ(s) au lieu de 1"
    assert lines[-1].startswith("  … et ") and "autre(s) erreur(s) de lecture" in lines[-1]
    assert not any("Too many fields" in line for line in lines)


def test_an_unterminated_quote(tmp_path: Path) -> None:
    path = tmp_path / "bal.csv"
    path.write_text('cle_interop;voie_nom;numero\n35047_0001_00001;"Rue;1\n')
    status, lines = _run(str(path))
    assert status == 2
    assert lines[0].startswith("Fichier non validable : un guillemet")


def test_json_output_of_a_file_that_is_not_a_csv_is_still_the_report(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text(NOT_CSV, encoding="utf-8")
    done = CliRunner().invoke(app, ["validate", str(path), "--json"])
    assert done.exit_code == 2
    assert '"parseOk": false' in done.output


@pytest.mark.parametrize(
    "code",
    [
        "commune_nom.casse_incorrecte",
        "commune_nom_bre.casse_incorrecte",
        "file.encoding.non_standard",
        "file.delimiter.non_standard",
        "file.linebreak.non_standard",
        "row.lieudit_complement_nom_not_declared",
    ],
)
def test_every_code_has_a_french_message(code: str) -> None:
    message = label_of(code)
    assert message != code
    assert "casse" not in message and "non_standard" not in message
    assert "en ligne 99999" not in message  # 99999 is the toponyme numero, not a line


def test_localized_message_names_its_language() -> None:
    assert label_of("commune_nom_bre.casse_incorrecte").endswith("[bre]")
    assert label_of("commune_nom.casse_incorrecte").startswith("Le nom de la commune")


# ---- completed for issue #13 (h10): empty files, OS errors, repeated parser errors ------------


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\r\n"], ids=["empty", "blank", "crlf"])
def test_an_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bal.csv"
    path.write_bytes(content)
    status, lines = _run(str(path))
    assert status == 2
    assert lines == ["Fichier non validable : le fichier est vide (ni en-tête, ni ligne)."]


def test_a_symbolic_link_loop_is_worded_in_french(tmp_path: Path) -> None:
    """The system's text ("Too many levels of symbolic links") is English: never shown."""
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    status, lines = _run(str(tmp_path / "a.csv"))
    assert status == 2
    assert lines == [
        f"Fichier illisible : {tmp_path / 'a.csv'} (trop de liens symboliques, ou une boucle de"
        " liens)"
    ]


def test_an_unknown_system_error_shows_its_number_not_its_english_text() -> None:
    error = OSError(errno.ENOSPC, "No space left on device")
    assert os_error(Path("bal.csv"), error) == (
        f"Fichier illisible : bal.csv (erreur système {errno.ENOSPC})"
    )


def test_a_parser_error_repeated_on_one_row_is_shown_once(tmp_path: Path) -> None:
    path = tmp_path / "bal.csv"
    path.write_text(
        'cle_interop;voie_nom;numero\n35047_0001_00001;"a"b"c;"d"e"f\n35047_0001_00002;"a"b"c;1\n'
    )
    status, lines = _run(str(path))
    assert status == 2
    # 10 parser errors, 8 of them the same misplaced quotes on data row 2: 3 distinct lines.
    assert lines[1:] == [
        "  ligne de données 2 : guillemets mal placés dans une valeur",
        "  ligne de données 2 : guillemet ouvrant jamais refermé",
        "  ligne de données 1 : 2 champ(s) au lieu de 3",
    ]


def test_a_parser_code_without_translation_is_not_shown_in_english() -> None:
    unknown = ParseError("Quotes", "SomethingNew", "Something new went wrong", row=4)
    report = Report(profile="1.3", encoding="utf-8", original_fields=["cle_interop"],
                    parse_errors=[unknown], fatal_parse=True)  # fmt: skip
    assert parse_failure(report, data_looks_binary=False) == [
        "Fichier non validable : le CSV ne peut pas être lu (ligne de données 5 : erreur de"
        " lecture SomethingNew).",
        "  ligne de données 5 : erreur de lecture SomethingNew",
    ]
