"""Blob store: the same contract for the local directory and a real S3 API (SeaweedFS)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from guichet.core.storage import (
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    InvalidBlobKey,
    LocalBlobStore,
    S3BlobStore,
    digest_of,
    get_bytes,
    put_bytes,
    put_many,
)
from tests.conftest import S3Server

MiB = 1024 * 1024


async def stream(data: bytes, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]
        await asyncio.sleep(0)


async def failing_stream(data: bytes, after: int) -> AsyncIterator[bytes]:
    async for chunk in stream(data[:after]):
        yield chunk
    raise ConnectionResetError("client went away")


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
        return
    server: S3Server = request.getfixturevalue("s3_server")
    # 5 MiB parts (S3's minimum): a 12 MiB upload makes 3 parts.
    settings = server.settings(
        "guichet-test",
        prefix=f"{uuid.uuid4().hex}/",
        multipart_threshold=5 * MiB,
        part_size=5 * MiB,
    )
    s3 = S3BlobStore(settings)
    asyncio.run(s3.ensure_bucket())
    yield s3


class TestBlobStoreContract:
    async def test_roundtrip_reports_size_and_digests(self, store: BlobStore) -> None:
        data = b"cle_interop;voie_nom\n" * 1000
        blob = await store.put_stream("revisions/r1/bal.csv", stream(data))
        assert blob.size == len(data)
        assert blob.md5 == hashlib.md5(data).hexdigest()
        assert blob.sha256 == hashlib.sha256(data).hexdigest()
        assert await get_bytes(store, "revisions/r1/bal.csv") == data
        assert await store.exists("revisions/r1/bal.csv")

    async def test_empty_blob(self, store: BlobStore) -> None:
        blob = await put_bytes(store, "empty", b"")
        assert (blob.size, blob.sha256) == (0, hashlib.sha256(b"").hexdigest())
        assert await get_bytes(store, "empty") == b""

    async def test_large_blob_streams_in_parts(self, store: BlobStore) -> None:
        data = os.urandom(12 * MiB + 123)
        blob = await store.put_stream("big.bin", stream(data, chunk=256 * 1024))
        assert blob.sha256 == hashlib.sha256(data).hexdigest()
        reader = await store.open("big.bin", chunk_size=MiB)
        assert reader.size == len(data)
        received = bytearray()
        async for chunk in reader:
            assert len(chunk) <= MiB
            received += chunk
        assert bytes(received) == data

    async def test_size_limit_is_enforced_while_streaming(self, store: BlobStore) -> None:
        with pytest.raises(BlobTooLarge):
            await store.put_stream("too-big", stream(b"x" * (6 * MiB)), max_bytes=6 * MiB - 1)
        assert not await store.exists("too-big")

    async def test_size_limit_inclusive(self, store: BlobStore) -> None:
        blob = await store.put_stream("exact", stream(b"x" * 1000), max_bytes=1000)
        assert blob.size == 1000

    async def test_interrupted_upload_leaves_nothing(self, store: BlobStore) -> None:
        with pytest.raises(ConnectionResetError):
            await store.put_stream("broken", failing_stream(os.urandom(7 * MiB), after=6 * MiB))
        assert not await store.exists("broken")

    async def test_interrupted_overwrite_keeps_previous_version(self, store: BlobStore) -> None:
        await put_bytes(store, "doc", b"version 1")
        with pytest.raises(ConnectionResetError):
            await store.put_stream("doc", failing_stream(b"version 2 " * 1000, after=5000))
        assert await get_bytes(store, "doc") == b"version 1"

    async def test_cancelled_upload_leaves_nothing(self, store: BlobStore) -> None:
        started = asyncio.Event()

        async def endless() -> AsyncIterator[bytes]:
            while True:
                yield b"y" * 65536
                started.set()
                await asyncio.sleep(0)

        task = asyncio.create_task(store.put_stream("cancelled", endless()))
        await started.wait()
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not await store.exists("cancelled")

    async def test_missing_blob(self, store: BlobStore) -> None:
        with pytest.raises(BlobNotFound):
            await store.open("nope/nothing")
        assert not await store.exists("nope/nothing")

    async def test_delete_is_idempotent(self, store: BlobStore) -> None:
        await put_bytes(store, "a/b", b"1")
        await store.delete("a/b")
        await store.delete("a/b")
        assert not await store.exists("a/b")

    @pytest.mark.parametrize(
        "key", ["", "/abs", "a/../b", "a//b", "./a", "a/", "a\\b", ".upload-x", "a\x00"]
    )
    async def test_unsafe_keys_are_refused(self, store: BlobStore, key: str) -> None:
        with pytest.raises(InvalidBlobKey):
            await put_bytes(store, key, b"1")


class TestPutMany:
    async def test_every_body_is_stored_as_put_bytes_would(self, store: BlobStore) -> None:
        items = [
            (f"runs/{day}/{n}.json", f'{{"n": {n}}}'.encode()) for day in "ab" for n in range(3)
        ]
        await put_many(store, items)
        expected = dict(items)
        for key, data in expected.items():
            assert await get_bytes(store, key) == data
        await put_many(store, [])
        reference = await put_bytes(store, "ref", b'{"n": 1}')
        assert digest_of("ref", b'{"n": 1}') == reference

    async def test_local_leaves_no_temp_file_and_private_modes(self, tmp_path: Path) -> None:
        store = LocalBlobStore(tmp_path)
        await put_many(store, [("d/a", b"1"), ("d/b", b"2"), ("e/c", b"3")])
        assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["a", "b"]
        assert (tmp_path / "e" / "c").stat().st_mode & 0o777 == 0o600  # personal data
        with pytest.raises(InvalidBlobKey):
            await put_many(store, [("d/ok", b"1"), ("../escape", b"2")])


class TestLocalBackend:
    async def test_no_temp_file_left_after_failures(self, tmp_path: Path) -> None:
        store = LocalBlobStore(tmp_path)
        await put_bytes(store, "d/ok", b"1")
        with pytest.raises(BlobTooLarge):
            await store.put_stream("d/big", stream(b"x" * 100), max_bytes=10)
        with pytest.raises(ConnectionResetError):
            await store.put_stream("d/broken", failing_stream(b"x" * 100, after=50))
        assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["ok"]

    async def test_blob_is_private_to_its_user(self, tmp_path: Path) -> None:
        # Blobs are personal data (issue #11): 0600, not a normal file's 0644.
        await put_bytes(LocalBlobStore(tmp_path), "f", b"1")
        assert (tmp_path / "f").stat().st_mode & 0o777 == 0o600

    async def test_concurrent_writers_of_one_key_leave_one_whole_version(
        self, tmp_path: Path
    ) -> None:
        store = LocalBlobStore(tmp_path)
        versions = [bytes([n]) * (3 * MiB) for n in range(4)]
        await asyncio.gather(*(store.put_stream("k", stream(v)) for v in versions))
        assert await get_bytes(store, "k") in versions


class TestS3Backend:
    async def test_aborted_multipart_upload_is_cleaned_up(self, s3_server: S3Server) -> None:
        store = S3BlobStore(s3_server.settings("guichet-abort", multipart_threshold=5 * MiB))
        await store.ensure_bucket()
        with pytest.raises(BlobTooLarge):
            await store.put_stream("big", stream(b"z" * (11 * MiB)), max_bytes=10 * MiB)
        uploads = store.client.list_multipart_uploads(Bucket="guichet-abort").get("Uploads", [])
        assert uploads == []
        assert not await store.exists("big")

    async def test_prefix_is_applied_to_object_keys(self, s3_server: S3Server) -> None:
        store = S3BlobStore(s3_server.settings("guichet-prefix", prefix="tenant/"))
        await store.ensure_bucket()
        await put_bytes(store, "x/y", b"1")
        listed = store.client.list_objects_v2(Bucket="guichet-prefix")["Contents"]
        assert [item["Key"] for item in listed] == ["tenant/x/y"]
