"""The public pages: search a commune, a commune's revisions, a revision and its report.

Anyone may read them, as anyone may read the public API's routes they mirror; they read
through `console.reads`, which goes through the publication front's own functions.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from guichet import cog
from guichet.console import reads, search
from guichet.console.paging import Pages, page_number
from guichet.console.rendering import not_found, render
from guichet.core.db import Session
from guichet.core.storage import Blobs

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/", name="console_home")
async def home(request: Request, q: str | None = None) -> Response:
    """The search of a commune by code or name; a known code goes straight to its page."""
    query = (q or "").strip()[:100]
    found = search.search(query) if query else []
    if len(found) == 1 and found[0].code == query.upper() and not _is_fragment(request):
        return RedirectResponse(_commune_path(request, found[0].code), status_code=303)
    context = {"query": query, "found": found, "max_results": search.MAX_RESULTS}
    return render(request, "home.html", context, fragments={"resultats": "_results.html"})


@router.get("/communes/{code}", name="console_commune")
async def commune(
    request: Request, code: str, session: Session, page: str | None = None
) -> HTMLResponse:
    """The commune's current revision and the history of its revisions, newest first."""
    # The codes the API accepts with `ancienneCommuneAllowed=true`: current and former.
    if not cog.is_known(code):
        return not_found(request, f"Aucune commune n’a le code « {code[:10]} ».")
    found = search.by_code(code)
    total = await reads.revisions_count(session, code)
    pages = Pages(page_number(page), reads.HISTORY_PAGE_SIZE, total, _commune_path(request, code))
    context = {
        "commune": found,
        "code": code,
        "current": await reads.current_revision(session, code),
        "history": await reads.history(session, code, pages),
        "pages": pages,
        "status": reads.status,
        "download": request.app.url_path_for("download_current", code_commune=code),
    }
    return render(request, "commune.html", context, fragments={"historique": "_history.html"})


@router.get("/revisions/{revision_id}", name="console_revision")
async def revision(
    request: Request,
    revision_id: str,
    session: Session,
    blobs: Blobs,
    niveau: str | None = None,
    code: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    """The revision, its file and its validation report, filtered and paginated."""
    read = await reads.revision(request.app, session, blobs, revision_id)
    if read is None:
        return not_found(request, f"Aucune révision n’a l’identifiant « {revision_id[:30]} ».")
    problems = read.report["problems"] if read.report is not None else []
    filters = reads.ProblemFilter.parse(niveau, code, problems)
    shown = filters.apply(problems)
    base = request.app.url_path_for("console_revision", revision_id=revision_id)
    pages = Pages(page_number(page), reads.PROBLEMS_PAGE_SIZE, len(shown), base, filters.params())
    code_commune = read.revision["codeCommune"]
    context = {
        "read": read,
        "revision": read.revision,
        "commune": search.by_code(code_commune),
        "filters": filters,
        "problems": shown[pages.offset : pages.offset + pages.size],
        "pages": pages,
        "levels": reads.LEVELS,
        "status": reads.status,
        "file_line": reads.file_line,
        "download": request.app.url_path_for("download_revision", revision_id=revision_id),
        "report_json": request.app.url_path_for("validation_report", revision_id=revision_id),
        "commune_path": _commune_path(request, code_commune),
        "diff_json": request.app.url_path_for("revision_diff", revision_id=revision_id),
        "against_path": _against_path(request, read.changes),
    }
    return render(
        request,
        "revision.html",
        context,
        fragments={"rapport": "_report.html"},
        canonical=pages.href(pages.current),
    )


def _against_path(request: Request, changes: dict[str, Any] | None) -> str | None:
    against = (changes or {}).get("againstId")
    if not against:
        return None
    return str(request.app.url_path_for("console_revision", revision_id=against))


@router.get("/{rest:path}", name="console_not_found")
async def unknown_page(request: Request, rest: str) -> HTMLResponse:
    """Any other path under /ui/: the console's own 404 page, in French."""
    return not_found(request, "La page que vous cherchez n’existe pas ou a été déplacée.")


def _commune_path(request: Request, code: str) -> str:
    return str(request.app.url_path_for("console_commune", code=code))


def _is_fragment(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"
