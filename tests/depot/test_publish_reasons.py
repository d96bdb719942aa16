"""Issue #13, beyond the reference: a refused publish says why in a machine-readable `reason`.

The reference's status and message stay exactly what they were (clients that read them see no
change); the body only gains `reason`, one per way a publish can be refused. Each case below is
reached through the API as a client would (create, upload, compute, publish), except the states
no client can produce on purpose (a perimeter that changed, a lock held by a stuck publish).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from guichet.depot import service
from guichet.depot.errors import PublishRefusal
from tests.depot import factories
from tests.depot.factories import Parties, Party
from tests.depot.helpers import computed, create, published, upload

OBJECT_ID = "5f0c8f9e1c9d440000a1b2c3"
IMPOSSIBLE = "La publication n’est pas possible"


async def publish(
    client: httpx.AsyncClient, party: Party, revision_id: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(
        f"/revisions/{revision_id}/publish", json=body or {}, headers=party.headers
    )


def refused(response: httpx.Response, status: int, message: str, reason: str) -> None:
    """The reference's body, key for key, plus `reason`."""
    assert response.status_code == status, response.text
    assert response.json() == {"statusCode": status, "message": message, "reason": reason}


async def test_never_computed_is_not_ready(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
) -> None:
    revision = await create(client, parties.chef)
    refused(await publish(client, parties.chef, revision["id"]), 412, IMPOSSIBLE, "notReady")
    # A file, but no compute yet: still not ready.
    assert (await upload(client, parties.chef, revision["id"], bal_31591)).status_code == 200
    refused(await publish(client, parties.chef, revision["id"]), 412, IMPOSSIBLE, "notReady")


async def test_an_invalid_file_is_invalid(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
) -> None:
    # Escoulis' rows deposited for Saclay (in the chef de file's perimeter too): every row is of
    # another commune, so compute refuses the file.
    revision = await computed(client, parties.chef, bal_31591, code="91534")
    assert revision["isReady"] is False and revision["validation"]["valid"] is False
    refused(await publish(client, parties.chef, revision["id"]), 412, IMPOSSIBLE, "invalid")


async def test_a_revision_published_already_is_not_pending(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
) -> None:
    done = await published(client, parties.chef, bal_31591)
    refused(await publish(client, parties.chef, done["id"]), 412, IMPOSSIBLE, "notPending")


async def test_a_ready_revision_overtaken_by_another_publish_is_outdated(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
) -> None:
    mine = await computed(client, parties.other, bal_31591)
    assert mine["isReady"] is True
    await published(client, parties.chef, bal_31591)  # another client publishes the commune
    refused(await publish(client, parties.other, mine["id"]), 412, IMPOSSIBLE, "outdated")
    # As the reason says: compute again, then publish.
    again = await client.post(f"/revisions/{mine['id']}/compute", headers=parties.other.headers)
    assert again.json()["isReady"] is True
    assert (await publish(client, parties.other, mine["id"])).status_code == 200


async def test_a_habilitation_client_without_habilitation(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
) -> None:
    revision = await computed(client, parties.habilitation, bal_31591)
    refused(
        await publish(client, parties.habilitation, revision["id"]),
        400,
        "Le client test nécessite une habilitation pour publier",
        "habilitationRequired",
    )


async def test_an_unusable_habilitation(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
) -> None:
    revision = await computed(client, parties.habilitation, bal_31591)
    refused(
        await publish(client, parties.habilitation, revision["id"], {"habilitationId": OBJECT_ID}),
        404,
        f"L’habilitation {OBJECT_ID} n’est pas valide",
        "habilitationInvalid",
    )


async def test_a_commune_outside_the_perimeter(
    client: httpx.AsyncClient, session: AsyncSession, parties: Parties
) -> None:
    """The perimeter changed between compute and publish (compute would have refused)."""
    chef = await factories.chef_de_file(session, [("departement", "91")])
    party = await factories.client(session, parties.mandataire, chef)
    revision = await factories.revision(session, party.client, "31591", ready=True)
    await session.commit()
    refused(
        await publish(client, party, revision.id),
        412,
        "La publication n’est pas possible : la commune 31591 n’est pas dans le périmètre du"
        " chef de file du client",
        "outOfPerimeter",
    )


@pytest.fixture
async def other_connection(database_url: str) -> AsyncIterator[AsyncConnection]:
    """A connection of another process: its locks are not the test connection's."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


async def test_a_publish_held_up_by_another_one_is_in_progress(
    client: httpx.AsyncClient,
    session: AsyncSession,
    parties: Parties,
    other_connection: AsyncConnection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Made ready without the API: a compute would take the commune's lock on the test's own
    # connection, where it stays until the test's transaction ends.
    revision = await factories.revision(session, parties.chef.client, "31591", ready=True)
    await session.commit()
    monkeypatch.setattr(service, "LOCK_TIMEOUT", "100ms")  # not 10 s of waiting in a test
    async with other_connection.begin():  # a publish of 31591 that does not finish
        await other_connection.execute(text("SET LOCAL lock_timeout = '5s'"))  # never hang
        lock = func.pg_advisory_xact_lock(service._LOCK_NAMESPACE, func.hashtext("31591"))
        await other_connection.execute(select(lock))
        refused(
            await publish(client, parties.chef, revision.id),
            412,
            "La publication n’est pas possible car une publication est deja en cours",
            "publicationInProgress",
        )
    assert (await publish(client, parties.chef, revision.id)).status_code == 200


async def test_every_reason_is_tested_and_other_errors_carry_none(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
) -> None:
    tested = {
        "notReady", "invalid", "notPending", "outdated", "habilitationRequired",
        "habilitationInvalid", "outOfPerimeter", "publicationInProgress",
    }  # fmt: skip
    assert {str(reason) for reason in PublishRefusal} == tested
    revision = await create(client, parties.chef)
    # Not refusals of a publish: the reference's bodies, untouched.
    stranger = await client.post(f"/revisions/{revision['id']}/publish")
    assert "reason" not in stranger.json()
    not_editable = await published(client, parties.other, bal_31591)
    again = await upload(client, parties.other, not_editable["id"], bal_31591)
    assert again.json() == {"statusCode": 412, "message": "La révision n’est plus modifiable"}
