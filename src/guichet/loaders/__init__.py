"""Partner loaders (Loaders 2.0): the REST channel, the integration store, operators' views.

models        ORM tables (loader_*): partners, accounts, runs, records, documents
keys          partner API keys: generation, hashing, constant-time check
schemas       operator API bodies (pydantic)
errors        domain errors and the contract's KO wire format
partners      partners: create, rotate key, update, authenticate
service       one file: parse → authenticate → store → validate → integrate → record the run
integrate     the integration store (bulk, idempotent, one savepoint per client entry)
fetch         safe download of a document's `fileLink` (SSRF guards, size cap, timeouts)
tasks         jobs: fetch a document, delete removed blobs
operators     runs and records, for operators
router        POST /api/third_party/loader; admin_router: /admin/loaders/…
cli           `guichet loaders …` admin commands
"""

from __future__ import annotations

from fastapi import FastAPI


def include_routers(app: FastAPI) -> None:
    """Called by `guichet.app._include_domain_routers`."""
    from guichet.loaders import admin_router, router, tasks

    tasks.configure(app.state.settings.loaders)
    app.include_router(router.router)
    app.include_router(admin_router.router)
