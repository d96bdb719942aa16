"""Package discipline (STYLE §4.7): explicit and complete ``__all__``, no server imports."""

from __future__ import annotations

import ast
from pathlib import Path

import guichet.loader as loader

PACKAGE = Path(loader.__file__).parent


def _isort_key(name: str) -> tuple[int, str]:
    # ruff RUF022 order: CONSTANTS, then Classes, then functions.
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


def test_all_is_sorted_and_complete() -> None:
    assert loader.__all__ == sorted(loader.__all__, key=_isort_key)
    public = {name for name in vars(loader) if not name.startswith("_")}
    assert public == set(loader.__all__)


def test_modules_are_private() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    assert all(name.startswith("_") for name in modules)
    assert (PACKAGE / "py.typed").exists()


def test_no_import_of_the_server() -> None:
    allowed_roots = {"guichet.loader"}
    forbidden = {"fastapi", "sqlalchemy", "procrastinate", "pydantic_settings", "structlog"}
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, (path.name, name)
                if name.startswith("guichet"):
                    assert any(name.startswith(root) for root in allowed_roots), (path.name, name)


def test_exception_tree() -> None:
    assert issubclass(loader.FileRejected, loader.LoaderError)
    for exc in (
        loader.WrongFormat,
        loader.MissingKey,
        loader.InvalidStructure,
        loader.InvalidValue,
    ):
        assert issubclass(exc, loader.FileRejected)
    assert issubclass(loader.FileTooLarge, loader.WrongFormat)
    wire_types = {
        exc.wire_type
        for exc in (
            loader.WrongFormat,
            loader.MissingKey,
            loader.InvalidStructure,
            loader.InvalidValue,
        )
    }
    assert wire_types == {"WrongFormat", "KeyError", "ValidationError", "ValueError"}
