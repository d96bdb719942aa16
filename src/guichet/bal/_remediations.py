"""Remediations: the corrected values the reference proposes per row (``row.remediations``).

Computed exactly as @ban-team/validateur-bal 3.5.2 does (RULES.md §4.13, §5 #2, #3, #10, §6.2):

* ``date_der_maj`` from its parser: a date written another way (``15/03/2021``);
* ``commune_insee``: the commune of ``cle_interop`` when ``commune_insee`` has no value;
* ``commune_nom``: the COG name of the row's commune when missing or different;
* ``date_der_maj``: today when the row still has no date (no value and no remediation);
* ``id_ban_commune`` / ``id_ban_toponyme`` / ``id_ban_adresse`` for every row that does not
  "use" BAN ids: the commune's id from the BAN lookup (no value offline), the id already given
  to the same street (or address) by another row, else a fresh uuid v4 per group.

They never change codes or levels, so they are a separate pass over the rows, run only when
asked (``validate(..., remediations=True)``): a 1.3 file has one for every row (BAN ids), and
the validation itself stays as fast as before.

The uuids come from an injectable generator, called exactly as the reference calls uuid.v4:
once per street group without a toponyme id, in first-appearance order over all rows, then
once per address group without an adresse id (rows whose numero is not 99999) — so a counter
reproduces the reference run with ``--det-uuid``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from guichet.bal import _cog
from guichet.bal._columns import Chunk
from guichet.bal._fields import Column, js_key_order
from guichet.bal._rows import TOPONYME_NUMERO
from guichet.bal._text import normalize
from guichet.bal._values import UNSET, ValueReader, ValueResult

NewUuid = Callable[[], str]
RowRemediations = dict[str, dict[str, Any]]
"""One row's remediations: field name -> ``{"errors": [...], "value": ...}`` (``value`` left
out when the reference's is ``undefined``), keys in the reference's insertion order."""


def random_uuid() -> str:
    import uuid  # here: only remediations need it, not every validation's start-up

    return str(uuid.uuid4())


def counter_uuids() -> NewUuid:
    """The reference runner's ``--det-uuid``: 00000000-0000-4000-8000-000000000001, ..."""
    n = 0

    def new() -> str:
        nonlocal n
        n += 1
        return f"00000000-0000-4000-8000-{n:012d}"

    return new


_READ = (
    "cle_interop",
    "uid_adresse",
    "id_ban_commune",
    "id_ban_toponyme",
    "id_ban_adresse",
    "voie_nom",
    "toponyme",
    "numero",
    "suffixe",
    "commune_insee",
    "commune_nom",
    "commune_deleguee_insee",
    "date_der_maj",
)


def _ban_errors(field: str) -> list[str]:
    # ``getErrorIdBanCorrected``: the prefix is added to a name that already has it [quirk]
    return [
        f"field.{field}.missing",
        f"id_ban_{field}.valeur_manquante",
        "row.lack_of_id_ban",
        "rows.every_line_required_id_ban",
    ]


@dataclass(slots=True)
class _Row:
    """What the BAN-id remediations read of one row, and its remediations so far."""

    remediations: RowRemediations
    code_commune: str | None
    id_commune: str | None
    id_toponyme: str | None
    id_adresse: str | None
    numero: int | None
    voie_key: str
    """``getVoieIdentifier(row)``, the reference's string."""
    numero_key: str
    """``getNumeroIdentifier(row)``, the reference's string."""


def _value(result: ValueResult | None) -> Any:
    return None if result is None or result.value is UNSET else result.value


class _RowsPass:
    def __init__(self, columns: list[Column], reader: ValueReader) -> None:
        self._at = {
            c.schema_name: c.index
            for c in js_key_order(columns)
            if c.schema_name in _READ and c.locale is None
        }
        self._read = {name: reader.reader(name) for name in self._at}
        self._today = reader.now.date().isoformat()
        self._normalized: dict[str | None, str] = {}

    def _missing_or_empty(self, name: str) -> str:
        """``getErrorMissingOrValeurManquante`` (a column is in rawValues iff it exists)."""
        return f"{name}.valeur_manquante" if name in self._at else f"field.{name}.missing"

    def rows(self, chunks: Iterable[Chunk]) -> Iterator[_Row]:
        for chunk in chunks:
            columns: dict[str, list[ValueResult | None]] = {}
            for name, index in self._at.items():
                values, codes = chunk.coded(index)
                results = list(map(self._read[name], values))
                columns[name] = [results[c] for c in codes.tolist()]
            for i in range(chunk.size):
                yield self._row({name: column[i] for name, column in columns.items()})

    def _row(self, results: dict[str, ValueResult | None]) -> _Row:
        rem: RowRemediations = {}
        date = results.get("date_der_maj")
        if date is not None and date.remediation is not None:  # the parser's own (§4.13)
            rem["date_der_maj"] = {
                "errors": list(date.remediation.errors),
                "value": date.remediation.value,
            }
        cle = results.get("cle_interop")
        cle_values = cle.additional if cle is not None and _value(cle) else None
        cle_commune = cle_values["codeCommune"] if cle_values else None
        insee = _value(results.get("commune_insee"))
        # 2. validateCommuneInsee
        if cle_commune and not insee:
            rem["commune_insee"] = {
                "errors": [self._missing_or_empty("commune_insee")],
                "value": cle_commune,
            }
        # 3. validateCommuneNom
        code = insee or cle_commune or None
        name = _cog.commune_name(code) if code else None
        if name is not None:
            nom = _value(results.get("commune_nom"))
            if not nom:
                errors = [self._missing_or_empty("commune_nom")]
                rem["commune_nom"] = {"errors": errors, "value": name}
            elif nom != name:
                rem["commune_nom"] = {"errors": ["commune_nom_invalide"], "value": name}
        # 10. validateDateDerMaj
        if not _value(date) and "date_der_maj" not in rem:
            rem["date_der_maj"] = {
                "errors": [self._missing_or_empty("date_der_maj")],
                "value": self._today,
            }
        # what the BAN-id remediations read (§6.2)
        uid = results.get("uid_adresse")
        uid_ids: dict[str, Any] = uid.additional if uid is not None and uid.additional else {}
        numero = _value(results.get("numero"))
        voie = _value(results.get("voie_nom")) or _value(results.get("toponyme")) or None
        voie_norm = self._normalized.get(voie)
        if voie_norm is None:
            voie_norm = self._normalized[voie] = normalize(voie)
        code_voie = cle_values.get("codeVoie") if cle_values else None
        suffixe = _value(results.get("suffixe"))
        deleguee = _value(results.get("commune_deleguee_insee"))
        return _Row(
            remediations=rem,
            code_commune=code,
            id_commune=_value(results.get("id_ban_commune")) or uid_ids.get("idBanCommune"),
            id_toponyme=_value(results.get("id_ban_toponyme")) or uid_ids.get("idBanToponyme"),
            id_adresse=_value(results.get("id_ban_adresse")) or uid_ids.get("idBanAdresse"),
            numero=numero,
            # the reference's identifier strings (getVoieIdentifier is a multi-line template)
            voie_key=f"{voie_norm}\n    #{_js(code_voie)}\n    false",
            numero_key=f"{_js(numero)}#{_js(suffixe)}#{voie_norm}#{_js(deleguee)}",
        )


def _js(value: object) -> str:
    """A value as a JavaScript template string shows it (``undefined`` for no value)."""
    return "undefined" if value is None else str(value)


def compute_remediations(
    chunks: Iterable[Chunk],
    columns: list[Column],
    reader: ValueReader,
    commune_ids: dict[str, str],
    new_uuid: NewUuid,
) -> list[tuple[int, RowRemediations]]:
    """(line, remediations) of every row that has some, in row order."""
    rows = list(_RowsPass(columns, reader).rows(chunks))
    # getMapNameVoieBanId, then getMapNumeroBanId: one uuid per group with no id, in order
    voie_ids: dict[str, str | None] = {}
    for row in rows:
        if voie_ids.get(row.voie_key) is None:
            voie_ids[row.voie_key] = row.id_toponyme or None
    voie_ids = {key: value or new_uuid() for key, value in voie_ids.items()}
    numero_ids: dict[str, str | None] = {}
    for row in rows:
        if row.numero != TOPONYME_NUMERO and numero_ids.get(row.numero_key) is None:
            numero_ids[row.numero_key] = row.id_adresse or None
    numero_ids = {key: value or new_uuid() for key, value in numero_ids.items()}
    out: list[tuple[int, RowRemediations]] = []
    for line, row in enumerate(rows):
        rem = row.remediations
        if not (
            row.id_commune and row.id_toponyme and (row.id_adresse or row.numero == TOPONYME_NUMERO)
        ):
            if not row.id_commune:
                entry: dict[str, Any] = {"errors": _ban_errors("id_ban_commune")}
                ban_id = commune_ids.get(row.code_commune) if row.code_commune else None
                if ban_id is not None:
                    entry["value"] = ban_id
                rem["id_ban_commune"] = entry
            if not row.id_toponyme:
                rem["id_ban_toponyme"] = {
                    "errors": _ban_errors("id_ban_toponyme"),
                    "value": voie_ids[row.voie_key],
                }
            if not row.id_adresse and row.numero != TOPONYME_NUMERO:
                rem["id_ban_adresse"] = {
                    "errors": _ban_errors("id_ban_adresse"),
                    "value": numero_ids[row.numero_key],
                }
        if rem:
            out.append((line, rem))
    return out
