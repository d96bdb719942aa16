"""``guichet bal fix``: remediations applied, fewer problems after, nothing more on a second run."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guichet.bal import Report, validate
from guichet.bal._cli import app
from guichet.bal._csv import parse_csv
from guichet.bal._fix import fix
from guichet.bal._remediations import counter_uuids

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "bal" / "corpus"
TODAY = dt.date(2026, 11, 22)

HEADER = [
    "cle_interop",
    "voie_nom",
    "numero",
    "suffixe",
    "commune_nom",
    "position",
    "long",
    "lat",
    "x",
    "y",
    "source",
    "date_der_maj",
]
ROWS = [
    # a date written the French way, the commune name in capitals, no commune_insee column
    ["35047_0001_00001", "Rue de l’Église", "1", "", "BRUZ", "entrée", "-1.7454643",
     "48.0282820", "346486.97", "6780392.5", "Mairie", "15/03/2021"],
    ["35047_0001_00002", "Rue de l’Église", "2", "", "Bruz", "entrée", "-1.7456337",
     "48.0279876", "346472.4", "6780360.5", "Mairie", ""],
    ["35047_0002_00003", "Allée des Chênes", "3", "b", "Bruz", "entrée", "-1.7456337",
     "48.0279876", "346472.4", "6780360.5", "Mairie", "2999-01-01"],
]  # fmt: skip


def _csv(delimiter: str, linebreak: str, encoding: str, rows: list[list[str]]) -> bytes:
    lines = [delimiter.join(row) for row in [HEADER, *rows]]
    return (linebreak.join(lines) + linebreak).encode(encoding)


def _errors(report: Report) -> int:
    return Counter(p.level for p in report.problems())["E"]


def _problems(report: Report) -> int:
    return sum(1 for p in report.problems() if p.level in ("E", "W"))


@pytest.mark.parametrize(
    ("delimiter", "linebreak", "encoding"),
    [(";", "\n", "utf-8"), (",", "\r\n", "cp1252"), ("\t", "\r", "utf-8")],
)
def test_fix_keeps_the_layout_and_leaves_fewer_problems(
    delimiter: str, linebreak: str, encoding: str
) -> None:
    data = _csv(delimiter, linebreak, encoding, ROWS)
    result = fix(data, today=TODAY)
    assert result.data is not None
    text = result.data.decode("utf-8")  # normalized to UTF-8
    assert "Rue de l’Église" in text
    parsed = parse_csv(text)
    assert parsed.delimiter == delimiter
    assert parsed.linebreak == linebreak
    assert text.endswith(linebreak)
    # the input's columns in their order, the missing commune_insee added at the end
    assert parsed.fields == [*HEADER, "commune_insee"]
    assert result.added_columns == ["commune_insee"]
    dates = [row[HEADER.index("date_der_maj")] for row in parsed.rows]
    assert dates == ["2021-03-15", "2026-11-22", "2026-11-22"]
    assert [row[HEADER.index("commune_nom")] for row in parsed.rows] == ["Bruz"] * 3
    assert [row[-1] for row in parsed.rows] == ["35047"] * 3
    # other cells untouched
    assert [row[:4] for row in parsed.rows] == [row[:4] for row in ROWS]
    before, after = result.before, validate(result.data, today=TODAY)
    assert _errors(after) < _errors(before)
    assert _problems(after) < _problems(before)
    assert not any(p.code.startswith("date_der_maj") for p in after.problems())
    again = fix(result.data, today=TODAY)
    assert again.changes == [] and again.added_columns == []
    assert again.data == result.data


def test_a_missing_column_is_added_only_when_every_row_gets_a_value() -> None:
    rows = [*ROWS, ["bad", "Rue X", "4", "", "Bruz", "entrée", "", "", "", "", "M", "2021-01-01"]]
    result = fix(_csv(";", "\n", "utf-8", rows), today=TODAY)
    assert result.data is not None
    assert result.added_columns == []
    assert parse_csv(result.data.decode()).fields == HEADER
    assert any("commune_insee" in reason for reason in result.not_applied)


def test_ban_ids_are_filled_only_in_a_file_with_id_columns() -> None:
    header = "id_ban_commune;id_ban_toponyme;id_ban_adresse;" + ";".join(HEADER)
    commune, voie = "0246e48c-f33d-433a-8984-034219be842e", "8b2f5d6c-2a2f-4d8f-9f3a-8a1b3f2d1c4e"
    lines = [
        header,
        f"{commune};{voie};3e2c3d9b-5b8f-4c65-9d3c-8a2f9a4f1b2c;" + ";".join(ROWS[0]),
        ";;;" + ";".join(ROWS[1]),  # no ids: the street's id is reused, the address gets one
    ]
    data = ("\n".join(lines) + "\n").encode()
    result = fix(data, today=TODAY, new_uuid=counter_uuids())
    assert result.data is not None
    row = parse_csv(result.data.decode()).rows[1]
    assert row[1] == voie  # same street as row 0 (same normalized name and code voie)
    assert row[2].startswith("00000000-0000-4000-8000-")
    assert row[0] == ""  # the commune's BAN id is unknown offline: not invented
    assert any("commune" in reason for reason in result.not_applied)
    again = fix(result.data, today=TODAY)
    assert again.changes == []


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/bal is not beside the repo")
@pytest.mark.parametrize(
    "name",
    [
        "derived/bruz_errors.csv",
        "derived/edge_blank_lines.csv",
        "derived/edge_no_trailing_newline.csv",
        "fixtures/sample.csv",
        "fixtures/locales.csv",
        "ecosystem/validateurbal-old_sample.ansi.csv",
    ],
)
def test_fix_corpus_files_with_fixable_errors(name: str) -> None:
    result = fix((CORPUS / name).read_bytes(), today=TODAY)
    assert result.data is not None and result.changes
    after = validate(result.data, result.before.profile, today=TODAY)
    assert _problems(after) < _problems(result.before)
    assert _errors(after) <= _errors(result.before)
    assert len(parse_csv(result.data.decode()).rows) == result.before.row_count
    again = fix(result.data, result.before.profile, today=TODAY)
    assert again.changes == [] and again.data == result.data


def test_fix_command(tmp_path: Path) -> None:
    source, out = tmp_path / "bal.csv", tmp_path / "corrige.csv"
    source.write_bytes(_csv(";", "\n", "utf-8", ROWS))
    runner = CliRunner()
    done = runner.invoke(app, ["fix", str(source), "-o", str(out), "--today", "2026-11-22"])
    assert done.exit_code in (0, 1), done.output
    assert "Traceback" not in done.output
    assert "valeur(s) corrigée(s)" in done.output
    assert "« 15/03/2021 » → « 2021-03-15 »" in done.output
    assert "Colonne(s) ajoutée(s) en fin de ligne : commune_insee" in done.output
    assert "Avant : INVALIDE" in done.output and "Après :" in done.output
    first = out.read_bytes()
    second_out = tmp_path / "encore.csv"
    done = runner.invoke(app, ["fix", str(out), "-o", str(second_out), "--today", "2026-11-22"])
    assert "Aucune correction à appliquer" in done.output
    assert second_out.read_bytes() == first


def test_fix_command_on_a_file_it_cannot_read(tmp_path: Path) -> None:
    source, out = tmp_path / "notes.md", tmp_path / "out.csv"
    source.write_text("# Titre\n\nDu texte, avec des virgules, partout.\nEt encore, ici.\n")
    done = CliRunner().invoke(app, ["fix", str(source), "-o", str(out)])
    assert done.exit_code == 2
    assert "Fichier non validable" in done.output and "Aucun fichier écrit." in done.output
    assert not out.exists()


def test_quoted_cells_stay_readable() -> None:
    """Cells holding the delimiter or quotes are quoted again; the others are written plain."""
    data = (
        b'"cle_interop";"voie_nom";"numero";"commune_nom";"source";"date_der_maj"\r\n'
        b'"35047_0001_00001";"Rue de la Paix; bis";"1";"bruz";"Mairie ""A""";"15/03/2021"\r\n'
    )
    result = fix(data, today=TODAY)
    assert result.data is not None
    text = result.data.decode()
    assert text.splitlines()[1] == (
        '35047_0001_00001;"Rue de la Paix; bis";1;Bruz;"Mairie ""A""";2021-03-15;35047'
    )
    parsed = parse_csv(text)
    assert parsed.linebreak == "\r\n"
    assert parsed.rows[0][1] == "Rue de la Paix; bis" and parsed.rows[0][4] == 'Mairie "A"'
    assert fix(result.data, today=TODAY).data == result.data
