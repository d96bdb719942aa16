"""Small builders of valid loader objects (each returns a fresh dict)."""

from __future__ import annotations

import json
from typing import Any


def header(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "inigPtynm": "acme-gestion",
        "apiKey": "7Swvx0CZDKXLkeJ6iaOeH8Cb6TPdbHAL",
        "creDtTm": "2025-03-02T08:15:00+01:00",
        "versionId": "2.0",
    }
    doc.update(overrides)
    return doc


def declarant(id: str = "D1", **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": id,
        "legalStatusId": "1000",
        "corporateName": "MARTIN Claire",
        "address": "8 rue des Tanneurs",
        "townName": "Lille",
        "postCode": "59000",
    }
    item.update(overrides)
    return item


def property_(id: str = "P1", **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": id,
        "description": "T2 meublé Vieux-Lille",
        "streetName": "rue des Tanneurs",
        "townName": "Lille",
        "postCode": "59000",
        "ctry": "FR",
        "lastName": "Martin",
        "firstName": "Claire",
        "email": "claire.martin@example.org",
        "acquisitionDate": "2023-07-12",
    }
    item.update(overrides)
    return item


def associate(id: str = "A1", **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": id, "civility": "MME", "email": "claire.martin@example.org"}
    item.update(overrides)
    return item


def transaction(id: str = "T1", prty: str = "P1", **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": id,
        "reqdExctnDt": "2025-02-05",
        "id-prty": prty,
        "amt": 780.0,
        "ccy": "EUR",
        "purpose": "LOYER",
        "ref": "Loyer février 2025",
    }
    item.update(overrides)
    return item


def document(id: str = "DOC1", **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": id,
        "fileName": "Acte de vente",
        "fileType": "42",
        "year": "2023",
        "fileLink": "https://files.example.org/acme/77.pdf",
    }
    item.update(overrides)
    return item


def client(email: str = "claire.martin@example.org", **sections: Any) -> dict[str, Any]:
    return {"client": {"email": email, "firstName": "Claire", "lastName": "Martin"}, **sections}


def big_file(transactions: int = 100_000, properties: int = 1_000) -> bytes:
    """A flat file: one declarant per 10 properties (nested), the transactions at the root."""
    declarants = [
        declarant(
            f"D{d}",
            properties=[property_(f"P{d * 10 + p}") for p in range(10)],
        )
        for d in range(properties // 10)
    ]
    rows = [
        transaction(f"T{n}", f"P{n % properties}", amt=round(n * 1.37 - 5000, 2))
        for n in range(transactions)
    ]
    return json.dumps(header(declarants=declarants, transactions=rows)).encode()
