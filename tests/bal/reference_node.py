"""The reference validator's ``node_modules``, for the tests that compare Guichet with it.

Found where one is already installed (``BAL_REFERENCE_NODE_MODULES``, ``../shared``,
``/tmp/bal``); otherwise installed once with ``npm ci`` from the reference's own lock file into
``.cache/bal-reference`` beside the repository, so that a fresh clone runs these comparisons
too instead of skipping them. The pytest workers share that install through a file lock.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED_NODE = REPO.parent / "shared" / "bal" / "reference" / "node"
CACHE = REPO / ".cache" / "bal-reference"
NPM_TIMEOUT_S = 600


def node_modules(package: str) -> Path | None:
    """A ``node_modules`` folder holding ``package``, or None (the reason: :func:`why_not`)."""
    for candidate in _installed_candidates():
        if (candidate / package).exists():
            return candidate
    installed = _installed_here()
    return installed if installed is not None and (installed / package).exists() else None


def why_not() -> str:
    """Why :func:`node_modules` found nothing (for the skip message)."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (SHARED_NODE / "package-lock.json").is_file():
        return "../shared/bal/reference/node (the reference's lock file) is not beside the repo"
    if shutil.which("npm") is None:
        return "npm is not installed: the reference's node_modules cannot be installed"
    return f"npm ci failed for the reference (see {CACHE / 'npm.log'})"


def _installed_candidates() -> list[Path]:
    given = os.environ.get("BAL_REFERENCE_NODE_MODULES", "")
    paths = [SHARED_NODE / "node_modules", Path("/tmp/bal/reference/node/node_modules")]
    return [Path(given), *paths] if given else paths


@cache
def _installed_here() -> Path | None:
    """``npm ci`` of the reference's lock file into :data:`CACHE`, done once for every worker."""
    lock_file = SHARED_NODE / "package-lock.json"
    if shutil.which("npm") is None or shutil.which("node") is None or not lock_file.is_file():
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    modules = CACHE / "node_modules"
    stamp = CACHE / "installed.lock.json"  # the lock file the install was made from
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be installing: wait for it
        if stamp.is_file() and stamp.read_bytes() == lock_file.read_bytes():
            return modules
        shutil.rmtree(modules, ignore_errors=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(SHARED_NODE / name, CACHE / name)
        with (CACHE / "npm.log").open("w") as log:
            try:
                done = subprocess.run(
                    ["npm", "ci", "--no-audit", "--no-fund"],
                    cwd=CACHE,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=NPM_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                return None
        if done.returncode != 0:
            return None
        shutil.copyfile(lock_file, stamp)
        return modules
