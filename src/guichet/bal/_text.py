"""JavaScript string semantics the reference validator relies on, ported exactly.

* ``js_trim`` / ``js_len``: ``String.prototype.trim`` and ``.length`` (UTF-16 code units);
* ``deburr`` / ``words``: lodash 4.18.1;
* ``normalize``: ``@ban-team/adresses-util`` 0.9.0 ``lib/voies`` (RULES §6.3), with the French
  spelling of numbers by ``written-number`` 0.9.1.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Final

# --- trim / length ---------------------------------------------------------------------------

JS_WHITESPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
"""ECMAScript WhiteSpace + LineTerminator: what ``trim()`` strips and what ``\\s`` matches.

Python's ``str.strip()`` differs (it strips U+001C–U+001F and U+0085, not U+FEFF)."""


def js_trim(s: str) -> str:
    """``String.prototype.trim``."""
    return s.strip(JS_WHITESPACE)


def js_len(s: str) -> int:
    """``String.prototype.length``: UTF-16 code units (a character outside the BMP counts 2)."""
    if s.isascii():
        return len(s)
    # surrogatepass: a lone surrogate (surrogateescape'd input) is one code unit, as in JS
    return len(s.encode("utf-16-le", "surrogatepass")) >> 1


# --- lodash deburr ---------------------------------------------------------------------------

# lodash's ``deburredLetters``: Latin-1 Supplement and Latin Extended-A letters (the whole range
# U+00C0–U+017F minus × and ÷) to ASCII, grouped by replacement.
_DEBURRED_LETTERS: Final = {
    "ÀÁÂÃÄÅĀĂĄ": "A", "Æ": "Ae", "ÇĆĈĊČ": "C", "ÈÉÊËĒĔĖĘĚ": "E", "ÌÍÎÏĨĪĬĮİ": "I",
    "ÐĎĐ": "D", "ÑŃŅŇŊ": "N", "ÒÓÔÕÖØŌŎŐ": "O", "ÙÚÛÜŨŪŬŮŰŲ": "U", "ÝŶŸ": "Y",
    "Þ": "Th", "ß": "ss", "àáâãäåāăą": "a", "æ": "ae", "çćĉċč": "c", "èéêëēĕėęě": "e",
    "ìíîïĩīĭįı": "i", "ðďđ": "d", "ñńņňŋ": "n", "òóôõöøōŏő": "o", "ùúûüũūŭůűų": "u",
    "ýÿŷ": "y", "þ": "th", "ĜĞĠĢ": "G", "ĝğġģ": "g", "ĤĦ": "H", "ĥħ": "h", "Ĳ": "IJ",
    "ĳ": "ij", "Ĵ": "J", "ĵ": "j", "Ķ": "K", "ķĸ": "k", "ĹĻĽĿŁ": "L", "ĺļľŀł": "l",
    "ŉ": "'n", "Œ": "Oe", "œ": "oe", "ŔŖŘ": "R", "ŕŗř": "r", "ŚŜŞŠ": "S", "śŝşšſ": "s",
    "ŢŤŦ": "T", "ţťŧ": "t", "Ŵ": "W", "ŵ": "w", "ŹŻŽ": "Z", "źżž": "z",
}  # fmt: skip

# lodash ``reComboMark``: combining marks (U+0300–036F), half marks (U+FE20–FE2F) and
# combining marks for symbols (U+20D0–20FF) are removed.
_COMBINING_RANGES: Final = ((0x0300, 0x036F), (0xFE20, 0xFE2F), (0x20D0, 0x20FF))


def _deburr_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for letters, ascii_ in _DEBURRED_LETTERS.items():
        for letter in letters:
            table[ord(letter)] = ascii_
    for first, last in _COMBINING_RANGES:
        for code in range(first, last + 1):
            table[code] = None
    return table


_DEBURR_TABLE: Final = _deburr_table()


def deburr(s: str) -> str:
    """lodash ``deburr``: strip accents with lodash's own table (not ``unicodedata``/unidecode)."""
    if s.isascii():
        return s
    # One pass is equivalent to lodash's two replaces: no replacement yields a combining mark.
    return s.translate(_DEBURR_TABLE)


# --- lodash words ----------------------------------------------------------------------------
# lodash builds ``reUnicodeWord`` for UTF-16 code units. Python matches code points, so the
# surrogate-pair pieces are rewritten for astral code points (marked "astral" below); every
# negated class that excludes surrogates in JS must also exclude astral code points here, since
# a JS surrogate half never matches them. ``\d`` and ``\b`` are ASCII (no ``u`` flag): re.ASCII.

_ASTRAL_RANGE: Final = r"\ud800-\udfff\U00010000-\U0010ffff"  # astral
_COMBO_RANGE: Final = r"\u0300-\u036f\ufe20-\ufe2f\u20d0-\u20ff"
_DINGBAT_RANGE: Final = r"\u2700-\u27bf"
_LOWER_RANGE: Final = r"a-z\xdf-\xf6\xf8-\xff"
_MATH_OP_RANGE: Final = r"\xac\xb1\xd7\xf7"
_NON_CHAR_RANGE: Final = r"\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\xbf"
_PUNCTUATION_RANGE: Final = r"\u2000-\u206f"
_SPACE_RANGE: Final = (
    r" \t\x0b\f\xa0\ufeff\n\r\u2028\u2029\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005"
    r"\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
)
_UPPER_RANGE: Final = r"A-Z\xc0-\xd6\xd8-\xde"
_VAR_RANGE: Final = r"\ufe0e\ufe0f"
_BREAK_RANGE: Final = _MATH_OP_RANGE + _NON_CHAR_RANGE + _PUNCTUATION_RANGE + _SPACE_RANGE

_RS_APOS: Final = "['\u2019]"
_RS_BREAK: Final = f"[{_BREAK_RANGE}]"
_RS_COMBO: Final = f"[{_COMBO_RANGE}]"
_RS_DIGITS: Final = r"\d+"
_RS_DINGBAT: Final = f"[{_DINGBAT_RANGE}]"
_RS_LOWER: Final = f"[{_LOWER_RANGE}]"
_RS_MISC: Final = (
    f"[^{_ASTRAL_RANGE}{_BREAK_RANGE}{_RS_DIGITS}{_DINGBAT_RANGE}{_LOWER_RANGE}{_UPPER_RANGE}]"
)
_RS_FITZ: Final = r"[\U0001f3fb-\U0001f3ff]"  # astral: \ud83c[\udffb-\udfff]
_RS_MODIFIER: Final = f"(?:{_RS_COMBO}|{_RS_FITZ})"
_RS_NON_ASTRAL: Final = f"[^{_ASTRAL_RANGE}]"
_RS_REGIONAL: Final = r"[\U0001f1e6-\U0001f1ff]{2}"  # astral: (?:\ud83c[\udde6-\uddff]){2}
_RS_SURR_PAIR: Final = r"[\U00010000-\U0010ffff]"  # astral: [\ud800-\udbff][\udc00-\udfff]
_RS_UPPER: Final = f"[{_UPPER_RANGE}]"
_RS_ZWJ: Final = r"\u200d"

_RS_MISC_LOWER: Final = f"(?:{_RS_LOWER}|{_RS_MISC})"
_RS_MISC_UPPER: Final = f"(?:{_RS_UPPER}|{_RS_MISC})"
_RS_OPT_CONTR_LOWER: Final = f"(?:{_RS_APOS}(?:d|ll|m|re|s|t|ve))?"
_RS_OPT_CONTR_UPPER: Final = f"(?:{_RS_APOS}(?:D|LL|M|RE|S|T|VE))?"
_RE_OPT_MOD: Final = f"{_RS_MODIFIER}?"
_RS_OPT_VAR: Final = f"[{_VAR_RANGE}]?"
_RS_OPT_JOIN: Final = (
    f"(?:{_RS_ZWJ}(?:{_RS_NON_ASTRAL}|{_RS_REGIONAL}|{_RS_SURR_PAIR}){_RS_OPT_VAR}{_RE_OPT_MOD})*"
)
_RS_ORD_LOWER: Final = r"\d*(?:1st|2nd|3rd|(?![123])\dth)(?=\b|[A-Z_])"
_RS_ORD_UPPER: Final = r"\d*(?:1ST|2ND|3RD|(?![123])\dTH)(?=\b|[a-z_])"
_RS_SEQ: Final = _RS_OPT_VAR + _RE_OPT_MOD + _RS_OPT_JOIN
_RS_EMOJI: Final = f"(?:{_RS_DINGBAT}|{_RS_REGIONAL}|{_RS_SURR_PAIR}){_RS_SEQ}"

_RE_UNICODE_WORD: Final = re.compile(
    "|".join(
        (
            f"{_RS_UPPER}?{_RS_LOWER}+{_RS_OPT_CONTR_LOWER}(?={_RS_BREAK}|{_RS_UPPER}|$)",
            f"{_RS_MISC_UPPER}+{_RS_OPT_CONTR_UPPER}(?={_RS_BREAK}|{_RS_UPPER}{_RS_MISC_LOWER}|$)",
            f"{_RS_UPPER}?{_RS_MISC_LOWER}+{_RS_OPT_CONTR_LOWER}",
            f"{_RS_UPPER}+{_RS_OPT_CONTR_UPPER}",
            _RS_ORD_UPPER,
            _RS_ORD_LOWER,
            _RS_DIGITS,
            _RS_EMOJI,
        )
    ),
    re.ASCII,
)
# JS ``$`` (no ``m`` flag) only matches at the very end; Python's ``$`` also matches before a
# final "\n", but a "\n" is a break character, so the lookahead ``(?=...|$)`` accepts either way.
_RE_HAS_UNICODE_WORD: Final = re.compile(
    r"[a-z][A-Z]|[A-Z]{2}[a-z]|[0-9][a-zA-Z]|[a-zA-Z][0-9]|[^a-zA-Z0-9 ]"
)


def words(s: str) -> list[str]:
    """lodash ``words(s)`` (default pattern)."""
    if _RE_HAS_UNICODE_WORD.search(s):
        return _RE_UNICODE_WORD.findall(s)
    # lodash's ``reAsciiWord`` on a string made of [a-zA-Z0-9 ] only = split on spaces
    return s.split()


# --- written-number 0.9.1, lang "fr" ---------------------------------------------------------

_FR_BASE: Final = {
    0: "zéro", 1: "un", 2: "deux", 3: "trois", 4: "quatre", 5: "cinq", 6: "six", 7: "sept",
    8: "huit", 9: "neuf", 10: "dix", 11: "onze", 12: "douze", 13: "treize", 14: "quatorze",
    15: "quinze", 16: "seize", 17: "dix-sept", 18: "dix-huit", 19: "dix-neuf", 20: "vingt",
    30: "trente", 40: "quarante", 50: "cinquante", 60: "soixante", 70: "soixante-dix",
    80: "quatre-vingt", 90: "quatre-vingt-dix",
}  # fmt: skip
_FR_EXCEPTIONS: Final = {
    21: "vingt et un", 31: "trente et un", 41: "quarante et un", 51: "cinquante et un",
    61: "soixante et un", 71: "soixante et onze", 72: "soixante-douze", 73: "soixante-treize",
    74: "soixante-quatorze", 75: "soixante-quinze", 76: "soixante-seize",
    77: "soixante-dix-sept", 78: "soixante-dix-huit", 79: "soixante-dix-neuf",
    80: "quatre-vingts", 91: "quatre-vingt-onze", 92: "quatre-vingt-douze",
    93: "quatre-vingt-treize", 94: "quatre-vingt-quatorze", 95: "quatre-vingt-quinze",
    96: "quatre-vingt-seize", 97: "quatre-vingt-dix-sept", 98: "quatre-vingt-dix-huit",
    99: "quatre-vingt-dix-neuf",
}  # fmt: skip
# (singular, plural) of each short-scale unit; "cent" and "mille" have special rules below.
_FR_UNITS: Final = (
    ("cent", "cents"), ("mille", None), ("million", "millions"), ("milliard", "milliards"),
    ("billion", "billions"), ("billiard", "billiards"), ("trillion", "trillions"),
    ("trilliard", "trilliards"), ("quadrillion", "quadrillions"),
    ("quadrilliard", "quadrilliards"), ("quintillion", "quintillions"),
    ("quintilliard", "quintilliards"), ("sextillion", "sextillions"),
    ("sextilliard", "sextilliards"), ("septillion", "septillions"),
    ("septilliard", "septilliards"), ("octillion", "octillions"),
)  # fmt: skip
# ``Math.pow(10, 3 * i)`` as V8 computes it: not always the nearest double (1e36, 1e39, 1e42).
_SHORT_SCALE: Final = (
    100.0, 1e3, 1e6, 1e9, 1e12, 1e15, 1e18, 1e21, 1e24, 1e27, 1e30, 1e33,
    9.999999999999999e35, 1.0000000000000001e39, 9.999999999999999e41, 1e45, 1e48,
)  # fmt: skip


def _js_round(v: float) -> float:
    """``Math.round``: halves towards +infinity (``v - floor(v)`` is exact for doubles)."""
    r = math.floor(v)
    return float(r + 1 if v - r >= 0.5 else r)


def _lookup(table: dict[int, str], n: float) -> str | None:
    # JS ``table[n]``: only integral finite numbers can hit an integer key
    if 0 <= n < 100 and float(n).is_integer():
        return table.get(int(n))
    return None


def written_number_fr(n: float) -> str:
    """``writtenNumber(n, {lang: 'fr'})`` for a non-negative integral number (a digit string)."""
    if n < 0:
        return ""
    if math.isnan(n) or math.isinf(n):
        # JS: every ``% / floor`` gives NaN, every unit is skipped: the empty string
        return ""
    n = _js_round(n)  # the loop below can recurse on non-integral values (1e36 is inexact)
    known = _lookup(_FR_EXCEPTIONS, n) or _lookup(_FR_BASE, n)
    if known is not None:
        return known
    if n < 100:
        dec = math.floor(n / 10) * 10
        unit = n - dec
        return _FR_BASE[dec] + ("-" + written_number_fr(unit) if unit else "")
    return _written_big(n)


def _written_big(n: float) -> str:
    """The unit loop of written-number, in the same double arithmetic as the JS."""
    m = math.fmod(n, 100)
    ret: list[str] = []
    if m:
        ret.append(written_number_fr(m))
    last = len(_FR_UNITS) - 1
    for i, (singular, plural) in enumerate(_FR_UNITS):
        scale = _SHORT_SCALE[i]
        divide_by = 1000000.0 if i == last else _SHORT_SCALE[i + 1] / scale
        r = math.fmod(float(math.floor(n / scale)), divide_by)
        if not r:
            continue
        word = singular
        # "cent" avoids its plural when followed by a number (deux cents, deux cent un)
        if r != 1 and plural is not None and (i != 0 or not m):
            word = plural
        if i <= 1 and r == 1:
            # avoidPrefixException: "cent", "mille" (not "un cent"); n is not reduced here
            ret.append(word)
            continue
        number = _lookup(_FR_EXCEPTIONS, r) or written_number_fr(r)
        n -= r * scale
        ret.append(number + " " + word)
    return " ".join(reversed(ret))


# --- adresses-util normalize ------------------------------------------------------------------

_EXPAND_FIRST_WORD: Final = {
    "pl": "place", "av": "avenue", "bd": "boulevard", "sq": "square", "che": "chemin",
    "chem": "chemin", "rte": "route", "all": "allee", "pas": "passage", "vla": "villa",
    "imp": "impasse", "qu": "quai", "ham": "hammeau", "prt": "porte", "parv": "parvis",
    "lot": "lotissement", "sen": "sente", "r": "rue", "rle": "ruelle", "car": "carrefour",
    "mte": "montee", "ptte": "placette", "str": "sentier", "tsse": "terrasse", "snt": "sente",
}  # fmt: skip
_EXPAND_WORD: Final = {"st": "saint", "ste": "sainte", "gal": "general", "mal": "marechal"}
_STOP_WORDS: Final = frozenset(
    ("la", "le", "les", "l", "d", "du", "de", "des", "dos", "las", "los", "sur", "sous", "a",
     "par", "et", "au", "aux")
)  # fmt: skip
_JS_PROTOTYPE_KEY: Final = "constructor"
"""The one lower-case word for which ``word in TABLE`` is true in JS through Object.prototype."""


class NormalizeError(TypeError):
    """``normalize`` throws in the reference (a word "constructor", see ``_crash_message``)."""


def _crash_message(ws: list[str]) -> str:
    """The JS TypeError raised when a word is "constructor".

    ``w in EXPAND_*_TABLE`` is true for ``constructor`` (inherited from ``Object.prototype``), so
    the word is replaced by the ``Object`` function; ``removeRue`` then calls ``w.endsWith`` on
    it if it runs its ``some()`` that far, else ``replaceNumbers`` calls ``word.match``.
    """
    if len(ws) != 1 and ws[0] == "rue":
        for w in ws[1:]:
            if w == _JS_PROTOTYPE_KEY:
                return "w.endsWith is not a function"
            if w.endswith("rue"):
                break
    return "word.match is not a function"


def _expand(ws: list[str]) -> list[str]:
    out = [_EXPAND_FIRST_WORD.get(ws[0], ws[0])]
    out.extend(_EXPAND_WORD.get(w, w) for w in ws[1:])
    return out


@lru_cache(maxsize=1 << 16)
def normalize(s: str | None) -> str:
    """adresses-util ``normalize`` (RULES §6.3); ``None`` (JS undefined) gives ``''``.

    Raises ``NormalizeError`` where the reference throws (any word "constructor").
    """
    ws = words(deburr(s or "").lower())
    if not ws:
        return ""
    if _JS_PROTOTYPE_KEY in ws:
        raise NormalizeError(_crash_message(ws))
    ws = _expand(ws)
    # removeRue, then removeLieuDit
    if len(ws) != 1 and ws[0] == "rue" and any(w.endswith("rue") for w in ws[1:]):
        ws = ws[1:]
    if len(ws) > 2 and ws[0] == "lieu" and ws[1] == "dit":
        ws = ws[2:]
    out: list[str] = []
    for w in ws:
        if w in _STOP_WORDS:
            continue
        if w.isdigit() and w.isascii():  # /^\d+$/ is ASCII
            out.extend(words(written_number_fr(float(w))))
        else:
            out.append(w)
    return " ".join(out)
