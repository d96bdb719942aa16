"""Compute (§2.4 #3, §4.1): scenarios #11–#15, the detailed report, validator failures."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.depot import factories
from tests.depot.conftest import HERE
from tests.depot.factories import Parties
from tests.depot.helpers import computed, create, upload

OBJECT_ID = "5f0c8f9e1c9d440000a1b2c3"


class TestCompute:
    """Scenarios #11–#15."""

    async def test_without_file(self, client: httpx.AsyncClient, parties: Parties) -> None:
        revision = await create(client, parties.chef)
        response = await client.post(
            f"/revisions/{revision['id']}/compute", headers=parties.chef.headers
        )
        assert response.json() == {
            "statusCode": 404,
            "message": f"Aucun fichier de type 'bal' associé à la révision {revision['id']}",
        }

    async def test_on_published_revision(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        revision = await factories.revision(session, parties.chef.client, published=True)
        response = await client.post(
            f"/revisions/{revision.id}/compute", headers=parties.chef.headers
        )
        assert response.json() == {
            "statusCode": 412,
            "message": "La révision n’est plus modifiable",
        }

    async def test_rows_of_another_commune(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
    ) -> None:
        body = await computed(client, parties.chef, bal_31591, code="91534")
        validation = body["validation"]
        assert validation["valid"] is False
        assert "commune_insee.valeur_inattendue" in validation["errors"]
        assert validation["rowsCount"] == 6
        assert body["status"] == "pending"
        assert body["isReady"] is False
        report = (await client.get(validation["reportUrl"])).json()
        wrong = [p for p in report["problems"] if p["code"] == "commune_insee.valeur_inattendue"]
        assert len(wrong) == 6 and wrong[0]["value"] == "31591"

    async def test_out_of_perimeter_then_inside(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties, bal_31591: bytes
    ) -> None:
        empty = await factories.chef_de_file(session, [])
        party = await factories.client(session, parties.mandataire, empty)
        body = await computed(client, party, bal_31591)
        assert body["validation"]["errors"] == ["commune_insee.out_of_perimeter"]
        report = (await client.get(body["validation"]["reportUrl"])).json()
        assert report["problems"][0]["code"] == "commune_insee.out_of_perimeter"
        assert report["valid"] is False
        inside = await factories.chef_de_file(session, [("commune", "31591")])
        party = await factories.client(session, parties.mandataire, inside)
        body = await computed(client, party, bal_31591)
        assert body["validation"]["valid"] is True
        assert body["validation"]["errors"] == []
        assert body["isReady"] is True

    @pytest.mark.parametrize(("kind", "code"), [("departement", "31"), ("epci", "200073146")])
    async def test_departement_and_epci_perimeters(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        parties: Parties,
        bal_31591: bytes,
        kind: str,
        code: str,
    ) -> None:
        # 200073146: CC Cagire Garonne Salat, whose members include 31591.
        chef = await factories.chef_de_file(session, [(kind, code)])
        party = await factories.client(session, parties.mandataire, chef)
        assert (await computed(client, party, bal_31591))["validation"]["valid"] is True

    @pytest.mark.parametrize(
        ("previous", "errors", "warnings"),
        [
            (100, ["rows.delete_too_many_addresses"], ["rows.delete_many_addresses"]),
            (8, [], ["rows.delete_many_addresses"]),
            (6, [], []),
        ],
    )
    async def test_mass_deletion(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        parties: Parties,
        bal_31591: bytes,
        previous: int,
        errors: list[str],
        warnings: list[str],
    ) -> None:
        await factories.revision(
            session, parties.other.client, rows_count=previous, published=True, current=True
        )
        validation = (await computed(client, parties.chef, bal_31591))["validation"]
        assert validation["errors"] == errors
        assert [w for w in validation["warnings"] if w.startswith("rows.")] == warnings
        assert validation["valid"] is (not errors)

    async def test_validation_shape_and_report(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
    ) -> None:
        body = await computed(client, parties.chef, bal_31591)
        validation = body["validation"]
        assert list(validation) == [
            "valid",
            "format",
            "validatorVersion",
            "errors",
            "warnings",
            "infos",
            "rowsCount",
            "reportUrl",
        ]
        assert validation["format"] == "1.3"
        assert validation["validatorVersion"] == "3.5.2"
        report = (await client.get(validation["reportUrl"])).json()
        assert report["revisionId"] == body["id"]
        assert report["problemsCount"] == len(report["problems"])
        assert {"line", "column", "value", "code", "level", "message"} == set(report["problems"][0])

    async def test_profiles_detected(self, client: httpx.AsyncClient, parties: Parties) -> None:
        data14 = (HERE / "bal-1.4-31591.csv").read_bytes()
        assert (await computed(client, parties.chef, data14))["validation"]["format"] == "1.4"
        header, row = data14.decode().splitlines()[:2]
        data15 = f"{header};toponyme\n{row};Rue des 3 Places\n".encode()
        assert (await computed(client, parties.chef, data15))["validation"]["format"] == "1.5"

    @pytest.mark.parametrize("data", [b'a;"b\nc;d\n', b"\x89PNG\r\n\x1a\n\x00\x00\x00\x00"])
    async def test_unparsable_file(
        self, client: httpx.AsyncClient, parties: Parties, data: bytes
    ) -> None:
        validation = (await computed(client, parties.chef, data))["validation"]
        assert validation["valid"] is False
        assert validation["parseErrors"]
        assert "errors" not in validation
        assert set(validation) <= {"valid", "validatorVersion", "parseErrors", "reportUrl"}


class TestComputeFailures:
    async def test_validator_failure_is_a_503_and_nothing_changes(
        self,
        client: httpx.AsyncClient,
        parties: Parties,
        bal_31591: bytes,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from guichet.depot import compute

        class Failing:
            async def check(self, data: bytes, code: str, ban: object = None) -> compute.FileCheck:
                raise compute.ComputeFailed("BrokenProcessPool")

        revision = await create(client, parties.chef)
        assert (await upload(client, parties.chef, revision["id"], bal_31591)).status_code == 200
        monkeypatch.setattr(compute, "pool", Failing())
        response = await client.post(
            f"/revisions/{revision['id']}/compute", headers=parties.chef.headers
        )
        assert response.status_code == 503
        assert response.json()["statusCode"] == 503
        shown = (await client.get(f"/revisions/{revision['id']}")).json()
        assert shown["validation"] is None and shown["isReady"] is False

    async def test_recompute_replaces_the_report(
        self, client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, settings: object
    ) -> None:
        body = await computed(client, parties.chef, bal_31591)
        first = body["validation"]["reportUrl"]
        again = await client.post(f"/revisions/{body['id']}/compute", headers=parties.chef.headers)
        assert again.json()["validation"]["reportUrl"] == first  # same route, new content
        from guichet.core.config import Settings

        assert isinstance(settings, Settings)
        reports = list((settings.blobs_dir / "revisions" / body["id"] / "reports").iterdir())
        assert len(reports) == 1
