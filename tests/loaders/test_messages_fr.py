"""Issue #13 over HTTP: every message of `POST /api/third_party/loader` is French.

The package's own checks (`tests/loader/test_messages_fr.py`) word item problems; here the same
file with every kind of item error goes through the server (authentication, integration against
stored data), and so do the KO answers only the server gives: a CSV or multipart body, a wrong
method, an unexpected error, a schema error of a server-side Pydantic model.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticError

from guichet.core.errors import RequestInvalid
from guichet.partners import intake
from guichet.partners.errors import LOADER_FORMAT
from tests.loader import factories as f
from tests.loader.test_messages_fr import (
    EXPECTED,
    HINT,
    assert_french,
    english_words,
    every_kind_of_error,
)
from tests.loaders.helpers import ENDPOINT, loader_file, post

P = "acme-gestion"
# Without `self_contained`, a link to an object absent from the file is the server's to resolve:
# it finds no stored property, and says so after the validation refusals.
ABSENT = (
    "Champ 'id-prty' dans transactions 'T-EXT' invalide : "
    "propriété 'P-EXTERNE' absente de ce fichier"
)
UNKNOWN = "Champ 'id-prty' dans transactions 'T-EXT' invalide : propriété 'P-EXTERNE' inconnue"


def ko_body(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "KO", body
    return body


async def test_every_kind_of_item_error_is_answered_in_french(
    client: httpx.AsyncClient, acme_key: str
) -> None:
    doc = every_kind_of_error()
    doc.update(inigPtynm=P, apiKey=acme_key)
    response = await post(client, doc)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "PARTIAL_SUCCESS"
    messages = [error["error"] for error in body["errors"]]
    assert messages == [*(m for m in EXPECTED if m != ABSENT), UNKNOWN]
    assert_french(messages)


async def test_integration_refusals_against_stored_data_are_french(
    client: httpx.AsyncClient, acme_key: str
) -> None:
    claire = f.client("claire@example.org", properties=[f.property_("P1")])
    assert (await post(client, loader_file(P, acme_key, clients=[claire]))).json()[
        "status"
    ] == "SUCCESS"
    paul = f.client(
        "paul@example.org",
        properties=[f.property_("P1")],
        transactions=[f.transaction("T1", "P1"), f.transaction("T2", "P-NULLE-PART")],
        documents=[f.document("DOC1", propertyId="P1")],
    )
    body = (await post(client, loader_file(P, acme_key, clients=[paul]))).json()
    messages = [error["error"] for error in body["errors"]]
    assert messages == [
        "Champ 'id' dans properties 'P1' invalide : propriété 'P1' appartient à un autre client",
        "Champ 'propertyId' dans documents 'DOC1' invalide : propriété 'P1' en échec",
        "Champ 'id-prty' dans transactions 'T1' invalide : propriété 'P1' en échec",
        "Champ 'id-prty' dans transactions 'T2' invalide : propriété 'P-NULLE-PART' inconnue",
    ]
    assert_french(messages)


# ---- KO answers of the server ----------------------------------------------------------------


async def test_a_csv_body_gets_the_raw_json_hint(client: httpx.AsyncClient) -> None:
    response = await client.post(
        ENDPOINT, content=b"id;amt;ccy\nT1;12.50;EUR\n", headers={"Content-Type": "text/csv"}
    )
    body = ko_body(response, 400)
    assert body == {
        "status": "KO",
        "type": "WrongFormat",
        "message": "JSON malformé",
        "errors": f"JSON invalide : valeur attendue (ligne 1, colonne 1){HINT}",
    }


async def test_a_multipart_upload_gets_the_raw_json_hint(
    client: httpx.AsyncClient, acme_key: str
) -> None:
    """What `curl -F file=@loader.json` sends: a form wrapping a perfectly good file."""
    document = loader_file(P, acme_key, properties=[f.property_("P1")])
    response = await client.post(
        ENDPOINT, files={"file": ("loader.json", json.dumps(document), "application/json")}
    )
    body = ko_body(response, 400)
    assert (body["type"], body["message"]) == ("WrongFormat", "JSON malformé")
    assert body["errors"] == f"JSON invalide : valeur attendue (ligne 1, colonne 1){HINT}"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_another_method_is_refused_in_french(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, ENDPOINT)
    body = ko_body(response, 405)
    assert body == {
        "status": "KO",
        "type": "ValidationError",
        "message": "Méthode non autorisée",
        "errors": f"un fichier se dépose par POST, en JSON brut (reçu : {method})",
    }
    assert response.headers["allow"] == "POST"


async def test_an_unexpected_error_is_answered_in_french(
    app: FastAPI, acme_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(intake.Integrator, "integrate", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await post(http, loader_file(P, acme_key))
    body = ko_body(response, 500)
    assert body == {
        "status": "KO",
        "type": "InternalServerError",
        "message": "Erreur interne du serveur",
        "error": "erreur inattendue, enregistrée par le service : rien n'a été intégré, le"
        " fichier peut être renvoyé",
    }


class Query(BaseModel):
    page: int = Field(ge=1)
    per_page: int = Field(le=500)
    model: str
    email: str = Field(pattern=r"^[^@]+@[^@]+$")


def test_schema_errors_of_server_models_are_reworded_in_french() -> None:
    """A loader route with query or body parameters would get FastAPI's (Pydantic's) English
    errors: the loader format rewords each from its type and bounds."""
    with pytest.raises(PydanticError) as caught:
        Query.model_validate({"page": 0, "per_page": "x", "email": "nobody"})
    # FastAPI's shape: the location starts with where the value was.
    errors = [{**error, "loc": ("query", *error["loc"])} for error in caught.value.errors()]
    request = Request({"type": "http", "method": "POST", "path": ENDPOINT, "headers": []})
    response = LOADER_FORMAT.render(request, RequestInvalid(errors))
    assert response.status_code == 422
    body = json.loads(bytes(response.body))
    assert body == {
        "status": "KO",
        "type": "ValidationError",
        "message": "Requête invalide",
        "errors": "Champ 'page' invalide : doit être supérieur ou égal à 1\n"
        "Champ 'per_page' invalide : un nombre entier est attendu\n"
        "Champ 'model' invalide : champ obligatoire\n"
        "Champ 'email' invalide : format incorrect (motif attendu : ^[^@]+@[^@]+$)",
    }
    assert english_words(body["message"]) == []


# ---- the partners' drop-zone read API ----------------------------------------------------------

OBJECTS = "/api/third_party/dropzone/objects"


async def test_the_partner_read_api_answers_in_french(
    client: httpx.AsyncClient, acme_key: str
) -> None:
    """Its shape is Guichet's own (`code`, `message`, `details`), its words French."""
    anonymous = await client.get(OBJECTS)
    assert anonymous.status_code == 422
    assert anonymous.json() == {
        "code": "validation_error",
        "message": "Requête invalide",
        "details": {
            "errors": [
                {"loc": ["header", "X-Partner-Id"], "msg": "champ obligatoire", "type": "missing"},
                {"loc": ["header", "X-API-Key"], "msg": "champ obligatoire", "type": "missing"},
            ]
        },
    }
    mine = {"X-Partner-Id": P, "X-API-Key": acme_key}
    pages = await client.get(OBJECTS, params={"page": 0, "per_page": "x"}, headers=mine)
    assert [error["msg"] for error in pages.json()["details"]["errors"]] == [
        "doit être supérieur ou égal à 1",
        "un nombre entier est attendu",
    ]
    wrong = await client.get(OBJECTS, headers={**mine, "X-API-Key": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["message"] == "Identifiants partenaire invalides"
    missing = await client.get(f"{OBJECTS}/12345", headers=mine)
    assert (missing.status_code, missing.json()["message"]) == (404, "Dépôt inconnu")
    other = await client.delete(OBJECTS, headers=mine)
    assert (other.status_code, other.json()["message"]) == (405, "Méthode non autorisée")
    messages = [anonymous.json()["message"], pages.json()["message"]]
    assert_french([*messages, *(e["msg"] for e in pages.json()["details"]["errors"])])
