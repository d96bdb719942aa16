"""The reference validator's schema: columns, profiles, levels and French labels.

Everything here is read from ``data/profiles.json``, exported from the reference package itself
by ``scripts/build_bal_profiles.mjs``, so levels cannot drift from @ban-team/validateur-bal 3.5.2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

Level = Literal["E", "W", "I"]


@dataclass(frozen=True, slots=True)
class SchemaField:
    name: str
    required: bool
    allow_regional_lang: bool
    formats: frozenset[str]


@dataclass(frozen=True, slots=True)
class Profile:
    code: str
    name: str
    format: str
    is_used: bool
    relax: bool
    errors: frozenset[str]
    warnings: frozenset[str]


def _load() -> dict[str, Any]:
    # beside this module, not through importlib.resources: its import costs ~10 ms of start-up
    text = Path(__file__).with_name("data").joinpath("profiles.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


_DATA: Final = _load()

FIELDS: Final[dict[str, SchemaField]] = {
    f["name"]: SchemaField(
        name=f["name"],
        required=f["required"],
        allow_regional_lang=f["allowRegionalLang"],
        formats=frozenset(f["formats"]),
    )
    for f in _DATA["fields"]
}
"""Schema columns in the reference's order (it drives ``field.*.missing`` and notFoundFields)."""

LANGS: Final[tuple[str, ...]] = tuple(_DATA["langs"])
"""Regional language codes, in the order the reference tries them."""

PROFILES: Final[dict[str, Profile]] = {
    key: Profile(
        code=p["code"],
        name=p["name"],
        format=p["format"],
        is_used=p["isUsed"],
        relax=p["relax"],
        errors=frozenset(p["errors"]),
        warnings=frozenset(p["warnings"]),
    )
    for key, p in _DATA["profiles"].items()
}
"""Profiles in the reference's key order (the order of ``profilesValidation``)."""

LABELS: Final[dict[str, str]] = _DATA["labels"]


class UnknownProfileError(ValueError):
    """The profile name is not one of :data:`PROFILES`."""

    def __init__(self, name: str) -> None:
        known = ", ".join(PROFILES)
        super().__init__(f"Profil inconnu : {name!r} (profils connus : {known})")
        self.name = name


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfileError(name) from None


@dataclass(frozen=True, slots=True)
class ParsedCode:
    """``parseErrorCode`` of the reference: which schema column a code belongs to."""

    schema_name: str | None
    locale: str | None
    field_error: str | None


def split_localized(column: str) -> tuple[str, str] | None:
    """``voie_nom_bre`` -> (``voie_nom``, ``bre``); the first language suffix that matches wins."""
    for lang in LANGS:
        if column.endswith("_" + lang):
            base = column[: -(len(lang) + 1)]
            field = FIELDS.get(base)
            if field is not None and field.allow_regional_lang:
                return base, lang
            return None
    return None


@cache
def parse_code(code: str) -> ParsedCode:
    parts = code.split(".")
    prefix = parts[0]
    if prefix in ("file", "row", "rows"):
        return ParsedCode(None, None, None)
    if prefix == "field":
        return ParsedCode(parts[1], None, None)
    field_error = parts[1] if len(parts) > 1 else None
    localized = split_localized(prefix)
    if localized is not None:
        return ParsedCode(localized[0], localized[1], field_error)
    return ParsedCode(prefix, None, field_error)


@cache
def level_of(profile: str, code: str) -> Level:
    """``getErrorLevel``: errors win over warnings; anything else is an info."""
    p = get_profile(profile)
    parsed = parse_code(code)
    compared = f"{parsed.schema_name}_@@.{parsed.field_error}" if parsed.locale else code
    if compared in p.errors:
        return "E"
    if compared in p.warnings:
        return "W"
    return "I"


def code_in_format(code: str, fmt: str) -> bool:
    """The profilErrors filter: codes of columns outside the profile's format are dropped."""
    schema_name = parse_code(code).schema_name
    if schema_name is None:
        return True
    field = FIELDS.get(schema_name)
    return field is not None and fmt in field.formats


def column_in_format(header_name: str | None, fmt: str) -> bool:
    """The row-errors filter: keyed by the *header* name, so localized columns always stay."""
    if header_name is None:
        return True
    field = FIELDS.get(header_name)
    return field is None or fmt in field.formats


GUICHET_LABELS: Final[dict[str, str]] = {
    # the reference has no label for these and shows the code itself
    "commune_nom.casse_incorrecte": (
        "Le nom de la commune ne doit être ni tout en majuscules ni tout en minuscules"
    ),
    "file.encoding.non_standard": "L’encodage du fichier n’est pas UTF-8",
    "file.delimiter.non_standard": "Le séparateur de colonnes n’est pas le point-virgule (;)",
    "file.linebreak.non_standard": "Les fins de ligne ne sont ni LF (Unix) ni CRLF (Windows)",
    "commune_deleguee_insee.commune_non_deleguee": (
        "Le code commune_deleguee_insee n’est pas celui d’une commune déléguée"
    ),
    "uid_adresse.incoherence_ids_ban": (
        "Les identifiants BAN de uid_adresse ne correspondent pas aux colonnes id_ban_*"
    ),
    # the reference's "… n’est pas déclaré en ligne 99999" reads as a line number: 99999 is
    # the numero that marks a toponyme row
    "row.lieudit_complement_nom_not_declared": (
        "Le lieu-dit complémentaire n’est déclaré par aucune ligne de toponyme "
        "(ligne dont le numero est 99999)"
    ),
}
"""Guichet's messages where the reference's are missing or misleading (``getLabel`` otherwise)."""


@cache
def label_of(code: str) -> str:
    """The French message for a code: the reference's (``getLabel``), except for the few codes
    of :data:`GUICHET_LABELS`."""
    parsed = parse_code(code)
    shown = f"{parsed.schema_name}.{parsed.field_error}" if parsed.locale else code
    suffix = f" [{parsed.locale}]" if parsed.locale else ""
    if shown in GUICHET_LABELS:
        return GUICHET_LABELS[shown] + suffix
    if shown in LABELS:
        return LABELS[shown] + suffix
    for pattern, label in LABELS.items():
        if pattern.startswith("*.") and shown.endswith(pattern[2:]):
            return label.replace("{}", shown.split(".")[0])
    parts = code.split(".")
    if parts[0] == "field" and len(parts) > 2 and parts[2] == "missing":
        return f"La colonne {parts[1]} n’existe pas"
    return code
