"""The re-validation's job: validate one current revision's file again (see
`guichet.depot.revalidation`).

Idempotent, as every job must be (a worker killed mid-job has its job retried): a check that is
no longer pending is left alone, and the new verdict is recorded only if the check is still
pending when the result is written, so a revision is validated once per validator version even
when two jobs race for it.
"""

from __future__ import annotations

from procrastinate import Blueprint

from guichet.core import services, storage
from guichet.core.logging import get_logger
from guichet.core.storage import BlobNotFound, get_bytes
from guichet.depot import ban, revalidation
from guichet.depot.compute import VALIDATOR_VERSION, ComputeFailed, ComputePool

log = get_logger(__name__)

blueprint = Blueprint()

# The validator is CPU-bound: it runs in a process pool of its own (one process per two cores,
# as compute's), off the worker's event loop whose heartbeats must keep going. Renewed less
# often than compute's: a national run is mostly small files, and each renewal costs a spawn
# and the validator's imports (about a second).
pool = ComputePool(renew_after=500)


@blueprint.task(name="revalidate_revision")
async def revalidate_revision(revision_id: str, validator_version: str) -> None:
    """Validate the revision's file with this process's validator and record the verdict."""
    if validator_version != VALIDATOR_VERSION:
        # A worker of another version (a rolling upgrade): leave the check pending for a
        # worker of the right one (`guichet depot revalidate` queues it again).
        log.warning(
            "depot.revalidation_version_mismatch",
            revision_id=revision_id,
            wanted=validator_version,
            mine=VALIDATOR_VERSION,
        )
        return
    async with services.transaction() as session:
        check = await revalidation.pending_check(session, revision_id, validator_version)
    if check is None:
        return  # done already (a retried job, a second start): nothing to do
    after, error = await _validate(check)
    async with services.transaction() as session:
        recorded = await revalidation.record(session, check, after=after, error=error)
    log.info(
        "depot.revalidation_checked",
        revision_id=revision_id,
        code_commune=check.code_commune,
        valid=None if after is None else after["valid"],
        recorded=recorded,
        error=error,
    )


async def _validate(
    check: revalidation.PendingCheck,
) -> tuple[dict[str, object] | None, str | None]:
    """(new verdict, None), or (None, why it could not be validated)."""
    if check.blob_key is None:
        return None, "La révision n’a pas de fichier"
    try:
        data = await get_bytes(storage.current(), check.blob_key)
    except BlobNotFound:
        return None, "Le fichier de la révision est introuvable dans le stockage"
    settings = services.current().settings
    try:
        result = await pool.check(data, check.code_commune, ban.api(settings.ban))
    except ComputeFailed as exc:
        log.error(
            "depot.revalidation_failed", revision_id=check.revision_id, reason=str(exc),
            exc_info=exc.__cause__,
        )  # fmt: skip
        return None, f"La validation a échoué ({exc})"
    return revalidation.new_verdict(result), None
