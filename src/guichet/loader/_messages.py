"""French reasons for field problems, keyed by Pydantic v2 error types.

Partners read every reason in a French report, so no English may reach them. The package's own
checks (`_checks`) do not use Pydantic (a check per field is far faster on 100,000 items), but
they name their problems with Pydantic's error ``type`` and ``ctx`` so that one table phrases
them all; `pydantic_reason` phrases real Pydantic errors (``ValidationError.errors()``) with the
same table, for the server's Pydantic models whose errors reach a partner.

Unknown types, missing context and any rendering failure fall back to `FALLBACK`: a French
"valeur invalide" is less precise but never English. Pydantic types that only Python callers can
trigger (arguments, callables, fractions, complex numbers…) are left to that fallback on purpose.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Ctx = Mapping[str, Any]
Phrase = str | Callable[[Ctx], str]

FALLBACK = "valeur invalide"

# Pydantic's own message prefix for ``EmailStr`` failures, which come as a bare ``value_error``.
_EMAIL_MSG_PREFIX = "value is not a valid email address"


def _count(n: Any, noun: str) -> str:
    """A count with its noun in French plural: 1 caractère, 2 caractères."""
    return f"{n} {noun}" if n in (0, 1) else f"{n} {noun}s"


def _too_short(ctx: Ctx) -> str:
    if ctx["min_length"] == 1:
        return "ne doit pas être vide"
    return f"trop court (au moins {_count(ctx['min_length'], 'caractère')})"


def _french_or(choices: Any) -> str:
    # Pydantic joins choices in English ("'A', 'H' or 'P'"): only the last separator differs.
    head, sep, last = str(choices).rpartition(" or ")
    return f"{head} ou {last}" if sep else str(choices)


def _expected(ctx: Ctx) -> str:
    return f"valeur non autorisée (attendu : {_french_or(ctx['expected'])})"


_TYPE_OBJECT = "un objet JSON est attendu"
_TYPE_LIST = "un tableau JSON est attendu"
_TYPE_INT = "un nombre entier est attendu"
_TYPE_NUMBER = "un nombre est attendu"
_TYPE_DECIMAL = 'un nombre décimal est attendu (nombre JSON, ou texte comme "12.50")'
_TYPE_BOOL = "un booléen est attendu (true ou false)"
_TYPE_DATE = "une date au format AAAA-MM-JJ est attendue"
_TYPE_DATETIME = "une date et heure ISO 8601 est attendue (ex. 2025-03-02T08:15:00+01:00)"
_TYPE_URL = "une URL absolue est attendue (ex. https://exemple.fr/fichier.pdf)"

REASONS: Mapping[str, Phrase] = {
    # presence
    "missing": "champ obligatoire",
    "missing_argument": "champ obligatoire",
    "missing_keyword_only_argument": "champ obligatoire",
    "missing_positional_only_argument": "champ obligatoire",
    "extra_forbidden": "champ non autorisé",
    "unexpected_keyword_argument": "champ non autorisé",
    "frozen_field": "champ non modifiable",
    "frozen_instance": "objet non modifiable",
    "invalid_key": "clé incorrecte (une chaîne de caractères est attendue)",
    # Pydantic quotes the discriminator itself ("'kind'").
    "union_tag_not_found": lambda ctx: f"champ {ctx['discriminator']} obligatoire",
    "union_tag_invalid": lambda ctx: (
        f"valeur de {ctx['discriminator']} non autorisée (attendu : "
        f"{_french_or(ctx['expected_tags'])})"
    ),
    # JSON types
    "dict_type": _TYPE_OBJECT,
    "model_type": _TYPE_OBJECT,
    "model_attributes_type": _TYPE_OBJECT,
    "mapping_type": _TYPE_OBJECT,
    "ordered_dict_type": _TYPE_OBJECT,
    "frozen_dict_type": _TYPE_OBJECT,
    "dataclass_type": _TYPE_OBJECT,
    "list_type": _TYPE_LIST,
    "tuple_type": _TYPE_LIST,
    "set_type": _TYPE_LIST,
    "frozen_set_type": _TYPE_LIST,
    "iterable_type": _TYPE_LIST,
    "deque_type": _TYPE_LIST,
    "string_type": "une chaîne de caractères est attendue",
    "string_sub_type": "une chaîne de caractères est attendue",
    "string_unicode": "texte Unicode incorrect",
    "string_not_ascii": "seuls les caractères ASCII sont acceptés",
    "bytes_type": "une chaîne de caractères est attendue",
    "none_required": "null est attendu",
    "bool_type": _TYPE_BOOL,
    "bool_parsing": _TYPE_BOOL,
    "int_type": _TYPE_INT,
    "int_parsing": _TYPE_INT,
    "int_parsing_size": "nombre entier trop grand",
    "int_from_float": "un nombre entier est attendu (sans partie décimale)",
    "float_type": _TYPE_NUMBER,
    "float_parsing": _TYPE_NUMBER,
    "finite_number": "un nombre fini est attendu",
    "decimal_type": _TYPE_DECIMAL,
    "decimal_parsing": _TYPE_DECIMAL,
    "decimal_max_digits": lambda ctx: f"au plus {_count(ctx['max_digits'], 'chiffre')}",
    "decimal_max_places": lambda ctx: f"au plus {_count(ctx['decimal_places'], 'décimale')}",
    "decimal_whole_digits": (
        lambda ctx: f"au plus {_count(ctx['whole_digits'], 'chiffre')} avant la virgule"
    ),
    "uuid_type": "un UUID est attendu",
    "uuid_parsing": "un UUID est attendu",
    "uuid_version": lambda ctx: f"un UUID de version {ctx['expected_version']} est attendu",
    # dates and times
    "date_type": _TYPE_DATE,
    "date_parsing": _TYPE_DATE,
    "date_from_datetime_parsing": _TYPE_DATE,
    "date_from_datetime_inexact": "une date sans heure est attendue (AAAA-MM-JJ)",
    "date_past": "une date passée est attendue",
    "date_future": "une date future est attendue",
    "datetime_type": _TYPE_DATETIME,
    "datetime_parsing": _TYPE_DATETIME,
    "datetime_from_date_parsing": _TYPE_DATETIME,
    "datetime_object_invalid": _TYPE_DATETIME,
    "datetime_past": "une date et heure passée est attendue",
    "datetime_future": "une date et heure future est attendue",
    "timezone_aware": "un fuseau horaire est attendu (ex. +01:00)",
    "timezone_naive": "aucun fuseau horaire n'est attendu",
    "timezone_offset": (
        lambda ctx: f"décalage horaire incorrect (attendu : {ctx['tz_expected']} secondes)"
    ),
    "time_type": "une heure est attendue (HH:MM:SS)",
    "time_parsing": "une heure est attendue (HH:MM:SS)",
    "time_delta_type": "une durée est attendue",
    "time_delta_parsing": "une durée est attendue",
    # URLs
    "url_type": _TYPE_URL,
    "url_parsing": _TYPE_URL,
    "url_syntax_violation": _TYPE_URL,
    "url_too_long": (
        lambda ctx: f"URL trop longue (au plus {_count(ctx['max_length'], 'caractère')})"
    ),
    "url_scheme": lambda ctx: (
        f"schéma d'URL non autorisé (attendu : {_french_or(ctx['expected_schemes'])})"
    ),
    # code lists
    "enum": _expected,
    "literal_error": _expected,
    # lengths and bounds
    "string_too_short": _too_short,
    "string_too_long": (
        lambda ctx: f"trop long (au plus {_count(ctx['max_length'], 'caractère')})"
    ),
    "too_short": lambda ctx: f"trop peu d'éléments (au moins {ctx['min_length']})",
    "too_long": lambda ctx: f"trop d'éléments (au plus {ctx['max_length']})",
    # The package's own pattern checks say the format in words (`_checks.matching`).
    "string_pattern_mismatch": lambda ctx: f"format incorrect (motif attendu : {ctx['pattern']})",
    "greater_than": lambda ctx: f"doit être strictement supérieur à {ctx['gt']}",
    "greater_than_equal": lambda ctx: f"doit être supérieur ou égal à {ctx['ge']}",
    "less_than": lambda ctx: f"doit être strictement inférieur à {ctx['lt']}",
    "less_than_equal": lambda ctx: f"doit être inférieur ou égal à {ctx['le']}",
    "multiple_of": lambda ctx: f"doit être un multiple de {ctx['multiple_of']}",
    "bytes_too_short": lambda ctx: f"trop court (au moins {_count(ctx['min_length'], 'octet')})",
    "bytes_too_long": lambda ctx: f"trop long (au plus {_count(ctx['max_length'], 'octet')})",
    "recursion_loop": "référence circulaire",
    # custom validators: their English text cannot be translated, so only the verdict is kept
    "value_error": FALLBACK,
    "assertion_error": FALLBACK,
    "json_invalid": "JSON incorrect",
    "json_type": "un texte JSON est attendu",
}


def reason(error_type: str, /, **ctx: Any) -> str:
    """The French reason for a problem of ``error_type`` (a Pydantic v2 error type)."""
    phrase = REASONS.get(error_type, FALLBACK)
    if isinstance(phrase, str):
        return phrase
    try:
        return phrase(ctx)
    except (KeyError, TypeError, ValueError):  # context missing or unexpected: stay French
        return FALLBACK


def pydantic_reason(error: Mapping[str, Any]) -> str:
    """The French reason of one element of Pydantic's ``ValidationError.errors()``.

    Takes the plain dict (``type``, ``ctx``, ``msg``…), so this package needs no Pydantic.
    """
    error_type = str(error.get("type", ""))
    message = error.get("msg")
    if error_type == "value_error" and str(message).startswith(_EMAIL_MSG_PREFIX):
        return EMAIL_REASON
    ctx = error.get("ctx")
    context = {str(key): value for key, value in ctx.items()} if isinstance(ctx, Mapping) else {}
    return reason(error_type, **context)


EMAIL_REASON = "adresse e-mail incorrecte (attendu : nom@domaine.fr)"
"""No Pydantic type of its own (``EmailStr`` raises a ``value_error``): shared wording here."""
