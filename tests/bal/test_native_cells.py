"""The native helpers (:mod:`guichet.bal._cells`) against their pure-Python equivalents.

Both cut ``text[start:stop]`` into the same chunks; every chunk must give the same cells, column
by column (with and without ``unique``) and row by row, and the same refusals
(:class:`FieldCountMismatch`), whatever the text's string kind (1, 2 or 4 bytes a character).
"""

from __future__ import annotations

import datetime
import io
import math
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from guichet.bal import _bulk, _columns, _fast
from guichet.bal._cli import _write_json
from guichet.bal._columns import Chunk, ColumnarCsv, FieldCountMismatch, parse_columns
from guichet.bal._diff_rows import NativeCells, differences, differing
from guichet.bal._encoding import read_text
from guichet.bal._report import Report
from guichet.bal._validate import validate

pytestmark = pytest.mark.skipif(
    _columns._cells is None, reason="the native splitter was not built (no C compiler)"
)

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "bal" / "corpus"
TODAY = datetime.date(2026, 11, 22)


def _error(code: str) -> tuple[str, None, None]:
    return (code, None, None)


# Latin-1 (kind 1), BMP (kind 2: œ, ’) and astral (kind 4: 𝔘) characters around the separators
texts = st.text(alphabet=";,|\t\n\r ab1éœ’𝔘\x1e", max_size=120)
delimiters = st.sampled_from([";", ",", "|", "\t", "\x1e"])
linebreaks = st.sampled_from(["\n", "\r\n", "\r"])


def _cells_of(
    chunks: Iterator[Chunk], unique: bool
) -> list[tuple[list[list[str]], list[list[str]]]]:
    """Per chunk: its columns rebuilt from ``coded`` and its rows from ``row``."""
    out = []
    for chunk in chunks:
        rows = [chunk.row(i) for i in range(chunk.size)]
        width = len(rows[0])
        columns = []
        for j in range(width):
            values, codes = chunk.coded(j, unique=unique)
            assert len(codes) == chunk.size
            columns.append([values[c] for c in codes])
        out.append((columns, rows))
    return out


def _both(
    text: str,
    start: int,
    delimiter: str,
    linebreak: str,
    width: int,
    chunk_chars: int,
    unique: bool,
) -> tuple[object, object]:
    def run(native: bool) -> object:
        saved = _columns._cells
        if not native:
            _columns._cells = None
        try:
            chunks = _columns._plain_chunks(
                text, start, len(text), delimiter, linebreak, width, chunk_chars
            )
            return _cells_of(chunks, unique)
        except FieldCountMismatch:
            return "mismatch"
        finally:
            _columns._cells = saved

    return run(True), run(False)


@settings(max_examples=1000)
@given(texts, delimiters, linebreaks, st.integers(1, 6), st.integers(1, 40), st.booleans())
@example("a;b\n\n1;2\n\n", ";", "\n", 2, 3, False)
@example("a;b\r\r\n1;2\r\n", ";", "\r\n", 2, 40, False)
@example("a;b\r", ";", "\r\n", 2, 40, True)
@example("𝔘;é\nœ;𝔘\n𝔘;é", ";", "\n", 2, 1, False)
@example(";;\n;;\n", ";", "\n", 3, 2, False)
def test_native_cells_equal_the_python_split(
    text: str, delimiter: str, linebreak: str, width: int, chunk_chars: int, unique: bool
) -> None:
    native, python = _both(text, 0, delimiter, linebreak, width, chunk_chars, unique)
    assert native == python


@given(st.lists(st.sampled_from(["a", "b", "", "é", "œ", "𝔘", "aa"]), min_size=1, max_size=300))
def test_codes_follow_first_occurrence(cells: list[str]) -> None:
    """Values in order of first occurrence, without repeats: what ``dict.fromkeys`` gives."""
    text = "\n".join(cells) + "\n"
    chunk = next(_columns._plain_chunks(text, 0, len(text), ";", "\n", 1, 1 << 18), None)
    if chunk is None:  # only empty lines
        assert set(cells) == {""}
        return
    values, codes = chunk.coded(0)
    kept = [c for c in cells if c != ""] if "" in cells else cells  # empty lines are skipped
    assert values == list(dict.fromkeys(kept))
    assert [values[c] for c in codes] == kept


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/bal is not beside the repo")
@pytest.mark.parametrize(
    "path",
    sorted(p for p in CORPUS.rglob("*.csv")) if CORPUS.is_dir() else [],
    ids=lambda p: str(p.relative_to(CORPUS)),
)
def test_corpus_files_split_alike(path: Path) -> None:
    """Every corpus file without quotes: the same cells both ways, at two chunk sizes."""
    try:
        _, text = read_text(path.read_bytes())
    except Exception:  # files the reader refuses are not split at all
        pytest.skip("not a readable text")
    parsed = parse_columns(text)
    if not isinstance(parsed, ColumnarCsv) or parsed.plain is None:
        pytest.skip("quoted or fatal: not split by lines")
    plain = parsed.plain
    for chunk_chars in (1 << 10, 1 << 18):
        native, python = _both(
            text, plain.start, plain.delimiter, plain.linebreak, plain.width, chunk_chars, False
        )
        assert native == python


float_like = st.text(alphabet="-0123456789.,eE+ x\u0663é", max_size=12)
uuid_like = st.one_of(
    st.uuids(version=4).map(str),
    st.uuids(version=4).map(lambda u: str(u).upper()),
    st.uuids().map(str),
    st.text(alphabet="0123456789abcdefABCDEF-4gé", min_size=34, max_size=38),
    st.builds(
        lambda u, at, c: str(u)[:at] + c + str(u)[at + 1 :],
        st.uuids(version=4),
        st.integers(0, 35),
        st.sampled_from("-4890abfgAFG\u0663 "),
    ),
)


@settings(max_examples=600)
@given(st.lists(float_like, min_size=1, max_size=30), st.sampled_from(["", "é", "’", "𝔘"]))
@example(["0", "-0", "1.5", "-0.50", "٣", "0." + "0" * 70 + "1", "1" * 80, "1e5"], "’")
def test_a_float_column_read_where_it_lies_is_the_column_read_as_strings(
    values: list[str], other: str
) -> None:
    """``NativeChunk.floats``: the same cells (made strings when read), misses and floats as
    ``coded`` then ``native_floats``, whatever the text's kind (``other`` sets it)."""
    text = "".join(f"{other};{value}\n" for value in values if ";" not in value)
    if not text:
        return
    rows, bounds = _fast.cells.split(text, 0, len(text), ";", "\n", 2)  # type: ignore[union-attr]
    chunk = _columns.NativeChunk(text, rows, bounds, 2)
    coded, bad, floats = chunk.floats(1)
    strings = chunk.coded(1, unique=True).values
    assert list(coded.values) == strings
    assert coded.codes.tolist() == list(range(rows))
    assert coded.values[-1] == strings[-1] and coded.values[1:3] == strings[1:3]
    with pytest.raises(IndexError):
        coded.values[rows]
    native = _fast.native_floats(list(strings))
    assert native is not None
    assert bad.tolist() == native[0].tolist()
    assert np.array_equal(floats, native[1], equal_nan=True)


@settings(max_examples=600)
@given(st.lists(float_like, max_size=30))
@example(["0", "-0", "01", "001", "0.5", "-0.50", "1.", ".5", "-", "", "10", "1e5", "٣", "0.5٣"])
def test_native_floats_equal_the_pattern_and_float(values: list[str]) -> None:
    native = _fast.native_floats(values)
    assert native is not None
    bad, floats = native
    happy = re.compile(_bulk.FLOAT_HAPPY).fullmatch
    assert bad.tolist() == [happy(v) is None for v in values]
    expected = [math.nan if happy(v) is None else float(v) for v in values]
    assert np.array_equal(floats, np.array(expected, dtype=np.float64), equal_nan=True)


@settings(max_examples=600)
@given(st.lists(uuid_like, max_size=20))
def test_native_uuids_equal_the_pattern(values: list[str]) -> None:
    found = _fast.native_uuid_misses(values)
    assert found is not None
    happy = re.compile(_bulk.UUID_HAPPY).fullmatch
    assert found.tolist() == [happy(v) is None for v in values]


@settings(max_examples=600)
@given(
    st.lists(st.one_of(uuid_like, st.just(""), st.just(" ")), min_size=1, max_size=20),
    st.sampled_from(["", "é", "’", "𝔘"]),
)
@example(["", "8f14e45f-ceea-467f-a9b0-2c2f1e4e5a11", "8F14E45F-CEEA-467F-A9B0-2C2F1E4E5A11"], "𝔘")
def test_a_uuid_column_read_where_it_lies_is_the_column_read_as_strings(
    values: list[str], other: str
) -> None:
    """``NativeChunk.uuids``: the same cells (made strings when read) as ``coded``; misses are
    the non-empty cells not in the happy shape; a happy cell in lower case is its uuid's bytes,
    one with an upper-case digit is kept as a string; whatever the text's kind."""
    text = "".join(f"{other};{value}\n" for value in values)
    rows, bounds = _fast.cells.split(text, 0, len(text), ";", "\n", 2)  # type: ignore[union-attr]
    chunk = _columns.NativeChunk(text, rows, bounds, 2)
    found = chunk.uuids(1)
    strings = chunk.coded(1, unique=True).values
    assert list(found.coded.values) == strings == values
    happy = re.compile(_bulk.UUID_HAPPY).fullmatch
    assert found.misses.tolist() == [bool(v) and happy(v) is None for v in values]
    lower = [happy(v) is not None and v == v.lower() for v in values]
    assert found.other_case.tolist() == [
        happy(v) is not None and not low for v, low in zip(values, lower, strict=True)
    ]
    expected = b"".join(
        uuid.UUID(v).bytes if low else bytes(16) for v, low in zip(values, lower, strict=True)
    )
    assert found.words == expected


@given(st.lists(st.sampled_from([bytes(16), b"a" * 16, b"b" * 16, b"a" * 15 + b"b"]), max_size=40))
def test_native_item_codes_equal_a_dictionary(words: list[bytes]) -> None:
    """Codes of 16-byte (and 8-byte) items in order of first appearance, and where each is
    first met."""
    for size, items in ((16, words), (8, [w[:8] for w in words])):
        codes, firsts = _fast.cells.item_codes(b"".join(items), size)  # type: ignore[union-attr]
        index: dict[bytes, int] = {}
        assert np.frombuffer(codes, dtype=np.int64).tolist() == [
            index.setdefault(w, len(index)) for w in items
        ]
        assert np.frombuffer(firsts, dtype=np.int64).tolist() == [items.index(w) for w in index]
    with pytest.raises(ValueError, match="8 or 16"):
        _fast.cells.item_codes(b"", 4)  # type: ignore[union-attr]


@given(st.lists(st.one_of(st.text(max_size=3), st.none(), st.integers(-2, 2), st.tuples())))
def test_native_truths_equal_bool(values: list[object]) -> None:
    assert _fast.truths(values).tolist() == [bool(v) for v in values]


@settings(max_examples=200)
@given(
    st.lists(st.from_regex(r"-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,24})?", fullmatch=True), max_size=20)
)
def test_native_floats_of_long_numbers_equal_float(values: list[str]) -> None:
    """Up to 15 digits a fast exact path, beyond it Python's own parser: both equal float()."""
    native = _fast.native_floats(values)
    assert native is not None
    bad, floats = native
    assert not bad.any()
    assert floats.tolist() == [float(v) for v in values]
    assert [math.copysign(1, f) for f in floats.tolist()] == [
        math.copysign(1, float(v)) for v in values
    ]


cell_texts = st.text(alphabet="ab1 éœ’𝔘", max_size=3)


@st.composite
def tables(draw: st.DrawFn) -> tuple[str, int, list[list[str]]]:
    """A text without quotes (";" and "\n"), its width and its rows of cells."""
    width = draw(st.integers(1, 4))
    row = st.lists(cell_texts, min_size=width, max_size=width)
    # an empty line is no row: every row has a character
    rows = draw(st.lists(row.filter(lambda cells: ";".join(cells)), max_size=8))
    return "".join(";".join(row) + "\n" for row in rows), width, rows


def _native_cells(text: str, width: int, columns: tuple[int, ...]) -> NativeCells:
    cells = NativeCells(text, ";", width, columns)
    for chunk in _columns._plain_chunks(text, 0, len(text), ";", "\n", width, 8):
        assert isinstance(chunk, _columns.NativeChunk)
        cells.add(chunk.bounds)
    return cells


@settings(max_examples=400)
@given(tables(), tables(), st.data())
def test_native_differ_compares_the_chosen_cells_of_each_pair(
    old: tuple[str, int, list[list[str]]],
    new: tuple[str, int, list[list[str]]],
    data: st.DataObject,
) -> None:
    """Rows in several chunks, texts of different string kinds, -1 for an empty cell: a pair
    differs exactly when one of its chosen cells does, and its differences are those cells."""
    (old_text, old_width, old_rows), (new_text, new_width, new_rows) = old, new
    fields = data.draw(
        st.lists(st.tuples(st.integers(-1, old_width - 1), st.integers(-1, new_width - 1)))
    )
    old_cells = _native_cells(old_text, old_width, tuple(a for a, _ in fields))
    new_cells = _native_cells(new_text, new_width, tuple(b for _, b in fields))
    if not old_rows or not new_rows:
        return
    pairs = data.draw(
        st.lists(st.tuples(st.integers(0, len(old_rows) - 1), st.integers(0, len(new_rows) - 1)))
    )

    def chosen(row: list[str], columns: tuple[int, ...]) -> list[str]:
        return ["" if j < 0 else row[j] for j in columns]

    expected = [
        chosen(old_rows[i], old_cells.columns) != chosen(new_rows[j], new_cells.columns)
        for i, j in pairs
    ]
    olds = np.array([i for i, _ in pairs], dtype=np.intp)
    news = np.array([j for _, j in pairs], dtype=np.intp)
    assert differing(old_cells, new_cells, olds, news).tolist() == expected

    def changes(i: int, j: int) -> list[tuple[int, str, str]]:
        before, after = (
            chosen(old_rows[i], old_cells.columns),
            chosen(new_rows[j], new_cells.columns),
        )
        both = zip(before, after, strict=True)
        return [(c, a, b) for c, (a, b) in enumerate(both) if a != b]

    assert differences(old_cells, new_cells, olds, news) == [changes(i, j) for i, j in pairs]
    for i, row in enumerate(old_rows):
        assert old_cells.row(i) == chosen(row, old_cells.columns)


def test_native_differ_refuses_rows_it_does_not_have() -> None:
    cells = _native_cells("a;b\nc;d\n", 2, (0, 1))
    with pytest.raises(IndexError):
        differing(cells, cells, np.array([2]), np.array([0]))


class _Named:
    """Compares by identity, as the reader's Names and Commune rows do."""


_shared = [_Named(), _Named()]
hashables = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.text(alphabet="ab", max_size=2),
    st.tuples(st.text(alphabet="ab", max_size=1), st.integers(0, 1)),
    st.sampled_from(_shared),
    st.just(1.0),  # equal to 1 and True as a dictionary key
    st.just(True),
)


@given(st.lists(hashables, max_size=40))
def test_native_factorize_equals_a_dictionary(values: list[object]) -> None:
    codes, distinct = _fast.factorize(values)
    index = dict.fromkeys(values)
    expected = list(index)
    assert len(distinct) == len(expected)
    assert all(a is b for a, b in zip(distinct, expected, strict=True))  # the first of each
    position = {key: k for k, key in enumerate(index)}
    assert codes.tolist() == [position[v] for v in values]


sliceable = st.text(alphabet="ab1_é€𝔘", max_size=7)
"""Slices that are equal across string kinds: "ab" cut from "abé", "ab€" and "ab𝔘"."""


@settings(max_examples=500)
@given(st.lists(sliceable, max_size=40), st.integers(0, 8), st.integers(0, 8))
@example(["abé", "ab€", "ab𝔘", "ab", "a"], 0, 2)
def test_native_slices_equal_slicing_then_a_dictionary(
    values: list[str], start: int, width: int
) -> None:
    part = slice(start, start + width)
    codes, distinct = _fast.slices(values, part)
    sliced = [value[part] for value in values]
    expected = list(dict.fromkeys(sliced))
    assert distinct == expected
    assert [type(d) for d in distinct] == [str] * len(distinct)
    assert codes.tolist() == [expected.index(s) for s in sliced]
    python_codes, python_distinct = _fast.slices(tuple(values), part)  # (not a list: Python)
    assert (python_codes.tolist(), python_distinct) == (codes.tolist(), distinct)


def test_native_slices_and_take_refuse_what_they_cannot_read() -> None:
    assert _fast.cells is not None
    with pytest.raises(TypeError):
        _fast.cells.slices(["a", None], 0, 1)
    with pytest.raises(ValueError):
        _fast.cells.slices(["a"], 2, 1)
    with pytest.raises(IndexError):
        _fast.take(["a"], np.array([0, 1], dtype=np.intp))
    with pytest.raises(IndexError):
        _fast.take(["a"], np.array([-1], dtype=np.intp))


@given(st.lists(st.text(alphabet="ab", max_size=1), min_size=1), st.data())
def test_native_take_gathers_like_indexing(values: list[str], data: st.DataObject) -> None:
    picked = data.draw(st.lists(st.integers(0, len(values) - 1), max_size=30))
    codes = np.array(picked, dtype=np.intp)
    taken = _fast.take(values, np.repeat(codes, 2)[::2])  # a strided view: read as it indexes
    assert taken == [values[i] for i in picked]
    assert all(a is values[i] for a, i in zip(taken, picked, strict=True))


cle_like = st.one_of(
    st.from_regex(_bulk.CLE_HAPPY, fullmatch=True),
    st.text(alphabet="0123456789abx_", min_size=14, max_size=22),
    st.text(alphabet="0_aAx-\n é\u0663", max_size=20),
    st.sampled_from(["35047_xxxx_00001", "35047_0000_00001", "35047_0001_00001_", "a" * 16]),
)


@settings(max_examples=800)
@given(st.lists(cle_like, max_size=20))
@example(["35047_0001_00001__bis", "35047_0001_00001_bis", "35047_0001_0000a", "35047_0001_00001a"])
@example(["35_47_0001_00001", "35047_00_1_00001", "35047_0x0x_00001", "35047_0001_00001_b_"])
@example(["35047_0001_00001_\u0663", "3504\u0663_0001_00001", "35047_0001_0000\u0663"])
def test_native_cle_misses_equal_the_pattern(values: list[str]) -> None:
    found = _fast.native_cle_misses(values)
    assert found is not None
    happy = re.compile(_bulk.CLE_HAPPY).fullmatch
    assert found.tolist() == [happy(v) is None for v in values]


@given(st.lists(st.one_of(st.none(), st.integers(-2, 99999)), max_size=40), st.integers(-1, 2))
@example([None, 99999, 1], 99999)
def test_native_equals_is_eq(values: list[int | None], value: int) -> None:
    assert _fast.equals(values, value).tolist() == [v == value for v in values]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/bal is not beside the repo")
@pytest.mark.parametrize(
    "path",
    sorted(p for p in CORPUS.rglob("*.csv")) if CORPUS.is_dir() else [],
    ids=lambda p: str(p.relative_to(CORPUS)),
)
def test_corpus_reports_are_the_same_without_the_extension(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole validator and its JSON, native or not: the same report (the fallback CI would
    run where the extension cannot be built)."""
    data = path.read_bytes()
    native = validate(data, today=TODAY, processes=1)
    native_json = _json_of(native)
    monkeypatch.setattr(_columns, "_cells", None)
    monkeypatch.setattr(_fast, "cells", None)
    python = validate(data, today=TODAY, processes=1)
    assert python.summary() == native.summary()
    assert list(python.problems()) == list(native.problems())
    assert _json_of(python) == native_json


def _json_of(report: Report) -> str:
    out = io.StringIO()
    _write_json(report, out)
    return out.getvalue()


own_errors = st.sampled_from(
    [("a", None, None), ("b", "voie_nom", "x%"), ("c", "uid_adresse", "v"), ("x", None, None)]
)


@given(
    st.dictionaries(st.integers(0, 40), st.lists(own_errors, min_size=1, max_size=3)),
    st.lists(st.tuples(st.sampled_from(["x", "y", "z"]), st.sets(st.integers(0, 45))), max_size=4),
    st.sampled_from(["1.3", "1.4"]),
    st.integers(1, 7),
)
def test_native_items_equal_the_python_ones(
    own: dict[int, list[tuple[str, str | None, str | None]]],
    flags: list[tuple[str, set[int]]],
    profile: str,
    batch: int,
) -> None:
    """The rows' own errors and the cross-row checks' arrays, merged natively line by line,
    give the bytes the Python path gives from each row's merged list (batches of any size;
    1.3 drops the uid_adresse errors); the codes come in the order the merged rows give them."""
    from guichet.bal import _json_rows
    from guichet.bal._crossrows import _Pending
    from guichet.bal._json_rows import RowItems
    from guichet.bal._rows import RowTable

    table = RowTable(count=46, errors={line: list(errors) for line, errors in own.items()})
    pending = _Pending()
    for code, lines in flags:
        pending.add_many(sorted(lines), code)
    pending.apply(table)
    report = Report(profile=profile, encoding="utf-8", table=table, row_count=46)
    every_code = (code for _, errors in table.sorted_errors() for code, _, _ in errors)
    assert report.rows_errors == list(dict.fromkeys(every_code))
    problems = list(report.problems())
    assert list(report.problem_counts().items()) == list(
        Counter((p.level, p.code) for p in problems).items()
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_json_rows, "_LINES_PER_BATCH", batch)
        native = [_joined(RowItems(report).batches(which)) for which in (0, 1)]
        patch.setattr(_fast, "cells", None)
        python = [_joined(RowItems(report).batches(which)) for which in (0, 1)]
    assert native == python
    assert native[1].count(b'{"line": ') == len(list(report.row_problems()))


def _joined(batches: Iterator[list[bytes]]) -> bytes:
    return b", ".join(item for batch in batches for item in batch)


def test_native_items_refuse_bad_arguments_and_compute_each_tail_once() -> None:
    """Errors raised by the tails' callback, tails that are not bytes, and sets or lines out
    of range are exceptions, not crashes; a tail is computed once per distinct error."""
    assert _fast.cells is not None
    items = _fast.cells.items
    lines, which = np.array([0, 2], dtype=np.intp), np.array([0, 0], dtype=np.intp)
    shared = ("x", None, None)
    computed: list[object] = []

    def tail(error: tuple[str, None, None]) -> bytes:
        computed.append(error)
        return error[0].encode()

    rows = [(0, [("a", None, None)]), (1, [("a", None, None), shared])]
    out = items(rows, lines, which, [(shared,)], {}, tail, b"[")
    assert out == b"[0, a, [0, x, [1, a, [1, x, [2, x"
    assert computed == [shared, ("a", None, None)]  # the sets' first, then once per error
    with pytest.raises(TypeError, match="bytes or None"):
        items(rows, lines, which, [(shared,)], {}, lambda error: "text", b"[")
    with pytest.raises(ZeroDivisionError):
        items(rows, lines, which, [(shared,)], {}, lambda error: 1 // 0, b"[")
    with pytest.raises(IndexError, match="outside sets"):
        items(rows, lines, np.array([0, 1], dtype=np.intp), [(shared,)], {}, tail, b"[")
    with pytest.raises(ValueError, match="one length"):
        items(rows, lines, which[:1], [(shared,)], {}, tail, b"[")
    with pytest.raises(TypeError, match="tuples"):
        items([(0,)], lines, which, [(shared,)], {}, tail, b"[")
