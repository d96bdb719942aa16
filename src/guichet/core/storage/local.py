"""The local-directory blob store: temp file in the target's directory, fsync, atomic rename,
directory fsync. Blobs are personal data (uploaded BAL files, partners' sources and documents):
files 0600, directories 0700, whatever the process's umask."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from pathlib import Path
from typing import BinaryIO

from guichet.core.storage._base import (
    CHUNK_SIZE,
    BlobNotFound,
    BlobReader,
    StoredBlob,
    _Digest,
    check_key,
    digest_of,
)


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
        await asyncio.to_thread(_make_private_dirs, path.parent)
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
        self.write_many([(key, data)])
        return digest_of(key, data)

    def write_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        """`write_bytes` of several bodies, blocking (call it from a thread): each written to a
        temp file, fsynced and renamed into place, then each directory fsynced once, after
        which every rename is durable (rather than one directory fsync per body)."""
        directories: dict[Path, None] = {}
        for key, data in items:
            path = self._path(key)
            _make_private_dirs(path.parent)
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                _place(Path(tmp_name), path)
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
    _place(tmp, path)
    _fsync_directory(path.parent)


FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def _place(tmp: Path, path: Path) -> None:
    tmp.chmod(FILE_MODE)  # mkstemp's already; said here so that it stays so
    os.replace(tmp, path)


def _make_private_dirs(directory: Path) -> None:
    """`mkdir -p` with every created level 0700 (`parents=True` would create the parents with
    the umask's mode)."""
    missing: list[Path] = []
    while not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for level in reversed(missing):
        try:
            level.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:
            continue  # made meanwhile by a concurrent write
        level.chmod(DIRECTORY_MODE)  # mkdir's mode is filtered by the umask


def _fsync_directory(directory: Path) -> None:
    """fsync a directory, so that the renames into it survive a crash."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
