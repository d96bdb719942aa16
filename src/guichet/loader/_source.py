"""Bytes to a JSON value, memory-bounded: size limit, nesting and node-count guards, strict UTF-8.

Every failure becomes a `WrongFormat` (or `FileTooLarge`); nothing else escapes on bad input.
"""

from __future__ import annotations

import json
from itertools import accumulate
from pathlib import Path
from typing import Any, NoReturn

from guichet.loader._errors import FileTooLarge, WrongFormat

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
        raise WrongFormat(f"UTF-8 invalide à l'octet {exc.start}") from None
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


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} n'est pas du JSON valide")


def _parse(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise WrongFormat(
            f"JSON invalide : {exc.msg} (ligne {exc.lineno}, colonne {exc.colno})"
        ) from None
    except RecursionError:
        raise WrongFormat("imbrication trop profonde") from None
    except ValueError as exc:  # NaN/Infinity (above) or an integer with thousands of digits
        raise WrongFormat(f"JSON invalide : {exc}") from None


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
