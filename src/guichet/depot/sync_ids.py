"""`POST /revisions/{id}/sync-ids-ban-publish` (§2.4 #5, admin): republish a commune's current
BAL with the identifiers the national address base (BAN) gives its commune, streets and
addresses, as a new revision of the same client.

What the BAN is asked, under the configured BAN API (`ban.api_url`), one commune at a time:

* `GET /lookup/{code}` — how the BAN composes the commune: a commune composed from its own BAL
  (`typeComposition` `bal`) without stable ids (`withBanId` false) cannot be synchronised;
* `GET /api/district/cog/{code}` — the commune's BAN id (`response[0].id`);
* `GET /ban/communes/{code}/download/csv-bal/adresses` — the BAN's addresses of the commune as
  a BAL (1.4 columns), giving the street and address ids.

The file is then rewritten: `id_ban_commune` is the commune's id on every row; a row whose
`cle_interop` the BAN knows takes its street and address ids; another row keeps the ids it
has (its `id_ban_*` columns or a 1.3 `uid_adresse` `@v:`/`@a:`), its street takes the BAN id of
a street of the same name, and what is still missing gets a new random id (UUID v4), one per
street; a street's own row (`numero` 99999) has no address id. Missing `id_ban_*` columns are
added after `cle_interop`; every other column and cell is kept. Written in UTF-8 with `;`.

Differences from the reference, each deliberate (same route, same answer on success):

* each error has its own status (the reference answered 500 to all): 412 for a source that is
  not current (its message unchanged) or a commune without stable BAN ids, 424 when the BAN
  fails, 503 when no BAN API is configured, and 412 with the codes when the rewritten file is
  not valid;
* nothing is left behind on failure: the new revision, its file and its publication are one
  transaction (the reference could leave a pending revision and an orphan file);
* a client of strategy `habilitation` is republished with the habilitation of the source
  revision, if it is still usable (the reference could not republish such clients at all);
* the commune is the source revision's (the reference read it back from the rewritten file,
  which holds rows of that commune only anyway).
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.config import BanSettings
from guichet.core.logging import get_logger
from guichet.core.storage import BlobNotFound, BlobStore, get_bytes, put_bytes
from guichet.depot import ban, compute, errors, publication, service
from guichet.depot.models import Client, File, Revision, RevisionStatus, new_id

log = get_logger(__name__)

LOOKUP_PATH = "/lookup/{code}"
DISTRICT_PATH = "/api/district/cog/{code}"
ADDRESSES_PATH = "/ban/communes/{code}/download/csv-bal/adresses"
ID_COLUMNS = ("id_ban_commune", "id_ban_toponyme", "id_ban_adresse")
TOPONYME_NUMERO = "99999"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_UID_PART = re.compile(r"@([cva]):(\S+)")


@dataclass(frozen=True)
class BanIds:
    """The BAN's ids of one commune."""

    commune: str
    by_cle: dict[str, tuple[str, str]]  # cle_interop → (street id, address id)
    by_voie: dict[str, str]  # street name (normalised) → street id


# --- the BAN --------------------------------------------------------------------------------


async def fetch_ban_ids(settings: BanSettings, code_commune: str) -> BanIds:
    if settings.api_url is None:
        raise errors.BanNotConfigured()
    base = settings.api_url.rstrip("/")
    async with httpx.AsyncClient(timeout=settings.timeout, trust_env=False) as http:
        lookup = await _json(http, base + LOOKUP_PATH.format(code=code_commune))
        if not isinstance(lookup, dict):
            raise errors.BanLookupFailed()
        if lookup.get("typeComposition") == "bal" and not lookup.get("withBanId"):
            raise errors.BanNoStableIds()
        commune_id = _commune_id(await _json(http, base + DISTRICT_PATH.format(code=code_commune)))
        if commune_id is None:
            raise errors.BanCommuneIdFailed()
        try:
            response = await http.get(base + ADDRESSES_PATH.format(code=code_commune))
            response.raise_for_status()
            rows = _rows(response.content)
        except (httpx.HTTPError, UnicodeDecodeError, csv.Error) as exc:
            log.warning("depot.ban_addresses_failed", code_commune=code_commune, error=str(exc))
            raise errors.BanAddressesFailed() from None
    return _ids(commune_id, rows)


async def _json(http: httpx.AsyncClient, url: str) -> Any:
    """The JSON answer, or None on any failure (logged)."""
    try:
        response = await http.get(url)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("depot.ban_call_failed", url=url, error=str(exc))
        return None


def _commune_id(found: Any) -> str | None:
    items = found.get("response") if isinstance(found, dict) else None
    first = items[0] if isinstance(items, list) and items else None
    value = first.get("id") if isinstance(first, dict) else None
    return value if isinstance(value, str) and _UUID.fullmatch(value) else None


def _ids(commune_id: str, rows: list[dict[str, str]]) -> BanIds:
    by_cle: dict[str, tuple[str, str]] = {}
    by_voie: dict[str, str] = {}
    for row in rows:
        street, address = row.get("id_ban_toponyme", ""), row.get("id_ban_adresse", "")
        if _UUID.fullmatch(street):
            by_voie.setdefault(_voie(row.get("voie_nom", "")), street.lower())
        cle = row.get("cle_interop", "").lower()
        if cle and _UUID.fullmatch(street):
            valid_address = address.lower() if _UUID.fullmatch(address) else ""
            by_cle.setdefault(cle, (street.lower(), valid_address))
    return BanIds(commune=commune_id.lower(), by_cle=by_cle, by_voie=by_voie)


# --- reading and rewriting a BAL ------------------------------------------------------------


def _voie(name: str) -> str:
    return " ".join(name.casefold().split())


def _table(data: bytes) -> tuple[list[str], list[list[str]], str]:
    """Header, rows and line ending of a BAL (UTF-8, BOM allowed, `;`, `,` or tab)."""
    text = data.decode("utf-8-sig")
    first = text.split("\n", 1)[0]
    delimiter = max(";,\t", key=first.count)
    table = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if row]
    if not table:
        raise csv.Error("empty file")
    header = [name.strip().lower() for name in table[0]]
    return header, table[1:], "\r\n" if "\r\n" in text[:4096] else "\n"


def _rows(data: bytes) -> list[dict[str, str]]:
    header, rows, _ = _table(data)
    return [dict(zip(header, row, strict=False)) for row in rows]


def rewrite(data: bytes, ids: BanIds) -> bytes:
    """The BAL with the BAN's ids (see the module's docstring for the rules)."""
    try:
        header, rows, newline = _table(data)
    except (UnicodeDecodeError, csv.Error):
        raise errors.SyncSourceUnreadable() from None
    if "id_ban_commune" not in header:
        at = header.index("cle_interop") + 1 if "cle_interop" in header else 0
        header[at:at] = [c for c in ID_COLUMNS if c not in header]
        rows = [row[:at] + [""] * 3 + row[at:] for row in rows]
    for column in ID_COLUMNS:  # a partial set of id columns: complete it at the end
        if column not in header:
            header.append(column)
    position = {name: i for i, name in enumerate(header)}
    new_streets: dict[str, str] = {}
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator=newline)
    writer.writerow(header)
    for row in rows:
        cells = row + [""] * (len(header) - len(row))
        _sync_row(cells, position, ids, new_streets)
        writer.writerow(cells)
    return out.getvalue().encode()


def _sync_row(
    cells: list[str], position: dict[str, int], ids: BanIds, new_streets: dict[str, str]
) -> None:
    def cell(name: str) -> str:
        return cells[position[name]].strip() if name in position else ""

    own = _own_ids(cell("id_ban_toponyme"), cell("id_ban_adresse"), cell("uid_adresse"))
    voie = _voie(cell("voie_nom"))
    known = ids.by_cle.get(cell("cle_interop").lower())
    street = (
        (known[0] if known else None)
        or ids.by_voie.get(voie)
        or own[0]
        or new_streets.setdefault(voie, str(uuid.uuid4()))
    )
    if cell("numero") == TOPONYME_NUMERO:
        address = ""
    else:
        address = (known[1] if known and known[1] else None) or own[1] or str(uuid.uuid4())
    cells[position["id_ban_commune"]] = ids.commune
    cells[position["id_ban_toponyme"]] = street
    cells[position["id_ban_adresse"]] = address


def _own_ids(street: str, address: str, uid: str) -> tuple[str | None, str | None]:
    """The street and address ids a row already has: its id_ban columns, else its 1.3
    `uid_adresse` (`@c:<id> @v:<id> @a:<id>`)."""
    parts = dict(_UID_PART.findall(uid))
    found_street = street or parts.get("v", "")
    found_address = address or parts.get("a", "")
    return (
        found_street.lower() if _UUID.fullmatch(found_street) else None,
        found_address.lower() if _UUID.fullmatch(found_address) else None,
    )


# --- the route's work -----------------------------------------------------------------------


async def sync_and_publish(
    session: AsyncSession, blobs: BlobStore, settings: BanSettings, source: Revision
) -> Revision:
    """The source's BAL with the BAN's ids, published as a new revision of the same client."""
    if not source.is_current or source.status != RevisionStatus.PUBLISHED:
        raise errors.SyncNotCurrent()
    if settings.api_url is None:
        raise errors.BanNotConfigured()
    source_file = await service.get_file(session, source.id)
    if source_file is None:
        raise errors.NoBalFile(source.id)
    source_id, code, client_id = source.id, source.code_commune, source.client_id
    context = _context(source.context, source_id)
    habilitation_id = (source.habilitation or {}).get("id")
    blob_key = source_file.blob_key
    await session.commit()  # no connection held while the BAN and the validator work
    try:
        data = await get_bytes(blobs, blob_key)
    except BlobNotFound:
        raise errors.BlobMissing() from None
    synced = rewrite(data, await fetch_ban_ids(settings, code))
    try:
        check = await compute.pool.check(synced, code, ban.api(settings))
    except compute.ComputeFailed:
        raise errors.ComputeUnavailable() from None
    revision_id, file_id = new_id(), new_id()
    blob = await put_bytes(blobs, f"revisions/{revision_id}/{file_id}.csv", synced,
                           content_type="text/csv")  # fmt: skip
    try:
        published = await _record_and_publish(
            session, check, revision_id=revision_id, file_id=file_id, blob_key=blob.key,
            size=blob.size, sha256=blob.sha256, client_id=client_id, code=code,
            context=context, habilitation_id=habilitation_id,
        )  # fmt: skip
    except BaseException:
        await session.rollback()
        await blobs.delete(blob.key)  # nothing refers to it
        raise
    log.info("depot.revision_synced", revision_id=published.id, source_revision_id=source_id)
    return published


def _context(context: dict[str, Any] | None, source_id: str) -> dict[str, Any]:
    copied = dict(context or {})
    extras = copied.get("extras")
    copied["extras"] = {**(extras if isinstance(extras, dict) else {}), "syncRevisionId": source_id}
    return copied


async def _record_and_publish(
    session: AsyncSession,
    check: compute.FileCheck,
    *,
    revision_id: str,
    file_id: str,
    blob_key: str,
    size: int,
    sha256: str,
    client_id: str,
    code: str,
    context: dict[str, Any],
    habilitation_id: str | None,
) -> Revision:
    """One transaction: the new revision, its file, its validation and its publication."""
    client = await session.get(Client, client_id)
    assert client is not None  # revisions cascade with their client
    session.add(
        Revision(
            id=revision_id, client_id=client_id, code_commune=code, context=context,
            status=RevisionStatus.PENDING, is_ready=False, is_current=False,
        )
    )  # fmt: skip
    await session.flush()
    session.add(File(id=file_id, revision_id=revision_id, blob_key=blob_key, size=size,
                     hash=sha256, type="bal"))  # fmt: skip
    await session.flush()
    revision, _ = await publication.record_validation(
        session, code_commune=code, revision_id=revision_id, client=client, check=check,
        report_key=None,
    )  # fmt: skip
    validation = revision.validation or {}
    if not validation.get("valid"):
        raise errors.SyncedFileInvalid(list(validation.get("errors") or []))
    published = await publication.publish(
        session, revision=revision, client=client, habilitation_id=habilitation_id
    )
    await session.commit()
    return published
