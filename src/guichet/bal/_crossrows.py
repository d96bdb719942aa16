"""Cross-row checks (``Schema.rows``), run once every row has been read."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from itertools import compress, repeat
from operator import attrgetter, eq
from typing import TypeVar

from guichet.bal._rows import TOPONYME_NUMERO, RowTable

BanLookup = Callable[[str], "str | None"]
"""Gives the BAN id of a commune from its INSEE code, or None when unknown or unreachable."""

K = TypeVar("K", bound=Hashable)


def check_rows(table: RowTable, ban_lookup: BanLookup | None) -> list[str]:
    """Run every cross-row check; row codes are added to the table, ``rows.*`` codes returned."""
    global_codes: list[str] = []
    if not table.count:
        global_codes.append("rows.empty")
    global_codes.extend(_check_use_ban_ids(table, _commune_ban_ids(table, ban_lookup)))
    _check_voie_ban_ids(table)
    _check_adresse_ban_ids(table)
    _check_lieudit_declared(table)
    return global_codes


def _commune_ban_ids(table: RowTable, ban_lookup: BanLookup | None) -> dict[str, str]:
    """One lookup per distinct commune, in row order; failures are simply absent."""
    if ban_lookup is None:
        return {}
    # distinct Commune objects in row order give the codes in the order they first appear
    codes = (commune.code_commune for commune in dict.fromkeys(table.communes))
    found: dict[str, str] = {}
    for code in dict.fromkeys(code for code in codes if code):
        ban_id = ban_lookup(code)
        if ban_id:
            found[code] = ban_id
    return found


def _check_use_ban_ids(table: RowTable, commune_ids: dict[str, str]) -> list[str]:
    if table.id_commune is None or table.id_toponyme is None or table.id_adresse is None:
        return []  # no row has any id: nothing to compare, no row "uses" ids
    using = 0
    districts: set[str] = set()
    for i in compress(range(table.count), table.id_commune):
        id_commune = table.id_commune[i]
        assert id_commune is not None
        code = table.communes[i].code_commune
        if code:
            expected = commune_ids.get(code)
            if expected and expected != id_commune:
                table.add(i, "row.cog_no_match_id_ban_commune")
        if table.id_toponyme[i] and (table.id_adresse[i] or table.is_toponyme(i)):
            using += 1
            districts.add(id_commune)
    if table.count and using == table.count:
        return ["rows.multi_id_ban_commune"] if len(districts) > 1 else []
    if using > 0:
        return ["rows.every_line_required_id_ban"]
    return []


def _group(rows: Iterable[int], keys: Sequence[K]) -> dict[K, list[int]]:
    groups: dict[K, list[int]] = {}
    for row in rows:
        groups.setdefault(keys[row], []).append(row)
    return groups


def _flag_groups_with_several(
    table: RowTable, groups: dict[K, list[int]], values: Sequence[Hashable], code: str
) -> None:
    for members in groups.values():
        if len(members) > 1 and len({values[r] for r in members}) > 1:
            for row in members:
                table.add(row, code)


def _check_voie_ban_ids(table: RowTable) -> None:
    ids = table.id_toponyme
    if ids is None:
        return
    with_toponyme_id = list(compress(range(table.count), ids))
    _flag_groups_with_several(
        table,
        _group(with_toponyme_id, ids),
        table.voie_keys(typed=False),
        "row.different_voie_nom_with_same_id_ban_toponyme",
    )
    _flag_groups_with_several(
        table,
        _group(with_toponyme_id, table.voie_keys(typed=True)),
        ids,
        "row.different_id_ban_toponyme_with_same_voie_nom",
    )


def _check_adresse_ban_ids(table: RowTable) -> None:
    ids = table.id_adresse
    if ids is None:  # no row has an id: no group of the first check, one value in the second
        return
    addresses = [i for i, numero in enumerate(table.numero) if numero != TOPONYME_NUMERO]
    numero_keys = table.numero_keys()
    _flag_groups_with_several(
        table,
        _group((i for i in addresses if ids[i]), ids),
        numero_keys,
        "row.different_adresse_with_same_id_ban_adresse",
    )
    # "no id" counts as a value here: a copy with an id and a copy without one collide.
    _flag_groups_with_several(
        table,
        _group(addresses, numero_keys),
        ids,
        "row.different_id_ban_adresses_with_same_adresse",
    )


_voie_nom = attrgetter("voie_nom")


def _check_lieudit_declared(table: RowTable) -> None:
    toponymes = map(eq, table.numero, repeat(TOPONYME_NUMERO))
    declared = set(map(_voie_nom, compress(table.names, toponymes)))
    # decided once per distinct Names (rows share them), then found row by row at C speed
    undeclared = {
        names
        for names in dict.fromkeys(table.names)
        if names.lieudit is not None and names.lieudit not in declared
    }
    if undeclared:
        for i in compress(range(table.count), map(undeclared.__contains__, table.names)):
            table.add(i, "row.lieudit_complement_nom_not_declared")
