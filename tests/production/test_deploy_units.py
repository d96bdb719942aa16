"""The systemd units of `deploy/` are valid (`systemd-analyze verify`) and run what exists."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from guichet.core.config import Settings

DEPLOY = Path(__file__).parents[2] / "deploy"
INSTALLED = "/opt/guichet/venv/bin/guichet"
UNITS = ["guichet-api@8000.service", "guichet-worker@1.service", "guichet-migrate.service",
         "guichet.target"]  # fmt: skip


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package)")
    # verify checks that ExecStart's program exists: point it at this checkout's `guichet`
    here = str(Path(sys.executable).with_name("guichet"))
    for unit in DEPLOY.glob("guichet*.service"):
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, here))
    shutil.copy(DEPLOY / "guichet.target", tmp_path)
    done = subprocess.run(
        [analyze, "verify", *(str(tmp_path / unit) for unit in UNITS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_units_run_the_documented_commands_with_the_documented_environment_file() -> None:
    services = {unit.name: unit.read_text() for unit in DEPLOY.glob("guichet*.service")}
    assert set(services) == {"guichet-api@.service", "guichet-worker@.service",
                             "guichet-migrate.service"}  # fmt: skip
    commands = {name: _value(text, "ExecStart") for name, text in services.items()}
    assert commands == {
        "guichet-api@.service": f"{INSTALLED} serve --no-migrate --host 0.0.0.0 --port %i",
        "guichet-worker@.service": f"{INSTALLED} worker",
        "guichet-migrate.service": f"{INSTALLED} migrate",
    }
    for text in services.values():
        assert _value(text, "EnvironmentFile") == "/etc/guichet/guichet.env"
        assert _value(text, "UMask") == "0077"  # secrets and personal data: owner only
    # the API processes never run jobs: workers do
    assert "GUICHET_WORKER__IN_PROCESS=false" in services["guichet-api@.service"]
    documented = (DEPLOY.parent / "docs" / "deployment.md").read_text()
    for name in [*services, "guichet.target", "guichet.env.example"]:
        assert name in documented


def _value(unit: str, key: str) -> str:
    values = [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith(f"{key}=")]
    assert len(values) == 1, (key, values)
    return values[0]


def test_the_deployment_guide_names_every_variable() -> None:
    def variables(model: type[BaseModel], prefix: str) -> list[str]:
        found = []
        for name, field in model.model_fields.items():
            kind = field.annotation
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                found += variables(kind, f"{prefix}{name.upper()}__")
            else:
                found.append(f"{prefix}{name.upper()}")
        return found

    guide = (DEPLOY.parent / "docs" / "deployment.md").read_text()
    assert [name for name in variables(Settings, "GUICHET_") if f"`{name}`" not in guide] == []
