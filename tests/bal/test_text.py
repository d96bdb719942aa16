"""guichet.bal._text against the reference's JavaScript (vectors + data/extra_cases.json)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from guichet.bal._text import (
    JS_WHITESPACE,
    NormalizeError,
    deburr,
    js_len,
    js_trim,
    normalize,
    words,
    written_number_fr,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "bal" / "vectors"
EXTRA = Path(__file__).resolve().parent / "data" / "extra_cases.json"


def _vectors(name: str) -> Any:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    return json.loads(path.read_text("utf-8"))


@cache
def _extra() -> dict[str, Any]:
    return json.loads(EXTRA.read_text("utf-8"))  # type: ignore[no-any-return]


def _extra_cases(section: str) -> list[Any]:
    return _extra()[section]  # type: ignore[no-any-return]


# --- trim / length ----------------------------------------------------------------------------


def test_js_trim_uses_the_javascript_whitespace_set() -> None:
    assert js_trim("\ufeff a \u3000") == "a"
    # Python's str.strip() would remove these, JavaScript's trim() does not
    for ch in ("\u001c", "\u001f", "\u0085", "\u180e", "\u200b"):
        assert js_trim(ch + "a" + ch) == ch + "a" + ch
    assert js_trim(JS_WHITESPACE) == ""


def test_js_len_counts_utf16_code_units() -> None:
    assert js_len("") == 0
    assert js_len("abc") == 3
    assert js_len("é") == 1
    assert js_len("🌳") == 2
    assert js_len("a🌳b") == 4
    assert js_len("\ud83c") == 1  # lone surrogate


@pytest.mark.parametrize("case", _extra_cases("trim"), ids=range(len(_extra_cases("trim"))))
def test_trim_and_length_like_js(case: dict[str, Any]) -> None:
    assert js_trim(case["input"]) == case["trim"]
    assert js_len(case["input"]) == case["length"]


# --- deburr -----------------------------------------------------------------------------------


def test_deburr_lodash_table() -> None:
    data = _vectors("deburr.json")
    for letter, ascii_ in data["map"].items():
        assert deburr(letter) == ascii_, letter
    assert deburr(data["combining"]["example_in"]) == data["combining"]["example_out"]


def test_deburr_keeps_what_lodash_keeps() -> None:
    assert deburr("×÷") == "×÷"  # inside the Latin-1 range but not letters
    assert deburr("ǅ ẞ α 中 🌳") == "ǅ ẞ α 中 🌳"  # outside lodash's table
    assert deburr("e\u0301\u20d7\ufe20") == "e"


@pytest.mark.parametrize("case", _extra_cases("deburr"), ids=range(len(_extra_cases("deburr"))))
def test_deburr_like_lodash(case: dict[str, Any]) -> None:
    assert deburr(case["input"]) == case["output"]


# --- words ------------------------------------------------------------------------------------


def test_words_vectors() -> None:
    for case in _vectors("lodash_words.json")["cases"]:
        assert words(case["input"]) == case["words"], case["input"]


def test_words_ascii_path() -> None:
    assert words("") == []
    assert words("  a  b ") == ["a", "b"]


@pytest.mark.parametrize("case", _extra_cases("words"), ids=range(len(_extra_cases("words"))))
def test_words_like_lodash(case: dict[str, Any]) -> None:
    assert words(case["input"]) == case["words"]


# --- written-number ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", _extra_cases("written"), ids=range(len(_extra_cases("written"))))
def test_written_number_fr(case: dict[str, Any]) -> None:
    assert written_number_fr(float(case["input"])) == case["output"]


def test_written_number_fr_examples() -> None:
    assert written_number_fr(0) == "zéro"
    assert written_number_fr(21) == "vingt et un"
    assert written_number_fr(80) == "quatre-vingts"
    assert written_number_fr(200) == "deux cents"
    assert written_number_fr(201) == "deux cent un"
    assert written_number_fr(1000) == "mille"
    assert written_number_fr(float("inf")) == ""


# --- normalize --------------------------------------------------------------------------------


def test_normalize_vectors() -> None:
    for case in _vectors("normalize.json")["cases"]:
        assert normalize(case["input"]) == case["output"], case["input"]


def test_normalize_none_is_empty() -> None:
    assert normalize(None) == ""
    assert normalize("") == ""


def test_normalize_is_memoized() -> None:
    assert hasattr(normalize, "cache_info")
    normalize("Rue de la Gare")
    hits = normalize.cache_info().hits
    normalize("Rue de la Gare")
    assert normalize.cache_info().hits == hits + 1


@pytest.mark.parametrize(
    "case", _extra_cases("normalize"), ids=range(len(_extra_cases("normalize")))
)
def test_normalize_like_adresses_util(case: dict[str, Any]) -> None:
    if "exception" in case:
        # a word "constructor" makes the reference throw (Object.prototype lookup)
        with pytest.raises(NormalizeError) as raised:
            normalize(case["input"])
        assert f"TypeError: {raised.value}" == case["exception"]
        assert isinstance(raised.value, TypeError)
    else:
        assert normalize(case["input"]) == case["output"]
