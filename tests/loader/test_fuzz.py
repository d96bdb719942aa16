"""Fuzzing: whatever the input, the package answers with a result or a `FileRejected`, and the
report it renders is consistent JSON. Bounded (``max_examples``) to keep the module fast."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guichet.loader import (
    FileRejected,
    Layout,
    Model,
    Report,
    Validation,
    json_schema,
    validate,
    validate_bytes,
)
from guichet.loader._models import RULES
from tests.loader import factories as f
from tests.loader.helpers import base_item

# GUICHET_FUZZ_EXAMPLES=5000 for a long run; the default keeps the module within seconds.
EXAMPLES = int(os.environ.get("GUICHET_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "R", "EUR", "2025-02-05", "P1", "D1", "https://x.org/a", "O", "2.0"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
FIELD_NAMES = sorted({key for rules in RULES.values() for key in rules.checks})


def check_result(validation: Validation) -> None:
    """Invariants every validation result keeps."""
    report = Report(validation)
    body = json.loads(json.dumps(report.to_json()))
    expected = len(validation.items) + (
        len(validation.clients) if validation.layout is Layout.CLIENTS else 0
    )
    assert body["total_count"] == expected == body["success_count"] + body["failed_count"]
    assert (body["failed_count"] == 0) == validation.is_valid
    for issue in validation.issues():
        assert f" {issue.model} '{issue.item_id}' " in issue.message
        if issue.field is not None:
            assert issue.message.startswith(f"Champ '{issue.field}' ")
    for item in validation.items:
        assert item.is_valid == (not item.issues)
        if item.is_valid:
            assert all(target.is_valid for target in item.depends_on)


def accept_or_reject(call: Any) -> Validation | None:
    try:
        validation: Validation = call()
    except FileRejected as exc:
        json.dumps(exc.to_json())
        assert exc.to_json()["status"] == "KO"
        return None
    check_result(validation)
    return validation


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes(data: bytes) -> None:
    accept_or_reject(lambda: validate_bytes(data))


@FUZZ
@given(json_values)
def test_random_json_document(value: Any) -> None:
    accept_or_reject(lambda: validate(value))
    accept_or_reject(lambda: validate_bytes(json.dumps(value).encode()))


@FUZZ
@given(st.dictionaries(st.sampled_from([*map(str, Model), "x"]), json_values, max_size=6))
def test_random_sections_under_a_valid_header(sections: dict[str, Any]) -> None:
    accept_or_reject(lambda: validate(f.header(**sections)))


def mutated_item(model: Model) -> st.SearchStrategy[dict[str, Any]]:
    edits = st.lists(
        st.tuples(st.sampled_from([*FIELD_NAMES, "id", "remove"]), json_values | st.just(...)),
        max_size=3,
    )

    def apply(pairs: list[tuple[str, Any]], id: str) -> dict[str, Any]:
        item = base_item(model, id)
        for key, value in pairs:
            if value is ...:
                item.pop(key, None)
            else:
                item[key] = value
        return item

    return st.builds(apply, edits, st.sampled_from(["X1", "X2", "P1", "D1"]))


def mutated_file() -> st.SearchStrategy[dict[str, Any]]:
    sections = st.fixed_dictionaries(
        {},
        optional={
            "declarants": st.lists(mutated_item(Model.DECLARANTS), max_size=3),
            "properties": st.lists(mutated_item(Model.PROPERTIES), max_size=3),
            "transactions": st.lists(mutated_item(Model.TRANSACTIONS), max_size=4),
            "documents": st.lists(mutated_item(Model.DOCUMENTS), max_size=2),
        },
    )
    clients = st.lists(st.builds(lambda s, email: f.client(email, **s), sections,
                                 st.sampled_from(["a@x.org", "b@x.org", "A@X.org", "bad"])),
                       max_size=3)  # fmt: skip
    return st.one_of(
        sections.map(lambda s: f.header(**s)),
        clients.map(lambda c: f.header(clients=c)),
    )


@FUZZ
@given(mutated_file())
def test_mutated_valid_files(doc: dict[str, Any]) -> None:
    validation = accept_or_reject(lambda: validate(doc))
    assert validation is not None  # the header is intact: items fail, the file does not


@settings(max_examples=max(EXAMPLES // 3, 20), deadline=None)
@given(mutated_file())
def test_whatever_is_accepted_satisfies_the_schema(doc: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validation = validate(doc)
    if validation.is_valid and not any(math.isnan(x) for x in _floats(doc)):
        jsonschema.Draft202012Validator(json_schema()).validate(doc)


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [x for child in value for x in _floats(child)]
    return []


@FUZZ
@given(
    mutated_file(),
    st.lists(st.tuples(st.integers(min_value=0), st.binary(min_size=0, max_size=3)), max_size=4),
)
def test_corrupted_bytes_of_a_file(doc: dict[str, Any], cuts: list[tuple[int, bytes]]) -> None:
    data = bytearray(json.dumps(doc, ensure_ascii=False).encode())
    for position, replacement in cuts:
        at = position % (len(data) + 1)
        data[at : at + len(replacement)] = replacement
    accept_or_reject(lambda: validate_bytes(bytes(data)))


@settings(max_examples=max(EXAMPLES // 4, 20), deadline=None)
@given(st.integers(min_value=1, max_value=5000), st.sampled_from(["[", '{"a":', '{"clients":[']))
def test_nesting_of_any_depth(depth: int, opener: str) -> None:
    closer = {"[": "]", '{"a":': "}", '{"clients":[': "]}"}[opener]
    data = (opener * depth + "0" + closer * depth).encode()
    accept_or_reject(lambda: validate_bytes(data))
