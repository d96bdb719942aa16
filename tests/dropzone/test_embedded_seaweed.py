"""The embedded SeaweedFS's own lifecycle (the shared server of the other tests: conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from guichet.core.config import DropzoneSettings
from guichet.partners.dropzone import backends
from guichet.runtime.seaweedfs import EmbeddedSeaweed


def test_stop_leaves_nothing_in_tmpdir(tmp_path: Path) -> None:
    try:
        backends.weed_binary()
    except backends.BackendUnavailable:
        pytest.skip("SeaweedFS (`weed`) is not installed")
    server = EmbeddedSeaweed(tmp_path, DropzoneSettings(seaweedfs={"s3_port": 0}))  # type: ignore[arg-type]
    server.start()
    try:
        assert (server.socket_dir / "s3.sock").exists()
    finally:
        server.stop()
    assert not server.socket_dir.exists()
    assert not (tmp_path / "seaweedfs" / "state.json").exists()
