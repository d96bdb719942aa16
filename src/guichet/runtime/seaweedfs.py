"""Supervise the embedded SeaweedFS (`weed mini`) of the drop zone under `$GUICHET_HOME/seaweedfs`.

Layout: `data/` (objects, filer metadata and its event log), `logs/`, `s3.json` (the service's own
identity, generated on first start, mode 0600; partner identities live in the filer), `state.json`
(pid and ports of the running server), `lock` (a `flock` held by the owner while it runs).

As with the embedded PostgreSQL: the owner starts `weed` as its own child in its own session and
stops it on exit (SIGTERM, SIGKILL after 10 s: `weed` may hang on shutdown); a `weed` left behind
by a crashed owner (kill -9) is found through `state.json` and killed before the next start;
another process on the same home (`guichet dropzone …` while `serve` runs) attaches to it.
Everything is bound to 127.0.0.1. The S3 port is the one partners are told, so it never moves:
chosen on the first start (`GUICHET_DROPZONE__SEAWEEDFS__S3_PORT`, by default the API port + 333,
any free port if that one is taken) and kept in `s3_port`, it is reused on every start — after a
quick restart or a crash too (checked with SO_REUSEADDR, as `weed` binds it: a port left in
TIME_WAIT is free) — and a start that cannot have it fails with a message naming it, rather than
moving partners to another one. A configured port always wins (and is kept). The internal ports
are picked free at each start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
from pydantic import SecretStr

from guichet.core.config import DropzoneSettings, Settings
from guichet.core.logging import get_logger
from guichet.partners.dropzone.backends import new_secret, weed_binary
from guichet.runtime.supervisor import OwnedService, looks_like, process_alive

log = get_logger(__name__)

SERVICE_IDENTITY = "guichet-service"
_SERVICES = ("master", "volume", "filer", "admin")


PORT_FILE = "s3_port"
_PORT_WAIT = 5.0  # seconds to wait for the kept port (a killed stale server releases it)


class EmbeddedSeaweedError(RuntimeError):
    pass


def _free_port(avoid: frozenset[int] = frozenset()) -> int:
    """A port free now, other than `avoid` (ports the caller will bind later, such as the API's:
    free at this moment too, hence otherwise a port the OS could hand out here)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in avoid:
            return port


class EmbeddedSeaweed(OwnedService):
    """Start (or attach to) the SeaweedFS of one Guichet home. Use as a context manager."""

    def __init__(
        self,
        home: Path,
        settings: DropzoneSettings,
        *,
        avoid_ports: frozenset[int] = frozenset(),
        default_s3_port: int | None = None,
    ) -> None:
        self.root = home.resolve() / "seaweedfs"
        self.settings = settings
        self.avoid_ports = avoid_ports
        # The first start's S3 port when none is configured (then kept): `embedded_server`
        # derives it from the API port.
        self.default_s3_port = default_s3_port
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        # gRPC unix sockets go to TMPDIR: a short private directory (sun_path is 108 bytes).
        self.socket_dir = Path(tempfile.gettempdir()) / f"guichet-sw-{digest}"
        self.owner = False
        self.state: dict[str, Any] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._lock: IO[bytes] | None = None

    # --- public API ---------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> dict[str, Any]:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._acquire_lock():
            self.owner = True
            try:
                self._start_owned(timeout)
            except BaseException:
                self.stop()
                raise
        else:
            self.state = self._read_state(timeout)
            log.info("embedded.seaweedfs.attach", endpoint=self.state["endpoint_url"])
        return self.state

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.info("embedded.seaweedfs.stopped", pid=process.pid)
            (self.root / "state.json").unlink(missing_ok=True)
            # Its sockets go with it: nothing of this home is left in the shared TMPDIR.
            shutil.rmtree(self.socket_dir, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        self.owner = False

    def apply(self, settings: Settings) -> Settings:
        """`settings` with the drop zone pointed at this server (endpoint, keys, master, filer)."""
        state = self.state
        dropzone = settings.dropzone
        seaweedfs = dropzone.seaweedfs.model_copy(
            update={"master": state["master"], "filer": state["filer"]}
        )
        updated = dropzone.model_copy(
            update={
                "endpoint_url": state["endpoint_url"],
                "access_key_id": state["access_key_id"],
                "secret_access_key": SecretStr(self._service_secret()),
                "seaweedfs": seaweedfs,
            }
        )
        return settings.model_copy(update={"dropzone": updated})

    # --- owner side ---------------------------------------------------------------------------

    def _identities_file(self) -> Path:
        path = self.root / "s3.json"
        if not path.exists():
            key, secret = "GUICHET" + new_secret(13).upper(), new_secret()
            identities = {"identities": [{
                "name": SERVICE_IDENTITY,
                "credentials": [{"accessKey": key, "secretKey": secret}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }]}  # fmt: skip
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as file:
                json.dump(identities, file)
        return path

    def _service_credentials(self) -> tuple[str, str]:
        data = json.loads(self._identities_file().read_text())
        credentials = data["identities"][0]["credentials"][0]
        return credentials["accessKey"], credentials["secretKey"]

    def _service_secret(self) -> str:
        return self._service_credentials()[1]

    def _stop_stale(self) -> None:
        try:
            pid = int(json.loads((self.root / "state.json").read_text())["pid"])
        except (FileNotFoundError, ValueError, KeyError):
            return
        if process_alive(pid) and looks_like(pid, b"weed"):
            log.warning("embedded.seaweedfs.stale_server", pid=pid)
            for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + wait
                while process_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if not process_alive(pid):
                    break
        (self.root / "state.json").unlink(missing_ok=True)

    def _start_owned(self, timeout: float) -> None:
        weed = weed_binary(self.settings.seaweedfs.weed_binary)
        self._stop_stale()
        for name in ("data", "logs"):
            (self.root / name).mkdir(exist_ok=True)
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        identities = self._identities_file()
        avoid = set(self.avoid_ports)

        def free() -> int:
            port = _free_port(frozenset(avoid))
            avoid.add(port)
            return port

        s3_port = self._s3_port(frozenset(avoid))
        avoid.add(s3_port)
        ports = {"s3.port": s3_port, "s3.port.grpc": free()}
        for service in _SERVICES:
            ports[f"{service}.port"] = free()
            ports[f"{service}.port.grpc"] = free()
        command = [
            weed, f"-logdir={self.root / 'logs'}", "mini", f"-dir={self.root / 'data'}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-webdav=false", "-admin.ui=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
            f"-s3.config={identities}",
            f"-s3.localSocket={self.socket_dir / 's3.sock'}",
            f"-filer.localSocket={self.socket_dir / 'filer.sock'}",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]  # fmt: skip
        with (self.root / "weed.out").open("ab") as out:
            self._process = subprocess.Popen(
                command, cwd=self.root, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "TMPDIR": str(self.socket_dir)},
            )  # fmt: skip
        key, _ = self._service_credentials()
        self.state = {
            "pid": self._process.pid,
            "endpoint_url": f"http://127.0.0.1:{s3_port}",
            # host:port.grpcPort: weed shell and filer.meta.tail otherwise assume port + 10000.
            "master": f"127.0.0.1:{ports['master.port']}.{ports['master.port.grpc']}",
            "filer": f"127.0.0.1:{ports['filer.port']}.{ports['filer.port.grpc']}",
            "access_key_id": key,
        }
        self._wait_ready(timeout)
        _write_atomically(self.root / "state.json", json.dumps(self.state))
        _write_atomically(self.root / PORT_FILE, f"{s3_port}\n")
        log.info("embedded.seaweedfs.started", pid=self._process.pid, s3=self.state["endpoint_url"])

    def _s3_port(self, avoid: frozenset[int]) -> int:
        """The configured port, else the one kept from the first start, else a new one (the
        default if it can be had, else any free port); a configured or kept port that cannot be
        had is an error."""
        configured = self.settings.seaweedfs.s3_port or None
        kept = self._kept_s3_port()
        wanted = configured or kept
        if wanted is None:
            # 0 configured: any free port (the first time; then it is kept like any other).
            default = None if self.settings.seaweedfs.s3_port == 0 else self.default_s3_port
            if default is not None and 0 < default <= 65535 and _bindable(default):
                return default
            return _free_port(avoid)
        deadline = time.monotonic() + _PORT_WAIT
        while not _bindable(wanted):
            if time.monotonic() > deadline:
                origin = "configured" if configured else f"kept in {self.root / PORT_FILE}"
                raise EmbeddedSeaweedError(
                    f"the drop zone's S3 port {wanted} ({origin}, the endpoint partners use) is "
                    f"taken by another program on 127.0.0.1: free it, or set "
                    f"GUICHET_DROPZONE__SEAWEEDFS__S3_PORT to move every partner to a new port"
                )
            time.sleep(0.1)
        return wanted

    def _kept_s3_port(self) -> int | None:
        try:
            port = int((self.root / PORT_FILE).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return port if 0 < port <= 65535 else None

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        filer = f"http://{self.state['filer'].rpartition('.')[0]}/"
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                tail = (self.root / "weed.out").read_text(errors="replace")[-2000:]
                raise EmbeddedSeaweedError(f"weed exited with {self._process.returncode}:\n{tail}")
            try:
                httpx.get(self.state["endpoint_url"], timeout=1)  # any answer (403): S3 is up
                httpx.get(filer, timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise EmbeddedSeaweedError(f"SeaweedFS not ready after {timeout:.0f}s")

    # --- attaching side -----------------------------------------------------------------------

    def _read_state(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                state: dict[str, Any] = json.loads((self.root / "state.json").read_text())
                return state
            except (FileNotFoundError, ValueError):
                if time.monotonic() > deadline:
                    raise EmbeddedSeaweedError("the running SeaweedFS left no state.json") from None
                time.sleep(0.1)


@contextlib.contextmanager
def embedded_server(settings: Settings) -> Iterator[Settings]:
    """The settings to use, with the embedded SeaweedFS started (or attached) when the drop zone
    is on, SeaweedFS-backed, embedded, and no endpoint is configured."""
    dropzone = settings.dropzone
    wanted = (
        dropzone.enabled
        and dropzone.backend == "seaweedfs"
        and dropzone.seaweedfs.embedded
        and dropzone.endpoint_url is None
    )
    if not wanted:
        yield settings
        return
    # The API binds its port after SeaweedFS has picked its own: keep them apart.
    server = EmbeddedSeaweed(
        settings.home,
        dropzone,
        avoid_ports=frozenset({settings.port}),
        default_s3_port=settings.port + 333,  # 8333 next to 8000: two servers never collide
    )
    with server:
        yield server.apply(settings)


def _bindable(port: int) -> bool:
    """Whether `port` can be listened on now, as `weed` (Go) binds it: with SO_REUSEADDR, so a
    port whose last connections linger in TIME_WAIT (a quick restart) counts as free; a port
    another program listens on does not (Linux refuses that bind even with SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
