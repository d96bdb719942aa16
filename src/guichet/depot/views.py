"""Response shapes of the reference, key for key (§2.5 of the contract).

Dates are written as JavaScript's `Date.toJSON()` does: UTC, milliseconds, `Z`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request

from guichet.depot.models import ChefDeFile, Client, File, Mandataire, Perimeter, Revision

JSON = dict[str, Any]


def js_date(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def public_client(client: Client, *, in_list: bool = False) -> JSON:
    """PublicClient. List endpoints omit `chefDeFile` when there is none (JavaScript drops
    `undefined`), single-object endpoints give `null`: the reference does both."""
    chef = client.chef_de_file
    out: JSON = {"id": client.id, "legacyId": client.legacy_id, "nom": client.nom}
    out["mandataire"] = client.mandataire.nom
    if chef is not None or not in_list:
        out["chefDeFile"] = chef.nom if chef is not None else None
    out["chefDeFileEmail"] = chef.email if chef is not None and chef.is_email_public else None
    return out


def validation_view(revision: Revision, report_url: str | None) -> JSON | None:
    """The stored validation, plus the link to the detailed report (not in the reference)."""
    if revision.validation is None:
        return None
    out = dict(revision.validation)
    if report_url is not None and revision.report_key is not None:
        out["reportUrl"] = report_url
    return out


def revision(rev: Revision, *, report_url: str | None = None) -> JSON:
    return {
        "id": rev.id,
        "clientId": rev.client_id,
        "codeCommune": rev.code_commune,
        "isReady": rev.is_ready,
        "isCurrent": rev.is_current,
        "status": rev.status,
        "context": rev.context,
        "validation": validation_view(rev, report_url),
        "habilitation": rev.habilitation,
        "publishedAt": js_date(rev.published_at),
        "createdAt": js_date(rev.created_at),
        "updatedAt": js_date(rev.updated_at),
    }


def file(item: File) -> JSON:
    return {
        "id": item.id,
        "revisionId": item.revision_id,
        "size": item.size,
        "hash": item.hash,
        "type": item.type,
        "createdAt": js_date(item.created_at),
    }


def report_url(request: Request, revision: Revision) -> str | None:
    """The link to a revision's detailed report (`validationReport`), when it has one."""
    if revision.report_key is None:
        return None
    return report_link(request, revision.id)


def report_link(request: Request, revision_id: str) -> str:
    """On the configured public base URL (`GUICHET_PUBLIC_URL`), never on the request's: its
    `Host` header is whatever the client chose, and the link is served to everyone (cached)."""
    base_url: str = request.app.state.settings.base_url
    path: str = request.app.url_path_for("validation_report", revision_id=revision_id)
    return base_url + path


def revision_with_client(
    rev: Revision, client: Client, bal_file: File | None, *, report_url: str | None = None
) -> JSON:
    return {
        **revision(rev, report_url=report_url),
        "client": public_client(client),
        "files": [file(bal_file) if bal_file is not None else None],
    }


def current_revision_row(row: Any, *, report_url: str | None) -> JSON:
    """`revision_with_client` from the plain columns of `service.CURRENT_REVISION_ROW`: the
    same keys in the same order (the same bytes once serialized)."""
    validation: JSON | None = None
    if row.validation is not None:
        validation = dict(row.validation)
        if report_url is not None and row.report_key is not None:
            validation["reportUrl"] = report_url
    has_chef = row.chef_nom is not None
    return {
        "id": row.id,
        "clientId": row.client_id,
        "codeCommune": row.code_commune,
        "isReady": row.is_ready,
        "isCurrent": row.is_current,
        "status": row.status,
        "context": row.context,
        "validation": validation,
        "habilitation": row.habilitation,
        "publishedAt": js_date(row.published_at),
        "createdAt": js_date(row.created_at),
        "updatedAt": js_date(row.updated_at),
        "client": {
            "id": row.client_id,
            "legacyId": row.client_legacy_id,
            "nom": row.client_nom,
            "mandataire": row.mandataire_nom,
            "chefDeFile": row.chef_nom,
            "chefDeFileEmail": row.chef_email if has_chef and row.chef_email_public else None,
        },
        "files": [
            {
                "id": row.file_id,
                "revisionId": row.id,
                "size": row.file_size,
                "hash": row.file_hash,
                "type": row.file_type,
                "createdAt": js_date(row.file_created_at),
            }
            if row.file_id is not None
            else None
        ],
    }


def revision_in_list(rev: Revision, client: Client, *, report_url: str | None = None) -> JSON:
    return {**revision(rev, report_url=report_url), "client": public_client(client, in_list=True)}


def current_revision_item(rev: Revision, client: Client) -> JSON:
    return {
        "id": rev.id,
        "codeCommune": rev.code_commune,
        "publishedAt": js_date(rev.published_at),
        "clientId": rev.client_id,
        "context": rev.context,
        "client": public_client(client, in_list=True),
    }


def client_revision_item(rev: Revision) -> JSON:
    return {
        "id": rev.id,
        "codeCommune": rev.code_commune,
        "publishedAt": js_date(rev.published_at),
        "validation": rev.validation,
        "status": rev.status,
        "isCurrent": rev.is_current,
    }


def last_revision_item(rev: Revision) -> JSON:
    valid = (rev.validation or {}).get("valid") if rev.validation is not None else None
    return {
        "codeCommune": rev.code_commune,
        "id": rev.id,
        "isReady": rev.is_ready,
        "status": rev.status,
        # `validation->>'valid'` in the reference: a string, or null.
        "isValid": None if valid is None else ("true" if valid else "false"),
    }


def client(item: Client, *, token: str | None = None) -> JSON:
    """A client without its token; `token` only in the answer that creates (or renews) it."""
    out: JSON = {
        "id": item.id,
        "mandataireId": item.mandataire_id,
        "chefDeFileId": item.chef_de_file_id,
        "legacyId": item.legacy_id,
        "nom": item.nom,
        "isActive": item.is_active,
        "authorizationStrategy": item.authorization_strategy,
        "createdAt": js_date(item.created_at),
        "updatedAt": js_date(item.updated_at),
    }
    if token is not None:
        out["token"] = token
    return out


def perimeter(item: Perimeter) -> JSON:
    return {
        "id": item.id,
        "chefDeFileId": item.chef_de_file_id,
        "type": item.type,
        "code": item.code,
    }


def chef_de_file(item: ChefDeFile) -> JSON:
    return {
        "id": item.id,
        "nom": item.nom,
        "email": item.email,
        "isEmailPublic": item.is_email_public,
        "isSignataireCharte": item.is_signataire_charte,
        "perimeters": [perimeter(p) for p in item.perimeters],
        "createdAt": js_date(item.created_at),
        "updatedAt": js_date(item.updated_at),
    }


def mandataire(item: Mandataire) -> JSON:
    return {
        "id": item.id,
        "nom": item.nom,
        "email": item.email,
        "createdAt": js_date(item.created_at),
        "updatedAt": js_date(item.updated_at),
    }
