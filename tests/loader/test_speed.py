"""The REST endpoint has 10 s in all: 100,000 transactions must validate well under 2 s."""

from __future__ import annotations

import sys
import time

import pytest

from guichet.loader import Report, validate_bytes
from tests.loader.factories import big_file


def test_100k_transactions_across_1000_properties() -> None:
    if sys.gettrace() is not None:
        pytest.skip("timings are meaningless under a tracer (coverage, debugger)")
    data = big_file(transactions=100_000, properties=1_000)
    best = float("inf")
    for _ in range(2):  # best of two: a shared CI machine has hiccups
        started = time.perf_counter()
        validation = validate_bytes(data)  # parse + validate, as the endpoint does
        body = Report(validation).to_json()
        best = min(best, time.perf_counter() - started)
    assert body["total_count"] == 100_000 + 1_000 + 100
    assert body["status"] == "SUCCESS"
    assert best < 2.0, f"{best:.2f} s"
