"""`/docs` (Swagger UI) and `/redoc` served from local assets, and the OpenAPI of the BAL
routes completed with the contract's errors.

The assets are those the `fastapi-offline` wheel ships (Swagger UI's bundle and CSS, ReDoc's
standalone bundle): no CDN, so the pages work on a machine without internet.

FastAPI documents a route's success and a 422 it never answers on the BAL routes (their
validation errors are the reference's 400). `complete_openapi` rewrites those operations with
every status the reference service answers (`../shared/specs/api-depot.md` §2.1–2.4), in its
error shape `{"statusCode", "message", "error"?}`, the upload's headers and examples taken
from docs/publication.md. The routes stay the depot's; only their description is added here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

from guichet.depot.errors import NEST_FORMAT

ASSETS_PATH = "/docs-assets"
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
ERROR_SCHEMA = "NestError"


def assets_directory() -> str:
    return str(resources.files("fastapi_offline") / "static")


def install(app: FastAPI) -> None:
    """The documentation pages, their assets, and the completed OpenAPI (the app must be
    created with `docs_url=None, redoc_url=None`)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=assets_directory()), name="docs-assets")
    title = app.title

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} — API",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_PATH}",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        )

    @app.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} — API (ReDoc)",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )

    app.openapi = _completed(app, app.openapi)  # type: ignore[method-assign]


def _completed(
    app: FastAPI, generate: Callable[[], dict[str, Any]]
) -> Callable[[], dict[str, Any]]:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_openapi(generate(), nest_operations(app))
        return app.openapi_schema

    return openapi


def nest_operations(app: FastAPI) -> frozenset[tuple[str, str]]:
    """(method, path) of the routes answering in the reference's error shape (the BAL API)."""
    return frozenset(
        (method.lower(), path)
        for path, route in _api_routes(app.routes)
        if getattr(route, "error_format", None) is NEST_FORMAT
        for method in route.methods or ()
    )


def _api_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute with its full path. FastAPI ≥ 0.120 keeps an included router as one
    entry (`original_router`, `include_context.prefix`) instead of copying its routes."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
            continue
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            extra = str(getattr(context, "prefix", "") or "")
            yield from _api_routes(included.routes, prefix + extra)


# --- the contract's errors --------------------------------------------------------------------

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The reference service's error (NestJS): `message` is a list of strings "
    "for a refused body or query, a string otherwise.",
    "required": ["statusCode", "message"],
    "properties": {
        "statusCode": {"type": "integer", "example": 412},
        "message": {
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            "example": "La révision n’est plus modifiable",
        },
        "error": {"type": "string", "example": "Bad Request"},
    },
}

_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized: no, or an unknown, client token",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Payload Too Large",
    503: "Service Unavailable",
}

Errors = Mapping[int, tuple[str, ...]]

_CLIENT: Errors = {
    401: ("Une authentification est nécessaire", "Authentification refusée"),
    403: ("Le client est actuellement désactivé",),
}
_OWNER: Errors = {
    **_CLIENT,
    403: (*_CLIENT[403], "Vous n’êtes pas autorisé à accéder à cette révision"),
}
_REVISION_ID: Errors = {
    400: ("Revision Id 42 is not ObjectId",),
    404: ("Revision 6b032572d205bef6b2f974db not found",),
}
_COMMUNE: Errors = {404: ("Le code commune n’existe pas",)}
_CLIENT_ID: Errors = {400: ("Client Id 42 is not ObjectId",), 404: ("Client … not found",)}


def _merge(*tables: Errors) -> dict[int, tuple[str, ...]]:
    merged: dict[int, tuple[str, ...]] = {}
    for table in tables:
        for status, messages in table.items():
            merged[status] = tuple(dict.fromkeys((*merged.get(status, ()), *messages)))
    return merged


UPLOAD = ("put", "/revisions/{revision_id}/files/bal")

# Every error status of the BAL routes, with the reference's messages (api-depot.md §2.4).
ROUTE_ERRORS: dict[tuple[str, str], dict[int, tuple[str, ...]]] = {
    ("post", "/communes/{code_commune}/revisions"): _merge(
        _COMMUNE, _CLIENT, {400: ("context must be an object",)}
    ),
    UPLOAD: _merge(
        _REVISION_ID,
        _OWNER,
        {
            400: (
                "La valeur de l’en-tête Content-MD5 ne correspond pas à la signature MD5 du "
                "contenu soumis.",
                "Aucun encodage de contenue dans l’en-tête n’est accepté.",
                "La longueur de contenue dans l’en-tête ne correspond pas a la taille en octet "
                "du fichier.",
            ),
            404: ("Fichier non fourni.",),
            412: ("La révision n’est plus modifiable", "Fichier déjà attaché a la révision"),
            413: ("request entity too large",),
            503: ("Fichier non uploadé sur S3",),
        },
    ),
    ("post", "/revisions/{revision_id}/compute"): _merge(
        _REVISION_ID,
        _OWNER,
        {
            404: ("Aucun fichier de type 'bal' associé à la révision 6b032572d205bef6b2f974db",),
            412: ("La révision n’est plus modifiable",),
        },
    ),
    ("post", "/revisions/{revision_id}/publish"): _merge(
        _REVISION_ID,
        _OWNER,
        {
            400: ("Le client Mon éditeur nécessite une habilitation pour publier",),
            404: ("L’habilitation 6b032572d205bef6b2f974e0 n’est pas valide",),
            412: (
                "La publication n’est pas possible",
                "La publication n’est pas possible car une publication est deja en cours",
            ),
        },
    ),
    ("get", "/current-revisions"): {400: ("Invalid date", "Code commune 99999 invalide")},
    ("get", "/communes/{code_commune}/current-revision"): _merge(
        _COMMUNE, {404: ("Aucune revision trouvé pour la commune 31591",)}
    ),
    ("get", "/communes/{code_commune}/revisions"): _merge(
        _COMMUNE, {400: ("status must be one of the following values: pending, published, all",)}
    ),
    ("get", "/communes/{code_commune}/current-revision/files/bal/download"): _merge(
        _COMMUNE, {404: ("Aucune revision trouvé pour la commune 31591",)}
    ),
    ("get", "/revisions/{revision_id}"): dict(_REVISION_ID),
    ("get", "/revisions/{revision_id}/files/bal/download"): _merge(
        _REVISION_ID,
        {404: ("Aucun fichier de type 'bal' associé à la révision 6b032572d205bef6b2f974db",)},
    ),
    ("get", "/revisions/client/{client_id}"): dict(_CLIENT_ID),
    ("get", "/revisions/{revision_id}/validation-report"): _merge(
        _REVISION_ID,
        {404: ("Aucun rapport de validation pour la révision 6b032572d205bef6b2f974db",)},
    ),
}

# --- the upload, as docs/publication.md shows it ----------------------------------------------

_UPLOAD_HEADERS: list[dict[str, Any]] = [
    {
        "name": "Content-MD5",
        "in": "header",
        "required": False,
        "description": "The **hex** MD5 of the body (not base64, unlike RFC 1864): "
        "`md5sum bal.csv | cut -d' ' -f1`. A mismatch answers 400.",
        "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"},
        "example": "9b1e1f9ecd2650192ad778d154e0345a",
    },
    {
        "name": "Content-Type",
        "in": "header",
        "required": False,
        "description": "`text/csv` (or `application/csv`); not JSON nor a form.",
        "schema": {"type": "string"},
        "example": "text/csv",
    },
    {
        "name": "Content-Length",
        "in": "header",
        "required": False,
        "description": "The body's size in bytes, ≤ 50,000,000 (beyond: 413 at once); it "
        "must match the body (400 otherwise). Any `Content-Encoding` is refused (400).",
        "schema": {"type": "integer", "maximum": 50_000_000},
        "example": 793,
    },
]

# The first rows of the guide's `bal.csv` (shared/bal/corpus/ecosystem/apidepot_bal-valid.csv).
_UPLOAD_BODY_EXAMPLE = (
    "cle_interop;uid_adresse;commune_insee;voie_nom;numero;suffixe;commune_nom;position;long;"
    "lat;x;y;source;date_der_maj\n"
    "31591_xxxx_00009;;31591;Rue des 3 Places;9;;Escoulis;entrée;1.028392;43.111637;"
    "539416.13;6225601.11;;2020-11-09\n"
)

# From docs/publication.md (the session run against `guichet serve`).
_SUCCESS_EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    UPLOAD: {
        "id": "6b032572d205bef6b2f974dc",
        "revisionId": "6b032572d205bef6b2f974db",
        "size": 793,
        "hash": "8e67eef2db54dc96c3165060e4dc3b5239fcf82f7e61e3d72e72dfdf9ae2b16c",
        "type": "bal",
        "createdAt": "2026-11-22T17:25:06.782Z",
    },
}
_REQUEST_EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/communes/{code_commune}/revisions"): {
        "context": {
            "nomComplet": "Alice Bob",
            "organisation": "Mairie d’Escoulis",
            "extras": {"internal_id": "9990"},
        }
    },
}


def complete_openapi(
    schema: dict[str, Any], nest: frozenset[tuple[str, str]] = frozenset()
) -> dict[str, Any]:
    """`schema` with the BAL routes' errors, the upload's headers and the guides' examples;
    `nest`: every operation in the reference's error shape (its 422 is a 400 there)."""
    schema = copy.deepcopy(schema)
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = _ERROR_SCHEMA
    paths = schema.get("paths", {})
    for method, path in nest:
        responses = paths.get(path, {}).get(method, {}).get("responses", {})
        if responses.pop("422", None) is not None:
            responses.setdefault("400", _VALIDATION_ERROR)
    for (method, path), errors in ROUTE_ERRORS.items():
        operation = paths.get(path, {}).get(method)
        if operation is None:
            continue  # a route this installation does not serve
        responses = operation.setdefault("responses", {})
        responses.pop("422", None)  # never answered: validation errors are 400 here
        for status, messages in sorted(errors.items()):
            responses[str(status)] = _error_response(status, messages)
        if (method, path) in _SUCCESS_EXAMPLES:
            _success_example(responses, _SUCCESS_EXAMPLES[method, path])
        if (method, path) in _REQUEST_EXAMPLES:
            _request_example(operation, _REQUEST_EXAMPLES[method, path])
    upload = paths.get(UPLOAD[1], {}).get(UPLOAD[0])
    if upload is not None:
        _document_upload(upload)
    return schema


def _error_response(status: int, messages: tuple[str, ...]) -> dict[str, Any]:
    examples = {
        f"e{index}": {
            "summary": message,
            "value": {"statusCode": status, "message": message},
        }
        for index, message in enumerate(messages, start=1)
    }
    return {
        "description": _DESCRIPTIONS.get(status, "Error"),
        "content": {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"},
                "examples": examples,
            }
        },
    }


def _success_example(responses: dict[str, Any], example: dict[str, Any]) -> None:
    for status, response in responses.items():
        if status.startswith("2"):
            media = response.setdefault("content", {}).setdefault("application/json", {})
            media["example"] = example


def _request_example(operation: dict[str, Any], example: dict[str, Any]) -> None:
    content = operation.get("requestBody", {}).get("content", {})
    for media in content.values():
        media["example"] = example


def _document_upload(operation: dict[str, Any]) -> None:
    parameters = operation.setdefault("parameters", [])
    present = {(item.get("in"), item.get("name", "").lower()) for item in parameters}
    for header in _UPLOAD_HEADERS:
        if ("header", header["name"].lower()) not in present:
            parameters.append(header)
    content = operation.get("requestBody", {}).get("content", {})
    for media in content.values():
        media["example"] = _UPLOAD_BODY_EXAMPLE


# A body or query refused (class-validator's shape in the reference).
_VALIDATION_ERROR: dict[str, Any] = {
    "description": "Bad Request: a parameter or the body refused",
    "content": {
        "application/json": {
            "schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"},
            "example": {
                "statusCode": 400,
                "message": ["limit must not be less than 0"],
                "error": "Bad Request",
            },
        }
    },
}
