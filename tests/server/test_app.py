"""The application shell: system routes, request ids, metrics, and the one error handler."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from guichet.core.errors import (
    DefaultFormat,
    GuichetError,
    NotFound,
    StatusCodeFormat,
    route_class,
)


class RevisionMissing(NotFound):
    code = "revision_not_found"


class Body(BaseModel):
    nom: str


def _routers() -> list[APIRouter]:
    depot = APIRouter(prefix="/depot", route_class=route_class(StatusCodeFormat()))
    internal = APIRouter(prefix="/internal", route_class=route_class(DefaultFormat()))
    for router in (depot, internal):

        @router.get("/revisions/{revision_id}")
        async def get_revision(revision_id: str) -> dict[str, str]:
            raise RevisionMissing(f"Revision {revision_id} not found", revision_id=revision_id)

        @router.post("/things")
        async def create_thing(body: Body) -> dict[str, str]:
            return {"nom": body.nom}

        @router.get("/boom")
        async def boom() -> None:
            raise RuntimeError("secret detail that must not leak")

    return [depot, internal]


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    for router in _routers():
        app.include_router(router)
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: the 500 path is what we test.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


class TestSystemRoutes:
    async def test_health_checks_the_database(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.json()["database"] == "ok"

    async def test_health_is_503_without_database(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

        dead = create_async_engine("postgresql+psycopg://nobody@/none?host=/nonexistent")
        app.state.sessionmaker = async_sessionmaker(dead)
        response = await client.get("/health")
        assert response.status_code == 503
        assert response.json() == {"status": "error", "database": "unavailable"}
        await dead.dispose()

    async def test_openapi_docs_are_served(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/docs")).status_code == 200
        schema = (await client.get("/openapi.json")).json()
        assert schema["info"]["title"] == "Guichet"
        assert "/depot/revisions/{revision_id}" in schema["paths"]

    async def test_metrics_count_requests_by_route_template(
        self, client: httpx.AsyncClient
    ) -> None:
        await client.get("/depot/revisions/abc")
        text = (await client.get("/metrics")).text
        assert (
            'guichet_http_requests_total{method="GET",route="/depot/revisions/{revision_id}",'
            'status="404"}' in text
        )
        assert "guichet_http_request_duration_seconds_bucket" in text


class TestSecurityHeaders:
    @pytest.mark.parametrize(
        "path", ["/health", "/no-such-route", "/communes/31591/current-revision"]
    )
    async def test_every_answer_carries_them(self, client: httpx.AsyncClient, path: str) -> None:
        response = await client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"


class TestRequestId:
    async def test_generated_when_absent(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health")
        assert len(response.headers["x-request-id"]) == 32

    async def test_client_value_kept_when_plain(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health", headers={"X-Request-ID": "abc-123"})
        assert response.headers["x-request-id"] == "abc-123"

    async def test_client_value_replaced_when_suspicious(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health", headers={"X-Request-ID": "a b\x7f"})
        assert response.headers["x-request-id"] != "a b\x7f"


class TestErrorFormats:
    async def test_status_code_format_for_domain_error(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/depot/revisions/abc")
        assert response.status_code == 404
        assert response.json() == {"code": 404, "message": "Revision abc not found"}

    async def test_default_format_for_domain_error(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/internal/revisions/abc")
        assert response.status_code == 404
        assert response.json() == {
            "code": "revision_not_found",
            "message": "Revision abc not found",
            "details": {"revision_id": "abc"},
        }

    async def test_validation_error_is_400_with_messages_in_status_code_format(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post("/depot/things", json={"nom": 3, "token": "s3cret"})
        assert response.status_code == 400
        assert response.json() == {
            "code": 400,
            "message": ["body.nom: Input should be a valid string"],
        }

    async def test_validation_error_is_422_without_inputs_in_default_format(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post("/internal/things", json={"nom": 3})
        body = response.json()
        assert response.status_code == 422
        assert body["code"] == "validation_error"
        assert body["details"]["errors"] == [
            {"loc": ["body", "nom"], "msg": "Input should be a valid string", "type": "string_type"}
        ]

    async def test_unknown_route_answers_as_the_reference_server(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/nowhere")
        assert response.status_code == 404
        assert response.json() == {
            "statusCode": 404,
            "message": "Cannot GET /nowhere",
            "error": "Not Found",
        }

    async def test_wrong_method_uses_the_route_family_format(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.delete("/depot/things")
        assert response.status_code == 405
        assert response.json() == {"code": 405, "message": "Method Not Allowed"}

    async def test_unexpected_exception_is_a_500_in_family_format(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/depot/boom")
        assert response.status_code == 500
        assert response.json() == {"code": 500, "message": "Internal server error"}
        assert "x-request-id" in response.headers
        default = await client.get("/internal/boom")
        assert default.json() == {"code": "internal_error", "message": "Internal server error"}

    async def test_custom_code_key(self) -> None:
        from starlette.requests import Request

        scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
        response = StatusCodeFormat(code_key="statusCode").render(
            Request(scope), GuichetError("oups")
        )
        assert response.body == b'{"statusCode":500,"message":"oups"}'
