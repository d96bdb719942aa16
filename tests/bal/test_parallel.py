"""Rows read on several processes (``_parallel``, ``_fork``) give the one-process report exactly.

The fork path normally starts at 4 MB; here it is forced on every file, with three processes
and chunks of a few lines, so that ranges and chunks cut files everywhere.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guichet.bal import Report, _fork, _parallel, _validate, validate
from guichet.bal._columns import parse_columns

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "bal" / "corpus"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/bal is not beside the repo")
FILES = sorted(CORPUS.glob("*/*.csv")) if CORPUS.is_dir() else []
TODAY = dt.date(2026, 11, 22)
BRUZ = CORPUS / "ecosystem" / "aitf_bal_35047_bruz_v1.3.csv"
CRASH = CORPUS / "derived" / "edge_crash_ancienne_commune_deleguee.csv"


def _everything(report: Report) -> tuple[Any, ...]:
    return report.summary(), [p.to_json() for p in report.problems()], report.table.numero


def _sequential(data: bytes) -> tuple[Any, ...]:
    return _everything(validate(data, today=TODAY))


def forced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three processes on any file, in chunks of about ``chunk_chars`` characters."""
    monkeypatch.setattr(_parallel, "MIN_PARALLEL_CHARS", 0)
    monkeypatch.setattr(_parallel, "MAX_PROCESSES", 3)
    monkeypatch.setattr(_parallel, "_cores", lambda: 3)
    monkeypatch.setattr(_validate, "parse_columns", partial(parse_columns, chunk_chars=300))


def _no_child_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_corpus_file_gives_the_same_report(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = path.read_bytes()
    expected = _sequential(data)
    forced(monkeypatch)
    assert _everything(validate(data, today=TODAY)) == expected
    assert _no_child_left()


@st.composite
def shuffled_files(draw: st.DrawFn) -> bytes:
    """Real rows (Bruz, the crashing file) in any order, some cut, merged or emptied."""
    lines: list[str] = []
    for source in (BRUZ, CRASH):
        lines += source.read_text("utf-8").splitlines()[1:]
    header = BRUZ.read_text("utf-8").splitlines()[0]
    picked = draw(st.lists(st.sampled_from(lines), min_size=0, max_size=60))
    for _ in range(draw(st.integers(0, 3))):
        if not picked:
            break
        i = draw(st.integers(0, len(picked) - 1))
        edit = draw(st.sampled_from(["cut", "empty", "constructor", "field"]))
        if edit == "cut":
            picked[i] = picked[i][: draw(st.integers(0, len(picked[i])))]
        elif edit == "empty":
            picked[i] = ""
        elif edit == "constructor":
            picked[i] = picked[i].replace("Rue", "Rue constructor", 1)
        else:
            picked[i] += ";extra"
    return ("\n".join([header, *picked]) + "\n").encode("utf-8")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shuffled_files())
def test_any_cut_gives_the_same_report(data: bytes) -> None:
    expected = _sequential(data)
    with pytest.MonkeyPatch.context() as monkeypatch:
        forced(monkeypatch)
        assert _everything(validate(data, today=TODAY)) == expected


def test_a_failing_child_is_replaced_by_the_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    data = BRUZ.read_bytes()
    expected = _sequential(data)
    read_part = _parallel._read_part

    def failing_in_children(*args: Any) -> _parallel.Part:
        if _fork._forked_by is not None:  # in a child
            os.kill(os.getpid(), signal.SIGKILL)
        return read_part(*args)

    forced(monkeypatch)
    monkeypatch.setattr(_parallel, "_read_part", failing_in_children)
    assert _everything(validate(data, today=TODAY)) == expected
    assert _no_child_left()


def test_forked_result_and_fallback() -> None:
    assert _fork.Forked(lambda: [1, "a", None]).result() == [1, "a", None]

    def boom() -> int:
        if _fork._forked_by is not None:
            raise RuntimeError("in the child")
        return 7

    assert _fork.Forked(boom).result() == 7  # computed here after the child failed
    assert _no_child_left()


def test_closing_kills_a_running_child() -> None:
    child = _fork.Forked(lambda: signal.pause())
    child.close()
    child.close()  # idempotent
    assert _no_child_left()


def test_parent_alive_outside_children() -> None:
    assert _fork.parent_alive()


def test_processes_can_be_chosen() -> None:
    data = BRUZ.read_bytes()
    expected = _sequential(data)
    for processes in (1, 2, 4):
        assert _everything(validate(data, today=TODAY, processes=processes)) == expected


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.uuids().map(str),
            st.uuids().map(lambda u: str(u).upper()),
            st.sampled_from(["", "a\nb", "\n", "x"]),
        ),
        max_size=12,
    ),
    st.data(),
)
def test_a_part_sent_by_a_child_reads_back_exactly(
    ids: list[str | None], data: st.DataObject
) -> None:
    """The adresse ids travel as their bytes (or strings), the other columns as distinct
    values and codes: the same part, rows sharing an object (a commune, names) still do."""
    import pickle

    from guichet.bal._ids import AdresseIds
    from guichet.bal._rows import Commune, Names, RowTable

    size = len(ids)
    communes = [Commune("35047", None), Commune("35047", None), Commune("35001", "35002")]
    names = [Names("Rue A", None), Names("Rue A", None), Names(None, "Lieu")]

    def column(values: list[Any]) -> list[Any]:
        return data.draw(st.lists(st.sampled_from(values), min_size=size, max_size=size))

    table = RowTable(
        count=size,
        numero=column([None, 1, 99_999, 2**40]),
        communes=column(communes),
        names=column(names),
        suffixe=column([None, "a", "bis"]),
        code_voie=column([None, "0001", "A001"]),
        id_adresse=AdresseIds.of(ids),
        id_commune=column([None, "c1"]),
        id_toponyme=column([None, "t1", "t2"]),
    )
    part = _parallel.Part(rows=size, table=table)
    back = pickle.loads(pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL))
    assert back.table is not None and list(back.table.id_adresse or []) == [i or None for i in ids]
    for name in ("numero", "suffixe", "code_voie", "id_commune", "id_toponyme"):
        assert getattr(back.table, name) == getattr(table, name)
    for name in ("communes", "names"):  # compared by identity: the same sharing between rows
        sent, received = getattr(table, name), getattr(back.table, name)
        assert [[a is b for b in sent] for a in sent] == [
            [a is b for b in received] for a in received
        ]
        assert list(map(repr, received)) == list(map(repr, sent))  # the same fields
    assert part.table is table and table.id_adresse == AdresseIds.of(ids)  # untouched


@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c"]), st.integers(0, 3))),
    st.lists(st.one_of(st.none(), st.sampled_from(["b", "d"]), st.integers(2, 5))),
)
def test_codings_merge_as_the_whole_would_code(first: list[Any], then: list[Any]) -> None:
    """Two parts' codes merged are those of the whole column: codes by first appearance, the
    first object of each value kept."""
    from guichet.bal import _fast

    codes, distinct = _parallel._merged_coding(_fast.factorize(first), _fast.factorize(then))
    whole_codes, whole_distinct = _fast.factorize(first + then)
    assert codes.tolist() == whole_codes.tolist()
    assert distinct == whole_distinct
    assert all(a is b for a, b in zip(distinct, whole_distinct, strict=True))
