"""Blob store: one small async interface, two backends (local directory, any S3 API).

Guarantees of `put_stream`, for both backends:
* all or nothing: a reader never sees a half-written blob, and an interrupted upload (error,
  size limit, cancellation) leaves nothing behind — local: temp file in the same directory,
  fsync, atomic rename; S3: one PUT, or a multipart upload completed only at the end and
  aborted on any failure;
* the size limit is enforced while streaming (`BlobTooLarge` as soon as it is crossed);
* size, MD5 and SHA-256 are computed on the bytes actually stored.

Keys are relative, `/`-separated paths (`revisions/<id>/bal.csv`); `..`, empty or absolute
segments are refused.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO, Protocol

from fastapi import Depends, Request

from guichet.config import S3Settings, Settings
from guichet.errors import GuichetError, NotFound, PayloadTooLarge

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

CHUNK_SIZE = 1024 * 1024


class BlobNotFound(NotFound):
    code, default_message = "blob_not_found", "Blob not found"


class BlobTooLarge(PayloadTooLarge):
    code, default_message = "blob_too_large", "File too large"


class InvalidBlobKey(GuichetError):
    """A programming error (keys are built by the code, never taken from a client as is)."""

    code = "invalid_blob_key"


@dataclass(frozen=True, slots=True)
class StoredBlob:
    key: str
    size: int
    md5: str  # hex
    sha256: str  # hex


class BlobReader(Protocol):
    size: int

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class BlobStore(Protocol):
    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        max_bytes: int | None = None,
        content_type: str = "application/octet-stream",
    ) -> StoredBlob: ...

    async def open(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> BlobReader:
        """Open a blob for streaming; raises `BlobNotFound` before any byte is sent."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove a blob; deleting a missing blob is not an error."""
        ...


async def put_bytes(store: BlobStore, key: str, data: bytes, **kwargs: str) -> StoredBlob:
    if isinstance(store, LocalBlobStore):  # one thread hop instead of one per step
        return await asyncio.to_thread(store.write_bytes, key, data)

    async def one_chunk() -> AsyncIterator[bytes]:
        yield data

    return await store.put_stream(key, one_chunk(), **kwargs)  # type: ignore[arg-type]


async def put_many(store: BlobStore, items: Sequence[tuple[str, bytes]]) -> None:
    """Store several bodies already in memory (keys distinct); all stored when it returns."""
    if isinstance(store, LocalBlobStore):  # one thread hop for all
        await asyncio.to_thread(store.write_many, items)
        return
    gate = asyncio.Semaphore(8)

    async def one(key: str, data: bytes) -> None:
        async with gate:
            await put_bytes(store, key, data)

    await asyncio.gather(*(one(key, data) for key, data in items))


def digest_of(key: str, data: bytes) -> StoredBlob:
    """What storing `data` under `key` gives, computed without storing it."""
    digest = _Digest(None)
    digest.count(data)
    digest.update(data)
    return digest.result(key)


async def get_bytes(store: BlobStore, key: str) -> bytes:
    reader = await store.open(key)
    try:
        return b"".join([chunk async for chunk in reader])
    finally:
        await reader.aclose()


def check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in {"", ".", ".."} for p in parts) or "\\" in key:
        raise InvalidBlobKey(f"invalid blob key {key!r}")
    if "\x00" in key or any(p.startswith(".upload-") for p in parts):
        raise InvalidBlobKey(f"invalid blob key {key!r}")
    return key


class _Digest:
    """Size, MD5 and SHA-256 of a stream, with the size limit checked on every chunk."""

    def __init__(self, max_bytes: int | None) -> None:
        self.size = 0
        self.max_bytes = max_bytes
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha256 = hashlib.sha256()

    def count(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise BlobTooLarge(max_bytes=self.max_bytes)

    def update(self, data: bytes) -> None:
        self.md5.update(data)
        self.sha256.update(data)

    def result(self, key: str) -> StoredBlob:
        return StoredBlob(key, self.size, self.md5.hexdigest(), self.sha256.hexdigest())


def create_blob_store(settings: Settings) -> BlobStore:
    if settings.storage.backend == "s3":
        return S3BlobStore(settings.storage.s3)
    return LocalBlobStore(settings.blobs_dir)


# --- local directory ------------------------------------------------------------------------


class _FileReader:
    def __init__(self, file: BinaryIO, size: int, chunk_size: int) -> None:
        self._file = file
        self.size = size
        self._chunk_size = chunk_size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            while chunk := await asyncio.to_thread(self._file.read, self._chunk_size):
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if not self._file.closed:
            await asyncio.to_thread(self._file.close)


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        max_bytes: int | None = None,
        content_type: str = "application/octet-stream",
    ) -> StoredBlob:
        path = self._path(key)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        # Same directory as the target: the final rename stays on one filesystem, hence atomic.
        fd, tmp_name = await asyncio.to_thread(
            tempfile.mkstemp, dir=path.parent, prefix=".upload-", suffix=".part"
        )
        digest = _Digest(max_bytes)
        try:
            with os.fdopen(fd, "wb") as file:
                buffer = bytearray()
                async for chunk in chunks:
                    digest.count(chunk)
                    buffer += chunk
                    if len(buffer) >= CHUNK_SIZE:
                        await asyncio.to_thread(_write, file, digest, bytes(buffer))
                        buffer.clear()
                await asyncio.to_thread(_write, file, digest, bytes(buffer), final=True)
            await asyncio.to_thread(_publish, Path(tmp_name), path)
        except BaseException:  # also on cancellation: never leave the temp file behind
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return digest.result(key)

    def write_bytes(self, key: str, data: bytes) -> StoredBlob:
        """`put_stream` of a body already in memory, blocking (call it from a thread)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".part")
        digest = _Digest(None)
        digest.count(data)
        try:
            with os.fdopen(fd, "wb") as file:
                _write(file, digest, data, final=True)
            _publish(Path(tmp_name), path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return digest.result(key)

    def write_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        """`write_bytes` of several bodies, blocking (call it from a thread): each written to a
        temp file, fsynced and renamed into place, then each directory fsynced once, after
        which every rename is durable (rather than one directory fsync per body)."""
        directories: dict[Path, None] = {}
        for key, data in items:
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                tmp = Path(tmp_name)
                tmp.chmod(0o644)  # mkstemp creates 0600 files
                os.replace(tmp, path)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            directories[path.parent] = None
        for directory in directories:
            _fsync_directory(directory)

    async def open(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> BlobReader:
        path = self._path(key)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise BlobNotFound(key=key) from None
        size = os.fstat(file.fileno()).st_size
        return _FileReader(file, size, chunk_size)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)


def _write(file: BinaryIO, digest: _Digest, data: bytes, *, final: bool = False) -> None:
    # Hashing happens here, in the worker thread, so large uploads do not block the event loop.
    digest.update(data)
    file.write(data)
    if final:
        file.flush()
        os.fsync(file.fileno())


def _publish(tmp: Path, path: Path) -> None:
    tmp.chmod(0o644)  # mkstemp creates 0600 files
    os.replace(tmp, path)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """fsync a directory, so that the renames into it survive a crash."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# --- S3 API ---------------------------------------------------------------------------------


def create_s3_client(settings: S3Settings) -> S3Client:
    # Imported here: boto3 takes ~0.3 s to import, and only S3 deployments pay for it.
    import boto3
    from botocore.config import Config

    secret = settings.secret_access_key.get_secret_value() if settings.secret_access_key else None
    config = Config(
        s3={"addressing_style": settings.addressing_style},
        retries={"max_attempts": 5, "mode": "standard"},
        # boto3 ≥ 1.36 adds CRC checksums (aws-chunked uploads) by default; several S3-compatible
        # servers reject them. We send Content-MD5 ourselves instead.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    client: S3Client = boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=secret,
        config=config,
    )
    return client


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


class _S3Reader:
    def __init__(self, body: StreamingBody, size: int, chunk_size: int) -> None:
        self._body = body
        self.size = size
        self._chunk_size = chunk_size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            while chunk := await asyncio.to_thread(self._body.read, self._chunk_size):
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        await asyncio.to_thread(self._body.close)


class _MultipartUpload:
    """The parts of one multipart upload, uploaded in order; aborted unless completed."""

    def __init__(self, client: S3Client, bucket: str, key: str, upload_id: str) -> None:
        self.client, self.bucket, self.key, self.upload_id = client, bucket, key, upload_id
        self.parts: list[CompletedPartTypeDef] = []

    def upload(self, digest: _Digest, data: bytes) -> None:
        digest.update(data)
        number = len(self.parts) + 1
        response = self.client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
            ContentMD5=_b64_md5(data),
        )
        self.parts.append({"ETag": response["ETag"], "PartNumber": number})

    def complete(self) -> None:
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    def abort(self) -> None:
        self.client.abort_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
        )


def _b64_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


class S3BlobStore:
    def __init__(self, settings: S3Settings, client: S3Client | None = None) -> None:
        if not settings.bucket:
            raise ValueError("the s3 storage backend needs GUICHET_STORAGE__S3__BUCKET")
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self.threshold = settings.multipart_threshold
        self.part_size = settings.part_size
        self.client = client or create_s3_client(settings)

    def _object_key(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def ensure_bucket(self) -> None:
        """Create the bucket when missing (development and tests; production buckets exist)."""
        try:
            await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)
        except Exception as exc:
            if not _is_missing(exc):
                raise
            await asyncio.to_thread(self.client.create_bucket, Bucket=self.bucket)

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        max_bytes: int | None = None,
        content_type: str = "application/octet-stream",
    ) -> StoredBlob:
        object_key = self._object_key(key)
        digest = _Digest(max_bytes)
        buffer = bytearray()
        upload: _MultipartUpload | None = None
        try:
            async for chunk in chunks:
                digest.count(chunk)
                buffer += chunk
                # Small blobs stay one PUT; past the threshold, switch to multipart.
                while len(buffer) >= (self.part_size if upload else self.threshold):
                    if upload is None:
                        upload = await self._start_multipart(object_key, content_type)
                    part = bytes(buffer[: self.part_size])
                    del buffer[: self.part_size]
                    await asyncio.to_thread(upload.upload, digest, part)
            if upload is None:
                await asyncio.to_thread(
                    self._put_object, object_key, digest, bytes(buffer), content_type
                )
            else:
                if buffer or not upload.parts:
                    await asyncio.to_thread(upload.upload, digest, bytes(buffer))
                await asyncio.to_thread(upload.complete)
        except BaseException:
            if upload is not None:
                # Abort even when cancelled: an incomplete multipart upload is invisible but billed.
                with contextlib.suppress(Exception):
                    await asyncio.shield(asyncio.to_thread(upload.abort))
            raise
        return digest.result(key)

    async def _start_multipart(self, object_key: str, content_type: str) -> _MultipartUpload:
        response = await asyncio.to_thread(
            self.client.create_multipart_upload,
            Bucket=self.bucket,
            Key=object_key,
            ContentType=content_type,
        )
        return _MultipartUpload(self.client, self.bucket, object_key, response["UploadId"])

    def _put_object(self, object_key: str, digest: _Digest, data: bytes, content_type: str) -> None:
        digest.update(data)
        self.client.put_object(
            Bucket=self.bucket,
            Key=object_key,
            Body=data,
            ContentType=content_type,
            ContentMD5=_b64_md5(data),
        )

    async def open(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> BlobReader:
        object_key = self._object_key(key)
        try:
            response = await asyncio.to_thread(
                self.client.get_object, Bucket=self.bucket, Key=object_key
            )
        except Exception as exc:
            if _is_missing(exc):
                raise BlobNotFound(key=key) from None
            raise
        return _S3Reader(response["Body"], response["ContentLength"], chunk_size)

    async def exists(self, key: str) -> bool:
        try:
            await asyncio.to_thread(
                self.client.head_object, Bucket=self.bucket, Key=self._object_key(key)
            )
        except Exception as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(
            self.client.delete_object, Bucket=self.bucket, Key=self._object_key(key)
        )


# --- process-wide store (jobs) and request dependency (routes) -------------------------------

_current: BlobStore | None = None


def configure(store: BlobStore | None) -> None:
    global _current
    _current = store


def current() -> BlobStore:
    """The process's blob store, for jobs (set by `create_app` and `guichet worker`)."""
    if _current is None:
        raise RuntimeError("guichet.storage.configure() was not called")
    return _current


def get_blob_store(request: Request) -> BlobStore:
    store: BlobStore = request.app.state.blob_store
    return store


Blobs = Annotated[BlobStore, Depends(get_blob_store)]
