"""Reading request bodies as the reference's Express stack does.

JSON is parsed only when the request says it is JSON (body-parser), up to 100 kB (its default
limit: 413 beyond); any other body counts as `{}`. The result is then checked against a schema
(400 with class-validator-like messages).

The request's database connection goes back to the pool before the body is awaited (a client
that announces 200 bytes and sends one must not hold it). What PostgreSQL's `jsonb` cannot
store, or Python cannot handle, is refused with a 400 in the same format, in French: nesting
deeper than `MAX_DEPTH` (bounded while parsing, so no RecursionError), `NaN`, `Infinity` and
numbers beyond a float (`1e999`), the NUL character and lone UTF-16 surrogates.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Iterator
from email.message import Message
from json.scanner import py_make_scanner  # type: ignore[attr-defined]  # not in typeshed
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

from guichet.core import db
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
    await db.release_connection(request)  # the client decides how long the body takes
    data = await _read_limited(request)
    if not data.strip():
        return {}
    try:
        payload = _decode(bytes(data))
    except (ValueError, UnicodeDecodeError):
        raise errors.JsonInvalid(
            f"Unexpected token in JSON at position 0 ({len(data)} bytes)"
        ) from None
    problems = list(itertools.islice(_unstorable(payload, ()), _MAX_PROBLEMS))
    if problems:
        raise RequestInvalid(problems)
    return payload


async def _read_limited(request: Request) -> bytearray:
    data = bytearray()
    try:
        async for chunk in request.stream():
            data += chunk
            if len(data) > JSON_LIMIT:
                raise errors.BodyTooLarge()
    except ClientDisconnect:  # gone (or closed by the server's body timeout): nobody to answer
        raise BadRequest("client disconnected") from None
    return data


# --- decoding -------------------------------------------------------------------------------

MAX_DEPTH = 64  # objects and arrays inside one another; the contract's bodies need 4
_MAX_PROBLEMS = 20

_DEPTH_MESSAGE = (
    f"Le corps de la requête est trop profondément imbriqué ({MAX_DEPTH} niveaux au plus)"
)
_NOT_FINITE = "{field} doit être un nombre fini (NaN, Infinity et 1e999 sont refusés)"
_NUL = "{field} ne doit pas contenir le caractère nul (\\u0000)"
_SURROGATE = (
    "{field} contient un caractère Unicode invalide"
    " (moitié isolée d’une paire de substitution UTF-16)"
)
_BAD_CHARACTERS = re.compile(r"[\x00\ud800-\udfff]")


class _NotFinite:
    """Stands for `NaN`, `Infinity` or a number beyond a float, until it is reported with its
    place in the body."""


_NOT_FINITE_VALUE = _NotFinite()


def _constant(name: str) -> _NotFinite:
    return _NOT_FINITE_VALUE


def _float(text: str) -> float | _NotFinite:
    value = float(text)
    return value if math.isfinite(value) else _NOT_FINITE_VALUE


class _TooDeep(Exception):
    pass


class _BoundedDecoder(json.JSONDecoder):
    """The standard decoder, counting the objects and arrays it is inside while it parses:
    beyond `max_depth` it stops, before recursing any further. Its pure-Python scanner (the C
    one offers no hook) is used only when a body has more than `max_depth` brackets."""

    parse_object: Callable[..., Any]  # set by JSONDecoder.__init__
    parse_array: Callable[..., Any]

    def __init__(self, max_depth: int) -> None:
        super().__init__(parse_constant=_constant, parse_float=_float)
        self.depth, self.max_depth = 0, max_depth
        self.parse_object = self._bounded(self.parse_object)
        self.parse_array = self._bounded(self.parse_array)
        self.scan_once = py_make_scanner(self)

    def _bounded(self, parse: Callable[..., Any]) -> Callable[..., Any]:
        def parse_nested(*args: Any) -> Any:
            if self.depth >= self.max_depth:
                raise _TooDeep()
            self.depth += 1
            try:
                return parse(*args)
            finally:
                self.depth -= 1

        return parse_nested


_FLAT_DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_float)


def _decode(data: bytes) -> Any:
    """`json.loads`, with the depth bounded and unrepresentable numbers marked."""
    text = data.decode(json.detect_encoding(data), "surrogatepass")
    # Fewer brackets than the bound: the C scanner cannot go too deep.
    if text.count("{") + text.count("[") <= MAX_DEPTH:
        return _FLAT_DECODER.decode(text)
    try:
        return _BoundedDecoder(MAX_DEPTH).decode(text)
    except _TooDeep:
        raise RequestInvalid([_problem((), _DEPTH_MESSAGE)]) from None


def _unstorable(value: Any, path: tuple[str | int, ...]) -> Iterator[dict[str, Any]]:
    """What jsonb cannot store, with its place (depth already bounded by the decoder)."""
    if isinstance(value, str):
        yield from _bad_text(value, path)
    elif isinstance(value, _NotFinite):
        yield _problem(path, _NOT_FINITE)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _bad_text(key, (*path, _printable(key)))
            yield from _unstorable(item, (*path, _printable(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable(item, (*path, index))


def _bad_text(text: str, path: tuple[str | int, ...]) -> Iterator[dict[str, Any]]:
    found = {match.group() for match in _BAD_CHARACTERS.finditer(text)}
    if "\x00" in found:
        yield _problem(path, _NUL)
    if found - {"\x00"}:
        yield _problem(path, _SURROGATE)


def _printable(key: str) -> str:
    """A key as it can be shown in a message (the answer must itself be valid UTF-8)."""
    return _BAD_CHARACTERS.sub(lambda match: f"\\u{ord(match.group()):04x}", key)


def _problem(path: tuple[str | int, ...], message: str) -> dict[str, Any]:
    # Rendered by `errors.class_validator_messages` like a schema error: `{field}` is the path.
    return {"loc": ("body", *path), "msg": message, "type": "value_error"}


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
