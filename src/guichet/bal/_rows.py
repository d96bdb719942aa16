"""Per-row work: read every known cell, then the reference's row checks (``Schema.row``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from guichet.bal import _cog
from guichet.bal._fields import Column, js_key_order
from guichet.bal._proj import ProjError, proj
from guichet.bal._text import NormalizeError, normalize
from guichet.bal._values import UNSET, ValueReader

TOPONYME_NUMERO = 99_999
"""The numero that marks a toponyme (lieu-dit) row rather than an address."""

COORD_TOLERANCE_M = 10.0

Error = tuple[str, str | None]
"""A row error: (code, header name of the column it comes from, or None for row codes)."""


class ReferenceCrash(Exception):
    """A row on which the reference validator throws instead of reporting.

    ``message`` tells the user, in French, what in the row cannot be judged and how to fix it;
    ``reference_error`` is what the reference throws.
    """

    def __init__(self, line: int, message: str, reference_error: str) -> None:
        super().__init__(f"line {line}: {reference_error}")
        self.line = line
        self.message = message
        self.reference_error = reference_error


_CHEF_LIEU_CRASH = (
    "la commune {code} de cle_interop est une commune ancienne et commune_deleguee_insee vaut "
    "{deleguee} ; sans colonne commune_insee le chef-lieu ne peut pas être vérifié. Ajoutez la "
    "colonne commune_insee avec le code de la commune actuelle."
)
_NORMALIZE_CRASH = (
    "le nom de voie ou le complément contient le mot « constructor », que le validateur de "
    "référence ne sait pas traiter."
)


@dataclass(slots=True)
class RowState:
    """What the cross-row checks and the report need from one row."""

    line: int
    cells: Sequence[str]
    errors: list[Error] = field(default_factory=list)
    has_numero: bool = False
    numero: int | None = None
    voie_nom: str | None = None
    lieudit: str | None = None
    suffixe: str | None = None
    commune_deleguee: str | None = None
    code_commune: str | None = None
    code_voie: str | None = None
    id_commune: str | None = None
    id_toponyme: str | None = None
    id_adresse: str | None = None

    @property
    def is_toponyme(self) -> bool:
        return self.numero == TOPONYME_NUMERO

    def numero_key(self) -> str:
        """``getNumeroIdentifier``: the JavaScript template string, ``undefined`` included."""
        numero = "undefined" if self.numero is None else str(self.numero)
        suffixe = "undefined" if self.suffixe is None else self.suffixe
        cdi = "undefined" if self.commune_deleguee is None else self.commune_deleguee
        return f"{numero}#{suffixe}#{normalize(self.voie_nom)}#{cdi}"

    def voie_key(self) -> tuple[str, str | None]:
        """``getVoieIdentifier(row)``; a tuple compares exactly like the reference's string."""
        return (normalize(self.voie_nom), self.code_voie)

    def voie_key_typed(self) -> tuple[str, str | None, bool]:
        return (normalize(self.voie_nom), self.code_voie, self.is_toponyme)


@dataclass(slots=True)
class _Cells:
    """The parsed values of one row that the row checks read (the reference's parsedValues)."""

    parsed: dict[str, Any]
    raw: dict[str, str]
    additional: dict[str, Any]


class RowReader:
    """Reads rows of one file: cell values (memoized by the reader) then row checks."""

    def __init__(self, columns: list[Column], reader: ValueReader) -> None:
        self._reader = reader
        ordered = js_key_order(columns)
        self._known = [
            (c.index, c.name, c.normalized_name, c.schema_name, c.locale is not None)
            for c in ordered
            if c.schema_name is not None
        ]
        self._prefixed: dict[tuple[str, str], str] = {}

    def _code(self, normalized: str, error: str) -> str:
        key = (normalized, error)
        code = self._prefixed.get(key)
        if code is None:
            code = self._prefixed[key] = f"{normalized}.{error}"
        return code

    def read(self, line: int, cells: Sequence[str]) -> RowState:
        state = RowState(line=line, cells=cells)
        parsed: dict[str, Any] = {}
        raw: dict[str, str] = {}
        additional: dict[str, Any] = {}
        errors = state.errors
        read_value = self._reader.read
        for index, header, normalized, schema_name, localized in self._known:
            value = cells[index]
            raw[normalized] = value
            result = read_value(schema_name, value, localized)
            for error in result.errors:
                errors.append((self._code(normalized, error), header))
            if result.additional is not None:
                additional[normalized] = result.additional
            if result.value is not UNSET:
                parsed[normalized] = result.value
        try:
            _check_row(state, _Cells(parsed, raw, additional))
        except NormalizeError as exc:  # KNOWN: the reference throws on the word "constructor"
            raise ReferenceCrash(line, _NORMALIZE_CRASH, f"TypeError: {exc}") from None
        return state


def _fill_state(state: RowState, cells: _Cells) -> None:
    pv = cells.parsed
    cle = cells.additional.get("cle_interop")
    uid = cells.additional.get("uid_adresse")
    state.has_numero = "numero" in pv
    state.numero = pv.get("numero")
    voie = pv.get("voie_nom") or pv.get("toponyme")
    state.voie_nom = voie or None
    state.lieudit = pv.get("lieudit_complement_nom")
    state.suffixe = pv.get("suffixe")
    state.commune_deleguee = pv.get("commune_deleguee_insee")
    state.code_commune = pv.get("commune_insee") or (cle["codeCommune"] if cle else None) or None
    state.code_voie = cle.get("codeVoie") if cle else None
    state.id_commune = pv.get("id_ban_commune") or (uid["idBanCommune"] if uid else None) or None
    state.id_toponyme = pv.get("id_ban_toponyme") or (uid["idBanToponyme"] if uid else None) or None
    state.id_adresse = pv.get("id_ban_adresse") or (uid["idBanAdresse"] if uid else None) or None


def _check_row(state: RowState, cells: _Cells) -> None:
    _fill_state(state, cells)
    pv, rv = cells.parsed, cells.raw
    add = state.errors.append
    cle_parsed = pv.get("cle_interop")
    numero = state.numero
    # 1. numero vs the numero part of cle_interop (numero 0 is falsy and skips the check).
    if cle_parsed and numero:
        numero_voie = cells.additional["cle_interop"]["numeroVoie"]
        if not numero_voie or int(numero_voie) != numero:
            add(("row.incoherence_numero", None))
    # 2. a commune is needed, from commune_insee or cle_interop.
    if not cle_parsed and not pv.get("commune_insee"):
        add(("row.commune_manquante", None))
    # 3. commune_nom must be the COG name of a current commune.
    if state.code_commune:
        name = _cog.commune_name(state.code_commune)
        commune_nom = pv.get("commune_nom")
        if name is not None and commune_nom and commune_nom != name:
            add(("row.commune_nom_invalide", None))
    # 4. voie_nom and lieudit_complement_nom must differ (also fires when both are empty).
    if normalize(state.voie_nom) == normalize(state.lieudit):
        add(("row.voie_nom_have_same_lieudit_complement_nom", None))
    is_address = state.has_numero and numero != TOPONYME_NUMERO
    # 5. an address needs a position type.
    if is_address and not rv.get("position"):
        add(("row.position_manquante", None))
    _check_coordinates(state, pv, rv, is_address)
    # 7. an address needs a numero and a street name.
    if numero is None or not state.voie_nom:
        add(("row.adresse_incomplete", None))
    _check_chef_lieu(state)
    _check_ban_ids(state)


def _check_coordinates(state: RowState, pv: dict[str, Any], rv: dict[str, str], is_address: bool) -> None:
    add = state.errors.append
    if is_address and (not rv.get("long") or not rv.get("lat")):
        add(("row.longlat_vides", None))
        return
    try:
        projected = proj(pv.get("long"), pv.get("lat"))
    except ProjError:
        projected = None
    if projected is not None:
        x, y = pv.get("x"), pv.get("y")
        if x is not None and y is not None:
            # sqrt of the sum, as the reference computes it (hypot may differ in the last bit)
            if math.sqrt((x - projected[0]) ** 2 + (y - projected[1]) ** 2) > COORD_TOLERANCE_M:
                add(("row.longlat_xy_incoherents", None))
    elif state.numero != TOPONYME_NUMERO:
        add(("row.longlat_invalides", None))


def _check_chef_lieu(state: RowState) -> None:
    """8. commune_deleguee_insee must be a former commune of (or equal to) the row's commune."""
    deleguee = state.commune_deleguee
    if not deleguee:
        return
    if any(header in ("commune_deleguee_insee", "commune_insee") for _, header in state.errors):
        return
    code = state.code_commune
    if not code:
        return
    anciens = _cog.anciens_codes(code)
    if anciens is None:
        raise ReferenceCrash(
            state.line,
            _CHEF_LIEU_CRASH.format(code=code, deleguee=deleguee),
            "TypeError: Cannot read properties of undefined (reading 'anciensCodes')",
        )
    if deleguee not in anciens and deleguee != code:
        state.errors.append(("row.chef_lieu_invalide", None))


def _check_ban_ids(state: RowState) -> None:
    """9. once a row uses one BAN id it must carry all of them (one code per missing id)."""
    if not (state.id_commune or state.id_toponyme or state.id_adresse):
        return
    add = state.errors.append
    if not state.id_commune:
        add(("row.lack_of_id_ban", None))
    if not state.id_toponyme:
        add(("row.lack_of_id_ban", None))
    if not state.id_adresse and state.numero != TOPONYME_NUMERO:
        add(("row.lack_of_id_ban", None))
