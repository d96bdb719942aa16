"""structlog setup: key-value events, JSON off a terminal, secrets redacted, request ids bound."""

from __future__ import annotations

import logging
import logging.config
import re
import sys
import traceback
from collections.abc import MutableMapping
from typing import Any

import structlog

from guichet.core.config import LogSettings

# Any event key that looks like it carries a credential is masked, whatever the caller passed:
# a last line of defence, the first being not to log such values at all.
_SECRET_KEY = re.compile(r"(authorization|token|password|passwd|secret|api_?key|cookie)", re.I)
_MASK = "***"

_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event_dict.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate of the message
    for key in event_dict:
        if key != "event" and _SECRET_KEY.search(key):
            event_dict[key] = _MASK
    return event_dict


def redact_database_errors(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A database error is logged with its traceback and SQLSTATE but not its message:
    PostgreSQL's own text quotes values ("Key (email)=(…) already exists", "invalid input
    syntax for type integer: …"), which are partners' records. Also when it is the cause or
    context of the exception logged."""
    error = _exception(event_dict.get("exc_info"))
    if error is None:
        return event_dict
    chain = _chain(error)
    if not any(_is_database_error(link) for link in chain):
        return event_dict
    del event_dict["exc_info"]
    event_dict["exception"] = "".join(_format(link, index) for index, link in enumerate(chain))
    return event_dict


def _chain(error: BaseException) -> list[BaseException]:
    """The exception and those it came from, oldest first (as tracebacks print them)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return chain[::-1]


def _format(error: BaseException, index: int) -> str:
    separator = ""
    if index:
        separator = "\nThe above exception led to the following one:\n\n"
    kind = f"{type(error).__module__}.{type(error).__qualname__}"
    if _is_database_error(error):
        code = getattr(getattr(error, "orig", error), "sqlstate", None)
        last = f"{kind}: message hidden (SQLSTATE {code})"
    else:
        last = "".join(traceback.format_exception_only(type(error), error)).rstrip()
    frames = "".join(traceback.format_tb(error.__traceback__))
    return f"{separator}Traceback (most recent call last):\n{frames}{last}\n"


def _exception(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if exc_info is True:
        return sys.exc_info()[1]
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        found: BaseException | None = exc_info[1]
        return found
    return None


def _is_database_error(error: BaseException) -> bool:
    # By module, not by class: logging is set up before (and without) the database drivers.
    return type(error).__module__.split(".")[0] in {"sqlalchemy", "psycopg", "asyncpg"} and any(
        klass.__name__ in {"DBAPIError", "Error"} for klass in type(error).__mro__
    )


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at emit time (test runners swap it per test)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def uses_json(settings: LogSettings) -> bool:
    """JSON lines (`format=json`, or `auto` off a terminal), else the console renderer."""
    if settings.format == "auto":
        return not sys.stderr.isatty()
    return settings.format == "json"


def configure_logging(settings: LogSettings) -> None:
    """Route structlog and the stdlib (uvicorn, procrastinate, alembic) through one renderer."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if uses_json(settings)
        # Plain tracebacks: rich's pretty ones print local variables (tokens, passwords) and
        # take seconds to render.
        else structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    )
    pre_chain = [
        *_SHARED_PROCESSORS,
        structlog.stdlib.ExtraAdder(),
        redact_secrets,
        redact_database_errors,
    ]
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "structlog": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "processors": [
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info,
                        renderer,
                    ],
                    "foreign_pre_chain": pre_chain,
                }
            },
            "handlers": {"default": {"()": StderrHandler, "formatter": "structlog"}},
            "root": {"handlers": ["default"], "level": settings.level},
            "loggers": {
                # The request middleware logs one `http.request` event per request instead.
                "uvicorn.access": {"level": "WARNING"},
                "uvicorn.error": {"level": settings.level},
                # procrastinate is chatty at INFO (one line per poll); its warnings matter.
                "procrastinate": {
                    "level": "WARNING" if settings.level == "INFO" else settings.level
                },
                # httpx logs every request at INFO ("GET http://127.0.0.1:9033 "403 Forbidden""
                # while SeaweedFS starts): noise that reads as an error, and URLs may carry
                # tokens. Guichet logs its own outgoing calls where they matter.
                "httpx": {"level": "WARNING" if settings.level == "INFO" else settings.level},
                "httpcore": {"level": "WARNING" if settings.level == "INFO" else settings.level},
            },
        }
    )
    structlog.configure(
        processors=[
            # First: an event below the level is dropped before the other processors run (they
            # cost tens of microseconds per event, and the drop zone logs several per file).
            structlog.stdlib.filter_by_level,
            *_SHARED_PROCESSORS,
            structlog.processors.StackInfoRenderer(),
            redact_secrets,
            redact_database_errors,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
