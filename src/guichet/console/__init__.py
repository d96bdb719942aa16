"""The web console: server-rendered pages in French under `/ui/`, in the French State design
system (DSFR) with htmx for partial updates.

A layer between the runtime and the fronts: pages read through the fronts' own services and
render the same public shapes as their JSON API (`guichet.depot.views`), so a page shows what
the API shows to the same visitor, nothing more. Mounted by the app as a `Front`
(`console.front`); its assets are vendored by `scripts/vendor_console_assets.py`.

    public.py     /ui/, /ui/communes/{code}, /ui/revisions/{id}: anyone, as the public API
    reads.py      what the public pages read, on top of guichet.depot.service and views
    search.py     communes by code or name (guichet.cog's index)
    paging.py     page numbers from query strings, and the links between pages
    rendering.py  Jinja2 environment, French formats, the 404 page
    assets.py     /ui/static: vendored DSFR and htmx, and the console's own CSS, cached long
"""
