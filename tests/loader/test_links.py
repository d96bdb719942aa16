"""Identities and references (SPEC §2.2, §3.6): duplicates, links, nesting, cascades."""

from __future__ import annotations

from guichet.loader import Model, Reference, validate
from tests.loader import factories as f
from tests.loader.helpers import assert_one_issue, flat, issues_of

D, P, A, T, DOC = (
    Model.DECLARANTS,
    Model.PROPERTIES,
    Model.ASSOCIATES,
    Model.TRANSACTIONS,
    Model.DOCUMENTS,
)


class TestDuplicates:
    def test_second_transaction_with_the_same_id_is_refused(self) -> None:
        validation = flat(
            properties=[f.property_("P1")],
            transactions=[f.transaction("T1"), f.transaction("T1", amt=1.0)],
        )
        issue = assert_one_issue(validation, T, "T1", "id")
        assert issue.code == "duplicate"
        assert issue.to_json() == {
            "model": "transactions",
            "id": "T1",
            "field": "id",
            "code": "duplicate",
            "message": issue.message,
        }
        assert repr(validation.items[1]) == "<Item transactions 'T1'>"
        assert "($.transactions[0])" in issue.message
        first, second = validation.items[1:]
        assert first.is_valid and not second.is_valid

    def test_nested_and_top_level_properties_share_one_namespace(self) -> None:
        validation = flat(
            declarants=[f.declarant("D1", properties=[f.property_("P1")])],
            properties=[f.property_("P1")],
        )
        issue = assert_one_issue(validation, P, "P1", "id")
        assert "$.declarants[0].properties[0]" in issue.message

    def test_ids_are_per_model(self) -> None:
        validation = flat(
            declarants=[f.declarant("X")],
            properties=[f.property_("X")],
            transactions=[f.transaction("X", "X")],
        )
        assert validation.is_valid

    def test_duplicates_across_client_entries(self) -> None:
        doc = f.header(
            clients=[
                f.client("a@example.org", properties=[f.property_("P1")]),
                f.client("b@example.org", properties=[f.property_("P1")]),
            ]
        )
        issue = assert_one_issue(validate(doc), P, "P1", "id")
        assert "$.clients[0].properties[0]" in issue.message

    def test_items_without_usable_id_are_not_compared(self) -> None:
        validation = flat(transactions=[f.transaction(""), f.transaction("")])
        assert [issue.item_id for issue in validation.issues()] == [
            "$.transactions[0]",
            "$.transactions[1]",
        ]


class TestTransactionToProperty:
    def test_property_in_the_file(self) -> None:
        validation = flat(properties=[f.property_("P1")], transactions=[f.transaction("T1", "P1")])
        prop, tx = validation.items
        assert validation.is_valid
        assert tx.depends_on == (prop,)
        assert tx.property_id == "P1"
        assert tx.external_refs == ()

    def test_property_outside_the_file_is_left_to_the_server(self) -> None:
        validation = flat(transactions=[f.transaction("T1", "P-OLD")])
        assert validation.is_valid
        (tx,) = validation.items
        assert tx.external_refs == (Reference("id-prty", P, "P-OLD"),)
        assert list(validation.external_references()) == [(tx, tx.external_refs[0])]

    def test_self_contained_refuses_unknown_property(self) -> None:
        validation = flat(transactions=[f.transaction("T1", "P9")])
        assert validation.is_valid
        strict = validate(f.header(transactions=[f.transaction("T1", "P9")]), self_contained=True)
        issue = assert_one_issue(strict, T, "T1", "id-prty")
        assert issue.message == (
            "Champ 'id-prty' dans transactions 'T1' invalide : propriété 'P9' absente de ce fichier"
        )

    def test_invalid_property_fails_its_transactions(self) -> None:
        validation = flat(
            properties=[f.property_("P1", ctry="France")],
            transactions=[f.transaction("T1", "P1"), f.transaction("T2", "P1")],
        )
        assert [(i.item_id, i.field, i.code) for i in validation.issues()] == [
            ("P1", "ctry", "pattern"),
            ("T1", "id-prty", "dependency"),
            ("T2", "id-prty", "dependency"),
        ]
        assert issues_of(validation, T)[0].reason == "propriété 'P1' invalide"

    def test_property_deleted_by_the_same_file(self) -> None:
        validation = flat(
            properties=[{"id": "P1", "remove": "R"}], transactions=[f.transaction("T1", "P1")]
        )
        issue = assert_one_issue(validation, T, "T1", "id-prty")
        assert issue.code == "removed"


class TestPropertyToDeclarant:
    def test_nested_property_hangs_off_its_declarant(self) -> None:
        validation = flat(declarants=[f.declarant("D1", properties=[f.property_("P1")])])
        decl, prop = validation.items
        assert prop.parent is decl and prop.depends_on == (decl,)
        assert prop.declarant_id == "D1"
        assert prop.path == "$.declarants[0].properties[0]"

    def test_top_level_property_links_with_declarant_id(self) -> None:
        validation = flat(
            declarants=[f.declarant("D1")], properties=[f.property_("P1", declarantId="D1")]
        )
        decl, prop = validation.items
        assert prop.depends_on == (decl,) and prop.declarant_id == "D1"

    def test_top_level_property_without_declarant_is_accepted(self) -> None:
        # Mandatory in the 2.0 text, optional since 2.1 (SPEC §2.2).
        validation = flat(properties=[f.property_("P1")])
        assert validation.is_valid and validation.items[0].declarant_id is None

    def test_declarant_outside_the_file(self) -> None:
        validation = flat(properties=[f.property_("P1", declarantId="D-OLD")])
        assert validation.items[0].external_refs == (Reference("declarantId", D, "D-OLD"),)

    def test_invalid_declarant_fails_nested_properties_documents_and_associates(self) -> None:
        nested = f.property_("P1", documents=[f.document("DOC1")])
        declarant = f.declarant("D1", legalStatusId="SARL", properties=[nested])
        declarant["associates"] = [f.associate("A1")]
        validation = flat(declarants=[declarant], transactions=[f.transaction("T1", "P1")])
        assert [(i.model, i.item_id, i.field, i.code) for i in validation.issues()] == [
            (D, "D1", "legalStatusId", "enum"),
            (P, "P1", "declarantId", "dependency"),
            (A, "A1", "declarantId", "dependency"),
            (DOC, "DOC1", "propertyId", "dependency"),
            (T, "T1", "id-prty", "dependency"),
        ]

    def test_contradicting_declarant_id_in_a_nested_property_is_a_warning(self) -> None:
        nested = f.property_("P1", declarantId="D2")
        validation = flat(declarants=[f.declarant("D1", properties=[nested])])
        assert validation.is_valid
        (warning,) = validation.warnings
        assert warning.is_warning and warning.field == "declarantId"
        assert warning.message.startswith("Champ 'declarantId' dans properties 'P1' ignoré : ")
        assert validation.items[1].declarant_id == "D1"


class TestDocuments:
    def test_nested_document_hangs_off_its_property(self) -> None:
        nested = f.property_("P1", documents=[f.document("DOC1")])
        validation = flat(declarants=[f.declarant("D1", properties=[nested])])
        doc = validation.items[-1]
        assert (doc.property_id, doc.declarant_id) == ("P1", "D1")
        assert doc.path == "$.declarants[0].properties[0].documents[0]"

    def test_top_level_document_needs_a_link(self) -> None:
        issue = assert_one_issue(flat(documents=[f.document("DOC1")]), DOC, "DOC1", "propertyId")
        assert issue.reason == "champ obligatoire (propertyId ou declarantId)"
        empty = flat(documents=[f.document("DOC1", propertyId="", declarantId="")])
        assert_one_issue(empty, DOC, "DOC1", "propertyId")

    def test_top_level_document_of_a_declarant(self) -> None:
        validation = flat(
            declarants=[f.declarant("D1")], documents=[f.document("DOC1", declarantId="D1")]
        )
        assert validation.is_valid
        assert validation.items[1].depends_on == (validation.items[0],)

    def test_top_level_document_with_both_links(self) -> None:
        validation = flat(
            declarants=[f.declarant("D1")],
            properties=[f.property_("P1")],
            documents=[f.document("DOC1", propertyId="P1", declarantId="D-OLD")],
        )
        doc = validation.items[-1]
        assert doc.depends_on == (validation.items[1],)
        assert doc.external_refs == (Reference("declarantId", D, "D-OLD"),)

    def test_document_of_an_invalid_declarant(self) -> None:
        validation = flat(
            declarants=[f.declarant("D1", postCode=59000)],
            documents=[f.document("DOC1", declarantId="D1")],
        )
        assert issues_of(validation, DOC)[0].field == "declarantId"

    def test_documents_of_a_top_level_property(self) -> None:
        validation = flat(properties=[f.property_("P1", documents=[f.document("DOC1")])])
        assert validation.is_valid and validation.items[1].property_id == "P1"


class TestAssociates:
    def test_nested_associate(self) -> None:
        validation = flat(declarants=[f.declarant("D1", associates=[f.associate("A1")])])
        assert validation.is_valid and validation.items[1].declarant_id == "D1"

    def test_top_level_associates_are_refused_one_by_one(self) -> None:
        validation = flat(associates=[f.associate("A1")], transactions=[f.transaction()])
        issue = assert_one_issue(validation, A, "A1", None)
        assert issue.code == "layout"
        assert "declarants[].associates" in issue.message


class TestClientsLayout:
    def test_references_stay_inside_one_client(self) -> None:
        doc = f.header(
            clients=[
                f.client("a@example.org", properties=[f.property_("P1")]),
                f.client("b@example.org", transactions=[f.transaction("T1", "P1")]),
            ]
        )
        issue = assert_one_issue(validate(doc), T, "T1", "id-prty")
        assert issue.reason == (
            "propriété 'P1' appartient à un autre client de ce fichier (a@example.org)"
        )

    def test_items_of_an_invalid_client_are_refused(self) -> None:
        doc = f.header(
            clients=[
                {"client": {"email": "pas-un-email"}, "transactions": [f.transaction("T1")]},
                f.client("b@example.org", transactions=[f.transaction("T2")]),
            ]
        )
        validation = validate(doc)
        assert [(i.model, i.item_id, i.field) for i in validation.issues()] == [
            (Model.CLIENTS, "$.clients[0]", "client.firstName"),  # missing keys first
            (Model.CLIENTS, "$.clients[0]", "client.lastName"),
            (Model.CLIENTS, "$.clients[0]", "client.email"),
            (T, "T1", "client"),
        ]
        assert validation.clients[1].is_valid and validation.items[1].is_valid
