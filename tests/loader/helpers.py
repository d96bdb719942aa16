"""Assertions and wrappers shared by the loader tests."""

from __future__ import annotations

import json
from typing import Any

from guichet.loader import Issue, Model, Validation, validate, validate_bytes
from tests.loader import factories as f


def run(doc: dict[str, Any], **options: Any) -> Validation:
    """Validate through the bytes path, as the server does."""
    return validate_bytes(json.dumps(doc).encode(), **options)


def flat(**sections: Any) -> Validation:
    return validate(f.header(**sections))


def issues_of(validation: Validation, model: Model | None = None) -> list[Issue]:
    return [issue for issue in validation.issues() if model is None or issue.model is model]


def in_context(model: Model, item: dict[str, Any]) -> dict[str, Any]:
    """A flat file where ``item`` (of ``model``) has every link it needs, and nothing else fails."""
    if model is Model.DECLARANTS:
        return f.header(declarants=[item])
    if model is Model.PROPERTIES:
        return f.header(properties=[item])
    if model is Model.ASSOCIATES:
        return f.header(declarants=[f.declarant(associates=[item])])
    if model is Model.TRANSACTIONS:
        return f.header(properties=[f.property_("P1")], transactions=[item])
    return f.header(properties=[f.property_("P1")], documents=[item])


def base_item(model: Model, id: str = "X1") -> dict[str, Any]:
    """A valid item of ``model`` (a document is linked to property P1 of `in_context`)."""
    if model is Model.DECLARANTS:
        return f.declarant(id)
    if model is Model.PROPERTIES:
        return f.property_(id)
    if model is Model.ASSOCIATES:
        return f.associate(id)
    if model is Model.TRANSACTIONS:
        return f.transaction(id, "P1")
    return f.document(id, propertyId="P1")


def assert_one_issue(
    validation: Validation, model: Model, item_id: str, field: str | None
) -> Issue:
    """Exactly one refusal, on that item and field, and its message names all three."""
    found = issues_of(validation)
    assert len(found) == 1, [issue.message for issue in found]
    issue = found[0]
    assert (issue.model, issue.item_id, issue.field) == (model, item_id, field)
    assert f" {model} '{item_id}' invalide : " in issue.message
    if field is not None:
        assert issue.message.startswith(f"Champ '{field}' dans {model} '{item_id}' invalide : ")
    return issue
