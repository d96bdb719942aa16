"""Event listeners: the fast path that tells the ledger about new objects within milliseconds.

* SeaweedFS: `weed filer.meta.tail` on `/buckets/`, a persisted metadata log. The last position
  (`tsNs`) is checkpointed in `dropzone_checkpoint` in the same transaction as the ledger rows,
  and the tail restarts from it (with a margin) after a crash or a restart: at least once.
* AWS: long polling of the SQS queue receiving the buckets' `s3:ObjectCreated:*` notifications;
  a message is deleted only after its objects are in the ledger (committed): at least once.

Duplicates are harmless (the ledger's unique key); losses are caught by the periodic sweep.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from guichet.core import services
from guichet.core.config import Settings
from guichet.core.logging import get_logger
from guichet.partners.dropzone import backends, tasks
from guichet.partners.dropzone.dataplane import clean_etag
from guichet.partners.dropzone.ledger import Sighting
from guichet.partners.dropzone.models import DropzoneCheckpoint, Source

log = get_logger(__name__)

_MARGIN_NS = 30 * 1_000_000_000  # replay a little before the checkpoint: duplicates are free
_BATCH_SECONDS = 0.02


def parse_meta_events(buffer: str) -> tuple[list[dict[str, Any]], str]:
    """The complete JSON objects at the start of `buffer`, and the unparsed rest."""
    decoder = json.JSONDecoder()
    events: list[dict[str, Any]] = []
    position = 0
    while True:
        while position < len(buffer) and buffer[position].isspace():
            position += 1
        if position >= len(buffer):
            return events, ""
        try:
            event, position = decoder.raw_decode(buffer, position)
        except json.JSONDecodeError:
            return events, buffer[position:]
        events.append(event)


def sighting_from_meta(event: dict[str, Any]) -> Sighting | None:
    """A new object from a metadata event (None for directories, deletions, other paths)."""
    notification = event.get("eventNotification") or {}
    entry = notification.get("newEntry")
    if not entry or entry.get("isDirectory"):
        return None
    directory = notification.get("newParentPath") or event.get("directory") or ""
    parts = directory.split("/", 3)  # "", "buckets", bucket, rest
    if len(parts) < 3 or parts[1] != "buckets" or not parts[2]:
        return None
    bucket = parts[2]
    key = (parts[3] + "/" if len(parts) == 4 and parts[3] else "") + entry.get("name", "")
    extended = entry.get("extended") or {}
    attributes = entry.get("attributes") or {}
    etag = ""
    with contextlib.suppress(ValueError, TypeError):
        if extended.get("Seaweed-X-Amz-ETag"):
            etag = base64.b64decode(extended["Seaweed-X-Amz-ETag"]).decode()
        elif attributes.get("md5"):
            etag = base64.b64decode(attributes["md5"]).hex()
    if not etag:
        return None
    size = int(attributes.get("fileSize") or 0)
    uploaded_at = None
    with contextlib.suppress(ValueError, TypeError, OverflowError):
        uploaded_at = dt.datetime.fromtimestamp(int(attributes["mtime"]), dt.UTC)
    return Sighting(bucket, key, clean_etag(etag), size, uploaded_at)


def sightings_from_sqs(body: str) -> Iterator[Sighting]:
    """The objects of one S3 notification (none for `s3:TestEvent` or other events)."""
    message = json.loads(body)
    if "Message" in message and "Records" not in message:  # delivered through SNS
        message = json.loads(message["Message"])
    for record in message.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3 = record["s3"]
        uploaded_at = None
        with contextlib.suppress(ValueError, KeyError):
            uploaded_at = dt.datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))
        yield Sighting(
            s3["bucket"]["name"],
            unquote_plus(s3["object"]["key"]),  # keys are URL-encoded in S3 events
            clean_etag(s3["object"].get("eTag", "")),
            s3["object"].get("size"),
            uploaded_at,
        )


# --- SeaweedFS metadata log ---------------------------------------------------------------------


class SeaweedListener:
    """Tails the filer's metadata log; restarts the tail if it dies."""

    def __init__(self, backend: backends.SeaweedBackend) -> None:
        self.backend = backend
        self.source = f"seaweedfs:{backend.filer}"

    async def _checkpoint(self) -> int | None:
        async with services.transaction() as session:
            position: int | None = await session.scalar(
                select(DropzoneCheckpoint.position).where(DropzoneCheckpoint.source == self.source)
            )
            return position

    async def run(self) -> None:
        while True:
            try:
                await self._tail_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dropzone.seaweedfs_listener_failed")
            await asyncio.sleep(1)

    async def _tail_once(self) -> None:
        position = await self._checkpoint()
        now_ns = time.time_ns()
        since_ns = max(now_ns - position + _MARGIN_NS, 1) if position else 3600 * 1_000_000_000
        process = await asyncio.create_subprocess_exec(
            self.backend.weed, "filer.meta.tail", f"-filer={self.backend.filer}",
            "-pathPrefix=/buckets/", f"-timeAgo={since_ns // 1_000_000}ms",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert process.stdout is not None
        log.info("dropzone.seaweedfs_listener_started", since_ms=since_ns // 1_000_000)
        buffer = ""
        try:
            while True:
                chunk = await process.stdout.read(65536)
                if not chunk:
                    return
                buffer += chunk.decode(errors="replace")
                # Let a burst accumulate a little: one transaction for many events.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_BATCH_SECONDS):
                        while len(buffer) < 4 * 1024 * 1024:
                            more = await process.stdout.read(65536)
                            if not more:
                                break
                            buffer += more.decode(errors="replace")
                events, buffer = parse_meta_events(buffer)
                await self._record(events)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    async def _record(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        found = [s for s in map(sighting_from_meta, events) if s is not None]
        last = max(int(event.get("tsNs", 0)) for event in events)
        async with services.transaction() as session:
            if found:
                await tasks.record_sightings(session, found, Source.EVENT)
            await session.execute(
                insert(DropzoneCheckpoint)
                .values(source=self.source, position=last)
                .on_conflict_do_update(
                    index_elements=[DropzoneCheckpoint.source],
                    set_={"position": last, "updated_at": dt.datetime.now(dt.UTC)},
                    where=DropzoneCheckpoint.position < last,
                )
            )


# --- SQS ------------------------------------------------------------------------------------------


class SqsListener:
    def __init__(self, backend: backends.AwsBackend, *, wait_seconds: int = 10) -> None:
        self.backend = backend
        self.wait_seconds = wait_seconds

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dropzone.sqs_listener_failed")
                await asyncio.sleep(1)

    async def poll_once(self) -> int:
        """Receive up to 10 messages, record their objects, delete them; returns the count."""
        url, _ = await self.backend.queue()
        response = await asyncio.to_thread(
            self.backend.sqs.receive_message,
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=self.wait_seconds,
        )
        messages = response.get("Messages", [])
        done = []
        for message in messages:
            try:
                found = list(sightings_from_sqs(message["Body"]))
            except (ValueError, KeyError, TypeError):
                log.warning("dropzone.sqs_message_unreadable", message_id=message.get("MessageId"))
                continue  # left in the queue: its redrive policy sends it to a dead-letter queue
            async with services.transaction() as session:
                await tasks.record_sightings(session, found, Source.EVENT)
            done.append(message)
        for message in done:  # after the commit: a crash before this only redelivers
            await asyncio.to_thread(
                self.backend.sqs.delete_message,
                QueueUrl=url,
                ReceiptHandle=message["ReceiptHandle"],
            )
        return len(messages)


# --- lifecycle ------------------------------------------------------------------------------------


async def _startup_sweep() -> None:
    with contextlib.suppress(Exception):
        # Right away, and with no age limit: rows whose worker was killed are taken up again.
        await tasks.sweep(recovery_age=dt.timedelta(0))


def start(settings: Settings) -> list[asyncio.Task[None]]:
    """Start the listener of the configured backend (and a first sweep); empty if none."""
    backend = backends.current_or_none()
    if backend is None or not settings.dropzone.listen_events:
        return []
    started = [asyncio.create_task(_startup_sweep(), name="dropzone-startup-sweep")]
    if isinstance(backend, backends.SeaweedBackend):
        started.append(asyncio.create_task(SeaweedListener(backend).run(), name="dropzone-events"))
    elif isinstance(backend, backends.AwsBackend):
        started.append(asyncio.create_task(SqsListener(backend).run(), name="dropzone-events"))
    return started


async def stop(started: list[asyncio.Task[None]]) -> None:
    for task in started:
        task.cancel()
    for task in started:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
