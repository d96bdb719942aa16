"""The two layouts (SPEC §2.2): flat sections, or one ``clients[]`` entry per target account."""

from __future__ import annotations

from typing import Any

import pytest

from guichet.loader import InvalidStructure, Layout, Model, validate
from tests.loader import factories as f
from tests.loader.helpers import assert_one_issue


def refused(doc: dict[str, Any]) -> InvalidStructure:
    with pytest.raises(InvalidStructure) as caught:
        validate(doc)
    assert caught.value.to_json()["type"] == "ValidationError"
    return caught.value


class TestFlat:
    def test_one_implicit_entry(self) -> None:
        validation = validate(f.header(transactions=[f.transaction()]))
        assert validation.layout is Layout.FLAT
        (entry,) = validation.clients
        assert entry.client is None and entry.label == "$"
        assert entry.items == validation.items

    def test_sections_may_be_absent_or_empty(self) -> None:
        assert validate(f.header()).items == []
        assert validate(f.header(declarants=[], properties=[], documents=[])).is_valid

    @pytest.mark.parametrize("section", ["declarants", "properties", "transactions", "documents"])
    @pytest.mark.parametrize("value", [{}, None, "[]", 0])
    def test_section_must_be_an_array(self, section: str, value: Any) -> None:
        exc = refused(f.header(**{section: value}))
        assert exc.errors == f"Champ '{section}' à la racine invalide : un tableau JSON est attendu"

    def test_items_come_in_integration_order(self) -> None:
        doc = f.header(
            transactions=[f.transaction("T1")],
            documents=[f.document("DOC1", propertyId="P1")],
            properties=[f.property_("P1")],
            declarants=[f.declarant("D1", associates=[f.associate("A1")])],
        )
        models = [item.model for item in validate(doc).items]
        assert models == [
            Model.DECLARANTS,
            Model.PROPERTIES,
            Model.ASSOCIATES,
            Model.DOCUMENTS,
            Model.TRANSACTIONS,
        ]


class TestClients:
    def test_entries_and_their_accounts(self) -> None:
        doc = f.header(
            clients=[
                f.client("a@example.org", transactions=[f.transaction("T1")]),
                {**f.client("b@example.org"), "declarants": [f.declarant("D1")]},
            ]
        )
        doc["clients"][1]["client"]["phoneNumber"] = "0600000000"
        validation = validate(doc)
        assert validation.layout is Layout.CLIENTS
        first, second = validation.clients
        assert first.client is not None and second.client is not None
        assert (first.client.email, second.client.phone_number) == ("a@example.org", "0600000000")
        assert [item.id for item in first.items] == ["T1"]
        assert second.items_of(Model.DECLARANTS)[0].path == "$.clients[1].declarants[0]"

    def test_empty_clients(self) -> None:
        validation = validate(f.header(clients=[]))
        assert validation.is_valid and validation.clients == []

    def test_clients_must_be_an_array(self) -> None:
        assert "'clients'" in refused(f.header(clients={})).errors

    def test_mixing_layouts_is_refused(self) -> None:
        exc = refused(f.header(clients=[f.client()], transactions=[f.transaction()]))
        assert "transactions à la racine et 'clients' à la fois" in exc.errors

    def test_empty_root_sections_beside_clients_are_tolerated(self) -> None:
        validation = validate(f.header(clients=[f.client()], declarants=[], transactions=[]))
        assert validation.layout is Layout.CLIENTS and validation.is_valid

    def test_entry_that_is_not_an_object(self) -> None:
        issue = assert_one_issue(
            validate(f.header(clients=[[]])), Model.CLIENTS, "$.clients[0]", None
        )
        assert issue.reason == "un objet JSON est attendu"

    def test_client_block_is_required(self) -> None:
        doc = f.header(clients=[{"transactions": []}])
        assert_one_issue(validate(doc), Model.CLIENTS, "$.clients[0]", "client")

    @pytest.mark.parametrize(
        ("block", "field", "code"),
        [
            ("nope", "client", "type"),
            ({"email": "a@example.org", "firstName": "A"}, "client.lastName", "required"),
            ({"email": "a@example", "firstName": "A", "lastName": "B"}, "client.email", "email"),
            ({"email": 42, "firstName": "A", "lastName": "B"}, "client.email", "type"),
            (
                {"email": "a@example.org", "firstName": "A", "lastName": "B", "phoneNumber": 6},
                "client.phoneNumber",
                "type",
            ),
        ],
    )
    def test_client_block_fields(self, block: Any, field: str, code: str) -> None:
        validation = validate(f.header(clients=[{"client": block}]))
        entry = validation.clients[0]
        label = (
            "a@example.org" if field in ("client.lastName", "client.phoneNumber") else entry.path
        )
        assert assert_one_issue(validation, Model.CLIENTS, label, field).code == code

    def test_same_email_twice_is_refused_case_insensitively(self) -> None:
        doc = f.header(clients=[f.client("Claire@Example.org"), f.client("claire@EXAMPLE.org")])
        issue = assert_one_issue(validate(doc), Model.CLIENTS, "claire@EXAMPLE.org", "client.email")
        assert issue.code == "duplicate"

    def test_entry_section_that_is_not_an_array_fails_the_entry(self) -> None:
        doc = f.header(clients=[{**f.client(), "transactions": {}, "properties": [f.property_()]}])
        validation = validate(doc)
        assert [(i.model, i.field) for i in validation.issues()] == [
            (Model.CLIENTS, "transactions"),
            (Model.PROPERTIES, "client"),
        ]
