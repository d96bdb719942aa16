"""The partner report (SPEC §5.1): exact wire shape, statuses, and the server's outcomes."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from guichet.loader import Model, Outcome, Report, Status, validate
from tests.loader import factories as f

VALIDATED_AT = dt.datetime(2025, 12, 2, 9, 46, 28, 480939, tzinfo=dt.UTC)
END = dt.datetime(2025, 12, 2, 9, 46, 28, 526977, tzinfo=dt.UTC)


def report_of(**sections: object) -> Report:
    return Report(validate(f.header(**sections)), now=VALIDATED_AT)


class TestWireShape:
    def test_partial_success_as_in_the_contract(self) -> None:
        bad = f.transaction("qlower-loader-transaction-544")
        del bad["amt"]
        report = report_of(properties=[f.property_("P1")], transactions=[bad])
        assert report.to_json(end_date=END) == {
            "status": "PARTIAL_SUCCESS",
            "total_count": 2,
            "success_count": 1,
            "failed_count": 1,
            "end_date": "2025-12-02T09:46:28.526977",
            "errors": [
                {
                    "model": "transactions",
                    "type": "ValidationError",
                    "error": "Champ 'amt' dans transactions 'qlower-loader-transaction-544' "
                    "invalide : champ obligatoire",
                    "created_at": "2025-12-02T09:46:28.480939Z",
                    "id": "qlower-loader-transaction-544",
                }
            ],
            "combined_result": [
                {"model": "properties", "item": {"success": 1, "error": 0}},
                {"model": "transactions", "item": {"success": 0, "error": 1}},
            ],
        }
        assert list(report.to_json(end_date=END)) == [
            "status",
            "total_count",
            "success_count",
            "failed_count",
            "end_date",
            "errors",
            "combined_result",
        ]

    def test_success(self) -> None:
        body = report_of(
            properties=[f.property_("P1")], transactions=[f.transaction("T1")]
        ).to_json(end_date=END)
        assert (body["status"], body["total_count"], body["success_count"]) == ("SUCCESS", 2, 2)
        assert body["errors"] == []

    def test_error_when_every_item_fails(self) -> None:
        report = report_of(transactions=[f.transaction("T1", amt="x"), f.transaction("T2", ccy="")])
        assert report.status is Status.ERROR
        assert report.to_json()["failed_count"] == 2

    def test_empty_file_is_a_success(self) -> None:
        body = report_of().to_json(end_date=END)
        assert body["status"] == "SUCCESS"
        assert (body["total_count"], body["combined_result"]) == (0, [])

    def test_clients_are_counted_in_the_clients_layout(self) -> None:
        report = report_of(
            clients=[
                f.client("a@example.org", transactions=[f.transaction("T1")]),
                {"client": {"email": "b@example.org"}, "transactions": [f.transaction("T2")]},
            ]
        )
        body = report.to_json()
        assert body["combined_result"] == [
            {"model": "clients", "item": {"success": 1, "error": 1}},
            {"model": "transactions", "item": {"success": 1, "error": 1}},
        ]
        assert [error["model"] for error in body["errors"]] == [
            "clients",
            "clients",
            "transactions",
        ]
        assert body["errors"][0]["id"] == "b@example.org"

    def test_times_are_utc(self) -> None:
        paris = dt.datetime(2025, 12, 2, 10, 46, 28, tzinfo=ZoneInfo("Europe/Paris"))
        bad = f.transaction("T1", ccy="CHF")
        report = Report(validate(f.header(transactions=[bad])), now=paris)
        body = report.to_json(end_date=paris)
        assert body["end_date"] == "2025-12-02T09:46:28.000000"
        assert body["errors"][0]["created_at"] == "2025-12-02T09:46:28.000000Z"
        naive = report.to_json(end_date=dt.datetime(2025, 1, 1))  # naive: taken as UTC
        assert naive["end_date"] == "2025-01-01T00:00:00.000000"

    def test_body_is_json(self) -> None:
        report = report_of(transactions=[f.transaction("T1", amt=None)])
        json.dumps(report.to_json())


def integration_file() -> Report:
    return report_of(
        declarants=[
            f.declarant("D1", properties=[f.property_("P1", documents=[f.document("DOC1")])])
        ],
        properties=[f.property_("P2")],
        transactions=[
            f.transaction("T1", "P1"),
            f.transaction("T2", "P2"),
            f.transaction("T3", "P-OLD"),
        ],
    )


class TestServerOutcomes:
    def test_unrecorded_valid_items_count_as_successes(self) -> None:
        report = integration_file()
        assert report.status is Status.SUCCESS
        assert all(report.outcome(item) is Outcome.VALID for item in report.validation.items)

    def test_recorded_outcomes(self) -> None:
        report = integration_file()
        for item in report.pending():
            report.record(item, Outcome.ALREADY_KNOWN if item.id == "P2" else Outcome.CREATED)
        assert list(report.pending()) == []
        tally = report.tally()
        assert tally[Model.PROPERTIES] == {Outcome.CREATED: 1, Outcome.ALREADY_KNOWN: 1}
        assert report.to_json()["status"] == "SUCCESS"

    def test_failure_cascades_to_pending_dependents(self) -> None:
        report = integration_file()
        seen = []
        for item in report.pending():
            seen.append(item.id)
            if item.id == "P1":
                report.fail(item, "base indisponible")
            else:
                report.record(item, Outcome.CREATED)
        assert seen == ["D1", "P1", "P2", "T2", "T3"]  # DOC1 and T1 failed with P1
        errors = [(e.model, e.id, e.error) for e in report.errors()]
        assert errors == [
            (Model.PROPERTIES, "P1", "Élément properties 'P1' en échec : base indisponible"),
            (
                Model.DOCUMENTS,
                "DOC1",
                "Champ 'propertyId' dans documents 'DOC1' invalide : propriété 'P1' en échec",
            ),
            (
                Model.TRANSACTIONS,
                "T1",
                "Champ 'id-prty' dans transactions 'T1' invalide : propriété 'P1' en échec",
            ),
        ]
        body = report.to_json()
        assert (body["status"], body["success_count"], body["failed_count"]) == (
            "PARTIAL_SUCCESS",
            4,
            3,
        )
        assert all(error["type"] == "IntegrationError" for error in body["errors"])

    def test_integrated_items_stay_integrated(self) -> None:
        report = integration_file()
        items = {item.id: item for item in report.validation.items}
        report.record(items["T1"], Outcome.CREATED)
        report.fail(items["P1"], "erreur")
        assert report.outcome(items["T1"]) is Outcome.CREATED
        assert report.outcome(items["DOC1"]) is Outcome.FAILED

    def test_unknown_external_reference(self) -> None:
        report = integration_file()
        ((item, reference),) = report.validation.external_references()
        report.fail_unknown_reference(item, reference)
        (error,) = report.errors()
        assert error.type == "ValidationError"
        assert (
            error.error
            == "Champ 'id-prty' dans transactions 'T3' invalide : propriété 'P-OLD' inconnue"
        )

    def test_failed_client_entry_fails_all_its_items(self) -> None:
        report = report_of(
            clients=[
                f.client(
                    "a@example.org",
                    properties=[f.property_("P1")],
                    transactions=[f.transaction("T1")],
                ),
                f.client("b@example.org", transactions=[f.transaction("T2", "P-OLD")]),
            ]
        )
        first, second = report.validation.clients
        report.record(first.items[0], Outcome.CREATED)
        report.fail(first, "compte impossible à créer", at=END)
        assert list(report.pending(first)) == []
        assert [item.id for item in report.pending()] == ["T2"]
        report.record(second, Outcome.ALREADY_KNOWN)
        body = report.to_json()
        assert body["combined_result"][0] == {
            "model": "clients",
            "item": {"success": 1, "error": 1},
        }
        assert [e["error"] for e in body["errors"]] == [
            "Élément clients 'a@example.org' en échec : compte impossible à créer",
            "Champ 'client' dans properties 'P1' invalide : client 'a@example.org' en échec",
            "Champ 'client' dans transactions 'T1' invalide : client 'a@example.org' en échec",
        ]
        assert body["errors"][0]["created_at"] == "2025-12-02T09:46:28.526977Z"

    def test_failed_client_entry_keeps_validation_refusals(self) -> None:
        report = report_of(
            clients=[f.client(transactions=[f.transaction("T1"), f.transaction("T2", ccy="X")])]
        )
        report.fail(report.validation.clients[0], "compte bloqué")
        assert [e.id for e in report.errors()] == ["T2", "claire.martin@example.org", "T1"]
        assert report.status is Status.ERROR

    def test_custom_error_type_and_field(self) -> None:
        report = report_of(properties=[f.property_("P1", documents=[f.document("DOC1")])])
        doc = report.validation.items[1]
        report.fail(
            doc, "lien injoignable (HTTP 404)", field="fileLink", error_type="DownloadError"
        )
        (error,) = report.errors()
        assert (error.type, error.error) == (
            "DownloadError",
            "Champ 'fileLink' dans documents 'DOC1' invalide : lien injoignable (HTTP 404)",
        )

    def test_misuse_is_a_programming_error(self) -> None:
        report = report_of(transactions=[f.transaction("T1"), f.transaction("T2", amt=None)])
        good, bad = report.validation.items
        with pytest.raises(ValueError, match="use fail"):
            report.record(good, Outcome.FAILED)
        with pytest.raises(ValueError, match="refused"):
            report.record(bad, Outcome.CREATED)
        with pytest.raises(ValueError, match="refused"):
            report.fail(bad, "x")
        report.fail(good, "x")
        with pytest.raises(ValueError, match="refused"):
            report.record(good, Outcome.CREATED)
        report.fail(good, "again")  # idempotent: a second failure adds nothing
        assert len(report.errors()) == 2
