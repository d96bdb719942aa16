"""A file of the size the REST endpoint is specified for (100k transactions) validates whole.

Its speed is measured by `make bench`, not asserted here.
"""

from __future__ import annotations

from guichet.loader import Report, validate_bytes
from tests.loader.factories import big_file


def test_100k_transactions_across_1000_properties() -> None:
    data = big_file(transactions=100_000, properties=1_000)
    body = Report(validate_bytes(data)).to_json()
    assert body["total_count"] == 100_000 + 1_000 + 100
    assert body["status"] == "SUCCESS"
