"""Receiving a loader file: parse → authenticate → store the source → validate → integrate →
record the run. Each step is a named function; CPU-bound steps of a large file run in a thread
(the event loop keeps serving other requests while a 100,000-transaction file is parsed and
validated).

The caller owns the transaction (the request's `Session`): the run, the records and the jobs
they defer are committed together, or not at all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import structlog
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.config import LoadersSettings
from guichet.core.logging import get_logger
from guichet.core.storage import BlobStore, StoredBlob, digest_of, put_bytes, put_many
from guichet.loader import FileRejected, Report, Validation, load_json, read_header, validate
from guichet.partners import registry as partners
from guichet.partners.errors import FileRefused, PartnerUnauthorized
from guichet.partners.integrate import Integrator
from guichet.partners.models import Channel, Partner, Run, RunStatus

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class KnownPartner:
    """The partner a channel already knows the file comes from (the S3 bucket's owner), loaded
    once for a batch of files: its key is still checked against each file's header."""

    partner: Partner
    own_account_id: int


@dataclass(frozen=True, slots=True)
class Parsed:
    """A body's JSON value, when the caller has already parsed it (the S3 channel does, for its
    own header rules): not parsed twice."""

    document: Any


class BatchWrites:
    """What a batch of files in one transaction writes together rather than file by file: the
    runs (one INSERT) and the small sources (one thread hop, one fsync per directory). The
    caller calls `flush` before its transaction ends; a file that may still be undone must not
    use it (a collected run or source would outlive it)."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []
        self.sources: list[tuple[str, bytes]] = []

    async def flush(self, session: AsyncSession, store: BlobStore) -> None:
        """Store the sources, then insert the runs that point at them."""
        if self.sources:
            await put_many(store, self.sources)
            self.sources = []
        if self.runs:
            await session.execute(_INSERT_RUN, self.runs)
            self.runs = []


@dataclass(frozen=True, slots=True)
class Reply:
    """What the partner endpoint answers: the contract's 200 report or a 400/413 KO body."""

    status_code: int
    body: dict[str, Any]
    run_id: uuid.UUID | None = None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Files up to this size are parsed, validated and reported on the event loop: for them a thread
# hop (and the GIL hand-over that follows) costs more than the work (well under a millisecond).
INLINE_BYTES = 64 * 1024

T = TypeVar("T")


async def run_cpu(size: int, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run CPU-bound `function` inline for a small file, else in a thread."""
    if size <= INLINE_BYTES:
        return function(*args, **kwargs)
    return await asyncio.to_thread(function, *args, **kwargs)


async def receive(
    session: AsyncSession,
    store: BlobStore,
    settings: LoadersSettings,
    body: bytes,
    *,
    channel: Channel = Channel.REST,
    received_at: dt.datetime | None = None,
    known: KnownPartner | None = None,
    parsed: Parsed | None = None,
    run_id: uuid.UUID | None = None,
    writes: BatchWrites | None = None,
    entry_savepoints: bool = True,
) -> Reply:
    """Process one loader file for the partner it authenticates as (SPEC §5.1).

    A channel processing files in batches (the drop zone) passes what it knows already: the
    partner (`known`), the JSON value (`parsed`), the run id (kept when it redoes a file: the
    stored source is then overwritten, not left behind), where the run and the source go
    (`writes`: collected, else written at once) and `entry_savepoints` (see `Integrator`)."""
    received_at = received_at or utcnow()
    size = len(body)
    if parsed is not None:
        document = parsed.document
    else:
        document = await parse(body, max_bytes=settings.max_body_bytes)
    partner = await authenticate(session, document, known=known)
    with structlog.contextvars.bound_contextvars(partner_id=partner.partner_id):
        run = Run(
            id=run_id or uuid.uuid4(), partner_id=partner.id, channel=channel,
            received_at=received_at,
        )  # fmt: skip
        source = await store_source(store, partner, run, body, writes)
        try:
            validation = await run_cpu(size, validate, document, now=received_at)
        except FileRejected as rejected:
            reply = Reply(rejected.http_status, rejected.to_json(), run.id)
            await record_run(
                session, run, source, RunStatus.REJECTED, reply.body, {}, writes=writes
            )
            log.info("loaders.file_rejected", run_id=str(run.id), type=rejected.wire_type)
            return reply
        report = Report(validation, now=received_at)
        account_id = known.own_account_id if known is not None else None
        await integrate(
            session, partner, validation, report, run,
            own_account_id=account_id, entry_savepoints=entry_savepoints,
        )  # fmt: skip
        finished_at = utcnow()
        result = await run_cpu(size, report.to_json, end_date=finished_at)
        tally = {
            str(model): {str(outcome): n for outcome, n in counter.items()}
            for model, counter in report.tally().items()
        }
        # Written once, finished: the records carry its id, and the caller's transaction
        # commits the run with them (nothing ever sees a run half done).
        status = RunStatus(result["status"])
        await record_run(
            session, run, source, status, result, tally, finished_at=finished_at, writes=writes
        )
        log.info(
            "loaders.file_integrated",
            run_id=str(run.id),
            status=result["status"],
            total=result["total_count"],
            failed=result["failed_count"],
            seconds=round((finished_at - received_at).total_seconds(), 3),
        )
        return Reply(200, result, run.id)


async def parse(body: bytes, *, max_bytes: int) -> Any:
    """The JSON value of the body (in a thread); `FileRefused` (400 WrongFormat / 413)."""
    try:
        return await run_cpu(len(body), load_json, body, max_bytes=max_bytes)
    except FileRejected as rejected:
        raise FileRefused(rejected) from None


def credentials(document: Any) -> tuple[str, str] | None:
    if type(document) is not dict:
        return None
    partner_id, api_key = document.get("inigPtynm"), document.get("apiKey")
    if type(partner_id) is str and type(api_key) is str and partner_id and api_key:
        return partner_id, api_key
    return None


async def authenticate(
    session: AsyncSession, document: Any, *, known: KnownPartner | None = None
) -> Partner:
    """The partner named and keyed by the header. A header too broken to name anyone is a
    400 KO (its own validation error), a wrong partner or key a 401 (see `errors`)."""
    found = credentials(document)
    if found is None:
        try:
            read_header(document)
        except FileRejected as rejected:
            raise FileRefused(rejected) from None
        raise PartnerUnauthorized()  # unreachable with the current header rules
    if known is not None and found[0] == known.partner.partner_id:
        return partners.check_key(known.partner, found[1])
    return await partners.authenticate(session, *found)


async def store_source(
    store: BlobStore, partner: Partner, run: Run, body: bytes, writes: BatchWrites | None = None
) -> StoredBlob:
    day = run.received_at.astimezone(dt.UTC).strftime("%Y/%m/%d")
    key = f"loaders/partners/{partner.id}/runs/{day}/{run.id}.json"
    if writes is not None and len(body) <= INLINE_BYTES:
        writes.sources.append((key, body))
        return digest_of(key, body)
    return await put_bytes(store, key, body, content_type="application/json")


async def integrate(
    session: AsyncSession,
    partner: Partner,
    validation: Validation,
    report: Report,
    run: Run,
    *,
    own_account_id: int | None = None,
    entry_savepoints: bool = True,
) -> None:
    if own_account_id is None:
        own_account_id = await partners.own_account_id(session, partner)
    integrator = Integrator(
        session, report, partner_id=partner.id, own_account_id=own_account_id, run_id=run.id,
        entry_savepoints=entry_savepoints,
    )  # fmt: skip
    await integrator.integrate(validation)


async def record_run(
    session: AsyncSession,
    run: Run,
    source: StoredBlob,
    status: RunStatus,
    report: dict[str, Any],
    tally: dict[str, dict[str, int]],
    *,
    finished_at: dt.datetime | None = None,
    writes: BatchWrites | None = None,
) -> None:
    run.source_key, run.source_size, run.source_sha256 = source.key, source.size, source.sha256
    run.finished_at = finished_at or utcnow()
    run.status = status
    counts = (report.get(key, 0) for key in ("total_count", "success_count", "failed_count"))
    run.total_count, run.success_count, run.failed_count = counts
    run.report, run.tally = report, tally
    # Core statements rather than the unit of work: one file makes one run, and the ORM flush
    # machinery cost more than the INSERT itself (the drop zone writes hundreds per second).
    row = {name: getattr(run, name) for name in _RUN_FIELDS}
    if writes is not None:
        writes.runs.append(row)
    else:
        await session.execute(_INSERT_RUN, row)


# Built once (and compiled once): statements built per call cost more than they do.
_runs = cast(Table, Run.__table__)
_RUN_FIELDS = tuple(column.key for column in _runs.columns)
_INSERT_RUN = insert(_runs)
