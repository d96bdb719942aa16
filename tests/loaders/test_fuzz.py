"""Fuzzed bodies get a 400/401/413 KO or a 200 report with item errors — never a 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.loader import factories as f
from tests.loaders.helpers import post

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
KEY = "fuzz-key"  # replaced by the real key in each test

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
    st.text(max_size=20), st.sampled_from(["", "R", "2.0", "2025-01-01", "P1", "-1e999"]),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from([
    "id", "id-prty", "amt", "propertyId", "declarantId", "remove", "fileLink", "year",
    "email", "properties", "documents", "associates", "client", "description",
])  # fmt: skip


SECTIONS = ("declarants", "properties", "transactions", "documents")


def mutate(item: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    changed = dict(item)
    for key in data.draw(st.lists(keys, max_size=3)):
        if data.draw(st.booleans()):
            changed.pop(key, None)
        else:
            changed[key] = data.draw(values)
    return changed


def assert_contract(response: httpx.Response) -> None:
    assert response.status_code in (200, 400, 401, 413), response.text
    body = response.json()
    if response.status_code == 200:
        assert body["status"] in ("SUCCESS", "PARTIAL_SUCCESS", "ERROR")
        assert body["total_count"] == body["success_count"] + body["failed_count"]
    else:
        assert body["status"] == "KO" and body["type"] in (
            "ValidationError", "WrongFormat", "ValueError", "KeyError",
        )  # fmt: skip


@FUZZ
@given(data=st.data())
async def test_mutated_items(client: httpx.AsyncClient, acme_key: str, data: st.DataObject) -> None:
    doc = f.header(inigPtynm="acme-gestion", apiKey=acme_key)
    doc["declarants"] = [mutate(f.declarant("D1", properties=[f.property_("P1")]), data)]
    doc["properties"] = [mutate(f.property_(f"P{n}", declarantId="D1"), data) for n in (2, 3)]
    doc["transactions"] = [mutate(f.transaction(f"T{n}", f"P{n % 4}"), data) for n in range(4)]
    doc["documents"] = [mutate(f.document("DOC1", propertyId="P2"), data)]
    if data.draw(st.booleans()):  # the same items, in the clients[] layout
        sections = {key: doc.pop(key) for key in SECTIONS}
        doc["clients"] = [mutate(f.client(**sections), data)]
    assert_contract(await post(client, doc))


@FUZZ
@given(header=st.dictionaries(
    st.sampled_from(["inigPtynm", "apiKey", "creDtTm", "versionId", "clients", "declarants"]),
    values, max_size=6,
))  # fmt: skip
async def test_wrong_header_types(
    client: httpx.AsyncClient, acme_key: str, header: dict[str, Any]
) -> None:
    doc = {**f.header(inigPtynm="acme-gestion", apiKey=acme_key), **header}
    assert_contract(await post(client, doc))


@FUZZ
@given(raw=st.binary(max_size=300))
async def test_arbitrary_bytes(client: httpx.AsyncClient, raw: bytes) -> None:
    assert_contract(await post(client, raw))


@FUZZ
@given(value=values)
async def test_arbitrary_json(client: httpx.AsyncClient, value: Any) -> None:
    assert_contract(await post(client, json.dumps(value).encode()))


class TestShapes:
    async def test_deep_nesting(self, client: httpx.AsyncClient, acme_key: str) -> None:
        deep = "[" * 100_000 + "]" * 100_000
        body = json.dumps(f.header(inigPtynm="acme-gestion", apiKey=acme_key))[:-1]
        assert_contract(await post(client, (body + ', "x": ' + deep + "}").encode()))

    async def test_huge_array_of_empty_objects(
        self, client: httpx.AsyncClient, acme_key: str
    ) -> None:
        doc = f.header(inigPtynm="acme-gestion", apiKey=acme_key)
        body = json.dumps(doc)[:-1] + ', "transactions": [' + ",".join(["{}"] * 1_100_000) + "]}"
        assert_contract(await post(client, body.encode()))

    async def test_many_invalid_items(self, client: httpx.AsyncClient, acme_key: str) -> None:
        doc = f.header(inigPtynm="acme-gestion", apiKey=acme_key, transactions=[1] * 50_000)
        response = await post(client, doc)
        assert_contract(response)
        assert response.json()["status"] == "ERROR"

    async def test_invalid_utf8_inside_strings(self, client: httpx.AsyncClient) -> None:
        assert_contract(await post(client, b'{"inigPtynm": "a\xc3\x28", "apiKey": "k"}'))

    async def test_nul_and_lone_surrogate(self, client: httpx.AsyncClient, acme_key: str) -> None:
        for bad in ('"\\u0000"', '"\\ud800"'):
            body = json.dumps(f.header(inigPtynm="acme-gestion", apiKey=acme_key))[:-1]
            assert_contract(
                await post(client, (body + ', "properties": [{"id": ' + bad + "}]}").encode())
            )

    async def test_over_the_size_limit(self, client: httpx.AsyncClient) -> None:
        response = await post(client, b"[" + b"0," * (2 * 1024 * 1024) + b"0]")
        assert response.status_code == 413
