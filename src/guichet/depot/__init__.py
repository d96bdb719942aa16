"""The BAL publication API (wire-compatible with BaseAdresseNationale/api-depot).

Revisions of one BAL file per commune: create → upload → compute → publish; public reading;
clients, mandataires and chefs de file administered with the admin token.

    models     ORM tables (depot_*) and ids
    tokens     client tokens: generation, hashing, header parsing
    schemas    request bodies (pydantic)
    views      response shapes (the reference's JSON, key for key)
    errors     French error messages and the `{"statusCode", "message"}` wire format
    deps       path-parameter and authentication dependencies
    compute    the validator in a process pool, and api-depot's own rules
    upload     streaming upload to the blob store
    service    revisions: create, attach file, record validation, publish, read
    parties    clients, mandataires, chefs de file
    router     publication and reading routes; parties_router: clients & co
"""

from __future__ import annotations

from fastapi import FastAPI


def include_routers(app: FastAPI) -> None:
    """Called by `guichet.app._include_domain_routers`."""
    from guichet.depot import parties_router, read_router, router

    # Reading first: `/revisions/client/{id}` must win over `/revisions/{id}/…` patterns.
    app.include_router(read_router.router)
    app.include_router(router.router)
    app.include_router(parties_router.router)
