"""What a publish sets going, deferred in its own transaction (see `guichet.depot.tasks`): the
BAN compose call, the team-chat message, the takeover e-mail and the webhook deliveries.

The reference ran these inline after a non-transactional publish (the compose not even
awaited): a failure lost them for good, and a slow chat server slowed every publish. Here a
publish only writes rows and jobs; the worker does the calls, retrying what may heal.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core import services
from guichet.depot import notifications, tasks, webhooks
from guichet.depot.models import Client, Revision


async def schedule(
    session: AsyncSession, *, revision: Revision, client: Client, replaced_id: str | None
) -> None:
    """Defer the jobs of a publish (`replaced_id`: the current revision it replaces)."""
    previous = await session.get(Revision, replaced_id) if replaced_id is not None else None
    settings = services.current().settings.notifications
    code = revision.code_commune
    if settings.ban_compose_url is not None:
        await tasks.defer_once(session, tasks.compose_commune, None, code_commune=code)
    if settings.chat_webhook_url is not None:
        await tasks.defer_once(session, tasks.notify_chat, None, revision_id=revision.id)
    if previous is not None:
        previous_client = await session.get(Client, previous.client_id)
        if notifications.is_takeover(previous_client, client):
            await tasks.defer_once(
                session, tasks.mail_takeover, None,
                revision_id=revision.id, previous_revision_id=previous.id,
            )  # fmt: skip
    deliveries = await webhooks.create_deliveries(
        session, revision=revision, client=client, previous=previous
    )
    for delivery_id in deliveries:
        await tasks.defer_once(session, tasks.deliver_webhook, None, delivery_id=delivery_id)
