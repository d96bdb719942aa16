"""`/metrics` can be kept private (issue #11): off entirely, or behind a bearer token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from guichet.core import services
from guichet.runtime.app import create_app
from tests.conftest import make_settings

TOKEN = "prometheus-scrape-token-0123456789"


@asynccontextmanager
async def client_with(
    database_url: str, home: Path, **metrics: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(database_url, home, metrics=metrics))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client
    finally:
        await app.state.engine.dispose()
        services.install(None)


async def test_public_by_default(database_url: str, tmp_path: Path) -> None:
    async with client_with(database_url, tmp_path) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert "guichet_http_requests" in response.text


async def test_disabled_metrics_answer_404(database_url: str, tmp_path: Path) -> None:
    async with client_with(database_url, tmp_path, enabled=False) as client:
        response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 404
        assert "guichet_http" not in response.text
        assert (await client.get("/health")).status_code == 200  # the rest is unaffected


async def test_a_token_is_required_when_configured(database_url: str, tmp_path: Path) -> None:
    async with client_with(database_url, tmp_path, token=TOKEN) as client:
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        as_token = await client.get("/metrics", headers={"Authorization": f"Token {TOKEN}"})
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    for refused in (missing, wrong, as_token):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "guichet_http" not in refused.text
    assert right.status_code == 200
    assert "guichet_http_requests" in right.text
