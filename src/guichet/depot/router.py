"""Publication workflow (§2.4 #1–4) and the detailed validation report.

Upload and compute give their database connection back while they stream or validate (a 50 MB
body from a slow client, several seconds of validation): they commit the request's session
after their checks, then write in a second short transaction.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from guichet.core.db import Session
from guichet.core.errors import NotFound, route_class
from guichet.core.logging import get_logger
from guichet.core.storage import BlobNotFound, Blobs, get_bytes, put_bytes
from guichet.depot import ban, compute, errors, service, upload, views
from guichet.depot.bodies import CSV_BODY, openapi_body, parse_body
from guichet.depot.deps import Commune, CurrentClient, OwnedRevision, RevisionParam
from guichet.depot.models import Client, Revision, new_id
from guichet.depot.schemas import PublishBody, RevisionCreate

log = get_logger(__name__)

router = APIRouter(route_class=route_class(errors.NEST_FORMAT), tags=["publications"])


def report_url(request: Request, revision: Revision) -> str | None:
    if revision.report_key is None:
        return None
    return str(request.url_for("validation_report", revision_id=revision.id))


def _sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return maker


@router.post(
    "/communes/{code_commune}/revisions",
    status_code=201,
    openapi_extra=openapi_body(RevisionCreate),
)
async def create_revision(
    request: Request, code_commune: Commune, client: CurrentClient, session: Session
) -> JSONResponse:
    """Step 1: a pending revision for the commune, with the depositor's context."""
    body = await parse_body(request, RevisionCreate)
    context = body.context.model_dump(exclude_unset=True)
    revision = await service.create_revision(
        session, client=client, code_commune=code_commune, context=context
    )
    log.info(
        "depot.revision_created",
        revision_id=revision.id,
        client_id=client.id,
        code_commune=code_commune,
    )
    return JSONResponse(views.revision_with_client(revision, client, None), status_code=201)


@router.put("/revisions/{revision_id}/files/bal", openapi_extra=CSV_BODY)
async def upload_file(
    request: Request, revision: OwnedRevision, session: Session, blobs: Blobs
) -> JSONResponse:
    """Step 2: the BAL file as the raw body (≤ 50,000,000 bytes, optional hex Content-MD5)."""
    upload.check_headers(request)
    await service.check_file_can_be_attached(session, revision)  # fail before reading
    revision_id = revision.id
    await session.commit()  # no connection held while the body streams in
    file_id = new_id()
    blob = await upload.store_body(request, blobs, f"revisions/{revision_id}/{file_id}.csv")
    try:
        await upload.check_body(request, blobs, blob)
        async with _sessionmaker(request).begin() as writer:
            item = await service.attach_file(
                writer, revision_id=revision_id, file_id=file_id, blob=blob
            )
            body = views.file(item)
    except BaseException:
        await blobs.delete(blob.key)  # nothing refers to it: never leave it behind
        raise
    log.info("depot.file_attached", revision_id=revision_id, size=blob.size)
    return JSONResponse(body)


@router.post("/revisions/{revision_id}/compute")
async def compute_revision(
    request: Request,
    revision: OwnedRevision,
    client: CurrentClient,
    session: Session,
    blobs: Blobs,
) -> JSONResponse:
    """Step 3: validate the file; `isReady` is `validation.valid`."""
    bal_file = await service.check_computable(session, revision)
    revision_id, code, client_id = revision.id, revision.code_commune, client.id
    ban_settings = request.app.state.settings.ban
    # Without a current revision, the mass-deletion guard compares with the BAN (read now,
    # outside any lock; a revision published meanwhile wins, see previous_rows_count).
    needs_ban_count = await service.current_revision(session, code) is None
    await session.commit()  # no connection held during the validation
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
    del data
    report_key = f"revisions/{revision_id}/reports/{new_id()}.json"
    await put_bytes(
        blobs, report_key, _report_blob(revision_id, code, check), content_type="application/json"
    )
    try:
        async with _sessionmaker(request).begin() as writer:
            owner = await writer.get(Client, client_id)
            assert owner is not None
            updated, previous_key = await service.record_validation(
                writer,
                code_commune=code,
                revision_id=revision_id,
                client=owner,
                check=check,
                report_key=report_key,
                ban_addresses=ban_addresses,
            )
            current_file = await service.get_file(writer, revision_id)
            body = views.revision_with_client(
                updated, owner, current_file, report_url=report_url(request, updated)
            )
    except BaseException:
        await blobs.delete(report_key)  # not recorded: nothing refers to it
        raise
    if previous_key is not None and previous_key != report_key:
        await blobs.delete(previous_key)  # the report of the previous compute
    log.info("depot.revision_computed", revision_id=revision_id, valid=body["validation"]["valid"])
    return JSONResponse(body)


async def _zero() -> int:
    return 0


def _report_blob(revision_id: str, code: str, check: compute.FileCheck) -> bytes:
    report = {
        "revisionId": revision_id,
        "codeCommune": code,
        "format": check.profile,
        "validatorVersion": compute.VALIDATOR_VERSION,
        "parseOk": check.parse_ok,
        "rowsCount": check.rows_count,
        "problemsCount": check.problems_count,
        "truncated": check.problems_count > len(check.problems),
        "problems": check.problems,
    }
    return json.dumps(report, ensure_ascii=False).encode()


@router.post(
    "/revisions/{revision_id}/publish", openapi_extra=openapi_body(PublishBody, required=False)
)
async def publish_revision(
    request: Request, revision: OwnedRevision, client: CurrentClient, session: Session
) -> JSONResponse:
    """Step 4: the ready revision becomes the commune's current one."""
    body = await parse_body(request, PublishBody)
    published = await service.publish(
        session, revision=revision, client=client, habilitation_id=body.habilitationId
    )
    bal_file = await service.get_file(session, published.id)
    log.info(
        "depot.revision_published",
        revision_id=published.id,
        client_id=client.id,
        code_commune=published.code_commune,
    )
    return JSONResponse(
        views.revision_with_client(
            published, client, bal_file, report_url=report_url(request, published)
        )
    )


_RULE_MESSAGES = {
    service.OUT_OF_PERIMETER: "La commune n’est pas dans le périmètre du chef de file du client",
    service.DELETE_TOO_MANY: "Le fichier supprime plus de 80 % des lignes de la révision courante",
    service.DELETE_MANY: "Le fichier supprime plus de 20 % des lignes de la révision courante",
}


@router.get(
    "/revisions/{revision_id}/validation-report", name="validation_report", tags=["revisions"]
)
async def validation_report(revision: RevisionParam, blobs: Blobs) -> JSONResponse:
    """The detailed report of the last compute: row (0-based data row, -1 for the file),
    column, value, code, level and a French message for every problem (first 10,000)."""
    if revision.report_key is None or revision.validation is None:
        raise NotFound(f"Aucun rapport de validation pour la révision {revision.id}")
    try:
        report: dict[str, Any] = json.loads(await get_bytes(blobs, revision.report_key))
    except BlobNotFound:
        raise errors.BlobMissing() from None
    validation = revision.validation
    report["valid"] = validation.get("valid")
    for level, key in (("E", "errors"), ("W", "warnings")):
        for code in validation.get(key) or []:
            if code in _RULE_MESSAGES:
                report["problems"].insert(
                    0,
                    {
                        "line": -1,
                        "column": None,
                        "value": None,
                        "code": code,
                        "level": level,
                        "message": _RULE_MESSAGES[code],
                    },
                )
                report["problemsCount"] += 1
    return JSONResponse(report)
