"""What follows a publish (§1.4, §1.5, §4.2 steps 8–10, §4.3): the BAN compose call, the
team-chat message and the takeover e-mail, as retried jobs committed with the publication, and
the periodic reconciliation that composes again what the national base missed.

Outside calls go to real local HTTP servers (`Endpoint`), e-mails to a real SMTP server
(aiosmtpd); the retry test runs a real procrastinate worker on a committed database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from procrastinate.jobs import Job
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from guichet.core import queue, services
from guichet.core.config import Settings
from guichet.depot import compose, notifications, publication, tasks
from guichet.depot.models import Client, Revision
from guichet.depot.webhooks_models import BanCompose, PublishNotice
from guichet.runtime.app import create_app
from tests.conftest import Inbox, JobList, free_port, make_settings, migrated_database
from tests.depot import factories
from tests.depot.conftest import ADMIN_TOKEN
from tests.depot.factories import Parties
from tests.depot.helpers import published

BAN_TOKEN = "ban-token-for-the-compose-tests"

# --- local HTTP endpoints -------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Endpoint:
    """A local HTTP server answering POSTs with the statuses of `plan` in turn (then 200);
    `refuse_until` (monotonic time): closed before it (connection refused), `slow`: seconds
    to wait before answering the n-th request."""

    url: str
    received: list[Received] = field(default_factory=list)
    plan: list[int] = field(default_factory=list)
    answered: dict[int, int] = field(default_factory=dict)  # request index → status sent
    slow: dict[int, float] = field(default_factory=dict)


def _handler(endpoint: Endpoint) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                index = len(endpoint.received)
                endpoint.received.append(Received(self.path, dict(self.headers.items()), body))
                status = endpoint.plan.pop(0) if endpoint.plan else 200
            time.sleep(endpoint.slow.get(index, 0))
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the client gave up (timeout): nothing was delivered
                return
            with lock:
                endpoint.answered[index] = status

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class Server:
    """Serves an `Endpoint` on 127.0.0.1:`port` (started and stopped at will)."""

    def __init__(self, endpoint: Endpoint, port: int) -> None:
        self.endpoint, self.port = endpoint, port
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self.endpoint))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextlib.contextmanager
def endpoint_server(*, started: bool = True) -> Iterator[Server]:
    port = free_port()
    server = Server(Endpoint(f"http://127.0.0.1:{port}"), port)
    if started:
        server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ban() -> Iterator[Endpoint]:
    with endpoint_server() as server:
        yield server.endpoint


@pytest.fixture
def chat() -> Iterator[Endpoint]:
    with endpoint_server() as server:
        yield server.endpoint


def after_publish_settings(
    database_url: str, home: Path, *, ban_url: str, chat_url: str, smtp_port: int, **extra: Any
) -> Settings:
    return make_settings(
        database_url,
        home,
        admin_token=ADMIN_TOKEN,
        smtp={"host": "127.0.0.1", "port": smtp_port, "security": "none", "timeout": 5},
        mail={"sender": "Guichet <noreply@guichet.example>"},
        notifications={
            "ban_compose_url": ban_url,
            "ban_token": BAN_TOKEN,
            "chat_webhook_url": chat_url + "/hooks/secret-chat-key",
            "timeout": 2,
            "reconcile_grace": 0,
            **extra,
        },
    )


@pytest.fixture
def settings(
    database_url: str,
    tmp_path: Path,
    ban: Endpoint,
    chat: Endpoint,
    smtp_server: tuple[Inbox, int],
) -> Settings:
    return after_publish_settings(
        database_url, tmp_path / "home", ban_url=ban.url, chat_url=chat.url,
        smtp_port=smtp_server[1],
    )  # fmt: skip


def _job(attempts: int) -> Job:
    return Job(id=1, queue="default", lock=None, queueing_lock=None, task_name="t",
               task_kwargs={}, attempts=attempts)  # fmt: skip


def delays_of(strategy: tasks.Backoff, exception: BaseException, attempts: int) -> list[float]:
    """The seconds the strategy waits after each of `attempts` failures (None: given up)."""
    found: list[float] = []
    for attempt in range(attempts):
        decision = strategy.get_retry_decision(exception=exception, job=_job(attempt))
        if decision is None:
            break
        assert decision.retry_at is not None
        found.append(round((decision.retry_at - _now()).total_seconds()))
    return found


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


async def _tasks(jobs: JobList) -> list[tuple[str, dict[str, Any]]]:
    return [(job["task_name"], job["args"]) for job in await jobs()]


# --- committed with the publication ---------------------------------------------------------


async def test_a_publish_defers_its_jobs_with_ids_only(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, jobs: JobList
) -> None:
    revision = await published(client, parties.chef, bal_31591)
    depot_jobs = [item for item in await _tasks(jobs) if item[0] != "depot:diff_revision"]
    assert depot_jobs == [
        ("depot:compose_commune", {"code_commune": "31591"}),
        ("depot:notify_chat", {"revision_id": revision["id"]}),
    ]


async def test_a_publish_that_rolls_back_defers_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], parties: Parties, jobs: JobList,
    session: AsyncSession,
) -> None:  # fmt: skip
    previous = await factories.revision(session, parties.other.client, published=True,
                                        current=True, published_at=_now())  # fmt: skip
    ready = await factories.revision(session, parties.chef.client, ready=True)
    await session.commit()

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with sessionmaker() as writer, writer.begin():
            chef = await writer.get(Client, parties.chef.client.id)
            assert chef is not None
            revision = await writer.get(Revision, ready.id)
            assert revision is not None
            await publication.publish(writer, revision=revision, client=chef,
                                      habilitation_id=None)  # fmt: skip
            # every job of the publish is there, in its transaction…
            names = {job["task_name"] for job in await _jobs_on(writer)}
            assert {"depot:compose_commune", "depot:notify_chat", "depot:mail_takeover"} <= names
            raise Abort  # …and the transaction fails after the publish
    assert await jobs() == []
    async with sessionmaker() as reader:
        current = await reader.get(Revision, previous.id)
        assert current is not None and current.is_current


async def _jobs_on(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.execute(text("SELECT task_name FROM procrastinate_jobs"))
    return [dict(row._mapping) for row in rows]


# --- BAN compose ------------------------------------------------------------------------------


async def test_compose_is_the_reference_call_and_is_sent_once(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, ban: Endpoint,
    session: AsyncSession,
) -> None:  # fmt: skip
    revision = await published(client, parties.chef, bal_31591)
    assert await compose.send("31591") is True
    [call] = ban.received
    assert call.path == "/ban/communes/31591/compose"
    assert call.headers["Authorization"] == f"Token {BAN_TOKEN}"
    acknowledged = await session.get(BanCompose, "31591")
    assert acknowledged is not None and acknowledged.revision_id == revision["id"]
    # a job that runs again (a stalled worker's, a duplicate) calls nothing
    assert await compose.send("31591") is False
    assert len(ban.received) == 1


async def test_compose_failures_are_retried_with_growing_delays_refusals_are_not(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, ban: Endpoint,
    session: AsyncSession,
) -> None:  # fmt: skip
    await published(client, parties.chef, bal_31591)
    ban.plan = [503]
    with pytest.raises(compose.ComposeFailed):
        await compose.send("31591")
    failure = compose.ComposeFailed("HTTP 503")
    assert delays_of(tasks.AFTER_PUBLISH_RETRY, failure, 10) == [10, 60, 300, 900, 3600, 10800]
    # a refusal (4xx: a wrong token) is not retried by the job: the reconciliation will do
    ban.plan = [401]
    assert await compose.send("31591") is False
    assert await session.get(BanCompose, "31591") is None
    assert tasks.AFTER_PUBLISH_RETRY.get_retry_decision(exception=ValueError(), job=_job(0)) is None


async def test_the_reconciliation_composes_again_what_the_ban_missed(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, ban: Endpoint,
    session: AsyncSession, jobs: JobList,
) -> None:  # fmt: skip
    revision = await published(client, parties.chef, bal_31591)
    # The BAN was down for the publish's compose, through all its attempts.
    ban.plan = [503]
    with pytest.raises(compose.ComposeFailed):
        await compose.send("31591")
    await session.execute(text("DELETE FROM procrastinate_jobs"))
    await session.commit()

    assert await tasks.reconcile() == ["31591"]
    [job] = await jobs()
    assert (job["task_name"], job["args"]) == ("depot:compose_commune", {"code_commune": "31591"})
    assert await tasks.reconcile() == []  # still missed, but its compose job waits already
    assert len(await jobs()) == 1
    await tasks.compose_commune(code_commune="31591")  # the worker runs it: the BAN is back
    assert [call.path for call in ban.received][-1] == "/ban/communes/31591/compose"
    acknowledged = await session.get(BanCompose, "31591")
    assert acknowledged is not None and acknowledged.revision_id == revision["id"]
    assert await tasks.reconcile() == []  # acknowledged: nothing more to send


async def test_the_reconciliation_waits_for_the_grace_delay(
    parties: Parties, session: AsyncSession, jobs: JobList
) -> None:
    import datetime as dt

    await factories.revision(session, parties.chef.client, published=True, current=True,
                             published_at=_now() - dt.timedelta(seconds=30))  # fmt: skip
    await session.commit()
    async with session.begin():
        assert await compose.missed(session, grace=60, limit=10) == []
        assert await compose.missed(session, grace=10, limit=10) == ["31591"]


# --- team chat ------------------------------------------------------------------------------


async def test_the_chat_message_is_the_references_and_is_sent_once(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, chat: Endpoint,
    session: AsyncSession,
) -> None:  # fmt: skip
    first = await published(client, parties.chef, bal_31591)
    second = await published(client, parties.chef, bal_31591)
    assert await notifications.send_chat(first["id"]) is True
    assert await notifications.send_chat(second["id"]) is True
    assert await notifications.send_chat(second["id"]) is False  # once per revision
    assert [call.path for call in chat.received] == ["/hooks/secret-chat-key"] * 2
    texts = [json.loads(call.body)["text"] for call in chat.received]
    assert texts == [
        "Initialisation d’une Base Adresse Locale - *Escoulis* (31591)\n_Application : chef_",
        "Mise à jour d’une Base Adresse Locale - *Escoulis* (31591)\n_Application : chef_",
    ]
    notices = await session.scalars(select(PublishNotice.kind))
    assert sorted(notices) == ["chat", "chat"]


async def test_a_failing_chat_server_is_retried(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, chat: Endpoint
) -> None:
    revision = await published(client, parties.chef, bal_31591)
    chat.plan = [502]
    with pytest.raises(notifications.NoticeFailed):
        await notifications.send_chat(revision["id"])
    assert await notifications.send_chat(revision["id"]) is True  # the retry
    assert len(chat.received) == 2
    failure = notifications.NoticeFailed("HTTP 502")
    assert delays_of(tasks.AFTER_PUBLISH_RETRY, failure, 3) == [10, 60, 300]


async def test_the_habilitation_strategy_is_in_the_chat_message(
    session: AsyncSession, parties: Parties
) -> None:
    revision = await factories.revision(
        session, parties.habilitation.client, published=True,
        habilitation={"strategy": {"type": "email"}},
    )  # fmt: skip
    text_ = notifications.chat_text(revision, "Mes Adresses", is_update=True)
    assert text_ == (
        "Mise à jour d’une Base Adresse Locale - *Escoulis* (31591)\n"
        "_Application : Mes Adresses - Habilitation par email :email:_"
    )


# --- takeover e-mail --------------------------------------------------------------------------


async def _takeover(
    client: httpx.AsyncClient, parties: Parties, bal: bytes, jobs: JobList
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A partner (`other`, no legacy id) publishes, then Mes Adresses (`chef`) takes over."""
    before = await published(client, parties.other, bal)
    revision = await client.post(
        "/communes/31591/revisions",
        json={"context": {"extras": {"balId": "64a1b2c3d4e5f60718293a4b"}}},
        headers=parties.chef.headers,
    )
    assert revision.status_code == 201
    rid = revision.json()["id"]
    from tests.depot.helpers import upload

    assert (await upload(client, parties.chef, rid, bal)).status_code == 200
    assert (await client.post(f"/revisions/{rid}/compute", headers=parties.chef.headers)).json()[
        "isReady"
    ]
    after = await client.post(f"/revisions/{rid}/publish", headers=parties.chef.headers)
    assert after.status_code == 200
    return before, after.json()


async def test_the_takeover_email_is_received_over_smtp(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, jobs: JobList,
    smtp_server: tuple[Inbox, int],
) -> None:  # fmt: skip
    inbox, _ = smtp_server
    before, after = await _takeover(client, parties, bal_31591, jobs)
    takeover_jobs = [
        job["args"] for job in await jobs() if job["task_name"] == "depot:mail_takeover"
    ]
    assert takeover_jobs == [{"revision_id": after["id"], "previous_revision_id": before["id"]}]

    assert await notifications.send_takeover(**takeover_jobs[0]) is True
    assert await notifications.send_takeover(**takeover_jobs[0]) is False  # once
    [envelope] = inbox.envelopes
    assert envelope.rcpt_tos == ["chef@test.fr"]  # the previous client's chef de file
    message = message_from_bytes(envelope.content, policy=policy.default)
    assert (
        message["Subject"] == "La commune de Escoulis a repris la main sur sa Base Adresse Locale"
    )
    body = message.get_body(("plain",))
    assert body is not None
    content = body.get_content()
    assert "la commune de Escoulis (31591) a publié une Base Adresse Locale via l’outil" in content
    assert "https://mes-adresses.data.gouv.fr/bal/64a1b2c3d4e5f60718293a4b" in content
    assert "ne seront donc pas publiées dans la Base Adresse Nationale" in content


async def test_no_takeover_email_between_managed_clients_or_for_a_first_publication(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, jobs: JobList,
    session: AsyncSession,
) -> None:  # fmt: skip
    await published(client, parties.chef, bal_31591)  # first publication: nobody to tell
    await published(client, parties.chef, bal_31591)  # same managed client again
    assert "depot:mail_takeover" not in {job["task_name"] for job in await jobs()}
    partner = await session.get(Client, parties.other.client.id)
    chef = await session.get(Client, parties.chef.client.id)
    assert partner is not None and chef is not None
    assert notifications.is_takeover(partner, chef) is True
    assert notifications.is_takeover(chef, partner) is False  # a partner replacing Mes Adresses


async def test_an_unreachable_smtp_server_is_retried(
    client: httpx.AsyncClient, parties: Parties, bal_31591: bytes, jobs: JobList,
    smtp_server: tuple[Inbox, int],
) -> None:  # fmt: skip
    from tests.conftest import replace_services

    before, after = await _takeover(client, parties, bal_31591, jobs)
    current = services.current()
    closed = current.settings.model_copy(
        update={"smtp": current.settings.smtp.model_copy(update={"port": free_port()})}
    )
    from guichet.core import mail

    replace_services(mailer=mail.create_mailer(closed))
    with pytest.raises(notifications.NoticeFailed):
        await notifications.send_takeover(after["id"], before["id"])
    replace_services(mailer=mail.create_mailer(current.settings))
    assert await notifications.send_takeover(after["id"], before["id"]) is True
    assert len(smtp_server[0].envelopes) == 1


# --- a real worker, its retries ---------------------------------------------------------------


@pytest.fixture
def committed_database(postgres_server: str) -> Iterator[str]:
    """A migrated database of its own: a worker sees only what is committed."""
    with migrated_database(postgres_server, f"guichet_h6_{os.getpid()}") as url:
        yield url


@dataclass
class Live:
    api: httpx.AsyncClient
    settings: Settings

    async def parties(self) -> Parties:
        async with services.transaction() as session:
            return await factories.parties(session)

    async def work_until(self, done: Callable[[], Awaitable[bool]], *, timeout: float = 60) -> None:
        """Run a procrastinate worker (polling often: retries are due within the second)
        until `done()`."""
        await queue.open_queue(self.settings)
        worker = asyncio.create_task(
            queue.app.run_worker_async(
                concurrency=4, install_signal_handlers=False, fetch_job_polling_interval=0.02,
                wait=True, name="h6-test",
            )
        )  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while not await done():
                assert not worker.done(), worker
                assert time.monotonic() < deadline, "the jobs did not finish in time"
                await asyncio.sleep(0.05)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            await queue.close_queue()


@contextlib.asynccontextmanager
async def live_app(settings: Settings) -> AsyncIterator[Live]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Live(http, settings)
    finally:
        await app.state.engine.dispose()
        services.install(None)


async def scalar(sql: str, **params: Any) -> Any:
    async with services.transaction() as session:
        return await session.scalar(text(sql), params)


async def test_a_worker_retries_a_failed_compose_until_the_ban_answers(
    committed_database: str, tmp_path: Path, ban: Endpoint, chat: Endpoint,
    smtp_server: tuple[Inbox, int], bal_31591: bytes,
) -> None:  # fmt: skip
    settings = after_publish_settings(
        committed_database, tmp_path / "home", ban_url=ban.url, chat_url=chat.url,
        smtp_port=smtp_server[1], retry_delays=[0.1, 0.2, 0.4],
    )  # fmt: skip
    settings = settings.model_copy(update={"dropzone": settings.dropzone.model_copy(
        update={"enabled": False})})  # fmt: skip
    async with live_app(settings) as live:
        parties = await live.parties()
        ban.plan = [503, 500]  # twice down, then up
        chat.plan = [502]
        revision = await published(live.api, parties.chef, bal_31591)

        async def composed() -> bool:
            found = await scalar("SELECT revision_id FROM depot_ban_compose")
            sent = await scalar("SELECT count(*) FROM depot_publish_notice")
            return bool(found == revision["id"] and sent == 1)

        await live.work_until(composed)
        job = await scalar(
            "SELECT attempts || ' ' || status FROM procrastinate_jobs"
            " WHERE task_name = 'depot:compose_commune'"
        )
    assert job == "3 succeeded"  # one job: two failed runs retried, the third acknowledged
    assert [call.path for call in ban.received] == ["/ban/communes/31591/compose"] * 3
    assert len(chat.received) == 2  # one failure, one message
