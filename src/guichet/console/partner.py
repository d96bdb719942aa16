"""The partners' desk (`/ui/partner/…`): login with the partner's id and API key (the loaders'
own check, `partners.registry.authenticate`), then a signed session bound to that key (a
rotated key ends it, a deactivated partner is logged out).

A partner sees its own runs, from both channels (REST and drop zone), through the operators'
reads (`partners.operators`) scoped to it: another partner's run is a 404, as unknown as a run
that does not exist. Its drop zone: bucket, endpoint, region, and the seed's upload snippets
filled in with them — never a secret (the S3 key is read from the environment, the API key
stays a placeholder).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from guichet.console import desk, sessions
from guichet.console.desk import Form, read_form, safe_next
from guichet.console.paging import Pages, page_number
from guichet.console.sessions import DeskSession, LoginRequired
from guichet.core.config import Settings
from guichet.core.db import Session
from guichet.core.errors import GuichetError
from guichet.core.logging import get_logger
from guichet.core.storage import BlobNotFound, BlobReader, Blobs
from guichet.partners import operators
from guichet.partners import registry as partners
from guichet.partners.dropzone import backends, provisioning
from guichet.partners.errors import PartnerUnauthorized
from guichet.partners.models import Partner
from guichet.partners.schemas import RunRead

log = get_logger(__name__)
router = APIRouter(prefix="/ui/partner", include_in_schema=False, route_class=desk.ROUTE_CLASS)
RUNS_PAGE_SIZE = 20
ERRORS_PAGE_SIZE = 50
STATUS_LABELS = {
    "SUCCESS": ("Réussi", "success"),
    "PARTIAL_SUCCESS": ("Réussi en partie", "warning"),
    "ERROR": ("En erreur", "error"),
    "REJECTED": ("Refusé", "error"),
}
CHANNEL_LABELS = {"rest": "API REST", "s3": "Dépôt S3"}


def _binding(partner: Partner) -> str:
    return sessions.fingerprint("partner", partner.key_hash)


async def require_partner(request: Request, session: Session) -> tuple[DeskSession, Partner]:
    """The logged-in partner, still active and with the key its session was opened with."""
    found = sessions.read_session(request, "partner")
    if found is None:
        raise LoginRequired("partner")
    try:
        partner = await partners.get(session, found.subject)
    except GuichetError:
        raise LoginRequired("partner") from None
    if not partner.is_active or not sessions.tokens_match(found.binding, _binding(partner)):
        raise LoginRequired("partner")
    return found, partner


Current = Annotated[tuple[DeskSession, Partner], Depends(require_partner)]


async def posted(request: Request, current: Current) -> Form:
    form = await read_form(request)
    sessions.check_csrf(current[0], form)
    return form


Posted = Annotated[Form, Depends(posted)]


def _context(partner: Partner, **values: Any) -> dict[str, Any]:
    return {"partner": partner, "statuses": STATUS_LABELS, "channels": CHANNEL_LABELS, **values}


# --- login ----------------------------------------------------------------------------------


@router.get("/connexion", name="console_partner_login")
async def login_page(request: Request, suite: str | None = None) -> Response:
    return _login(request, suite)


def _login(request: Request, suite: str | None, error: str | None = None) -> Response:
    holder = Response()
    token = sessions.login_token(request, holder, "partner")
    context = {
        "title": "Connexion des partenaires",
        "desk": "partner",
        "login_csrf": token,
        "suite": suite or "",
        "error": error,
        "fields": [
            ("identifiant", "Identifiant de partenaire (inigPtynm)", "text"),
            ("cle", "Clé d’API", "password"),
        ],
    }
    response = desk.page(
        request, "desk_login.html", context, None, status_code=401 if error else 200
    )
    for name, value in holder.headers.items():
        if name == "set-cookie":
            response.headers.append(name, value)
    return response


@router.post("/connexion")
async def login(request: Request, session: Session) -> Response:
    form = await read_form(request)
    sessions.check_login_csrf(request, "partner", form)
    try:
        partner = await partners.authenticate(
            session, form.get("identifiant", "")[:100], form.get("cle", "")
        )
    except PartnerUnauthorized:
        return _login(request, form.get("suite"), "Identifiant ou clé d’API incorrects.")
    response = RedirectResponse(safe_next("partner", form.get("suite")), status_code=303)
    sessions.open_session(request, response, "partner", partner.partner_id, _binding(partner))
    log.info("console.partner_login", partner_id=partner.partner_id)
    return response


@router.post("/deconnexion", name="console_partner_logout")
async def logout(form: Posted) -> Response:
    response = RedirectResponse("/ui/partner/connexion", status_code=303)
    sessions.close_session(response, "partner")
    return response


# --- runs -----------------------------------------------------------------------------------


@router.get("/", name="console_partner_home")
async def runs(
    request: Request, current: Current, session: Session, page: str | None = None
) -> HTMLResponse:
    """The partner's files, newest first, from both channels, with their counts."""
    desk_session, partner = current
    _, total = await operators.list_runs(session, partner, offset=0, limit=0)
    pages = Pages(page_number(page), RUNS_PAGE_SIZE, total, "/ui/partner/")
    found, _ = await operators.list_runs(session, partner, offset=pages.offset, limit=pages.size)
    context = _context(partner, runs=found, pages=pages, nav="executions")
    return desk.page(request, "partner/runs.html", context, desk_session)


@router.get("/executions/{run_id}", name="console_partner_run")
async def run(
    request: Request,
    run_id: uuid.UUID,
    current: Current,
    session: Session,
    page: str | None = None,
) -> HTMLResponse:
    """One run: its counts per model and its report as a table, page by page."""
    desk_session, partner = current
    found = RunRead.model_validate(await operators.get_run(session, partner, run_id))
    _, total = await operators.list_run_errors(session, partner, run_id, offset=0, limit=0)
    pages = Pages(page_number(page), ERRORS_PAGE_SIZE, total, f"/ui/partner/executions/{run_id}")
    errors, _ = await operators.list_run_errors(
        session, partner, run_id, offset=pages.offset, limit=pages.size
    )
    refused = found.report.get("errors")
    context = _context(
        partner,
        run=found,
        errors=errors,
        pages=pages,
        refusal=refused if isinstance(refused, str) else None,
        nav="executions",
    )
    return desk.page(request, "partner/run.html", context, desk_session)


@router.get("/executions/{run_id}/rapport.json", name="console_partner_report")
async def report(run_id: uuid.UUID, current: Current, session: Session) -> Response:
    """The report the partner got, as it got it (REST answer or the drop zone's e-mail)."""
    found = await operators.get_run(session, current[1], run_id)
    return JSONResponse(
        found.report,
        headers={
            "Content-Disposition": f'attachment; filename="rapport-{run_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/executions/{run_id}/source", name="console_partner_source")
async def source(
    request: Request, run_id: uuid.UUID, current: Current, session: Session, blobs: Blobs
) -> Response:
    """The file as Guichet stored it."""
    found = await operators.get_run(session, current[1], run_id)
    try:
        reader = await blobs.open(found.source_key)
    except BlobNotFound:
        from guichet.console.rendering import not_found

        return not_found(request, "Le fichier de cette exécution n’est plus conservé.")
    return StreamingResponse(
        _chunks(reader),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="source-{run_id}.json"',
            "Content-Length": str(reader.size),
            "Cache-Control": "no-store",
        },
    )


async def _chunks(reader: BlobReader) -> AsyncIterator[bytes]:
    try:
        async for chunk in reader:
            yield chunk
    finally:
        await reader.aclose()


# --- the drop zone --------------------------------------------------------------------------


@router.get("/depot", name="console_partner_dropzone")
async def dropzone(request: Request, current: Current, session: Session) -> HTMLResponse:
    """Bucket, endpoint and region, and how to upload (the seed's snippets, filled in)."""
    desk_session, partner = current
    settings: Settings = request.app.state.settings
    try:
        bucket = await provisioning.get_bucket(session, partner)
    except provisioning.BucketNotProvisioned:
        bucket = None
    backend = backends.current_or_none()
    endpoint = backend.public_endpoint_url if backend is not None else None
    bucket_name = bucket.bucket if bucket else ""
    region = settings.dropzone.region
    context = _context(
        partner,
        bucket=bucket,
        endpoint=endpoint,
        region=region,
        python_snippet=python_snippet(
            bucket=bucket_name, region=region, endpoint=endpoint, partner_id=partner.partner_id
        ),
        node_snippet=node_snippet(
            bucket=bucket_name, region=region, endpoint=endpoint, partner_id=partner.partner_id
        ),
        nav="depot",
    )
    return desk.page(request, "partner/dropzone.html", context, desk_session)


def python_snippet(*, bucket: str, region: str, endpoint: str | None, partner_id: str) -> str:
    """The seed's Python example with the partner's values (the secrets stay outside)."""
    endpoint_line = f"    endpoint_url={json.dumps(endpoint)},\n" if endpoint else ""
    return (
        "import json\nimport os\nimport boto3\nfrom datetime import datetime\n\n"
        "s3_client = boto3.client(\n"
        "    's3',\n"
        f"    region_name={json.dumps(region)},\n"
        f"{endpoint_line}"
        "    aws_access_key_id=os.environ.get('AWS_ACCESS_KEY_ID'),\n"
        "    aws_secret_access_key=os.environ.get('AWS_SECRET_ACCESS_KEY')\n"
        ")\n\n"
        "loader_data = {\n"
        f"    'inigPtynm': {json.dumps(partner_id)},\n"
        "    'apiKey': os.environ.get('LOADER_API_KEY'),  # votre clé d’API\n"
        "    'creDtTm': datetime.now().astimezone().isoformat(),\n"
        "    'versionId': '2.0',\n"
        "    'declarants': [],\n    'properties': [],\n    'transactions': []\n"
        "}\n\n"
        f"bucket_name = {json.dumps(bucket)}\n"
        "file_name = f'loader-{int(datetime.now().timestamp() * 1000)}.json'\n\n"
        "s3_client.put_object(\n"
        "    Bucket=bucket_name,\n    Key=file_name,\n    Body=json.dumps(loader_data),\n"
        "    ContentType='application/json'\n)\n"
    )


def node_snippet(*, bucket: str, region: str, endpoint: str | None, partner_id: str) -> str:
    """The seed's JavaScript example with the partner's values (the secrets stay outside)."""
    endpoint_lines = (
        f"  endpoint: {json.dumps(endpoint)},\n  forcePathStyle: true,\n" if endpoint else ""
    )
    return (
        "const { S3Client, PutObjectCommand } = require('@aws-sdk/client-s3');\n\n"
        "const s3Client = new S3Client({\n"
        f"  region: {json.dumps(region)},\n"
        f"{endpoint_lines}"
        "  credentials: {\n"
        "    accessKeyId: process.env.AWS_ACCESS_KEY_ID,\n"
        "    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,\n"
        "  },\n});\n\n"
        "const loaderData = {\n"
        f"  inigPtynm: {json.dumps(partner_id)},\n"
        "  apiKey: process.env.LOADER_API_KEY, // votre clé d’API\n"
        "  creDtTm: new Date().toISOString(),\n"
        "  versionId: '2.0',\n"
        "  declarants: [],\n  properties: [],\n  transactions: []\n};\n\n"
        f"const bucketName = {json.dumps(bucket)};\n"
        "const fileName = `loader-${Date.now()}.json`;\n\n"
        "await s3Client.send(new PutObjectCommand({\n"
        "  Bucket: bucketName,\n  Key: fileName,\n  Body: JSON.stringify(loaderData),\n"
        "  ContentType: 'application/json',\n}));\n"
    )
