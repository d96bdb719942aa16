"""What the public pages read, through the publication front's own functions
(`guichet.depot.service`, `.publication`, `.views`): the same queries as the public API, and
the same public shapes (`views.*`), so a page can show only what the API shows anyone.

The only query of its own, `revisions_count`, counts the rows `service.revisions_of_commune`
pages through, so that the history can be shown newest first.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.console.paging import Pages
from guichet.core.errors import GuichetError
from guichet.core.storage import BlobNotFound, BlobStore, get_bytes
from guichet.depot import compute, deps, diffs, publication, service, views
from guichet.depot.models import Revision

JSON = dict[str, Any]
HISTORY_PAGE_SIZE = 20
PROBLEMS_PAGE_SIZE = 50
LEVELS = {"E": "Erreur", "W": "Avertissement", "I": "Information"}


# --- a commune ----------------------------------------------------------------------------


async def current_revision(session: AsyncSession, code: str) -> JSON | None:
    """The commune's current revision as `GET /communes/{code}/current-revision` gives it."""
    row = await service.current_revision_row(await session.connection(), code)
    return None if row is None else views.current_revision_row(row, report_url=None)


async def revisions_count(session: AsyncSession, code: str) -> int:
    query = select(func.count()).select_from(Revision).where(Revision.code_commune == code)
    return int(await session.scalar(query) or 0)


async def history(session: AsyncSession, code: str, pages: Pages) -> list[JSON]:
    """Page `pages.current` of the commune's revisions (every status), newest first, as
    `GET /communes/{code}/revisions?status=all` lists them."""
    # The service lists oldest first: the newest page is the end of its list.
    end = pages.total - pages.offset
    start = max(0, end - pages.size)
    revisions = await service.revisions_of_commune(
        session, code, "all", limit=end - start, offset=start
    )
    clients = await service.clients_by_id(session, (r.client_id for r in revisions))
    return [views.revision_in_list(r, clients[r.client_id]) for r in reversed(revisions)]


# --- a revision ---------------------------------------------------------------------------


CHANGES_SHOWN = 20  # items of each list of the diff on the page (the rest: its JSON)


@dataclass
class RevisionRead:
    revision: JSON  # views.revision_with_client: what `GET /revisions/{id}` answers
    report: JSON | None = None  # what `GET /revisions/{id}/validation-report` answers
    report_missing: bool = False  # validated, but the report's blob is gone
    changes: JSON | None = None  # the first page of what `GET /revisions/{id}/diff` answers


async def revision(
    app: FastAPI, session: AsyncSession, blobs: BlobStore, revision_id: str
) -> RevisionRead | None:
    """The revision with its client, file and detailed report; None when unknown (or not an
    id): the API answers 400 / 404 there."""
    try:
        found = await deps.load(session, Revision, "Revision", revision_id)
    except GuichetError:
        return None
    clients = await service.clients_by_id(session, [found.client_id])
    bal_file = await service.get_file(session, found.id)
    read = RevisionRead(views.revision_with_client(found, clients[found.client_id], bal_file))
    if found.report_key is not None and found.validation is not None:
        try:
            stored = json.loads(await get_bytes(blobs, found.report_key))
        except BlobNotFound:
            read.report_missing = True
        else:
            removed, count = await diffs.removed_addresses(
                session, blobs, found, diffs.in_pool, publication.REMOVED_LISTED
            )
            read.report = publication.report_with_rules(stored, found.validation, removed, count)
    read.changes = await _changes(session, blobs, found)
    return read


async def _changes(session: AsyncSession, blobs: BlobStore, found: Revision) -> JSON | None:
    """What the revision changes against the one it is compared with by default, as the API
    answers it (computed once if the diff job has not run yet); None without a readable file."""
    if await service.get_file(session, found.id) is None:
        return None
    try:
        against = await diffs.default_against(session, found)
        stored = await diffs.compute_and_store(
            session, blobs, diffs.in_pool, revision_id=found.id, against_id=against, default=True
        )
        await session.commit()
        return await diffs.page(blobs, stored, None, CHANGES_SHOWN)
    except (GuichetError, compute.ComputeFailed):  # unreadable file, blob gone, pool down
        return None


@dataclass
class ProblemFilter:
    """The report's filters: one level (E, W, I) and one code, each optional."""

    level: str | None = None
    code: str | None = None
    codes: list[tuple[str, int]] = field(default_factory=list)  # every code, with its count

    @classmethod
    def parse(cls, level: str | None, code: str | None, problems: list[JSON]) -> ProblemFilter:
        counts = Counter(str(p.get("code")) for p in problems)
        return cls(
            level=level if level in LEVELS else None,
            code=code if code in counts else None,
            codes=sorted(counts.items()),
        )

    def apply(self, problems: list[JSON]) -> list[JSON]:
        return [
            p
            for p in problems
            if (self.level is None or p.get("level") == self.level)
            and (self.code is None or p.get("code") == self.code)
        ]

    def params(self) -> tuple[tuple[str, str], ...]:
        """The query parameters that keep these filters on the other pages."""
        kept = (("niveau", self.level), ("code", self.code))
        return tuple((name, value) for name, value in kept if value)


def status(revision: JSON) -> tuple[str, str]:
    """The revision's state in words, with the DSFR badge variant that shows it."""
    validation = revision.get("validation")
    if revision.get("status") == "published":
        if revision.get("isCurrent"):
            return "Publiée, courante", "success"
        return "Publiée, remplacée", "info"
    if validation is None:
        return "En attente de validation", "new"
    if validation.get("valid"):
        return "Validée, non publiée", "info"
    return "Refusée", "error"


def file_line(line: int | None) -> str:
    """A report's 0-based data row as the line of the file (the header is line 1)."""
    if line is None or line < 0:
        return "Fichier"
    return str(line + 2)
