"""Fixtures of the partner-loader server tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.config import Settings
from tests.conftest import make_settings
from tests.loaders.helpers import new_partner

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        database_url,
        tmp_path / "home",
        admin_token=ADMIN_TOKEN,
        loaders={"max_body_bytes": 4 * 1024 * 1024},
    )


@pytest.fixture
async def acme_key(session: AsyncSession) -> str:
    return await new_partner(session, "acme-gestion")
