"""The upload pipeline of `PUT /revisions/{id}/files/bal`: the body goes straight from the
socket to the blob store, with constant memory; the size limit is enforced while streaming.

    check_headers  Content-Encoding refused, declared Content-Length over the limit → 413
    store_body     stream to the blob store (all or nothing), size/MD5/SHA-256 on the way
    check_body     empty body, Content-MD5 and Content-Length checked on what was stored
"""

from __future__ import annotations

from fastapi import Request
from starlette.requests import ClientDisconnect

from guichet.core.errors import BadRequest, GuichetError
from guichet.core.logging import get_logger
from guichet.core.storage import BlobStore, BlobTooLarge, StoredBlob
from guichet.depot import errors

log = get_logger(__name__)

MAX_BYTES = 50_000_000


class UploadInterrupted(BadRequest):
    default_message = "Téléversement interrompu"


def check_headers(request: Request) -> None:
    if request.headers.get("content-encoding"):
        raise errors.EncodingRefused()
    length = request.headers.get("content-length", "")
    # Refused before reading a byte: the reference (raw-body) does the same.
    if length.isdigit() and int(length) > MAX_BYTES:
        raise errors.BodyTooLarge()


async def store_body(request: Request, store: BlobStore, key: str) -> StoredBlob:
    try:
        return await store.put_stream(
            key, request.stream(), max_bytes=MAX_BYTES, content_type="text/csv"
        )
    except BlobTooLarge:
        raise errors.BodyTooLarge() from None
    except ClientDisconnect:
        log.info("depot.upload.interrupted", key=key)
        raise UploadInterrupted() from None
    except GuichetError:
        raise
    except Exception as exc:  # the blob store is down or refused the object
        log.error("depot.upload.store_failed", key=key, error=type(exc).__name__)
        raise errors.UploadFailed() from None


async def check_body(request: Request, store: BlobStore, blob: StoredBlob) -> None:
    """Raise (after deleting the blob) if what was received is not what was announced."""
    problem: GuichetError | None = None
    md5 = request.headers.get("content-md5")
    length = request.headers.get("content-length")
    if blob.size == 0:
        problem = errors.FileMissingInBody()
    elif md5 and md5.strip().lower() != blob.md5:
        problem = errors.Md5Mismatch()
    elif length and length.strip() != str(blob.size):
        problem = errors.LengthMismatch()
    if problem is not None:
        await store.delete(blob.key)
        raise problem
