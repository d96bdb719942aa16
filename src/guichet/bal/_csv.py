"""Port of the reference's CSV step: papaparse 5.7.1 ``Papa.parse(text, options)`` with
``{header: true, skipEmptyLines: true, delimitersToGuess: [',', '\\t', ';']}``.

What papaparse does, in order (RULES.md §2.4), and where it is ported here:

1. ``CsvToJson`` drops one leading U+FEFF from the string (:func:`parse_csv`);
2. ``guessLineEndings`` on the first MiB (:func:`guess_linebreak`);
3. ``guessDelimiter``: parses the first 10 rows with each candidate and keeps the most
   consistent one (:func:`guess_delimiter`, with 5.7.1's tie rule);
4. ``Parser.parse`` splits rows on the guessed line break only and fields on the delimiter,
   with RFC-4180-ish quotes (:func:`_parse_rows`); the first parsed row gets papaparse's header
   treatment (U+FEFF strip, duplicates renamed) *before* empty lines are removed;
5. ``processResults``: the ``UndetectableDelimiter`` error, removal of empty rows (exactly one
   empty field), the header row, and ``TooFewFields``/``TooManyFields`` per data row.

Speed: text without any ``"`` is split with ``str.split`` (papaparse's own "fast mode" does the
same). With quotes, each row is first matched by a regex that accepts only rows whose quoted
fields are well formed (closing quote directly followed by the delimiter, the line break or
the end); papaparse provably parses such rows like the regex does. Any other row goes through a
line-by-line port of papaparse's character-index loop (``_SlowParser``).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

from guichet.bal._gc import gc_paused

DELIMITERS = (",", "\t", ";")
"""``delimitersToGuess`` of the reference, in order (the order breaks ties)."""

DEFAULT_DELIMITER = ","
"""``Papa.DefaultDelimiter``, used when no candidate qualifies."""

FATAL_CODES = frozenset({"MissingQuotes", "UndetectableDelimiter", "TooFewFields", "TooManyFields"})
"""Error codes that make the reference stop (``FATAL_PARSE_ERRORS`` in lib/validate/file.ts)."""

PARSED_EXTRA = "__parsed_extra"

_PREVIEW_ROWS = 10  # guessDelimiter's ``preview: 10``
_GUESS_LINEBREAK_UNITS = 1024 * 1024  # guessLineEndings looks at the first MiB (UTF-16 units)

# String.prototype.trim() strips WhiteSpace and LineTerminator; Python's default set differs.
_JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_WHITESPACE_RUN = re.compile(f"[{re.escape(_JS_WHITESPACE)}]*+")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_QUOTED_SPAN = re.compile('"(.*?)"', re.DOTALL)  # JS /"([^]*?)"/gm


@dataclass(frozen=True)
class ParseError:
    """One entry of papaparse's ``errors`` (``row``/``index`` absent when None)."""

    type: str
    code: str
    message: str
    row: int | None = None
    index: int | None = None

    def to_json(self) -> dict[str, str | int]:
        """The reference's JSON object: keys in papaparse's order, absent ones omitted."""
        out: dict[str, str | int] = {"type": self.type, "code": self.code, "message": self.message}
        if self.row is not None:
            out["row"] = self.row
        if self.index is not None:
            out["index"] = self.index
        return out


@dataclass
class ParsedCsv:
    """The parts of papaparse's result the validator uses."""

    linebreak: str
    """``meta.linebreak``: ``"\\n"``, ``"\\r\\n"`` or ``"\\r"``."""
    delimiter: str
    """``meta.delimiter``: ``","``, ``"\\t"`` or ``";"`` (``","`` when undetectable)."""
    fields: list[str]
    """``meta.fields``: the header row after papaparse (may hold duplicates, see RULES §2.4)."""
    rows: list[list[str]]
    """Data rows (header and empty rows removed), as parsed: a row may be shorter or longer
    than ``fields``."""
    errors: list[ParseError]
    """``errors``, in papaparse's order (quotes, delimiter, then field counts by row)."""

    @property
    def fatal(self) -> bool:
        """Whether the reference stops here (``parseOk: false``)."""
        return any(e.code in FATAL_CODES for e in self.errors)

    def row_objects(self) -> list[dict[str, str | list[str]]]:
        """``data`` as papaparse builds it (the reference's ``parsedRows``), keys in JSON order."""
        return [_row_object(self.fields, row) for row in self.rows]


def parse_csv(text: str) -> ParsedCsv:
    """``Papa.parse(text, {header: true, skipEmptyLines: true, delimitersToGuess})``."""
    if text.startswith("\ufeff"):  # CsvToJson's stripBom (a third one after decoding, RULES §2.3)
        text = text[1:]
    has_quote = '"' in text  # papaparse's fast mode test, done once (a full scan)
    linebreak = guess_linebreak(text)
    guessed = guess_delimiter(text, linebreak, has_quote)
    delimiter = guessed if guessed is not None else DEFAULT_DELIMITER
    with gc_paused():
        if has_quote:
            rows, errors = _parse_rows(text, delimiter, linebreak, preview=0, has_quote=True)
            if rows:  # Parser's returnable(): the first parsed row, empty or not, is the header
                rows[0] = rename_headers(rows[0])
            rows = [row for row in rows if len(row) != 1 or row[0]]  # skipEmptyLines
        else:
            rows, errors = _split_rows(text, delimiter, linebreak), []
    if guessed is None:
        errors.append(
            ParseError(
                "Delimiter",
                "UndetectableDelimiter",
                f"Unable to auto-detect delimiting character; defaulted to '{DEFAULT_DELIMITER}'",
            )
        )
    fields = rows[0] if rows else []
    del rows[:1]
    errors += _field_count_errors(rows, len(fields))
    return ParsedCsv(linebreak, delimiter, fields, rows, errors)


def _split_rows(text: str, delimiter: str, linebreak: str) -> list[list[str]]:
    """Text without quotes: papaparse's fast mode, header renamed, empty lines dropped.

    An empty line is the only line whose split is ``[""]``, so it can be dropped before
    splitting. The header is renamed only when it is the first line (papaparse renames the
    first parsed row, and a leading empty line is renamed instead, for nothing); renaming
    happens before empty rows are removed.
    """
    if not text:
        return []
    lines = text.split(linebreak)
    rows = [line.split(delimiter) for line in lines if line]
    if lines[0]:
        rows[0] = rename_headers(rows[0])
        if rows[0] == [""]:  # the line was just U+FEFF: empty once renamed, then skipped
            del rows[0]
    return rows


def _is_empty_row(row: list[str]) -> bool:
    """``testEmptyLine`` with ``skipEmptyLines: true``: exactly one empty field."""
    return len(row) == 1 and row[0] == ""


def _field_count_errors(rows: list[list[str]], expected: int) -> list[ParseError]:
    errors = []
    for i in [i for i, row in enumerate(rows) if len(row) != expected]:
        got = len(rows[i])
        if got > expected:
            code, message = (
                "TooManyFields",
                f"Too many fields: expected {expected} fields but parsed {got}",
            )
        else:
            code, message = (
                "TooFewFields",
                f"Too few fields: expected {expected} fields but parsed {got}",
            )
        errors.append(ParseError("FieldMismatch", code, message, row=i))
    return errors


# ---------------------------------------------------------------------------------------------
# Header


def rename_headers(header: list[str]) -> list[str]:
    """The header block of papaparse 5.7.1's ``returnable()``.

    Each name loses one leading U+FEFF; a name seen before becomes ``name_<k>`` with the first
    ``k`` (from the name's count so far) that is not already a raw or produced name. The count
    grows by one per duplicate, whatever ``k`` was used.
    """
    used = set(header)
    counts: dict[str, int] = {}
    out = []
    for raw in header:
        name = raw[1:] if raw.startswith("\ufeff") else raw
        if not counts.get(name):
            counts[name] = 1
            out.append(name)
        else:
            suffix = counts[name]
            while f"{name}_{suffix}" in used:
                suffix += 1
            renamed = f"{name}_{suffix}"
            used.add(renamed)
            out.append(renamed)
            counts[name] += 1
        used.add(name)
    return out


def _row_object(fields: list[str], cells: list[str]) -> dict[str, str | list[str]]:
    """``processRow`` of ParserHandle with ``header: true`` (no typing, no transform).

    The JS tests the *name*: a column literally named ``__parsed_extra`` collects its values in
    the same array as the extra cells. Later duplicate names overwrite earlier values.
    """
    obj: dict[str, str | list[str]] = {}
    for j, value in enumerate(cells):
        key = fields[j] if j < len(fields) else PARSED_EXTRA
        if key == PARSED_EXTRA:
            extra = obj.get(PARSED_EXTRA)
            if not isinstance(extra, list):
                extra = obj[PARSED_EXTRA] = []
            extra.append(value)
        elif key != "__proto__":  # JS ignores a string assigned to __proto__
            obj[key] = value
    return _js_key_order(obj)


def _is_array_index(key: str) -> bool:
    return (
        key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < 2**32 - 1
    )


def _js_key_order(obj: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
    """JS objects list integer-like keys first, ascending, then the others in insertion order."""
    numeric = [k for k in obj if _is_array_index(k)]
    if not numeric:
        return obj
    ordered = {k: obj[k] for k in sorted(numeric, key=int)}
    ordered.update((k, v) for k, v in obj.items() if k not in ordered)
    return ordered


# ---------------------------------------------------------------------------------------------
# Guessing


def guess_linebreak(text: str) -> str:
    """``ParserHandle.guessLineEndings`` (quote char ``"``)."""
    head = _QUOTED_SPAN.sub("", _js_prefix(text, _GUESS_LINEBREAK_UNITS))
    first_cr = head.find("\r")
    if first_cr == -1:  # r.length === 1
        return "\n"
    first_lf = head.find("\n")
    if first_lf != -1 and first_lf < first_cr:  # n.length > 1 && n[0].length < r[0].length
        return "\n"
    pieces = head.count("\r") + 1
    with_lf = head.count("\r\n") + head.startswith("\n")  # pieces of split('\r') starting with \n
    return "\r\n" if with_lf * 2 >= pieces else "\r"


def _js_prefix(text: str, units: int) -> str:
    """``text.substring(0, units)``: JS strings count UTF-16 code units, not code points."""
    head = text[:units]
    if _ASTRAL.search(head) is None:
        return head
    # A surrogate pair cut in two leaves half a character in JS; it is neither a quote nor a
    # line break, so dropping it changes nothing here.
    return head.encode("utf-16-le")[: 2 * units].decode("utf-16-le", errors="ignore")


def guess_delimiter(text: str, linebreak: str, has_quote: bool | None = None) -> str | None:
    """``ParserHandle.guessDelimiter`` (papaparse 5.7.1), None when no candidate qualifies.

    For each candidate, the first 10 rows are parsed; empty rows are skipped; ``avg`` is the
    mean field count of the others and ``delta`` the sum of field-count changes between them.
    A candidate needs ``avg > 1.99``; the smallest delta wins, a tie goes to the strictly larger
    average, then to the earlier candidate.
    """
    best: str | None = None
    best_delta = 0
    best_avg = 0.0
    for delimiter in DELIMITERS:
        rows, _ = _parse_rows(text, delimiter, linebreak, _PREVIEW_ROWS, has_quote)
        counts = [len(row) for row in rows if not _is_empty_row(row)]
        if not counts:  # JS: 0 (no row at all) or 0 / 0 = NaN (only empty rows): not > 1.99
            continue
        avg = sum(counts) / len(counts)
        delta = sum(abs(b - a) for a, b in pairwise(counts))
        if avg > 1.99 and (
            best is None or delta < best_delta or (delta == best_delta and avg > best_avg)
        ):
            best, best_delta, best_avg = delimiter, delta, avg
    return best


# ---------------------------------------------------------------------------------------------
# Parser


def _parse_rows(
    text: str,
    delimiter: str,
    newline: str,
    preview: int,
    has_quote: bool | None = None,
) -> tuple[list[list[str]], list[ParseError]]:
    """``Parser.parse`` (no header handling): all rows, or the first ``preview`` ones if > 0."""
    if not text:
        return [], []
    if has_quote is None:
        has_quote = '"' in text
    if not has_quote:  # papaparse's fast mode, exactly
        if preview:
            lines = _head(text, newline, preview).split(newline)[:preview]
        else:
            lines = text.split(newline)
        return [line.split(delimiter) for line in lines], []
    parser = _SlowParser(text, delimiter, newline, preview)
    parser.run()
    indexes = _js_indexes(text, [index for _, _, index in parser.errors])
    errors = [
        _quote_error(code, row, index)
        for (code, row, _), index in zip(parser.errors, indexes, strict=True)
    ]
    return parser.data, errors


def _js_indexes(text: str, indexes: list[int]) -> list[int]:
    """Code-point indexes as JS (UTF-16) string indexes: astral characters count twice."""
    if not indexes or _ASTRAL.search(text, 0, max(indexes)) is None:
        return indexes
    astral = [m.start() for m in _ASTRAL.finditer(text, 0, max(indexes))]
    return [index + bisect_left(astral, index) for index in indexes]


def _head(text: str, newline: str, lines: int) -> str:
    """The text up to the end of its ``lines``-th line (without copying the rest)."""
    pos = -1
    for _ in range(lines):
        pos = text.find(newline, pos + 1)
        if pos == -1:
            return text
    return text[:pos]


def _quote_error(code: str, row: int, index: int) -> ParseError:
    if code == "MissingQuotes":
        return ParseError("Quotes", code, "Quoted field unterminated", row=row, index=index)
    return ParseError(
        "Quotes", code, "Trailing quote on quoted field is malformed", row=row, index=index
    )


@cache
def _row_patterns(delimiter: str, newline: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Regexes for one *well-formed* row, and for its fields.

    Well formed: every field starting with ``"`` is ``"..."`` (inner quotes doubled) followed
    directly by the delimiter, the line break or the end of the text. Papaparse's quote loop
    pairs inner ``""`` left to right exactly like ``(?:[^"]|"")*+`` and accepts the first lone
    quote when the delimiter or line break follows it (no spaces in between), so it returns the
    same fields. Unquoted fields run to the next delimiter or line break, quotes included.
    """
    d = re.escape(delimiter)
    if newline == "\r\n":
        unquoted_char = f"(?:[^{d}\\r]|\\r(?!\\n))"
    else:
        unquoted_char = f"[^{d}{re.escape(newline)}]"
    field = f'(?:"(?:[^"]|"")*+"|(?!"){unquoted_char}*+)'
    row = re.compile(f"({field}(?:{d}{field})*+)({re.escape(newline)}|\\Z)")
    cells = re.compile(f'"((?:[^"]|"")*+)"{d}|((?!")[^{d}]*+){d}')
    return row, cells


class _SlowParser:
    """papaparse's ``Parser.parse`` loop for text containing quotes.

    Rows are taken by the cheapest exact means, tried in order:

    1. whole lines before the line holding the next ``"`` are split like in fast mode;
    2. a line that is only ``"..."`` fields without inner quotes is cut on ``"<delimiter>"``;
    3. a row that :func:`_row_patterns` accepts (possibly spanning lines) is cut by regex;
    4. anything else goes field by field through the JS logic (``_field_loop``).

    Positions are code-point indexes; ``_js_indexes`` converts error indexes to UTF-16 units.
    """

    def __init__(self, text: str, delimiter: str, newline: str, preview: int) -> None:
        self.text = text
        self.delimiter = delimiter
        self.newline = newline
        self.preview = preview
        self.data: list[list[str]] = []
        self.errors: list[tuple[str, int, int]] = []  # (code, row, index)
        self.row_re, self.cells_re = _row_patterns(delimiter, newline)
        self.quoted_sep = '"' + delimiter + '"'

    def _full(self) -> bool:
        return bool(self.preview) and len(self.data) >= self.preview

    def run(self) -> None:
        text, newline = self.text, self.newline
        cursor = 0
        while not self._full():
            quote = text.find('"', cursor)
            if quote == -1:
                self._plain_lines(cursor, len(text))
                return
            line_start = text.rfind(newline, cursor, quote)
            if line_start != -1:
                self._plain_lines(cursor, line_start)
                cursor = line_start + len(newline)
                if self._full():
                    return
            next_cursor = self._row_with_quote(cursor)
            if next_cursor is None:
                return
            cursor = next_cursor

    def _plain_lines(self, start: int, end: int) -> None:
        """Rows for ``text[start:end]``: whole lines without quotes, split as in fast mode."""
        text, newline, delimiter = self.text, self.newline, self.delimiter
        if not self.preview:
            chunk = text[start:end].split(newline)
        else:  # only the lines needed, without copying the rest
            chunk = []
            for _ in range(self.preview - len(self.data)):
                line_end = text.find(newline, start, end)
                if line_end == -1:
                    chunk.append(text[start:end])
                    break
                chunk.append(text[start:line_end])
                start = line_end + len(newline)
        self.data.extend(line.split(delimiter) for line in chunk)

    def _row_with_quote(self, cursor: int) -> int | None:
        """One row starting at ``cursor`` whose first line holds a quote; the next row's start."""
        text, newline = self.text, self.newline
        line_end = text.find(newline, cursor)
        end = len(text) if line_end == -1 else line_end
        line = text[cursor:end]
        if len(line) >= 2 and line[0] == '"' and line[-1] == '"':
            values = line[1:-1].split(self.quoted_sep)
            if line.count('"') == 2 * len(values):  # no other quote: '"c1";"c2";...;"cn"'
                self.data.append(values)
                return None if line_end == -1 else line_end + len(newline)
        m = self.row_re.match(text, cursor)
        if m is None:
            return self._field_loop(cursor)
        body = m.group(1)
        if '"' in body:
            cells: list[tuple[str, str]] = self.cells_re.findall(body + self.delimiter)
            self.data.append([q.replace('""', '"') if q else u for q, u in cells])
        else:
            self.data.append(body.split(self.delimiter))
        return m.end() if m.group(2) else None  # no line break: the row ended with the text

    def _field_loop(self, cursor: int) -> int | None:
        """One row from ``cursor``, as papaparse parses it; the next row's start, None at the end.

        Between quoted fields, papaparse cuts unquoted fields at every delimiter before the next
        line break; a field is quoted only when it starts with ``"`` (at the row start or right
        after a delimiter), so the unquoted run before the first ``delimiter + '"'`` is split at
        once.
        """
        text, delim, newline = self.text, self.delimiter, self.newline
        row: list[str] = []
        quoted_start = delim + '"'
        while True:
            if text.startswith('"', cursor):
                result = self._quoted_field(cursor, row)
                if result is None:
                    return None
                cursor, row_done = result
                if row_done:
                    return cursor
                continue
            nl = text.find(newline, cursor)
            end = len(text) if nl == -1 else nl
            k = text.find(quoted_start, cursor, end)
            if k != -1:
                row.extend(text[cursor:k].split(delim))
                cursor = k + len(delim)
                continue
            row.extend(text[cursor:end].split(delim))
            self.data.append(row)
            if nl == -1:
                return None  # finish(): the rest of the text was the last row
            return nl + len(newline)

    def _quoted_field(self, cursor: int, row: list[str]) -> tuple[int, bool] | None:
        """The ``input[cursor] === quoteChar`` branch: (next cursor, row ended), None at the end."""
        text, delim, newline = self.text, self.delimiter, self.newline
        n = len(text)
        quote = cursor
        cursor += 1  # skip the opening quote
        next_delim = next_newline = -2  # "not searched yet"; -1 is indexOf's "none"
        while True:
            quote = text.find('"', quote + 1)
            if quote == -1:
                self.errors.append(("MissingQuotes", len(self.data), cursor))
                row.append(text[cursor:])
                self.data.append(row)
                return None
            if quote == n - 1:  # closing quote at EOF
                row.append(text[cursor:quote].replace('""', '"'))
                self.data.append(row)
                return None
            if text[quote + 1] == '"':  # escaped quote
                quote += 1
                continue
            # indexOf caches, refreshed when behind the candidate quote (as the JS does)
            if next_delim == -2 or (next_delim != -1 and next_delim < quote + 1):
                next_delim = text.find(delim, quote + 1)
            if next_newline == -2 or (next_newline != -1 and next_newline < quote + 1):
                next_newline = text.find(newline, quote + 1)
            check_up_to = next_delim if next_newline == -1 else min(next_delim, next_newline)
            after = quote + 1 + self._extra_spaces(quote, check_up_to)
            if text.startswith(delim, after):
                row.append(text[cursor:quote].replace('""', '"'))
                return after + len(delim), False
            after = quote + 1 + self._extra_spaces(quote, next_newline)
            if text.startswith(newline, after):
                row.append(text[cursor:quote].replace('""', '"'))
                self.data.append(row)
                return after + len(newline), True
            self.errors.append(("InvalidQuotes", len(self.data), cursor))
            quote += 1

    def _extra_spaces(self, quote: int, index: int) -> int:
        """``extraSpaces``: length of a non-empty whitespace-only text between quote and index.

        JS trims the whole substring; matching the whitespace run only is O(run), not O(gap).
        """
        if index == -1:
            return 0
        run = _JS_WHITESPACE_RUN.match(self.text, quote + 1, index)
        assert run is not None  # matches the empty string
        return index - quote - 1 if run.end() == index else 0
