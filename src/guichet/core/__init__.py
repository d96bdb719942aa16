"""Infrastructure shared by the fronts; imports no front and no runtime (import-linter checks).

config     typed settings (`GUICHET_*`), read once by the runtime's entry points
services   `Services`: what one process's requests and jobs share, built by the runtime
fronts     `Front`: how a front declares its models, tasks, routers, commands, background work
db         engine, sessionmaker, request session, migrations
queue      procrastinate app, transactional defer, worker runner
storage    blob store: local directory or any S3 API
mail       messages to RFC 5322 bytes, SMTP or Maildir outbox
errors     domain errors and their wire formats
auth       the admin token
logging    structlog configuration (JSON or console), nothing private in logs
metrics    Prometheus metrics
lifetime   child processes that die with their parent
"""
