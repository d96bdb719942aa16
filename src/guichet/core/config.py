"""Typed settings: every `GUICHET_*` variable, in nested groups, read once by the entry points.

Nested groups use `__` in the environment: `GUICHET_SMTP__HOST`, `GUICHET_STORAGE__S3__BUCKET`.
`.env.example` at the repository root lists every variable. Nothing reads the environment at
import time: the CLI calls `Settings()` once and passes the object down; tests build their own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KiB = 1024
MiB = 1024 * KiB

# Secrets that must never reach production (the template's "changethis" guard).
_PLACEHOLDER_SECRETS = frozenset({"", "changethis", "changeme", "secret", "admin", "token"})

_DRIVER = "postgresql+psycopg"


class DatabaseSettings(BaseModel):
    """Connection pool of the API / worker process (the URL itself is `GUICHET_DATABASE_URL`)."""

    pool_size: Annotated[int, Field(ge=1)] = 10
    max_overflow: Annotated[int, Field(ge=0)] = 5
    pool_timeout: Annotated[float, Field(gt=0)] = 30.0
    echo: bool = False


class HttpSettings(BaseModel):
    """Limits of the HTTP server of `guichet serve`, enforced below the app (so for every route,
    before any route runs): one slow or oversized client must not hold the event loop or a
    connection slot for long (see guichet.runtime.http_server)."""

    # Request line and headers together; beyond: 431 and the connection is closed.
    max_header_bytes: Annotated[int, Field(ge=1024, le=16 * MiB)] = 64 * KiB
    max_headers: Annotated[int, Field(ge=8, le=10_000)] = 100  # beyond: 431, closed
    # Seconds from a connection's opening (or a request's first byte) to its last header line.
    header_timeout: Annotated[float, Field(gt=0)] = 10.0
    # Seconds a request body may go without a byte while the route waits for it.
    body_idle_timeout: Annotated[float, Field(gt=0)] = 30.0


class WorkerSettings(BaseModel):
    # None = automatic: in-process when the database is embedded (nothing configured), else off
    # (run `guichet worker` processes instead).
    in_process: bool | None = None
    # `guichet worker` processes that `guichet serve` runs beside its in-process worker (same
    # home, same database). None = automatic: one per core beyond the first when the worker
    # runs in process, else none. Jobs are mostly Python: one process uses one core at most.
    processes: Annotated[int | None, Field(ge=0, le=64)] = None
    concurrency: Annotated[int, Field(ge=1)] = 4
    queues: list[str] | None = None  # None = every queue
    shutdown_timeout: Annotated[float, Field(gt=0)] = 30.0
    # Each worker records a heartbeat this often; one silent for `stalled_timeout` is dead (a
    # SIGKILL, a crashed machine) and its `doing` jobs are retried. Every worker looks for
    # such jobs every `heartbeat_interval` seconds.
    heartbeat_interval: Annotated[float, Field(gt=0)] = 10.0
    stalled_timeout: Annotated[float, Field(gt=0)] = 30.0
    restart_pause: Annotated[float, Field(gt=0)] = 1.0  # after the database was lost


class S3Settings(BaseModel):
    """Any S3 API: AWS, SeaweedFS, MinIO, OVH."""

    endpoint_url: str | None = None  # None = AWS
    region: str = "us-east-1"
    bucket: str | None = None
    prefix: str = ""  # prepended to every key, e.g. "guichet/"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    multipart_threshold: Annotated[int, Field(ge=5 * MiB)] = 16 * MiB
    part_size: Annotated[int, Field(ge=5 * MiB)] = 8 * MiB  # S3's minimum part size is 5 MiB


class StorageSettings(BaseModel):
    backend: Literal["local", "s3"] = "local"
    directory: Path | None = None  # local backend; default $GUICHET_HOME/blobs
    s3: S3Settings = S3Settings()


class SmtpSettings(BaseModel):
    host: str | None = None  # None = write mails to the Maildir outbox instead
    port: int = 587
    # auto = STARTTLS when the server offers it, required when credentials are set; tls =
    # implicit TLS (port 465); starttls = always STARTTLS; none = plain (explicit opt-out).
    security: Literal["auto", "starttls", "tls", "none"] = "auto"
    username: str | None = None
    password: SecretStr | None = None
    timeout: Annotated[float, Field(gt=0)] = 30.0


class MailSettings(BaseModel):
    sender: str = "Guichet <noreply@localhost>"
    bcc: list[str] = []
    outbox_dir: Path | None = None  # default $GUICHET_HOME/outbox


class LogSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # auto = human-readable on a terminal, JSON otherwise.
    format: Literal["auto", "json", "console"] = "auto"
    # Successful GET/HEAD requests are logged at DEBUG (the BAN polls them constantly);
    # true = at INFO like every other request.
    reads: bool = False

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class BanSettings(BaseModel):
    """The national address base (BAN) API, read by the publication API's compute step: the
    BAN id of each commune (validator check `row.cog_no_match_id_ban_commune`) and its number of
    addresses (mass-deletion guard when a commune has no current revision). Unset: offline,
    as the reference behaves when the BAN cannot be reached."""

    api_url: str | None = None  # e.g. https://plateforme.adresse.data.gouv.fr
    timeout: Annotated[float, Field(gt=0)] = 3.0  # seconds per call


class DepotCacheSettings(BaseModel):
    """Per-process cache of `GET /communes/{code}/current-revision`, invalidated through
    PostgreSQL LISTEN/NOTIFY (see guichet.depot.cache)."""

    enabled: bool = True
    max_age: Annotated[float, Field(gt=0)] = 30.0  # seconds: a safety net only


class HabilitationSettings(BaseModel):
    """Habilitations of the publication API: who may publish for a commune (e-mail PIN sent to
    a mairie address read from the Service-Public Annuaire)."""

    # Service-Public "Annuaire de l'administration" (Opendatasoft explore API v2.1): the
    # mairies' e-mail addresses and SIRETs.
    annuaire_url: str = "https://api-lannuaire.service-public.fr/api/explore/v2.1"
    annuaire_timeout: Annotated[float, Field(gt=0)] = 5.0  # seconds per call
    # Demo instances only: the PIN 000000 validates any habilitation. Strictly a boolean
    # (the reference enabled it for any non-empty string, "0" included).
    demo_mode: bool = False
    # Days an accepted habilitation stays usable; None = forever (the reference since 2025-09).
    expiry_days: Annotated[int | None, Field(ge=1)] = None
    # With expiry on: days before the end when the client (and the mairie) are reminded, once.
    reminder_days: Annotated[int, Field(ge=1)] = 15


class ProConnectSettings(BaseModel):
    """ProConnect (OpenID Connect): a mairie's agent accepts a habilitation by signing in;
    accepted when the SIRET of the agent's organisation is one of the commune's mairies in the
    Annuaire. Off until `issuer` and `client_id` are set. The callback URL registered at the
    provider is `{public_url}/habilitations/proconnect/callback`."""

    # e.g. https://auth.agentconnect.gouv.fr/api/v2; the discovery document is read from
    # `{issuer}/.well-known/openid-configuration` unless `discovery_url` says otherwise.
    issuer: str | None = None
    discovery_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    scope: str = "openid siret"
    timeout: Annotated[float, Field(gt=0)] = 5.0  # seconds per call to the provider
    # Signs the cookie holding a flow's state and nonce (any API process can finish a flow).
    # Unset: generated once and kept in $GUICHET_HOME/proconnect_secret (mode 0600); required
    # in production, where processes need not share a home.
    session_secret: SecretStr | None = None
    session_max_age: Annotated[int, Field(ge=60, le=3600)] = 600  # seconds to come back
    # Origins `redirectUrl` may point to (e.g. https://mes-adresses.data.gouv.fr); empty =
    # any http(s) URL (development only: production requires a list).
    redirect_origins: list[str] = []

    @property
    def enabled(self) -> bool:
        return bool(self.issuer and self.client_id)


class WebhookSettings(BaseModel):
    """Signed webhooks to the publication API's subscribed clients (Standard Webhooks)."""

    # Encrypts the subscriptions' signing secrets in the database (any secret of 32+
    # characters; the key is derived from it). None: a key generated under $GUICHET_HOME in
    # the embedded default; required with an external database to create subscriptions.
    encryption_key: SecretStr | None = None
    timeout: Annotated[float, Field(gt=0)] = 10.0  # seconds per delivery attempt
    # Seconds before each new attempt after a 5xx, a timeout or a connection error (a 4xx is
    # final); given up after the last. About 14 h in all by default.
    retry_delays: list[Annotated[float, Field(ge=0)]] = [
        5, 30, 120, 600, 1800, 3600, 7200, 14400, 21600,
    ]  # fmt: skip
    # Seconds during which the previous secret still signs after a rotation (both signatures).
    rotation_overlap: Annotated[float, Field(ge=0)] = 86400.0
    # Tests only: deliver to loopback/private addresses (refused after DNS otherwise).
    allow_private_addresses: bool = False


class NotificationSettings(BaseModel):
    """What follows a publish of the publication API, as retried jobs committed with it: the
    national base's compose call, the team-chat message, the takeover e-mail, the webhooks."""

    # BAN API receiving `POST {url}/ban/communes/{code}/compose` (the reference's NOTIFY_BAN
    # + BAN_API_URL); None = no compose call and no reconciliation.
    ban_compose_url: str | None = None
    ban_token: SecretStr | None = None  # sent as `Authorization: Token <token>`
    # Mattermost/Slack incoming webhook (its URL is a credential); None = no message.
    chat_webhook_url: SecretStr | None = None
    timeout: Annotated[float, Field(gt=0)] = 10.0  # seconds per outgoing call
    # Seconds before each new attempt of a failed compose, chat message or e-mail.
    retry_delays: list[Annotated[float, Field(ge=0)]] = [10, 60, 300, 900, 3600, 10800]
    # The periodic reconciliation re-sends a compose for a current revision published more
    # than this many seconds ago that the national base has not acknowledged.
    reconcile_grace: Annotated[float, Field(ge=0)] = 600.0
    webhooks: WebhookSettings = WebhookSettings()


class LoadersSettings(BaseModel):
    """Partner loaders (`POST /api/third_party/loader`) and the document fetcher."""

    max_body_bytes: Annotated[int, Field(ge=1024)] = 64 * MiB  # a 100k-transaction file: ~20 MB
    document_max_bytes: Annotated[int, Field(ge=1)] = 50 * MiB
    fetch_connect_timeout: Annotated[float, Field(gt=0)] = 10.0
    fetch_read_timeout: Annotated[float, Field(gt=0)] = 30.0
    fetch_max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    # Tests only: let `fileLink` reach loopback/private addresses (refused after DNS otherwise).
    fetch_allow_private_addresses: bool = False


class SeaweedSettings(BaseModel):
    """The drop zone's SeaweedFS: embedded (`guichet serve` runs `weed mini` under
    $GUICHET_HOME/seaweedfs, on 127.0.0.1) or an external one (its master and filer)."""

    embedded: bool = True
    # None = the API port + 333 (8333 next to 8000: two servers never collide); 0 = any free port
    s3_port: Annotated[int | None, Field(ge=0, le=65535)] = None
    master: str | None = None  # external: "host:port" of the master (weed shell)
    filer: str | None = None  # external: "host:port" of the filer (weed shell, metadata events)
    weed_binary: str | None = None  # default: `weed` next to the Python interpreter, or on PATH


class DropzoneSettings(BaseModel):
    """The partners' S3 drop zone: one bucket `ql-loader-{env}-{partner}` per partner."""

    enabled: bool = True
    # embedded/seaweedfs: SeaweedFS identities with `Write:<bucket>` and its metadata events;
    # aws: S3 buckets, IAM users (inline PutObject-only policy), S3 → SQS notifications.
    backend: Literal["seaweedfs", "aws"] = "seaweedfs"
    env: Literal["prod", "stg"] = "stg"
    endpoint_url: str | None = None  # S3 API as the service reaches it (None = AWS, or embedded)
    public_endpoint_url: str | None = None  # told to partners; default endpoint_url
    aws_endpoint_url: str | None = None  # IAM/SQS endpoint override (moto, tests)
    region: str = "eu-west-1"
    access_key_id: str | None = None  # the service's own identity (embedded: generated)
    secret_access_key: SecretStr | None = None
    sqs_queue_name: str = "guichet-dropzone-events"
    # The service's own bucket for archive copies and reports, out of every partner key's
    # reach (None = guichet-dropzone-archive-{env}; AWS bucket names are global).
    archive_bucket: str | None = None
    max_file_bytes: Annotated[int, Field(ge=1024)] = 64 * MiB
    # Objects of one bucket a processing job takes at once (one claim, overlapped downloads,
    # one commit); 1 = one transaction per file.
    batch_size: Annotated[int, Field(ge=1, le=500)] = 32
    sweep_cron: str = "* * * * *"  # procrastinate cron (a 6th column = seconds)
    listen_events: bool = True  # run the event listener next to the worker
    seaweedfs: SeaweedSettings = SeaweedSettings()


class ConsoleSettings(BaseModel):
    """The web console's desks (`/ui/admin`, `/ui/partner`): their signed session cookies."""

    # Signs the desks' session cookies (any API process must accept a session another one
    # opened). Unset: ProConnect's `session_secret` when set, else (development only) the
    # secret generated once in $GUICHET_HOME/proconnect_secret (mode 0600). In production
    # without either, the desks refuse every login.
    session_secret: SecretStr | None = None
    session_max_age: Annotated[int, Field(ge=300, le=7 * 86400)] = 8 * 3600  # seconds


class MetricsSettings(BaseModel):
    """`/metrics` (Prometheus). Public by default; `enabled=false` removes it (404), a `token`
    makes it answer only `Authorization: Bearer <token>` (Prometheus' `authorization`)."""

    enabled: bool = True
    token: SecretStr | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GUICHET_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
    )

    environment: Literal["development", "production"] = "development"
    home: Path = Path("var")
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    public_url: str | None = None  # base URL in links and OpenAPI; default http://host:port
    database_url: str | None = None  # None = embedded PostgreSQL under $GUICHET_HOME/postgres
    admin_token: SecretStr | None = None
    cors_origins: list[str] = ["*"]
    workers: Annotated[int, Field(ge=1)] = 1  # API processes of `guichet serve`

    db: DatabaseSettings = DatabaseSettings()
    http: HttpSettings = HttpSettings()
    worker: WorkerSettings = WorkerSettings()
    storage: StorageSettings = StorageSettings()
    smtp: SmtpSettings = SmtpSettings()
    mail: MailSettings = MailSettings()
    log: LogSettings = LogSettings()
    loaders: LoadersSettings = LoadersSettings()
    dropzone: DropzoneSettings = DropzoneSettings()
    depot_cache: DepotCacheSettings = DepotCacheSettings()
    ban: BanSettings = BanSettings()
    metrics: MetricsSettings = MetricsSettings()
    habilitations: HabilitationSettings = HabilitationSettings()
    notifications: NotificationSettings = NotificationSettings()
    proconnect: ProConnectSettings = ProConnectSettings()
    console: ConsoleSettings = ConsoleSettings()

    _embedded_url: str | None = PrivateAttr(None)

    @field_validator("database_url")
    @classmethod
    def _psycopg_driver(cls, value: str | None) -> str | None:
        """Accept the usual spellings; always use psycopg 3 (one driver for SQLAlchemy and jobs)."""
        if value is None:
            return None
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in {"postgres", "postgresql", _DRIVER}:
            raise ValueError("must be a postgresql:// URL")
        return f"{_DRIVER}://{rest}"

    @model_validator(mode="after")
    def _production_guards(self) -> Settings:
        if self.environment != "production":
            return self
        if self.database_url is None:
            raise ValueError("GUICHET_DATABASE_URL is required in production")
        token = self.admin_token.get_secret_value() if self.admin_token else None
        if token is not None and (token.lower() in _PLACEHOLDER_SECRETS or len(token) < 24):
            raise ValueError("GUICHET_ADMIN_TOKEN is a placeholder or too short (< 24 chars)")
        if self.storage.backend == "s3" and not self.storage.s3.bucket:
            raise ValueError("GUICHET_STORAGE__S3__BUCKET is required with the s3 backend")
        if self.proconnect.enabled:
            secret = self.proconnect.session_secret
            if secret is None or len(secret.get_secret_value()) < 32:
                raise ValueError("GUICHET_PROCONNECT__SESSION_SECRET is required (>= 32 chars)")
            if not self.proconnect.redirect_origins:
                raise ValueError("GUICHET_PROCONNECT__REDIRECT_ORIGINS is required in production")
        return self

    @property
    def is_embedded(self) -> bool:
        """True when Guichet runs (and owns) its own PostgreSQL under `home`."""
        return self.database_url is None

    @property
    def run_worker_in_process(self) -> bool:
        if self.worker.in_process is None:
            return self.is_embedded
        return self.worker.in_process

    @property
    def worker_processes(self) -> int:
        """How many `guichet worker` processes `guichet serve` starts."""
        if self.worker.processes is not None:
            return self.worker.processes
        return max((os.cpu_count() or 1) - 1, 0) if self.run_worker_in_process else 0

    @property
    def blobs_dir(self) -> Path:
        return self.storage.directory or self.home / "blobs"

    @property
    def outbox_dir(self) -> Path:
        return self.mail.outbox_dir or self.home / "outbox"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def sqlalchemy_url(self) -> str:
        """The URL to connect to: the configured one, or the embedded server's once started."""
        url = self.database_url or self._embedded_url
        if url is None:
            raise RuntimeError(
                "the embedded PostgreSQL is not started (see guichet.runtime.postgres)"
            )
        return url

    def with_embedded_database(self, url: str) -> Settings:
        """A copy that connects to the embedded server at `url` and still knows it is embedded."""
        copy = self.model_copy()
        copy._embedded_url = self._psycopg_driver(url)
        return copy
