"""The column pass (bulk filters, memoized combinations) gives exactly what the exact per-row
path gives when every row is taken through it: same errors, same values in the table."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guichet.bal import _reader, validate

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "bal" / "corpus"
TODAY = dt.date(2026, 11, 22)


def _all_dirty(floats: Any, dirty: np.ndarray[Any, Any]) -> None:
    dirty[:] = True


def _table(data: bytes) -> dict[str, Any]:
    report = validate(data, today=TODAY, processes=1)
    table = report.table
    return {
        "summary": report.summary(),
        "errors": table.sorted_errors(),
        "numero": table.numero,
        "suffixe": table.suffixe,
        "code_voie": table.code_voie,
        "ids": (table.id_commune, table.id_toponyme, table.id_adresse),
        "communes": [(c.code_commune, c.commune_deleguee) for c in table.communes],
        "names": [(n.voie_nom, n.lieudit) for n in table.names],
    }


def _both(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], dict[str, Any]]:
    fast = _table(data)
    with monkeypatch.context() as patch:
        patch.setattr(_reader, "_coordinate_candidates", _all_dirty)
        exact = _table(data)
    return fast, exact


def _ids_file() -> bytes:
    """BAN ids with gaps (empty ids on toponymes and some addresses), bad ids, shared streets."""
    rng = random.Random(17)
    header = (
        "id_ban_commune;id_ban_toponyme;id_ban_adresse;cle_interop;commune_insee;commune_nom;"
        "voie_nom;numero;suffixe;position;long;lat;source;date_der_maj"
    )
    lines = [header]
    commune = "0246e48c-f33d-433a-8984-034219be842e"
    for i in range(400):
        voie = i // 7
        numero = 99999 if i % 7 == 0 else i
        toponyme_id = f"{voie:08x}-0000-4000-8000-000000000000"
        adresse_id = f"{i:08x}-1111-4111-9111-111111111111"
        if numero == 99999 or i % 23 == 0:
            adresse_id = ""
        if i % 31 == 0:
            adresse_id = "not-a-uuid"
        if i % 37 == 0:
            toponyme_id = ""
        suffixe = rng.choice(["", "", "bis", "a"])
        lines.append(
            f"{commune if i % 29 else ''};{toponyme_id};{adresse_id};"
            f"35047_{voie:04x}_{numero:05d};35047;Bruz;Rue {voie};{numero};{suffixe};entrée;"
            f"-1.7454564;48.0282747;Mairie;2021-03-15"
        )
    return ("\n".join(lines) + "\n").encode()


def test_ids_file_column_pass_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    fast, exact = _both(_ids_file(), monkeypatch)
    assert fast == exact
    assert fast["summary"]["rowErrors"]  # the file does exercise the checks


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/bal is not beside the repo")
@pytest.mark.parametrize(
    "path", sorted(CORPUS.glob("*/*.csv")) if CORPUS.is_dir() else [], ids=lambda p: p.name
)
def test_corpus_column_pass_is_exact(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = path.read_bytes()
    first = validate(data, today=TODAY, processes=1)
    if first.file_error is not None or not first.parse_ok:
        return
    fast, exact = _both(data, monkeypatch)
    assert fast == exact
