"""RFC 5322 header lines for messages rendered straight to bytes (`mail.RenderedMessage`).

Header lines SHOULD stay within 78 columns and MUST stay within 998 (RFC 5322 §2.1.1). Values
come from outside (an S3 key can hold 1,024 bytes of any Unicode, CR and LF included), so a
value is written as is only when it is plain printable ASCII that readers give back unchanged;
anything else becomes RFC 2047 encoded-words, which can be cut anywhere and decode exactly.
"""

from __future__ import annotations

import re
from binascii import b2a_base64
from urllib.parse import quote

LINE = 78
"""Columns a header line should not exceed."""
HARD_LINE = 998
"""Columns a line must not exceed."""
_WORD_BYTES = 45
"""Bytes per encoded-word on a continuation line: " =?utf-8?b?" + 60 base64 chars + "?=" is
73 columns, within the 75 of an encoded-word (RFC 2047 §2)."""
_WORD_OVERHEAD = len("=?utf-8?b??=")


def header(name: str, value: str) -> str:
    """The line `Name: value` for an unstructured value (Subject, a comment…): folded, and RFC
    2047 encoded unless it is plain ASCII that a reader reads back unchanged."""
    width = len(name) + 2
    if _is_plain(value):
        folded = _fold(value, width)
        if folded is not None:
            return f"{name}: {folded}\n"
    return f"{name}: {_encoded_words(value, width)}\n"


def structured_header(name: str, value: str) -> str:
    """The line `Name: value` for a value already in its header syntax (an address list made
    by `formataddr`, a Message-ID): only folded, since encoding it would change its meaning.

    Raises ValueError on a value that is not printable ASCII or cannot fit in 998 columns.
    """
    folded = _fold(value, len(name) + 2) if value.isascii() and value.isprintable() else None
    if folded is None:
        raise ValueError(f"{name}: not a valid header value: {value!r}")
    return f"{name}: {folded}\n"


def mime_parameter(attribute: str, value: str, width: int) -> str:
    """`; attribute=value` to append to a MIME header line already `width` columns long.

    Plain short values are quoted strings; others use RFC 2231 (`attribute*=utf-8''%C3%A9…`),
    in numbered sections (`attribute*0*=`, `attribute*1*=`…) when one line cannot hold them.
    Each section ends on a whole character, for readers that decode the sections one by one
    (Python joins their bytes first, others do not).
    """
    if _is_plain(value) and '"' not in value and "\\" not in value and len(value) < LINE - 16:
        pieces = [f'{attribute}="{value}"']
    else:
        encoded = quote(value, safe="")
        single = f"{attribute}*=utf-8''{encoded}"
        pieces = [single] if len(single) < LINE - 2 else _sections(attribute, encoded)
    out: list[str] = []
    for piece in pieces:
        if not out and width + 2 + len(piece) < LINE:
            out.append(f"; {piece}")  # the first piece fits on the current line
        else:
            out.append(f";\n {piece}")
    return "".join(out)


def _is_plain(value: str) -> bool:
    """True when `value` can be written raw: printable ASCII (no CR, LF or other control
    character, so no header injection), no "=?" a reader would decode as an encoded-word, and
    no leading or trailing space (readers and relays strip them)."""
    return (
        value.isascii()
        and value.isprintable()
        and "=?" not in value
        and not value.startswith(" ")
        and not value.endswith(" ")
    )


def _fold(value: str, width: int) -> str | None:
    """`value` folded before spaces so that lines stay within 78 columns where possible (the
    first line starts at column `width`); None when a line would still exceed 998."""
    if width + len(value) <= LINE:
        return value  # the common case: one short line
    lines: list[str] = []
    current = ""
    for index, word in enumerate(value.split(" ")):
        piece = word if index == 0 else " " + word
        column = len(current) + (width if not lines else 0)
        # Fold only before a non-empty word, after a non-space: a folded line never ends with,
        # nor consists only of, white space.
        if word and current and not current.endswith(" ") and column + len(piece) > LINE:
            lines.append(current)
            current = piece
        else:
            current += piece
    lines.append(current)
    if width + len(lines[0]) > HARD_LINE or any(len(line) > HARD_LINE for line in lines[1:]):
        return None
    return "\n".join(lines)


def _encoded_words(value: str, width: int) -> str:
    """`value` as RFC 2047 "B" encoded-words of UTF-8, one per (folded) line.

    `email.header.Header` is not used: it turns CR and LF into folding, so a key holding them
    would not read back the same. Each word holds whole characters, as RFC 2047 §5 requires.
    """
    data = value.encode("utf-8")
    # At least 6 bytes, so that any character (4 bytes at most) fits in the first word.
    room = max(LINE - width - _WORD_OVERHEAD, 8) // 4 * 3
    words = []
    start = 0
    while start < len(data):
        end = start + room
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a UTF-8 continuation byte
            end -= 1
        words.append(f"=?utf-8?b?{b2a_base64(data[start:end], newline=False).decode()}?=")
        start = end
        room = _WORD_BYTES
    return "\n ".join(words)


# One character of a percent-encoded UTF-8 string: a plain character, or a lead byte and its
# continuation bytes (80–BF).
_ENCODED_CHARACTER = re.compile(r"%[0-7C-F][0-9A-F](?:%[89AB][0-9A-F])*|[^%]")


def _sections(attribute: str, encoded: str) -> list[str]:
    """RFC 2231 continuations of a percent-encoded value, each fitting on its own line."""
    sections: list[str] = []
    current = "utf-8''"
    for character in _ENCODED_CHARACTER.findall(encoded):
        head = f"{attribute}*{len(sections)}*="
        # " " + head + current + character + ";" must fit in 78 columns.
        if current and len(head) + len(current) + len(character) + 2 > LINE:
            sections.append(head + current)
            current = ""
        current += character
    sections.append(f"{attribute}*{len(sections)}*={current}")
    return sections
