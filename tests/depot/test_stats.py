"""Statistics routes (§2.4 #36–38; scenarios #31–32 of §5.2)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.depot import factories
from tests.depot.conftest import ADMIN
from tests.depot.factories import Parties


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


async def _published(
    session: AsyncSession, parties: Parties, code: str, when: dt.datetime, via: str = "other"
) -> None:
    owner = getattr(parties, via).client
    await factories.revision(session, owner, code, published=True, published_at=when)


class TestFirstsPublications:
    async def test_cumulative_first_publications(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        """Scenario #31: 59 days; a commune first published on the 2nd counts from the 2nd on,
        its second publication (the 4th) changes nothing."""
        await _published(session, parties, "31591", _at("2000-01-02T10:00:00"), via="chef")
        await _published(session, parties, "31591", _at("2000-01-04T10:00:00"))
        await _published(session, parties, "91534", _at("2000-01-03T23:59:59"))
        await session.commit()
        response = await client.get(
            "/stats/firsts-publications?from=2000-01-01&to=2000-02-28", headers=ADMIN
        )
        assert response.status_code == 200
        days = response.json()
        assert len(days) == 59
        assert days[0] == {
            "date": "2000-01-01",
            "totalCreations": 0,
            "viaMesAdresses": 0,
            "viaMoissonneur": 0,
        }
        # `chef` has legacyId mes-adresses: the first publication of 31591 is its own.
        assert days[1] == {
            "date": "2000-01-02",
            "totalCreations": 1,
            "viaMesAdresses": 1,
            "viaMoissonneur": 0,
        }
        assert [d["totalCreations"] for d in days[2:5]] == [2, 2, 2]
        assert days[-1]["date"] == "2000-02-28"
        assert days[-1]["totalCreations"] == 2

    async def test_default_period_is_the_last_month(self, client: httpx.AsyncClient) -> None:
        days = (await client.get("/stats/firsts-publications", headers=ADMIN)).json()
        today = dt.datetime.now(dt.UTC).date()
        assert days[-1]["date"] == today.isoformat()
        assert 29 <= len(days) <= 32


class TestPublications:
    async def test_per_day_and_commune(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        await _published(session, parties, "31591", _at("2000-01-02T08:00:00"), via="chef")
        await _published(session, parties, "31591", _at("2000-01-02T09:00:00"))
        await _published(session, parties, "91534", _at("2000-01-02T10:00:00"))
        await _published(session, parties, "91534", _at("2000-01-05T10:00:00"), via="chef")
        await _published(session, parties, "91534", _at("2000-03-05T10:00:00"))  # out of range
        await session.commit()
        response = await client.get(
            "/stats/publications?from=2000-01-01&to=2000-01-31", headers=ADMIN
        )
        assert response.status_code == 200
        # via* counted for real (always 0 in the reference, §9 defect 10)
        assert response.json() == [
            {
                "date": "2000-01-02",
                "publishedBAL": {
                    "31591": {"total": 2, "viaMesAdresses": 1, "viaMoissonneur": 0},
                    "91534": {"total": 1, "viaMesAdresses": 0, "viaMoissonneur": 0},
                },
            },
            {
                "date": "2000-01-05",
                "publishedBAL": {
                    "91534": {"total": 1, "viaMesAdresses": 1, "viaMoissonneur": 0},
                },
            },
        ]


@pytest.mark.parametrize("route", ["/stats/firsts-publications", "/stats/publications"])
class TestDates:
    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("from=2000-01-01", "Il manque une date from ou to"),
            ("to=2000-01-01", "Il manque une date from ou to"),
            ("from=coucou&to=2000-01-01", "Les dates ne sont pas valides"),
            ("from=2000-01-01&to=2000-02-30", "Les dates ne sont pas valides"),
            ("from=2000-01-02&to=2000-01-01", "La date from est plus vielle que la date to"),
        ],
    )
    async def test_date_errors(
        self, client: httpx.AsyncClient, route: str, query: str, message: str
    ) -> None:
        response = await client.get(f"{route}?{query}", headers=ADMIN)
        assert response.status_code == 400
        assert response.json() == {"statusCode": 400, "message": message, "error": "Bad Request"}

    async def test_admin_only(self, client: httpx.AsyncClient, route: str) -> None:
        # the guard answers before the dates are looked at
        response = await client.get(f"{route}?from=coucou")
        assert response.json() == {"statusCode": 403, "message": "Non autorisé"}

    async def test_same_day(self, client: httpx.AsyncClient, route: str) -> None:
        response = await client.get(f"{route}?from=2000-01-01&to=2000-01-01", headers=ADMIN)
        assert response.status_code == 200


class TestMetricsIncubateur:
    async def test_paged_by_commune_code(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        """Scenario #32: 4 communes, offset 1 and limit 2: the 2nd and 3rd codes."""
        now = dt.datetime.now(dt.UTC)
        await _published(session, parties, "01001", now - dt.timedelta(days=3))
        await _published(session, parties, "31591", now - dt.timedelta(days=400))
        await _published(session, parties, "31591", now - dt.timedelta(days=3))  # latest wins
        await _published(session, parties, "64102", now - dt.timedelta(days=60))
        await _published(session, parties, "91534", now - dt.timedelta(days=800))
        await session.commit()
        response = await client.get("/stats/metrics-incubateur?offset=1&limit=2")
        assert response.status_code == 200
        assert response.json() == {
            "count": 4,
            "results": [
                {"insee": "31591", "metrics": {"tu": 1, "yau": 1, "mau": 1, "wau": 1}},
                {"insee": "64102", "metrics": {"tu": 1, "yau": 1, "mau": 0, "wau": 0}},
            ],
        }
        everything: dict[str, Any] = (await client.get("/stats/metrics-incubateur")).json()
        assert [r["insee"] for r in everything["results"]] == ["01001", "31591", "64102", "91534"]
        assert everything["results"][3]["metrics"] == {"tu": 1, "yau": 0, "mau": 0, "wau": 0}

    async def test_commune_with_pending_revisions_only(
        self, client: httpx.AsyncClient, session: AsyncSession, parties: Parties
    ) -> None:
        await factories.revision(session, parties.chef.client, "31591")
        await session.commit()
        body = (await client.get("/stats/metrics-incubateur")).json()
        assert body == {
            "count": 1,
            "results": [{"insee": "31591", "metrics": {"tu": 1, "yau": 0, "mau": 0, "wau": 0}}],
        }

    async def test_bad_paging(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/stats/metrics-incubateur?offset=-1")
        assert response.status_code == 400
