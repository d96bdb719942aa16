"""``parse_columns`` (chunks of columns) against ``parse_csv`` (rows)."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import example, given, settings
from hypothesis import strategies as st

from guichet.bal._columns import Chunk, ColumnarCsv, FieldCountMismatch, parse_columns
from guichet.bal._csv import parse_csv

texts = st.text(alphabet=';,\t\n\r\ufeffab"é ', max_size=80)


def _rows(chunk: Chunk) -> list[list[str]]:
    """The chunk's rows, rebuilt from its coded columns (and checked against ``row``)."""
    columns = []
    for j in range(len(chunk.row(0))):
        values, codes = chunk.coded(j)
        columns.append([values[c] for c in codes])
    rows = [list(row) for row in zip(*columns, strict=True)]
    assert rows == [chunk.row(i) for i in range(chunk.size)]
    return rows


@settings(max_examples=1500)
@given(texts, st.integers(1, 12))
@example("\ufeff\n\ufeff;a\nb;c\n", 1)
@example("\n\ufeffa;b\n1;2", 1)
@example("a;b\n\n1;2\n\n", 2)
@example("a;b\r\n1;2\r\n3;4", 3)
@example("a;b\n\ufeff1;2\n", 3)
@example("a;b\n1;2\r\n3;4", 3)
@example("a;b\r\n1;2\n3;4\r\n", 3)
@example("a;b\n \n1;2", 3)
@example("a;b\n1;2;3\n", 3)
def test_same_rows_and_errors_as_parse_csv(text: str, chunk_chars: int) -> None:
    """The column split gives papaparse's rows, whatever the chunk size."""
    expected = parse_csv(text)
    got = parse_columns(text, chunk_chars)
    if not isinstance(got, ColumnarCsv):
        assert got == expected
        return
    try:
        rows = [row for chunk in got.chunks for row in _rows(chunk)]
    except FieldCountMismatch:
        assert expected.fatal
        return
    assert not expected.fatal
    assert (got.linebreak, got.delimiter, got.fields) == (
        expected.linebreak,
        expected.delimiter,
        expected.fields,
    )
    assert (rows, got.errors) == (expected.rows, expected.errors)


@settings(max_examples=800)
@given(texts, st.integers(1, 12), st.integers(1, 5), st.none() | st.floats(0.05, 0.95))
@example("a;b\r\n1;2\r\n3;4\r\n5;6", 1, 3, None)
@example("a;b\n\n1;2\n\n\n3;4\n", 2, 4, None)
def test_ranges_read_like_the_whole(
    text: str, chunk_chars: int, count: int, first: float | None
) -> None:
    """Cutting the lines into ``count`` ranges (the first one of any share) reads the same
    rows (and mismatches)."""
    got = parse_columns(text, chunk_chars)
    if not isinstance(got, ColumnarCsv) or got.plain is None:
        return

    def rows(chunks: Iterable[Chunk]) -> list[list[str]] | None:
        try:
            return [row for chunk in chunks for row in _rows(chunk)]
        except FieldCountMismatch:
            return None

    whole = rows(got.plain.chunks())
    ranges = got.plain.ranges(count, first)
    parts = [rows(got.plain.chunks(start, stop)) for start, stop in ranges]
    if whole is None:
        assert None in parts
    else:
        assert [row for part in parts if part is not None for row in part] == whole
        assert None not in parts


def test_the_first_range_takes_its_share() -> None:
    text = "a;b\n" + "1;2\n" * 1000
    parsed = parse_columns(text)
    assert isinstance(parsed, ColumnarCsv) and parsed.plain is not None
    plain = parsed.plain
    (start, stop), (after, end) = plain.ranges(2, first=0.56)
    assert abs((stop - start) / (end - start) - 0.56) < 0.01
    assert (after, end) == (stop + 1, len(text))
