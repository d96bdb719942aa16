"""Shared helpers of the partner-loader server tests: partners, files, posting."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.partners import registry as partners
from tests.loader import factories as f

ENDPOINT = "/api/third_party/loader"
ADMIN = "/admin/loaders"


async def new_partner(session: AsyncSession, partner_id: str = "acme-gestion") -> str:
    """Create a partner (committed to the test's savepoint); returns its API key."""
    _, key = await partners.create(session, partner_id=partner_id, contact_emails=["ops@acme.test"])
    await session.commit()
    return key


def loader_file(partner_id: str, key: str, **sections: Any) -> dict[str, Any]:
    return f.header(inigPtynm=partner_id, apiKey=key, **sections)


async def post(client: httpx.AsyncClient, document: Any) -> httpx.Response:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return await client.post(ENDPOINT, content=body, headers={"Content-Type": "application/json"})


async def records(session: AsyncSession, model: str | None = None) -> list[tuple[str, str]]:
    """(model, external id) of every stored record, sorted."""
    result = await session.execute(
        text(
            "SELECT model, external_id FROM loader_record"
            " WHERE CAST(:model AS text) IS NULL OR model = :model ORDER BY model, external_id"
        ),
        {"model": model},
    )
    return [(row.model, row.external_id) for row in result]


def admin_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
