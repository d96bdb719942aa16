"""The changes feed under concurrent publishes (issue #15): a change becomes visible only after
every change with a smaller `seq`, so a consumer's cursor never jumps over a late commit."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from guichet.depot import diffs, service
from guichet.depot.models import Revision
from tests.conftest import migrated_database
from tests.depot import factories


@pytest.fixture(scope="module")
def committed_database(postgres_server: str) -> Iterator[str]:
    """A database of its own: the publishes below commit for real, on several connections."""
    with migrated_database(postgres_server, f"guichet_feed_{os.getpid()}") as url:
        yield url


@pytest.fixture
async def engine(committed_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(committed_database)
    yield engine
    await engine.dispose()


async def _published(maker: async_sessionmaker[AsyncSession], code: str) -> Revision:
    async with maker.begin() as session:
        owner = await factories.mandataire(session)
        party = await factories.client(session, owner)
        revision = await factories.revision(session, party.client, code, published=True)
        revision.published_at = service.utcnow_ms()
        return revision


async def _waiting_for_the_feed_lock(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        waiting = await connection.scalar(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        )
    return bool(waiting)


async def test_a_later_change_waits_for_the_earlier_commit(engine: AsyncEngine) -> None:
    maker = async_sessionmaker(engine, expire_on_commit=False)
    first, second = await _published(maker, "31591"), await _published(maker, "35047")
    start = await _last_seq(maker)

    async with maker() as early:
        await early.begin()
        await diffs.record_change(early, first, None)  # holds the lock until it commits

        async def late_publish() -> None:
            async with maker.begin() as late:
                await diffs.record_change(late, second, None)

        late = asyncio.create_task(late_publish())
        for _ in range(200):  # until the late one is seen queued on the lock
            if await _waiting_for_the_feed_lock(engine):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the second publish never waited for the feed lock")
        assert not late.done()
        async with maker() as reader:  # meanwhile a consumer sees neither change
            assert await diffs.changes_since(reader, start, 10) == []
        await early.commit()
    await late
    async with maker() as reader:
        found = [change.revision_id for change, _ in await diffs.changes_since(reader, start, 10)]
    assert found == [first.id, second.id]


async def _last_seq(maker: async_sessionmaker[AsyncSession]) -> int:
    async with maker() as session:
        return await diffs.last_seq(session)
