"""Per-process cache of `GET /communes/{code}/current-revision`, kept correct across processes
and machines by PostgreSQL LISTEN/NOTIFY.

    writers   every transaction that changes what the route returns calls `notify_changed`
              (`pg_notify(CHANNEL, code)`, or `ALL` for a client / mandataire / chef de file):
              PostgreSQL delivers it to every listener only if, and when, the transaction
              commits. The committing process also evicts its own entries right after the
              commit (before the response is sent), without waiting for the round trip.
    listener  one autocommit psycopg connection per API process (`Listener`, started by the
              app lifespan) that LISTENs and evicts. While it is not connected (startup,
              connection lost, database restart) the cache is disabled: every request reads
              the database. It is cleared when the listener (re)connects, after LISTEN.
    entries   the rendered body (bytes) of a 200, or "no current revision", per commune code
              (checked against the COG before any lookup, so the keys are a bounded set; the
              report link is built on the configured public URL, never on the request's Host),
              with a short maximum age as a safety net, and at most `max_entries` of them.

A read that overlaps an invalidation is not stored (a generation counter): a response read
before a commit and stored after its notification would otherwise stay until its max age.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from prometheus_client import Counter
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from guichet.core import db
from guichet.core.config import Settings
from guichet.core.logging import get_logger

log = get_logger(__name__)

CHANNEL = "guichet_depot_current_revision"
ALL = "*"  # payload: evict every commune (a client, mandataire or chef de file changed)
_PENDING = "guichet.depot.cache.pending"

LOOKUPS = Counter(
    "guichet_depot_cache_lookups",
    "Lookups of the current-revision response cache, by result (hit, miss, bypass).",
    ["result"],
)
_HIT, _MISS, _BYPASS = (LOOKUPS.labels(r) for r in ("hit", "miss", "bypass"))
NOTIFICATIONS = Counter(
    "guichet_depot_cache_notifications", "Invalidations received by the cache listener."
)


@dataclass(frozen=True, slots=True)
class Entry:
    """A rendered 200 body, or None: the commune has no current revision (404)."""

    body: bytes | None
    stored_at: float


class ResponseCache:
    """Entries per commune code. Not thread-safe (one event loop)."""

    def __init__(self, *, max_age: float, max_entries: int = 100_000) -> None:
        self.max_age = max_age
        self.max_entries = max_entries
        self.enabled = False  # True only while the listener is connected and listening
        self.generation = 0  # bumped by every invalidation
        self._entries: dict[str, Entry] = {}
        # One database read per key at a time: the others wait for it (no herd when a popular
        # entry expires). Dropped on invalidation, so no request joins a read older than it.
        self._loading: dict[str, tuple[int, asyncio.Future[bytes | None]]] = {}
        _caches.add(self)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, code: str) -> Entry | None:
        if not self.enabled:
            _BYPASS.inc()
            return None
        entry = self._entries.get(code)
        if entry is None or time.monotonic() - entry.stored_at > self.max_age:
            _MISS.inc()
            return None
        _HIT.inc()
        return entry

    async def get_or_load(
        self, code: str, load: Callable[[], Awaitable[bytes | None]]
    ) -> bytes | None:
        """The cached body, else `load()` once for all the concurrent requests of the key."""
        entry = self.get(code)
        if entry is not None:
            return entry.body
        if not self.enabled:
            return await load()
        key = code
        loading = self._loading.get(key)
        if loading is not None and loading[0] == self.generation:
            try:
                return await asyncio.shield(loading[1])
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not loading[1].cancelled() or (task is not None and task.cancelling()):
                    raise
                return await load()  # the request that was reading went away: read ourselves
        generation = self.generation
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._loading[key] = (generation, future)
        try:
            body = await load()
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        except BaseException:  # cancelled (client gone, shutdown)
            future.cancel()
            raise
        finally:
            if self._loading.get(key, (None, None))[1] is future:
                del self._loading[key]
        future.set_result(body)
        self.put(code, body, generation)
        return body

    def put(self, code: str, body: bytes | None, generation: int) -> None:
        """Store what was read while `self.generation` was `generation` (else drop it)."""
        if not self.enabled or generation != self.generation:
            return
        if len(self._entries) >= self.max_entries and code not in self._entries:
            self._entries.clear()  # a safety net: the codes of the COG fit many times over
        self._entries[code] = Entry(body, time.monotonic())

    def evict(self, code: str) -> None:
        self.generation += 1
        self._loading.clear()
        if code == ALL:
            self._clear()
        else:
            self._entries.pop(code, None)

    def enable(self) -> None:
        self.generation += 1
        self._clear()
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False
        self.generation += 1
        self._clear()

    def _clear(self) -> None:
        self._entries.clear()
        self._loading.clear()


# Every cache of this process, for the eviction right after a local commit.
_caches: weakref.WeakSet[ResponseCache] = weakref.WeakSet()


async def notify_changed(session: AsyncSession, code: str) -> None:
    """Invalidate `code` (or `ALL`) everywhere once the session's transaction commits."""
    await session.execute(select(func.pg_notify(CHANNEL, code)))
    session.sync_session.info.setdefault(_PENDING, set()).add(code)


@event.listens_for(Session, "after_commit")
def _evict_after_commit(session: Session) -> None:
    codes: set[str] | None = session.info.pop(_PENDING, None)
    if codes:
        for cache in list(_caches):
            for code in codes:
                cache.evict(code)


class Listener:
    """LISTEN on `CHANNEL` with its own autocommit connection, reconnecting forever."""

    def __init__(
        self,
        cache: ResponseCache,
        conninfo: str,
        *,
        retry_seconds: float = 1.0,
        check_seconds: float = 10.0,
    ) -> None:
        self.cache = cache
        self.conninfo = conninfo
        self.retry_seconds = retry_seconds
        self.check_seconds = check_seconds
        self.backend_pid: int | None = None  # of the listening connection, while connected
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="depot-cache-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.cache.disable()

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning("depot.cache.listener_lost", error=f"{type(exc).__name__}: {exc}")
            finally:
                self.cache.disable()
                self.backend_pid = None
            await asyncio.sleep(self.retry_seconds)

    def _on_notify(self, notify: psycopg.Notify) -> None:
        NOTIFICATIONS.inc()
        self.cache.evict(notify.payload)

    async def _listen(self) -> None:
        keepalive: dict[str, Any] = {
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        }
        conn = await psycopg.AsyncConnection.connect(
            self.conninfo, autocommit=True, connect_timeout=10, **keepalive
        )
        async with conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            self.backend_pid = conn.info.backend_pid
            # Only now: whatever commits from here on is notified to this connection.
            self.cache.enable()
            log.info("depot.cache.listening", channel=CHANNEL)
            while True:
                # Those read during the `SELECT 1` below come first (psycopg's backlog).
                async for notify in conn.notifies(timeout=self.check_seconds):
                    self._on_notify(notify)
                # Quiet for a while: make sure the connection is still there.
                async with asyncio.timeout(self.check_seconds):
                    await conn.execute("SELECT 1")


def create_cache(settings: Settings) -> ResponseCache | None:
    """The app's cache (None when GUICHET_DEPOT_CACHE__ENABLED=false): disabled until its
    listener is connected, so an app run without its lifespan always reads the database."""
    if not settings.depot_cache.enabled:
        return None
    return ResponseCache(max_age=settings.depot_cache.max_age)


def start_listener(cache: ResponseCache | None, settings: Settings) -> Listener | None:
    """Called by the app lifespan."""
    if cache is None:
        return None
    listener = Listener(cache, db.libpq_url(settings.sqlalchemy_url))
    listener.start()
    return listener
