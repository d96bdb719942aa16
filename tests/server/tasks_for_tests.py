"""A blueprint of tasks used by the queue tests (bound with `queue.load_tasks([__name__])`)."""

from __future__ import annotations

import asyncio

from procrastinate import Blueprint
from sqlalchemy import text

from guichet.core import services

blueprint = Blueprint()

# Set by the tests that run a worker; the task sets it when it has run.
done = asyncio.Event()


@blueprint.task(name="record")
async def record(table: str, value: int) -> None:
    """Insert `value` into `table` in the job's own transaction (`services.transaction()`)."""
    async with services.transaction() as session:
        await session.execute(
            text(f"INSERT INTO {table} (value) VALUES (:value)"), {"value": value}
        )
    done.set()
