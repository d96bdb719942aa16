"""The web console, declared once as a front (see `guichet.core.fronts`): routes only, no
tables, no jobs (it reads through the other fronts' services)."""

from __future__ import annotations

from fastapi import FastAPI

from guichet.core.fronts import Front


def _routers(app: FastAPI) -> None:
    from guichet.console import admin, assets, desk, partner, public

    # The static files first, then the desks: the public router ends with a catch-all 404
    # page under /ui/.
    assets.mount(app)
    desk.install_handlers(app)
    app.include_router(admin.router)
    app.include_router(partner.router)
    app.include_router(public.router)


FRONT = Front(name="console", models=(), routers=_routers)
