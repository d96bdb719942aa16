"""Admin token: generation under GUICHET_HOME, header parsing, the `Admin` dependency."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import SecretStr

from guichet.core import auth
from guichet.core.config import Settings
from guichet.core.errors import StatusCodeFormat, route_class

TOKEN = "t" * 40


class TestAdminTokenFile:
    def test_created_once_with_mode_0600(self, tmp_path: Path) -> None:
        token, created = auth.load_or_create_admin_token(tmp_path)
        assert created and len(token) >= 40
        path = tmp_path / auth.ADMIN_TOKEN_FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert auth.load_or_create_admin_token(tmp_path) == (token, False)

    def test_loose_mode_is_repaired(self, tmp_path: Path) -> None:
        auth.load_or_create_admin_token(tmp_path)
        path = tmp_path / auth.ADMIN_TOKEN_FILE
        path.chmod(0o644)
        auth.load_or_create_admin_token(tmp_path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_embedded_settings_get_the_stored_token(self, tmp_path: Path) -> None:
        settings = Settings(_env_file=None, home=tmp_path)
        updated, new = auth.with_admin_token(settings)
        assert new is not None and updated.admin_token is not None
        assert updated.admin_token.get_secret_value() == new
        again, new_again = auth.with_admin_token(settings)
        assert new_again is None  # printed once only
        assert again.admin_token == updated.admin_token

    def test_configured_database_without_token_has_no_admin(self, tmp_path: Path) -> None:
        settings = Settings(_env_file=None, home=tmp_path, database_url="postgresql://x@h/d")
        assert auth.with_admin_token(settings) == (settings, None)
        assert not (tmp_path / auth.ADMIN_TOKEN_FILE).exists()


class TestIsAdminHeader:
    @pytest.mark.parametrize("header", [f"Token {TOKEN}", f"Bearer {TOKEN}"])
    def test_accepted(self, header: str) -> None:
        assert auth.is_admin_header(header, SecretStr(TOKEN))

    @pytest.mark.parametrize(
        "header",
        [None, "", TOKEN, f"Basic {TOKEN}", f"Token  {TOKEN}", f"Token {TOKEN} ", f"token {TOKEN}",
         f"Token {TOKEN[:-1]}"],
    )  # fmt: skip
    def test_refused(self, header: str | None) -> None:
        assert not auth.is_admin_header(header, SecretStr(TOKEN))

    def test_no_token_configured_refuses_everything(self) -> None:
        assert not auth.is_admin_header("Token ", None)
        assert not auth.is_admin_header("Token ", SecretStr(""))


@pytest.fixture
def admin_app(app: FastAPI, settings: Settings) -> FastAPI:
    router = APIRouter(route_class=route_class(StatusCodeFormat()))

    @router.get("/admin/ping")
    async def ping(_: auth.Admin) -> dict[str, bool]:
        return {"ok": True}

    app.include_router(router)
    app.state.settings = settings.model_copy(update={"admin_token": SecretStr(TOKEN)})
    return app


class TestAdminDependency:
    async def test_valid_token(self, admin_app: FastAPI, client: httpx.AsyncClient) -> None:
        response = await client.get("/admin/ping", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.json() == {"ok": True}

    async def test_wrong_token_is_403_non_autorise(
        self, admin_app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        for headers in ({}, {"Authorization": "Token nope"}):
            response = await client.get("/admin/ping", headers=headers)
            assert response.status_code == 403
            assert response.json() == {"code": 403, "message": "Non autorisé"}

    async def test_declared_in_openapi(self, admin_app: FastAPI, client: httpx.AsyncClient) -> None:
        schema = (await client.get("/openapi.json")).json()
        assert "admin-token" in schema["components"]["securitySchemes"]
