"""``readValue(field, raw, isLocalized)`` and every field parser of the reference (RULES §3, §4).

``ValueReader(today=...).read(field, raw, is_localized)`` returns an immutable ``ValueResult``.

JavaScript details kept on purpose: ``trim`` whitespace (``JS_WHITESPACE``), UTF-16 lengths
(``js_len``), ASCII ``\\d``/``\\W`` (explicit classes), ``^...$`` = ``fullmatch`` (Python's ``$``
accepts a final newline), JS-Unicode ``\\s``/``\\S`` (explicit classes), date-fns v2 ``parse``.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from guichet.bal import _cog
from guichet.bal._text import JS_WHITESPACE, deburr, js_len, js_trim

# --- results ---------------------------------------------------------------------------------


class _Unset:
    """Type of ``UNSET``: "no parsed value" (JS ``undefined``), distinct from ``None``."""

    __slots__ = ()
    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


@dataclass(frozen=True, slots=True)
class Remediation:
    """A remediation proposed by a parser (only ``date_der_maj``): JSON ``{errors, value}``."""

    errors: tuple[str, ...]
    value: str


@dataclass(frozen=True, slots=True)
class ValueResult:
    """What ``readValue`` returns for one cell.

    * ``errors``: short codes in emission order (prefix them with the column name);
    * ``value``: the parsed value or ``UNSET`` — ``str``; ``int`` (numero); ``float`` (x, y,
      long, lat: ``-0.0`` and integral floats are possible, serialize them as JSON does);
      ``tuple[str, ...]`` (cad_parcelles); ``bool`` (certification_commune);
    * ``additional``: ``additionalValues`` as a fresh dict with the reference's JSON keys, or
      ``None``: ``cle_interop`` → ``{"codeCommune", "codeVoie" (absent when undefined),
      "numeroVoie", "suffixes": list}``; ``uid_adresse`` → ``{"idBanCommune", "idBanToponyme",
      "idBanAdresse"}`` (``None`` = JS null). These two fields are not memoized, so every
      result owns its dict;
    * ``remediation``: ``date_der_maj`` remediation, else ``None``.
    """

    errors: tuple[str, ...]
    value: object
    additional: dict[str, Any] | None = None
    remediation: Remediation | None = None


# The generated frozen __init__ costs ~0.45 µs; setting the slots directly halves that, which
# matters on the columns whose values never repeat (x, y, long, lat, cle_interop).
_new_result = object.__new__
_slots = vars(ValueResult)  # the slot descriptors
_set_errors = _slots["errors"].__set__
_set_value = _slots["value"].__set__
_set_additional = _slots["additional"].__set__
_set_remediation = _slots["remediation"].__set__


def _result(
    errors: tuple[str, ...],
    value: object,
    additional: dict[str, Any] | None = None,
    remediation: Remediation | None = None,
) -> ValueResult:
    r: ValueResult = _new_result(ValueResult)
    _set_errors(r, errors)
    _set_value(r, value)
    _set_additional(r, additional)
    _set_remediation(r, remediation)
    return r


def _error(*codes: str) -> ValueResult:
    """A result with codes and no value (shared: results are immutable)."""
    return _result(codes, UNSET)


Parser = Callable[[str], ValueResult]
_NO_ERRORS: Final[tuple[str, ...]] = ()

# --- identifiers ------------------------------------------------------------------------------

_UUID_V4: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
)
_NON_WS: Final = f"[^{JS_WHITESPACE}]+"  # JS \S+
_UID_TAGS: Final = tuple(re.compile(f"@[{t}{t.upper()}]:({_NON_WS})") for t in "cva")

_TYPE_INVALIDE: Final = _error("type_invalide")


def _is_uuid_v4(v: str) -> bool:
    """uuid 11 ``validate(v) && version(v) === 4`` (case-insensitive; nil/max are not v4)."""
    return _UUID_V4.fullmatch(v) is not None


def _is_ascii_digits(s: str) -> bool:
    r"""JS ``/^\d+$/.test(s)`` (no ``u`` flag: ASCII digits only); faster than a regex."""
    return s.isascii() and s.isdigit()


def _parse_cle_interop(v: str) -> ValueResult:
    errors: list[str] = []
    if v.lower() != v:
        errors.append("casse_invalide")
    parts = v.split("_")
    if len(parts) < 3 or "" in parts:
        errors.append("structure_invalide")
        return _result(tuple(errors), UNSET)
    code_commune = parts[0].upper()
    code_voie, numero = parts[1], parts[2]
    status = _cog.classify(code_commune)
    if status is None:
        errors.append("commune_invalide")
    elif status == "ancienne":
        errors.append("commune_ancienne")
    voie_upper: str | None = None
    if (len(code_voie) if code_voie.isascii() else js_len(code_voie)) != 4:
        errors.append("voie_invalide")
    elif (upper := code_voie.upper()) == "XXXX" or code_voie == "0000":
        errors.append("voie_non_renseignee")
    else:
        voie_upper = upper
    if not _is_ascii_digits(numero):
        errors.append("numero_invalide")
        return _result(tuple(errors), UNSET)
    if len(numero) != 5:
        errors.append("numero_prefixe_manquant")
    suffixes = parts[3:]
    additional: dict[str, Any] = {"codeCommune": code_commune}
    if voie_upper is not None:  # JS undefined: the key is absent from the JSON
        additional["codeVoie"] = voie_upper
    additional["numeroVoie"] = numero.lstrip("0")
    additional["suffixes"] = suffixes
    parts[0] = code_commune
    parts[2] = numero.rjust(5, "0")
    value = "_".join(parts).lower()
    return _result(tuple(errors) if errors else _NO_ERRORS, value, additional)


def _parse_uid_adresse(v: str) -> ValueResult:
    ids: list[str | None] = []
    for tag in _UID_TAGS:
        match = tag.search(v)
        ids.append(match.group(1) if match else None)
    if any(i is not None and not _is_uuid_v4(i) for i in ids):
        return _TYPE_INVALIDE
    additional = {"idBanCommune": ids[0], "idBanToponyme": ids[1], "idBanAdresse": ids[2]}
    return _result((), v, additional)


def _parse_id_ban(v: str) -> ValueResult:
    return _result((), v) if _is_uuid_v4(v) else _TYPE_INVALIDE


# --- names ------------------------------------------------------------------------------------

_TROP_COURT: Final = _error("trop_court")
_TROP_LONG: Final = _error("trop_long")
_CARACTERE_INVALIDE: Final = _error("caractere_invalide")


def _parse_voie_nom(v: str) -> ValueResult:
    """voie_nom, toponyme and their localized columns."""
    length = js_len(v)
    if length < 3:
        return _TROP_COURT
    if length > 200:
        return _TROP_LONG
    if "\ufffd" in v:
        return _CARACTERE_INVALIDE
    errors: list[str] = []
    if "_" in v:
        errors.append("contient_tiret_bas")
        v = v.replace("_", " ")
    if v.upper() == v:
        errors.append("casse_incorrecte")
    return _result(tuple(errors), v)


def _parse_commune_nom(v: str) -> ValueResult:
    errors: list[str] = []
    # two independent checks: a value without letters gets the code twice (RULES §4.8)
    if v.lower() == v:
        errors.append("casse_incorrecte")
    if v.upper() == v:
        errors.append("casse_incorrecte")
    return _result(tuple(errors), v)


# --- numbers ----------------------------------------------------------------------------------


def _parse_numero(v: str) -> ValueResult:
    if not _is_ascii_digits(v):
        return _TYPE_INVALIDE
    n = int(v)
    if n > 99999:
        return _error("trop_grand")
    if n == 0:
        return _result(("not_to_be_zero",), 0)
    if v[0] == "0":
        return _result(("contient_prefixe",), n)
    return _result((), n)


_FLOAT: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?[0-9]?")
_FRENCH_FLOAT: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:,[0-9]+)?[0-9]?")
_VALEUR_INVALIDE: Final = _error("valeur_invalide")
_SEPARATEUR: Final = ("separateur_decimal_invalide",)


def _parse_float(v: str) -> ValueResult:
    """x, y, long, lat."""
    if _FLOAT.fullmatch(v) is not None:
        return _result(_NO_ERRORS, float(v))
    if _FRENCH_FLOAT.fullmatch(v) is not None:
        return _result(_SEPARATEUR, float(v.replace(",", ".", 1)))
    return _VALEUR_INVALIDE


# --- suffixe, communes, position, cadastre, certification --------------------------------------

_SUFFIXE_START: Final = re.compile(r"[0-9A-Za-z]")  # /^[\da-z]/i without u flag: ASCII only
_SUFFIXE_CHARS: Final = re.compile(
    "[a-zA-ZàáâãäåæçèéêëìíîïñòóôõöùúûüýÿÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝŸ0-9" + JS_WHITESPACE + "]+"
)


def _parse_suffixe(v: str) -> ValueResult:
    if _SUFFIXE_START.match(v) is None:
        return _error("debut_invalide")
    if js_len(v) > 9:
        return _TROP_LONG
    if _SUFFIXE_CHARS.fullmatch(v) is None:
        return _result(("caractere_invalide",), v)
    return _result((), v)


def _parse_commune_insee(v: str) -> ValueResult:
    code = v.upper()
    status = _cog.classify(code)
    if status is None:
        return _error("commune_invalide")
    return _result(("commune_ancienne",) if status == "ancienne" else (), code)


def _parse_commune_deleguee_insee(v: str) -> ValueResult:
    code = v.upper()
    return _result((), code) if _cog.classify(code) else _result(("commune_invalide",), code)


_NON_WORD: Final = re.compile(r"[^A-Za-z0-9_]+")  # JS /\W+/g without u flag


def _normalized_enum(v: str) -> str:
    """``getNormalizedEnumValue``."""
    s = _NON_WORD.sub(" ", deburr(unicodedata.normalize("NFC", v)))
    return unicodedata.normalize("NFC", js_trim(s).lower())


_POSITIONS: Final = (
    "entrée", "bâtiment", "cage d’escalier", "logement", "service technique",
    "délivrance postale", "parcelle", "segment",
)  # fmt: skip
_POSITION_BY_KEY: Final = {_normalized_enum(p): unicodedata.normalize("NFC", p) for p in _POSITIONS}


def _parse_position(v: str) -> ValueResult:
    canonical = _POSITION_BY_KEY.get(_normalized_enum(v))
    if canonical is None:
        return _VALEUR_INVALIDE
    if canonical != unicodedata.normalize("NFC", v):
        return _result(("enum_fuzzy",), canonical)
    return _result((), canonical)


def _parse_cad_parcelles(v: str) -> ValueResult:
    trimmed = v.strip("|")
    errors = ("pipe_debut_fin",) if trimmed != v else ()
    if not trimmed:
        return _error(*errors, "valeur_invalide")
    pieces = trimmed.split("|")
    lengths = [js_len(p) for p in pieces]
    if any(n not in (14, 15) for n in lengths):
        return _error(*errors, "valeur_invalide")
    # a 15-character piece loses its 3rd character, whatever it is (RULES §11 #9)
    value = tuple(
        p if n == 14 else _js_slice_drop3(p) for p, n in zip(pieces, lengths, strict=True)
    )
    return _result(errors, value)


def _js_slice_drop3(p: str) -> str:
    """``p.slice(0, 2) + p.slice(3)`` in UTF-16 code units."""
    if p.isascii() or js_len(p[:3]) == 3:
        return p[:2] + p[3:]
    units = p.encode("utf-16-le", "surrogatepass")
    return (units[:4] + units[6:]).decode("utf-16-le", "surrogatepass")


_CERTIFICATION: Final = {"1": _result((), True), "0": _result((), False)}


def _parse_certification(v: str) -> ValueResult:
    return _CERTIFICATION.get(v, _VALEUR_INVALIDE)


# --- date_der_maj ------------------------------------------------------------------------------

_ISO_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DAYS_IN_MONTH: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MIN_DATE: Final = (2010, 1, 1, 0, 0, 0, 0)
"""``new Date('2010-01-01')``: UTC midnight = local midnight with TZ=UTC (RULES §4.13).

Dates are compared as (y, m, d, H, M, S, µs) tuples of the same length."""
_MIN_DAY: Final = _MIN_DATE[:3]


def _is_leap(year: int) -> bool:
    return year % 400 == 0 or (year % 4 == 0 and year % 100 != 0)


def _days_in_month(year: int, month: int) -> int:
    return 29 if month == 2 and _is_leap(year) else _DAYS_IN_MONTH[month - 1]


def _format_year_zero(month: int, day: int) -> str:
    """date-fns ``format(parseISO('0000-MM-DD'), 'yyyy-MM-dd')``.

    It writes the era year (year 0 = 1 BC → "0001"), and its time-zone offset helper goes
    through ``Date.UTC`` (years 0–99 mean 1900–1999): 0000-02-29 becomes 1900-02-29 = March 1st,
    an offset of one day, so that date comes out as "0001-03-01".
    """
    return "0001-03-01" if (month, day) == (2, 29) else f"0001-{month:02d}-{day:02d}"


def _as_tuple(moment: dt.datetime) -> tuple[int, int, int, int, int, int, int]:
    return (
        moment.year, moment.month, moment.day,
        moment.hour, moment.minute, moment.second, moment.microsecond,
    )  # fmt: skip


class _DateParser:
    """date_der_maj against a fixed "now" (naive local time; the reference's ``new Date()``)."""

    def __init__(self, now: dt.datetime) -> None:
        self._now = _as_tuple(now)

    def __call__(self, v: str) -> ValueResult:
        if _ISO_DATE.fullmatch(v) is None:
            return self._invalid(v)
        year, month, day = int(v[:4]), int(v[5:7]), int(v[8:10])
        # parseISO: month 01–12, day within the month (year 0000 is a leap year)
        if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
            return self._invalid(v)
        if (year, month, day, 0, 0, 0, 0) > self._now:
            return _error("date_future")
        value = v if year else _format_year_zero(month, day)
        if (year, month, day) < _MIN_DAY:
            return _result(("date_ancienne",), value)
        return _result((), value)

    def _invalid(self, v: str) -> ValueResult:
        found = _remediate_date(v, self._now)
        if found is None:
            return _error("date_invalide")
        return _result(("date_invalide",), UNSET, None, Remediation(_REMEDIATION_ERRORS, found))


_REMEDIATION_ERRORS: Final = ("date_der_maj.date_invalide",)

# date-fns v2 ``parse`` for the remediation formats, in the reference's order. A format is a
# sequence of tokens: a field name with the regex of its date-fns parser, or a literal.
_D1_2: Final = re.compile(r"[0-9]{1,2}")  # parseNDigits(2)
_D1_4: Final = re.compile(r"[0-9]{1,4}")  # parseNDigits(4)
_DAY_D: Final = re.compile(r"3[0-1]|[0-2]?[0-9]")  # numericPatterns.date ('d')
_Token = tuple[str, re.Pattern[str] | str | None]
"""(field, regex of its date-fns parser) or ("", literal) or ("month_name", None) for LLLL."""
_DD: Final[_Token] = ("day", _D1_2)
_MM: Final[_Token] = ("month", _D1_2)
_YY: Final[_Token] = ("year2", _D1_2)
_YYYY: Final[_Token] = ("year", _D1_4)
_HH: Final[_Token] = ("hour", _D1_2)
_MI: Final[_Token] = ("minute", _D1_2)


def _lit(s: str) -> _Token:
    return ("", s)


_REMEDIATION_FORMATS: Final[tuple[tuple[_Token, ...], ...]] = (
    (_DD, _lit("/"), _MM, _lit("/"), _YY),  # dd/MM/yy
    (_DD, _lit("/"), _MM, _lit("/"), _YYYY),  # dd/MM/yyyy
    (_YYYY, _lit("/"), _MM, _lit("/"), _DD),  # yyyy/MM/dd
    (_DD, _lit("-"), _MM, _lit("-"), _YYYY),  # dd-MM-yyyy
    (_YYYY, _lit("-"), _MM, _lit("-"), _DD),  # yyyy-MM-dd
    (_DD, _lit(" "), _MM, _lit(" "), _YYYY),  # dd MM yyyy
    (_YYYY, _lit(" "), _MM, _lit(" "), _DD),  # yyyy MM dd
    (("day", _DAY_D), _lit(" "), ("month_name", None), _lit(" "), _YYYY),  # d LLLL yyyy
    (_YYYY, _lit("-"), _MM, _lit("-"), _DD, _lit(" "), _HH, _lit(":"), _MI),  # yyyy-MM-dd HH:mm
)  # fmt: skip


def _js_canon(s: str) -> str:
    """Case folding of a JS ``/i`` regex without ``u`` (ES Canonicalize): upper-case each char,
    unless that gives several chars or turns a non-ASCII char into an ASCII one (ſ, ı stay)."""
    out = []
    for ch in s:
        up = ch.upper()
        if len(up) != 1 or ch > "\uffff" or (ch >= "\x80" and up < "\x80"):
            up = ch
        out.append(up)
    return "".join(out)


# date-fns 2.30 locale fr ``match.month``: wide, then abbreviated, then narrow patterns.
_FR_MONTHS_WIDE: Final = tuple(
    map(_js_canon, ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
                    "septembre", "octobre", "novembre", "décembre"))
)  # fmt: skip
_FR_MONTHS_ABBREVIATED: Final = tuple(
    map(_js_canon, ("janv", "févr", "mars", "avr", "mai", "juin", "juill", "juil", "août", "sept",
                    "oct", "nov", "déc"))
)  # fmt: skip
_FR_MONTHS_ANY: Final = tuple(
    map(_js_canon, ("ja", "f", "mar", "av", "ma", "juin", "juil", "ao", "s", "o", "n", "d"))
)  # parsePatterns.any, first match wins
_FR_MONTHS_NARROW: Final = {"J": 0, "F": 1, "M": 2, "A": 3, "S": 8, "O": 9, "N": 10, "D": 11}


def _match_month_fr(s: str) -> tuple[int, str] | None:
    """(month index 0–11, rest) like ``locale.match.month`` for the 'LLLL' token."""
    canon = _js_canon(s[:9])
    for names, dot in ((_FR_MONTHS_WIDE, False), (_FR_MONTHS_ABBREVIATED, True)):
        for name in names:
            if canon.startswith(name):
                length = len(name) + (1 if dot and s[len(name) : len(name) + 1] == "." else 0)
                index = next(i for i, p in enumerate(_FR_MONTHS_ANY) if name.startswith(p))
                return index, s[length:]
    narrow = _FR_MONTHS_NARROW.get(canon[:1])
    return None if narrow is None else (narrow, s[1:])


def _two_digit_year(year: int, current_year: int) -> int:
    """date-fns ``normalizeTwoDigitYear`` (current year > 50 AD)."""
    range_end = current_year + 50
    century = range_end // 100 * 100
    return year + century - (100 if year >= range_end % 100 else 0)


def _scan(v: str, tokens: tuple[_Token, ...]) -> dict[str, int] | None:
    """The token loop of date-fns ``parse``: the raw field values, or None."""
    fields: dict[str, int] = {}
    rest = v
    for name, pattern in tokens:
        if not name:
            assert isinstance(pattern, str)
            if not rest.startswith(pattern):
                return None
            rest = rest[len(pattern) :]
        elif name == "month_name":
            found = _match_month_fr(rest)
            if found is None:
                return None
            fields["month"], rest = found[0] + 1, found[1]
        else:
            assert isinstance(pattern, re.Pattern)
            match = pattern.match(rest)
            if match is None:
                return None
            fields[name] = int(match.group())
            rest = rest[match.end() :]
    # whatever remains must be JS whitespace (\S would make the date invalid)
    return fields if not rest.strip(JS_WHITESPACE) else None


def _datefns_parse(
    v: str, tokens: tuple[_Token, ...], current_year: int
) -> tuple[int, int, int, int, int, int, int] | None:
    """date-fns v2 ``parse(v, format, now)``: (y, m, d, H, M, 0, 0), or None (Invalid Date).

    Setters run by priority (year, month, day, hour, minute), each validated first.
    """
    fields = _scan(v, tokens)
    if fields is None:
        return None
    if "year2" in fields:
        year = _two_digit_year(fields["year2"], current_year)
    else:
        year = fields["year"]
        if year <= 0:
            return None
    month, day = fields["month"], fields["day"]
    if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
        return None
    hour, minute = fields.get("hour", 0), fields.get("minute", 0)
    if hour > 23 or minute > 59:
        return None
    return year, month, day, hour, minute, 0, 0


def _remediate_date(v: str, now: tuple[int, ...]) -> str | None:
    """``calculateRemediation``: the first format giving a date strictly between 2010-01-01
    (midnight) and ``now`` (a ``(y, m, d, H, M, S, µs)`` tuple), as ``yyyy-MM-dd``."""
    for tokens in _REMEDIATION_FORMATS:
        parsed = _datefns_parse(v, tokens, now[0])
        if parsed is not None and _MIN_DATE < parsed < now:
            year, month, day = parsed[:3]
            return f"{year:04d}-{month:02d}-{day:02d}"
    return None


# --- the reader --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    required: bool
    parser: Parser | None
    memoize: bool = True


# Columns whose values (nearly) never repeat: memoizing them would only cost memory.
_UNIQUE: Final = frozenset(
    {"cle_interop", "uid_adresse", "id_ban_adresse", "x", "y", "long", "lat"}
)
_MEMO_LIMIT: Final = 200_000
"""Per (field, is_localized) memo size bound; past it, values are parsed without memoizing."""


def _fields(date_parser: Parser) -> dict[str, _Field]:
    """The schema fields (order of ``Schema.fields``) with their parsers."""
    parsers: dict[str, tuple[bool, Parser | None]] = {
        "cle_interop": (True, _parse_cle_interop),
        "uid_adresse": (False, _parse_uid_adresse),
        "id_ban_commune": (False, _parse_id_ban),
        "id_ban_toponyme": (False, _parse_id_ban),
        "id_ban_adresse": (False, _parse_id_ban),
        "voie_nom": (False, _parse_voie_nom),
        "toponyme": (False, _parse_voie_nom),
        "lieudit_complement_nom": (False, None),
        "numero": (True, _parse_numero),
        "suffixe": (False, _parse_suffixe),
        "commune_insee": (True, _parse_commune_insee),
        "commune_nom": (True, _parse_commune_nom),
        "commune_deleguee_insee": (False, _parse_commune_deleguee_insee),
        "commune_deleguee_nom": (False, None),
        "position": (False, _parse_position),
        "x": (False, _parse_float),
        "y": (False, _parse_float),
        "long": (False, _parse_float),
        "lat": (False, _parse_float),
        "cad_parcelles": (False, _parse_cad_parcelles),
        "source": (True, None),
        "date_der_maj": (True, date_parser),
        "certification_commune": (False, _parse_certification),
    }
    return {
        name: _Field(required, parser, name not in _UNIQUE)
        for name, (required, parser) in parsers.items()
    }


_EMPTY: Final = _result((), UNSET)
_MANQUANTE: Final = _error("valeur_manquante")
_SPACES_ONLY: Final = _error("espaces_debut_fin")
_SPACES_MANQUANTE: Final = _error("espaces_debut_fin", "valeur_manquante")


def _make_compute(spec: _Field, is_localized: bool) -> Parser:
    """``readValue`` for one (field, is_localized): trim, empty check, parser."""
    missing = spec.required and not is_localized
    empty = _MANQUANTE if missing else _EMPTY
    spaces_only = _SPACES_MANQUANTE if missing else _SPACES_ONLY
    parser = spec.parser
    strip = str.strip
    ws = JS_WHITESPACE

    def compute(raw: str) -> ValueResult:
        v = strip(raw, ws)
        if not v:
            return spaces_only if raw else empty
        result = _result((), v) if parser is None else parser(v)
        if len(v) != len(raw):
            return _result(
                ("espaces_debut_fin", *result.errors),
                result.value,
                result.additional,
                result.remediation,
            )
        return result

    return compute


def _float_fast_path(compute: Parser) -> Parser:
    """x, y, long, lat: a well-formed decimal has no spaces to trim, parse it at once."""
    fullmatch = _FLOAT.fullmatch

    def read(raw: str) -> ValueResult:
        if fullmatch(raw) is not None:
            return _result(_NO_ERRORS, float(raw))
        return compute(raw)

    return read


def _memoized(compute: Parser) -> Parser:
    memo: dict[str, ValueResult] = {}
    get = memo.get

    def read(raw: str) -> ValueResult:
        result = get(raw)
        if result is None:
            result = compute(raw)
            if len(memo) < _MEMO_LIMIT:
                memo[raw] = result
        return result

    return read


class ValueReader:
    """``readValue`` for every schema field, memoized per (field, raw, is_localized).

    ``today`` fixes the reference's ``new Date()``: "now" is ``today`` at 12:00 (what the
    vectors used) unless ``now`` (naive local time) is given. Dates are compared in that local
    time, and 2010-01-01 at local midnight (= UTC, the reference run with TZ=UTC).
    """

    def __init__(self, *, today: dt.date, now: dt.datetime | None = None) -> None:
        self.today = today
        self.now = now if now is not None else dt.datetime.combine(today, dt.time(12, 0))
        fields = _fields(_DateParser(self.now))
        self._readers: tuple[dict[str, Parser], dict[str, Parser]] = ({}, {})
        for localized in (False, True):
            readers = self._readers[localized]
            for name, spec in fields.items():
                compute = _make_compute(spec, localized)
                if spec.parser is _parse_float:
                    compute = _float_fast_path(compute)
                readers[name] = _memoized(compute) if spec.memoize else compute

    def reader(self, field: str, is_localized: bool = False) -> Callable[[str], ValueResult]:
        """The (memoized) ``raw -> ValueResult`` function of one column, for tight loops."""
        try:
            return self._readers[is_localized][field]
        except KeyError:
            raise ValueError(f"Unknown field name: {field}") from None

    def read(self, field: str, raw: str, is_localized: bool = False) -> ValueResult:
        """``readValue(field, raw, isLocalized)``: ``field`` = schema name, ``raw`` untrimmed."""
        try:
            read = self._readers[is_localized][field]
        except KeyError:
            raise ValueError(f"Unknown field name: {field}") from None
        return read(raw)
