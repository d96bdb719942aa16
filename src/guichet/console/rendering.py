"""Rendering of the console's pages: the Jinja2 environment, French formats, the headers every
page carries, htmx fragments and the French 404 page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from guichet.console import assets

# Pages load scripts, styles, fonts and images from Guichet only; no inline script at all.
# Inline styles stay allowed: the DSFR's scripts set a few style attributes themselves.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
_MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip
_THIN_SPACE = "\u202f"  # the French thousands separator


@cache
def _paris() -> dt.tzinfo:
    try:
        return ZoneInfo("Europe/Paris")
    except ZoneInfoNotFoundError:  # no tz database on this machine: UTC, said as such
        return dt.UTC


def date_fr(value: str | dt.datetime | None, *, with_time: bool = True) -> str:
    """`2026-12-03T13:05:00.000Z` → `3 décembre 2026 à 14 h 05` (Paris time)."""
    if value is None:
        return "—"
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    local = moment.astimezone(_paris())
    day = f"{local.day} {_MONTHS[local.month - 1]} {local.year}"
    return f"{day} à {local.hour} h {local.minute:02d}" if with_time else day


def nombre(value: int | None) -> str:
    if value is None:
        return "—"
    return f"{value:,}".replace(",", _THIN_SPACE)


def taille(size: int | None) -> str:
    """A file size in French units (octets, ko, Mo)."""
    if size is None:
        return "—"
    if size < 1000:
        return f"{size} octets"
    for unit, scale in (("Go", 1e9), ("Mo", 1e6), ("ko", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f}".replace(".", ",") + f" {unit}"
    return f"{size} octets"  # unreachable: size ≥ 1000 matched ko


@cache
def environment() -> jinja2.Environment:
    directory = str(resources.files("guichet.console").joinpath("templates"))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(date_fr=date_fr, nombre=nombre, taille=taille)
    env.globals.update(asset=assets.url)
    return env


def is_fragment_request(request: Request, target: str) -> bool:
    """An htmx request that replaces the element `#target` only (a history restore wants the
    whole page)."""
    headers = request.headers
    return (
        headers.get("hx-request") == "true"
        and headers.get("hx-target") == target
        and headers.get("hx-history-restore-request") != "true"
    )


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    fragments: Mapping[str, str] | None = None,
    canonical: str | None = None,
) -> HTMLResponse:
    """The page, or only the fragment template of the element an htmx request targets
    (`fragments`: element id → template). `canonical`: the URL the browser's address bar
    should show after a fragment (a form's empty fields left out)."""
    chosen = template
    for target, fragment in (fragments or {}).items():
        if is_fragment_request(request, target):
            chosen = fragment
            break
    body = environment().get_template(chosen).render(request=request, **context)
    response = HTMLResponse(body, status_code=status_code)
    if chosen != template and canonical is not None:
        response.headers["HX-Push-Url"] = canonical
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    # The same URL answers a page or a fragment: caches must tell them apart.
    response.headers["Vary"] = "HX-Request, HX-Target"
    response.headers["Cache-Control"] = "no-cache"
    return response


def not_found(request: Request, message: str) -> HTMLResponse:
    return render(request, "404.html", {"message": message}, status_code=404)
