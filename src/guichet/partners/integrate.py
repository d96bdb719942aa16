"""The integration store: a validated file becomes records, in bulk, idempotently (SPEC §3.6).

* Every record is keyed by (partner, model, external id) with a unique constraint. Inserts are
  ``INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING RETURNING``, a few statements per model
  and client entry (never one round trip per item): what comes back was created, what does not
  was already known and is reported as such, unchanged (transactions are deduplicated by id).
  A concurrent identical file waits on the unique index and then finds everything known.
* Rows are inserted in external-id order, so two files touching the same ids lock them in the
  same order (no deadlock between two partners' overlapping uploads).
* Each ``clients[]`` entry runs in its own SAVEPOINT: an entry that fails at the database level is
  rolled back whole and reported failed, the others stand. An item is one row: never half-written.
* ``remove: "R"`` deletes the property; foreign keys (ON DELETE CASCADE) take its documents and
  transactions with it, and the fetched document blobs are deleted by a job.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.logging import get_logger
from guichet.loader import ClientEntry, Item, Model, Outcome, Reference, Report, Validation
from guichet.loader._items import singular
from guichet.partners import tasks
from guichet.partners.models import Account

log = get_logger(__name__)

INLINE_ITEMS = 64
CHUNK = 10_000
"""Rows per INSERT: bounds the size of one statement's parameters (a few MB)."""
ENTRY_FAILED = "erreur lors de l'intégration, rien n'a été enregistré pour ce client"
ORDER = (
    Model.DECLARANTS,
    Model.PROPERTIES,
    Model.ASSOCIATES,
    Model.DOCUMENTS,
    Model.TRANSACTIONS,
)
# Nested arrays are left out of the stored object: their members are records of their own.
_NESTED = {Model.DECLARANTS: ("properties", "associates"), Model.PROPERTIES: ("documents",)}

_INSERT = text("""
    INSERT INTO loader_record
        (partner_id, model, external_id, account_id, declarant_record_id, property_record_id,
         run_id, data)
    SELECT :partner_id, :model, u.external_id, :account_id, u.declarant, u.property, :run_id,
           u.data
    FROM ROWS FROM (unnest(CAST(:ids AS text[])), unnest(CAST(:declarants AS bigint[])),
                    unnest(CAST(:properties AS bigint[])),
                    jsonb_array_elements(CAST(:data AS jsonb)))
         AS u(external_id, declarant, property, data)
    ON CONFLICT (partner_id, model, external_id) DO NOTHING
    RETURNING external_id, id
""")
# A join on unnest(), not `external_id = ANY(:ids)`: once psycopg prepares the statement, the
# generic plan of `= ANY` over 10,000 ids degrades to scans (seconds); this one stays index probes.
_LOOKUP = text("""
    SELECT r.external_id, r.id, r.account_id
    FROM unnest(CAST(:ids AS text[])) AS u(external_id)
    JOIN loader_record r ON r.partner_id = :partner_id AND r.model = :model
                        AND r.external_id = u.external_id
""")
_REMOVED_BLOBS = text("""
    SELECT d.blob_key FROM loader_document d JOIN loader_record r ON r.id = d.record_id
    WHERE d.blob_key IS NOT NULL AND r.property_record_id IN (
        SELECT id FROM loader_record WHERE partner_id = :partner_id AND model = 'properties'
        AND account_id = :account_id AND external_id = ANY(:ids))
""")
_REMOVE = text("""
    DELETE FROM loader_record
    WHERE partner_id = :partner_id AND model = 'properties' AND account_id = :account_id
      AND external_id = ANY(:ids)
    RETURNING external_id
""")


@dataclass(frozen=True, slots=True)
class Known:
    record_id: int
    account_id: int


@dataclass(frozen=True, slots=True)
class Link:
    model: Model
    id: str
    field: str


def links_of(item: Item) -> list[Link]:
    """The stored records an item hangs off (its declarant, its property)."""
    model = item.model
    if model is Model.TRANSACTIONS:
        return [Link(Model.PROPERTIES, item.property_id, "id-prty")] if item.property_id else []
    links = []
    if model is Model.DOCUMENTS and item.property_id:
        links.append(Link(Model.PROPERTIES, item.property_id, "propertyId"))
    if item.declarant_id and model is not Model.DECLARANTS and not item.is_removal:
        links.append(Link(Model.DECLARANTS, item.declarant_id, "declarantId"))
    return links


def _row_data(item: Item) -> Any:
    nested = _NESTED.get(item.model)
    if nested is None:
        return item.data
    return {key: value for key, value in item.data.items() if key not in nested}


def _rows(items: Sequence[Item], known: dict[tuple[Model, str], Known]) -> dict[str, Any]:
    """The unnest() arrays of one chunk (CPU work: run in a thread)."""
    declarants: list[int | None] = []
    properties: list[int | None] = []
    for item in items:
        by_model = {link.model: known[link.model, link.id] for link in links_of(item)}
        declarant = by_model.get(Model.DECLARANTS)
        prop = by_model.get(Model.PROPERTIES)
        declarants.append(declarant.record_id if declarant else None)
        properties.append(prop.record_id if prop else None)
    return {
        "ids": [item.id for item in items],
        "declarants": declarants,
        "properties": properties,
        # One JSON array for the chunk (one C-speed dumps; jsonb_array_elements splits it).
        "data": json.dumps([_row_data(item) for item in items], ensure_ascii=False),
    }


class Integrator:
    """Integrates the entries of one validated file for one partner, recording outcomes.

    Each client entry runs in its own savepoint: a database error fails that entry alone.
    `entry_savepoints=False` leaves them out, for a caller that already holds a savepoint
    around the whole file and redoes the file with them when a database error comes up (the
    drop zone: two statements fewer per file in the common case)."""

    def __init__(
        self,
        session: AsyncSession,
        report: Report,
        *,
        partner_id: int,
        own_account_id: int,
        run_id: uuid.UUID,
        entry_savepoints: bool = True,
    ) -> None:
        self.session = session
        self.report = report
        self.partner_id = partner_id
        self.own_account_id = own_account_id
        self.run_id = run_id
        self.entry_savepoints = entry_savepoints
        self.known: dict[tuple[Model, str], Known] = {}

    async def integrate(self, validation: Validation) -> None:
        for entry in validation.clients:
            if not entry.is_valid:
                continue
            if self.entry_savepoints:
                await self._entry_in_savepoint(entry)
            else:
                self.known = {}  # as with savepoints: nothing learnt crosses entries
                await self._entry(entry)

    async def _entry_in_savepoint(self, entry: ClientEntry) -> None:
        self.known = {}  # record ids learnt in a rolled-back savepoint must not leak
        try:
            async with self.session.begin_nested():
                await self._entry(entry)
        except DBAPIError:
            log.exception("loaders.entry_failed", entry=entry.index)
            self.report.fail(entry, ENTRY_FAILED)

    async def _entry(self, entry: ClientEntry) -> None:
        account_id, account_created = await self._account(entry)
        by_model: dict[Model, list[Item]] = defaultdict(list)
        for item in entry.items:
            if item.is_valid:
                by_model[item.model].append(item)
        for model in ORDER:
            items = self._pending(by_model[model])
            if items:
                await self._resolve_links(items, account_id)
                await self._store(model, self._pending(items), account_id)
        if entry.client is not None:
            # As for items: an account found by its e-mail is reported known, not created again
            # (its names and phone are not updated: SPEC §2.2, they serve only at creation).
            known = Outcome.CREATED if account_created else Outcome.ALREADY_KNOWN
            self.report.record(entry, known)

    def _pending(self, items: Iterable[Item]) -> list[Item]:
        outcome = self.report.outcome
        return [item for item in items if outcome(item) is Outcome.VALID]

    async def _account(self, entry: ClientEntry) -> tuple[int, bool]:
        """The entry's account id, and whether this file created it."""
        client = entry.client
        if client is None:
            return self.own_account_id, False
        inserted = await self.session.execute(
            insert(Account)
            .values(
                email=client.key,
                first_name=client.first_name,
                last_name=client.last_name,
                phone_number=client.phone_number,  # used only when the account is created
                created_by_partner_id=self.partner_id,
            )
            .on_conflict_do_nothing(index_elements=[Account.email])
            .returning(Account.id)
        )
        account_id = inserted.scalar_one_or_none()
        if account_id is not None:
            return int(account_id), True
        found = await self.session.execute(
            text("SELECT id FROM loader_account WHERE email = :email"), {"email": client.key}
        )
        return int(found.scalar_one()), False

    async def _resolve_links(self, items: list[Item], account_id: int) -> None:
        """Fail items whose declarant/property is neither stored nor integrated, or belongs to
        another account; remember the record ids of the others."""
        wanted: dict[Model, set[str]] = defaultdict(set)
        for item in items:
            for link in links_of(item):
                if (link.model, link.id) not in self.known:
                    wanted[link.model].add(link.id)
        for model, ids in wanted.items():
            await self._lookup(model, sorted(ids))
        for item in items:
            for link in links_of(item):
                found = self.known.get((link.model, link.id))
                if found is None:
                    reference = Reference(link.field, link.model, link.id)
                    self.report.fail_unknown_reference(item, reference)
                    break
                if found.account_id != account_id:
                    self._fail_foreign(item, link.model, link.id, link.field)
                    break

    async def _lookup(self, model: Model, ids: list[str]) -> dict[str, Known]:
        result = await self.session.execute(
            _LOOKUP, {"partner_id": self.partner_id, "model": str(model), "ids": ids}
        )
        found = {row.external_id: Known(row.id, row.account_id) for row in result}
        for external_id, known in found.items():
            self.known[model, external_id] = known
        return found

    def _fail_foreign(self, item: Item, model: Model, external_id: str, field: str) -> None:
        reason = f"{singular(model)} '{external_id}' appartient à un autre client"
        self.report.fail(item, reason, field=field, error_type="ValidationError", code="reference")

    async def _store(self, model: Model, items: list[Item], account_id: int) -> None:
        if model is Model.PROPERTIES:
            removals = [item for item in items if item.is_removal]
            if removals:
                await self._remove(removals, account_id)
                items = [item for item in items if not item.is_removal]
        items.sort(key=lambda item: item.id or "")
        for start in range(0, len(items), CHUNK):
            await self._insert(model, items[start : start + CHUNK], account_id)

    async def _insert(self, model: Model, items: list[Item], account_id: int) -> None:
        # A thread only for big chunks: for a few items the hop costs more than the work.
        big = len(items) > INLINE_ITEMS
        rows = (
            await asyncio.to_thread(_rows, items, self.known) if big else _rows(items, self.known)
        )
        params = {
            "partner_id": self.partner_id,
            "model": str(model),
            "account_id": account_id,
            "run_id": self.run_id,
            **rows,
        }
        result = await self.session.execute(_INSERT, params)
        created: dict[str, int] = {row.external_id: row.id for row in result}
        record = self.report.record
        for item in items:
            record_id = created.get(item.id or "")
            if record_id is not None:
                record(item, Outcome.CREATED)
                self.known[model, item.id or ""] = Known(record_id, account_id)
        missed = [item for item in items if item.id not in created]
        if missed:
            await self._settle_known(model, missed, account_id)
        if model is Model.DOCUMENTS and created:
            await tasks.register_documents(self.session, sorted(created.values()))

    async def _settle_known(self, model: Model, items: list[Item], account_id: int) -> None:
        """Items whose id was already stored: unchanged if the account is theirs, else refused."""
        found = await self._lookup(model, [item.id or "" for item in items])
        for item in items:
            known = found.get(item.id or "")
            if known is None:  # stored, then deleted by a concurrent removal: try again later
                self.report.fail(item, "conflit avec un dépôt simultané, renvoyez le fichier")
            elif known.account_id != account_id:
                self._fail_foreign(item, model, item.id or "", "id")
            else:
                self.report.record(item, Outcome.ALREADY_KNOWN)

    async def _remove(self, items: list[Item], account_id: int) -> None:
        ids = sorted(item.id or "" for item in items)
        params = {"partner_id": self.partner_id, "account_id": account_id, "ids": ids}
        blobs = list((await self.session.execute(_REMOVED_BLOBS, params)).scalars())
        deleted = set((await self.session.execute(_REMOVE, params)).scalars())
        if blobs:
            await tasks.delete_blobs_later(self.session, blobs)
        others = {} if len(deleted) == len(ids) else await self._lookup(Model.PROPERTIES, ids)
        for item in items:
            self.known.pop((Model.PROPERTIES, item.id or ""), None)
            if item.id in others and others[item.id].account_id != account_id:
                self._fail_foreign(item, Model.PROPERTIES, item.id, "id")
            else:
                # Deleting what is not (or no longer) there succeeds: a GDPR deletion request
                # sent twice is carried out once and reported done twice.
                self.report.record(item, Outcome.REMOVED)
        log.info("loaders.properties_removed", requested=len(ids), deleted=len(deleted))
