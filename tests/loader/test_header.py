"""Header rules (SPEC §2.1) and the 400 ``KO`` answers they produce (SPEC §5.1)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from guichet.loader import (
    FileRejected,
    InvalidStructure,
    InvalidValue,
    MissingKey,
    internal_error_json,
    read_header,
    validate,
)
from tests.loader import factories as f

PARIS = ZoneInfo("Europe/Paris")


def rejection(doc: Any, **options: Any) -> FileRejected:
    with pytest.raises(FileRejected) as caught:
        validate(doc, **options)
    return caught.value


class TestMissingKey:
    @pytest.mark.parametrize("key", ["inigPtynm", "apiKey", "creDtTm", "versionId"])
    def test_each_key_is_required(self, key: str) -> None:
        doc = f.header()
        del doc[key]
        exc = rejection(doc)
        assert isinstance(exc, MissingKey)
        assert exc.to_json() == {
            "status": "KO",
            "type": "KeyError",
            "message": "Clé manquante dans les données",
            "errors": f"Champ '{key}' dans l'en-tête invalide : champ obligatoire",
        }

    def test_all_missing_keys_are_listed(self) -> None:
        exc = rejection({})
        assert exc.errors.count("champ obligatoire") == 4
        assert exc.http_status == 400


class TestShape:
    @pytest.mark.parametrize(
        ("key", "value", "reason"),
        [
            ("inigPtynm", "", "ne doit pas être vide"),
            ("inigPtynm", 42, "une chaîne de caractères est attendue"),
            ("apiKey", "", "ne doit pas être vide"),
            ("apiKey", None, "une chaîne de caractères est attendue"),
            ("apiKey", "k" * 1025, "trop long (au plus 1024 caractères)"),
            ("creDtTm", 20240115, "une chaîne de caractères est attendue"),
            ("versionId", 2.0, "une chaîne de caractères est attendue"),
        ],
    )
    def test_wrong_type(self, key: str, value: Any, reason: str) -> None:
        exc = rejection(f.header(**{key: value}))
        assert isinstance(exc, InvalidStructure)
        assert exc.to_json()["type"] == "ValidationError"
        assert exc.errors == f"Champ '{key}' dans l'en-tête invalide : {reason}"

    @pytest.mark.parametrize("doc", [[], "loader", 42, None, [f.header()]])
    def test_root_must_be_an_object(self, doc: Any) -> None:
        assert isinstance(rejection(doc), InvalidStructure)


class TestVersion:
    @pytest.mark.parametrize("version", ["1.0", "2.1", "", "2"])
    def test_only_2_0_is_supported(self, version: str) -> None:
        exc = rejection(f.header(versionId=version))
        assert isinstance(exc, InvalidValue)
        assert exc.to_json()["type"] == "ValueError"
        assert f"version '{version}' non prise en charge" in exc.errors


class TestCreatedAt:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("2025-03-02T08:15:00+01:00", dt.datetime(2025, 3, 2, 7, 15, tzinfo=dt.UTC)),
            ("2024-01-15T09:30:00.000Z", dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.UTC)),
            ("2024-01-15T10:30:00+0100", dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.UTC)),
            ("2023-08-28T10:15:43.25+01:00", dt.datetime(2023, 8, 28, 9, 15, 43, 250000, dt.UTC)),
            ("2024-01-15 10:30", dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.UTC)),  # Paris, winter
            ("2024-07-15T10:30:00.123456", dt.datetime(2024, 7, 15, 8, 30, 0, 123456, dt.UTC)),
            ("2020-10-10", dt.datetime(2020, 10, 9, 22, 0, tzinfo=dt.UTC)),  # midnight, summer
            (
                "2024-01-15T10:30:00.1234567+01:00",
                dt.datetime(2024, 1, 15, 9, 30, 0, 123456, dt.UTC),
            ),
        ],
    )
    def test_iso_8601_forms(self, value: str, expected: dt.datetime) -> None:
        header = read_header(f.header(creDtTm=value))
        assert header.created_at == expected
        assert header.created_at.tzinfo is not None

    def test_no_offset_means_europe_paris(self) -> None:
        header = read_header(f.header(creDtTm="2024-07-15T10:30:00"))
        assert header.created_at.tzinfo is PARIS
        assert header.created_at.utcoffset() == dt.timedelta(hours=2)
        assert not header.has_offset
        assert read_header(f.header()).has_offset

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "hier",
            "15/01/2024",
            "2024-13-01",
            "2024-02-30T10:00:00",
            "2024-01-15T25:00:00",
            "2024-01-15T10:30:00+25:00",
            "2024-01-15T10:30:00z",
            "2024-01-15T10:30:00 +01:00",
            "20240115T103000",
            "2024-W03-1",
            "２０２４-01-15",
            "2024-01-15\n",
        ],
    )
    def test_not_iso_8601(self, value: str) -> None:
        exc = rejection(f.header(creDtTm=value))
        assert isinstance(exc, InvalidValue)
        assert exc.errors.startswith("Champ 'creDtTm' dans l'en-tête invalide : ")

    def test_far_future_is_refused_when_now_is_given(self) -> None:
        now = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
        assert read_header(f.header(creDtTm="2025-03-02T08:15:00+01:00"), now=now)
        exc = rejection(f.header(creDtTm="2025-03-05T08:15:00+01:00"), now=now)
        assert isinstance(exc, InvalidValue)
        assert "dans le futur" in exc.errors
        naive_now = now.replace(tzinfo=None)  # taken as UTC
        assert isinstance(rejection(f.header(creDtTm="2025-03-05"), now=naive_now), InvalidValue)


def test_missing_keys_win_over_other_problems() -> None:
    exc = rejection({"inigPtynm": 42, "versionId": "1.0"})
    assert isinstance(exc, MissingKey)


def test_header_fields() -> None:
    header = read_header(f.header())
    assert header.partner_id == "acme-gestion"
    assert header.api_key == "7Swvx0CZDKXLkeJ6iaOeH8Cb6TPdbHAL"
    assert header.version == "2.0"
    assert "7Swvx0" not in repr(header)  # never logged by accident


def test_internal_error_wire_shape() -> None:
    assert internal_error_json("boom") == {
        "status": "KO",
        "type": "InternalServerError",
        "message": "Erreur interne du serveur",
        "error": "boom",
    }
