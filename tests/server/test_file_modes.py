"""Nothing under the data directory is readable by other users (issue #11, item 5): blobs,
SeaweedFS's data and filer (partners' keys), PostgreSQL's, the admin token, the logs."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from guichet.core import storage
from guichet.runtime.home import make_private
from tests.conftest import free_port
from tests.server.test_serve import Served, servers, start  # noqa: F401 (the fixture)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual umask (0022), whatever the test runner's: the code must not rely on ours."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def readable_by_others(root: Path, allowed_traverse: set[Path]) -> list[str]:
    """Every entry under `root` with a group or others bit, but symlinks (their mode means
    nothing) and the traverse bit (o+x) of `allowed_traverse`."""
    found = []
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        extra = mode(path) & 0o077
        if path in allowed_traverse and path.is_dir():
            extra &= ~0o001
        if extra:
            found.append(f"{oct(mode(path))} {path.relative_to(root.parent)}")
    return found


@pytest.mark.usefixtures("loose_umask")
async def test_blob_store_writes_private_files_and_directories(tmp_path: Path) -> None:
    store = storage.LocalBlobStore(tmp_path / "blobs")
    await storage.put_bytes(store, "revisions/r1/bal.csv", b"cle_interop;numero\n")

    async def chunks() -> AsyncIterator[bytes]:
        yield b"{}"

    await store.put_stream("loaders/sources/7/run.json", chunks())

    for key in ("revisions/r1/bal.csv", "loaders/sources/7/run.json"):
        path = tmp_path / "blobs" / key
        assert mode(path) == 0o600, key
        for directory in [path.parent, *path.parent.parents]:
            if directory == tmp_path:
                break
            assert mode(directory) == 0o700, directory


def test_make_private_fixes_what_an_older_version_left(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "blobs" / "revisions").mkdir(parents=True)
    (home / "postgres" / "data").mkdir(parents=True)
    (home / "blobs" / "revisions" / "bal.csv").write_text("x")
    (home / "admin_token").write_text("t")
    outside = tmp_path / "elsewhere.txt"  # a symlink's target is not ours to change
    outside.write_text("y")
    (home / "link").symlink_to(outside)
    for path in [home, *home.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    outside.chmod(0o644)
    (home / "postgres").chmod(0o751)

    assert make_private(home) > 0

    assert mode(home / "blobs" / "revisions" / "bal.csv") == 0o600
    assert mode(home / "admin_token") == 0o600
    assert mode(home / "blobs" / "revisions") == 0o700
    assert mode(home / "postgres" / "data") == 0o700
    # The traverse bit the embedded PostgreSQL's system user needs (as root) stays, alone.
    assert mode(home) == 0o701
    assert mode(home / "postgres") == 0o701
    assert mode(outside) == 0o644
    assert make_private(home) == 0  # nothing left to do


def test_serve_keeps_the_whole_home_private(
    tmp_path: Path,
    servers: list[Served],  # noqa: F811
    loose_umask: None,
) -> None:
    home = tmp_path / "home"
    # Left by an older version: a blob and the outbox readable by everyone.
    (home / "blobs" / "revisions").mkdir(parents=True)
    (home / "blobs" / "revisions" / "bal.csv").write_text("x")
    (home / "outbox" / "new").mkdir(parents=True)
    for path in [home, *home.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)

    served = start(home, free_port())  # embedded PostgreSQL, SeaweedFS, API, workers
    servers.append(served)

    # SeaweedFS's filer (partners' keys) and volumes, PostgreSQL's cluster and log, the
    # admin token, the blobs, the outbox: nothing for group or others.
    assert (home / "seaweedfs" / "data").is_dir()
    assert (home / "postgres" / "data" / "PG_VERSION").exists()
    assert readable_by_others(home, {home, home / "postgres"}) == []
    assert served.terminate() == 0
