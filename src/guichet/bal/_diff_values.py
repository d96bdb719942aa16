"""Per-value helpers of the diff's reading: the validator's value readers, memoized."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any

from guichet.bal._text import JS_WHITESPACE, NormalizeError, js_trim, normalize
from guichet.bal._values import UNSET, ValueReader


class Memo(dict[Any, Any]):
    """A dict computing missing entries: ``map(memo.__getitem__, column)`` runs at C speed and
    calls Python once per distinct value."""

    def __init__(self, compute: Callable[[Any], Any]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self._compute(key)
        return value


def reader_value(reader: ValueReader, field: str) -> Callable[[str], Any]:
    read = reader.reader(field)

    def value(raw: str) -> Any:
        result = read(raw).value
        return None if result is UNSET else result

    return value


def cle_commune(reader: ValueReader, raw: str) -> str | None:
    """The commune of a ``cle_interop`` (``additionalValues.cle_interop.codeCommune``)."""
    additional = reader.read("cle_interop", raw).additional
    return None if additional is None else str(additional["codeCommune"])


def voie_names(reader: ValueReader, cells: tuple[str, str]) -> tuple[str, str]:
    """(name as written, normalized name) of ``voieNom(pv) = pv.voie_nom || pv.toponyme``."""
    for field, raw in zip(("voie_nom", "toponyme"), cells, strict=True):
        value = reader.read(field, raw).value
        if value:
            assert isinstance(value, str)
            try:
                return js_trim(raw), normalize(value)
            except NormalizeError:  # the word "constructor": the reference throws; lower-case
                return js_trim(raw), value.lower()
    return "", ""


def numero_key(reader: ValueReader, raw: str) -> int | str | None:
    """The parsed numero; a value the validator rejects stays as written (trimmed)."""
    value = reader.read("numero", raw).value
    if isinstance(value, int):
        return value
    return js_trim(raw) or None


def uid_ids(reader: ValueReader, raw: str) -> tuple[str, str, str]:
    """The ``@c:``, ``@v:``, ``@a:`` ids of a ``uid_adresse`` cell ('' when absent)."""
    additional = reader.read("uid_adresse", raw).additional if raw else None
    if additional is None:
        return "", "", ""
    ids = (additional["idBanCommune"], additional["idBanToponyme"], additional["idBanAdresse"])
    return (ids[0] or "", ids[1] or "", ids[2] or "")


def id_keys(cells: Sequence[str]) -> list[str]:
    """Trimmed, lower-cased ids (a uuid's case means nothing); '' for an empty cell."""
    joined = "".join(cells)  # one look at the whole column: usually nothing to do
    clean = joined.isascii() and not any(c in joined for c in " \t\n\v\f\r")
    if clean and joined.lower() == joined:  # (str.islower is ~20 times slower)
        return list(cells)
    return list(map(str.lower, map(str.strip, cells, repeat(JS_WHITESPACE))))
