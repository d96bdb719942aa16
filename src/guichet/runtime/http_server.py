"""The HTTP server of `guichet serve`: uvicorn, with limits enforced below the app.

uvicorn's httptools protocol bounds neither the size nor the number of a request's headers, nor
the time taken to send them, nor the pauses inside a body: httptools joins the pieces of a header
value by concatenation (quadratic), so one 64 MiB header held the event loop, and every other
client, for seconds, and a client sending nothing kept its connection forever.
`LimitedHttpProtocol` adds, for every route and before any route runs (`Settings.http`):

    max_header_bytes   request line + headers; beyond: 431, connection closed
    max_headers        header lines; beyond: 431, connection closed
    header_timeout     from the connection's opening (or a request's first byte) to its last
                       header line; then: 408, connection closed
    body_idle_timeout  longest silence inside a body while the server waits for it; then: 408
                       (or just closed once a response has started), and the route sees the
                       client disconnect

A pause the server causes itself (reading paused because the route does not consume the body
yet) never counts against the client.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from guichet.core.config import HttpSettings, Settings


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration plus Guichet's limits; picklable, so the processes of
    `serve --workers N` (spawned by uvicorn's supervisor) get the same limits."""

    def __init__(self, app: Any, *, limits: HttpSettings, **kwargs: Any) -> None:
        super().__init__(app, http=LimitedHttpProtocol, **kwargs)
        self.limits = limits


def server_config(app: Any, settings: Settings, **kwargs: Any) -> ServerConfig:
    """The configuration `guichet serve` runs uvicorn with (`app`: an ASGI app, or an import
    string with `factory=True, workers=N`)."""
    return ServerConfig(
        app,
        limits=settings.http,
        host=settings.host,
        port=settings.port,
        log_config=None,  # ours (structlog) is already in place
        access_log=False,  # the request middleware logs every request
        server_header=False,
        **kwargs,
    )


class _TooManyHeaders(Exception):
    """Raised from the parser's header callback to stop parsing the request at once."""


def _response(status: bytes, message: bytes) -> bytes:
    return b"".join(
        [
            b"HTTP/1.1 " + status + b"\r\n",
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: " + str(len(message)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            message,
        ]
    )


HEADERS_TOO_LARGE = _response(b"431 Request Header Fields Too Large", b"Request headers too large")
REQUEST_TIMEOUT = _response(b"408 Request Timeout", b"Request timeout")


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header size, header count and read-time limits."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = config.limits if isinstance(config, ServerConfig) else HttpSettings()
        self._awaiting_headers = True  # until the current request's last header line
        self._header_bytes = 0
        self._header_count = 0
        self._headers_overflowed = False
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # --- connection ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser at most `max_header_bytes` of one request's head, ever."""
        while data and not self.transport.is_closing():
            if not self._awaiting_headers:
                self._arm_body_timer()  # a byte of body: the silence starts again
                super().data_received(data)
                return
            room = self.limits.max_header_bytes - self._header_bytes
            if room <= 0:
                self._reject(HEADERS_TOO_LARGE)
                return
            # The part beyond `room` is fed only if the head ended within `room`.
            piece, data = data[:room], data[room:]
            self._header_bytes += len(piece)
            super().data_received(piece)

    def send_400_response(self, msg: str) -> None:
        # The parser stops with an error when `on_header` refuses one header too many.
        if self._headers_overflowed:
            self._reject(HEADERS_TOO_LARGE)
        else:
            super().send_400_response(msg)

    # --- parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # The counters are not reset here but when the previous request ends: the bytes fed
        # before this call (this piece of data) are this request's.
        if self._header_timer is None:  # after a keep-alive pause: the request has started
            self._arm_header_timer()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._headers_overflowed = True
            raise _TooManyHeaders()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._cancel_header_timer()
        self._arm_body_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._cancel_body_timer()
        self._awaiting_headers = True
        self._header_bytes, self._header_count = 0, 0

    # --- timers -------------------------------------------------------------------------------

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(
            self.limits.header_timeout, self._header_timed_out
        )

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if not self._awaiting_headers or self.transport.is_closing():
            return
        if self.flow.read_paused:  # a pipelined request waiting for its turn: not the client
            self._arm_header_timer()
            return
        self._reject(REQUEST_TIMEOUT)

    def _arm_body_timer(self) -> None:
        self._cancel_body_timer()
        self._body_timer = self.loop.call_later(self.limits.body_idle_timeout, self._body_timed_out)

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_timed_out(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None or not cycle.more_body:
            return
        if self.flow.read_paused:  # the route is not reading: the pause is ours
            self._arm_body_timer()
            return
        started = cycle.response_started
        # The route's next `receive()` answers `http.disconnect`; its late response is dropped.
        cycle.disconnected = True
        cycle.message_event.set()
        if started:
            self.transport.close()
        else:
            self._reject(REQUEST_TIMEOUT)

    def _cancel_timers(self) -> None:
        self._cancel_header_timer()
        self._cancel_body_timer()

    def _reject(self, response: bytes) -> None:
        self._cancel_timers()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()
