"""Bytes to a JSON value, memory-bounded: size limit, nesting and node-count guards, strict UTF-8.

Every failure becomes a `WrongFormat` (or `FileTooLarge`); nothing else escapes on bad input.
"""

from __future__ import annotations

import json
import sys
from itertools import accumulate
from pathlib import Path
from typing import Any, NoReturn

from guichet.loader._errors import FileTooLarge, WrongFormat

NOT_JSON_HINT = (
    " ; le contenu doit être un document JSON brut (Content-Type: application/json),"
    " pas un CSV ni un formulaire multipart"
)
# Messages of CPython's json module (C and Python scanners, 3.11 to 3.13), by prefix.
_JSON_SYNTAX = (
    ("Expecting value", "valeur attendue"),
    ("Expecting property name enclosed in double quotes", "nom de clé entre guillemets attendu"),
    ("Expecting ':' delimiter", "deux-points ':' attendu"),
    ("Expecting ',' delimiter", "virgule ',' attendue"),
    ("Unterminated string starting at", "chaîne de caractères non terminée"),
    ("Invalid control character", "caractère de contrôle interdit dans une chaîne"),
    ("Invalid \\uXXXX escape", "séquence d'échappement \\uXXXX incorrecte"),
    ("Invalid \\escape", "séquence d'échappement incorrecte"),
    ("Extra data", "données en trop après le document JSON"),
    ("Illegal trailing comma", "virgule en trop avant la fin de l'objet ou du tableau"),
)
_JSON_BLANKS = " \t\n\r"  # the only whitespace JSON allows
_JSON_BLANK_BYTES = _JSON_BLANKS.encode()

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""A 100,000-transaction file weighs about 20 MB; three times that is still a sane upper bound."""
DEFAULT_MAX_DEPTH = 64
"""The deepest legitimate path is 9 levels (root, clients, entry, declarants, declarant,
properties, property, documents, document); unknown pass-through fields get some slack."""
DEFAULT_MAX_CONTAINERS = 1_000_000
"""Objects plus arrays. ``[{},{},…]`` costs ~64 bytes of memory per 3 bytes of input: counting
containers bounds memory where the byte limit alone does not."""

_BOM = b"\xef\xbb\xbf"
_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
# Depth step per bracket byte, indexed by byte value (only bracket bytes survive the translate).
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1
# Escapes that decode to text PostgreSQL and UTF-8 encoders refuse: NUL and UTF-16 surrogates
# (a valid surrogate pair decodes to one proper character, a lone one stays a surrogate).
_SUSPECT_ESCAPES = ("\\u0000", "\\ud", "\\uD")


def load_json(
    data: bytes | bytearray | memoryview,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_containers: int = DEFAULT_MAX_CONTAINERS,
) -> Any:
    """Parse ``data`` as one UTF-8 JSON value, refusing anything too big, too deep or not text.

    Raises `WrongFormat` (or its subclass `FileTooLarge`) and nothing else on bad input.
    """
    raw = bytes(data)
    if len(raw) > max_bytes:
        raise FileTooLarge(f"{len(raw)} octets, la limite est {max_bytes}")
    if raw.startswith(_BOM):  # tolerated: Windows tools write it, RFC 8259 lets parsers skip it
        raw = raw[len(_BOM) :]
    suspicious_depth = _scan_brackets(raw, max_depth=max_depth, max_containers=max_containers)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A spreadsheet or a form with a binary part fails here, before any JSON parsing.
        first = raw.lstrip(_JSON_BLANK_BYTES)[:1].decode("latin-1")
        raise WrongFormat(f"UTF-8 invalide à l'octet {exc.start}{_hint(first)}") from None
    value = _parse(text)
    if suspicious_depth and _depth(value) > max_depth:
        raise WrongFormat(f"imbrication trop profonde (plus de {max_depth} niveaux)")
    if any(escape in text for escape in _SUSPECT_ESCAPES):
        _reject_unstorable_text(value)
    return value


def read_file(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read at most ``max_bytes`` from ``path``; `FileTooLarge` if there is more.

    ``OSError`` (missing file, permissions) propagates: it is not a property of the content.
    """
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileTooLarge(f"plus de {max_bytes} octets")
    return data


def _scan_brackets(raw: bytes, *, max_depth: int, max_containers: int) -> bool:
    """Guard the parser cheaply (C-speed translate + accumulate, no Python loop per byte).

    Brackets inside strings are counted too, so the depth seen here is approximate: above the
    limit we only *suspect* a deep document and measure the parsed value exactly afterwards.
    (Closing brackets inside strings can hide depth; the json module's own recursion guard, which
    raises RecursionError near 1,000 levels, still bounds that case.)
    """
    brackets = raw.translate(None, _NOT_BRACKETS)
    opened = brackets.count(b"[") + brackets.count(b"{")
    if opened > max_containers:
        raise WrongFormat(
            f"trop d'objets et de tableaux ({opened}, la limite est {max_containers})"
        )
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > max_depth


class _ForbiddenConstant(ValueError):
    """``NaN``/``Infinity``: Python's json accepts them, JSON (RFC 8259) does not."""


def _reject_constant(name: str) -> NoReturn:
    raise _ForbiddenConstant(name)


def _parse(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        if not text.strip(_JSON_BLANKS):
            raise WrongFormat(f"JSON invalide : contenu vide{NOT_JSON_HINT}") from None
        where = f"(ligne {exc.lineno}, colonne {exc.colno})"
        hint = _hint(text.lstrip(_JSON_BLANKS)[:1])
        raise WrongFormat(f"JSON invalide : {json_syntax_reason(exc.msg)} {where}{hint}") from None
    except RecursionError:
        raise WrongFormat("imbrication trop profonde") from None
    except _ForbiddenConstant as exc:
        raise WrongFormat(f"JSON invalide : {exc} n'est pas une valeur JSON") from None
    except ValueError:  # an integer literal longer than Python's int conversion allows
        limit = sys.get_int_max_str_digits()
        raise WrongFormat(
            f"JSON invalide : nombre entier trop long (plus de {limit} chiffres)"
        ) from None


def json_syntax_reason(message: str) -> str:
    """The French reason for a `json.JSONDecodeError` message (English, from the json module)."""
    for prefix, reason in _JSON_SYNTAX:
        if message.startswith(prefix):
            return reason
    return "syntaxe incorrecte"


def _hint(first: str) -> str:
    """A hint when the content is visibly not a JSON document at all (a CSV, a multipart form,
    a spreadsheet): ``first`` is its first non-blank character, and a loader file starts with
    ``{`` (an array at least is JSON-shaped, so its errors are plain syntax errors)."""
    return "" if first in ("{", "[") else NOT_JSON_HINT


def _depth(value: Any) -> int:
    """Exact nesting depth, iteratively (the value may be ~1,000 levels deep)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in node)
    return deepest


def _reject_unstorable_text(value: Any) -> None:
    """Refuse NUL characters and lone surrogates anywhere (keys included), iteratively."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            _check_text(node)
        elif isinstance(node, dict):
            for key, child in node.items():
                _check_text(key)
                stack.append(child)
        elif isinstance(node, list):
            stack.extend(node)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise WrongFormat("caractère NUL (\\u0000) interdit dans le texte")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise WrongFormat(
            "caractère Unicode invalide (demi-paire de substitution isolée)"
        ) from None
