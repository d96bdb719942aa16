"""``guichet.bal._csv`` against papaparse 5.7.1 as the reference validator calls it.

Expected values come from the reference itself: ``REFERENCE_CASES`` were produced by running
``Papa.parse(input, {delimitersToGuess: [',', '\\t', ';'], skipEmptyLines: true, header: true})``
in Node (papaparse 5.7.1), ``vectors/papaparse.json`` and ``expected/*.json`` are the shared
reference outputs. The Node differential test runs against the reference's node_modules
(``reference_node`` installs them where npm can).
"""

from __future__ import annotations

import gc
import gzip
import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from guichet.bal import _csv
from guichet.bal._csv import ParsedCsv, ParseError, parse_csv
from guichet.bal._encoding import (
    BalFileError,
    decode,
    read_text,
)
from tests.bal import reference_node

SHARED_BAL = Path(__file__).resolve().parents[2].parent / "shared" / "bal"
CRASH_FILES = {"edge_crash_ancienne_commune_deleguee.csv"}  # throws later than parsing


def papaparse_view(parsed: ParsedCsv) -> dict[str, Any]:
    """What ``Papa.parse`` returns, in the reference's JSON shape."""
    return {
        "delimiter": parsed.delimiter,
        "linebreak": parsed.linebreak,
        "fields": parsed.fields,
        "data": parsed.row_objects(),
        "errors": [e.to_json() for e in parsed.errors],
    }


def as_json(value: object) -> str:
    """Key order matters (JS objects list integer-like keys first)."""
    return json.dumps(value, ensure_ascii=False)


REFERENCE_CASES: dict[str, dict[str, Any]] = {
    "quotes_across_lines": {
        "input": 'a;b\n"x\ny";2\n3;4\n',
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b"],
        "data": [{"a": "x\ny", "b": "2"}, {"a": "3", "b": "4"}],
        "errors": [],
    },
    "escaped_quotes": {
        "input": 'a;b\n"x""y";"""z"""\n',
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b"],
        "data": [{"a": 'x"y', "b": '"z"'}],
        "errors": [],
    },
    "trailing_quote_garbage": {
        "input": 'a;b\n"x"z;2\n3;4\n',
        "delimiter": ",",
        "linebreak": "\n",
        "fields": ["a;b"],
        "data": [{"a;b": 'x"z;2\n3;4\n'}],
        "errors": [
            {
                "type": "Quotes",
                "code": "InvalidQuotes",
                "message": "Trailing quote on quoted field is malformed",
                "row": 1,
                "index": 5,
            },
            {
                "type": "Quotes",
                "code": "MissingQuotes",
                "message": "Quoted field unterminated",
                "row": 1,
                "index": 5,
            },
            {
                "type": "Delimiter",
                "code": "UndetectableDelimiter",
                "message": "Unable to auto-detect delimiting character; defaulted to ','",
            },
        ],
    },
    "spaces_after_closing_quote": {
        "input": 'a;b\n"x"  ;2\n"y" \n',
        "delimiter": ",",
        "linebreak": "\n",
        "fields": ["a;b"],
        "data": [{"a;b": 'x"  ;2\n"y'}],
        "errors": [
            {
                "type": "Quotes",
                "code": "InvalidQuotes",
                "message": "Trailing quote on quoted field is malformed",
                "row": 1,
                "index": 5,
            },
            {
                "type": "Quotes",
                "code": "InvalidQuotes",
                "message": "Trailing quote on quoted field is malformed",
                "row": 1,
                "index": 5,
            },
            {
                "type": "Delimiter",
                "code": "UndetectableDelimiter",
                "message": "Unable to auto-detect delimiting character; defaulted to ','",
            },
        ],
    },
    "unterminated_quote": {
        "input": 'a;b\n1;"2\n3;4\n',
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b"],
        "data": [{"a": "1", "b": "2\n3;4\n"}],
        "errors": [
            {
                "type": "Quotes",
                "code": "MissingQuotes",
                "message": "Quoted field unterminated",
                "row": 1,
                "index": 7,
            }
        ],
    },
    "unterminated_after_astral": {
        "input": 'a;b\n😀;"2\n3;4\n',
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b"],
        "data": [{"a": "😀", "b": "2\n3;4\n"}],
        "errors": [
            {
                "type": "Quotes",
                "code": "MissingQuotes",
                "message": "Quoted field unterminated",
                "row": 1,
                "index": 8,
            }
        ],
    },
    "whitespace_only_line": {
        "input": "a;b;c\n1;2;3\n \n4;5;6\n",
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b", "c"],
        "data": [{"a": "1", "b": "2", "c": "3"}, {"a": " "}, {"a": "4", "b": "5", "c": "6"}],
        "errors": [
            {
                "type": "FieldMismatch",
                "code": "TooFewFields",
                "message": "Too few fields: expected 3 fields but parsed 1",
                "row": 1,
            }
        ],
    },
    "semicolons_line": {
        "input": "a;b;c\n;;\n1;2;3\n;;;;\n",
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b", "c"],
        "data": [
            {"a": "", "b": "", "c": ""},
            {"a": "1", "b": "2", "c": "3"},
            {"a": "", "b": "", "c": "", "__parsed_extra": ["", ""]},
        ],
        "errors": [
            {
                "type": "FieldMismatch",
                "code": "TooManyFields",
                "message": "Too many fields: expected 3 fields but parsed 5",
                "row": 2,
            }
        ],
    },
    "header_only": {
        "input": "a;b;c\n",
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b", "c"],
        "data": [],
        "errors": [],
    },
    "empty_file": {
        "input": "",
        "delimiter": ",",
        "linebreak": "\n",
        "fields": [],
        "data": [],
        "errors": [
            {
                "type": "Delimiter",
                "code": "UndetectableDelimiter",
                "message": "Unable to auto-detect delimiting character; defaulted to ','",
            }
        ],
    },
    "only_newlines": {
        "input": "\n\n\n",
        "delimiter": ",",
        "linebreak": "\n",
        "fields": [],
        "data": [],
        "errors": [
            {
                "type": "Delimiter",
                "code": "UndetectableDelimiter",
                "message": "Unable to auto-detect delimiting character; defaulted to ','",
            }
        ],
    },
    "cr_only": {
        "input": "a;b\r1;2\r3;4",
        "delimiter": ";",
        "linebreak": "\r",
        "fields": ["a", "b"],
        "data": [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}],
        "errors": [],
    },
    "crlf_majority": {
        "input": "a;b\r\n1;2\r\n3\r4;5\r\n",
        "delimiter": ";",
        "linebreak": "\r\n",
        "fields": ["a", "b"],
        "data": [{"a": "1", "b": "2"}, {"a": "3\r4", "b": "5"}],
        "errors": [],
    },
    "lf_with_stray_cr": {
        "input": "a;b\n1;2\r\n3;4\n",
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b"],
        "data": [{"a": "1", "b": "2\r"}, {"a": "3", "b": "4"}],
        "errors": [],
    },
    "duplicate_headers": {
        "input": "a;a;a_1;a\n1;2;3;4\n",
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "a_2", "a_1", "a_3"],
        "data": [{"a": "1", "a_2": "2", "a_1": "3", "a_3": "4"}],
        "errors": [],
    },
    "empty_headers": {
        "input": "a;;;\n1;2;3;4\n",
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "", "_1", "_2"],
        "data": [{"a": "1", "": "2", "_1": "3", "_2": "4"}],
        "errors": [],
    },
    "leading_empty_line_no_rename": {
        "input": "\na;a\n1;2\n",
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "a"],
        "data": [{"a": "2"}],
        "errors": [],
    },
    "bom_only_first_line": {
        "input": "\ufeff\ufeff\na;a\n1;2\n",
        "delimiter": ",",
        "linebreak": "\n",
        "fields": ["a;a"],
        "data": [{"a;a": "1;2"}],
        "errors": [
            {
                "type": "Delimiter",
                "code": "UndetectableDelimiter",
                "message": "Unable to auto-detect delimiting character; defaulted to ','",
            }
        ],
    },
    "bom_in_header_names": {
        "input": "\ufeffa;\ufeffb;\ufeff\ufeffc\n1;2;3\n",
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b", "\ufeffc"],
        "data": [{"a": "1", "b": "2", "\ufeffc": "3"}],
        "errors": [],
    },
    "tie_rule_smaller_delta_wins": {
        "input": "a,b,c;d\n1,2;3\n",
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a,b,c", "d"],
        "data": [{"a,b,c": "1,2", "d": "3"}],
        "errors": [],
    },
    "tie_rule_larger_avg": {
        "input": "a;b;c,d\n1;2;3,4\n",
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b", "c,d"],
        "data": [{"a": "1", "b": "2", "c,d": "3,4"}],
        "errors": [],
    },
    "tie_first_candidate": {
        "input": "a,b;c\n1,2;3\n",
        "delimiter": ",",
        "linebreak": "\n",
        "fields": ["a", "b;c"],
        "data": [{"a": "1", "b;c": "2;3"}],
        "errors": [],
    },
    "numeric_headers": {
        "input": "1;b;0;01\nx;y;z;w\n",
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["1", "b", "0", "01"],
        "data": [{"0": "z", "1": "x", "b": "y", "01": "w"}],
        "errors": [],
    },
    "parsed_extra": {
        "input": "a;b\n1;2;3;4\n",
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b"],
        "data": [{"a": "1", "b": "2", "__parsed_extra": ["3", "4"]}],
        "errors": [
            {
                "type": "FieldMismatch",
                "code": "TooManyFields",
                "message": "Too many fields: expected 2 fields but parsed 4",
                "row": 0,
            }
        ],
    },
    "parsed_extra_header": {
        "input": "a;__parsed_extra\n1;2;3\n",
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "__parsed_extra"],
        "data": [{"a": "1", "__parsed_extra": ["2", "3"]}],
        "errors": [
            {
                "type": "FieldMismatch",
                "code": "TooManyFields",
                "message": "Too many fields: expected 2 fields but parsed 3",
                "row": 0,
            }
        ],
    },
    "proto_header": {
        "input": "__proto__;b\n1;2\n",
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["__proto__", "b"],
        "data": [{"b": "2"}],
        "errors": [],
    },
    "closing_quote_at_eof": {
        "input": 'a;b\n1;"x"',
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b"],
        "data": [{"a": "1", "b": "x"}],
        "errors": [],
    },
    "quoted_empty_line_skipped": {
        "input": 'a;b\n""\n1;2\n',
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b"],
        "data": [{"a": "1", "b": "2"}],
        "errors": [],
    },
    "tab_delimited": {
        "input": "a\tb\n1\t2\n",
        "delimiter": "\t",
        "linebreak": "\n",
        "fields": ["a", "b"],
        "data": [{"a": "1", "b": "2"}],
        "errors": [],
    },
    "comma_in_semicolon_file": {
        "input": "a;b\n1,5;2,5\n3,1;4\n",
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b"],
        "data": [{"a": "1,5", "b": "2,5"}, {"a": "3,1", "b": "4"}],
        "errors": [],
    },
    "quote_inside_unquoted": {
        "input": 'a;b\nx"y;2\n',
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b"],
        "data": [{"a": 'x"y', "b": "2"}],
        "errors": [],
    },
    "many_bad_quotes": {
        "input": 'a;b\n"x"y"z"w;1\n',
        "delimiter": ",",
        "linebreak": "\n",
        "fields": ["a;b"],
        "data": [{"a;b": 'x"y"z"w;1\n'}],
        "errors": [
            {
                "type": "Quotes",
                "code": "InvalidQuotes",
                "message": "Trailing quote on quoted field is malformed",
                "row": 1,
                "index": 5,
            },
            {
                "type": "Quotes",
                "code": "InvalidQuotes",
                "message": "Trailing quote on quoted field is malformed",
                "row": 1,
                "index": 5,
            },
            {
                "type": "Quotes",
                "code": "InvalidQuotes",
                "message": "Trailing quote on quoted field is malformed",
                "row": 1,
                "index": 5,
            },
            {
                "type": "Quotes",
                "code": "MissingQuotes",
                "message": "Quoted field unterminated",
                "row": 1,
                "index": 5,
            },
            {
                "type": "Delimiter",
                "code": "UndetectableDelimiter",
                "message": "Unable to auto-detect delimiting character; defaulted to ','",
            },
        ],
    },
    "single_column": {
        "input": "a\n1\n2\n",
        "delimiter": ",",
        "linebreak": "\n",
        "fields": ["a"],
        "data": [{"a": "1"}, {"a": "2"}],
        "errors": [
            {
                "type": "Delimiter",
                "code": "UndetectableDelimiter",
                "message": "Unable to auto-detect delimiting character; defaulted to ','",
            }
        ],
    },
    "too_few": {
        "input": "a;b;c\n1;2\n",
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b", "c"],
        "data": [{"a": "1", "b": "2"}],
        "errors": [
            {
                "type": "FieldMismatch",
                "code": "TooFewFields",
                "message": "Too few fields: expected 3 fields but parsed 2",
                "row": 0,
            }
        ],
    },
    "invalid_quotes_recovered": {
        "input": 'a;b\n"x"z";2\n3;4\n',
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b"],
        "data": [{"a": 'x"z', "b": "2"}, {"a": "3", "b": "4"}],
        "errors": [
            {
                "type": "Quotes",
                "code": "InvalidQuotes",
                "message": "Trailing quote on quoted field is malformed",
                "row": 1,
                "index": 5,
            }
        ],
    },
    "crlf_quoted_multiline": {
        "input": 'a;b\r\n"x\r\ny";2\r\n',
        "delimiter": ";",
        "linebreak": "\r\n",
        "fields": ["a", "b"],
        "data": [{"a": "x\r\ny", "b": "2"}],
        "errors": [],
    },
    "quote_all_fields": {
        "input": '"a";"b"\n"1";"2"\n"3;x";"4""y"\n',
        "delimiter": ";",
        "linebreak": "\n",
        "fields": ["a", "b"],
        "data": [{"a": "1", "b": "2"}, {"a": "3;x", "b": '4"y'}],
        "errors": [],
    },
}


@pytest.mark.parametrize("name", list(REFERENCE_CASES))
def test_reference_case(name: str) -> None:
    case = REFERENCE_CASES[name]
    expected = {k: case[k] for k in ("delimiter", "linebreak", "fields", "data", "errors")}
    assert as_json(papaparse_view(parse_csv(case["input"]))) == as_json(expected)


def _papaparse_vectors() -> list[Any]:
    path = SHARED_BAL / "vectors" / "papaparse.json"
    if not path.is_file():
        return []
    cases = json.loads(path.read_text("utf-8"))["cases"]
    return [pytest.param(case, id=repr(case["input"])[:40]) for case in cases]


@pytest.mark.skipif(not (SHARED_BAL / "vectors").is_dir(), reason="shared/bal not available")
@pytest.mark.parametrize("case", _papaparse_vectors())
def test_papaparse_vectors(case: dict[str, Any]) -> None:
    meta = case["meta"]
    expected = {
        "delimiter": meta["delimiter"],
        "linebreak": meta["linebreak"],
        "fields": meta["fields"],
        "data": case["data"],
        "errors": case["errors"],
    }
    assert as_json(papaparse_view(parse_csv(case["input"]))) == as_json(expected)


# ---------------------------------------------------------------------------------------------
# Every corpus file: the file-level keys of the reference's report


def _corpus_cases() -> list[Any]:
    expected_dir = SHARED_BAL / "expected"
    if not expected_dir.is_dir():
        return []
    cases = []
    for folder in ("fixtures", "ecosystem", "derived"):
        for path in sorted((SHARED_BAL / "corpus" / folder).glob("*")):
            if path.suffix not in (".csv", ".png"):
                continue
            # the keys compared here do not depend on the profile
            for suffix in ("auto", "error"):
                expected = expected_dir / f"{path.name}.{suffix}.json"
                if expected.is_file():
                    cases.append(pytest.param(path, expected, id=path.name))
                    break
    return cases


CORPUS_KEYS = (
    "encoding",
    "linebreak",
    "delimiter",
    "originalFields",
    "parseOk",
    "parseErrors",
    "rowCount",
)


@pytest.mark.skipif(not (SHARED_BAL / "expected").is_dir(), reason="shared/bal not available")
@pytest.mark.parametrize(("path", "expected_path"), _corpus_cases())
def test_corpus_file(path: Path, expected_path: Path) -> None:
    expected = json.loads(expected_path.read_text("utf-8"))
    buf = path.read_bytes()
    if "error" in expected and path.name not in CRASH_FILES:
        with pytest.raises(BalFileError) as info:
            read_text(buf)
        assert f"Error: {info.value.reference_message}" == expected["error"]
        return
    encoding, text = read_text(buf)
    parsed = parse_csv(text)
    got = {
        "encoding": encoding,
        "linebreak": parsed.linebreak,
        "delimiter": parsed.delimiter,
        "originalFields": parsed.fields,
        "parseOk": not parsed.fatal,
        "parseErrors": [e.to_json() for e in parsed.errors],
        "rowCount": len(parsed.rows),
    }
    if path.name in CRASH_FILES:  # the reference crashes after parsing: it must parse
        assert got["parseOk"]
        return
    assert got == {k: expected[k] for k in CORPUS_KEYS}


@pytest.mark.skipif(
    not (SHARED_BAL / "expected" / "full").is_dir(), reason="shared/bal not available"
)
def test_parsed_rows_of_failed_parses() -> None:
    """``parsedRows`` (RULES §8.3) for every corpus file whose parse fails."""
    checked = 0
    for full in sorted((SHARED_BAL / "expected" / "full").glob("*.auto.full.json.gz")):
        report = json.loads(gzip.decompress(full.read_bytes()))
        if report.get("parseOk") is not False:
            continue
        name = full.name.removesuffix(".auto.full.json.gz")
        path = next((SHARED_BAL / "corpus").glob(f"*/{name}"))
        _, text = read_text(path.read_bytes())
        assert as_json(parse_csv(text).row_objects()) == as_json(report["parsedRows"]), name
        checked += 1
    assert checked > 0


# ---------------------------------------------------------------------------------------------
# Unit tests


def test_error_json_omits_absent_keys() -> None:
    assert ParseError("Delimiter", "UndetectableDelimiter", "m").to_json() == {
        "type": "Delimiter",
        "code": "UndetectableDelimiter",
        "message": "m",
    }
    assert list(ParseError("Quotes", "MissingQuotes", "m", row=3, index=0).to_json()) == [
        "type",
        "code",
        "message",
        "row",
        "index",
    ]
    assert ParseError("FieldMismatch", "TooFewFields", "m", row=0).to_json()["row"] == 0


@pytest.mark.parametrize(
    ("text", "fatal"),
    [
        ("a;b\n1;2\n", False),
        ('a;b\n"x"z";2\n', False),  # InvalidQuotes alone is not fatal
        ("a;b\n1\n", True),  # TooFewFields
        ("a;b\n1;2;3\n", True),  # TooManyFields
        ('a;b\n1;"2\n', True),  # MissingQuotes
        ("", True),  # UndetectableDelimiter
    ],
)
def test_fatal(text: str, fatal: bool) -> None:
    assert parse_csv(text).fatal is fatal


def test_bom_and_windows_1252() -> None:
    """A UTF-8 BOM on a cp1252 file is read as ``ï»¿`` and stays glued to the first name."""
    buf = b"\xef\xbb\xbfcle_interop;voie_nom\r\n" + "x;Allée du Château\r\ny;Fête\r\n".encode(
        "cp1252"
    )
    encoding, text = read_text(buf)
    assert encoding == "windows-1252"
    parsed = parse_csv(text)
    assert parsed.fields == ["ï»¿cle_interop", "voie_nom"]
    assert parsed.rows == [["x", "Allée du Château"], ["y", "Fête"]]
    assert parsed.linebreak == "\r\n"


def test_utf8_boms_are_all_removed() -> None:
    """iconv-lite, the validator, papaparse and its header step each drop one leading U+FEFF."""
    for count, first in ((3, "a"), (4, "a"), (5, "\ufeffa")):
        buf = b"\xef\xbb\xbf" * count + b"a;b\n1;2\n"
        assert parse_csv(decode(buf, "utf-8")).fields == [first, "b"]


def test_bom_only_text() -> None:
    parsed = parse_csv("\ufeff")
    assert (parsed.fields, parsed.rows, parsed.delimiter) == ([], [], ",")


def _random_plain_text(rnd: random.Random) -> str:
    atoms = ["a", "b", "é", "😀", " ", ";", ",", "\t", "\n", "\r", "\r\n", "\ufeff", ""]
    return "".join(rnd.choice(atoms) for _ in range(rnd.randint(0, 40)))


def test_fast_mode_matches_the_quote_parser() -> None:
    """Without quotes, the str.split fast path and the full parser give the same rows."""
    rnd = random.Random(1)
    for _ in range(3000):
        text = _random_plain_text(rnd)
        for delimiter in _csv.DELIMITERS:
            for newline in ("\n", "\r\n", "\r"):
                for preview in (0, 2, 10):
                    fast, _ = _csv._parse_rows(text, delimiter, newline, preview, False)
                    if not text:
                        assert fast == []
                        continue
                    slow = _csv._SlowParser(text, delimiter, newline, preview)
                    slow.run()
                    assert slow.data == fast, (text, delimiter, newline, preview)


def test_guess_linebreak_uses_the_first_mib_in_utf16_units() -> None:
    # 2^20 UTF-16 units = 2^19 astral characters: the \r after them is not seen
    text = "😀" * (1 << 19) + "\r\n\r\n"
    assert _csv.guess_linebreak(text) == "\n"
    assert _csv.guess_linebreak("😀" * 10 + "a\r\nb\r\n") == "\r\n"


def test_guess_linebreak_ignores_quoted_line_breaks() -> None:
    assert _csv.guess_linebreak('"a\nb"\r1\r2') == "\r"
    assert _csv.guess_linebreak("a\r\nb\rc\rd\r\n") == "\r"  # 2 of 4 pieces start with \n: not half
    assert _csv.guess_linebreak("a\r\nb\rc\r\n") == "\r\n"


def test_rename_headers() -> None:
    assert _csv.rename_headers(["a", "a", "a_1", "a"]) == ["a", "a_2", "a_1", "a_3"]
    assert _csv.rename_headers(["", "", ""]) == ["", "_1", "_2"]
    assert _csv.rename_headers(["\ufeffa", "a"]) == ["a", "a_1"]
    assert _csv.rename_headers(["a_1", "a", "a"]) == ["a_1", "a", "a_2"]


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_state_is_restored(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        if enabled:
            gc.enable()
        else:
            gc.disable()
        parse_csv("a;b\n1;2\n")
        parse_csv('a;b\n"1";2\n')
        assert gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()


def test_big_file_shape() -> None:
    header = ";".join(f"c{i}" for i in range(22))
    line = ";".join("x" * (i % 5) for i in range(22))
    text = header + "\n" + "\n".join([line] * 20000) + "\n"
    parsed = parse_csv(text)
    assert (len(parsed.fields), len(parsed.rows), parsed.errors) == (22, 20000, [])
    quoted = parse_csv(text.replace(";", '";"').replace("\n", '"\n"')[:-1])
    assert quoted.rows == parsed.rows


# ---------------------------------------------------------------------------------------------
# Differential test against Node (the reference's node_modules: ``reference_node``)


NODE_PAPAPARSE = r"""
const Papa = require(process.argv[1] + '/papaparse');
console.warn = () => {};
const texts = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = texts.map((t) => {
  const options = {delimitersToGuess: [',', '\t', ';'], skipEmptyLines: true, header: true};
  const r = Papa.parse(t, options);
  return {delimiter: r.meta.delimiter, linebreak: r.meta.linebreak, fields: r.meta.fields,
          data: r.data, errors: r.errors};
});
process.stdout.write(JSON.stringify(out));
"""


def _random_csv(rnd: random.Random) -> str:
    if rnd.random() < 0.4:
        atoms = [
            "a",
            "b",
            ";",
            ",",
            "\t",
            '"',
            '""',
            "\n",
            "\r\n",
            "\r",
            " ",
            "\u00a0",
            "\ufeff",
            "😀",
            "é",
            "1",
            "__parsed_extra",
            "0",
            "a_1",
        ]
        return "".join(rnd.choice(atoms) for _ in range(rnd.randint(0, 30)))
    delimiter = rnd.choice(";,\t|")
    newline = rnd.choice(["\n", "\r\n", "\r"])
    columns = rnd.randint(1, 5)
    all_quoted = rnd.random() < 0.4
    lines = []
    for _ in range(rnd.randint(0, 25)):
        cells = []
        for _ in range(columns + rnd.choice([0, 0, 0, 0, 0, 0, 0, 0, -1, 1])):
            value = "".join(
                rnd.choice(["a", " ", "é", "😀", delimiter, newline, '"', "x"])
                for _ in range(rnd.randint(0, 4))
            )
            if all_quoted or rnd.random() < 0.3:
                value = '"' + value.replace('"', '""') + '"'
                if rnd.random() < 0.1:
                    value += rnd.choice([" ", "x", '"'])
            else:
                value = value.replace('"', "").replace(delimiter, "").replace(newline, "")
            cells.append(value)
        lines.append(delimiter.join(cells))
        if rnd.random() < 0.1:
            lines.append(rnd.choice(["", " ", delimiter * 3, '""']))
    return newline.join(lines) + (newline if rnd.random() < 0.5 else "")


@pytest.mark.slow
def test_against_node_papaparse() -> None:
    modules, node = reference_node.node_modules("papaparse"), shutil.which("node")
    if modules is None or node is None:
        pytest.skip(reference_node.why_not())
    rnd = random.Random(20261122)
    texts = [_random_csv(rnd) for _ in range(2000)]
    proc = subprocess.run(
        [node, "-e", NODE_PAPAPARSE, str(modules)],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
    )
    for text, expected in zip(texts, json.loads(proc.stdout), strict=True):
        assert as_json(papaparse_view(parse_csv(text))) == as_json(expected), repr(text)
