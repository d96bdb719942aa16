"""Every model's required fields, types, code lists and patterns (SPEC §3 and the JSON schema).

Each refusal must name the model, the item id and the field, in the contract's words:
"Champ 'amt' dans transactions 'T1' invalide : champ obligatoire".
"""

from __future__ import annotations

from typing import Any

import pytest

from guichet.loader import Model, validate
from tests.loader.helpers import assert_one_issue, base_item, in_context

D, P, A, T, DOC = (
    Model.DECLARANTS,
    Model.PROPERTIES,
    Model.ASSOCIATES,
    Model.TRANSACTIONS,
    Model.DOCUMENTS,
)

REQUIRED = {
    D: ["id", "legalStatusId", "corporateName", "address", "townName", "postCode"],
    P: [
        "id", "description", "streetName", "townName", "postCode", "ctry",
        "lastName", "firstName", "email", "acquisitionDate",
    ],
    A: ["id", "civility", "email"],
    T: ["id", "reqdExctnDt", "id-prty", "amt", "ref"],
    DOC: ["id", "fileName", "year", "fileLink"],
}  # fmt: skip
PATH = {
    D: "$.declarants[0]",
    P: "$.properties[0]",
    A: "$.declarants[0].associates[0]",
    T: "$.transactions[0]",
    DOC: "$.documents[0]",
}


def check_refused(model: Model, field: str, value: Any, code: str, *, missing: bool = False) -> str:
    item = base_item(model)
    if missing:
        del item[field]
    else:
        item[field] = value
    expected_id = PATH[model] if field == "id" else "X1"
    issue = assert_one_issue(validate(in_context(model, item)), model, expected_id, field)
    assert issue.code == code
    return issue.message


@pytest.mark.parametrize(
    ("model", "field"),
    [(model, field) for model, fields in REQUIRED.items() for field in fields],
    ids=lambda v: str(v),
)
def test_required_field_missing(model: Model, field: str) -> None:
    message = check_refused(model, field, None, "required", missing=True)
    assert message.endswith("invalide : champ obligatoire")


WRONG = [
    # declarants
    (D, "id", 42, "type"),
    (D, "id", "", "length"),
    (D, "id", "x" * 256, "length"),
    (D, "sirenId", "12345678", "pattern"),
    (D, "sirenId", 123456789, "type"),
    (D, "nicId", "1234a", "pattern"),
    (D, "legalStatusId", "SARL", "enum"),
    (D, "legalStatusId", 1000, "enum"),
    (D, "taxRegimeAggregation", "IRPP", "enum"),
    (D, "taxCategoryId", "6", "enum"),
    (D, "taxCategoryId", 6, "enum"),
    (D, "taxCategoryId", True, "enum"),
    (D, "taxRegimeId", "13", "enum"),
    (D, "corporateName", "", "length"),
    (D, "corporateName", None, "type"),
    (D, "debActDate", "2023-02-30", "date"),
    (D, "debActDate", "01/09/2023", "date"),
    (D, "debActDate", 20230901, "type"),
    (D, "address", 8, "type"),
    (D, "townName", None, "type"),
    (D, "postCode", 59000, "type"),
    (D, "ogaName", 1, "type"),
    (D, "properties", {}, "type"),
    (D, "associates", "none", "type"),
    # properties
    (P, "declarantId", 42, "type"),
    (P, "remove", "X", "enum"),
    (P, "type", "F", "enum"),
    (P, "description", "", "length"),
    (P, "furnished", "Y", "enum"),
    (P, "managed", "X", "enum"),
    (P, "bldgNb", 8, "type"),
    (P, "streetName2", 5, "type"),
    (P, "ctry", "France", "pattern"),
    (P, "ctry", "fr", "pattern"),
    (P, "email", 5, "type"),
    (P, "telNumber", 612345678, "type"),
    (P, "constructionDate", "2023-13-01", "date"),
    (P, "acquisitionDate", "2023/07/12", "date"),
    (P, "nbrRooms", -1, "range"),
    (P, "nbrRooms", 2.5, "type"),
    (P, "nbrRooms", "2", "type"),
    (P, "nbrFloors", "1", "type"),
    (P, "nbrPark", -1, "range"),
    (P, "area", "41,5", "type"),
    (P, "terrArea", "NaN", "type"),
    (P, "gardArea", None, "type"),
    (P, "siretId", "123", "pattern"),
    (P, "tvaOption", "5.5", "enum"),
    (P, "netReevaluation", True, "type"),
    (P, "debActDate", "2023-9-1", "date"),
    (P, "taxRegime", 34, "enum"),
    (P, "taxRegime", "99", "enum"),
    (P, "taxRegime", 5.0, "enum"),
    (P, "workCompDate", "demain", "date"),
    (P, "costPrice", [], "type"),
    (P, "completionStatus", "USED", "enum"),
    (P, "startConstrDate", 1999, "type"),
    (P, "dismemberedProperty", "oui", "enum"),
    (P, "agencyFee", {"amt": 1}, "type"),
    (P, "notaryFee", "1 000", "type"),
    (P, "documents", {}, "type"),
    # associates
    (A, "civility", "MR", "enum"),
    (A, "manager", True, "enum"),
    (A, "ctry", 33, "type"),
    (A, "adress", 1, "type"),
    (A, "firstName", ["Jean"], "type"),
    (A, "email", None, "type"),
    # transactions
    (T, "reqdExctnDt", "2025-02-30", "date"),
    (T, "id-prty", "", "length"),
    (T, "id-prty", 12, "type"),
    (T, "id-tenant", 7, "type"),
    (T, "amt", "780,00", "type"),
    (T, "amt", "1e3", "type"),
    (T, "amt", None, "type"),
    (T, "ccy", "CHF", "enum"),
    (T, "purpose", 1, "type"),
    (T, "ref", None, "type"),
    # documents
    (DOC, "fileName", 1, "type"),
    (DOC, "fileType", "28", "enum"),
    (DOC, "fileType", 99, "enum"),
    (DOC, "year", "22", "pattern"),
    (DOC, "year", 123, "pattern"),
    (DOC, "year", 2022.0, "type"),
    (DOC, "fileLink", 5, "type"),
    (DOC, "fileLink", "ftp://files.example.org/a.pdf", "url"),
    (DOC, "fileLink", "liasse.pdf", "url"),
    (DOC, "fileLink", "https://", "url"),
    (DOC, "fileLink", "https://files.example.org/a b.pdf", "url"),
    (DOC, "propertyId", 5, "type"),
]


@pytest.mark.parametrize(("model", "field", "value", "code"), WRONG, ids=repr)
def test_wrong_value_is_refused(model: Model, field: str, value: Any, code: str) -> None:
    check_refused(model, field, value, code)


def test_enum_message_lists_the_codes() -> None:
    message = check_refused(T, "ccy", "CHF", "enum")
    assert message == (
        "Champ 'ccy' dans transactions 'X1' invalide : "
        "valeur non autorisée (attendu : 'EUR', 'USD' ou 'GBP')"
    )


def test_contract_sample_message_is_reproduced() -> None:
    item = base_item(T, "qlower-loader-transaction-544")
    del item["amt"]
    validation = validate(in_context(T, item))
    (issue,) = validation.issues()
    assert issue.message == (
        "Champ 'amt' dans transactions 'qlower-loader-transaction-544' invalide : champ obligatoire"
    )


ACCEPTED = [
    (D, "taxCategoryId", 2),
    (D, "taxCategoryId", None),
    (D, "taxRegimeId", "1"),  # 2.1 annex
    (D, "taxRegimeId", 12),  # current annex
    (D, "taxRegimeAggregation", None),
    (P, "taxRegime", "7"),
    (P, "taxRegime", 95),
    (P, "tvaOption", None),
    (P, "streetName2", None),
    (P, "nbrRooms", 2.0),
    (P, "nbrFloors", -1),
    (P, "area", "41.50"),
    (P, "costPrice", 182000),
    (P, "remove", ""),
    (A, "manager", "TRUE"),
    (A, "ctry", None),
    (T, "amt", "-65.40"),
    (T, "amt", 780),
    (T, "amt", -1e-2),
    (DOC, "year", 2023),
    (DOC, "fileType", 26),
    (DOC, "fileType", None),
    (DOC, "fileLink", "http://files.example.org"),
    (T, "unknownPartnerKey", {"anything": [1, 2]}),
]


@pytest.mark.parametrize(("model", "field", "value"), ACCEPTED, ids=repr)
def test_accepted_value(model: Model, field: str, value: Any) -> None:
    item = base_item(model)
    item[field] = value
    validation = validate(in_context(model, item))
    assert [issue.message for issue in validation.issues()] == []


@pytest.mark.parametrize("model", list(REQUIRED), ids=str)
def test_item_that_is_not_an_object(model: Model) -> None:
    doc = in_context(model, base_item(model))
    container = doc["declarants"][0]["associates"] if model is A else doc[str(model)]
    container[0] = ["not", "an", "object"]
    issue = assert_one_issue(validate(doc), model, PATH[model], None)
    assert issue.message.endswith("invalide : un objet JSON est attendu")


def test_several_problems_of_one_item_are_all_reported() -> None:
    item = base_item(T, "T9")
    del item["ref"]
    item["ccy"] = "CHF"
    item["amt"] = "douze"
    validation = validate(in_context(T, item))
    assert [(issue.field, issue.code) for issue in validation.issues()] == [
        ("ref", "required"),
        ("amt", "type"),
        ("ccy", "enum"),
    ]


def test_removal_request_needs_only_the_id() -> None:
    validation = validate(in_context(P, {"id": "P7", "remove": "R"}))
    assert validation.is_valid
    assert validation.items[0].is_removal


def test_removal_request_fields_are_still_checked() -> None:
    issue = assert_one_issue(
        validate(in_context(P, {"id": "P7", "remove": "R", "ctry": "France"})), P, "P7", "ctry"
    )
    assert issue.code == "pattern"
