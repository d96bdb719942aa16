"""The header (root keys ``inigPtynm``, ``apiKey``, ``creDtTm``, ``versionId``): shape checks only.

Whether the partner exists and the key matches its stored hash is the server's business; this
module only says whether the header is well formed and when the file was issued.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from guichet.loader import _checks as c
from guichet.loader._errors import InvalidStructure, InvalidValue, MissingKey

PARIS = ZoneInfo("Europe/Paris")
SUPPORTED_VERSION = "2.0"
HEADER_KEYS = ("inigPtynm", "apiKey", "creDtTm", "versionId")
FUTURE_TOLERANCE = dt.timedelta(days=1)
"""A partner's clock may be off, and a file may wait in a bucket; a day ahead is still plausible."""

# The contract's lenient ISO 8601: a date, optionally a time, optionally an offset (Z or ±hh[:]mm).
_CREATED_AT = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?", re.ASCII
)
_SHAPES: dict[str, c.Check] = {
    "inigPtynm": c.sized_text(min_length=1, max_length=c.ID_MAX_LENGTH),
    "apiKey": c.sized_text(min_length=1, max_length=1024),
    "creDtTm": c.text,
    "versionId": c.text,
}


@dataclass(frozen=True, slots=True)
class Header:
    """The identification block of a loader file."""

    partner_id: str
    """``inigPtynm``: the partner id Qlower assigned (the server checks it against the channel)."""
    api_key: str = field(repr=False)
    """``apiKey``: compare with the stored hash in constant time; never log it."""
    created_at: dt.datetime
    """``creDtTm`` as an aware datetime; Europe/Paris when the file gives no offset."""
    version: str
    has_offset: bool
    """Whether ``creDtTm`` carried its own offset (the S3 page asks for one; we tolerate none)."""


def message(key: str, reason: str) -> str:
    return f"Champ '{key}' dans l'en-tête invalide : {reason}"


def read_header(document: Any, *, now: dt.datetime | None = None) -> Header:
    """Check the header of a parsed loader file.

    Raises `MissingKey`, `InvalidStructure` or `InvalidValue` (all `FileRejected`). With ``now``
    (aware), a ``creDtTm`` more than a day ahead of it is refused.
    """
    if type(document) is not dict:
        raise InvalidStructure("le document doit être un objet JSON (en-tête à la racine)")
    missing = [message(key, c.REQUIRED[1]) for key in HEADER_KEYS if key not in document]
    if missing:
        raise MissingKey(missing)
    shape = [
        message(key, problem[1])
        for key in HEADER_KEYS
        if (problem := _SHAPES[key](document[key])) is not None
    ]
    if shape:
        raise InvalidStructure(shape)
    version: str = document["versionId"]
    raw_created_at: str = document["creDtTm"]
    created_at, values = _created_at(raw_created_at, now)
    if version != SUPPORTED_VERSION:
        values.append(
            message("versionId", f"version '{version}' non prise en charge (attendu : '2.0')")
        )
    if values or created_at is None:
        raise InvalidValue(values)
    return Header(
        partner_id=document["inigPtynm"],
        api_key=document["apiKey"],
        created_at=created_at,
        version=version,
        has_offset=created_at.tzinfo is not PARIS,  # only a missing offset gets PARIS itself
    )


def _created_at(value: str, now: dt.datetime | None) -> tuple[dt.datetime | None, list[str]]:
    invalid = [message("creDtTm", f"'{value[:64]}' n'est pas une date ISO 8601")]
    if not _CREATED_AT.fullmatch(value):
        return None, invalid
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:  # 2024-02-30, 25:00, an offset of ±24 h or more…
        return None, invalid
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=PARIS)
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    if now is not None and parsed > now + FUTURE_TOLERANCE:
        return parsed, [message("creDtTm", f"date d'émission '{value}' dans le futur")]
    return parsed, []
