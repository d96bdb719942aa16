"""Structured logs: JSON events with the request id; secrets masked."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from guichet.core.config import LogSettings, Settings
from guichet.core.db import create_engine
from guichet.core.logging import configure_logging, get_logger, redact_secrets


@contextlib.contextmanager
def json_logs() -> Iterator[None]:
    configure_logging(LogSettings(format="json"))
    try:
        yield
    finally:
        configure_logging(LogSettings(format="console"))


def events(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


class TestRedaction:
    def test_secret_keys_are_masked(self) -> None:
        event = {"event": "x", "token": "a", "Authorization": "b", "smtp_password": "c", "n": 1}
        assert redact_secrets(None, "info", event) == {
            "event": "x", "token": "***", "Authorization": "***", "smtp_password": "***", "n": 1
        }  # fmt: skip

    def test_json_output_masks_secrets(self, capsys: pytest.CaptureFixture[str]) -> None:
        with json_logs():
            get_logger("test").info("login", api_key="sekret", user="u1")
        [event] = events(capsys.readouterr().err)
        assert event["api_key"] == "***" and event["user"] == "u1"


class TestRequestLog:
    async def test_one_event_per_request_with_its_id(
        self, capsys: pytest.CaptureFixture[str], client: httpx.AsyncClient
    ) -> None:
        structlog.contextvars.clear_contextvars()
        with json_logs():
            await client.get("/nowhere?token=secret", headers={"X-Request-ID": "req-42"})
        [event] = [e for e in events(capsys.readouterr().err) if e["event"] == "http.request"]
        assert event["request_id"] == "req-42"
        assert event["status"] == 404 and event["path"] == "/nowhere"
        assert "secret" not in json.dumps(event)


async def test_database_errors_do_not_carry_parameters(settings: Settings) -> None:
    """A failed statement's exception (logged with its traceback) names no bound value."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as raised:
                await connection.execute(
                    text("SELECT CAST(:value AS text), 1 / 0"),
                    {"value": "claire.martin@example.org"},
                )
    finally:
        await engine.dispose()
    assert "claire.martin" not in str(raised.value)
    assert "parameters hidden" in str(raised.value)


async def test_database_error_messages_stay_out_of_the_logs(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """PostgreSQL's own message quotes the value: the log keeps the traceback and the SQLSTATE,
    for our events and for the stdlib loggers of libraries alike."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            with json_logs():
                try:
                    await connection.execute(
                        text("SELECT CAST(:value AS integer)"), {"value": "claire@example.org"}
                    )
                except DBAPIError:
                    get_logger("test").exception("entry_failed", entry=3)
                    logging.getLogger("procrastinate.test").exception("job failed")
    finally:
        await engine.dispose()
    logged = events(capsys.readouterr().err)
    assert [event["event"] for event in logged] == ["entry_failed", "job failed"]
    for event in logged:
        assert "claire" not in json.dumps(event)
        assert "SQLSTATE 22P02" in event["exception"]
        assert "test_database_error_messages_stay_out_of_the_logs" in event["exception"]
    assert logged[0]["entry"] == 3


def test_other_errors_keep_their_message(capsys: pytest.CaptureFixture[str]) -> None:
    with json_logs():
        try:
            raise ValueError("a plain bug")
        except ValueError:
            get_logger("test").exception("failed")
    [event] = events(capsys.readouterr().err)
    assert "ValueError: a plain bug" in event["exception"]


async def test_a_database_error_behind_another_is_hidden_too(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            with json_logs():
                try:
                    try:
                        await connection.execute(
                            text("SELECT CAST(:value AS integer)"), {"value": "paul@example.org"}
                        )
                    except DBAPIError as exc:
                        raise RuntimeError("integration failed") from exc
                except RuntimeError:
                    get_logger("test").exception("file_failed")
    finally:
        await engine.dispose()
    [event] = events(capsys.readouterr().err)
    assert "paul" not in json.dumps(event)
    assert "SQLSTATE 22P02" in event["exception"]
    assert "RuntimeError: integration failed" in event["exception"]
