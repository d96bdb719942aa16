"""Reading request bodies as the reference's Express stack does.

JSON is parsed only when the request says it is JSON (body-parser), up to 100 kB (its default
limit: 413 beyond); any other body counts as `{}`. The result is then checked against a schema
(400 with class-validator-like messages).
"""

from __future__ import annotations

import json
from email.message import Message
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from guichet.core.errors import BadRequest, RequestInvalid
from guichet.depot import errors

JSON_LIMIT = 100 * 1024

M = TypeVar("M", bound=BaseModel)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def read_json(request: Request) -> Any:
    if not _is_json(request.headers.get("content-type")):
        return {}
    if request.headers.get("content-encoding"):
        raise BadRequest("unsupported content encoding")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > JSON_LIMIT:
            raise errors.BodyTooLarge()
    if not data.strip():
        return {}
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise errors.JsonInvalid(
            f"Unexpected token in JSON at position 0 ({len(data)} bytes)"
        ) from None


async def parse_body(request: Request, model: type[M]) -> M:
    payload = await read_json(request)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise RequestInvalid(exc.errors(include_url=False, include_input=False)) from None


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.rsplit("/", 1)[1]], defs)
        return {key: _inline(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value, defs) for value in node]
    return node


def openapi_body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """`openapi_extra` documenting a body that the route reads itself (see `parse_body`)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})
    content = {"application/json": {"schema": _inline(schema, defs)}}
    return {"requestBody": {"required": required, "content": content}}


CSV_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The BAL file, ≤ 50,000,000 bytes; optional `Content-MD5` (hex).",
        "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
    }
}
