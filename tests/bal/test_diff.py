"""``guichet.bal.diff`` on the real Bruz BAL (5,843 rows) and copies edited here with known
changes: exact counts, exact rows, exact changes."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guichet.bal import BalDiff, UnreadableBalError, _columns, _diff_rows, _fast, diff
from guichet.bal._diff_open import open_bal
from guichet.bal._diff_read import read_rows
from guichet.bal._diff_rows import Vocabulary
from guichet.bal._diff_values import cle_commune, reader_value, voie_names
from guichet.bal._values import ValueReader

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "bal" / "corpus"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/bal is not beside the repo")
BRUZ_13 = CORPUS / "ecosystem" / "aitf_bal_35047_bruz_v1.3.csv"
BRUZ_14 = CORPUS / "derived" / "bruz_1.4_ids.csv"
ROWS = 5843
ACACIAS = 21  # rows of "Rue des Acacias" in Bruz
# the columns of Bruz 1.3 the validator recognises (a misnamed lieudit_complement_bre is not)
RECOGNISED_13 = [
    "uid_adresse", "cle_interop", "commune_insee", "commune_nom", "commune_deleguee_insee",
    "commune_deleguee_nom", "voie_nom", "lieudit_complement_nom", "numero", "suffixe",
    "position", "x", "y", "long", "lat", "cad_parcelles", "source", "date_der_maj",
    "commune_nom_bre", "commune_deleguee_nom_bre", "voie_nom_bre", "certification_commune",
]  # fmt: skip


@dataclass
class Bal:
    """A BAL as a header and rows of cells, to edit and write back."""

    header: list[str]
    rows: list[list[str]]

    @classmethod
    def read(cls, path: Path) -> Bal:
        lines = path.read_bytes().decode("utf-8-sig").splitlines()
        return cls(lines[0].split(";"), [line.split(";") for line in lines[1:]])

    def copy(self) -> Bal:
        return Bal(list(self.header), [list(row) for row in self.rows])

    def bytes(self) -> bytes:
        return "\n".join(";".join(row) for row in [self.header, *self.rows]).encode() + b"\n"

    def col(self, name: str) -> int:
        return self.header.index(name)

    def drop_column(self, name: str) -> Bal:
        at = self.col(name)
        return Bal(
            [h for i, h in enumerate(self.header) if i != at],
            [[c for i, c in enumerate(row) if i != at] for row in self.rows],
        )

    def as_row(self, row: list[str], recognised: list[str]) -> dict[str, str]:
        """The row as the diff lists it: recognised columns, as written."""
        return {name: row[self.col(name)] for name in recognised}


@pytest.fixture(scope="module")
def bruz() -> Bal:
    return Bal.read(BRUZ_13)


def counts(result: BalDiff) -> dict[str, dict[str, int]]:
    return result.summary.to_json()


def summary(
    added: int, removed: int, modified: int, voies: tuple[int, int, int] = (0, 0, 0)
) -> dict[str, dict[str, int]]:
    return {
        "adresses": {
            "added": added,
            "removed": removed,
            "modified": modified,
            "unchanged": ROWS - removed - modified,
        },
        "voies": dict(zip(("added", "removed", "renamed"), voies, strict=True)),
    }


# --- the same file, and the same commune in another format ----------------------------------


def test_a_file_against_itself_is_all_unchanged() -> None:
    result = diff(BRUZ_13, BRUZ_13)
    assert counts(result) == summary(0, 0, 0)
    assert result.to_json() == {
        "summary": summary(0, 0, 0),
        "adresses": {"added": [], "removed": [], "modified": []},
    }
    assert result.page().next_offset is None


@pytest.mark.parametrize(("old", "new"), [(BRUZ_13, BRUZ_14), (BRUZ_14, BRUZ_13)])
def test_1_3_and_1_4_of_the_same_commune_are_unchanged(old: Path, new: Path) -> None:
    result = diff(old, new)
    assert counts(result) == summary(0, 0, 0)
    # the BAN ids of uid_adresse are compared with the id_ban_* columns; never the date
    assert {"id_ban_commune", "id_ban_toponyme", "id_ban_adresse"} <= set(result.compared_fields)
    assert "uid_adresse" not in result.compared_fields
    assert "date_der_maj" not in result.compared_fields


def test_1_3_without_ids_against_1_4_compares_the_common_fields(bruz: Bal) -> None:
    no_ids = bruz.drop_column("uid_adresse").bytes()
    result = diff(no_ids, BRUZ_14)
    assert counts(result) == summary(0, 0, 0)
    assert "id_ban_adresse" not in result.compared_fields  # only the 1.4 file has ids


@pytest.mark.parametrize(
    "variant", ["derived/bruz_comma.csv", "derived/bruz_cp1252.csv", "derived/bruz_crlf_bom.csv"]
)
def test_other_delimiters_encodings_and_line_breaks_read_the_same(variant: str) -> None:
    assert counts(diff(BRUZ_13, CORPUS / variant)) == summary(0, 0, 0)


def test_blank_lines_and_a_missing_final_line_break_read_the_same(bruz: Bal) -> None:
    text = bruz.bytes()
    lines = text.split(b"\n")
    spaced = b"\n".join(line + (b"\n" if i % 1000 == 7 else b"") for i, line in enumerate(lines))
    assert counts(diff(text, spaced + b"\n\n")) == summary(0, 0, 0)
    assert counts(diff(text, text.rstrip(b"\n"))) == summary(0, 0, 0)


def test_a_row_of_another_width_deep_in_a_file_is_unreadable(bruz: Bal) -> None:
    new = bruz.copy()
    new.rows[4000] = new.rows[4000][:-1]
    with pytest.raises(UnreadableBalError) as raised:
        diff(bruz.bytes(), new.bytes())
    assert raised.value.side == "new"
    assert raised.value.message == (
        "CSV illisible : une ligne a moins de colonnes que l’en-tête (ligne de données 4001)"
    )


# --- known edits ------------------------------------------------------------------------------


class Edited:
    """Bruz edited: rows removed and added, positions moved, dates changed, a street renamed."""

    REMOVED = (100, 2000, 4000)
    MOVED = (50, 1500, 3000, 5000)
    REDATED = range(200, 260)

    def __init__(self, old: Bal) -> None:
        self.old = old
        self.new = new = old.copy()
        self.voie = new.col("voie_nom")
        assert not any(row[self.voie] == "Rue Olympe de Gouges" for row in old.rows)
        self.acacias = [i for i, row in enumerate(old.rows) if row[self.voie] == "Rue des Acacias"]
        assert len(self.acacias) == ACACIAS
        assert not set(self.acacias) & {*self.REMOVED, *self.MOVED, *self.REDATED}
        for i in self.acacias:
            new.rows[i][self.voie] = "Rue Olympe de Gouges"
        x, long = new.col("x"), new.col("long")
        for i in self.MOVED:
            new.rows[i][x] = "346000.5"
            new.rows[i][long] = "-1.75"
        for i in self.REDATED:
            new.rows[i][new.col("date_der_maj")] = "2026-11-30"
        template = old.rows[1000]  # a street neither renamed nor otherwise edited
        assert template[self.voie] != "Rue des Acacias"
        self.added = [self._new_row(template, "998"), self._new_row(template, "999")]
        kept = [row for i, row in enumerate(new.rows) if i not in self.REMOVED]
        new.rows = kept[:10] + self.added + kept[10:]

    def _new_row(self, template: list[str], numero: str) -> list[str]:
        row = list(template)
        row[self.new.col("numero")] = numero
        cle = row[self.new.col("cle_interop")].rsplit("_", 1)[0]
        row[self.new.col("cle_interop")] = f"{cle}_00{numero}"
        if "uid_adresse" in self.new.header:
            row[self.new.col("uid_adresse")] = ""
        return row

    def removed_rows(self, recognised: list[str]) -> list[dict[str, str]]:
        return [self.old.as_row(self.old.rows[i], recognised) for i in self.REMOVED]


def test_known_edits_give_exact_counts_and_rows(bruz: Bal) -> None:
    edit = Edited(bruz)
    result = diff(bruz.bytes(), edit.new.bytes())
    assert counts(result) == summary(2, 3, 4 + ACACIAS, voies=(0, 0, 1))
    assert list(result.removed) == edit.removed_rows(RECOGNISED_13)
    assert list(result.added) == [edit.new.as_row(row, RECOGNISED_13) for row in edit.added]
    modified = {m.old_line: m for m in result.modified}
    assert set(modified) == {*edit.MOVED, *edit.acacias}
    moved = modified[edit.MOVED[0]]
    old_row = bruz.rows[edit.MOVED[0]]
    assert moved.changes == {
        "x": (old_row[bruz.col("x")], "346000.5"),
        "long": (old_row[bruz.col("long")], "-1.75"),
    }
    uid = old_row[bruz.col("uid_adresse")]
    assert moved.key == {"id_ban_adresse": uid.split()[0][3:]}  # matched by the @a: id
    for i in edit.acacias:
        assert modified[i].changes == {"voie_nom": ("Rue des Acacias", "Rue Olympe de Gouges")}
    renamed = result.voies.renamed
    assert [(r.old.name, r.new.name, r.new.commune) for r in renamed] == [
        ("Rue des Acacias", "Rue Olympe de Gouges", "35047")
    ]
    # modified pairs in the new file's order; rows removed / added in their file's order
    lines = [m.new_line for m in result.modified]
    assert lines == sorted(lines)


def test_known_edits_without_ids_match_by_address_and_renamed_street(bruz: Bal) -> None:
    """No BAN ids: rows match by (commune, voie, numero, suffixe); the renamed street's rows by
    (numero, suffixe) once the voie is paired by its addresses."""
    edit = Edited(bruz)
    old, new = bruz.drop_column("uid_adresse"), edit.new.drop_column("uid_adresse")
    recognised = RECOGNISED_13[1:]
    result = diff(old.bytes(), new.bytes())
    assert counts(result) == summary(2, 3, 4 + ACACIAS, voies=(0, 0, 1))
    assert list(result.removed) == [old.as_row(old.rows[i], recognised) for i in Edited.REMOVED]
    acacia = next(m for m in result.modified if m.old_line == edit.acacias[0])
    numero = int(bruz.rows[edit.acacias[0]][bruz.col("numero")])
    assert acacia.key == {
        "commune_insee": "35047",
        "voie": "rue acacias",  # the validator's normalize()
        "numero": numero,
        "suffixe": None,
    }
    assert acacia.changes == {"voie_nom": ("Rue des Acacias", "Rue Olympe de Gouges")}


def test_only_date_der_maj_changed_is_unchanged(bruz: Bal) -> None:
    new = bruz.copy()
    for row in new.rows:
        row[new.col("date_der_maj")] = "2026-12-01"
    assert counts(diff(bruz.bytes(), new.bytes())) == summary(0, 0, 0)


def test_a_case_change_of_a_street_name_is_a_rename_with_the_same_voie(bruz: Bal) -> None:
    new = bruz.copy()
    voie = new.col("voie_nom")
    for row in new.rows:
        if row[voie] == "Rue des Acacias":
            row[voie] = "rue des acacias"
    result = diff(bruz.bytes(), new.bytes())
    assert counts(result) == summary(0, 0, ACACIAS, voies=(0, 0, 1))


def test_a_new_street_is_an_added_voie(bruz: Bal) -> None:
    new = bruz.copy()
    template = list(bruz.rows[0])
    template[new.col("voie_nom")] = "Allée des Tilleuls"
    template[new.col("uid_adresse")] = ""
    new.rows.append(template)
    result = diff(bruz.bytes(), new.bytes())
    assert counts(result) == summary(1, 0, 0, voies=(1, 0, 0))
    assert [v.name for v in result.voies.added] == ["Allée des Tilleuls"]


def test_a_renamed_street_with_ban_ids_is_paired_by_its_id_ban_toponyme() -> None:
    old = Bal.read(BRUZ_14)
    new = old.copy()
    voie = new.col("voie_nom")
    renamed = 0
    for row in new.rows:
        if row[voie] == "Rue des Acacias":
            row[voie] = "Rue Simone Veil"
            row[new.col("numero")] = str(int(row[new.col("numero")]) + 100)  # renumbered too
            renamed += 1
    result = diff(old.bytes(), new.bytes())
    assert counts(result) == summary(0, 0, ACACIAS, voies=(0, 0, 1))
    assert {tuple(m.changes) for m in result.modified} == {("voie_nom", "numero")}


def test_rows_with_different_ban_ids_are_never_the_same_address() -> None:
    old = Bal.read(BRUZ_14)
    new = old.copy()
    new.rows[3][new.col("id_ban_adresse")] = "0d8f7c2e-1b3a-4c5d-8e9f-0a1b2c3d4e5f"
    result = diff(old.bytes(), new.bytes())
    assert counts(result) == summary(1, 1, 0)
    assert result.removed[0]["id_ban_adresse"] == old.rows[3][old.col("id_ban_adresse")]


def test_duplicated_keys_pair_in_order_of_appearance(bruz: Bal) -> None:
    no_ids = bruz.drop_column("uid_adresse")
    old = no_ids.copy()
    old.rows.insert(11, list(old.rows[10]))  # the same address twice, in a row
    old.rows[11][old.col("x")] = "1.5"  # the second copy differs
    result = diff(old.bytes(), no_ids.bytes())
    # the first copy pairs with the only new row (unchanged); the second one is removed
    assert result.summary.to_json()["adresses"] == {
        "added": 0,
        "removed": 1,
        "modified": 0,
        "unchanged": ROWS,
    }
    assert result.removed[0]["x"] == "1.5"


def test_a_key_repeated_in_the_new_file_adds_the_later_copy(bruz: Bal) -> None:
    old = bruz.drop_column("uid_adresse")
    new = old.copy()
    new.rows.insert(21, list(new.rows[20]))
    new.rows[21][new.col("y")] = "6780000"
    result = diff(old.bytes(), new.bytes())
    assert counts(result) == summary(1, 0, 0)
    assert result.added[0]["y"] == "6780000"


# --- result API -------------------------------------------------------------------------------


def test_pages_walk_added_then_removed_then_modified(bruz: Bal) -> None:
    edit = Edited(bruz)
    result = diff(bruz.bytes(), edit.new.bytes())
    everything = result.to_json()["adresses"]
    seen: dict[str, list[Any]] = {"added": [], "removed": [], "modified": []}
    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = result.page(offset, limit=4)
        for name, items in page.to_json()["adresses"].items():
            seen[name] += items
        offset = page.next_offset
        pages += 1
    assert seen == everything
    assert pages == -(-result.total // 4)
    assert list(result.page(0, 1).to_json()) == ["summary", "adresses"]
    assert result.page(0, 1).to_json()["summary"] == result.summary.to_json()
    # a diff stored as JSON serves the same pages
    stored = BalDiff.from_json(result.to_json(voies=True))
    assert stored.page(3, 7).to_json() == result.page(3, 7).to_json()
    assert stored.summary == result.summary
    assert stored.voies.to_json() == result.voies.to_json()
    with pytest.raises(ValueError):
        result.page(0, 0)


@pytest.mark.parametrize("uid", [True, False])
def test_the_diff_is_the_same_without_the_native_cells(
    bruz: Bal, uid: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Joined cells and Python-cut chunks (no C compiler) give the same diff as native cells
    (used when no compared id comes from ``uid_adresse``)."""
    old = bruz if uid else bruz.drop_column("uid_adresse")
    edit = Edited(old)
    native = diff(old.bytes(), edit.new.bytes())
    monkeypatch.setattr(_columns, "_cells", None)
    monkeypatch.setattr(_fast, "cells", None)
    pure = diff(old.bytes(), edit.new.bytes())
    assert pure.to_json(voies=True) == native.to_json(voies=True)
    assert native.summary.adresses.modified > 0


def test_a_file_that_fails_while_read_raises_with_its_side() -> None:
    with pytest.raises(UnreadableBalError) as raised:
        diff(CORPUS / "derived" / "edge_too_many_fields.csv", BRUZ_14)
    assert (raised.value.side, raised.value.code) == ("old", "file.parse")


@pytest.mark.parametrize(
    ("old", "new", "side", "code"),
    [
        ("fixtures/troll.png", "derived/bruz_1.4_ids.csv", "old", "file.binary"),
        ("derived/bruz_1.4_ids.csv", "derived/edge_utf16le_bom.csv", "new",
         "file.encoding.unsupported"),
        ("derived/bruz_1.4_ids.csv", "derived/edge_too_few_fields.csv", "new", "file.parse"),
        ("derived/edge_unterminated_quote.csv", "derived/bruz_1.4_ids.csv", "old", "file.parse"),
        ("derived/bruz_1.4_ids.csv", "does/not/exist.csv", "new", "file.unreadable"),
    ],
)  # fmt: skip
def test_unreadable_files_raise_with_their_side(old: str, new: str, side: str, code: str) -> None:
    with pytest.raises(UnreadableBalError) as raised:
        diff(CORPUS / old, CORPUS / new)
    assert (raised.value.side, raised.value.code) == (side, code)
    assert raised.value.message


def test_a_voie_takes_the_first_toponyme_id_met_in_its_rows() -> None:
    """Even when that row spells the name otherwise than most rows (which name the voie)."""
    old = Bal.read(BRUZ_14)
    voie, ids = old.col("voie_nom"), old.col("id_ban_toponyme")
    acacias = [row for row in old.rows if row[voie] == "Rue des Acacias"]
    acacias[0][voie] = "RUE DES ACACIAS"
    acacias[0][ids] = first_id = "0e6d3e0c-5c25-4c3e-9d55-9b0b7f1c2a11"
    assert len({row[ids] for row in acacias[1:]} - {first_id}) == 1
    new = old.copy()
    new.rows = [row for row in new.rows if row[voie] != "Rue des Acacias" and row not in acacias]
    removed = diff(old.bytes(), new.bytes()).voies.removed
    assert [voie.to_json() for voie in removed] == [
        {"commune_insee": "35047", "voie_nom": "Rue des Acacias", "id_ban_toponyme": first_id}
    ]


def test_ids_that_share_a_hash_still_pair_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids are first paired by their hashes; pairs of different ids send them to the exact
    pairing (here every id has the same hash)."""
    old = Bal.read(BRUZ_14)
    edit = Edited(old)
    expected = diff(old.bytes(), edit.new.bytes())
    assert expected.summary.adresses.unchanged > ROWS - 100
    monkeypatch.setattr(_diff_rows, "_hashes", lambda ids: np.zeros(len(ids), dtype=np.int64))
    assert diff(old.bytes(), edit.new.bytes()).to_json(voies=True) == expected.to_json(voies=True)


def plain_voies(bal: Bal) -> dict[tuple[str | None, str], tuple[str | None, str, str | None]]:
    """The voies of a file by the rule written plainly, row after row: (commune, name, id) by
    (commune, normalized name), in order of first appearance; the name most rows use (the
    first met on a tie), the first toponyme id met."""
    reader = ValueReader(today=dt.date.today())
    read_commune = reader_value(reader, "commune_insee")
    spellings: dict[tuple[str | None, str], dict[str, int]] = {}
    first_ids: dict[tuple[str | None, str], str] = {}
    for row in bal.rows:
        cells = dict(zip(bal.header, row, strict=True))
        commune = read_commune(cells["commune_insee"])
        if commune is None:
            commune = cle_commune(reader, cells["cle_interop"])
        name, norm = voie_names(reader, (cells["voie_nom"], cells.get("toponyme", "")))
        if not norm:
            continue
        counts = spellings.setdefault((commune, norm), {})
        counts[name] = counts.get(name, 0) + 1
        voie_id = cells.get("id_ban_toponyme", "").strip().lower()
        if voie_id:
            first_ids.setdefault((commune, norm), voie_id)
    return {
        key: (key[0], max(counts.items(), key=lambda item: item[1])[0], first_ids.get(key))
        for key, counts in spellings.items()
    }


@pytest.mark.parametrize("seed", range(12))
def test_the_voies_of_a_file_follow_the_rule_on_random_edits(seed: int) -> None:
    """Random rows of Bruz 1.4, names re-cased, toponyme ids changed or removed, communes
    left to cle_interop, rows repeated and shuffled: the voies read match the plain rule."""
    rnd = random.Random(seed)
    bruz = Bal.read(BRUZ_14)
    rows = [list(row) for row in rnd.sample(bruz.rows, 400)]
    rows += [list(row) for row in rnd.sample(rows, 40)]
    rnd.shuffle(rows)
    voie, voie_id, commune = (
        bruz.col(name) for name in ("voie_nom", "id_ban_toponyme", "commune_insee")
    )
    for row in rows:
        edit = rnd.random()
        if edit < 0.15:
            row[voie] = row[voie].upper()
        elif edit < 0.25:
            row[voie_id] = rnd.choice(
                ["", f"0e6d3e0c-5c25-4c3e-9d55-9b0b7f1c2a1{rnd.randint(0, 9)}"]
            )
        elif edit < 0.3:
            row[commune] = ""
    edited = Bal(bruz.header, rows)
    opened = open_bal(edited.bytes())
    read = read_rows(opened, [], ValueReader(today=dt.date.today()), Vocabulary())
    assert [tuple(v) for v in read.voie_list.values()] == list(plain_voies(edited).values())
    assert list(read.voie_list) == list(plain_voies(edited))
