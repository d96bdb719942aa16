# The native cell splitter (_cells.c): see guichet.bal._columns.NativeChunk for its use.

def split(
    text: str, start: int, stop: int, delimiter: str, linebreak: str, width: int, /
) -> tuple[int, bytes] | None: ...
def column(
    text: str, bounds: bytes, rows: int, width: int, j: int, unique: bool, /
) -> tuple[list[str], bytes | None]: ...
def joined(
    text: str, bounds: bytes, rows: int, width: int, columns: tuple[int, ...], separator: str, /
) -> list[str]: ...
