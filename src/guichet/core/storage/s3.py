"""The S3 blob store (any S3 API): one PUT, or a multipart upload completed only at the end
and aborted on any failure."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING

from guichet.core.config import S3Settings
from guichet.core.storage._base import (
    CHUNK_SIZE,
    BlobNotFound,
    BlobReader,
    StoredBlob,
    _Digest,
    check_key,
)

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef


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
