"""The processes: they read the settings, build the services, and run the fronts.

app               the FastAPI app: services, middleware, system routes, fronts' routers, lifespan
api_docs          /docs and /redoc from local assets; the BAL routes' errors in the OpenAPI
db_metrics        /metrics of the partner side and the job queue, read from PostgreSQL
cli               the `guichet` command (fast path for the pure `bal` and `loader` tools)
commands          serve, worker, migrate, psql, admin-token, config; the fronts' command runner
preflight         serve's checks before anything starts (port, data directory)
banner            what serve says once it listens (banner on a terminal, `serve.ready` event)
outbox_cli        `guichet outbox list|show`: the Maildir outbox, decoded
fronts            FRONTS: the list every process reads
worker_processes  the `guichet worker` children of `guichet serve`
supervisor        what the embedded servers share: one owner, a lock, leftovers recognised
postgres          the embedded PostgreSQL
seaweedfs         the embedded SeaweedFS of the drop zone
"""
