# The native helpers (_cells.c): see guichet.bal._fast and guichet.bal._columns.NativeChunk.

from collections.abc import Callable
from typing import TypeVar

from typing_extensions import Buffer

_T = TypeVar("_T")

def split(
    text: str, start: int, stop: int, delimiter: str, linebreak: str, width: int, /
) -> tuple[int, bytes] | None: ...
def column(
    text: str, bounds: bytes, rows: int, width: int, j: int, unique: bool, /
) -> tuple[list[str], bytes | None]: ...
def floats(values: list[str], /) -> tuple[bytes, bytes]: ...
def floats_at(
    text: str, bounds: bytes, rows: int, width: int, j: int, /
) -> tuple[bytes, bytes]: ...
def uuids(values: list[str], /) -> bytes: ...
def uuid_words(
    text: str, bounds: bytes, rows: int, width: int, j: int, /
) -> tuple[bytes, bytes]: ...
def item_codes(items: Buffer, size: int, /) -> tuple[bytes, bytes]: ...
def truths(values: list[object], /) -> bytes: ...
def factorize(values: list[object], /) -> tuple[bytes, list[object]]: ...
def equals(values: list[object], value: object, /) -> bytes: ...
def slices(values: list[str], start: int, stop: int, /) -> tuple[bytes, list[str]]: ...
def take(values: list[_T], codes: Buffer, /) -> list[_T]: ...
def cles(values: list[str], /) -> bytes: ...
def items(
    rows: list[tuple[int, list[tuple[str, str | None, str | None]]]],
    lines: Buffer,
    which: Buffer,
    sets: list[tuple[tuple[str, str | None, str | None], ...]],
    tails: dict[tuple[str, str | None, str | None], bytes | None],
    compute: Callable[[tuple[str, str | None, str | None]], bytes | None],
    opening: bytes,
    /,
) -> bytes: ...
def differ(
    old_text: str,
    old_starts: Buffer,
    old_ends: Buffer,
    old_delimiter: str,
    old_width: int,
    old_columns: tuple[int, ...],
    new_text: str,
    new_starts: Buffer,
    new_ends: Buffer,
    new_delimiter: str,
    new_width: int,
    new_columns: tuple[int, ...],
    olds: Buffer,
    news: Buffer,
    /,
) -> bytes: ...
def differences(
    old_text: str,
    old_starts: Buffer,
    old_ends: Buffer,
    old_delimiter: str,
    old_width: int,
    old_columns: tuple[int, ...],
    new_text: str,
    new_starts: Buffer,
    new_ends: Buffer,
    new_delimiter: str,
    new_width: int,
    new_columns: tuple[int, ...],
    olds: Buffer,
    news: Buffer,
    /,
) -> list[list[tuple[int, str, str]]]: ...
