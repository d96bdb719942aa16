"""Front 2, partner loaders (Loaders 2.0): accounts and keys, intake, integration, documents, the
REST channel, operators' views; `dropzone/` is the S3 channel. Declared in `front.py`.

models        ORM tables (loader_*): partners, accounts, runs, records, documents
keys          partner API keys: generation, hashing, constant-time check
schemas       operator API bodies (pydantic)
errors        domain errors and the contract's KO wire format
registry      partners: create, rotate key, update, authenticate
intake        one file of a known partner, any channel: store → validate → integrate → run
integrate     the integration store (bulk, idempotent, one savepoint per client entry)
fetch         safe download of a document's `fileLink` (SSRF guards, size cap, timeouts)
tasks         jobs: fetch a document, delete removed blobs
operators     runs and records, for operators
router        POST /api/third_party/loader (parse → authenticate → intake); admin_router
cli           `guichet loaders …` admin commands
front         the front's declaration (models, tasks, routers, commands, background)
"""
