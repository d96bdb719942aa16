"""The diff of two revision files as stored by the publication front (issue #15): a pure
function, light to import, run in the compute pool's processes or a worker's thread."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any

from guichet.bal import diff


@dataclass(frozen=True)
class StoredDiff:
    summary: dict[str, Any]
    total: int
    details: bytes
    """gzip of the whole diff's JSON (`BalDiff.to_json(voies=True)`)."""


def header_only(data: bytes) -> bytes:
    """A file with `data`'s header and no row: what a commune without a current revision is
    compared with (every address added)."""
    return data.split(b"\n", 1)[0] + b"\n"


def compute(old: bytes | None, new: bytes) -> StoredDiff:
    """`new` against `old` (None: against nothing). Raises `UnreadableBalError`."""
    result = diff(header_only(new) if old is None else old, new)
    details = json.dumps(result.to_json(voies=True), ensure_ascii=False, separators=(",", ":"))
    return StoredDiff(
        result.summary.to_json(), result.total, gzip.compress(details.encode(), compresslevel=5)
    )
