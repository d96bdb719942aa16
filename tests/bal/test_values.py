"""guichet.bal._values (readValue and the field parsers) against the reference's outputs.

Cases: ../shared/bal/vectors/readValue.json (282, frozen "now" 2026-11-22T12:00 UTC) and
tests/bal/data/extra_cases.json (``readValue``, ``readValueAt``; see gen_extra_cases.mjs).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pickle
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guichet.bal._values import UNSET, Remediation, ValueReader, ValueResult

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "bal" / "vectors"
EXTRA = Path(__file__).resolve().parent / "data" / "extra_cases.json"
TODAY = dt.date(2026, 11, 22)
FIELDS = (
    "cle_interop", "uid_adresse", "id_ban_commune", "id_ban_toponyme", "id_ban_adresse",
    "voie_nom", "toponyme", "lieudit_complement_nom", "numero", "suffixe", "commune_insee",
    "commune_nom", "commune_deleguee_insee", "commune_deleguee_nom", "position", "x", "y",
    "long", "lat", "cad_parcelles", "source", "date_der_maj", "certification_commune",
)  # fmt: skip


@cache
def _reader(now: str | None = None) -> ValueReader:
    if now is None:
        return ValueReader(today=TODAY)
    moment = dt.datetime.fromisoformat(now)
    return ValueReader(today=moment.date(), now=moment)


def _as_js(result: ValueResult) -> dict[str, Any]:
    """The reference's ``JSON.parse(JSON.stringify(readValue(...)))`` shape."""
    out: dict[str, Any] = {}
    if result.value is not UNSET:
        out["parsedValue"] = list(result.value) if isinstance(result.value, tuple) else result.value
    if result.additional is not None:
        out["additionalValues"] = result.additional
    if result.remediation is not None:
        out["remediation"] = dataclasses.asdict(result.remediation)
        out["remediation"]["errors"] = list(result.remediation.errors)
    out["errors"] = list(result.errors)
    return out


def _check(case: dict[str, Any], reader: ValueReader) -> None:
    expected = {k: v for k, v in case.items() if k not in ("field", "raw", "isLocalized", "now")}
    if "exception" in expected:
        with pytest.raises(ValueError) as raised:
            reader.read(case["field"], case["raw"], case["isLocalized"])
        assert expected["exception"] == f"Error: {raised.value}"
        return
    got = _as_js(reader.read(case["field"], case["raw"], case["isLocalized"]))
    assert got == expected
    # JSON equality hides int/float and bool/int differences: check the Python types too
    if "parsedValue" in expected:
        value = got["parsedValue"]
        if case["field"] == "numero":
            assert type(value) is int
        elif case["field"] in ("x", "y", "long", "lat"):
            assert type(value) is float
        elif case["field"] == "certification_commune":
            assert type(value) is bool


def _vector_cases() -> list[dict[str, Any]]:
    path = SHARED / "readValue.json"
    if not path.exists():
        return []
    data = json.loads(path.read_text("utf-8"))
    assert data["today"] == TODAY.isoformat()
    return data["cases"]  # type: ignore[no-any-return]


@cache
def _extra() -> dict[str, Any]:
    return json.loads(EXTRA.read_text("utf-8"))  # type: ignore[no-any-return]


def test_vectors_present() -> None:
    if not (SHARED / "readValue.json").exists():
        pytest.skip("shared vectors not available")
    assert len(_vector_cases()) == 282


@pytest.mark.parametrize("case", _vector_cases(), ids=range(len(_vector_cases())))
def test_read_value_vectors(case: dict[str, Any]) -> None:
    _check(case, _reader())


@pytest.mark.parametrize("case", _extra()["readValue"], ids=range(len(_extra()["readValue"])))
def test_read_value_extra(case: dict[str, Any]) -> None:
    _check(case, _reader())


@pytest.mark.parametrize("case", _extra()["readValueAt"], ids=range(len(_extra()["readValueAt"])))
def test_read_value_at_other_times(case: dict[str, Any]) -> None:
    _check(case, _reader(case["now"]))


# --- behaviour the lead relies on ------------------------------------------------------------


def test_default_now_is_noon_of_today() -> None:
    reader = ValueReader(today=TODAY)
    assert reader.now == dt.datetime(2026, 11, 22, 12, 0)
    assert reader.read("date_der_maj", "2026-11-22", False).value == "2026-11-22"
    assert reader.read("date_der_maj", "2026-11-23", False).errors == ("date_future",)


def test_results_are_memoized_and_immutable() -> None:
    reader = ValueReader(today=TODAY)
    first = reader.read("voie_nom", "Rue de la Paix", False)
    assert reader.read("voie_nom", "Rue de la Paix", False) is first
    assert reader.read("voie_nom", "Rue de la Paix", True) is not first
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.value = "x"  # type: ignore[misc]


def test_additional_values_are_fresh_dicts() -> None:
    reader = ValueReader(today=TODAY)
    a = reader.read("cle_interop", "91534_1111_00001", False)
    b = reader.read("cle_interop", "91534_1111_00001", False)
    assert a.additional == b.additional == {
        "codeCommune": "91534", "codeVoie": "1111", "numeroVoie": "1", "suffixes": [],
    }  # fmt: skip
    assert a.additional is not b.additional
    uid = reader.read("uid_adresse", "random text", False)
    assert uid.additional == {"idBanCommune": None, "idBanToponyme": None, "idBanAdresse": None}


def test_reader_function_per_column() -> None:
    reader = ValueReader(today=TODAY)
    read_x = reader.reader("x")
    assert read_x("1,5") == reader.read("x", "1,5", False)
    assert reader.reader("voie_nom", True)("Ru").errors == ("trop_court",)
    with pytest.raises(ValueError, match="Unknown field name: voie"):
        reader.reader("voie")


def test_localized_required_field_is_never_missing() -> None:
    reader = ValueReader(today=TODAY)
    assert reader.read("commune_nom", "", True).errors == ()
    assert reader.read("commune_nom", "", False).errors == ("valeur_manquante",)
    assert reader.read("commune_nom", " ", False).errors == (
        "espaces_debut_fin",
        "valeur_manquante",
    )
    assert reader.read("voie_nom", "", False).errors == ()  # voie_nom is not required


def test_unset() -> None:
    assert UNSET is not None
    assert not UNSET
    assert repr(UNSET) == "UNSET"
    assert type(UNSET)() is UNSET
    assert pickle.loads(pickle.dumps(UNSET)) is UNSET
    assert ValueReader(today=TODAY).read("numero", "abc", False).value is UNSET


def test_remediation_shape() -> None:
    result = ValueReader(today=TODAY).read("date_der_maj", "15/01/2021", False)
    assert result.errors == ("date_invalide",)
    assert result.value is UNSET
    assert result.remediation == Remediation(("date_der_maj.date_invalide",), "2021-01-15")


def test_coordinates_keep_js_number_values() -> None:
    reader = ValueReader(today=TODAY)
    assert reader.read("x", "-0", False).value == 0.0
    assert str(reader.read("x", "-0", False).value) == "-0.0"  # JSON.stringify(-0) is "0"
    assert reader.read("x", "05", False).value == 5.0  # the reference's regex allows it


_TEXT = st.lists(
    st.sampled_from(
        [
            *"0123456789_-|/.,: aAzZéÉßſ@cvCVx\u00a0\ufeff\u0301\ufffd🌳",
            *("2021", "91534", "1111", "00001", "@a:", "juil", "mai", "entrée"),
        ]
    ),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(FIELDS), raw=_TEXT, localized=st.booleans())
def test_read_never_raises(field: str, raw: str, localized: bool) -> None:
    result = ValueReader(today=TODAY).read(field, raw, localized)
    assert isinstance(result.errors, tuple)
    assert all(isinstance(e, str) and "." not in e for e in result.errors)
