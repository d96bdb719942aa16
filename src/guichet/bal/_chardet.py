"""Port of chardet-js 1.6.1 ``analyse()`` (the encoding detector of @ban-team/validateur-bal 3.5.2).

``analyse(buf)`` returns the same ``(name, confidence, lang)`` list, in the same order, as
``require('chardet').analyse(buf)``: every recogniser of ``lib/index.js`` is run on the whole
buffer, the non-null matches are sorted by confidence (descending, stable, so recogniser order
breaks ties).

Each recogniser has two implementations:

* ``_direct_*`` functions are line-by-line ports of the JS loops. They are the readable
  specification and run on small buffers;
* the default ones compute the same counters with C-speed primitives (``bytes.translate``,
  ``split``, ``re`` tokenisers, big-integer bit counts) so that a 50 MB file costs seconds, not
  minutes. ``tests/bal/test_encoding.py`` checks both against each other on random inputs and
  against Node's output (``vectors/chardet.json``).

Tables (single-byte ``byteMap``/n-grams, multi-byte common characters) come from
``data/chardet_tables.json``, generated from the JS sources by ``scripts/bal_chardet_tables.py``.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

Confidence = int | float
"""JS numbers: always integral except for the ISO-2022 recognisers (a ratio)."""

Match = tuple[str, Confidence, str | None]
"""``(name, confidence, lang)``; ``lang`` is None where the JS match has ``lang: undefined``."""

# Below this size the direct ports are used: they are exact by construction and fast enough.
_SMALL = 4096


@dataclass(frozen=True)
class _Context:
    """What chardet's recognisers see (``det`` in the JS)."""

    buf: bytes
    c1_bytes: bool  # some byte in 0x80..0x9F: selects windows-125x names over ISO-8859-x
    shared: dict[str, object] = field(default_factory=dict)  # work shared between recognisers


def analyse(buf: bytes) -> list[Match]:
    """``chardet.analyse(buf)``: all matches, best first."""
    ctx = _context(buf)
    matches = [m for rec in _RECOGNISERS if (m := rec(ctx)) is not None]
    return sorted(matches, key=lambda m: -m[1])  # sorted() is stable, like V8's Array.sort


def top_match(buf: bytes) -> Match | None:
    """``analyse(buf)[0]`` without running recognisers that cannot change the answer.

    100 is the highest confidence any recogniser returns, so the first recogniser (in
    ``lib/index.js`` order) that reaches it is the first element of the sorted list.
    """
    ctx = _context(buf)
    best: Match | None = None
    for rec in _RECOGNISERS:
        m = rec(ctx)
        if m is not None and (best is None or m[1] > best[1]):
            best = m
            if m[1] >= 100:
                break
    return best


def _context(buf: bytes) -> _Context:
    return _Context(bytes(buf), _C1_BYTE.search(buf) is not None)


_C1_BYTE = re.compile(rb"[\x80-\x9f]")


def _confidence_number(value: float) -> Confidence:
    """A JS number as JSON prints it: integral values without a fraction."""
    return int(value) if value.is_integer() else value


# ---------------------------------------------------------------------------------------------
# UTF-8 (lib/encoding/utf8.js)


def utf8_confidence(buf: bytes) -> int | None:
    """Confidence of the UTF-8 recogniser, None when it returns no match."""
    if len(buf) < _SMALL:
        valid, invalid = _direct_utf8_counts(buf)
    else:
        valid, invalid = _utf8_counts(buf)
    has_bom = buf[:3] == b"\xef\xbb\xbf"
    if has_bom and invalid == 0:
        return 100
    if has_bom and valid > invalid * 10:
        return 80
    if valid > 3 and invalid == 0:
        return 100
    if valid > 0 and invalid == 0:
        return 80
    if valid == 0 and invalid == 0:
        return 10
    if valid > invalid * 10:
        return 25
    return None


def _direct_utf8_counts(buf: bytes) -> tuple[int, int]:
    """The JS loop, verbatim (quirks included: see RULES.md §2.2)."""
    valid = invalid = 0
    n = len(buf)
    i = 0
    while i < n:
        b = buf[i]
        if b & 0x80:
            if b & 0xE0 == 0xC0:
                trail = 1
            elif b & 0xF0 == 0xE0:
                trail = 2
            elif b & 0xF8 == 0xF0:
                trail = 3
            else:
                invalid += 1
                if invalid > 5:
                    break
                trail = 0
            while True:
                i += 1
                if i >= n:
                    break
                if buf[i] & 0xC0 != 0x80:
                    invalid += 1  # this byte is consumed: the outer loop's i++ skips it
                    break
                trail -= 1
                if trail == 0:
                    valid += 1
                    break
        i += 1
    return valid, invalid


# A maximal run of what the JS loop counts as valid (ASCII, complete sequences): consumed in
# C, its sequences counted as its lead bytes.
_UTF8_VALID_RUN = re.compile(
    rb"(?:[\x00-\x7f]++|[\xc0-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf7][\x80-\xbf]{3})*+"
)
_NOT_UTF8_LEAD = bytes(b for b in range(256) if not 0xC0 <= b <= 0xF7)

# What the JS loop does with a high byte that starts no complete sequence:
#   * a lead byte followed by too few continuation bytes: the first other byte is consumed and
#     counted invalid (group 1); nothing is counted when the input ends first;
#   * any other high byte (group 2): invalid, then the `> 5` break test; with trail = 0 the
#     inner loop eats continuation bytes and the next other byte (group 3, invalid again).
_UTF8_BAD_UNIT = re.compile(
    rb"(?:[\xc0-\xdf]|[\xe0-\xef][\x80-\xbf]?+|[\xf0-\xf7][\x80-\xbf]{0,2}+)(?:([^\x80-\xbf])|\Z)"
    rb"|([\x80-\xbf\xf8-\xff])[\x80-\xbf]*+(?:([^\x80-\xbf])|\Z)"
)


def _utf8_counts(buf: bytes) -> tuple[int, int]:
    valid = invalid = 0
    pos, n = 0, len(buf)
    while True:
        run = _UTF8_VALID_RUN.match(buf, pos)
        assert run is not None  # it matches the empty string
        end = run.end()
        valid += len(buf[pos:end].translate(None, _NOT_UTF8_LEAD))
        if end >= n:
            return valid, invalid
        unit = _UTF8_BAD_UNIT.match(buf, end)
        assert unit is not None  # buf[end] is a high byte (else the run would go on)
        group = unit.lastindex
        if group == 1:
            invalid += 1
        elif group is not None:  # 2 or 3: a byte that cannot start a sequence
            invalid += 1
            if invalid > 5:
                return valid, invalid
            if group == 3:
                invalid += 1
        pos = unit.end()


def _utf8(ctx: _Context) -> Match | None:
    confidence = utf8_confidence(ctx.buf)
    return None if confidence is None else ("UTF-8", confidence, None)


# ---------------------------------------------------------------------------------------------
# UTF-16 / UTF-32 (lib/encoding/unicode.js)


def _utf16be(ctx: _Context) -> Match | None:
    return ("UTF-16BE", 100, None) if ctx.buf[:2] == b"\xfe\xff" else None


def _utf16le(ctx: _Context) -> Match | None:
    buf = ctx.buf
    if buf[:2] != b"\xff\xfe" or buf[2:4] == b"\x00\x00":
        return None
    return ("UTF-16LE", 100, None)


def _utf32_confidence(valid: int, invalid: int, has_bom: bool) -> int:
    if has_bom and invalid == 0:
        return 100
    if has_bom and valid > invalid * 10:
        return 80
    if valid > 3 and invalid == 0:
        return 100
    if valid > 0 and invalid == 0:
        return 80
    if valid > invalid * 10:
        return 25
    return 0


def _utf32_char(buf: bytes, i: int, big_endian: bool) -> int:
    """``getChar``: missing bytes read as ``undefined & 0xff`` = 0; the result is an int32."""
    quad = buf[i : i + 4].ljust(4, b"\x00")
    value = int.from_bytes(quad, "big" if big_endian else "little")
    return value - (1 << 32) if value >= 1 << 31 else value


def _direct_utf32_counts(buf: bytes, big_endian: bool) -> tuple[int, int]:
    valid = invalid = 0
    # JS: limit = (rawLen / 4) * 4 is a float product, i.e. rawLen: a partial last group counts.
    for i in range(0, len(buf), 4):
        ch = _utf32_char(buf, i, big_endian)
        if ch < 0 or ch >= 0x10FFFF or 0xD800 <= ch <= 0xDFFF:
            invalid += 1
        else:
            valid += 1
    return valid, invalid


def _flags(column: bytes, test: Callable[[int], bool]) -> int:
    """One bit per byte of ``column`` (bit set where ``test`` holds), as a big integer."""
    table = bytes(1 if test(b) else 0 for b in range(256))
    return int.from_bytes(column.translate(table), "big")


def _utf32_counts(buf: bytes, big_endian: bool) -> tuple[int, int]:
    padded = buf + b"\x00" * (-len(buf) % 4)
    order = (0, 1, 2, 3) if big_endian else (3, 2, 1, 0)
    b0, b1, b2, b3 = (padded[k::4] for k in order)  # most significant byte first
    # valid <=> 0 <= ch < 0x10FFFF and not a surrogate <=>
    #   b0 == 0 and b1 <= 0x10, minus (b1 == 0x10, b2 == b3 == 0xFF), minus (b1 == 0, b2 in D8..DF)
    in_range = _flags(b0, lambda b: b == 0) & _flags(b1, lambda b: b <= 0x10)
    top = in_range & _flags(b1, lambda b: b == 0x10) & _flags(b2, lambda b: b == 0xFF)
    top &= _flags(b3, lambda b: b == 0xFF)
    surrogate = in_range & _flags(b1, lambda b: b == 0) & _flags(b2, lambda b: 0xD8 <= b <= 0xDF)
    valid = in_range.bit_count() - top.bit_count() - surrogate.bit_count()
    return valid, len(b0) - valid


def _utf32(name: str, big_endian: bool) -> Callable[[_Context], Match | None]:
    def recognise(ctx: _Context) -> Match | None:
        buf = ctx.buf
        if not buf:
            return None
        groups = (len(buf) + 3) // 4
        # Every confidence > 0 needs valid > 10 * invalid, and a valid group holds a 0x00 byte
        # (bytes missing from the last group read as 0).
        if (buf.count(0) + 4 * groups - len(buf)) * 11 <= groups * 10:
            return None
        has_bom = _utf32_char(buf, 0, big_endian) == 0xFEFF
        counts = _direct_utf32_counts if len(buf) < _SMALL else _utf32_counts
        valid, invalid = counts(buf, big_endian)
        confidence = _utf32_confidence(valid, invalid, has_bom)
        return (name, confidence, None) if confidence else None

    return recognise


# ---------------------------------------------------------------------------------------------
# Multi-byte charsets (lib/encoding/mbcs.js)
#
# The JS iterates characters (``nextChar``) and counts: all characters, double-byte characters
# (charValue > 0xff and no error), "bad" characters, and double-byte characters found in the
# charset's commonChars list. It stops as soon as bad >= 2 and bad * 5 >= doubleByte. A character
# cut by the end of the input is not counted.
#
# The fast versions find the multi-byte characters with one regex per charset (single-byte
# characters cannot start a multi-byte one, so skipping them is safe; a token fails to match
# only when the buffer ends inside it, and then no later one can match either), classify each
# distinct token once, and only walk the token list when a bad character can trigger the
# early stop.

_DBC, _BAD, _NEITHER = "d", "e", "n"


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _direct_sjis(buf: bytes) -> list[tuple[int, bool]]:
    chars: list[tuple[int, bool]] = []
    i, n = 0, len(buf)
    while i < n:
        first = buf[i]
        i += 1
        if first <= 0x7F or 0xA0 < first <= 0xDF:
            chars.append((first, False))
            continue
        if i >= n:
            break
        second = buf[i]
        i += 1
        chars.append(((first << 8) | second, not (0x40 <= second <= 0xFF)))
    return chars


def _direct_big5(buf: bytes) -> list[tuple[int, bool]]:
    chars: list[tuple[int, bool]] = []
    i, n = 0, len(buf)
    while i < n:
        first = buf[i]
        i += 1
        if first <= 0x7F or first == 0xFF:
            chars.append((first, False))
            continue
        if i >= n:
            break
        second = buf[i]
        i += 1
        chars.append(((first << 8) | second, second < 0x40 or second in (0x7F, 0xFF)))
    return chars


def _direct_euc(buf: bytes) -> list[tuple[int, bool]]:
    chars: list[tuple[int, bool]] = []
    i, n = 0, len(buf)
    while i < n:
        first = buf[i]
        i += 1
        if first <= 0x8D:
            chars.append((first, False))
            continue
        if i >= n:
            break
        second = buf[i]
        i += 1
        value = (first << 8) | second
        if 0xA1 <= first <= 0xFE or first == 0x8E:
            chars.append((value, second < 0xA1))
        elif first == 0x8F:
            if i >= n:
                break
            third = buf[i]
            i += 1
            chars.append(((value << 8) | third, third < 0xA1))
        else:
            chars.append((value, False))
    return chars


def _direct_gb18030(buf: bytes) -> list[tuple[int, bool]]:
    chars: list[tuple[int, bool]] = []
    i, n = 0, len(buf)
    while i < n:
        first = buf[i]
        i += 1
        if first <= 0x80:
            chars.append((first, False))
            continue
        if i >= n:
            break
        second = buf[i]
        i += 1
        value = (first << 8) | second
        if first == 0xFF:
            chars.append((value, False))
            continue
        # JS: (second >= 0x40 && second <= 0x7e) || (second >= 80 && second <= 0xfe) -- 80 is
        # decimal in the source, so together: 0x40..0xfe.
        if 0x40 <= second <= 0x7E or 80 <= second <= 0xFE:
            chars.append((value, False))
            continue
        if 0x30 <= second <= 0x39:
            if i >= n:
                break
            third = buf[i]
            i += 1
            if 0x81 <= third <= 0xFE:
                if i >= n:
                    break
                fourth = buf[i]
                i += 1
                if 0x30 <= fourth <= 0x39:
                    # (value << 16) overflows int32: a negative charValue, neither bad nor double
                    chars.append((_int32((value << 16) | (third << 8) | fourth), False))
                    continue
        chars.append((value, True))
    return chars


def _sjis_class(tok: bytes) -> str:
    return _BAD if tok[1] < 0x40 else _DBC


def _big5_class(tok: bytes) -> str:
    return _BAD if tok[1] < 0x40 or tok[1] in (0x7F, 0xFF) else _DBC


def _euc_class(tok: bytes) -> str:
    first = tok[0]
    if first == 0x8F:
        return _BAD if tok[2] < 0xA1 else _DBC
    if 0xA1 <= first <= 0xFE or first == 0x8E:
        return _BAD if tok[1] < 0xA1 else _DBC
    return _DBC


def _gb18030_class(tok: bytes) -> str:
    if len(tok) == 2:
        return _DBC if tok[0] == 0xFF or 0x40 <= tok[1] <= 0xFE else _BAD
    if len(tok) == 4 and 0x30 <= tok[3] <= 0x39:
        return _NEITHER
    return _BAD


_DirectChars = Callable[[bytes], list[tuple[int, bool]]]
_MBCS_SPECS: dict[str, tuple[re.Pattern[bytes], Callable[[bytes], str], _DirectChars]] = {
    "sjis": (
        re.compile(rb"([\x80-\xa0\xe0-\xff][\x00-\xff])"),
        _sjis_class,
        _direct_sjis,
    ),
    "big5": (
        re.compile(rb"([\x80-\xfe][\x00-\xff])"),
        _big5_class,
        _direct_big5,
    ),
    "euc_jp": (
        re.compile(rb"(\x8f[\x00-\xff]{2}|[\x8e\x90-\xff][\x00-\xff])"),
        _euc_class,
        _direct_euc,
    ),
    "euc_kr": (
        re.compile(rb"(\x8f[\x00-\xff]{2}|[\x8e\x90-\xff][\x00-\xff])"),
        _euc_class,
        _direct_euc,
    ),
    # A lead byte + digit must not fall back to a shorter token when the input ends inside it:
    # the JS stops there without counting anything.
    "gb_18030": (
        re.compile(
            rb"("
            rb"[\x81-\xfe][\x30-\x39][\x81-\xfe][\x00-\xff]"
            rb"|[\x81-\xfe][\x30-\x39][^\x81-\xfe]"
            rb"|[\x81-\xfe][^\x30-\x39]|\xff[\x00-\xff])"
        ),
        _gb18030_class,
        _direct_gb18030,
    ),
}


def _mbcs_confidence(double: int, bad: int, total: int, common: int) -> int:
    """The end of ``mbcs.match`` once the character loop ran to the end."""
    if double <= 10 and bad == 0:
        return 0 if double == 0 and total < 10 else 10
    if double < 20 * bad:
        return 0
    scale = 90.0 / js_log(double / 4)
    return min(math.floor(js_log(common + 1) * scale + 10), 100)


_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LG = (
    6.666666666666735130e-01,
    3.999999999940941908e-01,
    2.857142874366239149e-01,
    2.222219843214978396e-01,
    1.818357216161805012e-01,
    1.531383769920937332e-01,
    1.479819860511658591e-01,
)


def js_log(x: float) -> float:
    """V8's ``Math.log`` (fdlibm ``__ieee754_log``, src/base/ieee754.cc) for finite x > 0.

    It is not correctly rounded: ``Math.log(3)`` is 1.0986122886681096 where C's ``log`` gives
    ...098, and chardet floors ``log(common + 1) * scale + 10``, so 54.99999999999999 vs 55.0
    changes a confidence. Subnormal inputs cannot occur here (x >= 1 / 4).
    """
    bits = struct.unpack("<q", struct.pack("<d", x))[0]
    hx = bits >> 32
    low = bits & 0xFFFFFFFF
    if hx < 0x00100000 or hx >= 0x7FF00000:  # zero, negative, subnormal, inf, nan
        return math.log(x) if x > 0 else float("nan")
    k = (hx >> 20) - 1023
    hx &= 0x000FFFFF
    i = (hx + 0x95F64) & 0x100000
    x = struct.unpack("<d", struct.pack("<q", ((hx | (i ^ 0x3FF00000)) << 32) | low))[0]
    k += i >> 20
    f = x - 1.0
    dk = float(k)
    if (0x000FFFFF & (2 + hx)) < 3:  # -2**-20 <= f < 2**-20
        if f == 0.0:
            return 0.0 if k == 0 else dk * _LN2_HI + dk * _LN2_LO
        r = f * f * (0.5 - 0.33333333333333333 * f)
        return f - r if k == 0 else dk * _LN2_HI - ((r - dk * _LN2_LO) - f)
    lg1, lg2, lg3, lg4, lg5, lg6, lg7 = _LG
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (lg2 + w * (lg4 + w * lg6))
    t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)))
    r = t2 + t1
    if ((hx - 0x6147A) | (0x6B851 - hx)) > 0:
        hfsq = 0.5 * f * f
        if k == 0:
            return f - (hfsq - s * (hfsq + r))
        return dk * _LN2_HI - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f)
    if k == 0:
        return f - s * (f - r)
    return dk * _LN2_HI - ((s * (f - r) - dk * _LN2_LO) - f)


def _direct_mbcs(chars: list[tuple[int, bool]], common_chars: frozenset[int]) -> int:
    double = common = bad = 0
    for value, error in chars:
        if error:
            bad += 1
        elif value > 0xFF:
            double += 1
            if value in common_chars:
                common += 1
        if bad >= 2 and bad * 5 >= double:
            return 0
    return _mbcs_confidence(double, bad, len(chars), common)


def _stops_early(tokens: list[bytes], kinds: dict[bytes, str]) -> bool:
    """Whether the JS loop breaks (bad >= 2 and bad * 5 >= double) somewhere in ``tokens``.

    That can only become true right after a bad character, so only those are visited.
    """
    sequence = "".join(map(kinds.__getitem__, tokens))
    double = bad = start = 0
    pos = sequence.find(_BAD)
    while pos != -1:
        double += sequence.count(_DBC, start, pos)
        bad += 1
        if bad >= 2 and bad * 5 >= double:
            return True
        start = pos + 1
        pos = sequence.find(_BAD, start)
    return False


def _classify_all(
    tokens: list[bytes],
    classify: Callable[[bytes], str],
) -> tuple[Counter[bytes], dict[bytes, str]]:
    counts = Counter(tokens)
    return counts, {tok: classify(tok) for tok in counts}


_MBCS_PREFIX = 1 << 16  # Latin text usually trips the early stop within a few characters


def _fast_mbcs(
    buf: bytes,
    token: re.Pattern[bytes],
    classify: Callable[[bytes], str],
    common_chars: frozenset[int],
) -> int:
    # Tokens of a prefix are the first tokens of the whole (a token cut by the prefix end just
    # does not match), so an early stop found there is the JS one.
    head = token.findall(buf, 0, _MBCS_PREFIX)
    if _stops_early(head, _classify_all(head, classify)[1]):
        return 0
    tokens = token.findall(buf)
    counts, kinds = _classify_all(tokens, classify)
    if _BAD in kinds.values() and _stops_early(tokens, kinds):
        return 0
    double = sum(c for tok, c in counts.items() if kinds[tok] == _DBC)
    bad = sum(c for tok, c in counts.items() if kinds[tok] == _BAD)
    common = sum(
        c
        for tok, c in counts.items()
        if kinds[tok] == _DBC and len(tok) == 2 and int.from_bytes(tok, "big") in common_chars
    )
    # The total only matters when it could be < 10, which needs len(buf) < 43 (<= 4 bytes per
    # character plus a cut one); such buffers never get here (_SMALL).
    return _mbcs_confidence(double, bad, len(buf), common)


def _mbcs(
    cls: str, name: str, lang: str, common: frozenset[int]
) -> Callable[[_Context], Match | None]:
    token, classify, direct = _MBCS_SPECS[cls]

    def recognise(ctx: _Context) -> Match | None:
        buf = ctx.buf
        if len(buf) < _SMALL:
            confidence = _direct_mbcs(direct(buf), common)
        else:
            confidence = _fast_mbcs(buf, token, classify, common)
        return (name, confidence, lang) if confidence else None

    return recognise


# ---------------------------------------------------------------------------------------------
# ISO-2022 (lib/encoding/iso2022.js)

_ISO2022: list[tuple[str, str, list[bytes]]] = [
    (
        "ISO-2022-JP",
        "ja",
        [
            b"\x1b$(C",
            b"\x1b$(D",
            b"\x1b$@",
            b"\x1b$A",
            b"\x1b$B",
            b"\x1b&@",
            b"\x1b(B",
            b"\x1b(H",
            b"\x1b(I",
            b"\x1b(J",
            b"\x1b.A",
            b"\x1b.F",
        ],
    ),
    ("ISO-2022-KR", "kr", [b"\x1b$)C"]),
    (
        "ISO-2022-CN",
        "zh",
        [
            b"\x1b$)A",
            b"\x1b$)G",
            b"\x1b$*H",
            b"\x1b$)E",
            b"\x1b$+I",
            b"\x1b$+J",
            b"\x1b$+K",
            b"\x1b$+L",
            b"\x1b$+M",
            b"\x1bN",
            b"\x1bO",
        ],
    ),
]


def _iso2022(name: str, lang: str, sequences: list[bytes]) -> Callable[[_Context], Match | None]:
    # Escape sequences hold no other ESC, SO or SI byte, so every ESC is judged on its own
    # (hit: one of the sequences starts there; miss: none does) and SO/SI are simply counted.
    hit = re.compile(b"|".join(re.escape(seq) for seq in sequences))

    def recognise(ctx: _Context) -> Match | None:
        buf = ctx.buf
        escapes = buf.count(b"\x1b")
        if not escapes:
            return None
        hits = len(hit.findall(buf))
        if hits == 0:
            return None
        misses = escapes - hits
        shifts = buf.count(b"\x0e") + buf.count(b"\x0f")
        confidence = (100 * hits - 100 * misses) / (hits + misses)
        if hits + shifts < 5:
            confidence -= (5 - (hits + shifts)) * 10
        return None if confidence <= 0 else (name, _confidence_number(confidence), lang)

    return recognise


# ---------------------------------------------------------------------------------------------
# Single-byte charsets (lib/encoding/sbcs.js)
#
# NGramParser maps every byte through byteMap (0 = skip the byte), collapses runs of spaces,
# appends one final space, and shifts each mapped byte into a 24-bit n-gram (starting from 0)
# that is looked up in each language's 64 trigrams. Confidence = hits / n-grams (98 above 0.33,
# else floor(ratio * 300)). Trigram counts are computed once per byteMap for all its languages;
# on large buffers, from a word split made once for all byteMaps (``_Words``).


@dataclass(frozen=True)
class _Sbcs:
    name: str
    c1_name: str
    language: str | None  # fixed by the class (language() override), else the best n-gram list
    table: bytes  # byteMap as a bytes.translate table
    ngrams: list[tuple[str | None, frozenset[int]]]


def _direct_stream(buf: bytes, table: bytes) -> bytes:
    """The parser's byte stream: mapped, 0 dropped, spaces collapsed, plus the final space."""
    out = bytearray()
    ignore_space = False
    for b in buf:
        mb = table[b]
        if mb != 0:
            if not (mb == 0x20 and ignore_space):
                out.append(mb)
            ignore_space = mb == 0x20
    out.append(0x20)
    return bytes(out)


def _windows(s: bytes) -> Counter[int]:
    """Every 3-byte window of ``s`` as a 24-bit integer."""
    return Counter(int.from_bytes(s[i : i + 3], "big") for i in range(len(s) - 2))


def _direct_trigrams(buf: bytes, table: bytes) -> tuple[Counter[int], int]:
    stream = _direct_stream(buf, table)
    return _windows(b"\x00\x00" + stream), len(stream)


@dataclass
class _Words:
    """The buffer cut into words once for all single-byte recognisers.

    Bytes that every byteMap sends to a space separate words; 0x27 (the only byte any byteMap
    skips) is deleted first. A word may still hold bytes that some byteMaps map to spaces: each
    recogniser re-splits the distinct words only.
    """

    words: list[bytes]
    counts: Counter[bytes]
    first: int | None  # first and last byte of the buffer once 0x27 bytes are dropped
    last: int | None
    _pairs: Counter[tuple[bytes, bytes]] | None = None

    @property
    def pairs(self) -> Counter[tuple[bytes, bytes]]:
        """Adjacent word pairs (computed on first use)."""
        if self._pairs is None:
            self._pairs = Counter(zip(self.words, self.words[1:], strict=False))
        return self._pairs


def _split_words(buf: bytes, canon: bytes) -> _Words:
    words = buf.translate(canon, b"'").split()
    stripped = buf.strip(b"'")
    first = stripped[0] if stripped else None
    last = stripped[-1] if stripped else None
    return _Words(words, Counter(words), first, last)


def _fast_trigrams(shared: _Words, table: bytes) -> tuple[Counter[int], int]:
    """Same result as :func:`_direct_trigrams`, from word counts instead of a byte loop.

    With J = the mapped stream without its leading/trailing space (words joined by one space),
    the parser sees X = "\\0\\0" + [" "] + J + [" "] + " ". The windows of T = " " + J + " " are
    the windows of each " word " plus one "x y" window per pair of adjacent words; X differs
    from T only in the windows touching its two ends, which are fixed up explicitly.
    """
    # Each word as this byteMap sees it: spaces inside collapsed, none at the ends ("" = gone).
    seen = {w: b" ".join(w.translate(table).split()) for w in shared.counts}
    nonempty = sum(n for w, n in shared.counts.items() if seen[w])
    lead = b" " if shared.first is not None and table[shared.first] == 0x20 else b""
    trail = b" " if shared.last is not None and table[shared.last] == 0x20 else b""
    joined_len = sum(n * len(seen[w]) for w, n in shared.counts.items()) + nonempty - 1
    if joined_len < 2:  # at most one mapped letter: rebuild the tiny stream
        letters = b" ".join(s for w in shared.words if (s := seen[w]))
        stream = (lead + letters + trail if letters else lead) + b" "
        return _windows(b"\x00\x00" + stream), len(stream)
    counts: Counter[int] = Counter()
    for word, n in shared.counts.items():
        for tri, k in _windows(b" " + seen[word] + b" ").items():
            counts[tri] += k * n
    for (a, b), n in shared.pairs.items():
        if seen[a] and seen[b]:
            counts[(seen[a][-1] << 16) | 0x2000 | seen[b][0]] += n
    if nonempty < len(shared.words):
        _bridge_gone_words(shared.words, seen, counts)
    head = b" ".join(_first_seen(shared.words, seen))[:2]
    tail = b" ".join(reversed(_first_seen(reversed(shared.words), seen)))[-2:]
    counts[int.from_bytes(b" " + head, "big")] -= 1
    counts[int.from_bytes(tail + b" ", "big")] -= 1
    counts.update(_windows(b"\x00\x00" + lead + head))
    counts.update(_windows(tail + b" " + trail))
    return counts, len(lead) + joined_len + len(trail) + 1


def _first_seen(words: Iterable[bytes], seen: dict[bytes, bytes]) -> list[bytes]:
    """The first two words that do not vanish under the byteMap."""
    out: list[bytes] = []
    for w in words:
        if seen[w]:
            out.append(seen[w])
            if len(out) == 2:
                break
    return out


def _bridge_gone_words(words: list[bytes], seen: dict[bytes, bytes], counts: Counter[int]) -> None:
    """Words that vanish under this byteMap join their neighbours with one "x y" window."""
    gone = {w for w, s in seen.items() if not s}
    positions = [i for i, w in enumerate(words) if w in gone]
    k = 0
    while k < len(positions):
        start = positions[k]
        while k + 1 < len(positions) and positions[k + 1] == positions[k] + 1:
            k += 1
        end = positions[k]
        k += 1
        if start > 0 and end + 1 < len(words):
            left, right = seen[words[start - 1]], seen[words[end + 1]]
            counts[(left[-1] << 16) | 0x2000 | right[0]] += 1


def _ngram_confidence(counts: Counter[int], total: int, ngrams: frozenset[int]) -> int:
    hits = sum(counts[t] for t in ngrams if t in counts)
    ratio = hits / total
    return 98 if ratio > 0.33 else math.floor(ratio * 300.0)


def _sbcs(rec: _Sbcs, canon: bytes) -> Callable[[_Context], Match | None]:
    def recognise(ctx: _Context) -> Match | None:
        buf = ctx.buf
        if len(buf) < _SMALL:
            counts, total = _direct_trigrams(buf, rec.table)
        else:
            shared = ctx.shared.get("words")
            if not isinstance(shared, _Words):
                shared = ctx.shared["words"] = _split_words(buf, canon)
            counts, total = _fast_trigrams(shared, rec.table)
        best, lang = -1, None
        for ngram_lang, ngrams in reversed(rec.ngrams):  # JS loops from the last list down
            confidence = _ngram_confidence(counts, total, ngrams)
            if confidence > best:
                best, lang = confidence, ngram_lang
        if best <= 0:
            return None
        name = rec.c1_name if ctx.c1_bytes else rec.name
        return (name, best, rec.language if rec.language is not None else lang)

    return recognise


# ---------------------------------------------------------------------------------------------
# ASCII (lib/encoding/ascii.js): always a match, 0 as soon as a byte is outside 32..126.

_NOT_PRINTABLE_ASCII = re.compile(rb"[^\x20-\x7e]")


def _ascii(ctx: _Context) -> Match | None:
    return ("ASCII", 0 if _NOT_PRINTABLE_ASCII.search(ctx.buf) else 100, None)


# ---------------------------------------------------------------------------------------------
# Recogniser list, in lib/index.js order


@cache
def _tables() -> dict[str, list[dict[str, object]]]:
    text = resources.files("guichet.bal").joinpath("data/chardet_tables.json").read_text("utf-8")
    data: dict[str, list[dict[str, object]]] = json.loads(text)
    return data


def _build() -> list[Callable[[_Context], Match | None]]:
    tables = _tables()
    mbcs = {str(r["cls"]): r for r in tables["mbcs"]}
    recognisers: list[Callable[[_Context], Match | None]] = [
        _utf8,
        _utf16be,
        _utf16le,
        _utf32("UTF-32BE", True),
        _utf32("UTF-32LE", False),
    ]
    for cls in ("sjis", "big5", "euc_jp", "euc_kr", "gb_18030"):
        rec = mbcs[cls]
        common = rec["common_chars"]
        assert isinstance(common, list)
        recognisers.append(_mbcs(cls, str(rec["name"]), str(rec["language"]), frozenset(common)))
    recognisers += [_iso2022(*spec) for spec in _ISO2022]
    maps = [bytes.fromhex(str(rec["byte_map"])) for rec in tables["sbcs"]]
    # Bytes that are a space for every byteMap: the word separators shared by all of them.
    # (bytes.split() then splits on exactly those, as ASCII whitespace is among them.)
    canon = bytes(0x20 if all(m[b] == 0x20 for m in maps) else b for b in range(256))
    assert all(canon[b] == 0x20 for b in b" \t\n\r\x0b\x0c")
    for rec in tables["sbcs"]:
        ngrams = rec["ngrams"]
        assert isinstance(ngrams, list)
        language = rec["language"]
        recognisers.append(
            _sbcs(
                _Sbcs(
                    name=str(rec["name"]),
                    c1_name=str(rec["c1_name"]),
                    language=None if language is None else str(language),
                    table=bytes.fromhex(str(rec["byte_map"])),
                    ngrams=[(lang, frozenset(values)) for lang, values in ngrams],
                ),
                canon,
            )
        )
    recognisers.append(_ascii)
    return recognisers


_RECOGNISERS = _build()
