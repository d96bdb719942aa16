"""``parse_columns`` (chunks of columns) against ``parse_csv`` (rows)."""

from __future__ import annotations

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
