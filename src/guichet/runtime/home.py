"""The data directory (`GUICHET_HOME`) is private: it holds personal data (uploaded files, partners'
records, e-mails, the database) and secrets (the admin token, SeaweedFS's identities and its
filer, which keeps partners' keys).

Two measures, both at the start of every command: the process's umask becomes 0077, so that
everything it and its children (PostgreSQL, SeaweedFS) create is 0600 / 0700; and what already
exists (a home made by an older version, or copied with looser modes) is brought back to that.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable
from pathlib import Path

from guichet.core.logging import get_logger

log = get_logger(__name__)

PRIVATE_UMASK = 0o077
_GROUP_AND_OTHERS = 0o077
_OTHERS_TRAVERSE = 0o001


def use_private_umask() -> None:
    """Files and directories this process (and its children) creates: 0600 / 0700."""
    os.umask(PRIVATE_UMASK)


def make_private(home: Path, extra_roots: Iterable[Path] = ()) -> int:
    """Take group and others' rights off everything under `home` (and `extra_roots`: the blob
    store or outbox when configured elsewhere); returns how many entries were changed.

    One exception: `home` and `home/postgres` keep the traverse bit (o+x) when they have it.
    As root, the embedded PostgreSQL runs as its own system user, which must reach its data
    directory through them (`guichet.runtime.postgres` sets that bit; it grants no listing).
    """
    home = home.resolve()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    traverse = {home, home / "postgres"}
    started = time.monotonic()
    changed = 0
    for root in {home, *(path.resolve() for path in extra_roots)}:
        if root.is_dir():
            changed += _make_tree_private(root, traverse)
    if changed:
        log.info(
            "home.modes_fixed",
            home=str(home),
            changed=changed,
            seconds=round(time.monotonic() - started, 2),
        )
    return changed


def _make_tree_private(root: Path, traverse: set[Path]) -> int:
    changed = int(_make_private(root, traverse))
    # os.walk follows no directory symlink; a symlinked file is skipped below (chmod would
    # change its target, which may lie anywhere).
    for directory, dirnames, filenames in os.walk(root):
        base = Path(directory)
        for name in [*dirnames, *filenames]:
            changed += _make_private(base / name, traverse)
    return changed


def _make_private(path: Path, traverse: set[Path]) -> bool:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False  # removed meanwhile (a temp file of a running server)
    if stat.S_ISLNK(info.st_mode):
        return False
    mode = stat.S_IMODE(info.st_mode)
    keep = _OTHERS_TRAVERSE if stat.S_ISDIR(info.st_mode) and path in traverse else 0
    wanted = mode & ~(_GROUP_AND_OTHERS & ~keep)
    if wanted == mode:
        return False
    try:
        path.chmod(wanted)
    except FileNotFoundError:
        return False
    return True
