"""The blob store's interface and what its backends share: errors, `StoredBlob`, key rules,
the streaming digest."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from guichet.core.errors import GuichetError, NotFound, PayloadTooLarge

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


def digest_of(key: str, data: bytes) -> StoredBlob:
    """What storing `data` under `key` gives, computed without storing it."""
    digest = _Digest(None)
    digest.count(data)
    digest.update(data)
    return digest.result(key)
