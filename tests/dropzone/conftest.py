"""Fixtures of the drop-zone tests: our own embedded SeaweedFS (the `EmbeddedSeaweed` under test,
session-scoped, free ports), settings pointed at it, partners with provisioned buckets, and a
runner for the jobs deferred in the test's transaction."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from guichet.core.config import DropzoneSettings, Settings
from guichet.partners import registry as partners
from guichet.partners.dropzone import backends, provisioning, tasks
from guichet.runtime.seaweedfs import EmbeddedSeaweed
from tests.conftest import make_settings

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
CLIENT_CONFIG = Config(
    s3={"addressing_style": "path"},
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
    retries={"max_attempts": 1},
)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedSeaweed]:
    home = tmp_path_factory.mktemp("dropzone-seaweed")
    server = EmbeddedSeaweed(home, DropzoneSettings(seaweedfs={"s3_port": 0}))  # type: ignore[arg-type]
    try:
        backends.weed_binary()
    except backends.BackendUnavailable:
        pytest.skip("SeaweedFS (`weed`) is not installed")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, seaweed: EmbeddedSeaweed) -> Settings:
    base = make_settings(database_url, tmp_path / "home", admin_token=ADMIN_TOKEN)
    return seaweed.apply(base)


def s3_client(endpoint: str, key: str, secret: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=CLIENT_CONFIG,
    )


PartnerFactory = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def new_partner(session: AsyncSession, settings: Settings, app: Any) -> PartnerFactory:
    """`await new_partner("acme")` → {partner_id, api_key, bucket, client (its write-only S3)}."""

    async def create(
        partner_id: str, emails: tuple[str, ...] = ("ops@acme.test",)
    ) -> dict[str, Any]:
        partner, api_key = await partners.create(
            session, partner_id=partner_id, contact_emails=list(emails)
        )
        done = await provisioning.provision(session, backends.current(), settings.dropzone, partner)
        await session.commit()
        return {
            "partner_id": partner_id,
            "api_key": api_key,
            "bucket": done.bucket.bucket,
            "access_key_id": done.credentials.access_key_id,
            "secret": done.credentials.secret_access_key,
            "client": s3_client(
                str(settings.dropzone.endpoint_url),
                done.credentials.access_key_id,
                done.credentials.secret_access_key,
            ),
        }

    return create


def service_client(settings: Settings) -> Any:
    secret = settings.dropzone.secret_access_key
    assert secret is not None and settings.dropzone.access_key_id
    return s3_client(
        str(settings.dropzone.endpoint_url),
        settings.dropzone.access_key_id,
        secret.get_secret_value(),
    )


_TASKS = {
    "dropzone:drain_bucket": tasks.drain_bucket,
    "dropzone:mail_objects": tasks.mail_objects,
    "dropzone:archive_objects": tasks.archive_objects,
}


@pytest.fixture
def run_jobs(connection: AsyncConnection) -> Callable[[], Awaitable[dict[str, int]]]:
    """Run the drop-zone jobs waiting in the test's transaction, as a worker would, until none
    is left; returns how many of each task ran."""

    async def run() -> dict[str, int]:
        ran: dict[str, int] = {}
        while True:
            row = (
                await connection.execute(
                    text(
                        "SELECT id, task_name, args FROM procrastinate_jobs"
                        " WHERE status = 'todo' AND task_name LIKE 'dropzone:%'"
                        " ORDER BY id LIMIT 1"
                    )
                )
            ).first()
            if row is None:
                return ran
            await connection.execute(
                text("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = :id"),
                {"id": row.id},
            )
            await _TASKS[row.task_name](**row.args)
            await connection.execute(
                text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = :id"),
                {"id": row.id},
            )
            ran[row.task_name] = ran.get(row.task_name, 0) + 1

    return run


def loader_body(partner: dict[str, Any], **sections: Any) -> bytes:
    document = {
        "inigPtynm": partner["partner_id"],
        "apiKey": partner["api_key"],
        "creDtTm": "2026-01-15T10:30:00+01:00",
        "versionId": "2.0",
        **sections,
    }
    return json.dumps(document).encode()
