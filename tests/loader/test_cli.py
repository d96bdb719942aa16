"""``guichet loader validate`` and ``guichet loader schema``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from guichet.loader._cli import app
from tests.loader import factories as f

EXAMPLE = Path(__file__).parent / "examples" / "spec_7_clients_realistic.json"
runner = CliRunner()


def write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "loader.json"
    path.write_text(json.dumps(doc), "utf-8")
    return path


class TestValidate:
    def test_valid_file_exits_0_with_a_french_summary(self) -> None:
        result = runner.invoke(app, ["validate", str(EXAMPLE)])
        assert result.exit_code == 0, result.output
        assert "Partenaire : acme-gestion" in result.output
        assert "Émis le 02/03/2025 08:15:00 (heure de Paris)" in result.output
        assert "Disposition : clients[] (1 client(s))" in result.output
        assert "Résultat : SUCCESS · 6 élément(s) accepté(s), 0 refusé(s)" in result.output

    def test_some_invalid_items_exit_1(self, tmp_path: Path) -> None:
        doc = f.header(
            creDtTm="2025-03-02T08:15:00",
            transactions=[f.transaction("T[1]", "P-OLD"), f.transaction("T2", ccy="CHF")],
        )
        result = runner.invoke(app, ["validate", str(write(tmp_path, doc))])
        assert result.exit_code == 1, result.output
        assert "sans fuseau : Europe/Paris supposé" in result.output
        assert "Disposition : à plat" in result.output
        assert "Champ 'ccy' dans transactions 'T2' invalide : valeur non autorisée" in result.output
        assert "1 propriétés (vérifiés à l'intégration)" in result.output
        assert "Résultat : PARTIAL_SUCCESS" in result.output

    def test_a_file_without_items_shows_no_empty_table(self, tmp_path: Path) -> None:
        """Issue #13: no empty section — the table of counts had a header and no row."""
        result = runner.invoke(app, ["validate", str(write(tmp_path, f.header()))])
        assert result.exit_code == 0, result.output
        assert "Modèle" not in result.output and "Éléments" not in result.output
        lines = result.output.splitlines()
        assert lines[-2:] == [
            "Aucun élément dans le fichier (ni déclarant, ni bien, ni transaction, ni document).",
            "Résultat : SUCCESS · 0 élément(s) accepté(s), 0 refusé(s)",
        ]

    def test_self_contained(self, tmp_path: Path) -> None:
        path = write(tmp_path, f.header(transactions=[f.transaction("T1", "P-OLD")]))
        assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
        result = runner.invoke(app, ["validate", "--self-contained", str(path)])
        assert result.exit_code == 1
        assert "propriété 'P-OLD' absente de ce fichier" in result.output

    def test_json_is_the_rest_report(self, tmp_path: Path) -> None:
        doc = f.header(transactions=[f.transaction("T1", amt=None)])
        result = runner.invoke(app, ["validate", "--json", str(write(tmp_path, doc))])
        assert result.exit_code == 1
        body = json.loads(result.stdout)
        assert body["status"] == "ERROR"
        assert body["errors"][0]["error"] == (
            "Champ 'amt' dans transactions 'T1' invalide : un nombre décimal est attendu "
            '(nombre JSON, ou texte comme "12.50")'
        )

    def test_rejected_file_exits_2(self, tmp_path: Path) -> None:
        path = write(tmp_path, {"inigPtynm": "acme"})
        result = runner.invoke(app, ["validate", str(path)])
        assert result.exit_code == 2
        assert "Fichier refusé (KeyError)" in result.output
        result = runner.invoke(app, ["validate", "--json", str(path)])
        assert json.loads(result.stdout)["type"] == "KeyError"

    def test_not_json_exits_2(self, tmp_path: Path) -> None:
        path = tmp_path / "x.json"
        path.write_bytes(b"\xff\xfe not json")
        assert runner.invoke(app, ["validate", str(path)]).exit_code == 2

    def test_too_large_exits_2(self) -> None:
        result = runner.invoke(app, ["validate", "--max-bytes", "100", str(EXAMPLE)])
        assert result.exit_code == 2
        assert "Fichier trop volumineux" in result.output

    def test_missing_file_exits_2(self, tmp_path: Path) -> None:
        result = runner.invoke(app, ["validate", str(tmp_path / "absent.json")])
        assert result.exit_code == 2
        assert "Fichier illisible" in result.output

    def test_many_errors_are_cut(self, tmp_path: Path) -> None:
        doc = f.header(transactions=[f.transaction(f"T{n}", ccy="X") for n in range(80)])
        result = runner.invoke(app, ["validate", str(write(tmp_path, doc))])
        assert "Erreurs (80, 50 premiers) :" in result.output
        assert "'T49'" in result.output and "'T50'" not in result.output

    def test_warnings_are_shown(self) -> None:
        path = Path(__file__).parent / "examples" / "docs_2_5_flat_complete.json"
        result = runner.invoke(app, ["validate", str(path)])
        assert result.exit_code == 0
        assert "Avertissements (1) :" in result.output


def test_schema_prints_the_json_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["inigPtynm", "apiKey", "creDtTm", "versionId"]
