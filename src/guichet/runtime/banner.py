"""What `guichet serve` says once it listens: where everything is and what to try next.

On a terminal (console logs) a short plain-text banner on stdout; otherwise (JSON logs: a
service manager, a container, a test) one `serve.ready` event holding the same facts.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import typer

from guichet import __version__
from guichet.core.auth import ADMIN_TOKEN_FILE
from guichet.core.config import Settings
from guichet.core.logging import get_logger, uses_json

log = get_logger(__name__)

DEFAULT_HOME = Path("var")


@dataclass(frozen=True)
class StartFacts:
    version: str
    home: str
    api_url: str
    docs_url: str
    redoc_url: str
    metrics_url: str
    s3_endpoint: str | None
    """The drop zone's S3 endpoint partners are told; None when the drop zone is off."""
    outbox: str
    """The Maildir of sent e-mails, or the SMTP server they go to."""
    admin: str
    """Where the admin token is: its file, or the variable that sets it. (Not named
    `admin_token`: the log redaction would mask the key's value.)"""
    command: str
    """How to run `guichet` from the current directory."""
    next_command: str


def start_facts(settings: Settings, *, admin_token_configured: bool) -> StartFacts:
    """The facts of a started `serve` (`settings`: the resolved ones, drop zone endpoint
    included; `admin_token_configured`: GUICHET_ADMIN_TOKEN was set, no file is used)."""
    api = settings.base_url
    command = guichet_command()
    home_prefix = "" if settings.home == DEFAULT_HOME else f"GUICHET_HOME={settings.home} "
    return StartFacts(
        version=__version__,
        home=str(settings.home.resolve()),
        api_url=api,
        docs_url=f"{api}/docs",
        redoc_url=f"{api}/redoc",
        metrics_url=f"{api}/metrics",
        s3_endpoint=_s3_endpoint(settings),
        outbox=_outbox(settings),
        admin="GUICHET_ADMIN_TOKEN"
        if admin_token_configured
        else str(settings.home / ADMIN_TOKEN_FILE),
        command=command,
        next_command=(
            f"{home_prefix}{command} loaders create-partner acme --name ACME "
            f"--email compta@acme.example"
        ),
    )


def _s3_endpoint(settings: Settings) -> str | None:
    dropzone = settings.dropzone
    if not dropzone.enabled:
        return None
    return dropzone.public_endpoint_url or dropzone.endpoint_url or "AWS S3"


def _outbox(settings: Settings) -> str:
    if settings.smtp.host:
        return f"SMTP {settings.smtp.host}:{settings.smtp.port}"
    return str(settings.outbox_dir)


def guichet_command() -> str:
    """`guichet` if that is what the shell finds, else the script of this interpreter's
    environment, relative to the current directory when under it (`.venv/bin/guichet`)."""
    script = Path(sys.executable).parent / "guichet"
    if not script.exists():
        return f"{sys.executable} -m guichet"
    found = shutil.which("guichet")
    if found is not None and Path(found).resolve() == script.resolve():
        return "guichet"
    try:
        return str(script.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(script.absolute())


def render(facts: StartFacts) -> str:
    rows = [
        ("API", facts.api_url),
        ("API docs", f"{facts.docs_url}   (ReDoc: {facts.redoc_url})"),
        ("Drop zone S3", facts.s3_endpoint or "off"),
        ("Outbox", f"{facts.outbox}   (read it: {facts.command} outbox list)"),
        ("Admin token", f"{facts.admin}   ({facts.command} admin-token)"),
        ("Metrics", facts.metrics_url),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"Guichet {facts.version} is running — data in {facts.home}", ""]
    lines += [f"  {name.ljust(width)}  {value}" for name, value in rows]
    lines += [
        "",
        f"Next, in another terminal:  {facts.next_command}",
        "Guides: README.md, docs/publication.md, docs/loaders.md, docs/dropzone.md",
        "Stop with Ctrl-C.",
    ]
    return "\n".join(lines)


def announce(settings: Settings, facts: StartFacts) -> None:
    if uses_json(settings.log):
        log.info("serve.ready", **dataclasses.asdict(facts))
    else:
        typer.echo(render(facts))
