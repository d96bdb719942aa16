"""What changed (issue #15): the diff job after compute, `GET /revisions/{id}/diff` with its
pages, and the feed `GET /current-revisions/changes`."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.depot import diff_tasks
from tests.conftest import JobList
from tests.depot import factories
from tests.depot.factories import Parties, Party
from tests.depot.helpers import computed, published

COMMUNES = ("31591", "35047", "44109", "33063", "59350")


async def run_diff_jobs(jobs: JobList) -> int:
    """Run the waiting diff jobs as a worker would; how many ran."""
    ran = 0
    for job in await jobs():
        if job["task_name"] == "depot:diff_revision" and job["status"] == "todo":
            await diff_tasks.diff_revision(**job["args"])
            ran += 1
    return ran


def edited(data: bytes) -> bytes:
    """The 6-row file of 31591 with one row removed, one moved, one whose `date_der_maj` alone
    changed, and one added."""
    header, *rows = data.decode().rstrip("\n").split("\n")
    cells = [row.split(";") for row in rows]
    removed = cells.pop()  # the last row
    cells[0][8] = "1.030000"  # long: moved
    cells[1][13] = "2024-01-01"  # only date_der_maj
    added = list(cells[2])
    added[0], added[4] = "31591_xxxx_00099", "99"
    cells.append(added)
    assert removed
    return ("\n".join([header, *(";".join(c) for c in cells)]) + "\n").encode()


async def test_the_first_publication_adds_every_address(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, jobs: JobList
) -> None:
    revision = await published(client, parties.chef, bal_31591)
    assert await run_diff_jobs(jobs) == 1
    body = (await client.get(f"/revisions/{revision['id']}/diff")).json()
    assert body["revisionId"] == revision["id"] and body["againstId"] is None
    assert body["summary"] == {
        "adresses": {"added": 6, "removed": 0, "modified": 0, "unchanged": 0},
        "voies": {"added": 1, "removed": 0, "renamed": 0},
    }
    numeros = [row["numero"] for row in body["adresses"]["added"]]
    assert numeros == ["9", "11", "7", "5", "3", "2"]
    assert body["next"] is None


async def test_a_revision_against_the_current_one_and_after_its_publication(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, jobs: JobList
) -> None:
    first = await published(client, parties.chef, bal_31591)
    second = await computed(client, parties.chef, edited(bal_31591))
    await run_diff_jobs(jobs)
    body = (await client.get(f"/revisions/{second['id']}/diff")).json()
    assert body["againstId"] == first["id"]
    assert body["summary"]["adresses"] == {"added": 1, "removed": 1, "modified": 1, "unchanged": 4}
    assert [row["cle_interop"] for row in body["adresses"]["added"]] == ["31591_xxxx_00099"]
    assert [row["numero"] for row in body["adresses"]["removed"]] == ["2"]
    [modified] = body["adresses"]["modified"]
    assert modified["changes"] == {"long": ["1.028392", "1.030000"]}  # not date_der_maj
    response = await client.post(f"/revisions/{second['id']}/publish", headers=parties.chef.headers)
    assert response.status_code == 200
    again = (await client.get(f"/revisions/{second['id']}/diff")).json()
    assert again["againstId"] == first["id"] and again["summary"] == body["summary"]


async def test_against_another_revision_of_the_commune(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
) -> None:
    first = await published(client, parties.chef, bal_31591)
    second = await published(client, parties.chef, edited(bal_31591))
    # no job run: computed on request, then stored
    backwards = await client.get(f"/revisions/{first['id']}/diff?against={second['id']}")
    assert backwards.status_code == 200
    assert backwards.json()["summary"]["adresses"] == {
        "added": 1, "removed": 1, "modified": 1, "unchanged": 4,
    }  # fmt: skip
    assert backwards.json()["againstId"] == second["id"]


@pytest.mark.parametrize(
    ("against", "status", "message"),
    [
        ("nope", 400, "Revision Id nope is not ObjectId"),
        ("0123456789abcdef01234567", 404, "Revision 0123456789abcdef01234567 not found"),
    ],
)
async def test_against_errors(
    client: httpx.AsyncClient,
    parties: Parties,
    bal_31591: bytes,
    against: str,
    status: int,
    message: str,
) -> None:
    revision = await published(client, parties.chef, bal_31591)
    response = await client.get(f"/revisions/{revision['id']}/diff?against={against}")
    assert response.status_code == status
    assert response.json()["message"] == message


async def test_against_a_revision_of_another_commune_or_itself_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, parties: Parties, bal_31591: bytes
) -> None:
    revision = await published(client, parties.chef, bal_31591)
    elsewhere = await factories.revision(session, parties.chef.client, "91534")
    await session.commit()
    for other in (elsewhere.id, revision["id"]):
        response = await client.get(f"/revisions/{revision['id']}/diff?against={other}")
        assert response.status_code == 400
        assert response.json()["message"] == (
            f"La révision {other} n’est pas une autre révision de la commune 31591"
        )


async def test_pages_follow_the_cursor_to_the_end(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
) -> None:
    revision = await published(client, parties.chef, bal_31591)
    seen: list[str] = []
    url = f"/revisions/{revision['id']}/diff?limit=4"
    while True:
        body = (await client.get(url)).json()
        seen += [row["numero"] for row in body["adresses"]["added"]]
        if body["next"] is None:
            break
        url = f"/revisions/{revision['id']}/diff?limit=4&cursor={body['next']}"
    assert seen == ["9", "11", "7", "5", "3", "2"]


async def test_a_cursor_of_another_diff_or_garbage_is_refused(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
) -> None:
    first = await published(client, parties.chef, bal_31591)
    second = await published(client, parties.chef, edited(bal_31591))
    cursor = (await client.get(f"/revisions/{first['id']}/diff?limit=1")).json()["next"]
    for bad in (cursor, "%%%", "bm9wZQ"):
        response = await client.get(f"/revisions/{second['id']}/diff?cursor={bad}")
        assert response.status_code == 400
        assert response.json()["message"] == "Le curseur est invalide"


async def test_a_rolled_back_compute_defers_no_diff(
    client: httpx.AsyncClient, parties: Parties, jobs: JobList
) -> None:
    body = await computed(client, parties.chef, b"not a csv at all\x00\x01")
    assert body["validation"]["valid"] is False
    assert [job for job in await jobs() if job["task_name"] == "depot:diff_revision"] == []


# --- the feed -------------------------------------------------------------------------------


def _bal_of(data: bytes, code: str, variant: int) -> bytes:
    """The 31591 file moved to `code`, its positions shifted by `variant` (a new version)."""
    text = data.decode().replace("31591", code)
    return text.replace("43.11", f"43.{11 + variant % 80:02d}").encode()


async def _poll(client: httpx.AsyncClient, cursor: str | None) -> tuple[list[dict[str, Any]], str]:
    params = {} if cursor is None else {"since": cursor}
    response = await client.get("/current-revisions/changes", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["changes"], body["next"]


async def test_a_consumer_of_the_feed_sees_every_change_exactly_once(
    client: httpx.AsyncClient, session: AsyncSession, bal_31591: bytes, jobs: JobList
) -> None:
    owner = await factories.mandataire(session)
    chef = await factories.chef_de_file(session, [("commune", code) for code in COMMUNES])
    party: Party = await factories.client(session, owner, chef, nom="feeder")
    await session.commit()
    start = (await client.get("/current-revisions/changes?since=now")).json()["next"]
    cursor, seen = start, []
    expected = []
    order = random.Random(15)
    for n in range(50):
        code = COMMUNES[n % len(COMMUNES)]
        revision = await published(client, party, _bal_of(bal_31591, code, n), code)
        expected.append(revision["id"])
        if order.random() < 0.4:  # the consumer polls between publications, now and then
            changes, cursor = await _poll(client, cursor)
            seen += changes
        if order.random() < 0.3:
            await run_diff_jobs(jobs)
    changes, cursor = await _poll(client, cursor)
    seen += changes
    assert [change["revisionId"] for change in seen] == expected  # each once, in order
    assert (await _poll(client, cursor))[0] == []
    by_commune: dict[str, str | None] = {}
    for change in seen:  # each names the revision it replaced
        assert change["previousRevisionId"] == by_commune.get(change["codeCommune"])
        by_commune[change["codeCommune"]] = change["revisionId"]
        assert change["diffUrl"].endswith(f"/revisions/{change['revisionId']}/diff")
    await run_diff_jobs(jobs)
    summaries = [change["summary"] for change in (await _poll(client, start))[0]]
    assert None not in summaries  # once the jobs ran, every change has its summary
    assert summaries[0]["adresses"]["added"] == 6  # the first of its commune
    assert summaries[-1]["adresses"]["modified"] == 6  # every position moved


@pytest.mark.parametrize("since", ["-1", "abc", "1" * 19])
async def test_a_bad_feed_cursor_is_refused(client: httpx.AsyncClient, since: str) -> None:
    response = await client.get("/current-revisions/changes", params={"since": since})
    assert response.status_code == 400
    assert response.json()["message"] == "Le curseur est invalide"


async def test_the_mass_deletion_rule_names_the_removed_addresses(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes
) -> None:
    await published(client, parties.chef, bal_31591)
    kept = b"\n".join(bal_31591.rstrip(b"\n").split(b"\n")[:5]) + b"\n"  # 2 of 6 rows removed
    revision = await computed(client, parties.chef, kept)
    assert "rows.delete_many_addresses" in revision["validation"]["warnings"]
    report = (await client.get(f"/revisions/{revision['id']}/validation-report")).json()
    deletion = [p for p in report["problems"] if p["code"] == "rows.delete_many_addresses"]
    assert [(p["message"], p["value"]) for p in deletion] == [
        ("Le fichier supprime plus de 20 % des lignes de la révision courante", None),
        ("Adresse supprimée : 3 Rue des 3 Places", "31591_xxxx_00003"),
        ("Adresse supprimée : 2 Rue des 3 Places", "31591_xxxx_00002"),
    ]
    assert report["problemsCount"] >= 3
