"""Bytes to JSON: size, encoding, syntax, nesting and node-count guards (all `WrongFormat`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guichet.loader import (
    FileTooLarge,
    WrongFormat,
    load_json,
    read_file,
    validate_bytes,
    validate_file,
)
from tests.loader import factories as f

VALID = json.dumps(f.header(transactions=[f.transaction()])).encode()


def wrong(data: bytes, **limits: int) -> WrongFormat:
    with pytest.raises(WrongFormat) as caught:
        load_json(data, **limits)
    assert caught.value.to_json()["type"] == "WrongFormat"
    return caught.value


class TestSize:
    def test_at_the_limit_is_read(self) -> None:
        assert load_json(VALID, max_bytes=len(VALID))["versionId"] == "2.0"

    def test_over_the_limit_is_refused_before_parsing(self) -> None:
        exc = wrong(VALID + b" ", max_bytes=len(VALID))
        assert isinstance(exc, FileTooLarge)
        assert exc.http_status == 413
        assert exc.to_json()["message"] == "Fichier trop volumineux"

    def test_read_file_reads_no_more_than_the_limit(self, tmp_path: Path) -> None:
        path = tmp_path / "big.json"
        path.write_bytes(b" " * 1000 + VALID)
        with pytest.raises(FileTooLarge):
            read_file(path, max_bytes=100)
        with pytest.raises(FileTooLarge):
            validate_file(path, max_bytes=100)
        assert validate_file(path).is_valid

    def test_missing_file_is_an_os_error(self, tmp_path: Path) -> None:
        with pytest.raises(OSError):
            validate_file(tmp_path / "absent.json")


class TestEncoding:
    def test_utf8_bom_is_skipped(self) -> None:
        assert load_json(b"\xef\xbb\xbf" + VALID)["inigPtynm"] == "acme-gestion"

    @pytest.mark.parametrize(
        "data",
        [b'{"a": "\xff"}', b'{"a": "caf\xe9"}', "{}".encode("utf-16"), b'{"a": "\xed\xa0\x80"}'],
    )
    def test_invalid_utf8(self, data: bytes) -> None:
        assert "UTF-8 invalide" in wrong(data).errors

    def test_french_text_survives(self) -> None:
        doc = f.header(transactions=[f.transaction(ref="Loyer février — 2025 ✓")])
        data = json.dumps(doc, ensure_ascii=False).encode()
        assert load_json(data)["transactions"][0]["ref"] == "Loyer février — 2025 ✓"

    def test_escaped_surrogate_pair_is_one_character(self) -> None:
        assert load_json(b'{"ref": "\\ud83d\\ude00"}') == {"ref": "\U0001f600"}

    @pytest.mark.parametrize(
        "data",
        [b'{"ref": "\\ud83d"}', b'{"ref": "\\ude00 x"}', b'{"\\udfff": 1}', b'["\\uDBFF"]'],
    )
    def test_lone_surrogate_is_refused(self, data: bytes) -> None:
        assert "substitution" in wrong(data).errors

    @pytest.mark.parametrize("data", [b'{"ref": "a\\u0000b"}', b'{"a\\u0000": 1}'])
    def test_nul_is_refused(self, data: bytes) -> None:
        assert "NUL" in wrong(data).errors

    def test_escaped_backslash_before_u0000_is_plain_text(self) -> None:
        assert load_json(b'{"ref": "C:\\\\u0000"}') == {"ref": "C:\\u0000"}


class TestSyntax:
    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"   ",
            b"{",
            b'{"a": 1,}',
            b"{'a': 1}",
            b'{"a": 1} {"b": 2}',
            b"<xml/>",
            b'{"a": "line\nbreak"}',
            b"\x00\x01\x02",
        ],
    )
    def test_not_json(self, data: bytes) -> None:
        assert wrong(data).errors.startswith("JSON invalide")

    @pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
    def test_non_standard_constants(self, constant: bytes) -> None:
        wrong(b'{"amt": ' + constant + b"}")

    def test_integer_with_too_many_digits(self) -> None:
        wrong(b'{"amt": ' + b"9" * 5000 + b"}")

    def test_huge_exponent_is_an_invalid_decimal_not_a_crash(self) -> None:
        doc = json.dumps(f.header(transactions=[f.transaction()])).replace("780.0", "1e400")
        (issue,) = validate_bytes(doc.encode()).issues()
        assert (issue.field, issue.code) == ("amt", "type")


class TestNesting:
    def test_just_deep_enough(self) -> None:
        assert load_json(b"[" * 64 + b"]" * 64, max_depth=64)

    @pytest.mark.parametrize("depth", [65, 1_000, 100_000])
    def test_too_deep(self, depth: int) -> None:
        assert "imbrication" in wrong(b"[" * depth + b"]" * depth, max_depth=64).errors

    def test_deep_but_unbalanced(self) -> None:
        wrong(b"{" * 100_000)

    def test_brackets_inside_strings_do_not_count(self) -> None:
        doc = f.header(transactions=[f.transaction(ref="[" * 500 + "{" * 500)])
        assert load_json(json.dumps(doc).encode(), max_depth=8)["transactions"][0]

    def test_closing_brackets_inside_strings_cannot_hide_depth_forever(self) -> None:
        data = b'["' + b"]" * 5000 + b'", ' + b"[" * 5000 + b"]" * 5000 + b"]"
        assert "imbrication" in wrong(data).errors


class TestNodeCount:
    def test_many_small_containers_are_refused(self) -> None:
        data = b"[" + b",".join([b"{}"] * 1001) + b"]"
        assert "trop d'objets" in wrong(data, max_containers=1000).errors

    def test_many_scalars_are_bounded_by_size_only(self) -> None:
        data = b"[" + b",".join([b"0"] * 100_000) + b"]"
        assert len(load_json(data, max_containers=10)) == 100_000
