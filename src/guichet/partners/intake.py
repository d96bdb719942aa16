"""Intake of one loader file from a known partner, whatever the channel that brought it: store the
source → validate → integrate → record the run. The REST router and the S3 drop zone both call
`intake` (and `reject` for a file their own rules refuse before it); each turns the `Outcome`
into its own answer (an HTTP reply, an e-mail).

Before calling it, a channel parses the file and knows the partner: the REST router
authenticates the header's `inigPtynm` + `apiKey`; the drop zone knows the bucket's owner and
checks the header's key against it. CPU-bound steps of a large file run in a thread (the event
loop keeps serving other requests while a 100,000-transaction file is validated).

The caller owns the transaction (the request's `Session`, the drain's): the run, the records and
the jobs they defer are committed together, or not at all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import structlog
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.logging import get_logger
from guichet.core.storage import BlobStore, StoredBlob, digest_of, put_bytes, put_many
from guichet.loader import FileRejected, Report, load_json, validate
from guichet.partners.errors import FileRefused
from guichet.partners.integrate import Integrator
from guichet.partners.models import Channel, Partner, Run, RunStatus

log = get_logger(__name__)

# Files up to this size are parsed, validated and reported on the event loop: for them a thread
# hop (and the GIL hand-over that follows) costs more than the work (well under a millisecond).
INLINE_BYTES = 64 * 1024

T = TypeVar("T")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def run_cpu(size: int, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run CPU-bound `function` inline for a small file, else in a thread."""
    if size <= INLINE_BYTES:
        return function(*args, **kwargs)
    return await asyncio.to_thread(function, *args, **kwargs)


# What a stored source holds in place of the partner's key: the partners' keys are kept as
# their SHA-256 only, and a source file must not be the one place where they stay in clear.
REDACTED_API_KEY = "[redacted]"
# `"apiKey": "<any JSON string>"`, wherever it is. Inside a string a quote is always escaped,
# so `apiKey"` followed by a colon is a member name; the length bound keeps a broken file
# (an unterminated string) from costing more than one short scan per occurrence.
_API_KEY_MEMBER = re.compile(rb'("apiKey"\s*:\s*)"(?:[^"\\]|\\.){0,8192}"')
_REDACTED_MEMBER = rb'\1"' + REDACTED_API_KEY.encode() + rb'"'


def strip_api_key(body: bytes, document: Any) -> bytes:
    """`body` with the value of every `apiKey` member replaced by `REDACTED_API_KEY`, the rest
    of its bytes unchanged. A parsed header key still found afterwards (its member name written
    with escapes) makes the source the document itself, re-serialized without the key."""
    stripped = _API_KEY_MEMBER.sub(_REDACTED_MEMBER, body)
    key = document.get("apiKey") if type(document) is dict else None
    if type(key) is str and key and _holds(stripped, key):
        without_key = {**document, "apiKey": REDACTED_API_KEY}
        return json.dumps(without_key, ensure_ascii=False).encode("utf-8")
    return stripped


def _holds(data: bytes, text: str) -> bool:
    """Whether `data` still holds `text`, as raw UTF-8 or as JSON escapes it to."""
    forms = {text.encode("utf-8"), json.dumps(text)[1:-1].encode("ascii")}
    return any(form in data for form in forms)


async def parse(body: bytes, *, max_bytes: int) -> Any:
    """The JSON value of a body; `FileRefused` (400 WrongFormat / 413) if it has none."""
    try:
        return await run_cpu(len(body), load_json, body, max_bytes=max_bytes)
    except FileRejected as rejected:
        raise FileRefused(rejected) from None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A loader file as a channel hands it in: its bytes and their JSON value, how and when it
    arrived, and the id its run gets (a batch that redoes a file keeps it, so the stored source
    is overwritten, not left behind)."""

    body: bytes
    document: Any
    channel: Channel
    received_at: dt.datetime
    run_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Depositor:
    """The partner a file comes from, with the id of its own account (the records' owner)."""

    partner: Partner
    own_account_id: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a file: its run's status and report (the contract's report, or its KO
    body when the file was refused whole, `rejection` then saying why)."""

    status: RunStatus
    report: dict[str, Any]
    run_id: uuid.UUID
    rejection: FileRejected | None = None


class Recorder:
    """Where runs, sources and records go: the session, the blob store, and whether they are
    written at once (one file) or collected for a batch of files in one transaction.

    A batch (`batched=True`) inserts its runs with one statement and stores its small sources
    together (one thread hop, one fsync per directory) at `flush`, and integrates each client
    entry without a savepoint of its own: a batch is redone file by file on any error. The
    caller flushes before its transaction ends."""

    def __init__(self, session: AsyncSession, store: BlobStore, *, batched: bool = False) -> None:
        self.session = session
        self.store = store
        self.batched = batched
        self._runs: list[dict[str, Any]] = []
        self._sources: list[tuple[str, bytes]] = []

    async def source(self, partner: Partner, run: Run, delivery: Delivery) -> StoredBlob:
        """Store the file as received, its `apiKey` value replaced (see `strip_api_key`)."""
        raw = delivery.body
        body = await run_cpu(len(raw), strip_api_key, raw, delivery.document)
        day = run.received_at.astimezone(dt.UTC).strftime("%Y/%m/%d")
        key = f"loaders/partners/{partner.id}/runs/{day}/{run.id}.json"
        if self.batched and len(body) <= INLINE_BYTES:
            self._sources.append((key, body))
            return digest_of(key, body)
        return await put_bytes(self.store, key, body, content_type="application/json")

    async def run(self, row: dict[str, Any]) -> None:
        if self.batched:
            self._runs.append(row)
        else:
            await self.session.execute(_INSERT_RUN, row)

    async def flush(self) -> None:
        """Store the collected sources, then insert the runs that point at them."""
        if self._sources:
            await put_many(self.store, self._sources)
            self._sources = []
        if self._runs:
            await self.session.execute(_INSERT_RUN, self._runs)
            self._runs = []


async def intake(recorder: Recorder, delivery: Delivery, depositor: Depositor) -> Outcome:
    """Validate and integrate one file of `depositor` (SPEC §5.1); a file the validator refuses
    whole is recorded as a REJECTED run."""
    partner = depositor.partner
    with structlog.contextvars.bound_contextvars(partner_id=partner.partner_id):
        run = _new_run(delivery, partner)
        source = await recorder.source(partner, run, delivery)
        size = len(delivery.body)
        try:
            validation = await run_cpu(size, validate, delivery.document, now=run.received_at)
        except FileRejected as rejected:
            log.info("loaders.file_rejected", run_id=str(run.id), type=rejected.wire_type)
            return await _record(recorder, run, source, rejected.to_json(), rejection=rejected)
        report = Report(validation, now=run.received_at)
        integrator = Integrator(
            recorder.session, report, partner_id=partner.id,
            own_account_id=depositor.own_account_id, run_id=run.id,
            entry_savepoints=not recorder.batched,
        )  # fmt: skip
        await integrator.integrate(validation)
        finished_at = utcnow()
        result = await run_cpu(size, report.to_json, end_date=finished_at)
        tally = {
            str(model): {str(outcome): n for outcome, n in counter.items()}
            for model, counter in report.tally().items()
        }
        # Written once, finished: the records carry its id, and the caller's transaction
        # commits the run with them (nothing ever sees a run half done).
        outcome = await _record(recorder, run, source, result, tally, finished_at=finished_at)
        log.info(
            "loaders.file_integrated",
            run_id=str(run.id),
            status=result["status"],
            total=result["total_count"],
            failed=result["failed_count"],
            seconds=round((finished_at - delivery.received_at).total_seconds(), 3),
        )
        return outcome


async def reject(
    recorder: Recorder, delivery: Delivery, depositor: Depositor, report: dict[str, Any]
) -> Outcome:
    """Record a file a channel's own rules refused before intake (its KO `report`) as a
    REJECTED run, its source kept as for any other file."""
    run = _new_run(delivery, depositor.partner)
    source = await recorder.source(depositor.partner, run, delivery)
    return await _record(recorder, run, source, report)


def _new_run(delivery: Delivery, partner: Partner) -> Run:
    return Run(
        id=delivery.run_id, partner_id=partner.id, channel=delivery.channel,
        received_at=delivery.received_at,
    )  # fmt: skip


async def _record(
    recorder: Recorder,
    run: Run,
    source: StoredBlob,
    report: dict[str, Any],
    tally: dict[str, dict[str, int]] | None = None,
    *,
    finished_at: dt.datetime | None = None,
    rejection: FileRejected | None = None,
) -> Outcome:
    status = RunStatus.REJECTED if report.get("status") == "KO" else RunStatus(report["status"])
    run.source_key, run.source_size, run.source_sha256 = source.key, source.size, source.sha256
    run.finished_at = finished_at or utcnow()
    run.status = status
    counts = (report.get(key, 0) for key in ("total_count", "success_count", "failed_count"))
    run.total_count, run.success_count, run.failed_count = counts
    run.report, run.tally = report, tally or {}
    # Core statements rather than the unit of work: one file makes one run, and the ORM flush
    # machinery cost more than the INSERT itself (the drop zone writes hundreds per second).
    await recorder.run({name: getattr(run, name) for name in _RUN_FIELDS})
    return Outcome(status, report, run.id, rejection)


# Built once (and compiled once): statements built per call cost more than they do.
_runs = cast(Table, Run.__table__)
_RUN_FIELDS = tuple(column.key for column in _runs.columns)
_INSERT_RUN = insert(_runs)
