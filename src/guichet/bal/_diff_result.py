"""The result of :func:`guichet.bal.diff`: counts, lists, JSON shape and pages.

The lists are sequences whose items are built when read (a 250k-row diff builds none of its
rows until a page or the JSON is asked for). Their order is stable: ``added`` in the new file's
order, ``removed`` in the old file's, ``modified`` in the new file's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from guichet.bal._diff_rows import Voie
from guichet.bal._diff_voies import RenamedVoie

Row = dict[str, str]
"""A row as written in its file: field name (``schemaName``, or e.g. ``voie_nom_bre``) → cell."""

KeyJson = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AdresseCounts:
    added: int
    removed: int
    modified: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class VoieCounts:
    added: int
    removed: int
    renamed: int


@dataclass(frozen=True, slots=True)
class DiffSummary:
    """``summary`` of issue #15's response."""

    adresses: AdresseCounts
    voies: VoieCounts

    def to_json(self) -> dict[str, dict[str, int]]:
        a, v = self.adresses, self.voies
        return {
            "adresses": {
                "added": a.added,
                "removed": a.removed,
                "modified": a.modified,
                "unchanged": a.unchanged,
            },
            "voies": {"added": v.added, "removed": v.removed, "renamed": v.renamed},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Mapping[str, int]]) -> DiffSummary:
        return cls(AdresseCounts(**data["adresses"]), VoieCounts(**data["voies"]))


@dataclass(frozen=True, slots=True)
class Modification:
    """A matched pair of rows whose compared fields differ."""

    key: KeyJson
    """How the rows were matched: ``{"id_ban_adresse": id}``, or the old row's
    ``{"commune_insee", "voie" (normalized name), "numero", "suffixe"}``."""
    changes: dict[str, tuple[str, str]]
    """Field (1.4 name) → (old cell, new cell), fields in schema order."""
    old_line: int = -1
    """The rows' indexes in their files (0-based data rows, blank lines skipped; -1 when read
    back from JSON)."""
    new_line: int = -1

    def to_json(self) -> dict[str, Any]:
        changes = {name: [old, new] for name, (old, new) in self.changes.items()}
        return {"key": self.key, "changes": changes}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Modification:
        changes = {name: (pair[0], pair[1]) for name, pair in data["changes"].items()}
        return cls(dict(data["key"]), changes)


class LazyList(Sequence[T]):
    """``[build(i) for i in range(size)]``, each item built when read (not kept)."""

    def __init__(self, size: int, build: Callable[[int], T]) -> None:
        self._size = size
        self._build = build

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self._build(i) for i in range(*index.indices(self._size))]
        if index < 0:
            index += self._size
        if not 0 <= index < self._size:
            raise IndexError(index)
        return self._build(index)

    def __iter__(self) -> Iterator[T]:
        return map(self._build, range(self._size))


@dataclass(frozen=True)
class VoieChanges:
    added: Sequence[Voie] = ()
    removed: Sequence[Voie] = ()
    renamed: Sequence[RenamedVoie] = ()

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "added": [voie.to_json() for voie in self.added],
            "removed": [voie.to_json() for voie in self.removed],
            "renamed": [pair.to_json() for pair in self.renamed],
        }


@dataclass(frozen=True)
class DiffPage:
    """One page of a diff's lists: positions ``offset`` to ``offset + limit`` of the single
    stable order ``added``, then ``removed``, then ``modified``."""

    summary: DiffSummary
    added: list[Row]
    removed: list[Row]
    modified: list[Modification]
    offset: int
    next_offset: int | None
    """Where the next page starts; None after the last page."""

    def to_json(self) -> dict[str, Any]:
        """Issue #15's ``{"summary", "adresses": {added, removed, modified}}`` for this page
        (the server adds its ids and its cursor, ``next``)."""
        return {
            "summary": self.summary.to_json(),
            "adresses": {
                "added": self.added,
                "removed": self.removed,
                "modified": [m.to_json() for m in self.modified],
            },
        }


@dataclass(frozen=True)
class BalDiff:
    """The diff of two BAL files (see :func:`guichet.bal.diff` for the rules)."""

    summary: DiffSummary
    added: Sequence[Row]
    removed: Sequence[Row]
    modified: Sequence[Modification]
    voies: VoieChanges = field(default_factory=VoieChanges)
    compared_fields: tuple[str, ...] = ()
    """The fields compared (both files have them; never ``date_der_maj``)."""

    @property
    def total(self) -> int:
        """Items of the three lists together (what :meth:`page` walks through)."""
        return len(self.added) + len(self.removed) + len(self.modified)

    def page(self, offset: int = 0, limit: int = 1000) -> DiffPage:
        """Items ``offset`` to ``offset + limit`` of ``added`` + ``removed`` + ``modified``,
        in that stable order: a server serves a list page by page with ``offset`` in its
        cursor (``next_offset`` is None after the last page)."""
        if offset < 0 or limit < 1:
            raise ValueError("offset must be >= 0 and limit >= 1")
        lists: list[Sequence[Any]] = [self.added, self.removed, self.modified]
        parts: list[list[Any]] = []
        start, wanted = offset, limit
        for items in lists:
            take = items[start : start + wanted] if wanted > 0 and start < len(items) else []
            parts.append(list(take))
            wanted -= len(take)
            start = max(0, start - len(items))
        end = offset + limit
        next_offset = end if end < self.total else None
        return DiffPage(self.summary, parts[0], parts[1], parts[2], offset, next_offset)

    def to_json(self, *, voies: bool = False) -> dict[str, Any]:
        """Issue #15's ``{"summary", "adresses": {added, removed, modified}}``; with
        ``voies``, also ``"voies": {added, removed, renamed}`` (lists of voies)."""
        out: dict[str, Any] = {
            "summary": self.summary.to_json(),
            "adresses": {
                "added": list(self.added),
                "removed": list(self.removed),
                "modified": [m.to_json() for m in self.modified],
            },
        }
        if voies:
            out["voies"] = self.voies.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BalDiff:
        """A diff read back from :meth:`to_json` (e.g. a stored blob), to serve its pages."""
        lists = data["adresses"]
        voies = data.get("voies")
        voie_changes = VoieChanges() if voies is None else _voies_from_json(voies)
        return cls(
            summary=DiffSummary.from_json(data["summary"]),
            added=list(lists["added"]),
            removed=list(lists["removed"]),
            modified=[Modification.from_json(m) for m in lists["modified"]],
            voies=voie_changes,
        )


def _voie(data: Mapping[str, Any]) -> Voie:
    return Voie(data["commune_insee"], data["voie_nom"], data["id_ban_toponyme"])


def _voies_from_json(data: Mapping[str, Any]) -> VoieChanges:
    return VoieChanges(
        added=[_voie(v) for v in data["added"]],
        removed=[_voie(v) for v in data["removed"]],
        renamed=[RenamedVoie(_voie(p["old"]), _voie(p["new"])) for p in data["renamed"]],
    )
