"""``parse_columns`` (chunks of columns) against ``parse_csv`` (rows)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from guichet.bal._columns import ColumnarCsv, FieldCountMismatch, parse_columns
from guichet.bal._csv import parse_csv

texts = st.text(alphabet=';,\t\n\r\ufeffab"é', max_size=80)


@settings(max_examples=1500)
@given(texts, st.integers(1, 12))
@example("\ufeff\n\ufeff;a\nb;c\n", 1)
@example("\n\ufeffa;b\n1;2", 1)
@example("a;b\n\n1;2\n\n", 2)
@example("a;b\r\n1;2\r\n3;4", 3)
def test_same_rows_and_errors_as_parse_csv(text: str, chunk_chars: int) -> None:
    expected = parse_csv(text)
    got = parse_columns(text, chunk_chars)
    if not isinstance(got, ColumnarCsv):
        assert got == expected
        return
    try:
        rows = [list(row) for chunk in got.chunks for row in zip(*chunk, strict=True)]
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
