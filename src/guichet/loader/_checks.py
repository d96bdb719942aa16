"""Field checks: small pure functions over plain JSON values, built once at import.

A check returns ``None`` (fine) or a `Problem` ``(code, reason)``: a stable machine code (the
``code`` of `Issue`, unchanged since the first release) and the French reason partners read.
Reasons come from `_messages`, keyed by the Pydantic error type each check mirrors, so the
package and the server's Pydantic models word the same problem the same way.

Hot path: one call per present field per item, so checks compare ``type(value)`` (JSON values are
never subclasses) and return preallocated tuples.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any

from guichet.loader._messages import EMAIL_REASON, reason

Problem = tuple[str, str]
Check = Callable[[Any], Problem | None]

REQUIRED: Problem = ("required", reason("missing"))
NOT_OBJECT: Problem = ("type", reason("dict_type"))
NOT_LIST: Problem = ("type", reason("list_type"))
NOT_STRING: Problem = ("type", reason("string_type"))
NOT_INTEGER: Problem = ("type", reason("int_type"))
NOT_DECIMAL: Problem = ("type", reason("decimal_type"))
NOT_DATE: Problem = ("date", reason("date_parsing"))
NO_SUCH_DATE: Problem = ("date", "date inexistante dans le calendrier (format AAAA-MM-JJ)")
NOT_URL: Problem = ("url", "une URL absolue en http ou https est attendue")
NOT_EMAIL: Problem = ("email", EMAIL_REASON)
_YEAR_REASON = 'une année sur 4 chiffres est attendue ("2023" ou 2023)'
NOT_YEAR: Problem = ("pattern", _YEAR_REASON)
YEAR_TYPE: Problem = ("type", _YEAR_REASON)

# Shared with the shipped JSON Schema (data/loader-2.x.schema.json); a test keeps them equal.
EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"
URL_PATTERN = r"https?://[^\s/?#]+([/?#]\S*)?"
ID_MAX_LENGTH = 255
"""Not in the contract: external ids become keys of unique indexes, which need a bound."""

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DECIMAL = re.compile(r"-?\d+(\.\d+)?", re.ASCII)
_YEAR = re.compile(r"\d{4}", re.ASCII)
_EMAIL = re.compile(EMAIL_PATTERN)
_URL = re.compile(URL_PATTERN)


def text(value: Any) -> Problem | None:
    return None if type(value) is str else NOT_STRING


def text_or_null(value: Any) -> Problem | None:
    return None if value is None or type(value) is str else NOT_STRING


def is_list(value: Any) -> Problem | None:
    return None if type(value) is list else NOT_LIST


def sized_text(*, min_length: int = 0, max_length: int | None = None) -> Check:
    """A string of bounded length (``minLength`` / ``maxLength`` of the schema)."""
    too_short: Problem = ("length", reason("string_too_short", min_length=min_length))
    too_long: Problem = ("length", reason("string_too_long", max_length=max_length))
    longest = max_length if max_length is not None else math.inf

    def check(value: Any) -> Problem | None:
        if type(value) is not str:
            return NOT_STRING
        if len(value) < min_length:
            return too_short
        return too_long if len(value) > longest else None

    return check


external_id = sized_text(min_length=1, max_length=ID_MAX_LENGTH)
nonempty_text = sized_text(min_length=1)


def _one_of(values: tuple[str, ...]) -> str:
    quoted = [f"'{v}'" for v in values]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} ou {quoted[-1]}"


def choice(values: tuple[str, ...], *, ints: bool = False, nullable: bool = False) -> Check:
    """A code of a closed list; ``ints`` also accepts the JSON integer form of numeric codes."""
    allowed = frozenset(values)
    problem: Problem = ("enum", reason("enum", expected=_one_of(values)))

    def check(value: Any) -> Problem | None:
        kind = type(value)
        if kind is str:
            return None if value in allowed else problem
        if ints and kind is int:  # bool is not int here: type() is exact
            return None if str(value) in allowed else problem
        return None if nullable and value is None else problem

    return check


def matching(pattern: str, expected: str) -> Check:
    """A string matching a regular expression (whole value). ``expected`` is the reason, in
    words: partners cannot be expected to read a regular expression."""
    regex = re.compile(pattern, re.ASCII)
    problem: Problem = ("pattern", expected)

    def check(value: Any) -> Problem | None:
        if type(value) is not str:
            return NOT_STRING
        return None if regex.fullmatch(value) else problem

    return check


def iso_date(value: Any) -> Problem | None:
    """``YYYY-MM-DD`` and a real calendar day (the schema's pattern lets 2023-02-30 through)."""
    if type(value) is not str:
        return NOT_STRING
    if not _DATE.fullmatch(value):
        return NOT_DATE
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return NO_SUCH_DATE
    return None


def decimal(value: Any) -> Problem | None:
    """A JSON number, or a string with a ``.`` decimal separator (the docs show both)."""
    kind = type(value)
    if kind is int:
        return None
    if kind is float:
        return None if math.isfinite(value) else NOT_DECIMAL  # 1e400 parses as inf
    if kind is str and _DECIMAL.fullmatch(value):
        return None
    return NOT_DECIMAL


def integer(*, minimum: int | None = None) -> Check:
    """A JSON integer; ``3.0`` counts, as in JSON Schema."""
    lowest = -math.inf if minimum is None else minimum
    below: Problem = ("range", reason("greater_than_equal", ge=lowest))

    def check(value: Any) -> Problem | None:
        kind = type(value)
        if kind is float and math.isfinite(value) and value.is_integer():
            value = int(value)
        elif kind is not int:
            return NOT_INTEGER
        return below if value < lowest else None

    return check


def year(value: Any) -> Problem | None:
    kind = type(value)
    if kind is str:
        return None if _YEAR.fullmatch(value) else NOT_YEAR
    if kind is int:
        return None if 1000 <= value <= 9999 else NOT_YEAR
    return YEAR_TYPE


def web_url(value: Any) -> Problem | None:
    """An absolute http(s) URL with a host: Qlower downloads the file, so nothing else is usable."""
    if type(value) is not str:
        return NOT_STRING
    return None if _URL.fullmatch(value) else NOT_URL


def email(value: Any) -> Problem | None:
    if type(value) is not str:
        return NOT_STRING
    if not 3 <= len(value) <= 254 or not _EMAIL.fullmatch(value):
        return NOT_EMAIL
    return None
