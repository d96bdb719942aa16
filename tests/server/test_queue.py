"""Transactional defer: a job exists if and only if the caller's transaction commits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import NullPool, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from guichet.core import queue
from guichet.core.config import Settings
from guichet.core.db import Session
from guichet.core.errors import Conflict
from guichet.core.fronts import TaskModule
from guichet.runtime.app import create_app
from tests.conftest import JobList, make_settings
from tests.server import tasks_for_tests

queue.load_tasks([TaskModule("tests_server_tasks_for_tests", tasks_for_tests.__name__)])


class TestDeferInTestTransaction:
    async def test_defer_inserts_job_on_session_connection(
        self, session: AsyncSession, jobs: JobList
    ) -> None:
        job_id = await queue.defer(session, tasks_for_tests.record, table="t", value=1)
        listed = await jobs()
        assert [j["id"] for j in listed] == [job_id]
        assert listed[0]["task_name"] == "tests_server_tasks_for_tests:record"
        assert listed[0]["args"] == {"table": "t", "value": 1}

    async def test_queueing_lock_conflict_keeps_transaction_usable(
        self, session: AsyncSession, jobs: JobList
    ) -> None:
        await queue.defer(session, tasks_for_tests.record, queueing_lock="k", table="t", value=1)
        with pytest.raises(AlreadyEnqueued):
            await queue.defer(
                session, tasks_for_tests.record, queueing_lock="k", table="t", value=2
            )
        assert (await session.execute(text("SELECT 1"))).scalar() == 1
        assert len(await jobs()) == 1


# --- against really committed transactions -------------------------------------------------


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, poolclass=NullPool)
    yield engine
    await engine.dispose()


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncIterator[str]:
    """A real (committed) table, dropped after the test, with its jobs."""
    name = f"queue_test_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(
            text(f"CREATE TABLE {name} (value int UNIQUE DEFERRABLE INITIALLY DEFERRED)")
        )
    yield name
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE {name}"))
        await conn.execute(
            text("DELETE FROM procrastinate_jobs WHERE args->>'table' = :t"), {"t": name}
        )


async def committed_state(engine: AsyncEngine, table: str) -> tuple[list[int], int]:
    """What another connection sees: the table's values and the number of jobs for it."""
    async with engine.connect() as conn:
        values = (await conn.execute(text(f"SELECT value FROM {table} ORDER BY value"))).scalars()
        count = await conn.scalar(
            text("SELECT count(*) FROM procrastinate_jobs WHERE args->>'table' = :t"), {"t": table}
        )
    return list(values), int(count or 0)


class TestDeferAtomicity:
    async def test_rollback_leaves_neither_row_nor_job(
        self, engine: AsyncEngine, table: str
    ) -> None:
        async with AsyncSession(engine) as session:
            await session.execute(text(f"INSERT INTO {table} VALUES (1)"))
            await queue.defer(session, tasks_for_tests.record, table=table, value=1)
            await session.rollback()
        assert await committed_state(engine, table) == ([], 0)

    async def test_commit_keeps_row_and_job(self, engine: AsyncEngine, table: str) -> None:
        async with AsyncSession(engine) as session:
            await session.execute(text(f"INSERT INTO {table} VALUES (1)"))
            await queue.defer(session, tasks_for_tests.record, table=table, value=1)
            await session.commit()
        assert await committed_state(engine, table) == ([1], 1)


def _router(table: str) -> APIRouter:
    router = APIRouter()

    @router.post("/rows/{value}")
    async def add_row(value: int, session: Session, fail: bool = False) -> dict[str, int]:
        await session.execute(text(f"INSERT INTO {table} VALUES (:v)"), {"v": value})
        job_id = await queue.defer(session, tasks_for_tests.record, table=table, value=value)
        if fail:
            raise Conflict("refused after the insert")
        return {"job_id": job_id}

    return router


class TestRequestTransaction:
    @pytest.fixture
    async def real_app(self, settings: Settings, table: str) -> AsyncIterator[FastAPI]:
        app = create_app(settings)  # the real sessionmaker: requests really commit
        app.include_router(_router(table))
        yield app
        await app.state.engine.dispose()

    async def _post(self, app: FastAPI, path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post(path)

    async def test_success_commits_row_and_job(
        self, real_app: FastAPI, engine: AsyncEngine, table: str
    ) -> None:
        response = await self._post(real_app, "/rows/1")
        assert response.status_code == 200
        assert await committed_state(engine, table) == ([1], 1)

    async def test_domain_error_rolls_back_row_and_job(
        self, real_app: FastAPI, engine: AsyncEngine, table: str
    ) -> None:
        response = await self._post(real_app, "/rows/1?fail=true")
        assert response.status_code == 409
        assert await committed_state(engine, table) == ([], 0)

    async def test_failed_commit_is_an_error_response_not_a_200(
        self, real_app: FastAPI, engine: AsyncEngine, table: str
    ) -> None:
        # The unique constraint is deferred: the duplicate fails at COMMIT, after the handler
        # returned. The commit runs before the response (scope="function"), so the client
        # sees a 500, and nothing of the request persists.
        assert (await self._post(real_app, "/rows/1")).status_code == 200
        response = await self._post(real_app, "/rows/1")
        assert response.status_code == 500
        assert await committed_state(engine, table) == ([1], 1)


class TestInProcessWorker:
    async def test_lifespan_worker_runs_a_committed_job(
        self, database_url: str, tmp_path: Path, engine: AsyncEngine, table: str
    ) -> None:
        settings = make_settings(
            database_url, tmp_path, worker={"in_process": True, "queues": [table]}
        )
        app = create_app(settings)
        tasks_for_tests.done.clear()
        async with AsyncSession(engine) as session:
            await queue.defer(session, tasks_for_tests.record, queue=table, table=table, value=7)
            await session.commit()
        async with engine.connect() as conn:
            before = (await conn.execute(text("SELECT max(id) FROM procrastinate_jobs"))).scalar()
        try:
            async with app.router.lifespan_context(app):
                await asyncio.wait_for(tasks_for_tests.done.wait(), timeout=10)
        finally:
            # The worker's periodic deferrer committed the periodic jobs (the drop-zone sweep…)
            # in the session's database: the tests after this one (in any order) must not see
            # them among the jobs of their own transaction.
            async with engine.begin() as conn:
                deferred = "SELECT id FROM procrastinate_jobs WHERE id > :before"
                await conn.execute(
                    text(f"DELETE FROM procrastinate_periodic_defers WHERE job_id IN ({deferred})"),
                    {"before": before or 0},
                )
                await conn.execute(
                    text("DELETE FROM procrastinate_jobs WHERE id > :before AND task_name <> :own"),
                    {"before": before or 0, "own": "tests_server_tasks_for_tests:record"},
                )
        values, _ = await committed_state(engine, table)
        assert values == [7]
