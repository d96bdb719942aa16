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

The interface and shared pieces live in `_base`, the backends in `local` and `s3`; this module
gathers them with the helpers the domains use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Annotated

from fastapi import Depends, Request

from guichet.core.config import Settings
from guichet.core.storage._base import (
    CHUNK_SIZE,
    BlobNotFound,
    BlobReader,
    BlobStore,
    BlobTooLarge,
    InvalidBlobKey,
    StoredBlob,
    check_key,
    digest_of,
)
from guichet.core.storage.local import LocalBlobStore
from guichet.core.storage.s3 import S3BlobStore, create_s3_client

__all__ = [
    "CHUNK_SIZE",
    "BlobNotFound",
    "BlobReader",
    "BlobStore",
    "BlobTooLarge",
    "Blobs",
    "InvalidBlobKey",
    "LocalBlobStore",
    "S3BlobStore",
    "StoredBlob",
    "check_key",
    "configure",
    "create_blob_store",
    "create_s3_client",
    "current",
    "digest_of",
    "get_blob_store",
    "get_bytes",
    "put_bytes",
    "put_many",
]


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


async def get_bytes(store: BlobStore, key: str) -> bytes:
    reader = await store.open(key)
    try:
        return b"".join([chunk async for chunk in reader])
    finally:
        await reader.aclose()


def create_blob_store(settings: Settings) -> BlobStore:
    if settings.storage.backend == "s3":
        return S3BlobStore(settings.storage.s3)
    return LocalBlobStore(settings.blobs_dir)


# --- the process's store (jobs) and request dependency (routes) ------------------------------


def current() -> BlobStore:
    """The process's blob store, for jobs (part of the installed `Services`)."""
    from guichet.core import services

    return services.current().blob_store


def get_blob_store(request: Request) -> BlobStore:
    store: BlobStore = request.app.state.blob_store
    return store


Blobs = Annotated[BlobStore, Depends(get_blob_store)]
