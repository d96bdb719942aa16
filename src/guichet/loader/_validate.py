"""Validate a loader file: header, layout, each item's own fields, then identities and references.

Plain dicts and precomputed checks all the way (no model object per item): 100,000 transactions
validate in a fraction of a second (``tests/loader/test_speed.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guichet.loader import _checks as c
from guichet.loader._header import Header, read_header
from guichet.loader._items import ClientEntry, Issue, Item, Reference
from guichet.loader._layout import Layout, read_entries
from guichet.loader._links import Linker
from guichet.loader._models import PROPERTY_REMOVAL_RULES, RULES
from guichet.loader._source import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_CONTAINERS,
    DEFAULT_MAX_DEPTH,
    load_json,
    read_file,
)


@dataclass(slots=True, eq=False)
class Validation:
    """A loader file, checked item by item. File-level problems raise instead (`FileRejected`)."""

    header: Header
    layout: Layout
    clients: list[ClientEntry]
    """One entry per ``clients[]`` element, or a single implicit entry for a flat file."""
    items: list[Item]
    """All items, entry by entry, each entry in integration order."""
    warnings: list[Issue] = field(default_factory=list)
    """Not refusals: contradictions the package resolved (a nested item's ignored link)."""

    @property
    def is_valid(self) -> bool:
        return all(entry.is_valid for entry in self.clients) and all(
            item.is_valid for item in self.items
        )

    def issues(self) -> Iterator[Issue]:
        """Every refusal: each entry's own issues, then its items' issues."""
        for entry in self.clients:
            yield from entry.issues
            for item in entry.items:
                yield from item.issues

    def external_references(self) -> Iterator[tuple[Item, Reference]]:
        """Links of valid items to objects outside the file, for the server to look up."""
        for item in self.items:
            if item.is_valid:
                for reference in item.external_refs:
                    yield item, reference


def validate(
    document: Any, *, now: dt.datetime | None = None, self_contained: bool = False
) -> Validation:
    """Validate a parsed loader file (the value `load_json` returns).

    Raises `FileRejected` (header, layout); item problems are reported, never raised.
    ``now`` (aware) refuses a ``creDtTm`` more than a day ahead; ``self_contained`` refuses links
    to objects absent from the file instead of leaving them to the server.
    """
    header = read_header(document, now=now)
    layout, entries = read_entries(document)
    items = [item for entry in entries for item in entry.items]
    for seq, item in enumerate(items):
        item.seq = seq
        _check_own_fields(item)
    linker = Linker(self_contained=self_contained)
    linker.link(entries)
    return Validation(header, layout, entries, items, linker.warnings)


def validate_bytes(
    data: bytes | bytearray | memoryview,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_containers: int = DEFAULT_MAX_CONTAINERS,
    now: dt.datetime | None = None,
    self_contained: bool = False,
) -> Validation:
    """Parse (with the limits of `load_json`) and validate. Raises only `FileRejected`."""
    document = load_json(
        data, max_bytes=max_bytes, max_depth=max_depth, max_containers=max_containers
    )
    return validate(document, now=now, self_contained=self_contained)


def validate_file(
    path: str | Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    now: dt.datetime | None = None,
    self_contained: bool = False,
) -> Validation:
    """Read at most ``max_bytes`` of ``path`` and validate it (``OSError`` propagates)."""
    data = read_file(path, max_bytes=max_bytes)
    return validate_bytes(data, max_bytes=max_bytes, now=now, self_contained=self_contained)


def _check_own_fields(item: Item) -> None:
    data = item.data
    if type(data) is not dict:
        item.add_issue(None, c.NOT_OBJECT[1], c.NOT_OBJECT[0])
        return
    rules = PROPERTY_REMOVAL_RULES if item.is_removal else RULES[item.model]
    for key, (code, reason) in rules.problems(data):
        item.add_issue(key, reason, code)
