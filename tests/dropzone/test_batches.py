"""Batches of the drain on a real SeaweedFS: a failing file never undoes the others of its batch
and is retried on its own; archive copies wait while files wait; the per-object S3 calls
(obstore) and their boto3 fallback for keys object_store cannot name."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core import storage
from guichet.core.config import Settings
from guichet.core.storage import get_bytes
from guichet.loader import Item, Model
from guichet.partners.dropzone import backends, dataplane, processing, tasks
from guichet.partners.integrate import Integrator
from tests.dropzone.conftest import PartnerFactory, loader_body, service_client
from tests.dropzone.test_guarantees import counts, put
from tests.loader import factories as f

Runner = Callable[[], Awaitable[dict[str, int]]]


async def rows(session: AsyncSession) -> dict[str, tuple[str, int, bool]]:
    """key → (status, attempts, archived)."""
    result = await session.execute(
        text("SELECT key, status, attempts, archived_at IS NOT NULL FROM dropzone_object")
    )
    return {key: (status, attempts, archived) for key, status, attempts, archived in result}


async def assert_sources_stored(session: AsyncSession, settings: Settings) -> None:
    """Every run's source is stored, whole, and no other source is (none left behind by a
    redone batch)."""
    runs = (await session.execute(text("SELECT source_key, source_sha256 FROM loader_run"))).all()
    store = storage.current()
    for key, sha256 in runs:
        assert hashlib.sha256(await get_bytes(store, key)).hexdigest() == sha256
    stored = {
        path.relative_to(settings.blobs_dir).as_posix()
        for path in (settings.blobs_dir / "loaders").rglob("*")
        if path.is_file()
    }
    assert stored == {key for key, _ in runs}


class TestBatches:
    async def test_a_failing_file_is_retried_alone(
        self,
        new_partner: PartnerFactory,
        session: AsyncSession,
        run_jobs: Runner,
        outbox: Callable[[], list[EmailMessage]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        p = await new_partner("batch")
        for n, key in enumerate(["a.json", "b.json", "c.json"]):
            put(p, key, loader_body(p, properties=[f.property_(f"P{n}")]))
        await tasks.sweep()
        original = processing.process

        async def flaky(*args: Any, **kwargs: Any) -> processing.Processed:
            if args[2].key == "b.json":  # (recorder, settings, obj, depositor, download, run id)
                raise ConnectionError("database hiccup")
            return await original(*args, **kwargs)

        monkeypatch.setattr(processing, "process", flaky)
        await tasks.drain_bucket(p["bucket"])
        assert await rows(session) == {
            "a.json": ("done", 1, False),
            "b.json": ("pending", 1, False),
            "c.json": ("done", 1, False),
        }
        assert len(outbox()) == 2  # sent at once by the drain
        assert (await counts(session))["records"] == 2
        retry = await session.scalar(
            text(
                "SELECT scheduled_at > now() FROM procrastinate_jobs"
                " WHERE queueing_lock = :lock AND status = 'todo'"
            ),
            {"lock": f"dropzone:retry:{p['bucket']}"},
        )
        assert retry is True  # later, and not under the bucket's own lock
        monkeypatch.undo()
        # Time passes (the test's transaction freezes now()): the claim is no longer fresh.
        await session.execute(
            text("UPDATE dropzone_object SET started_at = now() - interval '1 minute'")
        )
        await run_jobs()
        assert await rows(session) == {
            "a.json": ("done", 1, True),
            "b.json": ("done", 2, True),
            "c.json": ("done", 1, True),
        }
        assert sorted(str(m["Subject"]).split("] ")[1] for m in outbox()) == [
            "a.json : SUCCESS",
            "b.json : SUCCESS",
            "c.json : SUCCESS",
        ]
        assert (await counts(session))["records"] == 3

    async def test_a_database_error_in_an_entry_fails_that_entry_alone(
        self,
        new_partner: PartnerFactory,
        session: AsyncSession,
        settings: Settings,
        outbox: Callable[[], list[EmailMessage]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Files are integrated under one savepoint; a real database error (which aborts the
        transaction up to that savepoint) makes the file redone with a savepoint per entry:
        as on the REST endpoint, that entry fails and the others are kept, at the first try."""
        p = await new_partner("entries")
        real_store = Integrator._store

        async def store_then_break(
            self: Integrator, model: Model, items: list[Item], account_id: int
        ) -> None:
            await real_store(self, model, items, account_id)
            client = items[0].entry.client
            if model is Model.TRANSACTIONS and client and client.email.startswith("bad"):
                await self.session.execute(text("SELECT 1 / 0"))  # a real database error

        monkeypatch.setattr(Integrator, "_store", store_then_break)
        entries = [
            f.client("good@example.org", properties=[f.property_("P1")],
                     transactions=[f.transaction("T1", "P1")]),
            f.client("bad@example.org", properties=[f.property_("P2")],
                     transactions=[f.transaction("T2", "P2")]),
        ]  # fmt: skip
        put(p, "two.json", loader_body(p, clients=entries))
        put(p, "alone.json", loader_body(p, clients=entries[1:]))
        put(p, "fine.json", loader_body(p, properties=[f.property_("P3")]))
        await tasks.sweep()
        await tasks.drain_bucket(p["bucket"])
        assert {key: status for key, (status, _, _) in (await rows(session)).items()} == {
            "two.json": "done", "alone.json": "done", "fine.json": "done",
        }  # fmt: skip
        results = dict(
            (await session.execute(text("SELECT key, result FROM dropzone_object"))).all()
        )
        assert results == {"two.json": "PARTIAL_SUCCESS", "alone.json": "ERROR",
                           "fine.json": "SUCCESS"}  # fmt: skip
        stored = await session.execute(
            text("SELECT model, external_id FROM loader_record ORDER BY model, external_id")
        )
        assert stored.all() == [("properties", "P1"), ("properties", "P3"), ("transactions", "T1")]
        assert (await counts(session))["runs"] == 3
        assert len(outbox()) == 3
        await assert_sources_stored(session, settings)

    async def test_archives_wait_while_files_wait(
        self, new_partner: PartnerFactory, session: AsyncSession
    ) -> None:
        p = await new_partner("later")
        put(p, "first.json", loader_body(p, properties=[f.property_("P1")]))
        await tasks.sweep()
        await tasks.drain_bucket(p["bucket"])
        first = await session.scalar(text("SELECT id FROM dropzone_object"))
        put(p, "second.json", loader_body(p, properties=[f.property_("P2")]))
        await tasks.sweep()  # pending: the first one's archive waits
        await tasks.archive_objects([first])
        assert (await rows(session))["first.json"] == ("done", 1, False)
        postponed = await session.scalar(
            text(
                "SELECT args FROM procrastinate_jobs WHERE task_name = 'dropzone:archive_objects'"
                " AND scheduled_at IS NOT NULL ORDER BY id DESC LIMIT 1"
            )
        )
        assert postponed == {"object_ids": [first], "postponed": 1}
        await tasks.drain_bucket(p["bucket"])
        await tasks.archive_objects([first], postponed=1)
        assert (await rows(session))["first.json"] == ("done", 1, True)
        # Never more than ARCHIVE_POSTPONES times, even if files keep waiting.
        put(p, "third.json", loader_body(p, properties=[f.property_("P3")]))
        await tasks.sweep()
        second = await session.scalar(
            text("SELECT id FROM dropzone_object WHERE key = 'second.json'")
        )
        await tasks.archive_objects([second], postponed=tasks.ARCHIVE_POSTPONES)
        assert (await rows(session))["second.json"] == ("done", 1, True)


class TestObjectCalls:
    async def test_get_head_copy_put(self, new_partner: PartnerFactory, settings: Settings) -> None:
        p = await new_partner("calls")
        etag = put(p, "in/a.json", b'{"hello": "world"}')
        backend = backends.current()
        info = await backend.head(p["bucket"], "in/a.json")
        assert info is not None and (info.etag, info.size) == (etag, 18)
        fetched = await backend.fetch(p["bucket"], "in/a.json", max_bytes=1024)
        assert fetched is not None and fetched[1] == b'{"hello": "world"}'
        too_big = await backend.fetch(p["bucket"], "in/a.json", max_bytes=10)
        assert too_big is not None and too_big[0].size == 18 and too_big[1] is None
        assert await backend.fetch(p["bucket"], "in/missing.json", max_bytes=10) is None
        assert await backend.head(p["bucket"], "in/missing.json") is None
        assert await backend.copy(p["bucket"], "in/a.json", "success/a.json") is True
        assert await backend.copy(p["bucket"], "in/missing.json", "success/b.json") is False
        await backend.put(p["bucket"], "reports/a.json", b"{}", "application/json")
        client = service_client(settings)
        report = client.get_object(Bucket=p["bucket"], Key="reports/a.json")
        assert report["ContentType"] == "application/json" and report["Body"].read() == b"{}"
        copied = client.get_object(Bucket=p["bucket"], Key="success/a.json")["Body"].read()
        assert copied == b'{"hello": "world"}'

    def test_keys_object_store_cannot_name(self) -> None:
        assert dataplane.representable("in/a.json")
        assert dataplane.representable("loader-1.json")
        for key in ["", "a//b.json", "./a.json", "a/../b.json", "a/."]:
            assert not dataplane.representable(key)

    async def test_such_keys_go_through_boto3(self, new_partner: PartnerFactory) -> None:
        p = await new_partner("oddkeys")
        backend = backends.current()
        assert isinstance(backend, backends.SeaweedBackend)
        calls: list[str] = []
        real = backend.objects.fallback

        class Spy:
            async def head(self, bucket: str, key: str) -> Any:
                calls.append(f"head {key}")
                return await real.head(bucket, key)

            async def fetch(self, bucket: str, key: str, *, max_bytes: int) -> Any:
                calls.append(f"fetch {key}")
                return await real.fetch(bucket, key, max_bytes=max_bytes)

            async def copy(self, bucket: str, source_key: str, target_key: str) -> bool:
                calls.append(f"copy {source_key}")
                return await real.copy(bucket, source_key, target_key)

            async def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
                calls.append(f"put {key}")
                await real.put(bucket, key, body, content_type)

        objects = dataplane.ObjectCalls(backend.settings, virtual_hosted=False, fallback=Spy())
        await objects.put(p["bucket"], "in/plain.json", b"{}", "application/json")
        assert await objects.fetch(p["bucket"], "in/plain.json", max_bytes=10) is not None
        assert calls == []
        # SeaweedFS itself refuses `.` segments; an empty one reaches it through boto3.
        assert await objects.head(p["bucket"], "a//b.json") is None
        assert await objects.fetch(p["bucket"], "a//b.json", max_bytes=10) is None
        assert await objects.copy(p["bucket"], "a//b.json", "success/b.json") is False
        assert calls == ["head a//b.json", "fetch a//b.json", "copy a//b.json"]


class TestFilerReads:
    """The SeaweedFS backend reads objects through its filer; the S3 API stays the authority."""

    async def test_the_filer_serves_what_s3_serves(
        self, new_partner: PartnerFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        p = await new_partner("filer")
        backend = backends.current()
        assert isinstance(backend, backends.SeaweedBackend)
        for key in ["in/a.json", "a b/é+%?#&=;.json", "x" * 200 + ".json"]:
            body = f'{{"key": "{key[:20]}"}}'.encode()
            etag = put(p, key, body)
            assert backend.filer_reads is not None
            read = await backend.filer_reads.fetch(p["bucket"], key, max_bytes=1024)
            assert read is not None, key
            assert (read[0].etag, read[0].size, read[1]) == (etag, len(body), body)
            via_s3 = await backend.objects.fetch(p["bucket"], key, max_bytes=1024)
            assert via_s3 is not None and via_s3[0].etag == read[0].etag

        async def no_s3(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the S3 GET was used")

        monkeypatch.setattr(backend.objects, "fetch", no_s3)
        fetched = await backend.fetch(p["bucket"], "in/a.json", max_bytes=1024)
        assert fetched is not None and fetched[1] == b'{"key": "in/a.json"}'

    async def test_anything_unclear_is_left_to_s3(
        self, new_partner: PartnerFactory, settings: Settings
    ) -> None:
        p = await new_partner("filerno")
        backend = backends.current()
        assert isinstance(backend, backends.SeaweedBackend)
        reads = backend.filer_reads
        assert reads is not None
        put(p, "small.json", b'{"a": 1}')
        assert await reads.fetch(p["bucket"], "missing.json", max_bytes=1024) is None
        assert await reads.fetch(p["bucket"], "small.json", max_bytes=4) is None  # over the cap
        assert await reads.fetch(p["bucket"], "a//b.json", max_bytes=1024) is None
        # The filer's ETag of a multipart object is its own: such objects go through S3.
        client = service_client(settings)
        upload = client.create_multipart_upload(Bucket=p["bucket"], Key="multi.json")
        parts = []
        for number, chunk in enumerate([b"[" + b" " * (5 * 1024 * 1024), b"]"], start=1):
            done = client.upload_part(
                Bucket=p["bucket"], Key="multi.json", UploadId=upload["UploadId"],
                PartNumber=number, Body=chunk,
            )  # fmt: skip
            parts.append({"ETag": done["ETag"], "PartNumber": number})
        finished = client.complete_multipart_upload(
            Bucket=p["bucket"], Key="multi.json", UploadId=upload["UploadId"],
            MultipartUpload={"Parts": parts},
        )  # fmt: skip
        assert await reads.fetch(p["bucket"], "multi.json", max_bytes=10**8) is None
        fetched = await backend.fetch(p["bucket"], "multi.json", max_bytes=10**8)
        assert fetched is not None and fetched[1] is not None and len(fetched[1]) == 5 * 2**20 + 2
        assert fetched[0].etag == dataplane.clean_etag(finished["ETag"])
        # An unreachable filer: no read (and no retries), S3 answers.
        dead = dataplane.FilerReads("127.0.0.1:9")
        assert await dead.fetch(p["bucket"], "small.json", max_bytes=1024) is None
        backend.filer_reads, real = dead, backend.filer_reads
        try:
            fetched = await backend.fetch(p["bucket"], "small.json", max_bytes=1024)
            assert fetched is not None and fetched[1] == b'{"a": 1}'
        finally:
            backend.filer_reads = real

    def test_an_external_filer_is_not_read(self, settings: Settings) -> None:
        dropzone = settings.dropzone
        external = dropzone.model_copy(
            update={"seaweedfs": dropzone.seaweedfs.model_copy(update={"embedded": False})}
        )
        assert backends.SeaweedBackend(external).filer_reads is None
        assert backends.SeaweedBackend(dropzone).filer_reads is not None

    def test_filer_address(self) -> None:
        assert dataplane.filer_http_address("127.0.0.1:8888") == "127.0.0.1:8888"
        assert dataplane.filer_http_address("127.0.0.1:8888.18888") == "127.0.0.1:8888"
        assert dataplane.filer_http_address("filer.internal:8888") == "filer.internal:8888"
