"""Jobs of the partner loaders: fetch a document's `fileLink`, delete the blobs of removed data.

Both are deferred in the transaction that creates (or deletes) the rows, so a job exists if and
only if its rows do. `fetch_document` is idempotent: a fetched document is left alone, and the
queueing lock (one per document) keeps a single job waiting per document.
"""

from __future__ import annotations

import contextlib

from procrastinate import Blueprint, JobContext, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core import queue, services, storage
from guichet.core.config import LoadersSettings
from guichet.core.logging import get_logger
from guichet.partners import fetch
from guichet.partners.models import Document, DocumentStatus

log = get_logger(__name__)

blueprint = Blueprint()

FETCH_ATTEMPTS = 6
# 5 s, 25 s, 2 min, 10 min, 52 min between attempts: a host down for an hour is still fetched.
FETCH_RETRY = RetryStrategy(
    max_attempts=FETCH_ATTEMPTS, exponential_wait=5, retry_exceptions={fetch.FetchFailed}
)


def current_settings() -> LoadersSettings:
    return services.current().settings.loaders


def document_key(record_id: int) -> str:
    return f"loaders/documents/{record_id}"


def fetch_lock(record_id: int) -> str:
    return f"loaders:document:{record_id}"


@blueprint.task(name="fetch_document", retry=FETCH_RETRY, pass_context=True)
async def fetch_document(context: JobContext, record_id: int) -> None:
    """Fetch one document's file into the blob store (a no-op once fetched or deleted)."""
    async with services.transaction() as session:
        document = await session.get(Document, record_id)
        if document is None or document.status == DocumentStatus.FETCHED:
            return
        url = document.url
    policy = fetch.FetchPolicy.from_settings(current_settings())
    store = storage.current()
    key = document_key(record_id)
    try:
        async with fetch.new_client(policy) as client:
            fetched = await fetch.fetch(url, store, key, policy, client=client)
    except fetch.FetchRefused as exc:
        await _mark_failed(record_id, str(exc))
        return
    except fetch.FetchFailed as exc:
        attempts = context.job.attempts + 1
        log.warning("loaders.document_fetch_failed", record_id=record_id, error=str(exc))
        if attempts >= FETCH_ATTEMPTS:
            await _mark_failed(record_id, str(exc))
        raise
    async with services.transaction() as session:
        stored = await session.execute(
            update(Document)
            .where(Document.record_id == record_id)
            .values(
                status=DocumentStatus.FETCHED,
                blob_key=fetched.blob.key,
                size=fetched.blob.size,
                sha256=fetched.blob.sha256,
                content_type=fetched.content_type,
                error=None,
                fetched_at=text("now()"),
            )
            .returning(Document.record_id)
        )
        still_there = stored.scalar_one_or_none() is not None
    if not still_there:  # the property was removed meanwhile: keep nothing of it
        await store.delete(key)
    log.info("loaders.document_fetched", record_id=record_id, size=fetched.blob.size)


async def _mark_failed(record_id: int, error: str) -> None:
    log.warning("loaders.document_refused", record_id=record_id, error=error)
    async with services.transaction() as session:
        await session.execute(
            update(Document)
            .where(Document.record_id == record_id)
            .values(status=DocumentStatus.FAILED, error=error[:1000])
        )


@blueprint.task(name="delete_blobs", retry=RetryStrategy(max_attempts=10, exponential_wait=5))
async def delete_blobs(keys: list[str]) -> None:
    """Delete blobs of removed records (deleting a missing blob is not an error)."""
    store = storage.current()
    for key in keys:
        await store.delete(key)
    log.info("loaders.blobs_deleted", count=len(keys))


async def register_documents(session: AsyncSession, record_ids: list[int]) -> None:
    """Create the fetch state of new document records and defer their fetch, in one round trip
    each (the jobs are inserted in the caller's transaction)."""
    await session.execute(
        text(
            "INSERT INTO loader_document (record_id, url)"
            " SELECT id, data->>'fileLink' FROM loader_record WHERE id = ANY(:ids)"
        ),
        {"ids": record_ids},
    )
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    deferrer = fetch_document.configure(connection=raw.driver_connection)
    jobs = [
        deferrer.job.evolve(task_kwargs={"record_id": rid}, queueing_lock=fetch_lock(rid))
        for rid in record_ids
    ]
    try:
        async with session.begin_nested():
            await session.connection()  # emits the SAVEPOINT before the raw-connection insert
            await deferrer.job_manager.batch_defer_jobs_async(jobs, connection=deferrer.connection)
    except AlreadyEnqueued:  # cannot happen for new records; be exact anyway, one by one
        for rid in record_ids:
            with contextlib.suppress(AlreadyEnqueued):
                await queue.defer(
                    session, fetch_document, queueing_lock=fetch_lock(rid), record_id=rid
                )


async def delete_blobs_later(session: AsyncSession, keys: list[str]) -> None:
    await queue.defer(session, delete_blobs, keys=keys)  # type: ignore[arg-type]
