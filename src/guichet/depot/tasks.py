"""Jobs of the publication API: what follows a publish (BAN compose, team chat, takeover
e-mail, webhook deliveries), the periodic compose reconciliation and the reminders before a
habilitation expires.

All are deferred in the publish's own transaction (`after_publish.schedule`): a publish that
rolls back leaves no job, one that commits always has its jobs. Each is idempotent (a job run
twice after a crash sends nothing twice: see `compose.send`, `notifications`, `webhooks.deliver`)
and retried with the growing delays of the settings on the failures that may heal (5xx,
timeouts, connection errors); a refusal (4xx) is final.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from procrastinate import Blueprint, JobContext
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from procrastinate.tasks import Task
from procrastinate.types import JSONValue
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core import queue, services
from guichet.core.logging import get_logger
from guichet.depot import compose, habilitation_reminders, notifications, webhooks

log = get_logger(__name__)

blueprint = Blueprint()

# Communes composed again per reconciliation run: a backlog (a long BAN outage) is spread
# over several runs instead of one burst.
RECONCILE_BATCH = 500


class Backoff(BaseRetryStrategy):
    """Retry the listed exceptions after the delays read from the settings when the job fails
    (so an operator, or a test, changes them without code): `delays[n]` seconds after the
    n-th failure, then give up."""

    def __init__(
        self,
        delays: Callable[[], Sequence[float]],
        exceptions: tuple[type[BaseException], ...],
    ) -> None:
        self.delays = delays
        self.exceptions = exceptions

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if not isinstance(exception, self.exceptions):
            return None
        delays = self.delays()
        if job.attempts >= len(delays):
            return None
        # retry_at rather than retry_in: delays may be fractions of a second (tests).
        when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delays[job.attempts])
        return RetryDecision(retry_at=when)


def _notification_delays() -> Sequence[float]:
    return services.current().settings.notifications.retry_delays


def _webhook_delays() -> Sequence[float]:
    return services.current().settings.notifications.webhooks.retry_delays


AFTER_PUBLISH_RETRY = Backoff(
    _notification_delays, (compose.ComposeFailed, notifications.NoticeFailed)
)
WEBHOOK_RETRY = Backoff(_webhook_delays, (webhooks.DeliveryFailed,))


@blueprint.task(name="compose_commune", retry=AFTER_PUBLISH_RETRY)
async def compose_commune(code_commune: str) -> None:
    """Tell the BAN the commune's current revision (unless it acknowledged it already)."""
    await compose.send(code_commune)


@blueprint.task(name="notify_chat", retry=AFTER_PUBLISH_RETRY)
async def notify_chat(revision_id: str) -> None:
    await notifications.send_chat(revision_id)


@blueprint.task(name="mail_takeover", retry=AFTER_PUBLISH_RETRY)
async def mail_takeover(revision_id: str, previous_revision_id: str) -> None:
    await notifications.send_takeover(revision_id, previous_revision_id)


@blueprint.task(name="deliver_webhook", retry=WEBHOOK_RETRY, pass_context=True)
async def deliver_webhook(context: JobContext, delivery_id: str) -> None:
    await webhooks.deliver(delivery_id, previous_attempts=context.job.attempts)


@blueprint.periodic(cron="*/5 * * * *")
@blueprint.task(name="reconcile_compose", queueing_lock="depot:reconcile")
async def reconcile_compose(timestamp: int) -> None:
    """Every 5 minutes: compose again what the national base has not acknowledged."""
    await reconcile()


@blueprint.periodic(cron="17 * * * *")
@blueprint.task(name="remind_expiring_habilitations", queueing_lock="depot:reminders")
async def remind_expiring_habilitations(timestamp: int) -> None:
    """Every hour: the reminder e-mail of each habilitation about to expire (with expiry on)."""
    await habilitation_reminders.remind_due()


async def reconcile() -> list[str]:
    """Defer a compose for every current revision the BAN missed; returns their communes."""
    settings = services.current().settings.notifications
    if settings.ban_compose_url is None:
        return []
    async with services.transaction() as session:
        codes = await compose.missed(session, grace=settings.reconcile_grace, limit=RECONCILE_BATCH)
        for code in codes:
            await defer_once(session, compose_commune, None, code_commune=code)
    if codes:
        log.warning("depot.ban_compose_reconciled", count=len(codes), codes=codes[:20])
    return codes


async def defer_once(
    session: AsyncSession, task: Task[..., Any, ...], lock: str | None, **kwargs: JSONValue
) -> None:
    """Defer in the caller's transaction; a job already waiting under `lock` does the work."""
    with contextlib.suppress(AlreadyEnqueued):
        await queue.defer(session, task, queueing_lock=lock, **kwargs)  # type: ignore[arg-type]
