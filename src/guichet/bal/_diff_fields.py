"""Which fields the diff compares: the fields both files have, under their BAL 1.4 names.

A file's fields are its recognised columns (the validator's ``computeFields``: schema columns
and their regional variants such as ``voie_nom_bre``; unknown columns are ignored), plus
``id_ban_commune``, ``id_ban_toponyme`` and ``id_ban_adresse`` when a 1.3 file carries them in
``uid_adresse`` (``@c:``, ``@v:``, ``@a:``, read as the validator reads them). ``uid_adresse``
itself is not a 1.4 field and is never compared; neither is ``date_der_maj`` (a new date alone
is not a change). A field only one file has is not compared.
"""

from __future__ import annotations

from dataclasses import dataclass

from guichet.bal._fields import compute_fields
from guichet.bal._schema import FIELDS, LANGS

NEVER_COMPARED = frozenset({"date_der_maj", "uid_adresse"})
_UID_FIELDS = ("id_ban_commune", "id_ban_toponyme", "id_ban_adresse")


@dataclass(frozen=True)
class Layout:
    """The recognised columns of a header."""

    columns: dict[str, int]
    """Field name (``schemaName``, or ``localizedSchemaName`` for a regional variant) → index
    of the column, in header order; a duplicate header cell is not recognised (as in the
    validator, it is renamed ``name_1``)."""

    @property
    def fields(self) -> frozenset[str]:
        """The fields this file has, BAN ids carried by ``uid_adresse`` included."""
        names = set(self.columns)
        if "uid_adresse" in names:
            names.update(_UID_FIELDS)
        return frozenset(names)


def layout_of(header: list[str]) -> Layout:
    columns = {
        column.normalized_name: column.index
        for column in compute_fields(header).columns
        if column.schema_name is not None
    }
    return Layout(columns)


def compared_fields(old: Layout, new: Layout) -> list[str]:
    """The fields compared between two files, in schema order (a regional variant right after
    its base field, languages in the validator's order)."""
    common = (old.fields & new.fields) - NEVER_COMPARED
    return sorted(common, key=field_rank)


def field_rank(name: str) -> tuple[int, int]:
    """Schema order of a field name; names outside the schema last."""
    if name in _RANKS:
        return _RANKS[name]
    return (len(FIELDS), 0)


_RANKS: dict[str, tuple[int, int]] = {}
for _base_rank, _base in enumerate(FIELDS):
    _RANKS[_base] = (_base_rank, 0)
    for _lang_rank, _lang in enumerate(LANGS, start=1):
        _RANKS[f"{_base}_{_lang}"] = (_base_rank, _lang_rank)
