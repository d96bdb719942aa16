"""Reading the rows of a big file on several cores, with the one-process result.

Reading rows is CPU-bound Python (the GIL rules threads out). A text without quotes splits at
any line break into ranges that read exactly like the whole (:meth:`PlainLines.ranges`), and
rows are read independently of each other (every memo is a pure function of its key). So the
first range is read here while forked children (:mod:`._fork`) read the others; each range
gives a :class:`Part` and :func:`merge` puts them together exactly as one reader would have:

* a ``FieldCountMismatch`` anywhere makes the whole CSV fatal, as it does when met after a
  crash (the one-process path still counts the rows after a crash, and meets it there);
* otherwise the first crash, in row order, is the file's, with the rows of every range counted;
* otherwise the tables are appended, row indexes shifted by the rows before each range.

Rows shared by identity (:class:`Commune`, :class:`Names`) are not merged across ranges: the
cross-row checks only use that identity to decide once per object, never to compare rows.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from guichet.bal import _fast, _fork
from guichet.bal._columns import Chunk, ColumnarCsv, FieldCountMismatch, PlainLines
from guichet.bal._reader import RowsReader
from guichet.bal._rows import Coding, ReferenceCrash, RowTable

if TYPE_CHECKING:
    from numpy.typing import NDArray

Progress = Callable[[int, int], None]
"""Called with (rows done, rows in all) while rows are read."""

MIN_PARALLEL_CHARS = 4_000_000
"""Below this (about 20k rows), forking costs more than it saves."""
MAX_PROCESSES = 2
PARENT_SHARE = 1.12
"""This process reads 12 % more than an equal share: a child's result is pickled there and
unpickled here (~0.05 s on 50k rows of 1.4, measured), and the parent would wait for it."""


class CrashedRows(Exception):
    """The reference throws on a row: ``crash``, in a file of ``rows`` data rows."""

    def __init__(self, crash: ReferenceCrash, rows: int) -> None:
        super().__init__(str(crash))
        self.crash = crash
        self.rows = rows


@dataclass
class Part:
    """What reading one range of rows gave (row indexes local to the range)."""

    rows: int
    """Every data row of the range, those after a crash included."""
    table: RowTable | None = None
    crash: tuple[int, str, str] | None = None
    """(line, message, reference error) of a :class:`ReferenceCrash` (an exception does not
    travel through pickle with its own arguments)."""
    mismatch: bool = False

    def __getstate__(self) -> dict[str, object]:
        """What a child sends, quick to pickle and unpickle: each column of shared values
        (communes, names, ids...) as its distinct values and every row's code (a list of refs
        cost ~0.07 µs a row each way, ~7 ms for names alone on 50k rows, measured); the adresse
        ids go as their bytes (:class:`AdresseIds`). The parent waits for all of it."""
        state = dict(self.__dict__)
        table = self.table
        if table is None:
            return state
        coded = {
            name: _coded(values)
            for name in _CODED_COLUMNS
            if (values := getattr(table, name)) is not None
        }
        sent: dict[str, Any] = dict.fromkeys(coded)
        sent["codes"] = {}
        state["table"] = replace(table, **sent)
        state["coded_columns"] = coded
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        coded: dict[str, tuple[list[Any], NDArray[np.integer[Any]]]]
        coded = state.pop("coded_columns", {})
        self.__dict__.update(state)
        if self.table is None:
            return
        for name, (distinct, codes) in coded.items():
            wide = codes.astype(np.int64)  # (np.intp where take() needs it)
            setattr(self.table, name, _fast.take(distinct, wide.astype(np.intp, copy=False)))
            self.table.codes[name] = (wide, distinct)  # the cross-row checks' too


_CODED_COLUMNS = (
    "numero",
    "communes",
    "names",
    "suffixe",
    "code_voie",
    "id_commune",
    "id_toponyme",
)
"""The table's columns whose values repeat (one object for many rows)."""


def _coded(values: list[Any]) -> tuple[list[Any], NDArray[np.integer[Any]]]:
    """The distinct values and each row's code, in the narrowest type that holds them."""
    codes, distinct = _fast.factorize(values)
    return distinct, codes.astype(np.uint16 if len(distinct) <= 1 << 16 else np.int32)


def _code_columns(table: RowTable | None) -> None:
    """Code the columns a child codes for sending (:meth:`RowTable.coded`), so that the
    cross-row checks find them all coded (done while the child's result is awaited)."""
    if table is None:
        return
    for name in _CODED_COLUMNS:
        if getattr(table, name) is not None:
            table.coded(name)


def _merged_coding(first: Coding, then: Coding) -> Coding:
    """The coding of two columns one after the other: what ``_fast.factorize`` gives of the
    whole (codes by first appearance), from each part's; ``then``'s distinct values are few."""
    codes, distinct = first[0], list(first[1])
    code_of = dict(zip(distinct, range(len(distinct)), strict=True))
    recode = np.empty(len(then[1]), dtype=np.int64)
    for k, value in enumerate(then[1]):
        code = code_of.setdefault(value, len(distinct))
        if code == len(distinct):
            distinct.append(value)
        recode[k] = code
    return np.concatenate([codes, recode[then[0]]]), distinct


def read_rows(
    new_reader: Callable[[], RowsReader],
    parsed: ColumnarCsv,
    estimate: int,
    progress: Progress | None = None,
    processes: int | None = None,
) -> RowTable:
    """Every row of ``parsed``, on up to ``processes`` processes (default: the cores, at most
    :data:`MAX_PROCESSES`, for a text of :data:`MIN_PARALLEL_CHARS` or more); a quoted text, or
    a platform without ``fork``, is read here.

    Raises :class:`FieldCountMismatch` (fatal CSV) or :class:`CrashedRows`.
    """
    ranges = _ranges(parsed.plain, processes)
    if len(ranges) < 2 or parsed.plain is None:
        parts = [_read_part(new_reader(), parsed.chunks, _Progress(progress, estimate, None, 0))]
    else:
        parts = _read_forked(new_reader, parsed.plain, ranges, progress, estimate)
    table = merge(parts)
    if progress is not None:
        progress(table.count, table.count)
    return table


def _ranges(plain: PlainLines | None, processes: int | None) -> list[tuple[int, int]]:
    """The ranges of lines to read on separate processes (none: read ``chunks`` here)."""
    if plain is None or not _fork.can_fork():
        return []
    if processes is None:
        if len(plain.text) < MIN_PARALLEL_CHARS:
            return []
        processes = min(_cores(), MAX_PROCESSES)
    if processes < 2:
        return []
    return plain.ranges(processes, first=min(1.0, PARENT_SHARE / processes))


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def _read_forked(
    new_reader: Callable[[], RowsReader],
    plain: PlainLines,
    ranges: list[tuple[int, int]],
    progress: Progress | None,
    estimate: int,
) -> list[Part]:
    """The first range read here, the others by children started just before."""
    done = _SharedCounts(len(ranges)) if progress is not None else None

    def work(k: int) -> Callable[[], Part]:
        start, stop = ranges[k]
        # only the first range reports progress: the others add their counts to ``done``
        report = _Progress(progress if k == 0 else None, estimate, done, k)
        return lambda: _read_part(new_reader(), plain.chunks(start, stop), report)

    children: list[_fork.Forked[Part]] = []
    try:
        for k in range(1, len(ranges)):
            children.append(_fork.Forked(work(k)))
        parts = [work(0)()]
        if parts[0].mismatch:  # fatal whatever the other ranges hold: no need to wait
            return parts
        _code_columns(parts[0].table)
        parts += [child.result() for child in children]
    finally:
        for child in children:
            child.close()
    return parts


class _SharedCounts:
    """Rows read so far by each process, in memory shared across ``fork`` (an anonymous
    shared mapping: the children's writes are seen here)."""

    def __init__(self, processes: int) -> None:
        self._memory = mmap.mmap(-1, 8 * processes)
        self._processes = processes

    def set(self, k: int, rows: int) -> None:
        struct.pack_into("q", self._memory, 8 * k, rows)

    def total(self) -> int:
        return sum(struct.unpack_from(f"{self._processes}q", self._memory, 0))


@dataclass
class _Progress:
    """After each chunk: the rows read so far told to ``progress`` and to the shared counts."""

    progress: Progress | None
    estimate: int
    shared: _SharedCounts | None
    slot: int

    def __call__(self, rows: int) -> None:
        if self.shared is not None:
            self.shared.set(self.slot, rows)
        if self.progress is not None:
            done = rows if self.shared is None else self.shared.total()
            self.progress(done, max(self.estimate, done))


def _read_part(reader: RowsReader, chunks: Iterator[Chunk], after_chunk: _Progress) -> Part:
    """Read ``chunks``; a crash or a field count mismatch ends the part (see :func:`merge`)."""
    try:
        for chunk in chunks:
            reader.read_chunk(chunk)
            after_chunk(reader.table.count)
            if not _fork.parent_alive():  # an orphaned child: nobody wants the result
                os._exit(1)
    except FieldCountMismatch:
        return Part(rows=0, mismatch=True)
    except ReferenceCrash as crash:
        try:  # the rows not read yet still count (and may still make the CSV fatal)
            rows = reader.rows_seen + _count_rows(chunks)
        except FieldCountMismatch:
            return Part(rows=0, mismatch=True)
        return Part(rows, crash=(crash.line, crash.message, crash.reference_error))
    return Part(reader.table.count, reader.table)


def _count_rows(chunks: Iterable[Chunk]) -> int:
    return sum(chunk.size for chunk in chunks)


def merge(parts: list[Part]) -> RowTable:
    """The parts of consecutive ranges as one table (raises as :func:`read_rows` does)."""
    if any(part.mismatch for part in parts):
        raise FieldCountMismatch
    offset = 0
    for part in parts:
        if part.crash is not None:
            line, message, reference_error = part.crash
            rows = sum(p.rows for p in parts)
            raise CrashedRows(ReferenceCrash(offset + line, message, reference_error), rows)
        offset += part.rows
    tables = [part.table for part in parts if part.table is not None]
    table = tables[0]
    for more in tables[1:]:
        _append(table, more)
    return table


def _append(table: RowTable, more: RowTable) -> None:
    """``more``'s rows after ``table``'s."""
    offset = table.count
    table.codes = {
        name: _merged_coding(coding, more.codes[name])
        for name, coding in table.codes.items()
        if name in more.codes
        and len(coding[0]) == table.count  # (else: coded again)
        and len(more.codes[name][0]) == more.count
    }
    table.errors.update({offset + line: errors for line, errors in more.errors.items()})
    table.count += more.count
    table.numero += more.numero
    table.communes += more.communes
    table.names += more.names
    for kept, new in (
        (table.suffixe, more.suffixe),
        (table.code_voie, more.code_voie),
        (table.id_commune, more.id_commune),
        (table.id_toponyme, more.id_toponyme),
    ):
        if kept is not None and new is not None:
            kept += new
    if table.id_adresse is not None and more.id_adresse is not None:
        table.id_adresse.extend(more.id_adresse)
