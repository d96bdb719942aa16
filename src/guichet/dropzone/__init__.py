"""Partner S3 drop zone: per-partner buckets with write-only keys, detection, processing, e-mail.

models        ORM tables (dropzone_*): buckets and keys, the object ledger, event checkpoints
backends      SeaweedFS (identities `Write:<bucket>`) and AWS (IAM PutObject-only, S3 → SQS)
embedded      supervises the embedded SeaweedFS (`weed mini`) of `guichet serve`
provisioning  provision / rotate / revoke a partner's key; ledger reads
ledger        idempotent inserts keyed by (bucket, key, etag); recovery queries
events        SeaweedFS metadata-log and SQS listeners (the fast path)
processing    one object: S3 checks, then the REST channel's own validation and integration
report_mail   the result e-mail (status, French summary, JSON report attached)
tasks         jobs: drain a bucket, e-mail, archive, periodic sweep; intake of new objects
batch         one batch of a drain: lock, download, process (a savepoint per file), record
delivery      the result e-mail (once) and the archive copies
dataplane     per-object S3 calls through obstore (boto3 for keys it cannot name)
router        /admin/dropzone/… (operators), /api/third_party/dropzone/… (partners)
cli           `guichet dropzone …`
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

from fastapi import FastAPI

from guichet.config import Settings


def include_routers(app: FastAPI) -> None:
    """Called by `guichet.app._include_domain_routers`."""
    from guichet.dropzone import router, tasks

    tasks.configure(app.state.settings)
    app.include_router(router.admin_router)
    app.include_router(router.partner_router)


@contextlib.contextmanager
def embedded_server(settings: Settings) -> Iterator[Settings]:
    """The settings to use, with the embedded SeaweedFS started (or attached) when the drop zone
    is on, SeaweedFS-backed, embedded, and no endpoint is configured."""
    dropzone = settings.dropzone
    wanted = (
        dropzone.enabled
        and dropzone.backend == "seaweedfs"
        and dropzone.seaweedfs.embedded
        and dropzone.endpoint_url is None
    )
    if not wanted:
        yield settings
        return
    from guichet.dropzone.embedded import EmbeddedSeaweed

    if dropzone.seaweedfs.s3_port is None:
        # Derived from the API port; if that one is taken, any free port (an explicitly
        # configured port that is taken is an error instead).
        derived = settings.port + 333
        port = derived if derived <= 65535 and _bindable(derived) else 0
        seaweedfs = dropzone.seaweedfs.model_copy(update={"s3_port": port})
        dropzone = dropzone.model_copy(update={"seaweedfs": seaweedfs})
    # The API binds its port after SeaweedFS has picked its own: keep them apart.
    with EmbeddedSeaweed(settings.home, dropzone, avoid_ports=frozenset({settings.port})) as server:
        yield server.apply(settings)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
