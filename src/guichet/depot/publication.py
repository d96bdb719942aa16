"""The publication workflow of a revision (§2.4 #2–4): attach the file, compute, publish; and
api-depot's own rules on top of the validator's verdict, each with its French message.

Upload and compute give their database connection back while they stream or validate (a 50 MB
body from a slow client, several seconds of validation): they commit the caller's session after
their checks, then write in a second short transaction of their own (`sessionmaker`). Blobs
that no row ends up referring to are deleted: a failure leaves nothing behind.

Everything that changes which revision is current happens in one transaction under the
commune's advisory lock (see `service.lock_commune`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from guichet import cog
from guichet.core.config import BanSettings
from guichet.core.logging import get_logger
from guichet.core.storage import BlobNotFound, BlobStore, get_bytes, put_bytes
from guichet.depot import (
    after_publish,
    ban,
    cache,
    compute,
    diff_tasks,
    diffs,
    errors,
    habilitations,
    service,
    upload,
)
from guichet.depot.compute import VALIDATOR_VERSION, WRONG_COMMUNE, FileCheck
from guichet.depot.models import (
    AuthorizationStrategy,
    ChefDeFile,
    Client,
    File,
    Habilitation,
    Revision,
    RevisionStatus,
    new_id,
)

log = get_logger(__name__)

# --- api-depot's rules ------------------------------------------------------------------------

OUT_OF_PERIMETER = "commune_insee.out_of_perimeter"
DELETE_TOO_MANY = "rows.delete_too_many_addresses"
DELETE_MANY = "rows.delete_many_addresses"

# File-level problems of the detailed report, for the rules that are not the validator's
# (a row of another commune is reported row by row by `compute.check_file`).
RULE_MESSAGES = {
    OUT_OF_PERIMETER: "La commune n’est pas dans le périmètre du chef de file du client",
    DELETE_TOO_MANY: "Le fichier supprime plus de 80 % des lignes de la révision courante",
    DELETE_MANY: "Le fichier supprime plus de 20 % des lignes de la révision courante",
}


def is_in_perimeter(code_commune: str, chef_de_file: ChefDeFile) -> bool:
    """A chef de file with no perimeter blocks everything, as in the reference."""
    return any(cog.is_in_perimeter(code_commune, p.type, p.code) for p in chef_de_file.perimeters)


async def previous_rows_count(
    session: AsyncSession, code_commune: str, *, ban_addresses: int = 0
) -> int:
    """Rows of the current revision; without one, the BAN's address count (0 if unknown)."""
    current = await service.current_revision(session, code_commune)
    if current is None:
        return ban_addresses
    rows = (current.validation or {}).get("rowsCount")
    return rows if isinstance(rows, int) else 0


async def apply_rules(
    session: AsyncSession,
    code_commune: str,
    client: Client,
    check: FileCheck,
    *,
    ban_addresses: int,
) -> dict[str, Any]:
    """The revision's `validation`: the validator's codes plus api-depot's own rules."""
    found_errors, warnings = list(check.errors), list(check.warnings)
    if not check.all_rows_in_commune:
        found_errors.append(WRONG_COMMUNE)
    if client.chef_de_file is not None and not is_in_perimeter(code_commune, client.chef_de_file):
        found_errors.append(OUT_OF_PERIMETER)
    last = await previous_rows_count(session, code_commune, ban_addresses=ban_addresses)
    if last * 0.8 < last - check.rows_count:
        found_errors.append(DELETE_TOO_MANY)
    if last * 0.2 < last - check.rows_count:
        warnings.append(DELETE_MANY)
    return {
        "valid": not found_errors,
        "format": check.profile,
        "validatorVersion": VALIDATOR_VERSION,
        "errors": found_errors,
        "warnings": warnings,
        "infos": list(check.infos),
        "rowsCount": check.rows_count,
    }


REMOVED_LISTED = 1000
"""Removed addresses named under a mass-deletion rule; beyond, one line counts the others."""


def report_with_rules(
    report: dict[str, Any],
    validation: dict[str, Any],
    removed: Sequence[Mapping[str, str]] = (),
    removed_count: int = 0,
) -> dict[str, Any]:
    """The stored detailed report with the verdict and the rules' file-level problems first;
    under the mass-deletion rule, the `removed` addresses (of `removed_count`) one per line."""
    report["valid"] = validation.get("valid")
    rules: list[dict[str, Any]] = []
    for level, key in (("E", "errors"), ("W", "warnings")):
        for code in validation.get(key) or []:
            if code in RULE_MESSAGES:
                rules.append(_file_problem(code, level, RULE_MESSAGES[code]))
    deletion = next((p for p in rules if p["code"] in (DELETE_TOO_MANY, DELETE_MANY)), None)
    if deletion is not None and removed_count:
        at = rules.index(deletion) + 1
        rules[at:at] = _removed_problems(deletion, removed, removed_count)
    report["problems"][0:0] = rules
    report["problemsCount"] += len(rules)
    return report


def _file_problem(code: str, level: str, message: str, value: str | None = None) -> dict[str, Any]:
    return {"line": -1, "column": None, "value": value, "code": code, "level": level,
            "message": message}  # fmt: skip


def _removed_problems(
    rule: dict[str, Any], removed: Sequence[Mapping[str, str]], count: int
) -> list[dict[str, Any]]:
    """One line per removed address (its `cle_interop` as the value), then the rest counted."""
    lines = []
    for row in removed[:REMOVED_LISTED]:
        numero = f"{row.get('numero', '')}{row.get('suffixe', '')}".strip()
        place = " ".join(part for part in (numero, row.get("voie_nom", "")) if part)
        lines.append(
            _file_problem(rule["code"], rule["level"], f"Adresse supprimée : {place}",
                          row.get("cle_interop") or None)
        )  # fmt: skip
    if count > len(lines):
        others = count - len(lines)
        lines.append(
            _file_problem(rule["code"], rule["level"], f"… et {others} autres adresses supprimées")
        )
    return lines


# --- step 2: the file -------------------------------------------------------------------------


async def attach_file(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    blobs: BlobStore,
    revision: Revision,
    request: Request,
) -> File:
    """Stream the request's body into the blob store and attach it to the pending revision."""
    upload.check_headers(request)
    await service.check_file_can_be_attached(session, revision)  # fail before reading
    revision_id = revision.id
    await session.commit()  # no connection held while the body streams in
    file_id = new_id()
    blob = await upload.store_body(request, blobs, f"revisions/{revision_id}/{file_id}.csv")
    try:
        await upload.check_body(request, blobs, blob)
        async with sessionmaker.begin() as writer:
            item = await service.attach_file(
                writer, revision_id=revision_id, file_id=file_id, blob=blob
            )
    except BaseException:
        await blobs.delete(blob.key)  # nothing refers to it: never leave it behind
        raise
    log.info("depot.file_attached", revision_id=revision_id, size=blob.size)
    return item


# --- step 3: compute --------------------------------------------------------------------------


@dataclass(frozen=True)
class Computed:
    revision: Revision
    client: Client
    file: File | None


async def compute_revision(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    blobs: BlobStore,
    ban_settings: BanSettings,
    revision: Revision,
    client: Client,
) -> Computed:
    """Validate the revision's file (process pool), apply the rules, store the verdict and the
    detailed report; `isReady` becomes `validation.valid`."""
    bal_file = await check_computable(session, revision)
    revision_id, code, client_id = revision.id, revision.code_commune, client.id
    # Without a current revision, the mass-deletion guard compares with the BAN (read now,
    # outside any lock; a revision published meanwhile wins, see previous_rows_count).
    needs_ban_count = await service.current_revision(session, code) is None
    await session.commit()  # no connection held during the validation
    check, ban_addresses = await _validate(blobs, bal_file, revision_id, code, ban_settings,
                                           needs_ban_count=needs_ban_count)  # fmt: skip
    report_key = f"revisions/{revision_id}/reports/{new_id()}.json"
    report = _report_blob(revision_id, code, check)
    await put_bytes(blobs, report_key, report, content_type="application/json")
    try:
        async with sessionmaker.begin() as writer:
            owner = await writer.get(Client, client_id)
            assert owner is not None
            updated, previous_key = await record_validation(
                writer, code_commune=code, revision_id=revision_id, client=owner, check=check,
                report_key=report_key, ban_addresses=ban_addresses,
            )  # fmt: skip
            computed = Computed(updated, owner, await service.get_file(writer, revision_id))
    except BaseException:
        await blobs.delete(report_key)  # not recorded: nothing refers to it
        raise
    if previous_key is not None and previous_key != report_key:
        await blobs.delete(previous_key)  # the report of the previous compute
    valid = (updated.validation or {}).get("valid")
    log.info("depot.revision_computed", revision_id=revision_id, valid=valid)
    return computed


async def check_computable(session: AsyncSession, revision: Revision) -> File:
    if revision.status != RevisionStatus.PENDING:
        raise errors.RevisionNotEditable()
    bal_file = await service.get_file(session, revision.id)
    if bal_file is None:
        raise errors.NoBalFile(revision.id)
    return bal_file


async def _validate(
    blobs: BlobStore,
    bal_file: File,
    revision_id: str,
    code: str,
    ban_settings: BanSettings,
    *,
    needs_ban_count: bool,
) -> tuple[FileCheck, int]:
    """The validator's verdict (process pool) and, when needed, the BAN's address count."""
    try:
        data = await get_bytes(blobs, bal_file.blob_key)
    except BlobNotFound:
        raise errors.BlobMissing() from None
    try:
        check, ban_addresses = await asyncio.gather(
            compute.pool.check(data, code, ban.api(ban_settings)),
            ban.addresses_count(ban_settings, code) if needs_ban_count else _zero(),
        )
    except compute.ComputeFailed as exc:
        log.error(
            "depot.compute_failed", revision_id=revision_id, reason=str(exc), exc_info=exc.__cause__
        )
        raise errors.ComputeUnavailable() from None
    return check, ban_addresses


async def _zero() -> int:
    return 0


def _report_blob(revision_id: str, code: str, check: FileCheck) -> bytes:
    report = {
        "revisionId": revision_id,
        "codeCommune": code,
        "format": check.profile,
        "validatorVersion": VALIDATOR_VERSION,
        "parseOk": check.parse_ok,
        "rowsCount": check.rows_count,
        "problemsCount": check.problems_count,
        "truncated": check.problems_count > len(check.problems),
        "problems": check.problems,
    }
    return json.dumps(report, ensure_ascii=False).encode()


async def record_validation(
    session: AsyncSession,
    *,
    code_commune: str,
    revision_id: str,
    client: Client,
    check: FileCheck,
    report_key: str | None,
    ban_addresses: int = 0,
) -> tuple[Revision, str | None]:
    """Apply api-depot's own rules to the validator's verdict and store the result; returns
    the revision and the key of the report it replaces.

    Taken under the commune's lock, so that the mass-deletion rule compares with the current
    revision as it is when the result is stored (a publish cannot slip in between). The
    advisory lock always comes before any row lock (publish locks the commune's pending
    revisions): one order, no deadlock.
    """
    await service.lock_commune(session, code_commune)
    revision = await service.locked(session, revision_id)
    if revision.status != RevisionStatus.PENDING:
        raise errors.RevisionNotEditable()
    validation: dict[str, Any]
    if not check.parse_ok:
        validation = {
            "valid": False,
            "validatorVersion": VALIDATOR_VERSION,
            "parseErrors": check.parse_errors,
        }
    else:
        validation = await apply_rules(
            session, revision.code_commune, client, check, ban_addresses=ban_addresses
        )
    previous_key = revision.report_key
    revision.validation = validation
    revision.is_ready = bool(validation["valid"])
    revision.report_key = report_key
    revision.updated_at = service.utcnow()
    await session.flush()
    if check.parse_ok:  # what changed against the current revision: stored by a job
        current = await service.current_revision(session, revision.code_commune)
        await diff_tasks.defer_default_diff(session, revision.id, current.id if current else None)
    return revision, previous_key


# --- step 4: publish --------------------------------------------------------------------------


async def authorize(
    session: AsyncSession, client: Client, code_commune: str, habilitation_id: str | None
) -> Habilitation | None:
    """Whether the client may publish for the commune now, by its strategy (§3.3); returns the
    habilitation it publishes with, if any.

    * `habilitation`: an accepted habilitation of this very client for this commune, not
      expired (400 without `habilitationId`, 404 `L’habilitation <id> n’est pas valide`);
    * `chef-de-file`: the commune lies in the chef de file's perimeter (communes, départements,
      EPCI; an arrondissement through its commune), checked again here because perimeters may
      change after compute; a chef-de-file client without a chef de file publishes nowhere
      (the reference let it publish anywhere);
    * `internal`: no habilitation; the perimeter only when it has a chef de file.
    Any client with a chef de file stays in its perimeter, whatever its strategy.
    """
    chef = client.chef_de_file
    if chef is not None and not is_in_perimeter(code_commune, chef):
        raise errors.OutOfPerimeter(code_commune)
    strategy = client.authorization_strategy
    if strategy == AuthorizationStrategy.CHEF_DE_FILE and chef is None:
        raise errors.OutOfPerimeter(code_commune)
    if strategy != AuthorizationStrategy.HABILITATION:
        return None
    if habilitation_id is None:
        raise errors.HabilitationRequired(client.nom)
    return await habilitations.usable_for_publication(
        session, client, code_commune, habilitation_id
    )


async def publish(
    session: AsyncSession, *, revision: Revision, client: Client, habilitation_id: str | None
) -> Revision:
    """Make a ready revision the commune's current one, in one transaction."""
    await service.lock_commune(session, revision.code_commune)  # the commune never changes
    # Re-read after the lock: a publish that committed while we waited has reset is_ready.
    revision = await service.locked(session, revision.id)
    if revision.status != RevisionStatus.PENDING or revision.is_ready is not True:
        raise errors.PublicationImpossible.of(
            pending=revision.status == RevisionStatus.PENDING,
            is_ready=revision.is_ready,
            validation=revision.validation,
        )
    habilitation = await authorize(session, client, revision.code_commune, habilitation_id)
    # Kept to the millisecond, the precision `publishedAt` is sent with: a client polling
    # `publishedSince=<the last publishedAt>` must not get that revision again.
    now = service.utcnow_ms()
    code = revision.code_commune
    # Not the revision itself: its ORM state must stay what the row holds, or setting
    # is_current=True below would look like no change and never be written.
    replaced = await session.scalar(
        update(Revision)
        .where(
            Revision.code_commune == code,
            Revision.is_current.is_(True),
            Revision.id != revision.id,
        )
        .values(is_current=False, updated_at=now)
        .returning(Revision.id)
        .execution_options(synchronize_session=False)
    )
    revision.status = RevisionStatus.PUBLISHED
    revision.is_current = True
    revision.is_ready = None
    revision.published_at = now
    revision.updated_at = now
    revision.habilitation = habilitations.snapshot(habilitation) if habilitation else None
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # only reachable if someone bypassed the lock
        raise errors.PublicationInProgress() from None
    await session.execute(
        update(Revision)
        .where(
            Revision.code_commune == code,
            Revision.status == RevisionStatus.PENDING,
            Revision.id != revision.id,
        )
        .values(is_ready=False, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await diffs.record_change(session, revision, replaced)  # the changes feed
    # Delivered at commit only: every API process drops its cached current revision.
    await cache.notify_changed(session, code)
    # BAN compose, chat, takeover e-mail, webhooks: jobs that exist iff this commits.
    await after_publish.schedule(session, revision=revision, client=client, replaced_id=replaced)
    log.info(
        "depot.revision_published",
        revision_id=revision.id,
        client_id=client.id,
        code_commune=code,
    )
    return revision
