"""Reading one BAL file for the diff: the validator's decoding and CSV step, then only what the
diff needs from each row (no validation).

* :func:`open_bal` — bytes or a path to text, header, delimiter and line break, with the
  validator's modules (:func:`._encoding.read_text`, :func:`._columns.parse_columns`,
  :func:`._fields.compute_fields`); a file the validator could not parse raises
  :class:`UnreadableBalError`;
* :func:`read_rows` — per row, the matching keys (normalized with the validator's value readers
  and :func:`._text.normalize`) and the *projection*: the compared cells joined by a separator
  that occurs in no cell, so that "unchanged" is one string comparison per pair of rows.

Cells are split chunk by chunk (the whole file's cells as Python strings would take ~20 times
the text), and every value-level computation runs once per distinct value (memo dictionaries
read through ``map``, at C speed): a 250k-row file is read in a few tenths of a second.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import compress, islice, repeat
from pathlib import Path
from typing import Any

from guichet.bal._columns import (
    ColumnarCsv,
    FieldCountMismatch,
    ListChunk,
    PlainLines,
    parse_columns,
)
from guichet.bal._csv import ParsedCsv
from guichet.bal._diff_fields import Layout, layout_of
from guichet.bal._encoding import BalFileError, BinaryFileError, UnsupportedEncodingError, read_text
from guichet.bal._text import JS_WHITESPACE, NormalizeError, js_trim, normalize
from guichet.bal._values import UNSET, ValueReader

Source = bytes | bytearray | memoryview | str | os.PathLike[str]
"""Bytes of a file, or its path (a ``str`` is a path, as for :func:`guichet.bal.validate`)."""

Key = tuple[str | None, str, int | str | None, str | None]
"""(commune, normalized voie name, numero, suffixe) of a row: see :func:`_keys`."""

_SEPARATORS = "\x1f\x1e\x1d\x1c\x00"
"""Candidates for the projection separator and the end-of-row mark (:func:`_projections`):
the first two absent from the text."""


class UnreadableBalError(Exception):
    """A file the diff cannot read: missing, binary, unsupported encoding, or a CSV the
    validator cannot parse. ``message`` is one French sentence for a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.side: str | None = None
        """``"old"`` or ``"new"`` once :func:`guichet.bal.diff` knows which file it is."""


@dataclass
class OpenedBal:
    """A decoded file and its header: what both sides need before their rows are read."""

    text: str
    encoding: str
    delimiter: str
    linebreak: str
    header: list[str]
    layout: Layout
    plain: PlainLines | None
    """The data lines of a text without quotes (the validator's chunking); None for a quoted
    text, whose rows are in ``quoted_rows``."""
    quoted_rows: list[tuple[str, ...]] | None = None

    def records(self) -> list[str] | list[tuple[str, ...]]:
        """Every data row: its line (text without quotes) or its cells (quoted text)."""
        if self.quoted_rows is not None:
            return self.quoted_rows
        assert self.plain is not None
        lines = self.text[self.plain.start :].split(self.linebreak)
        if "" in lines:  # papaparse's skipEmptyLines: the only lines that split to [""]
            lines = list(filter(None, lines))
        return lines

    def cells(self, record: str | tuple[str, ...]) -> Sequence[str]:
        """The cells of one of :meth:`records`."""
        return record if isinstance(record, tuple) else record.split(self.delimiter)


def open_bal(source: Source) -> OpenedBal:
    """Decode ``source`` and read its header as the validator does; raises
    :class:`UnreadableBalError` where the validator would report an unreadable file."""
    try:
        buf = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else None
        if buf is None:
            buf = Path(source).read_bytes()  # type: ignore[arg-type]  # str or PathLike here
    except OSError as exc:
        raise UnreadableBalError("file.unreadable", _os_message(exc)) from None
    try:
        encoding, text = read_text(buf)
    except BinaryFileError as exc:
        message = f"ce n’est pas un fichier texte (format détecté : {exc.kind})"
        raise UnreadableBalError("file.binary", message) from None
    except UnsupportedEncodingError as exc:
        message = f"encodage non pris en charge ({exc.encoding_name})"
        raise UnreadableBalError("file.encoding.unsupported", message) from None
    except BalFileError as exc:
        raise UnreadableBalError(exc.code, exc.message) from None
    del buf
    parsed = parse_columns(text)
    if isinstance(parsed, ParsedCsv):
        raise UnreadableBalError("file.parse", _parse_message(parsed))
    return _opened(text, encoding, parsed)


def _os_message(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "fichier introuvable"
    if isinstance(exc, IsADirectoryError):
        return "c’est un dossier, pas un fichier"
    if isinstance(exc, PermissionError):
        return "lecture non autorisée"
    return f"lecture impossible ({exc.strerror or exc})"


def _opened(text: str, encoding: str, parsed: ColumnarCsv) -> OpenedBal:
    layout = layout_of(parsed.fields)
    common = (encoding, parsed.delimiter, parsed.linebreak, parsed.fields, layout)
    if parsed.plain is not None:
        return OpenedBal(parsed.plain.text, *common, plain=parsed.plain)
    rows: list[tuple[str, ...]] = []
    for chunk in parsed.chunks:
        assert isinstance(chunk, ListChunk)  # a quoted text's rows, transposed
        rows += zip(*chunk.columns, strict=True)
    return OpenedBal(text, *common, plain=None, quoted_rows=rows)


def _parse_message(parsed: ParsedCsv) -> str:
    error = next(e for e in parsed.errors if e.code in _FATAL_MESSAGES)
    where = "" if error.row is None else f" (ligne de données {error.row + 1})"
    return f"CSV illisible : {_FATAL_MESSAGES[error.code]}{where}"


_FATAL_MESSAGES = {
    "MissingQuotes": "un guillemet n’est pas refermé",
    "UndetectableDelimiter": "séparateur de colonnes introuvable",
    "TooFewFields": "une ligne a moins de colonnes que l’en-tête",
    "TooManyFields": "une ligne a plus de colonnes que l’en-tête",
}


VoieKey = tuple[str | None, str]
"""(commune, normalized voie name)."""


@dataclass
class SideRows:
    """What the diff needs from the rows of one file (index = data row, blank lines skipped).

    Only lists, dicts, strings and tuples: it is pickled back from a forked child.
    """

    keys: list[Key]
    ids: list[str]
    """``id_ban_adresse`` (or the ``@a:`` id of ``uid_adresse``), lower-cased; '' if none."""
    projections: list[str]
    """The compared cells, as written, joined by ``separator``."""
    separator: str
    spellings: dict[tuple[VoieKey, str], int]
    """How many rows of each voie use each spelling of its name (trimmed ``voie_nom``, else
    ``toponyme``), in order of first appearance."""
    voie_ids: dict[VoieKey, str]
    """The first ``id_ban_toponyme`` (or ``@v:`` id, lower-cased) met in each voie's rows."""
    end_of_row: str = "\x1e"
    """A character absent from the text (see :func:`_projections`)."""

    def __len__(self) -> int:
        return len(self.keys)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled compactly (a forked child sends it back): the projections and ids as one
        text each, the keys as four columns of shared values — about 5 times faster than 250k
        strings and tuples one by one."""
        columns = [list(column) for column in zip(*self.keys, strict=True)]
        joiner = self.end_of_row
        packed = (_pack(joiner.join(self.projections)), _pack(joiner.join(self.ids)))
        state = (self.separator, self.spellings, self.voie_ids, joiner, len(self.keys))
        return (_unpack_side_rows, (columns, *packed, state))


def _pack(text: str) -> bytes | str:
    """Latin-1 bytes when possible (encoding and decoding are copies; pickle would encode the
    text to UTF-8 and back), else the text itself."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text


def _unpack_side_rows(
    columns: list[list[Any]],
    projections: bytes | str,
    ids: bytes | str,
    state: tuple[str, dict[tuple[VoieKey, str], int], dict[VoieKey, str], str, int],
) -> SideRows:
    separator, spellings, voie_ids, joiner, size = state

    def unpack(packed: bytes | str) -> list[str]:
        if not size:
            return []
        text = packed.decode("latin-1") if isinstance(packed, bytes) else packed
        return text.split(joiner)

    keys: list[Key] = list(zip(*columns, strict=True)) if columns else []
    return SideRows(keys, unpack(ids), unpack(projections), separator, spellings, voie_ids, joiner)


def read_rows(opened: OpenedBal, compared: Sequence[str], today_reader: ValueReader) -> SideRows:
    """Keys, ids, voies and projections of every row of ``opened``."""
    absent = list(islice((s for s in _SEPARATORS if s not in opened.text), 2))
    if len(absent) < 2:  # pragma: no cover - a text holding four of five control characters
        raise UnreadableBalError("file.parse", "caractères de contrôle inattendus dans le texte")
    rows = _RowsBuilder(opened.layout, compared, today_reader, *absent)
    try:
        for columns in _column_chunks(opened, absent[1]):
            rows.add(columns)
    except FieldCountMismatch:  # the validator's chunking finds it while reading
        message = "CSV illisible : une ligne n’a pas autant de colonnes que l’en-tête"
        raise UnreadableBalError("file.parse", message) from None
    return rows.result


def _column_chunks(opened: OpenedBal, mark: str) -> Iterator[Sequence[Sequence[str]]]:
    """The rows, chunk by chunk, as columns (``columns[j][i]``)."""
    if opened.plain is not None:
        yield from _plain_columns(opened.plain, mark)
        return
    rows = opened.quoted_rows or []
    for start in range(0, len(rows), _QUOTED_CHUNK_ROWS):
        yield list(zip(*rows[start : start + _QUOTED_CHUNK_ROWS], strict=True))


def _plain_columns(plain: PlainLines, mark: str) -> Iterator[Sequence[Sequence[str]]]:
    """``plain.chunks()``'s columns, without making each line a string first.

    A chunk's line breaks become a cell ``mark`` (absent from the text) and one split gives
    every cell: the rows are exactly the lines when the marks fall every ``width + 1`` cells.
    A chunk where they do not (a short or long row), or with an empty line, goes through
    ``plain.chunks`` for that range: the validator's own reading (it skips empty lines and
    raises :class:`FieldCountMismatch`).
    """
    text, linebreak, delimiter, width = plain.text, plain.linebreak, plain.delimiter, plain.width
    stride = width + 1
    start, stop = plain.start, len(text)
    while start < stop:
        end = text.find(linebreak, start + plain.chunk_chars, stop)
        if end == -1:
            end = stop
        piece = text[start:end]
        lines = piece.count(linebreak) + 1
        flat = piece.replace(linebreak, delimiter + mark + delimiter).split(delimiter)
        del piece
        if len(flat) == lines * stride - 1 and flat[width::stride].count(mark) == lines - 1:
            yield [flat[j::stride] for j in range(width)]
        else:  # an empty line or a row of another width: the validator's path decides
            for chunk in plain.chunks(start, end):
                assert isinstance(chunk, ListChunk)
                yield chunk.columns
        start = end + len(linebreak)


class _RowsBuilder:
    """Accumulates :class:`SideRows` chunk by chunk; every value is read once (memo dicts)."""

    def __init__(
        self,
        layout: Layout,
        compared: Sequence[str],
        reader: ValueReader,
        separator: str,
        end_of_row: str,
    ) -> None:
        self.layout = layout
        self.compared = list(compared)
        self.result = SideRows([], [], [], separator, {}, {}, end_of_row)
        self._end_of_row = end_of_row
        self._has_ids = bool({"id_ban_adresse", "id_ban_toponyme"} & layout.fields)
        self._communes = _Memo(_reader_value(reader, "commune_insee"))
        self._cle_communes = _Memo(lambda raw: _cle_commune(reader, raw))
        self._voies = _Memo(lambda cells: _voie(reader, cells))
        self._voies_only = _Memo(lambda raw: _voie(reader, (raw, "")))
        self._numeros = _Memo(lambda raw: _numero(reader, raw))
        self._suffixes = _Memo(lambda raw: js_trim(raw) or None)
        self._uids = _Memo(lambda raw: _uid_ids(reader, raw))

    def add(self, columns: Sequence[Sequence[str]]) -> None:
        size = len(columns[0]) if columns else 0
        if not size:
            return
        cells = _ChunkCells(self.layout, columns, size, self._uids)
        result = self.result
        voies = self._voies_of(cells)
        communes = self._communes_of(cells)
        norms = [norm for _, norm in voies]
        numeros = map(self._numeros.__getitem__, cells.field("numero"))
        suffixes = map(self._suffixes.__getitem__, cells.field("suffixe"))
        result.keys += zip(communes, norms, numeros, suffixes, strict=False)  # maps: no len
        commune_voies = list(zip(communes, voies, strict=True))  # shared by both counts
        self._count_spellings(commune_voies)
        if self._has_ids:
            result.ids += _id_keys(cells.field("id_ban_adresse"))
            self._first_voie_ids(commune_voies, _id_keys(cells.field("id_ban_toponyme")))
        else:
            result.ids += repeat("", size)
        result.projections += _projections(
            cells, self.compared, size, result.separator, self._end_of_row
        )

    def _voies_of(self, cells: _ChunkCells) -> list[tuple[str, str]]:
        """(name as written, normalized name) of every row, one shared tuple per distinct
        cells."""
        if "toponyme" in self.layout.columns:
            return list(map(self._voies.__getitem__, cells.name_cells()))
        return list(map(self._voies_only.__getitem__, cells.field("voie_nom")))

    def _communes_of(self, cells: _ChunkCells) -> list[str | None]:
        """``commune_insee`` where the validator reads a value there, else the commune part of
        ``cle_interop`` (the validator's ``codeCommune(row)``)."""
        communes = list(map(self._communes.__getitem__, cells.field("commune_insee")))
        if None in communes and "cle_interop" in self.layout.columns:
            cles = cells.field("cle_interop")
            for i in [i for i, commune in enumerate(communes) if commune is None]:
                communes[i] = self._cle_communes[cles[i]]
        return communes

    def _count_spellings(self, voies: list[tuple[str | None, tuple[str, str]]]) -> None:
        """``voies``: (commune, (name, normalized name)) of every row of the chunk."""
        spellings = self.result.spellings
        for (commune, (name, norm)), count in Counter(voies).items():
            if norm:  # rows without a voie name belong to no voie
                key = ((commune, norm), name)
                spellings[key] = spellings.get(key, 0) + count

    def _first_voie_ids(
        self, voies: list[tuple[str | None, tuple[str, str]]], voie_ids: list[str]
    ) -> None:
        ided = list(compress(voies, voie_ids))
        # the chunk's first id of each voie: a dict built backwards keeps the first value
        in_chunk = dict(zip(reversed(ided), reversed(list(filter(None, voie_ids))), strict=True))
        first = self.result.voie_ids
        for (commune, (_, norm)), voie_id in in_chunk.items():
            if norm and (commune, norm) not in first:
                first[commune, norm] = voie_id


def _projections(
    cells: _ChunkCells, compared: list[str], size: int, separator: str, end_of_row: str
) -> list[str]:
    """Each row's compared cells joined by ``separator``.

    The columns are interleaved into one list, each row followed by ``end_of_row``, joined
    once and split at ``separator + end_of_row + separator``: one string made per row, no
    per-row tuple. Exact because neither character occurs in the text: no cell contains them,
    so that sequence only occurs at the ends of rows.
    """
    if not compared:
        return [""] * size
    width = len(compared) + 1
    interleaved: list[str] = [end_of_row] * (size * width)
    for position, name in enumerate(compared):
        interleaved[position::width] = cells.field(name)
    rows = separator.join(interleaved).split(separator + end_of_row + separator)
    rows[-1] = rows[-1][: -len(separator + end_of_row)]
    return rows


_QUOTED_CHUNK_ROWS = 4096


class _ChunkCells:
    """The cells of one chunk by field name (1.4 names: BAN ids may come from uid_adresse)."""

    def __init__(
        self, layout: Layout, columns: Sequence[Sequence[str]], size: int, uids: _Memo
    ) -> None:
        self._layout = layout
        self._columns = columns
        self._size = size
        self._uids = uids
        self._uid_ids: list[tuple[str, str, str]] | None = None

    def field(self, name: str) -> Sequence[str]:
        """Every row's cell of ``name`` ('' where the file has no such column)."""
        index = self._layout.columns.get(name)
        column: Sequence[str] = [""] * self._size if index is None else self._columns[index]
        uid_part = _UID_PARTS.get(name)
        if uid_part is None or "uid_adresse" not in self._layout.columns:
            return column
        from_uid = [ids[uid_part] for ids in self._uid_column()]
        if index is None:
            return from_uid
        return [cell or other for cell, other in zip(column, from_uid, strict=True)]

    def _uid_column(self) -> list[tuple[str, str, str]]:
        if self._uid_ids is None:
            raw = self._columns[self._layout.columns["uid_adresse"]]
            self._uid_ids = list(map(self._uids.__getitem__, raw))
        return self._uid_ids

    def name_cells(self) -> Iterator[tuple[str, str]]:
        """(voie_nom, toponyme) cells of every row."""
        return zip(self.field("voie_nom"), self.field("toponyme"), strict=True)


_UID_PARTS = {"id_ban_commune": 0, "id_ban_toponyme": 1, "id_ban_adresse": 2}


class _Memo(dict[Any, Any]):
    """A dict computing missing entries: ``map(memo.__getitem__, column)`` runs at C speed and
    calls Python once per distinct value."""

    def __init__(self, compute: Callable[[Any], Any]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self._compute(key)
        return value


def _reader_value(reader: ValueReader, field: str) -> Callable[[str], Any]:
    read = reader.reader(field)

    def value(raw: str) -> Any:
        result = read(raw).value
        return None if result is UNSET else result

    return value


def _cle_commune(reader: ValueReader, raw: str) -> str | None:
    """The commune of a ``cle_interop`` (``additionalValues.cle_interop.codeCommune``)."""
    additional = reader.read("cle_interop", raw).additional
    return None if additional is None else str(additional["codeCommune"])


def _voie(reader: ValueReader, cells: tuple[str, str]) -> tuple[str, str]:
    """(name as written, normalized name) of ``voieNom(pv) = pv.voie_nom || pv.toponyme``."""
    for field, raw in zip(("voie_nom", "toponyme"), cells, strict=True):
        value = reader.read(field, raw).value
        if value:
            assert isinstance(value, str)
            try:
                return js_trim(raw), normalize(value)
            except NormalizeError:  # the word "constructor": the reference throws; lower-case
                return js_trim(raw), value.lower()
    return "", ""


def _numero(reader: ValueReader, raw: str) -> int | str | None:
    """The parsed numero; a value the validator rejects stays as written (trimmed)."""
    value = reader.read("numero", raw).value
    if isinstance(value, int):
        return value
    return js_trim(raw) or None


def _uid_ids(reader: ValueReader, raw: str) -> tuple[str, str, str]:
    """The ``@c:``, ``@v:``, ``@a:`` ids of a ``uid_adresse`` cell ('' when absent)."""
    additional = reader.read("uid_adresse", raw).additional if raw else None
    if additional is None:
        return "", "", ""
    ids = (additional["idBanCommune"], additional["idBanToponyme"], additional["idBanAdresse"])
    return (ids[0] or "", ids[1] or "", ids[2] or "")


def _id_keys(cells: Sequence[str]) -> list[str]:
    """Trimmed, lower-cased ids (a uuid's case means nothing); '' for an empty cell."""
    joined = "".join(cells)  # one look at the whole column: usually nothing to do
    clean = joined.isascii() and not any(c in joined for c in " \t\n\v\f\r")
    if clean and joined.lower() == joined:  # (str.islower is ~20 times slower)
        return list(cells)
    return list(map(str.lower, map(str.strip, cells, repeat(JS_WHITESPACE))))
