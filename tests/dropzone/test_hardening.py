"""Drop-zone hardening (issue #11): keys no S3 client can name are rejected once, by e-mail;
stored sources never keep the partner's apiKey; provisioning cleans up after itself and answers
409 on a colliding bucket name; partner keys cannot touch the service's own objects."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core import storage
from guichet.partners.dropzone import tasks
from tests.dropzone.conftest import PartnerFactory, loader_body
from tests.loader import factories as f

Runner = Callable[[], Awaitable[dict[str, int]]]


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
