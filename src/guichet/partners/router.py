"""`POST /api/third_party/loader`: the partner endpoint of the contract (SPEC §1, §5.1).

No auth header: `inigPtynm` and `apiKey` in the body authenticate. Every answer is the
contract's: 200 report, 400 KO (413 for an oversize body), 401 KO for bad credentials (see
`guichet.partners.errors`), 500 KO.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from guichet.core.config import Settings
from guichet.core.db import Session
from guichet.core.errors import route_class
from guichet.core.storage import Blobs
from guichet.loader import FileTooLarge
from guichet.partners import intake, registry
from guichet.partners.errors import LOADER_FORMAT, FileRefused
from guichet.partners.models import Channel

router = APIRouter(route_class=route_class(LOADER_FORMAT), tags=["loaders"])

# The header only: the full JSON Schema (`guichet loader schema`) uses $defs that OpenAPI would
# resolve against its own document.
_FILE_SCHEMA = {
    "type": "object",
    "required": ["inigPtynm", "apiKey", "creDtTm", "versionId"],
    "properties": {
        "inigPtynm": {"type": "string", "description": "Partner id"},
        "apiKey": {"type": "string", "description": "The partner's API key"},
        "creDtTm": {"type": "string", "description": "ISO 8601 issue date-time"},
        "versionId": {"const": "2.0"},
        "clients": {"type": "array", "items": {"type": "object"}},
        "declarants": {"type": "array", "items": {"type": "object"}},
        "properties": {"type": "array", "items": {"type": "object"}},
        "transactions": {"type": "array", "items": {"type": "object"}},
        "documents": {"type": "array", "items": {"type": "object"}},
    },
}


def _ko(description: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {
            "status": {"const": "KO"},
            "type": {"type": "string"},
            "message": {"type": "string"},
            "errors": {"type": "string"},
        },
    }
    return {"description": description, "content": {"application/json": {"schema": schema}}}


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused as soon as it crosses `max_bytes` (announced or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FileRefused(FileTooLarge(f"{declared} octets, la limite est {max_bytes}"))
    buffer = bytearray()
    async for chunk in request.stream():
        if len(buffer) + len(chunk) > max_bytes:
            raise FileRefused(FileTooLarge(f"plus de {max_bytes} octets"))
        buffer += chunk
    return bytes(buffer)


@router.post(
    "/api/third_party/loader",
    summary="Deposit a loader file (synchronous report)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _FILE_SCHEMA}},
        }
    },
    responses={
        200: {"description": "Report: SUCCESS, PARTIAL_SUCCESS or ERROR, item by item"},
        400: _ko("File refused as a whole (ValidationError, WrongFormat, ValueError, KeyError)"),
        401: _ko("Unknown or inactive partner, or wrong apiKey (type ValueError)"),
        413: _ko("Body larger than the limit (type WrongFormat)"),
        500: _ko("Internal error (type InternalServerError)"),
    },
)
async def post_loader(request: Request, session: Session, store: Blobs) -> JSONResponse:
    """Validate and integrate one Loaders 2.0 file (flat or `clients[]` layout); the header's
    `inigPtynm` + `apiKey` authenticate. Known ids are left unchanged; each `clients[]` entry
    succeeds or fails on its own."""
    settings: Settings = request.app.state.settings
    body = await read_body(request, settings.loaders.max_body_bytes)
    received_at = intake.utcnow()
    if len(body) > registry.PARSE_BEFORE_AUTH_BYTES:
        # The key travels inside the body: found in its bytes, so that a large body from an
        # unknown sender is refused (401) without being parsed.
        await registry.authenticate_unparsed(session, body)
    document = await intake.parse(body, max_bytes=settings.loaders.max_body_bytes)
    partner = await registry.authenticate_file(session, document)
    delivery = intake.Delivery(body, document, Channel.REST, received_at, uuid.uuid4())
    depositor = await registry.depositor(session, partner)
    outcome = await intake.intake(intake.Recorder(session, store), delivery, depositor)
    status = outcome.rejection.http_status if outcome.rejection is not None else 200
    return JSONResponse(outcome.report, status_code=status)
