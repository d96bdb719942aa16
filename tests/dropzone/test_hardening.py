"""Drop-zone hardening (issue #11): keys no S3 client can name are rejected once, by e-mail;
stored sources never keep the partner's apiKey; provisioning cleans up after itself and answers
409 on a colliding bucket name; partner keys cannot touch the service's own objects."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import botocore.exceptions
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core import storage
from guichet.core.config import Settings
from guichet.loader._report import MAX_REPORTED_ERRORS
from guichet.partners import registry as partners
from guichet.partners.dropzone import backends, provisioning, tasks
from tests.dropzone.conftest import (
    ADMIN_TOKEN,
    PartnerFactory,
    loader_body,
    s3_client,
    service_client,
)
from tests.loader import factories as f

Runner = Callable[[], Awaitable[dict[str, int]]]
ADMIN = "/admin/dropzone"
ADMIN_H = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def put(partner: dict[str, Any], key: str, body: bytes) -> str:
    response = partner["client"].put_object(
        Bucket=partner["bucket"], Key=key, Body=body, ContentType="application/json"
    )
    return str(response["ETag"]).strip('"')


class TestUnreadableKeys:
    @pytest.mark.parametrize(
        ("name", "key"),
        [("lf", "bad\nname.json"), ("cr", "bad\rname.json"), ("tab", "bad\tx.json")],
    )
    async def test_rejected_by_mail_once_and_never_retried(
        self,
        name: str,
        key: str,
        new_partner: PartnerFactory,
        session: AsyncSession,
        run_jobs: Runner,
        outbox: Callable[[], list[EmailMessage]],
    ) -> None:
        p = await new_partner(f"ctl-{name}")  # SeaweedFS outlives a test: one bucket each
        put(p, key, loader_body(p, properties=[f.property_("P1")]))
        assert (await tasks.sweep())["registered"] == 1
        await run_jobs()
        row = (
            await session.execute(
                text("SELECT status, result, attempts, mail_status FROM dropzone_object")
            )
        ).one()
        assert tuple(row) == ("done", "REJECTED", 1, "sent")
        mails = outbox()
        assert len(mails) == 1
        assert str(mails[0]["Subject"]).endswith(" : REJECTED")
        body = mails[0].get_body(("plain",))
        assert body is not None
        assert "caractère de contrôle" in body.get_content()
        # Nothing left to retry, nothing sent twice.
        assert (await tasks.sweep(recovery_age=dt.timedelta(0)))["requeued"] == 0
        assert await run_jobs() == {}
        assert len(outbox()) == 1


class TestApiKeyNotStored:
    async def test_sources_of_processed_and_rejected_files_hold_no_key(
        self, new_partner: PartnerFactory, session: AsyncSession, run_jobs: Runner
    ) -> None:
        p = await new_partner("nokey")
        put(p, "ok.json", loader_body(p, properties=[f.property_("P1")]))
        wrong_partner = json.loads(loader_body(p)) | {"inigPtynm": "someone-else"}
        put(p, "rejected.json", json.dumps(wrong_partner).encode())
        put(p, "broken.json", loader_body(p)[:-1])  # not JSON: rejected unread
        await tasks.sweep()
        await run_jobs()
        rows = (await session.execute(text("SELECT status, source_key FROM loader_run"))).all()
        assert sorted(status for status, _ in rows) == ["REJECTED", "REJECTED", "SUCCESS"]
        for _, source_key in rows:
            stored = await storage.get_bytes(storage.current(), source_key)
            assert p["api_key"].encode() not in stored
            assert b'"apiKey": "[redacted]"' in stored


class TestErrorsCapped:
    async def test_report_mail_and_ledger_hold_the_first_errors_and_counts(
        self,
        new_partner: PartnerFactory,
        session: AsyncSession,
        run_jobs: Runner,
        outbox: Callable[[], list[EmailMessage]],
    ) -> None:
        p = await new_partner("capped")
        invalid = [f.transaction(f"T{n}", "P1", amt="abc") for n in range(1100)]
        put(p, "many.json", loader_body(p, properties=[f.property_("P1")], transactions=invalid))
        await tasks.sweep()
        await run_jobs()
        report = await session.scalar(text("SELECT report FROM dropzone_object"))
        assert len(report["errors"]) == MAX_REPORTED_ERRORS
        assert report["omitted_errors_count"] == 1100 - MAX_REPORTED_ERRORS
        (mail,) = outbox()
        text_part = mail.get_body(("plain",))
        assert text_part is not None
        content = text_part.get_content()
        assert "Premières erreurs (10 sur 1100)" in content
        assert "[transactions] type, champ 'amt' : 100" in content
        (attachment,) = list(mail.iter_attachments())
        attached = json.loads(attachment.get_content())
        assert len(attached["errors"]) == MAX_REPORTED_ERRORS
        assert attached["omitted_errors"][0]["count"] == 100


class TestProvisioning:
    async def test_a_colliding_bucket_name_is_a_409_and_leaves_no_key(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        for partner_id in ("zz_x", "zz-x", "ZZ-X"):
            await partners.create(session, partner_id=partner_id)
        await session.commit()
        first = await client.post(ADMIN + "/partners/zz_x", headers=ADMIN_H)
        assert first.status_code == 201, first.text
        for other in ("zz-x", "ZZ-X"):
            response = await client.post(ADMIN + f"/partners/{other}", headers=ADMIN_H)
            assert response.status_code == 409, response.text
            body = response.json()
            assert body["code"] == "dropzone_bucket_name_taken"
            assert "ql-loader-stg-zz-x" in body["message"] and "« zz_x »" in body["message"]
        backend = backends.current()
        identity = backends.identity_name("ql-loader-stg-zz-x")
        assert await backend.access_keys(identity) == [first.json()["aws_access_key_id"]]
        assert (
            await client.delete(ADMIN + "/partners/zz_x/credentials", headers=ADMIN_H)
        ).is_success
        assert await backend.access_keys(identity) == []

    async def test_keys_of_a_provisioning_that_did_not_commit_do_not_survive(
        self, session: AsyncSession, settings: Settings
    ) -> None:
        backend = backends.current()
        partner, _ = await partners.create(session, partner_id="orphan")
        await session.commit()
        async with session.begin_nested() as savepoint:  # its transaction never commits
            lost = await provisioning.provision(session, backend, settings.dropzone, partner)
            await savepoint.rollback()
        kept = await provisioning.provision(session, backend, settings.dropzone, partner)
        await session.commit()
        identity = kept.bucket.identity
        assert await backend.access_keys(identity) == [kept.credentials.access_key_id]
        lost_client = _client(settings, lost.credentials)
        await _eventually(lambda: _denied(lambda: lost_client.put_object(
            Bucket=kept.bucket.bucket, Key="x.json", Body=b"{}")))  # fmt: skip
        await provisioning.revoke(session, backend, partner)
        assert await backend.access_keys(identity) == []


def _client(settings: Settings, credentials: backends.Credentials) -> Any:
    endpoint = str(settings.dropzone.endpoint_url)
    return s3_client(endpoint, credentials.access_key_id, credentials.secret_access_key)


def _denied(call: Callable[[], Any]) -> None:
    try:
        call()
    except botocore.exceptions.ClientError as error:
        assert error.response["Error"]["Code"] in {"AccessDenied", "InvalidAccessKeyId", "403"}
        return
    raise AssertionError("allowed")


async def _eventually(check: Callable[[], Any], timeout: float = 5.0) -> None:
    """SeaweedFS applies identity changes within about a second."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


class TestServiceObjectsOutOfReach:
    async def test_a_partner_key_cannot_touch_archives_nor_reports(
        self,
        new_partner: PartnerFactory,
        session: AsyncSession,
        settings: Settings,
        run_jobs: Runner,
    ) -> None:
        p = await new_partner("reach")
        put(p, "ok.json", loader_body(p, properties=[f.property_("P1")]))
        put(p, "bad.json", b"{")
        await tasks.sweep()
        await run_jobs()
        service = service_client(settings)
        # Before: archives in the partner's bucket; now in the service's, under its name.
        places = [(p["bucket"], ""), (backends.archive_bucket_name(settings.dropzone), p["bucket"])]
        archived = sorted(
            (bucket, item["Key"])
            for bucket, prefix in places
            for item in service.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
            if item["Key"] not in ("ok.json", "bad.json")
        )
        assert len(archived) == 4  # two files, two reports
        client = p["client"]
        for bucket, key in archived:
            # Wherever they are, the partner's key can neither delete nor replace them.
            with contextlib.suppress(botocore.exceptions.ClientError):
                client.delete_object(Bucket=bucket, Key=key)
            with contextlib.suppress(botocore.exceptions.ClientError):
                client.put_object(Bucket=bucket, Key=key, Body=b"forged")
            assert service.get_object(Bucket=bucket, Key=key)["Body"].read() != b"forged"
        # The archived source is the stored one: no apiKey in clear there either.
        (ok,) = [key for _, key in archived if "/success/" in key]
        copy = service.get_object(Bucket=archived[0][0], Key=ok)["Body"].read()
        assert p["api_key"].encode() not in copy and b"[redacted]" in copy
