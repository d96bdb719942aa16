"""One current revision per commune, always: 20 processes publish the same commune at once.

The rows are committed for real (other processes must see them) in a commune no other test
uses, and deleted at the end. A checker process counts the current revisions the whole time.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import NullPool, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from guichet.core import services
from guichet.depot import errors, publication
from guichet.depot.models import ChefDeFile, Client, Mandataire, Revision
from guichet.runtime.app import build_services
from tests.conftest import make_settings
from tests.depot import factories

PROCESSES = 20
ROUNDS = 5
COMMUNE = "35047"


def _maker(url: str) -> async_sessionmaker[AsyncSession]:
    engine = create_async_engine(url, poolclass=NullPool)
    return async_sessionmaker(engine, expire_on_commit=False)


async def _setup(url: str) -> dict[str, Any]:
    async with _maker(url).begin() as session:
        owner = await factories.mandataire(session, nom="concurrency")
        chef = await factories.chef_de_file(session, [("commune", COMMUNE)])
        party = await factories.client(session, owner, chef)
        first = await factories.revision(
            session, party.client, COMMUNE, rows_count=1, published=True, current=True
        )
        revisions = [
            (await factories.revision(session, party.client, COMMUNE, ready=True)).id
            for _ in range(PROCESSES)
        ]
        return {
            "mandataire": owner.id,
            "chef": chef.id,
            "client": party.client.id,
            "first": first.id,
            "revisions": revisions,
        }


async def _cleanup(url: str, ids: dict[str, Any]) -> None:
    async with _maker(url).begin() as session:
        await session.execute(delete(Revision).where(Revision.code_commune == COMMUNE))
        await session.execute(delete(Client).where(Client.id == ids["client"]))
        await session.execute(delete(ChefDeFile).where(ChefDeFile.id == ids["chef"]))
        await session.execute(delete(Mandataire).where(Mandataire.id == ids["mandataire"]))


async def _publish_rounds(
    url: str, client_id: str, revision_id: str, barrier: Barrier
) -> list[str]:
    maker = _maker(url)
    # A process of its own: the services a publish defers its jobs with (what `serve` installs).
    services.install(build_services(make_settings(url, Path(tempfile.mkdtemp()))))
    outcomes = []
    for round_ in range(ROUNDS):
        if round_:  # a new ready revision each round (a published one never is again)
            async with maker.begin() as session:
                owner = await session.get(Client, client_id)
                assert owner is not None
                made = await factories.revision(session, owner, COMMUNE, ready=True)
                revision_id = made.id
        barrier.wait()
        try:
            async with maker.begin() as session:
                owner = await session.get(Client, client_id)
                revision = await session.get(Revision, revision_id)
                assert owner is not None and revision is not None
                await publication.publish(
                    session, revision=revision, client=owner, habilitation_id=None
                )
            outcomes.append("published")
        except errors.PreconditionFailed:
            outcomes.append("refused")
        barrier.wait()
    return outcomes


def _publisher(url: str, client_id: str, revision_id: str, barrier: Barrier, results: Any) -> None:
    results.put((revision_id, asyncio.run(_publish_rounds(url, client_id, revision_id, barrier))))


async def _count_current(url: str, stop: Event) -> list[int]:
    maker = _maker(url)
    seen = []
    while not stop.is_set():
        async with maker() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(Revision)
                .where(Revision.code_commune == COMMUNE, Revision.is_current)
            )
        seen.append(int(count or 0))
    return seen


def _checker(url: str, stop: Event, results: Any) -> None:
    results.put(("checker", asyncio.run(_count_current(url, stop))))


@pytest.fixture
def committed(database_url: str) -> Iterator[dict[str, Any]]:
    ids = asyncio.run(_setup(database_url))
    try:
        yield ids
    finally:
        asyncio.run(_cleanup(database_url, ids))


def test_twenty_processes_never_zero_never_two_current(
    database_url: str, committed: dict[str, Any]
) -> None:
    context = multiprocessing.get_context("fork")
    barrier, stop, results = context.Barrier(PROCESSES), context.Event(), context.Queue()
    checker = context.Process(target=_checker, args=(database_url, stop, results))
    checker.start()
    publishers = [
        context.Process(
            target=_publisher, args=(database_url, committed["client"], rid, barrier, results)
        )
        for rid in committed["revisions"]
    ]
    started = time.monotonic()
    for process in publishers:
        process.start()
    outcomes = dict(results.get(timeout=120) for _ in publishers)
    stop.set()
    _, counts = results.get(timeout=30)
    for process in [*publishers, checker]:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert time.monotonic() - started < 90
    # every round: exactly one publish wins, the others get a 412
    for round_index in range(ROUNDS):
        winners = [rid for rid, seq in outcomes.items() if seq[round_index] == "published"]
        assert len(winners) == 1, (round_index, winners)
    assert counts and set(counts) == {1}, f"current revisions seen: {sorted(set(counts))}"
