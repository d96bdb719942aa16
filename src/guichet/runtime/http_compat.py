"""HTTP behaviours the reference's clients see from its server (NestJS on Express), kept for
every route: HEAD answered wherever GET is, CORS preflights answered 204 No Content, and an
unknown path answered with NestJS's own 404."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from guichet.core.errors import ErrorFormat, GuichetError, HTTPError


class HeadAsGet:
    """`HEAD` runs the `GET` route and sends its status and headers without the body, as
    Express does (FastAPI's routes answer 405 to a HEAD)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        finished = False

        async def send_headers_only(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.body":
                if finished:
                    return
                if message.get("more_body", False):
                    return  # a streamed body: wait for its end
                finished = True
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)


class PreflightNoContent(CORSMiddleware):
    """Starlette answers an accepted preflight `200 OK` with a text body; browsers accept
    either, but the reference (and the `cors` package) answers `204` with no body."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 200:
            return response
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in ("content-length", "content-type")
        }
        return Response(status_code=204, headers=headers)


class UnknownPathFormat:
    """The app's error format: a path no route matches gets `unmatched`'s answer (the BAL API
    is served at the root: its clients expect `{"statusCode":404,"message":"Cannot GET /x",
    "error":"Not Found"}`); every other error of a route without its own format, `default`."""

    def __init__(self, unmatched: ErrorFormat, default: ErrorFormat) -> None:
        self.unmatched = unmatched
        self.default = default

    def render(self, request: Request, error: GuichetError) -> Response:
        if request.scope.get("route") is None and isinstance(error, HTTPError):
            return self.unmatched.render(request, error)
        return self.default.render(request, error)
