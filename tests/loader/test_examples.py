"""Every complete example of the contract is accepted, and satisfies the shipped JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from guichet.loader import FileRejected, InvalidStructure, Report, json_schema, validate_file
from guichet.loader import _codes as codes

HERE = Path(__file__).parent / "examples"
EXAMPLES = sorted(HERE.glob("*.json"))
REJECTED = sorted((HERE / "rejected").glob("*.json"))


def test_examples_are_there() -> None:
    assert len(EXAMPLES) >= 8 and len(REJECTED) >= 2


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_accepted(path: Path) -> None:
    validation = validate_file(path)
    assert [issue.message for issue in validation.issues()] == []
    body = Report(validation).to_json()
    assert body["status"] == "SUCCESS"
    assert body["failed_count"] == 0


@pytest.mark.parametrize("path", REJECTED, ids=lambda p: p.name)
def test_skeleton_is_refused(path: Path) -> None:
    with pytest.raises(InvalidStructure):  # empty strings in the header
        validate_file(path)


def test_spec_example_content() -> None:
    validation = validate_file(HERE / "spec_7_clients_realistic.json")
    (entry,) = validation.clients
    assert entry.client is not None and entry.client.email == "claire.martin@example.org"
    ids = [(item.model.value, item.id) for item in entry.items]
    assert ids == [
        ("declarants", "ACME-D-0042"),
        ("properties", "ACME-P-0042-1"),
        ("documents", "ACME-DOC-77"),
        ("transactions", "ACME-T-9001"),
        ("transactions", "ACME-T-9002"),
    ]
    assert all(item.external_refs == () for item in validation.items)


@pytest.fixture(scope="module")
def validator() -> Any:
    """The shipped schema, checked as a 2020-12 schema (needs the ``jsonschema`` dev package)."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


class TestSchema:
    @pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
    def test_example_satisfies_the_schema(self, validator: Any, path: Path) -> None:
        validator.validate(json.loads(path.read_text("utf-8")))

    def test_contract_schema_also_accepts_the_spec_examples(self) -> None:
        jsonschema = pytest.importorskip("jsonschema")
        contract = Path(__file__).parents[3] / "shared" / "loader" / "loader-2.x.schema.json"
        if not contract.exists():
            pytest.skip("shared/ is not beside the repository")
        check = jsonschema.Draft202012Validator(json.loads(contract.read_text("utf-8")))
        for name in ("spec_7_clients_realistic.json", "seed_s3_minimal.json"):
            check.validate(json.loads((HERE / name).read_text("utf-8")))


def _enum(schema: dict[str, Any], *path: str) -> list[Any]:
    node: Any = schema["$defs"]
    for key in path:
        node = node[key]
    return [value for value in node["enum"] if value is not None]


def both(values: tuple[str, ...]) -> list[str | int]:
    return [*values, *map(int, values)]


def test_schema_code_lists_are_the_package_ones() -> None:
    schema = json_schema()
    assert schema["properties"]["versionId"]["enum"] == ["2.0"]
    assert _enum(schema, "declarant", "properties", "legalStatusId") == list(codes.LEGAL_STATUS)
    assert _enum(schema, "declarant", "properties", "taxRegimeId") == both(
        codes.DECLARANT_TAX_REGIME
    )
    assert _enum(schema, "property", "properties", "taxRegime") == both(codes.PROPERTY_TAX_REGIME)
    assert _enum(schema, "document", "properties", "fileType") == both(codes.FILE_TYPE)
    assert _enum(schema, "transaction", "properties", "ccy") == list(codes.CURRENCY)
    assert _enum(schema, "associate", "properties", "civility") == list(codes.CIVILITY)
    assert _enum(schema, "property", "properties", "managed") == list(codes.MANAGED)


def test_rejection_is_a_file_rejected() -> None:
    assert issubclass(InvalidStructure, FileRejected)
