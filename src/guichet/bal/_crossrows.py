"""Cross-row checks (``Schema.rows``), run once every row has been read."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from guichet.bal._rows import TOPONYME_NUMERO, RowState

BanLookup = Callable[[str], "str | None"]
"""Gives the BAN id of a commune from its INSEE code, or None when unknown or unreachable."""

K = TypeVar("K", bound=Hashable)


def check_rows(rows: list[RowState], ban_lookup: BanLookup | None) -> list[str]:
    """Run every cross-row check; row codes are appended to rows, ``rows.*`` codes returned."""
    global_codes: list[str] = []
    if not rows:
        global_codes.append("rows.empty")
    global_codes.extend(_check_use_ban_ids(rows, _commune_ban_ids(rows, ban_lookup)))
    _check_voie_ban_ids(rows)
    _check_adresse_ban_ids(rows)
    _check_lieudit_declared(rows)
    return global_codes


def _commune_ban_ids(rows: list[RowState], ban_lookup: BanLookup | None) -> dict[str, str]:
    """One lookup per distinct commune, in row order; failures are simply absent."""
    if ban_lookup is None:
        return {}
    found: dict[str, str] = {}
    for code in dict.fromkeys(r.code_commune for r in rows if r.code_commune):
        ban_id = ban_lookup(code)
        if ban_id:
            found[code] = ban_id
    return found


def _check_use_ban_ids(rows: list[RowState], commune_ids: dict[str, str]) -> list[str]:
    using = 0
    districts: set[str] = set()
    for row in rows:
        id_commune = row.id_commune
        if id_commune and row.code_commune:
            expected = commune_ids.get(row.code_commune)
            if expected and expected != id_commune:
                row.errors.append(("row.cog_no_match_id_ban_commune", None))
        if id_commune and row.id_toponyme and (row.id_adresse or row.is_toponyme):
            using += 1
            districts.add(id_commune)
    if rows and using == len(rows):
        return ["rows.multi_id_ban_commune"] if len(districts) > 1 else []
    if using > 0:
        return ["rows.every_line_required_id_ban"]
    return []


def _group(rows: Iterable[RowState], key: Callable[[RowState], K]) -> dict[K, list[RowState]]:
    groups: dict[K, list[RowState]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


def _flag_groups_with_several(
    groups: dict[K, list[RowState]], value: Callable[[RowState], Hashable], code: str
) -> None:
    for members in groups.values():
        if len(members) > 1 and len({value(r) for r in members}) > 1:
            for row in members:
                row.errors.append((code, None))


def _check_voie_ban_ids(rows: list[RowState]) -> None:
    with_toponyme_id = [r for r in rows if r.id_toponyme]
    _flag_groups_with_several(
        _group(with_toponyme_id, lambda r: r.id_toponyme),
        RowState.voie_key,
        "row.different_voie_nom_with_same_id_ban_toponyme",
    )
    _flag_groups_with_several(
        _group(with_toponyme_id, RowState.voie_key_typed),
        lambda r: r.id_toponyme,
        "row.different_id_ban_toponyme_with_same_voie_nom",
    )


def _check_adresse_ban_ids(rows: list[RowState]) -> None:
    addresses = [r for r in rows if r.numero != TOPONYME_NUMERO]
    _flag_groups_with_several(
        _group((r for r in addresses if r.id_adresse), lambda r: r.id_adresse),
        RowState.numero_key,
        "row.different_adresse_with_same_id_ban_adresse",
    )
    # "no id" counts as a value here: a copy with an id and a copy without one collide.
    _flag_groups_with_several(
        _group(addresses, RowState.numero_key),
        lambda r: r.id_adresse,
        "row.different_id_ban_adresses_with_same_adresse",
    )


def _check_lieudit_declared(rows: list[RowState]) -> None:
    declared = {r.voie_nom for r in rows if r.is_toponyme}
    for row in rows:
        if row.lieudit is not None and row.lieudit not in declared:
            row.errors.append(("row.lieudit_complement_nom_not_declared", None))
