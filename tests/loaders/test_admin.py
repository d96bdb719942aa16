"""Operator API and CLI: partners, keys, runs, records; who may call what."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from guichet.partners.schemas import PartnerCreate
from guichet.runtime.cli import build_app
from tests.loader import factories as f
from tests.loaders.conftest import ADMIN_TOKEN
from tests.loaders.helpers import ADMIN, admin_headers, loader_file, post

ADMIN_H = admin_headers(ADMIN_TOKEN)
ROUTES = [
    ("POST", "/partners", {"partner_id": "new-one"}),
    ("GET", "/partners", None),
    ("GET", "/partners/acme-gestion", None),
    ("PATCH", "/partners/acme-gestion", {"name": "Acme"}),
    ("POST", "/partners/acme-gestion/key", None),
    ("GET", "/partners/acme-gestion/runs", None),
    ("GET", f"/partners/acme-gestion/runs/{uuid.UUID(int=0)}", None),
    ("GET", "/partners/acme-gestion/records/transactions", None),
]


class TestAuthorization:
    @pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=lambda r: str(r))
    @pytest.mark.parametrize("caller", ["anonymous", "wrong-token", "partner-key"])
    async def test_non_admins_are_refused(
        self, client: httpx.AsyncClient, acme_key: str, method: str, path: str,
        body: object, caller: str,
    ) -> None:  # fmt: skip
        headers = {
            "anonymous": {},
            "wrong-token": admin_headers("not-the-token-0123456789"),
            "partner-key": admin_headers(acme_key),
        }[caller]
        response = await client.request(method, ADMIN + path, json=body, headers=headers)
        assert response.status_code == 403
        assert response.json()["code"] == "admin_forbidden"

    @pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=lambda r: str(r))
    async def test_admin_is_served(
        self, client: httpx.AsyncClient, acme_key: str, method: str, path: str, body: object
    ) -> None:
        response = await client.request(method, ADMIN + path, json=body, headers=ADMIN_H)
        expected = 404 if "/runs/" in path else 201 if path == "/partners" and body else 200
        assert response.status_code == expected, response.text


class TestPartners:
    async def test_create_shows_key_once_and_stores_hash(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        created = await client.post(
            ADMIN + "/partners",
            json={"partner_id": "bnk", "contact_emails": ["a@bnk.test"]},
            headers=ADMIN_H,
        )
        assert created.status_code == 201
        key = created.json()["api_key"]
        assert len(key) == 32 and key.isalnum()
        shown = (await client.get(ADMIN + "/partners/bnk", headers=ADMIN_H)).json()
        assert "api_key" not in shown and shown["key_hint"] == key[-4:]
        assert shown["contact_emails"] == ["a@bnk.test"]
        stored = await session.scalar(text("SELECT key_hash FROM loader_partner"))
        assert key.encode() not in stored
        assert (await post(client, loader_file("bnk", key))).status_code == 200

    async def test_duplicate_and_invalid_ids_are_refused(
        self, client: httpx.AsyncClient, acme_key: str
    ) -> None:
        dup = await client.post(
            ADMIN + "/partners", json={"partner_id": "acme-gestion"}, headers=ADMIN_H
        )
        assert dup.status_code == 409
        bad = await client.post(ADMIN + "/partners", json={"partner_id": "a b/c"}, headers=ADMIN_H)
        assert bad.status_code == 422
        mail = await client.post(
            ADMIN + "/partners",
            json={"partner_id": "x", "contact_emails": ["nope"]},
            headers=ADMIN_H,
        )
        assert mail.status_code == 422

    async def test_rotation_retires_the_old_key(
        self, client: httpx.AsyncClient, acme_key: str
    ) -> None:
        rotated = await client.post(ADMIN + "/partners/acme-gestion/key", headers=ADMIN_H)
        new_key = rotated.json()["api_key"]
        assert new_key != acme_key
        assert (await post(client, loader_file("acme-gestion", acme_key))).status_code == 401
        assert (await post(client, loader_file("acme-gestion", new_key))).status_code == 200

    async def test_deactivation_and_reactivation(
        self, client: httpx.AsyncClient, acme_key: str
    ) -> None:
        url = ADMIN + "/partners/acme-gestion"
        await client.patch(url, json={"is_active": False}, headers=ADMIN_H)
        assert (await post(client, loader_file("acme-gestion", acme_key))).status_code == 401
        await client.patch(url, json={"is_active": True}, headers=ADMIN_H)
        assert (await post(client, loader_file("acme-gestion", acme_key))).status_code == 200

    async def test_unknown_partner_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.get(ADMIN + "/partners/nobody/runs", headers=ADMIN_H)
        assert response.status_code == 404


class TestOperatorViews:
    async def test_runs_and_records_are_paginated(
        self, client: httpx.AsyncClient, acme_key: str
    ) -> None:
        for n in range(3):
            doc = loader_file(
                "acme-gestion", acme_key, properties=[f.property_(f"P{n}", documents=[
                    f.document(f"DOC{n}")])], transactions=[f.transaction(f"T{n}", f"P{n}")],
            )  # fmt: skip
            await post(client, doc)
        runs = (await client.get(
            ADMIN + "/partners/acme-gestion/runs", params={"per_page": 2}, headers=ADMIN_H
        )).json()  # fmt: skip
        assert (runs["total"], len(runs["items"])) == (3, 2)
        run = runs["items"][0]
        assert run["status"] == "SUCCESS" and "report" not in run  # one run at a time
        one = await client.get(ADMIN + f"/partners/acme-gestion/runs/{run['id']}", headers=ADMIN_H)
        assert one.json()["id"] == run["id"] and one.json()["report"]["status"] == "SUCCESS"
        page2 = (await client.get(
            ADMIN + "/partners/acme-gestion/records/documents",
            params={"per_page": 2, "page": 2}, headers=ADMIN_H,
        )).json()  # fmt: skip
        assert page2["total"] == 3 and len(page2["items"]) == 1
        doc = page2["items"][0]
        assert doc["external_id"] == "DOC0" and doc["property_id"] == "P0"
        assert doc["document"]["status"] == "pending"
        assert doc["document"]["url"] == "https://files.example.org/acme/77.pdf"
        bad = await client.get(ADMIN + "/partners/acme-gestion/records/clients", headers=ADMIN_H)
        assert bad.status_code == 422


class TestCli:
    def test_partner_lifecycle(self, database_url: str, tmp_path: object) -> None:
        runner = CliRunner()
        env = {"GUICHET_DATABASE_URL": database_url, "GUICHET_LOG__LEVEL": "WARNING"}
        app = build_app()  # the whole `guichet` command, as a user runs it
        pid = f"cli-{uuid.uuid4().hex[:8]}"
        try:
            created = runner.invoke(
                app, ["loaders", "create-partner", pid, "--email", "a@b.test"], env=env
            )
            assert created.exit_code == 0, created.output
            key = json.loads(created.stdout)["api_key"]
            assert len(key) == 32
            listed = runner.invoke(app, ["loaders", "list-partners"], env=env)
            assert pid in listed.stdout and key not in listed.stdout
            rotated = runner.invoke(app, ["loaders", "rotate-key", pid], env=env)
            assert json.loads(rotated.stdout)["api_key"] != key
            off = runner.invoke(app, ["loaders", "deactivate", pid], env=env)
            assert json.loads(off.stdout)["is_active"] is False
            again = runner.invoke(app, ["loaders", "create-partner", pid], env=env)
            assert again.exit_code == 1 and "existe déjà" in again.stderr
            bad = runner.invoke(app, ["loaders", "set-contacts", pid, "--email", "nope"], env=env)
            assert bad.exit_code == 2
        finally:
            runner.invoke(app, ["loaders", "deactivate", pid], env=env)
            _drop_partner(database_url, pid)


def _drop_partner(database_url: str, partner_id: str) -> None:
    import psycopg

    from guichet.core.db import libpq_url

    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute("DELETE FROM loader_partner WHERE partner_id = %s", (partner_id,))


class TestContactEmails:
    @pytest.mark.parametrize(
        ("given", "stored"),
        [
            ("a@bnk.test", "a@bnk.test"),
            (" Claire.Martin+compta@Example.FR ", "Claire.Martin+compta@example.fr"),
            ("o'neil@cabinet.fr", "o'neil@cabinet.fr"),
            ("compta@société.fr", "compta@xn--socit-esab.fr"),  # IDNA: a header carries it
        ],
    )
    def test_accepted_as_a_header_can_carry_them(self, given: str, stored: str) -> None:
        assert PartnerCreate(partner_id="x", contact_emails=[given]).contact_emails == [stored]

    @pytest.mark.parametrize(
        "given",
        ["nope", "a,b@x.fr", '"q"@x.fr', "x@y", "a@b..fr", "a@-b.fr", "é@x.fr", "a@x.fr>",
         "a b@x.fr", "a@x.fr\nBcc: e@vil.fr", "." + "a" * 250 + "@x.fr"],
    )  # fmt: skip
    def test_refused_when_a_header_would_change_meaning(self, given: str) -> None:
        with pytest.raises(ValidationError, match=r"adresse e-mail invalide|at most"):
            PartnerCreate(partner_id="x", contact_emails=[given])
