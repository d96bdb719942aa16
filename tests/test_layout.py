"""The layout's rules (docs/architecture.md): the import contracts hold, they catch a violation,
and the pure packages import nothing of the server, even lazily."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import guichet

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(guichet.__file__).resolve().parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
SERVER_PACKAGES = ("guichet.core", "guichet.depot", "guichet.partners", "guichet.runtime")
SERVER_LIBRARIES = ("fastapi", "sqlalchemy", "procrastinate", "pydantic_settings", "structlog")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def _lint_imports(source_root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=source_root,
        env={"PYTHONPATH": str(source_root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_import_contracts_hold() -> None:
    result = _lint_imports(PACKAGE.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("partners/tasks.py", "from guichet.runtime import fronts", "Fronts never import"),
        ("core/queue.py", "from guichet.depot import models", "core imports no front"),
        ("bal/_csv.py", "from guichet.core import config", "Pure libraries"),
        ("depot/service.py", "from guichet.partners import models", "Top-level packages"),
    ],
)
def test_a_violation_breaks_a_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "guichet", ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / "guichet" / module).open("a") as file:
        file.write(f"\n{line}  # deliberate violation\n")
    result = _lint_imports(copy)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken


@pytest.mark.parametrize("package", ["bal", "cog", "loader"])
def test_pure_packages_import_nothing_of_the_server_even_lazily(package: str) -> None:
    """Every import statement of the package, function-level ones included."""
    for path in (PACKAGE / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            for name in names:
                assert not name.startswith(SERVER_PACKAGES), (path.name, name)
                assert name.split(".")[0] not in SERVER_LIBRARIES, (path.name, name)


@pytest.mark.parametrize("package", ["guichet.bal", "guichet.cog", "guichet.loader"])
def test_importing_a_pure_package_loads_no_server_module(package: str) -> None:
    code = (
        f"import sys, {package}\n"
        f"bad = sorted(m for m in sys.modules if m.startswith({SERVER_PACKAGES!r})"
        f" or m.split('.')[0] in {SERVER_LIBRARIES!r})\n"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
