"""Header detection (``computeFields``): exact, case-sensitive matching of the header cells."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guichet.bal._schema import FIELDS, LANGS


@dataclass(slots=True)
class Column:
    """One header cell and what the reference recognised in it."""

    index: int
    name: str
    schema_name: str | None = None
    localized_schema_name: str | None = None
    locale: str | None = None

    @property
    def normalized_name(self) -> str:
        """The key used in rawValues/parsedValues and as the prefix of the column's codes."""
        return self.localized_schema_name or self.schema_name or self.name

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.schema_name is not None:
            out["schemaName"] = self.schema_name
        if self.localized_schema_name is not None:
            out["localizedSchemaName"] = self.localized_schema_name
            out["locale"] = self.locale
        return out


@dataclass(frozen=True, slots=True)
class FieldsResult:
    columns: list[Column]
    not_found: list[str]
    """Missing schema columns, in schema order."""


def _first_unassigned(columns: list[Column], name: str) -> Column | None:
    for column in columns:
        if column.name == name and column.schema_name is None:
            return column
    return None


def compute_fields(header: list[str]) -> FieldsResult:
    columns = [Column(index=i, name=name) for i, name in enumerate(header)]
    not_found: list[str] = []
    for schema_name, field in FIELDS.items():
        column = _first_unassigned(columns, schema_name)
        if column is None:
            not_found.append(schema_name)
            continue
        column.schema_name = schema_name
        if not field.allow_regional_lang:
            continue
        for lang in LANGS:
            localized_name = f"{schema_name}_{lang}"
            candidate = _first_unassigned(columns, localized_name)
            if candidate is not None:
                candidate.schema_name = schema_name
                candidate.localized_schema_name = localized_name
                candidate.locale = lang
    return FieldsResult(columns=columns, not_found=not_found)


def _is_array_index(name: str) -> bool:
    """Whether JavaScript orders this object key first (a canonical array index)."""
    return (
        name.isascii()
        and name.isdigit()
        and (name == "0" or name[0] != "0")
        and (int(name) < 2**32 - 1)
    )


def js_key_order(columns: list[Column]) -> list[Column]:
    """The order ``Object.keys(row)`` visits a row's cells: integer-like header names first.

    It decides the order of a row's field codes, so a header named ``"1"`` moves its codes first.
    """
    indexes = sorted((c for c in columns if _is_array_index(c.name)), key=lambda c: int(c.name))
    if not indexes:
        return list(columns)
    return indexes + [c for c in columns if not _is_array_index(c.name)]
