"""Publication workflow (§2.4 #1–4): scenarios #1–10, #16–18 and #20 of the contract's §5.2."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.depot.models import AuthorizationStrategy
from tests.depot import factories
from tests.depot.conftest import ADMIN
from tests.depot.factories import Parties
from tests.depot.helpers import computed, create, published, upload

OBJECT_ID = "5f0c8f9e1c9d440000a1b2c3"


class TestAuthentication:
    """Scenarios #1 and #3."""

    async def test_no_authorization_header(
        self, client: httpx.AsyncClient, parties: Parties
    ) -> None:
        response = await client.post("/communes/91534/revisions", json={"context": {}})
        assert response.status_code == 401
        assert response.json() == {
            "statusCode": 401,
            "message": "Une authentification est nécessaire",
        }

    async def test_unknown_bearer_token(self, client: httpx.AsyncClient, parties: Parties) -> None:
        response = await client.post(
            "/communes/91534/revisions",
            json={"context": {}},
            headers={"Authorization": "Bearer " + "x" * 32},
        )
        assert response.json() == {"statusCode": 401, "message": "Authentification refusée"}

    async def test_scheme_without_token(self, client: httpx.AsyncClient, parties: Parties) -> None:
        response = await client.post(
            "/communes/91534/revisions", json={"context": {}}, headers={"Authorization": "Token"}
        )
        assert response.json() == {
            "statusCode": 401,
            "message": "Le token d'authentification est manquant",
        }

    async def test_admin_token_is_not_a_client_token(
        self, client: httpx.AsyncClient, parties: Parties
    ) -> None:
        response = await client.post(
            "/communes/91534/revisions", json={"context": {}}, headers=ADMIN
        )
        assert response.status_code == 401

    async def test_deactivated_client(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        parties.chef.client.is_active = False
        await session.flush()
        response = await client.post(
            "/communes/91534/revisions", json={"context": {}}, headers=parties.chef.headers
        )
        assert response.json() == {
            "statusCode": 403,
            "message": "Le client est actuellement désactivé",
        }

    @pytest.mark.parametrize("scheme", ["Token", "Bearer"])
    async def test_token_and_bearer_accepted(
        self, client: httpx.AsyncClient, parties: Parties, scheme: str
    ) -> None:
        response = await client.post(
            "/communes/91534/revisions",
            json={"context": {}},
            headers={"Authorization": f"{scheme} {parties.chef.token}"},
        )
        assert response.status_code == 201

    async def test_other_client_cannot_upload(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
    ) -> None:
        revision = await create(client, parties.chef)
        response = await upload(client, parties.other, revision["id"], bal_31591)
        assert response.json() == {
            "statusCode": 403,
            "message": "Vous n’êtes pas autorisé à accéder à cette révision",
        }


class TestCreate:
    """Scenarios #4 and #5."""

    async def test_unknown_commune(self, client: httpx.AsyncClient, parties: Parties) -> None:
        response = await client.post(
            "/communes/coucou/revisions", json={"context": {}}, headers=parties.chef.headers
        )
        assert response.json() == {"statusCode": 404, "message": "Le code commune n’existe pas"}

    async def test_commune_checked_before_authentication(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/communes/coucou/revisions")
        assert response.status_code == 404

    async def test_former_commune_needs_ancienne_commune_allowed(
        self, client: httpx.AsyncClient, parties: Parties
    ) -> None:
        # 14010 (Agy) was merged into another commune: a former code.
        path = "/communes/14010/revisions"
        response = await client.post(path, json={"context": {}}, headers=parties.chef.headers)
        assert response.status_code == 404
        response = await client.post(
            path + "?ancienneCommuneAllowed=true",
            json={"context": {}},
            headers=parties.chef.headers,
        )
        assert response.status_code == 201

    @pytest.mark.parametrize(
        "body",
        [
            None,
            {},
            {"context": "x"},
            {"context": {"nomComplet": 1}},
            {"context": {"organisation": []}},
            {"context": {"extras": "x"}},
        ],
    )
    async def test_missing_or_malformed_context(
        self, client: httpx.AsyncClient, parties: Parties, body: object
    ) -> None:
        response = await client.post(
            "/communes/91534/revisions", json=body, headers=parties.chef.headers
        )
        assert response.status_code == 400
        assert response.json()["error"] == "Bad Request"
        assert isinstance(response.json()["message"], list)

    async def test_invalid_json(self, client: httpx.AsyncClient, parties: Parties) -> None:
        response = await client.post(
            "/communes/91534/revisions",
            content=b"{not json",
            headers={**parties.chef.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert response.json()["statusCode"] == 400

    async def test_created_with_context(self, client: httpx.AsyncClient, parties: Parties) -> None:
        context = {
            "organisation": "organization",
            "nomComplet": "nomComplet",
            "extras": {"external_id": "99999"},
            "free": "kept",
        }
        body = await create(client, parties.chef, "91534", **context)
        assert body["codeCommune"] == "91534"
        assert body["status"] == "pending"
        assert not body["isReady"]
        assert body["isCurrent"] is False
        assert body["validation"] is None
        assert body["publishedAt"] is None
        assert body["habilitation"] is None
        assert body["files"] == [None]
        assert body["context"] == context
        assert body["clientId"] == parties.chef.client.id
        assert body["client"] == {
            "id": parties.chef.client.id,
            "legacyId": "mes-adresses",
            "nom": "chef",
            "mandataire": "mandataire",
            "chefDeFile": "chefDeFile",
            "chefDeFileEmail": "chef@test.fr",
        }
        assert body["createdAt"].endswith("Z") and body["updatedAt"].endswith("Z")

    async def test_private_chef_de_file_email_is_hidden(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        parties.chef_de_file.is_email_public = False
        await session.flush()
        body = await create(client, parties.chef)
        assert body["client"]["chefDeFileEmail"] is None
        body = await create(client, parties.habilitation)
        assert body["client"]["chefDeFile"] is None


class TestUpload:
    """Scenarios #6–#10 (the streaming edge cases are in test_upload.py)."""

    async def test_malformed_revision_id(self, client: httpx.AsyncClient, parties: Parties) -> None:
        response = await client.put(
            "/revisions/coucou/files/bal", content=b"x", headers=parties.chef.headers
        )
        assert response.json() == {
            "statusCode": 400,
            "message": "Revision Id coucou is not ObjectId",
        }

    async def test_unknown_revision(self, client: httpx.AsyncClient, parties: Parties) -> None:
        response = await client.put(
            f"/revisions/{OBJECT_ID}/files/bal", content=b"x", headers=parties.chef.headers
        )
        assert response.json() == {"statusCode": 404, "message": f"Revision {OBJECT_ID} not found"}

    async def test_empty_body(self, client: httpx.AsyncClient, parties: Parties) -> None:
        revision = await create(client, parties.chef)
        response = await client.put(
            f"/revisions/{revision['id']}/files/bal", headers=parties.chef.headers
        )
        assert response.json() == {"statusCode": 404, "message": "Fichier non fourni."}

    async def test_content_encoding_refused(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
    ) -> None:
        revision = await create(client, parties.chef)
        for encoding in ("gzip", "identity", "br"):
            response = await client.put(
                f"/revisions/{revision['id']}/files/bal",
                content=bal_31591,
                headers={**parties.chef.headers, "Content-Encoding": encoding},
            )
            assert response.json() == {
                "statusCode": 400,
                "message": "Aucun encodage de contenue dans l’en-tête n’est accepté.",
            }

    async def test_wrong_md5(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
    ) -> None:
        revision = await create(client, parties.chef)
        for md5 in ("coucou", hashlib.md5(b"other").hexdigest()):
            response = await client.put(
                f"/revisions/{revision['id']}/files/bal",
                content=bal_31591,
                headers={**parties.chef.headers, "Content-MD5": md5},
            )
            assert response.json() == {
                "statusCode": 400,
                "message": "La valeur de l’en-tête "
                "Content-MD5 ne correspond pas à la signature MD5 du contenu soumis.",
            }
        # nothing was attached: the right MD5 still goes through
        assert (await upload(client, parties.chef, revision["id"], bal_31591)).status_code == 200

    async def test_upload_on_published_revision(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties, bal_31591: bytes
    ) -> None:
        revision = await factories.revision(session, parties.chef.client, published=True)
        response = await upload(client, parties.chef, revision.id, bal_31591)
        assert response.json() == {
            "statusCode": 412,
            "message": "La révision n’est plus modifiable",
        }

    async def test_second_upload(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
    ) -> None:
        revision = await create(client, parties.chef)
        assert (await upload(client, parties.chef, revision["id"], bal_31591)).status_code == 200
        response = await upload(client, parties.chef, revision["id"], bal_31591)
        assert response.json() == {
            "statusCode": 412,
            "message": "Fichier déjà attaché a la révision",
        }

    async def test_stored_file(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
    ) -> None:
        revision = await create(client, parties.chef)
        response = await upload(client, parties.chef, revision["id"], bal_31591)
        body = response.json()
        assert set(body) == {"id", "revisionId", "size", "hash", "type", "createdAt"}
        assert body["revisionId"] == revision["id"]
        assert body["type"] == "bal"
        assert body["size"] == len(bal_31591)
        assert body["hash"] == hashlib.sha256(bal_31591).hexdigest()
        download = await client.get(f"/revisions/{revision['id']}/files/bal/download")
        assert download.content == bal_31591  # pending revisions are downloadable
        shown = (await client.get(f"/revisions/{revision['id']}")).json()
        assert shown["files"] == [body]


class TestPublish:
    """Scenarios #16–#18 and #20."""

    async def test_habilitation_client_without_habilitation(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
    ) -> None:
        revision = await computed(client, parties.habilitation, bal_31591)
        assert revision["isReady"] is True
        response = await client.post(
            f"/revisions/{revision['id']}/publish", headers=parties.habilitation.headers
        )
        assert response.json() == {
            "statusCode": 400,
            "message": "Le client test nécessite une habilitation pour publier",
            "reason": "habilitationRequired",  # Guichet's (tests/depot/test_publish_reasons.py)
        }

    async def test_habilitation_client_with_unknown_habilitation(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
    ) -> None:
        revision = await computed(client, parties.habilitation, bal_31591)
        response = await client.post(
            f"/revisions/{revision['id']}/publish",
            json={"habilitationId": OBJECT_ID},
            headers=parties.habilitation.headers,
        )
        assert response.json() == {
            "statusCode": 404,
            "message": f"L’habilitation {OBJECT_ID} n’est pas valide",
            "reason": "habilitationInvalid",
        }
        response = await client.post(
            f"/revisions/{revision['id']}/publish",
            json={"habilitationId": "coucou"},
            headers=parties.habilitation.headers,
        )
        assert response.status_code == 400
        assert response.json()["message"] == ["habilitationId must be a mongodb id"]

    async def test_not_ready_or_already_published(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        pending = await factories.revision(session, parties.chef.client)
        done = await factories.revision(session, parties.chef.client, published=True)
        for revision, reason in ((pending, "notReady"), (done, "notPending")):
            response = await client.post(
                f"/revisions/{revision.id}/publish", headers=parties.chef.headers
            )
            assert response.json() == {
                "statusCode": 412,
                "message": "La publication n’est pas possible",
                "reason": reason,
            }

    async def test_internal_client_publishes_without_habilitation(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties, bal_31591: bytes
    ) -> None:
        party = await factories.client(
            session, parties.mandataire, None, strategy=AuthorizationStrategy.INTERNAL
        )
        assert (await published(client, party, bal_31591))["isCurrent"] is True

    async def test_publish_moves_current_and_invalidates_pending(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties, bal_31591: bytes
    ) -> None:
        old = await factories.revision(
            session, parties.other.client, rows_count=6, published=True, current=True
        )
        ready = await computed(client, parties.chef, bal_31591)
        assert ready["isReady"] is True
        not_ready = await factories.revision(session, parties.other.client, ready=True)
        response = await client.post(
            f"/revisions/{ready['id']}/publish", headers=parties.chef.headers
        )
        body = response.json()
        assert body["status"] == "published" and body["isCurrent"] is True
        assert body["isReady"] is None and body["publishedAt"]
        assert body["habilitation"] is None
        assert (await client.get(f"/revisions/{old.id}")).json()["isCurrent"] is False
        assert (await client.get(f"/revisions/{not_ready.id}")).json()["isReady"] is False
        current = (await client.get("/communes/31591/current-revision")).json()
        assert current["id"] == ready["id"]
        assert current["files"][0]["hash"] == hashlib.sha256(bal_31591).hexdigest()
