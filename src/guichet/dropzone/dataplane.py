"""The per-object S3 calls of the processing path (GET, HEAD, server-side copy, PUT) through
obstore: native asyncio in Rust, about a quarter of boto3's CPU per call and no thread hop
(measured on the embedded SeaweedFS: 0.33 ms of CPU per small GET against boto3's 1.2 ms). Those
calls run several times per dropped file; listings and the control plane stay on boto3.

object_store cannot name every S3 key (empty, `.` or `..` path segments): such keys, which a
partner may still upload, go through the boto3 calls given as `fallback`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import obstore
from obstore.exceptions import InvalidPathError, NotFoundError
from obstore.store import S3Store

from guichet.config import DropzoneSettings

if TYPE_CHECKING:
    from obstore.store import ClientConfig  # typing only (stubs)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    etag: str
    size: int
    last_modified: dt.datetime | None = None


def clean_etag(etag: str) -> str:
    """Without the quotes of S3 listings and headers (events give it bare)."""
    return etag.strip().strip('"')


class Fallback(Protocol):
    """The boto3 versions of the same calls."""

    async def head(self, bucket: str, key: str) -> ObjectInfo | None: ...

    async def fetch(
        self, bucket: str, key: str, *, max_bytes: int
    ) -> tuple[ObjectInfo, bytes | None] | None: ...

    async def copy(self, bucket: str, source_key: str, target_key: str) -> bool: ...

    async def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None: ...


def representable(key: str) -> bool:
    """True if object_store can address `key` as it is."""
    return bool(key) and all(part not in {"", ".", ".."} for part in key.split("/"))


class ObjectCalls:
    """GET / HEAD / COPY / PUT on any bucket with the service's credentials."""

    def __init__(
        self, settings: DropzoneSettings, *, virtual_hosted: bool, fallback: Fallback
    ) -> None:
        self.settings = settings
        self.virtual_hosted = virtual_hosted
        self.fallback = fallback
        self._stores: dict[str, S3Store] = {}

    def _store(self, bucket: str) -> S3Store:
        store = self._stores.get(bucket)
        if store is None:
            store = self._stores[bucket] = self._new_store(bucket)
        return store

    def _new_store(self, bucket: str) -> S3Store:
        settings = self.settings
        options: dict[str, Any] = {
            "region": settings.region,
            "virtual_hosted_style_request": self.virtual_hosted,
        }
        if settings.endpoint_url:
            options["endpoint"] = settings.endpoint_url
        if settings.access_key_id and settings.secret_access_key:
            options["access_key_id"] = settings.access_key_id
            options["secret_access_key"] = settings.secret_access_key.get_secret_value()
        plain_http = bool(settings.endpoint_url and settings.endpoint_url.startswith("http:"))
        client: ClientConfig = {"allow_http": plain_http}
        return S3Store(bucket, client_options=client, **options)

    async def _call(
        self,
        keys: tuple[str, ...],
        fast: Callable[[], Awaitable[T]],
        slow: Callable[[], Awaitable[T]],
    ) -> T:
        if not all(representable(key) for key in keys):
            return await slow()
        try:
            return await fast()
        except InvalidPathError:
            return await slow()

    async def head(self, bucket: str, key: str) -> ObjectInfo | None:
        async def fast() -> ObjectInfo | None:
            try:
                meta = await obstore.head_async(self._store(bucket), key)
            except (NotFoundError, FileNotFoundError):  # obstore raises either
                return None
            return _info(key, meta)

        return await self._call((key,), fast, lambda: self.fallback.head(bucket, key))

    async def fetch(
        self, bucket: str, key: str, *, max_bytes: int
    ) -> tuple[ObjectInfo, bytes | None] | None:
        async def fast() -> tuple[ObjectInfo, bytes | None] | None:
            try:
                result = await obstore.get_async(self._store(bucket), key)
            except (NotFoundError, FileNotFoundError):  # obstore raises either
                return None
            info = _info(key, result.meta)
            if info.size > max_bytes:
                return info, None  # the body is never read; dropping the result closes it
            return info, bytes(await result.bytes_async())

        def slow() -> Awaitable[tuple[ObjectInfo, bytes | None] | None]:
            return self.fallback.fetch(bucket, key, max_bytes=max_bytes)

        return await self._call((key,), fast, slow)

    async def copy(self, bucket: str, source_key: str, target_key: str) -> bool:
        async def fast() -> bool:
            try:
                await obstore.copy_async(self._store(bucket), source_key, target_key)
            except (NotFoundError, FileNotFoundError):  # obstore raises either
                return False
            return True

        def slow() -> Awaitable[bool]:
            return self.fallback.copy(bucket, source_key, target_key)

        return await self._call((source_key, target_key), fast, slow)

    async def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        async def fast() -> None:
            attributes: Any = {"Content-Type": content_type}
            await obstore.put_async(self._store(bucket), key, body, attributes=attributes)

        def slow() -> Awaitable[None]:
            return self.fallback.put(bucket, key, body, content_type)

        await self._call((key,), fast, slow)


def _info(key: str, meta: Any) -> ObjectInfo:
    return ObjectInfo(key, clean_etag(meta.get("e_tag") or ""), meta["size"], meta["last_modified"])
