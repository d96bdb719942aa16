"""Fixtures of the publication API tests: an app with an admin token, parties, BAL files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.config import Settings
from guichet.depot import compute
from tests.conftest import make_settings
from tests.depot import factories

ADMIN_TOKEN = "admin-token-for-the-depot-tests-0123456789"
ADMIN = {"Authorization": f"Token {ADMIN_TOKEN}"}
CORPUS = Path("/work/shared/bal/corpus/ecosystem")
HERE = Path(__file__).parent / "data"


@pytest.fixture(scope="session", autouse=True)
def _compute_pool() -> Iterator[None]:
    yield
    compute.pool.shutdown()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "home", admin_token=ADMIN_TOKEN)


@pytest.fixture
async def parties(session: AsyncSession) -> factories.Parties:
    """A mandataire, a chef de file (public e-mail, perimeter 31591) and three clients:
    `chef` (chef-de-file strategy), `other` (chef-de-file, same chef), `habilitation`."""
    return await factories.parties(session)


@pytest.fixture
def bal_31591() -> bytes:
    """A valid 6-row BAL 1.3 of Escoulis (31591), from api-depot's own test fixtures."""
    return (HERE / "bal-valid-31591.csv").read_bytes()
