"""`/ui/static`: the vendored DSFR and htmx and the console's own stylesheet, served by Guichet
itself (no CDN: the console works offline) with long cache lifetimes.

Pages link every asset with `?v=<token>`, a digest of what is shipped: a new vendored version
or a changed stylesheet gives new URLs, so browsers may keep the old ones for a year.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_PATH = "/ui/static"
CACHE_CONTROL = "public, max-age=31536000, immutable"
# What changes the token: the records of the vendored packages and the console's own files.
_TOKEN_SOURCES = (
    "vendor/dsfr/VENDORED.json",
    "vendor/htmx/VENDORED.json",
    "vendor/dsfr-chart/VENDORED.json",
    "console.css",
)


def static_dir() -> Path:
    return Path(str(resources.files("guichet.console").joinpath("static")))


@cache
def token() -> str:
    digest = hashlib.sha256()
    for name in _TOKEN_SOURCES:
        digest.update((static_dir() / name).read_bytes())
    return digest.hexdigest()[:12]


def url(path: str) -> str:
    """The versioned URL of a static file, e.g. `url("vendor/htmx/htmx.min.js")`."""
    return f"{STATIC_PATH}/{path}?v={token()}"


class CachedStaticFiles(StaticFiles):
    """StaticFiles whose successful answers may be cached for a year (URLs are versioned)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = CACHE_CONTROL
        return response


def mount(app: FastAPI) -> None:
    app.mount(STATIC_PATH, CachedStaticFiles(directory=static_dir()), name="console-static")
