"""The AWS backend against moto (S3 + IAM + SQS, IAM enforcement on): PutObject-only keys, S3 → SQS
notifications into the ledger (duplicates and the test event ignored)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.config import Settings
from guichet.partners import registry as partners
from guichet.partners.dropzone import backends, events, provisioning, tasks
from tests.conftest import free_port, make_settings
from tests.dropzone.conftest import s3_client

moto_server = pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def moto() -> Iterator[tuple[str, tuple[str, str]]]:
    """A moto server; an admin IAM user (inline `*` policy) created before enforcement."""
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    import boto3

    iam = boto3.client(
        "iam", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    iam.create_user(UserName="guichet-admin")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"}]}  # fmt: skip
    iam.put_user_policy(
        UserName="guichet-admin", PolicyName="all", PolicyDocument=json.dumps(policy)
    )
    key = iam.create_access_key(UserName="guichet-admin")["AccessKey"]
    # Enforcement on (body "0", text/plain: see the drop-zone infrastructure notes).
    httpx.post(f"{url}/moto-api/reset-auth", content=b"0", headers={"Content-Type": "text/plain"})
    try:
        yield url, (key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        server.stop()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, moto: tuple[str, tuple[str, str]]) -> Settings:
    url, (key, secret) = moto
    return make_settings(
        database_url,
        tmp_path / "home",
        dropzone={
            "backend": "aws",
            "env": "prod",
            "endpoint_url": url,
            "region": "eu-west-1",
            "access_key_id": key,
            "secret_access_key": secret,
        },
    )


def denied(call: Any) -> bool:
    try:
        call()
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"] in {"AccessDenied", "403"}
    return False


async def test_put_only_keys_and_sqs_events(
    app: Any, session: AsyncSession, settings: Settings, run_jobs: Any
) -> None:
    backend = backends.current()
    assert isinstance(backend, backends.AwsBackend)
    made = {}
    for name in ("aws-a", "aws-b"):
        partner, api_key = await partners.create(session, partner_id=name, contact_emails=["x@y.z"])
        done = await provisioning.provision(session, backend, settings.dropzone, partner)
        made[name] = (done, api_key)
    await session.commit()
    url = str(settings.dropzone.endpoint_url)
    a, key_a = made["aws-a"]
    b, _ = made["aws-b"]
    assert a.bucket.bucket == "ql-loader-prod-aws-a"
    client = s3_client(url, a.credentials.access_key_id, a.credentials.secret_access_key)
    document = {"inigPtynm": "aws-a", "apiKey": key_a, "creDtTm": "2026-01-15T10:30:00Z",
                "versionId": "2.0", "properties": [], "transactions": []}  # fmt: skip
    body = json.dumps(document).encode()
    client.put_object(Bucket="ql-loader-prod-aws-a", Key="dir/loader 1.json", Body=body)
    assert denied(lambda: client.put_object(Bucket=b.bucket.bucket, Key="x.json", Body=b"{}"))
    assert denied(lambda: client.list_objects_v2(Bucket=a.bucket.bucket))
    assert denied(lambda: client.get_object(Bucket=a.bucket.bucket, Key="dir/loader 1.json"))
    assert denied(lambda: client.list_objects_v2(Bucket=b.bucket.bucket))

    # S3 → SQS: the test events and the created object; the key arrives URL-encoded.
    listener = events.SqsListener(backend, wait_seconds=0)
    received = 0
    for _ in range(5):
        received += await listener.poll_once()
    assert received >= 2  # s3:TestEvent(s) + ObjectCreated
    rows = (await session.execute(text("SELECT bucket, key, source FROM dropzone_object"))).all()
    assert [tuple(r) for r in rows] == [("ql-loader-prod-aws-a", "dir/loader 1.json", "event")]
    assert (await tasks.sweep())["registered"] == 0
    await run_jobs()
    status = await session.scalar(text("SELECT result FROM dropzone_object"))
    assert status == "SUCCESS"

    # The archive copy and the report: in the service's own bucket, out of the key's reach
    # (its policy allows PutObject in its bucket only).
    archives = backends.archive_bucket_name(settings.dropzone)
    listed = backend.s3.list_objects_v2(Bucket=archives)["Contents"]
    keys = sorted(item["Key"] for item in listed)
    assert [key.split("/")[:2] for key in keys] == [
        ["ql-loader-prod-aws-a", "reports"], ["ql-loader-prod-aws-a", "success"]
    ]  # fmt: skip
    for key in keys:
        forge = functools.partial(client.put_object, Bucket=archives, Key=key, Body=b"forged")
        assert denied(forge)
        assert denied(functools.partial(client.delete_object, Bucket=archives, Key=key))

    # Rotation: the old key stops working; revocation: the new one too.
    partner = await partners.get(session, "aws-a")
    rotated = await provisioning.rotate(session, backend, settings.dropzone, partner)
    fresh = s3_client(url, rotated.credentials.access_key_id, rotated.credentials.secret_access_key)
    fresh.put_object(Bucket=a.bucket.bucket, Key="after.json", Body=b"{}")
    with pytest.raises(botocore.exceptions.ClientError):
        client.put_object(Bucket=a.bucket.bucket, Key="old.json", Body=b"{}")
    await provisioning.revoke(session, backend, partner)
    with pytest.raises(botocore.exceptions.ClientError):
        fresh.put_object(Bucket=a.bucket.bucket, Key="revoked.json", Body=b"{}")


async def test_unreadable_event_messages_end_in_the_dead_letter_queue(
    app: Any, settings: Settings
) -> None:
    backend = backends.current()
    assert isinstance(backend, backends.AwsBackend)
    url, _ = await backend.queue()
    dead_url = backend.sqs.get_queue_url(QueueName=f"{settings.dropzone.sqs_queue_name}-dead")
    # Received messages become visible again at once (instead of 30 s later).
    backend.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})
    backend.sqs.purge_queue(QueueUrl=url)  # the previous test's events
    backend.sqs.send_message(QueueUrl=url, MessageBody="not json at all")
    listener = events.SqsListener(backend, wait_seconds=0)
    received = [await listener.poll_once() for _ in range(backends.MAX_RECEIVES + 2)]
    assert received[: backends.MAX_RECEIVES] == [1] * backends.MAX_RECEIVES  # never deleted
    assert received[-1] == 0  # then moved away
    dead = backend.sqs.receive_message(QueueUrl=dead_url["QueueUrl"], WaitTimeSeconds=0)
    assert [m["Body"] for m in dead.get("Messages", [])] == ["not json at all"]
