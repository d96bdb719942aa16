"""The processes: they read the settings, build the services, and run the fronts.

app               the FastAPI app: services, middleware, system routes, fronts' routers, lifespan
cli               the `guichet` command (fast path for the pure `bal` and `loader` tools)
commands          serve, worker, migrate, psql, admin-token, config; the fronts' command runner
fronts            FRONTS: the list every process reads
worker_processes  the `guichet worker` children of `guichet serve`
supervisor        what the embedded servers share: one owner, a lock, leftovers recognised
postgres          the embedded PostgreSQL
seaweedfs         the embedded SeaweedFS of the drop zone
"""
