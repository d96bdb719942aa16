"""``guichet.bal._encoding`` / ``_chardet`` against the reference's dependencies.

chardet 1.6.1, iconv-lite 0.6.3 and file-type 12.4.2 outputs below were produced with Node from
the reference's node_modules; the differential tests at the end rerun them against Node
(``reference_node`` installs the reference's node_modules where npm can).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from guichet.bal import _chardet
from guichet.bal._encoding import (
    BalFileError,
    BinaryFileError,
    UnsupportedEncodingError,
    decode,
    detect_encoding,
    read_text,
    sniff_binary,
)
from tests.bal import reference_node

SHARED_BAL = Path(__file__).resolve().parents[2].parent / "shared" / "bal"


# ---------------------------------------------------------------------------------------------
# chardet.analyse


def _chardet_vectors() -> list[Any]:
    path = SHARED_BAL / "vectors" / "chardet.json"
    if not path.is_file():
        return []
    cases = json.loads(path.read_text("utf-8"))["cases"]
    return [pytest.param(case, id=case["name"]) for case in cases]


@pytest.mark.skipif(not (SHARED_BAL / "vectors").is_dir(), reason="shared/bal not available")
@pytest.mark.parametrize("case", _chardet_vectors())
def test_chardet_vectors(case: dict[str, Any]) -> None:
    expected = [(m["name"], m["confidence"], m.get("lang")) for m in case["analyse"]]
    # the vectors keep the first 6 results
    assert _chardet.analyse(bytes.fromhex(case["hex"]))[: len(expected)] == expected


# (buffer, chardet.analyse(buffer)) from Node
ANALYSE_CASES: list[tuple[str, bytes, list[tuple[str, float, str | None]]]] = [
    (
        "bom_cp1252",
        b"\xef\xbb\xbfcle_interop;voie_nom\r\nx;All\xe9e du Ch\xe2teau\r\ny;F\xeate\r\n",
        [
            ("ISO-8859-1", 48, "it"),
            ("ISO-8859-2", 29, "ro"),
            ("Shift_JIS", 10, "ja"),
            ("Big5", 10, "zh"),
            ("GB18030", 10, "zh"),
            ("ISO-8859-9", 6, "tr"),
            ("ASCII", 0, None),
        ],
    ),
    (
        "utf8_stray_latin1",
        ("rue de l'église;" * 30).encode() + b"\xe9\n",
        [
            ("ISO-8859-1", 98, "es"),
            ("ISO-8859-2", 55, "ro"),
            ("ISO-8859-9", 37, "tr"),
            ("UTF-8", 25, None),
            ("Big5", 10, "zh"),
            ("EUC-JP", 10, "ja"),
            ("EUC-KR", 10, "ko"),
            ("GB18030", 10, "zh"),
            ("ASCII", 0, None),
        ],
    ),
    (
        "utf16le_bom",
        b"\xff\xfea\x00;\x00b\x00\n\x00",
        [
            ("UTF-16LE", 100, None),
            ("ISO-8859-9", 42, "tr"),
            ("Shift_JIS", 10, "ja"),
            ("Big5", 10, "zh"),
            ("EUC-JP", 10, "ja"),
            ("EUC-KR", 10, "ko"),
            ("GB18030", 10, "zh"),
            ("ASCII", 0, None),
        ],
    ),
    # JS reads the missing bytes of the last UTF-32 group as 0
    (
        "utf32_partial_group",
        b"k{",
        [("ASCII", 100, None), ("UTF-32LE", 80, None), ("UTF-8", 10, None)],
    ),
    (
        "iso2022_ratio",  # a non-integral confidence
        b"\x1b$B\x1b$B\x1bx abc",
        [
            ("UTF-8", 10, None),
            ("Shift_JIS", 10, "ja"),
            ("Big5", 10, "zh"),
            ("EUC-JP", 10, "ja"),
            ("EUC-KR", 10, "ko"),
            ("GB18030", 10, "zh"),
            ("ISO-2022-JP", 3.3333333333333357, "ja"),
            ("ASCII", 0, None),
        ],
    ),
    (
        "latin2",
        "Příliš žluťoučký kůň úpěl ďábelské ódy; šťastný Čech".encode("iso8859_2"),
        [
            ("ISO-8859-2", 11, "cs"),
            ("ISO-8859-1", 6, "sv"),
            ("ISO-8859-9", 6, "tr"),
            ("ASCII", 0, None),
        ],
    ),
    (
        "overlong_in_ascii",  # chardet does not check overlong forms
        b"a;b\n\xc0\x80;1\n",
        [
            ("UTF-8", 80, None),
            ("windows-1252", 42, "fr"),
            ("windows-1254", 42, "tr"),
            ("Big5", 10, "zh"),
            ("GB18030", 10, "zh"),
            ("ASCII", 0, None),
        ],
    ),
    ("cp1252_c1", "l’été € “x”\n".encode("cp1252"), [("ASCII", 0, None)]),
    ("empty", b"", [("ASCII", 100, None), ("UTF-8", 10, None)]),
    (
        # Big5 confidence = floor(log(3) * 90 / log(36 / 4) + 10): 54 with V8's Math.log, 55 with
        # the C library's log
        "v8_log_rounding",
        b"\xa1\x40\xa1\x41" + b"\xb0\xa2" * 34,
        [
            ("ISO-8859-1", 75, "pt"),
            ("Big5", 54, "zh"),
            ("Shift_JIS", 10, "ja"),
            ("GB18030", 10, "zh"),
            ("ASCII", 0, None),
        ],
    ),
]


@pytest.mark.parametrize(
    ("name", "buf", "expected"), ANALYSE_CASES, ids=[c[0] for c in ANALYSE_CASES]
)
def test_analyse(name: str, buf: bytes, expected: list[tuple[str, float, str | None]]) -> None:
    assert _chardet.analyse(buf) == expected


def test_top_match_is_first_of_analyse() -> None:
    for _, buf, expected in ANALYSE_CASES:
        assert _chardet.top_match(buf) == expected[0]


def test_js_log_is_v8s() -> None:
    # Math.log in Node 20 (fdlibm), not the correctly rounded value C's log gives for 3
    assert _chardet.js_log(3) == 1.0986122886681096
    assert _chardet.js_log(5) == 1.6094379124341003
    assert _chardet.js_log(0.75) == -0.2876820724517809
    assert _chardet.js_log(123456.789) == 11.723646487185881
    assert _chardet.js_log(1.0) == 0.0


# ---------------------------------------------------------------------------------------------
# The fast implementations against the direct ports of the JS loops


def _random_buffer(rnd: random.Random, size: int) -> bytes:
    kind = rnd.randrange(4)
    if kind == 0:
        return bytes(rnd.randrange(256) for _ in range(size))
    if kind == 1:  # mostly ASCII with stray high bytes
        return bytes(
            rnd.randrange(0x80, 0x100) if rnd.random() < 0.1 else rnd.randrange(0x20, 0x7F)
            for _ in range(size)
        )
    if kind == 2:  # UTF-8 with damage
        text = "".join(rnd.choice("aé€😀;\n ") for _ in range(size // 2)).encode()
        return bytes(b ^ 0x40 if rnd.random() < 0.02 else b for b in text)
    return bytes(
        rnd.choice(b"\x00\x30\x39\x40\x7f\x80\x81\x8e\x8f\xa0\xa1\xfe\xff ") for _ in range(size)
    )


def test_utf8_counts_fast_equals_direct() -> None:
    rnd = random.Random(1)
    for _ in range(3000):
        buf = _random_buffer(rnd, rnd.randint(0, 64))
        assert _chardet._utf8_counts(buf) == _chardet._direct_utf8_counts(buf), buf


def test_utf32_counts_fast_equals_direct() -> None:
    rnd = random.Random(2)
    pieces = [
        b"\x00\x00\x00a",
        b"a\x00\x00\x00",
        b"\x00\x00\xd8\x00",
        b"\x00\x10\xff\xff",
        b"\x00\x10\xff\xfe",
        b"\x00\x11\x00\x00",
        b"\x80\x00\x00\x00",
        b"\x00\x00\xdf\xff",
    ]
    for _ in range(2000):
        buf = b"".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 8))) + bytes(
            rnd.randrange(4)
        )
        for big_endian in (True, False):
            direct = _chardet._direct_utf32_counts(buf, big_endian)
            assert _chardet._utf32_counts(buf, big_endian) == direct, buf


def test_mbcs_fast_equals_direct() -> None:
    rnd = random.Random(3)
    tables = {str(r["cls"]): r for r in _chardet._tables()["mbcs"]}
    for _ in range(1500):
        buf = _random_buffer(rnd, rnd.randint(0, 300))
        for cls, (token, classify, direct) in _chardet._MBCS_SPECS.items():
            chars = tables[cls]["common_chars"]
            assert isinstance(chars, list)
            common = frozenset(chars)
            expected = _chardet._direct_mbcs(direct(buf), common)
            if len(buf) < 43:  # the fast version assumes at least 10 characters (see there)
                continue
            assert _chardet._fast_mbcs(buf, token, classify, common) == expected, (cls, buf)


def test_sbcs_trigrams_fast_equal_direct() -> None:
    rnd = random.Random(4)
    maps = [bytes.fromhex(str(r["byte_map"])) for r in _chardet._tables()["sbcs"]]
    canon = bytes(0x20 if all(m[b] == 0x20 for m in maps) else b for b in range(256))
    alphabet = [
        b"'",
        b" ",
        b"a",
        b"b",
        b"1",
        b"\xe0",
        b"\xeb",
        b"\xf4",
        b"\xb0",
        b"\xc9",
        b"\n",
        b"\xff",
        b"\x80",
        b"\xa0",
    ]
    for _ in range(3000):
        buf = b"".join(rnd.choice(alphabet) for _ in range(rnd.choice([0, 1, 2, 3, 5, 9, 30])))
        shared = _chardet._split_words(buf, canon)
        for table in maps:
            direct, direct_total = _chardet._direct_trigrams(buf, table)
            fast, fast_total = _chardet._fast_trigrams(shared, table)
            assert fast_total == direct_total
            assert +fast == +direct and -fast == Counter(), buf  # same positive counts, none < 0


def test_strictly_valid_utf8_is_always_utf8_for_chardet() -> None:
    """The proof in ``_encoding._is_strict_utf8``, checked on random strictly valid UTF-8."""
    rnd = random.Random(5)
    alphabet = [
        "a",
        "\n",
        "é",
        "€",
        "\u07ff",
        "\u0800",
        "\uffff",
        "\U00010000",
        "\U0010ffff",
        "\ufeff",
        "😀",
    ]
    for _ in range(2000):
        buf = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 20))).encode()
        assert _chardet._direct_utf8_counts(buf)[1] == 0
        assert _chardet.utf8_confidence(buf) in (100, 80, 10)


# ---------------------------------------------------------------------------------------------
# detect_encoding


@pytest.mark.parametrize(
    ("buf", "expected"),
    [
        (b"", "utf-8"),
        (b"a;b\n1;2\n", "utf-8"),  # pure ASCII: confidence 10
        ("é;è\n".encode(), "utf-8"),
        (b"\xef\xbb\xbfa;b\n", "utf-8"),
        (b"a;b\n\xc0\x80;1\n", "utf-8"),  # not strict UTF-8, but chardet says 80
        (
            b"\xef\xbb\xbfcle_interop;voie_nom\r\nx;All\xe9e du Ch\xe2teau\r\ny;F\xeate\r\n",
            "windows-1252",
        ),
        (("rue de l'église;" * 30).encode() + b"\xe9\n", "windows-1252"),  # UTF-8 at 25 loses
    ],
)
def test_detect_encoding(buf: bytes, expected: str) -> None:
    assert detect_encoding(buf) == expected


@pytest.mark.parametrize(
    ("buf", "name"),
    [
        (b"\xff\xfea\x00;\x00b\x00\n\x00", "UTF-16LE"),
        (b"\xfe\xff\x00a\x00;\x00b", "UTF-16BE"),
        ("Příliš žluťoučký kůň úpěl ďábelské ódy; šťastný Čech".encode("iso8859_2"), "ISO-8859-2"),
        # too short for any charset model: only the ASCII recogniser answers (with 0)
        ("l’été € “x”\n".encode("cp1252"), "ASCII"),
    ],
)
def test_unsupported_encodings(buf: bytes, name: str) -> None:
    with pytest.raises(UnsupportedEncodingError) as info:
        detect_encoding(buf)
    error = info.value
    assert (error.code, error.encoding_name) == ("file.encoding.unsupported", name)
    assert error.reference_message == f"Encoding currently not supported: {name}"
    assert isinstance(error, BalFileError)
    assert error.message and str(error) == error.message


# ---------------------------------------------------------------------------------------------
# decode (iconv-lite)


@pytest.mark.parametrize(
    ("buf", "encoding", "text"),
    [
        (b"\xe9;", "utf-8", "\ufffd;"),
        (b"a\xe2\x82", "utf-8", "a\ufffd"),  # cut at the end: one U+FFFD
        (b"\xf0\x80\x80", "utf-8", "\ufffd\ufffd\ufffd"),  # maximal subparts (WHATWG)
        (b"\xed\xa0\x80x", "utf-8", "\ufffd\ufffd\ufffdx"),  # surrogates
        (b"\xc0\x80", "utf-8", "\ufffd\ufffd"),
        (b"\xef\xbb\xbf\xef\xbb\xbfa", "utf-8", "a"),  # iconv-lite + stripBom: two BOMs
        (b"\xef\xbb\xbf\xef\xbb\xbf\xef\xbb\xbfa", "utf-8", "\ufeffa"),
        (b"\x81\x8d\x8f\x90\x9d", "windows-1252", "\ufffd" * 5),
        (b"\x80\x92\x9c\xe9", "windows-1252", "€’œé"),
        (b"\xef\xbb\xbfa", "windows-1252", "ï»¿a"),
    ],
)
def test_decode(buf: bytes, encoding: str, text: str) -> None:
    assert decode(buf, encoding) == text


def test_decode_rejects_other_encodings() -> None:
    with pytest.raises(ValueError):
        decode(b"a", "latin-1")


# ---------------------------------------------------------------------------------------------
# sniff_binary (file-type 12.4.2)


@pytest.mark.parametrize(
    ("buf", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(40), "png"),
        (
            b"PK\x03\x04" + bytes(26) + b"[Content_Types].xml" + b"PK\x03\x04" + bytes(26) + b"xl/",
            "xlsx",
        ),
        (
            b"PK\x03\x04" + bytes(26) + b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet",
            "ods",
        ),
        (b"PK\x03\x04" + bytes(40), "zip"),
        (b"%PDF-1.7\n", "pdf"),
        (b"\x1f\x8b\x08\x00", "gz"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16) + b"\x3e", "msi"),  # old .xls too
        # text that file-type still recognises: the reference rejects these files
        (b"BM;voie_nom\n", "bmp"),
        (b"BEGIN:x;y\n", "ics"),
        (b"ID3;aaaaaaaaaaaaaaaa\n", "mp3"),
        (b"abcdG" + b"x" * 187 + b"G", "mts"),
        (b"a", None),
        (b"", None),
        (b"cle_interop;voie_nom\n", None),
        (b"ID3;short\n", None),  # the MPEG check needs more than 16 bytes
    ],
)
def test_sniff_binary(buf: bytes, kind: str | None) -> None:
    assert sniff_binary(buf) == kind


def test_read_text() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(40)
    with pytest.raises(BinaryFileError) as info:
        read_text(png)
    error = info.value
    assert (error.code, error.kind, error.reference_message) == (
        "file.binary",
        "png",
        "Non-text file cannot be processed",
    )
    cp1252 = b"\xef\xbb\xbfcle_interop;voie_nom\r\nx;All\xe9e du Ch\xe2teau\r\ny;F\xeate\r\n"
    for buf in (
        b"",
        b"\xef\xbb\xbfa;b\n",
        "é".encode(),
        cp1252,
        b"a;b\n\xc0\x80;1\n",
        b"\xef\xbb\xbf\xef\xbb\xbfa",
    ):
        encoding = detect_encoding(buf)
        assert read_text(buf) == (encoding, decode(buf, encoding))


# ---------------------------------------------------------------------------------------------
# Differential tests against Node (the reference's node_modules: ``reference_node``)


NODE_ORACLE = r"""
const m = process.argv[1] + '/';
const chardet = require(m + 'chardet'), iconv = require(m + 'iconv-lite');
const fileType = require(m + 'file-type');
const bufs = JSON.parse(require('fs').readFileSync(0, 'utf8')).map((h) => Buffer.from(h, 'hex'));
process.stdout.write(JSON.stringify(bufs.map((b) => {
  const t = fileType(b);
  return {
    analyse: chardet.analyse(b),
    utf8: Buffer.from(iconv.decode(b, 'utf-8'), 'utf16le').toString('hex'),
    cp1252: Buffer.from(iconv.decode(b, 'windows-1252'), 'utf16le').toString('hex'),
    type: t ? t.ext : null,
  };
})));
"""


def _sample(rnd: random.Random) -> bytes:
    size = rnd.choice([rnd.randint(0, 40), rnd.randint(0, 3000), rnd.randint(4096, 12000)])
    kind = rnd.randrange(6)
    if kind == 0:
        return bytes(rnd.randrange(256) for _ in range(size))
    if kind in (1, 2):
        words = ["rue", "de", "la", "gare", "allée", "église", "château", "forêt", "à", "côte"]
        text = ""
        while len(text) < size:
            text += " ".join(rnd.choice(words) for _ in range(5)) + rnd.choice([";", "\n", "1;2;"])
        buf = text.encode("utf-8" if kind == 1 else "cp1252", errors="replace")
        if buf and rnd.random() < 0.3:
            pos = rnd.randrange(len(buf))
            buf = buf[:pos] + bytes([rnd.randrange(0x80, 0x100)]) + buf[pos:]
        return buf
    if kind == 3:
        return "".join(
            chr(rnd.choice(range(0x410, 0x450))) if rnd.random() < 0.8 else " " for _ in range(size)
        ).encode(rnd.choice(["cp1251", "koi8_r", "iso8859_5"]))
    if kind == 4:
        return "".join(
            chr(rnd.choice([0x3042, 0x4E00, 0x30A2, 0xAC00])) for _ in range(size // 3)
        ).encode(rnd.choice(["shift_jis", "euc_jp", "euc_kr", "gb18030", "big5"]), errors="replace")
    return bytes(rnd.choice(b"\x1b$()BCAN\x0e\x0f+*H\x00\xff\xfe") for _ in range(size))


@pytest.mark.slow
def test_against_node() -> None:
    modules, node = reference_node.node_modules("chardet"), shutil.which("node")
    if modules is None or node is None:
        pytest.skip(reference_node.why_not())
    rnd = random.Random(20261122)
    bufs = [_sample(rnd) for _ in range(400)]
    proc = subprocess.run(
        [node, "-e", NODE_ORACLE, str(modules)],
        input=json.dumps([b.hex() for b in bufs]),
        capture_output=True,
        text=True,
        check=True,
    )
    for buf, expected in zip(bufs, json.loads(proc.stdout), strict=True):
        analyse = [(m["name"], m["confidence"], m.get("lang")) for m in expected["analyse"]]
        assert _chardet.analyse(buf) == analyse, buf[:80]
        for encoding in ("utf-8", "cp1252"):
            text = bytes.fromhex(expected[encoding.replace("-", "")]).decode(
                "utf-16-le", "surrogatepass"
            )
            # decode() also applies the validator's stripBom
            text = text[1:] if text.startswith("\ufeff") else text
            assert decode(buf, "utf-8" if encoding == "utf-8" else "windows-1252") == text
        assert sniff_binary(buf) == expected["type"]
