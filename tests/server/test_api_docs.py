"""`/docs` and `/redoc` work offline (every asset served by Guichet itself), and the OpenAPI of
the BAL routes lists the contract's errors, the upload's headers and the guides' examples."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

# Every URL a page makes the browser load: <script src>, <link href>, and the strings the inline
# script passes to SwaggerUIBundle / Redoc (`url: '/openapi.json'`, `spec-url="…"`).
_REFERENCES = re.compile(r"""(?:src|href|url|spec-url)\s*[=:]\s*["']([^"']+)["']""")


def referenced_urls(html: str) -> list[str]:
    return _REFERENCES.findall(html)


@pytest.mark.parametrize(
    ("page", "bundle_marker"),
    [("/docs", "SwaggerUIBundle"), ("/redoc", "Redoc")],
)
async def test_docs_pages_load_only_assets_that_guichet_serves(
    client: httpx.AsyncClient, page: str, bundle_marker: str
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    html = response.text
    urls = referenced_urls(html)
    scripts = [url for url in urls if url.endswith(".js")]
    assert scripts, html
    # Nothing from elsewhere: no absolute URL at all (a CDN, Google Fonts), no protocol-relative.
    assert not re.search(r"""["'](?:https?:)?//""", html), html
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url} from outside Guichet"
        asset = await client.get(url)
        assert asset.status_code == 200, url
    for url in scripts:
        body = (await client.get(url)).text
        assert len(body) > 100_000 and bundle_marker in body, url  # the real bundle
    css = [url for url in urls if url.endswith(".css")]
    if page == "/docs":
        assert css and "swagger-ui" in (await client.get(css[0])).text
        assert any(url == "/openapi.json" for url in urls)


async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def test_upload_route_documents_every_status_in_the_contracts_shape(
    client: httpx.AsyncClient,
) -> None:
    document = await openapi(client)
    upload = document["paths"]["/revisions/{revision_id}/files/bal"]["put"]
    responses = upload["responses"]
    for status in ("200", "400", "401", "403", "404", "412", "413"):
        assert status in responses, status
    assert "422" not in responses  # never answered: validation errors are 400 there
    error = document["components"]["schemas"]["NestError"]
    assert error["required"] == ["statusCode", "message"]
    assert set(error["properties"]) == {"statusCode", "message", "error"}
    for status in ("400", "401", "403", "404", "412", "413"):
        media = responses[status]["content"]["application/json"]
        assert media["schema"] == {"$ref": "#/components/schemas/NestError"}
        for example in media["examples"].values():
            assert example["value"]["statusCode"] == int(status)
    messages = {
        example["value"]["message"]
        for status in ("404", "412", "413")
        for example in responses[status]["content"]["application/json"]["examples"].values()
    }
    assert {"Fichier non fourni.", "Fichier déjà attaché a la révision"} <= messages
    assert "request entity too large" in messages

    headers = {p["name"]: p for p in upload["parameters"] if p["in"] == "header"}
    assert {"Content-MD5", "Content-Type", "Content-Length"} <= set(headers)
    assert re.fullmatch(
        headers["Content-MD5"]["schema"]["pattern"], "9b1e1f9ecd2650192ad778d154e0345a"
    )
    # The examples of docs/publication.md: the request body's first rows and the answer.
    body = upload["requestBody"]["content"]["text/csv"]["example"]
    assert body.startswith("cle_interop;uid_adresse;commune_insee;voie_nom")
    answer = responses["200"]["content"]["application/json"]["example"]
    assert answer["size"] == 793 and answer["type"] == "bal"


async def test_the_other_bal_routes_answer_400_not_422(client: httpx.AsyncClient) -> None:
    document = await openapi(client)
    paths = document["paths"]
    publish = paths["/revisions/{revision_id}/publish"]["post"]["responses"]
    assert {"400", "401", "403", "404", "412"} <= set(publish)
    create = paths["/communes/{code_commune}/revisions"]["post"]
    assert (
        create["requestBody"]["content"]["application/json"]["example"]["context"]["nomComplet"]
        == "Alice Bob"
    )
    for path in ("/last-revisions", "/clients/{client_id}", "/webhooks"):
        for operation in paths[path].values():
            assert "422" not in operation["responses"], path
