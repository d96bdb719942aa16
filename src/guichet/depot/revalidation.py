"""Re-validation of every current revision when the validator changes: start or resume a run,
record one revision's new verdict, read the report.

A run belongs to one validator version (`compute.VALIDATOR_VERSION`) and holds one check per
current revision; each check is one job (`revalidation_tasks.revalidate_revision`), taken by any
worker on any machine. Starting again resumes: the checks already done stay done (their rows,
unique per revision and validator version, say so), the pending ones get a job if they have
none waiting, the revisions published since get a check, the failed ones another chance.

What is compared is the validator's verdict only: api-depot's publication-time rules (chef de
file perimeter, mass deletion against the then current revision) judged the context of a
publication, not the file, and are left out of both sides. The revisions themselves are not
changed: the report says which communes would now be refused, the operator decides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.types import JSONValue
from sqlalchemy import case, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core import queue
from guichet.core.errors import NotFound
from guichet.depot import publication
from guichet.depot.compute import VALIDATOR_VERSION, WRONG_COMMUNE, FileCheck
from guichet.depot.models import Revision, new_id
from guichet.depot.revalidation_models import (
    CheckStatus,
    RevalidationCheck,
    RevalidationStatus,
)
from guichet.depot.revalidation_models import Revalidation as Run

# Codes of api-depot's publication-time rules: not the file's verdict (see the module's doc).
CONTEXT_RULES = frozenset(publication.RULE_MESSAGES)
DEFER_CHUNK = 1_000
# Below the default 0: a national re-validation (35,000 jobs) must not delay the e-mails,
# drains and webhooks queued behind it.
JOB_PRIORITY = -10


class RevalidationNotFound(NotFound):
    code = "revalidation_not_found"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"Re-validation {run_id} inconnue")


# --- verdicts -------------------------------------------------------------------------------


def stored_verdict(validation: dict[str, Any] | None) -> dict[str, Any]:
    """The validator's verdict held in a revision's stored `validation`."""
    validation = validation or {}
    if validation.get("parseErrors"):
        codes = [_parse_code(error) for error in validation["parseErrors"]]
        return _verdict(codes, [], version=validation.get("validatorVersion"), parse_ok=False)
    found_errors = [c for c in validation.get("errors") or [] if c not in CONTEXT_RULES]
    warnings = [c for c in validation.get("warnings") or [] if c not in CONTEXT_RULES]
    return _verdict(
        found_errors,
        warnings,
        version=validation.get("validatorVersion"),
        rows=validation.get("rowsCount"),
    )


def new_verdict(check: FileCheck) -> dict[str, Any]:
    """The verdict of `compute.check_file` on the file, as compute would store it."""
    if not check.parse_ok:
        codes = [_parse_code(error) for error in check.parse_errors]
        return _verdict(codes, [], version=VALIDATOR_VERSION, parse_ok=False)
    found_errors = list(check.errors)
    if not check.all_rows_in_commune:
        found_errors.append(WRONG_COMMUNE)
    return _verdict(
        found_errors, list(check.warnings), version=VALIDATOR_VERSION, rows=check.rows_count
    )


def _parse_code(error: dict[str, Any]) -> str:
    return str(error.get("code") or error.get("type") or "parse_error")


def _verdict(
    found_errors: list[str],
    warnings: list[str],
    *,
    version: Any,
    rows: Any = None,
    parse_ok: bool = True,
) -> dict[str, Any]:
    return {
        "valid": not found_errors,
        "parseOk": parse_ok,
        "errors": sorted(set(found_errors)),
        "warnings": sorted(set(warnings)),
        "rowsCount": rows if isinstance(rows, int) else None,
        "validatorVersion": version if isinstance(version, str) else None,
    }


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any] | None:
    """What changed from one verdict to the other, or None when nothing did."""
    diff = {
        "becameInvalid": bool(before["valid"]) and not after["valid"],
        "becameValid": not before["valid"] and bool(after["valid"]),
        "newErrors": sorted(set(after["errors"]) - set(before["errors"])),
        "resolvedErrors": sorted(set(before["errors"]) - set(after["errors"])),
        "newWarnings": sorted(set(after["warnings"]) - set(before["warnings"])),
        "resolvedWarnings": sorted(set(before["warnings"]) - set(after["warnings"])),
    }
    return diff if any(diff.values()) else None


# --- start or resume ------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    run: Run
    resumed: bool
    added: int  # checks created now (every current revision the first time)
    retried: int  # failed checks given another chance
    deferred: int  # jobs deferred now (pending checks that had none waiting)


async def start(session: AsyncSession, *, validator_version: str = VALIDATOR_VERSION) -> Started:
    """Start the re-validation of every current revision by `validator_version`, or resume
    the run of that version; the jobs exist if and only if the caller's transaction commits."""
    run, resumed = await _run_of_version(session, validator_version)
    added = await _add_current_revisions(session, run)
    retried = await _retry_failed(session, run)
    run.revisions += added
    run.remaining += added + retried
    if run.remaining > 0:
        run.status, run.finished_at = RevalidationStatus.RUNNING, None
    elif run.status == RevalidationStatus.RUNNING:  # nothing to validate at all
        run.status, run.finished_at = RevalidationStatus.DONE, func.now()
    run.updated_at = func.now()
    await session.flush()
    deferred = await _defer_pending(session, run)
    await session.refresh(run)
    return Started(run, resumed, added, retried, deferred)


async def _run_of_version(session: AsyncSession, version: str) -> tuple[Run, bool]:
    """The run of this version, created if none; locked, so that two starts (or a start and the
    last job) take turns."""
    created = await session.scalar(
        pg_insert(Run)
        .values(id=new_id(), validator_version=version)
        .on_conflict_do_nothing(index_elements=["validator_version"])
        .returning(Run.id)
    )
    run = await session.scalar(
        select(Run)
        .where(Run.validator_version == version)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert run is not None
    if created is None:
        run.starts += 1
    return run, created is None


async def _add_current_revisions(session: AsyncSession, run: Run) -> int:
    """A check for every current revision that has none of this version yet."""
    current = select(
        literal(run.id), Revision.id, literal(run.validator_version), Revision.code_commune
    ).where(Revision.is_current.is_(True))
    statement = (
        pg_insert(RevalidationCheck)
        .from_select(
            ["revalidation_id", "revision_id", "validator_version", "code_commune"], current
        )
        .on_conflict_do_nothing(index_elements=["revision_id", "validator_version"])
        .returning(RevalidationCheck.id)
    )
    return len((await session.scalars(statement)).all())


async def _retry_failed(session: AsyncSession, run: Run) -> int:
    result = await session.execute(
        update(RevalidationCheck)
        .where(
            RevalidationCheck.revalidation_id == run.id,
            RevalidationCheck.status == CheckStatus.FAILED,
        )
        .values(status=CheckStatus.PENDING, error=None, checked_at=None)
        .returning(RevalidationCheck.id)
        .execution_options(synchronize_session=False)
    )
    return len(result.all())


def job_lock(revision_id: str, validator_version: str) -> str:
    """One waiting job per check: a resumption does not queue a second one."""
    return f"depot:revalidate:{revision_id}:{validator_version}"


async def _defer_pending(session: AsyncSession, run: Run) -> int:
    from guichet.depot import revalidation_tasks

    pending = (
        await session.scalars(
            select(RevalidationCheck.revision_id)
            .where(
                RevalidationCheck.revalidation_id == run.id,
                RevalidationCheck.status == CheckStatus.PENDING,
            )
            .order_by(RevalidationCheck.id)
        )
    ).all()
    task = revalidation_tasks.revalidate_revision
    deferred = 0
    for start_at in range(0, len(pending), DEFER_CHUNK):
        chunk = pending[start_at : start_at + DEFER_CHUNK]
        jobs: list[tuple[str | None, dict[str, JSONValue]]] = [
            (job_lock(revision_id, run.validator_version),
             {"revision_id": revision_id, "validator_version": run.validator_version})
            for revision_id in chunk
        ]  # fmt: skip
        try:
            deferred += len(await queue.defer_batch(session, task, jobs, priority=JOB_PRIORITY))
        except AlreadyEnqueued:  # a resumption: some still wait, queue the others one by one
            deferred += await _defer_one_by_one(session, chunk, run.validator_version)
    return deferred


async def _defer_one_by_one(
    session: AsyncSession, revision_ids: Sequence[str], validator_version: str
) -> int:
    from guichet.depot import revalidation_tasks

    deferred = 0
    for revision_id in revision_ids:
        try:
            await queue.defer(
                session,
                revalidation_tasks.revalidate_revision,
                queueing_lock=job_lock(revision_id, validator_version),
                priority=JOB_PRIORITY,
                revision_id=revision_id,
                validator_version=validator_version,
            )
        except AlreadyEnqueued:
            continue
        deferred += 1
    return deferred


# --- one check --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingCheck:
    id: int
    revision_id: str
    code_commune: str
    validation: dict[str, Any] | None
    blob_key: str | None
    size: int | None


async def pending_check(
    session: AsyncSession, revision_id: str, validator_version: str
) -> PendingCheck | None:
    """The check of this revision by this version if it still waits, with what the job needs."""
    row = (
        await session.execute(
            text(
                "SELECT c.id, c.code_commune, r.validation, f.blob_key, f.size"
                " FROM depot_revalidation_check c"
                " JOIN depot_revision r ON r.id = c.revision_id"
                " LEFT JOIN depot_file f ON f.revision_id = c.revision_id"
                " WHERE c.revision_id = :revision AND c.validator_version = :version"
                " AND c.status = 'pending'"
            ),
            {"revision": revision_id, "version": validator_version},
        )
    ).first()
    if row is None:
        return None
    return PendingCheck(row.id, revision_id, row.code_commune, row.validation, row.blob_key,
                        row.size)  # fmt: skip


async def record(
    session: AsyncSession,
    check: PendingCheck,
    *,
    after: dict[str, Any] | None,
    error: str | None = None,
) -> bool:
    """Store the new verdict (or the failure) of a pending check and count it off its run;
    False if another job recorded it first (then nothing changes)."""
    before = stored_verdict(check.validation)
    diff = changes(before, after) if after is not None else None
    status = CheckStatus.DONE if error is None else CheckStatus.FAILED
    run_id = await session.scalar(
        update(RevalidationCheck)
        .where(RevalidationCheck.id == check.id, RevalidationCheck.status == CheckStatus.PENDING)
        .values(
            status=status,
            before=before,
            after=after,
            changes=diff,
            changed=diff is not None,
            size=check.size,
            error=error,
            checked_at=func.now(),
        )
        .returning(RevalidationCheck.revalidation_id)
    )
    if run_id is None:
        return False
    # `remaining` on the right is the value before this update: the last check ends the run.
    await session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(
            remaining=Run.remaining - 1,
            status=_case_last(RevalidationStatus.DONE, Run.status),
            finished_at=_case_last(func.now(), Run.finished_at),
            updated_at=func.now(),
        )
        .execution_options(synchronize_session=False)
    )
    return True


def _case_last(then: Any, otherwise: Any) -> Any:
    return case((Run.remaining == 1, then), else_=otherwise)


# --- reading --------------------------------------------------------------------------------


async def get(session: AsyncSession, run_id: str) -> Run:
    run = await session.get(Run, run_id) if _is_id(run_id) else None
    if run is None:
        raise RevalidationNotFound(run_id)
    return run


def _is_id(value: str) -> bool:
    return len(value) == 24 and all(c in "0123456789abcdef" for c in value)


async def latest(session: AsyncSession) -> Run | None:
    return await session.scalar(select(Run).order_by(Run.created_at.desc(), Run.id.desc()))


async def list_runs(session: AsyncSession, *, offset: int, limit: int) -> tuple[list[Run], int]:
    total = await session.scalar(select(func.count()).select_from(Run))
    runs = await session.scalars(
        select(Run).order_by(Run.created_at.desc(), Run.id.desc()).offset(offset).limit(limit)
    )
    return list(runs), int(total or 0)


async def counts(session: AsyncSession, run_id: str) -> dict[str, int]:
    """Checks by status, and the changed verdicts by kind."""
    row = (
        await session.execute(
            text(
                "SELECT count(*) FILTER (WHERE status = 'pending') AS pending,"
                " count(*) FILTER (WHERE status = 'done') AS done,"
                " count(*) FILTER (WHERE status = 'failed') AS failed,"
                " count(*) FILTER (WHERE changed) AS changed,"
                " count(*) FILTER (WHERE (changes->>'becameInvalid')::boolean) AS became_invalid,"
                " count(*) FILTER (WHERE (changes->>'becameValid')::boolean) AS became_valid,"
                " coalesce(sum(size) FILTER (WHERE status = 'done'), 0) AS bytes"
                " FROM depot_revalidation_check WHERE revalidation_id = :run"
            ),
            {"run": run_id},
        )
    ).one()
    return {key: int(value) for key, value in row._mapping.items()}


async def report_page(
    session: AsyncSession, run_id: str, *, offset: int, limit: int
) -> tuple[list[RevalidationCheck], int]:
    """The checks whose verdict changed or that failed, by commune code, one page."""
    where = (
        RevalidationCheck.revalidation_id == run_id,
        # As the partial index's predicate (`changed OR status = 'failed'`), for the planner.
        RevalidationCheck.changed | (RevalidationCheck.status == CheckStatus.FAILED),
    )
    total = await session.scalar(select(func.count()).select_from(RevalidationCheck).where(*where))
    items = await session.scalars(
        select(RevalidationCheck)
        .where(*where)
        .order_by(RevalidationCheck.code_commune, RevalidationCheck.id)
        .offset(offset)
        .limit(limit)
    )
    return list(items), int(total or 0)


def view(run: Run, found: dict[str, int]) -> dict[str, Any]:
    return {
        "id": run.id,
        "validatorVersion": run.validator_version,
        "status": run.status,
        "revisions": run.revisions,
        "remaining": run.remaining,
        "starts": run.starts,
        "checks": {key: found[key] for key in ("pending", "done", "failed")},
        "changed": found["changed"],
        "becameInvalid": found["became_invalid"],
        "becameValid": found["became_valid"],
        "bytesValidated": found["bytes"],
        "createdAt": _iso(run.created_at),
        "finishedAt": _iso(run.finished_at),
    }


def check_view(check: RevalidationCheck) -> dict[str, Any]:
    return {
        "codeCommune": check.code_commune,
        "revisionId": check.revision_id,
        "status": check.status,
        "before": check.before,
        "after": check.after,
        "changes": check.changes,
        "error": check.error,
        "checkedAt": _iso(check.checked_at),
    }


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def pages(total: int, per_page: int) -> int:
    return max(1, math.ceil(total / per_page))
