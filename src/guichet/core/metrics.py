"""Prometheus metrics of the HTTP layer, exposed at `/metrics`.

Metrics live in the default registry, created once at import: building several apps in one
process (tests) must not register them twice. Routes are labelled by their template
(`/revisions/{revision_id}`), never the raw path, to keep cardinality bounded.

The partner side and the job queue (loader runs, drop-zone files, jobs, e-mails) are read from
PostgreSQL at scrape time by `guichet.runtime.db_metrics`: the work happens in processes that
do not answer `/metrics`.
"""

from __future__ import annotations

import hmac

from fastapi import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from pydantic import SecretStr

UNMATCHED_ROUTE = "<unmatched>"

HTTP_REQUESTS = Counter(
    "guichet_http_requests",
    "HTTP requests handled, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "guichet_http_request_duration_seconds",
    "Time to handle an HTTP request (until the end of the response body).",
    ["method", "route"],
    # Up to 60 s: uploads of 50 MB and synchronous validations are legitimately slow.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


# The labelled children, looked up once (`labels()` takes a lock and builds a tuple each call).
# Bounded: routes are templates, methods and statuses a handful.
_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, status)
    children = _children.get(key)
    if children is None:
        children = (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_DURATION.labels(method, route),
        )
        _children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def metrics_response() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def authorized(authorization: str | None, token: SecretStr | None) -> bool:
    """No token configured: anyone; else exactly `Bearer <token>`, compared in constant time."""
    if token is None:
        return True
    secret = token.get_secret_value()
    if not secret:
        return False  # an empty token would let `Bearer ` in
    return hmac.compare_digest((authorization or "").encode(), f"Bearer {secret}".encode())
