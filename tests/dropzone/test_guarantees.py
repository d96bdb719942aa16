"""The drop zone's guarantees on a real SeaweedFS: write-only keys, and every object version
processed, integrated and e-mailed once whatever the events do (duplicated, reordered, lost)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import botocore.exceptions
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.config import Settings
from guichet.partners import registry as partners
from guichet.partners.dropzone import backends, events, provisioning, tasks
from guichet.partners.dropzone.ledger import Sighting
from guichet.partners.dropzone.models import Source
from tests.conftest import replace_services
from tests.dropzone.conftest import ADMIN_TOKEN, PartnerFactory, loader_body, service_client
from tests.loader import factories as f

Runner = Callable[[], Awaitable[dict[str, int]]]


def denied(call: Callable[[], Any]) -> bool:
    try:
        call()
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"] in {"AccessDenied", "InvalidAccessKeyId", "403"}
    return False


def put(partner: dict[str, Any], key: str, body: bytes) -> str:
    response = partner["client"].put_object(
        Bucket=partner["bucket"], Key=key, Body=body, ContentType="application/json"
    )
    return str(response["ETag"]).strip('"')


async def counts(session: AsyncSession) -> dict[str, int]:
    row = (
        await session.execute(
            text(
                "SELECT (SELECT count(*) FROM dropzone_object) AS objects,"
                " (SELECT count(*) FROM loader_run WHERE channel = 's3') AS runs,"
                " (SELECT count(*) FROM loader_record) AS records"
            )
        )
    ).one()
    return dict(row._mapping)


class TestIsolation:
    async def test_a_key_writes_only_into_its_own_bucket(
        self, new_partner: PartnerFactory, settings: Settings
    ) -> None:
        a, b = await new_partner("iso-a"), await new_partner("iso-b")
        assert a["bucket"] == "ql-loader-stg-iso-a"
        client = a["client"]
        put(a, "loader-1.json", b"{}")  # own bucket: allowed
        put(b, "loader-1.json", b"{}")
        assert denied(lambda: client.put_object(Bucket=b["bucket"], Key="x.json", Body=b"{}"))
        assert denied(lambda: client.get_object(Bucket=b["bucket"], Key="loader-1.json"))
        assert denied(lambda: client.list_objects_v2(Bucket=b["bucket"]))
        assert denied(lambda: client.get_object(Bucket=a["bucket"], Key="loader-1.json"))
        assert denied(lambda: client.list_objects_v2(Bucket=a["bucket"]))
        assert denied(lambda: client.create_bucket(Bucket="ql-loader-stg-iso-c"))
        assert client.list_buckets().get("Buckets", []) == []

    async def test_rotation_and_revocation(
        self, new_partner: PartnerFactory, session: AsyncSession, settings: Settings
    ) -> None:
        a = await new_partner("iso-rot")
        partner = await partners.get(session, "iso-rot")
        rotated = await provisioning.rotate(session, backends.current(), settings.dropzone, partner)
        new = {**a, "client": _client(settings, rotated.credentials)}
        await _eventually(lambda: put(new, "after-rotation.json", b"{}"))
        await _eventually(lambda: _assert(denied(lambda: put(a, "old-key.json", b"{}"))))
        await provisioning.revoke(session, backends.current(), partner)
        await _eventually(lambda: _assert(denied(lambda: put(new, "revoked.json", b"{}"))))


def _client(settings: Settings, credentials: backends.Credentials) -> Any:
    from tests.dropzone.conftest import s3_client

    endpoint = str(settings.dropzone.endpoint_url)
    return s3_client(endpoint, credentials.access_key_id, credentials.secret_access_key)


def _assert(condition: bool) -> None:
    assert condition


async def _eventually(check: Callable[[], Any], timeout: float = 5.0) -> None:
    """SeaweedFS applies identity changes within about a second."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            check()
            return
        except (AssertionError, botocore.exceptions.ClientError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


class TestOncePerObjectVersion:
    async def test_events_thrice_out_of_order_then_sweep(
        self,
        new_partner: PartnerFactory,
        session: AsyncSession,
        run_jobs: Runner,
        outbox: Callable[[], list[EmailMessage]],
    ) -> None:
        p = await new_partner("once", emails=("a@once.test", "b@once.test"))
        keys = [f"loader-{n}.json" for n in range(3)]
        etags = [
            put(p, key, loader_body(p, properties=[f.property_(f"P{n}")]))
            for n, key in enumerate(keys)
        ]
        put(p, "success/old.json", b"{}")  # our own prefixes are never taken as new files
        put(p, "reports/x.json", b"{}")
        sightings = [Sighting(p["bucket"], k, e) for k, e in zip(keys, etags, strict=True)]
        # Each event three times, newest first, interleaved; then a sweep on top.
        for _ in range(3):
            for sighting in reversed(sightings):
                await tasks.record_sightings(session, [sighting], Source.EVENT)
                await session.commit()
        assert (await tasks.sweep())["registered"] == 0
        ran = await run_jobs()  # one drain (one waiting job per bucket), its e-mail and archive
        assert ran == {
            "dropzone:drain_bucket": 1,
            "dropzone:mail_objects": 1,
            "dropzone:archive_objects": 1,
        }
        assert await counts(session) == {"objects": 3, "runs": 3, "records": 3}
        mails = outbox()
        assert len(mails) == 3
        assert sorted(str(m["Subject"]) for m in mails) == [
            f"[Guichet loader][stg] {key} : SUCCESS" for key in keys
        ]
        # Delivered again later (at-least-once): nothing more happens.
        for sighting in sightings:
            await tasks.record_sightings(session, [sighting], Source.EVENT)
        assert (await tasks.sweep())["registered"] == 0
        assert await run_jobs() == {}
        assert len(outbox()) == 3

    async def test_one_waiting_drain_per_bucket_and_priorities(
        self, new_partner: PartnerFactory, session: AsyncSession
    ) -> None:
        p = await new_partner("requeue")
        put(p, "a.json", loader_body(p))
        put(p, "b.json", loader_body(p))
        assert (await tasks.sweep())["registered"] == 2
        # A drain waits already: waking the bucket again adds nothing, without breaking the
        # transaction; once it has started, a new one can wait.
        assert await tasks.wake(session, [p["bucket"]]) == 0
        await session.execute(
            text("DELETE FROM procrastinate_jobs WHERE queueing_lock = :lock"),
            {"lock": tasks.drain_lock(p["bucket"])},
        )
        assert await tasks.wake(session, [p["bucket"]]) == 1
        await tasks.drain_bucket(p["bucket"])
        jobs = (
            await session.execute(
                text(
                    "SELECT task_name, priority, args FROM procrastinate_jobs"
                    " WHERE task_name LIKE 'dropzone:%' ORDER BY id"
                )
            )
        ).all()
        ids = list(
            (await session.execute(text("SELECT id FROM dropzone_object ORDER BY id"))).scalars()
        )
        # One batch: one e-mail job (before any other work) and one archive job (after).
        assert [tuple(row) for row in jobs] == [
            ("dropzone:drain_bucket", tasks.DRAIN_PRIORITY, {"bucket": p["bucket"]}),
            ("dropzone:mail_objects", tasks.MAIL_PRIORITY, {"object_ids": ids}),
            ("dropzone:archive_objects", tasks.ARCHIVE_PRIORITY, {"object_ids": ids}),
        ]
        assert tasks.MAIL_PRIORITY > tasks.DRAIN_PRIORITY > tasks.ARCHIVE_PRIORITY

    async def test_no_event_at_all_the_sweep_finds_everything(
        self,
        new_partner: PartnerFactory,
        session: AsyncSession,
        run_jobs: Runner,
        outbox: Callable[[], list[EmailMessage]],
        settings: Settings,
    ) -> None:
        p = await new_partner("sweeponly")
        put(p, "a.json", loader_body(p, properties=[f.property_("P1")]))
        put(p, "nested/b.json", loader_body(p, properties=[f.property_("P1")]))  # same id
        put(p, "notes.txt", b"hello")
        assert (await tasks.sweep())["registered"] == 3
        assert (await tasks.sweep())["registered"] == 0
        await run_jobs()
        assert await counts(session) == {"objects": 3, "runs": 3, "records": 1}
        subjects = sorted(str(m["Subject"]).rsplit(" : ", 1)[1] for m in outbox())
        assert subjects == ["REJECTED", "SUCCESS", "SUCCESS"]
        # Archives and reports are in the service's own bucket, under the partner's bucket name.
        archives = backends.archive_bucket_name(settings.dropzone)
        listed = service_client(settings).list_objects_v2(Bucket=archives, Prefix=p["bucket"])
        names = sorted(o["Key"].split("/")[1] for o in listed["Contents"])
        assert names.count("success") == 2 and names.count("failure") == 1
        assert names.count("reports") == 3
        inbound = service_client(settings).list_objects_v2(Bucket=p["bucket"])["Contents"]
        assert sorted(o["Key"] for o in inbound) == ["a.json", "nested/b.json", "notes.txt"]
        assert (await tasks.sweep())["registered"] == 0  # archives are not new files

    async def test_a_new_version_of_a_key_is_a_new_file(
        self, new_partner: PartnerFactory, session: AsyncSession, run_jobs: Runner
    ) -> None:
        p = await new_partner("versions")
        put(p, "same.json", loader_body(p, properties=[f.property_("P1")]))
        await tasks.sweep()
        put(p, "same.json", loader_body(p, properties=[f.property_("P2")]))
        await tasks.sweep()
        await run_jobs()
        # The first version was overwritten before it was read: gone, the second processed.
        statuses = (
            await session.execute(text("SELECT status FROM dropzone_object ORDER BY id"))
        ).scalars()
        assert list(statuses) == ["gone", "done"]
        assert (await counts(session))["records"] == 1


class TestChecks:
    @pytest.mark.parametrize(
        ("change", "fragment"),
        [
            ({"inigPtynm": "someone-else"}, "n'est pas le partenaire du bucket"),
            ({"apiKey": "wrong-key-wrong-key-wrong-key-00"}, "apiKey"),
            ({"versionId": "1.0"}, "versionId"),
            ({"creDtTm": "2026-01-15T10:30:00"}, "sans fuseau horaire"),
        ],
    )
    async def test_header_rejections(
        self,
        new_partner: PartnerFactory,
        session: AsyncSession,
        run_jobs: Runner,
        outbox: Callable[[], list[EmailMessage]],
        change: dict[str, str],
        fragment: str,
    ) -> None:
        p = await new_partner("checks")
        document = json.loads(loader_body(p, properties=[f.property_("P1")]))
        document.update(change)
        put(p, "bad.json", json.dumps(document).encode())
        await tasks.sweep()
        await run_jobs()
        (mail,) = outbox()
        assert str(mail["Subject"]).endswith(": REJECTED")
        body = mail.get_body(("plain",))
        assert body is not None and fragment in body.get_content()
        attachment = next(iter(mail.iter_attachments()))
        assert json.loads(attachment.get_content())["status"] == "KO"
        assert (await counts(session))["records"] == 0

    async def test_partial_success_mail_lists_errors(
        self,
        new_partner: PartnerFactory,
        run_jobs: Runner,
        outbox: Callable[[], list[EmailMessage]],
    ) -> None:
        p = await new_partner("partial")
        body = loader_body(
            p,
            properties=[f.property_("P1")],
            transactions=[f.transaction("T1", "P1"), f.transaction("T2", "NOPE")],
        )
        put(p, "partial.json", body)
        await tasks.sweep()
        await run_jobs()
        (mail,) = outbox()
        assert str(mail["Subject"]) == "[Guichet loader][stg] partial.json : PARTIAL_SUCCESS"
        text_part = mail.get_body(("plain",))
        assert text_part is not None
        content = text_part.get_content()
        assert "transactions : 1 réussi(s), 1 en erreur" in content
        assert "T2" in content
        assert mail["To"] == "ops@acme.test"


class TestMail:
    async def test_smtp_failure_is_retried_without_loss(
        self,
        new_partner: PartnerFactory,
        session: AsyncSession,
        run_jobs: Runner,
        smtp_server: Any,
        settings: Settings,
    ) -> None:
        from guichet.core import mail

        inbox, port = smtp_server
        p = await new_partner("smtp")
        put(p, "a.json", loader_body(p))
        await tasks.sweep()
        replace_services(
            mailer=mail.SmtpMailer(
                settings.smtp.model_copy(
                    update={"host": "127.0.0.1", "port": 1, "security": "none", "timeout": 2}
                )
            )
        )
        with pytest.raises(OSError):
            await run_jobs()
        replace_services(
            mailer=mail.SmtpMailer(
                settings.smtp.model_copy(
                    update={"host": "127.0.0.1", "port": port, "security": "none"}
                )
            )
        )
        await session.execute(
            text("UPDATE procrastinate_jobs SET status = 'todo' WHERE status = 'doing'")
        )
        await run_jobs()
        await run_jobs()
        assert len(inbox.envelopes) == 1
        assert inbox.envelopes[0].rcpt_tos == ["ops@acme.test"]

    async def test_a_failing_archive_does_not_hold_back_the_mail(
        self,
        new_partner: PartnerFactory,
        session: AsyncSession,
        run_jobs: Runner,
        outbox: Callable[[], list[EmailMessage]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        p = await new_partner("archivefail")
        put(p, "a.json", loader_body(p))
        await tasks.sweep()
        backend = backends.current()

        async def broken(bucket: str, key: str, body: bytes, content_type: str) -> None:
            raise OSError("S3 down")

        monkeypatch.setattr(backend, "put", broken)  # archives are written with put
        with pytest.raises(OSError, match="S3 down"):
            await run_jobs()
        assert len(outbox()) == 1  # sent and recorded before the archive failed
        monkeypatch.undo()
        await session.execute(
            text("UPDATE procrastinate_jobs SET status = 'todo' WHERE status = 'doing'")
        )
        assert await run_jobs() == {"dropzone:archive_objects": 1}
        assert len(outbox()) == 1  # the retry archives, and does not send again
        archived = await session.scalar(
            text("SELECT archived_at IS NOT NULL AND mail_status = 'sent' FROM dropzone_object")
        )
        assert archived is True


class TestApi:
    async def test_operators_and_partners_read_runs(
        self,
        new_partner: PartnerFactory,
        run_jobs: Runner,
        client: httpx.AsyncClient,
    ) -> None:
        p = await new_partner("reader")
        other = await new_partner("reader-2")
        put(p, "r.json", loader_body(p, properties=[f.property_("P1")]))
        await tasks.sweep()
        await run_jobs()
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        listed = (await client.get("/admin/dropzone/partners/reader/objects", headers=admin)).json()
        (item,) = listed["items"]
        assert item["result"] == "SUCCESS" and item["mail_status"] == "sent"
        assert item["report"]["total_count"] == 1
        mine = {"X-Partner-Id": "reader", "X-API-Key": p["api_key"]}
        response = await client.get(f"/api/third_party/dropzone/objects/{item['id']}", headers=mine)
        assert response.status_code == 200 and response.json()["report"]["status"] == "SUCCESS"
        theirs = {"X-Partner-Id": "reader-2", "X-API-Key": other["api_key"]}
        response = await client.get(
            f"/api/third_party/dropzone/objects/{item['id']}", headers=theirs
        )
        assert response.status_code == 404
        for too_big in ("99999999999999999999", "9223372036854775808"):
            response = await client.get(
                f"/api/third_party/dropzone/objects/{too_big}", headers=mine
            )
            assert 400 <= response.status_code < 500, response.text
            path = f"/admin/dropzone/partners/reader/objects/{too_big}"
            assert 400 <= (await client.get(path, headers=admin)).status_code < 500
        wrong = {"X-Partner-Id": "reader", "X-API-Key": "nope"}
        response = await client.get("/api/third_party/dropzone/objects", headers=wrong)
        assert response.status_code == 401


class TestMetaEvents:
    def test_parse_stream_and_filter(self) -> None:
        event = {
            "directory": "/buckets/ql-loader-stg-x/in",
            "eventNotification": {
                "newEntry": {
                    "name": "a.json",
                    "isDirectory": False,
                    "attributes": {"fileSize": "7", "mtime": "1795368754", "md5": ""},
                    "extended": {"Seaweed-X-Amz-ETag": "YmI2Yw=="},
                },
                "newParentPath": "/buckets/ql-loader-stg-x/in",
            },
            "tsNs": "1",
        }
        stream = json.dumps(event, indent=2) + "\n" + json.dumps(event)[:40]
        parsed, rest = events.parse_meta_events(stream)
        assert len(parsed) == 1 and rest.startswith("{")
        sighting = events.sighting_from_meta(parsed[0])
        assert sighting is not None
        assert sighting == Sighting("ql-loader-stg-x", "in/a.json", "bb6c", 7, sighting.uploaded_at)
        assert not backends.is_inbound_key("in/.uploads/123/0001_x.part")
        assert not backends.is_inbound_key("failure/20260101_a.json")
