"""Bytes to text, as @ban-team/validateur-bal 3.5.2 does it (RULES.md §2.1–2.3).

* :func:`sniff_binary`: ``file-type`` 12.4.2 ``fileType(buffer)`` (any signature ⇒ the reference
  throws ``Non-text file cannot be processed``);
* :func:`detect_encoding`: ``detectBufferEncoding`` on top of chardet 1.6.1 (``_chardet``);
* :func:`decode`: ``iconv-lite`` 0.6.3 ``decode`` + the validator's ``stripBom``.

:func:`read_text` chains the three and decodes UTF-8 only once (the usual case).
"""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SUPPORTED_ENCODINGS = ("utf-8", "windows-1252")

# CHARDET_TO_NORMALIZED_ENCODINGS of lib/validate/parse/detect-encoding.ts (keys lower-cased)
_NORMALIZED = {
    "iso-8859-1": "windows-1252",
    "iso-8859-15": "windows-1252",
    "windows-1252": "windows-1252",
    "utf-8": "utf-8",
}


class BalFileError(Exception):
    """A file the reference cannot validate at all (it throws instead of reporting)."""

    code: str = "file.error"

    def __init__(self, message: str, reference_message: str) -> None:
        super().__init__(message)
        self.message = message
        """What is wrong, in French, for users."""
        self.reference_message = reference_message
        """The reference's ``Error`` message (the CLI prints ``Error: <this>``)."""


class BinaryFileError(BalFileError):
    """``file-type`` recognised a binary format (PNG, ZIP/XLSX/ODS, PDF, ...)."""

    code = "file.binary"

    def __init__(self, kind: str) -> None:
        super().__init__(
            f"Le fichier n’est pas un fichier texte (format détecté : {kind}).",
            "Non-text file cannot be processed",
        )
        self.kind = kind


class UnsupportedEncodingError(BalFileError):
    """chardet's best guess is neither UTF-8 nor a Latin-1 family charset."""

    code = "file.encoding.unsupported"

    def __init__(self, encoding_name: str) -> None:
        super().__init__(
            f"L’encodage du fichier ({encoding_name}) n’est pas pris en charge.",
            f"Encoding currently not supported: {encoding_name}",
        )
        self.encoding_name = encoding_name
        """chardet's name, as the reference prints it (``UTF-16LE``, ``ISO-8859-2``, ...)."""


class UndetectableEncodingError(BalFileError):
    """chardet found nothing: unreachable with chardet 1.6.1 (ASCII always answers)."""

    code = "file.encoding.undetectable"

    def __init__(self) -> None:
        super().__init__(
            "L’encodage du fichier n’a pas pu être détecté.", "Unable to detect encoding"
        )


# ---------------------------------------------------------------------------------------------
# Encoding


def detect_encoding(buf: bytes) -> str:
    """``detectBufferEncoding`` minus the binary check: ``'utf-8'`` or ``'windows-1252'``.

    Raises :class:`UnsupportedEncodingError` when the reference would throw.
    """
    if _is_strict_utf8(buf):
        return "utf-8"
    return _detect_with_chardet(buf)


def _is_strict_utf8(buf: bytes) -> bool:
    """Fast path: a strictly valid UTF-8 buffer is always detected as ``utf-8``.

    Proof. Python's strict decoder accepts only: ASCII bytes; a lead C2–DF + 1, E0–EF + 2 or
    F0–F4 + 3 continuation bytes (80–BF, with tighter ranges after E0, ED, F0, F4). chardet's
    UTF-8 recogniser reads C0–DF as "1 trail", E0–EF as "2 trails", F0–F7 as "3 trails", and
    counts a sequence valid when that many 80–BF bytes follow. Every strictly valid sequence is
    thus one of its valid sequences, and nothing is left over: numInvalid = 0. Then
    confidence is 100 (BOM, or > 3 sequences), 80 (1–3 sequences) or 10 (pure ASCII, empty
    included), and ``detectBufferEncoding`` returns ``utf-8`` for >= 80 and for exactly 10
    before looking at any other recogniser.
    """
    try:
        buf.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _detect_with_chardet(buf: bytes) -> str:
    # imported here: its tables cost start-up time and nearly every file is strict UTF-8
    from guichet.bal import _chardet

    utf8 = _chardet.utf8_confidence(buf)
    if utf8 is not None and (utf8 >= 80 or utf8 == 10):
        return "utf-8"  # e.g. overlong forms or surrogates, which chardet does not check
    top = _chardet.top_match(buf)
    if top is None:
        raise UndetectableEncodingError()
    name = top[0]
    normalized = _NORMALIZED.get(name.lower())
    if normalized is None:
        raise UnsupportedEncodingError(name)
    return normalized


# ---------------------------------------------------------------------------------------------
# Decoding


def decode(buf: bytes, encoding: str) -> str:
    """``stripBom(iconv.decode(buf, encoding))`` for the two encodings the reference accepts.

    * Bad bytes become U+FFFD like Node's decoders: for UTF-8 one per maximal invalid subpart
      (WHATWG), which is what Python's ``errors="replace"`` does; for windows-1252 the five
      undefined bytes 81 8D 8F 90 9D (Python's cp1252 agrees with iconv-lite's table).
    * iconv-lite's UTF-8 codec is BOM-aware and drops one leading U+FEFF, then the validator's
      ``stripBom`` drops another one: a file starting with two UTF-8 BOMs loses both. (Papaparse
      removes a third one, see ``_csv.parse_csv``.) A BOM read as windows-1252 is ``ï»¿`` and stays.
    """
    if encoding == "utf-8":
        text = buf.decode("utf-8", errors="replace")
        if text.startswith("\ufeff"):  # iconv-lite StripBOMWrapper
            text = text[1:]
    elif encoding == "windows-1252":
        text = buf.decode("cp1252", errors="replace")
    else:
        raise ValueError(
            f"unsupported encoding {encoding!r} (expected one of {SUPPORTED_ENCODINGS})"
        )
    return _strip_bom(text)


def _strip_bom(text: str) -> str:
    """The validator's ``stripBom`` (lib/validate/parse/buffer.ts)."""
    return text[1:] if text.startswith("\ufeff") else text


def read_text(buf: Buffer) -> tuple[str, str]:
    """``(encoding, text)`` as the reference's ``decodeBuffer``; raises :class:`BalFileError`.

    Same result as ``sniff_binary`` + ``detect_encoding`` + ``decode``, but a strictly valid
    UTF-8 file is decoded once (from a mapped file: see :func:`file_bytes`).
    """
    kind = sniff_binary(buf)
    if kind is not None:
        raise BinaryFileError(kind)
    try:
        text = str(buf, "utf-8")
    except UnicodeDecodeError:
        data = bytes(buf)  # (a mapped file: the rare other encodings read a copy)
        encoding = _detect_with_chardet(data)
        return encoding, decode(data, encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    return "utf-8", _strip_bom(text)


_UTF8_BOM = b"\xef\xbb\xbf"


# ---------------------------------------------------------------------------------------------
# Binary files: file-type 12.4.2 (index.js), checks in the same order.


Buffer = bytes | mmap.mmap
"""A file's bytes, or the file mapped (the checks only take its length, bytes, slices and
``find``, which both have)."""

_MAPPED_FROM = 1 << 20
"""Files from this size on are mapped rather than read (below, reading costs less)."""


@contextmanager
def file_bytes(path: str | os.PathLike[str]) -> Iterator[Buffer]:
    """The bytes of the file at ``path``: a big regular file mapped read-only, for as long as
    the context lasts. Mapping spares a copy of the whole file, and the fresh pages it needs
    (on a 75 MB file, ~0.1 s of page faults): the file's pages come from the page cache.
    Raises OSError as reading would (missing file, directory, permission)."""
    with open(path, "rb") as file:
        status = os.fstat(file.fileno())
        if status.st_size < _MAPPED_FROM or not stat.S_ISREG(status.st_mode):
            yield file.read()
            return
        try:
            mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # a file system that cannot map: read it
            yield file.read()
            return
        with mapped:
            yield mapped


def sniff_binary(buf: Buffer) -> str | None:
    """``fileType(buf)``'s ``ext`` (``png``, ``zip``, ``xlsx``, ``pdf``, ...), None for text."""
    if len(buf) <= 1:
        return None
    for check in _FILE_TYPE_CHECKS:
        ext = check(buf)
        if ext is not None:
            return ext
    return None


def _at(buf: Buffer, signature: bytes, offset: int = 0) -> bool:
    """``check(header, {offset})``: bytes past the end are ``undefined`` and never match."""
    return buf[offset : offset + len(signature)] == signature


def _masked(buf: Buffer, signature: bytes, mask: bytes, offset: int = 0) -> bool:
    """``check(header, {offset, mask})`` (no masked signature has a 0 byte: past the end fails)."""
    part = buf[offset : offset + len(signature)]
    return len(part) == len(signature) and all(
        (m & b) == s for s, m, b in zip(signature, mask, part, strict=True)
    )


_Check = Callable[[Buffer], str | None]


def _sig(ext: str, *signatures: bytes, offset: int = 0) -> _Check:
    """A check that matches any of ``signatures`` at ``offset``."""
    return lambda buf: ext if any(_at(buf, s, offset) for s in signatures) else None


def _png(buf: Buffer) -> str | None:
    if not _at(buf, b"\x89PNG\r\n\x1a\n"):
        return None
    idat = buf.find(b"IDAT", 33)
    # buffer.subarray(33, -1) when IDAT is missing: a negative end counts from the end
    end = idat if idat != -1 else len(buf) - 1
    return "apng" if buf.find(b"acTL", 33, end) != -1 else "png"


def _tiff_like(buf: Buffer) -> str | None:
    ii, mm = _at(buf, b"II*\x00"), _at(buf, b"MM\x00*")
    if (ii or mm) and _at(buf, b"CR", 8):
        return "cr2"
    if _at(buf, b"IIRO\x08\x00\x00\x00\x18"):
        return "orf"
    if (
        ii
        and (_at(buf, b"\x10\xfb\x86\x01", 4) or _at(buf, b"\x08\x00\x00\x00", 4))
        and _at(buf, b"\x00\xfe\x00\x04\x00\x01\x00\x00\x00\x01\x00\x00\x00\x03\x01", 9)
    ):
        return "arw"
    if _at(buf, b"II*\x00\x08\x00\x00\x00") and (
        _at(buf, b"-\x00\xfe\x00", 8) or _at(buf, b"'\x00\xfe\x00", 8)
    ):
        return "dng"
    if ii and _at(buf, b"\x1c\x00\xfe\x00", 8):
        return "nef"
    if _at(buf, b"IIU\x00\x18\x00\x00\x00\x88\xe7t\xd8"):
        return "rw2"
    if _at(buf, b"FUJIFILMCCD-RAW"):
        return "raf"
    if ii or mm:
        return "tif"
    return None


_ZIP = b"PK\x03\x04"


def _zip_family(buf: Buffer) -> str | None:
    if not _at(buf, _ZIP):
        return None
    if _at(buf, b"mimetypeapplication/epub+zip", 30):
        return "epub"
    if _at(buf, b"META-INF/mozilla.rsa", 30):
        return "xpi"
    for kind in ("text", "spreadsheet", "presentation"):
        if _at(buf, b"mimetypeapplication/vnd.oasis.opendocument." + kind.encode(), 30):
            return {"text": "odt", "spreadsheet": "ods", "presentation": "odp"}[kind]
    # Office Open XML: a [Content_Types].xml or _rels/.rels entry plus a word/, ppt/ or xl/ one
    header_index, oxml_found, ext = 0, False, None
    while header_index >= 0:
        offset = header_index + 30
        if not oxml_found:
            oxml_found = _at(buf, b"[Content_Types].xml", offset) or _at(
                buf, b"_rels/.rels", offset
            )
        if ext is None:
            for prefix, name in ((b"word/", "docx"), (b"ppt/", "pptx"), (b"xl/", "xlsx")):
                if _at(buf, prefix, offset):
                    ext = name
                    break
        if oxml_found and ext is not None:
            return ext
        header_index = buf.find(_ZIP, offset)
    return ext  # None: falls through to the plain zip check


def _zip(buf: Buffer) -> str | None:
    if (
        _at(buf, b"PK")
        and buf[2:3] in (b"\x03", b"\x05", b"\x07")
        and buf[3:4] in (b"\x04", b"\x06", b"\x08")
    ):
        return "zip"
    return None


def _tar(buf: Buffer) -> str | None:
    if not _masked(buf, b"000000", b"\xf8" * 6, 148) or len(buf) < 512:
        return None
    head = buf[:148] + buf[156:512]
    total = 256 + sum(head)  # 8 spaces in place of the checksum field
    signed = sum(b & 0x80 for b in head)
    read = int(buf[148:154].decode("ascii"), 8)  # the mask leaves only octal digits
    return "tar" if read in (total, total - (signed << 1)) else None


def _rar(buf: Buffer) -> str | None:
    return "rar" if _at(buf, b"Rar!\x1a\x07") and buf[6:7] in (b"\x00", b"\x01") else None


_FTYP_BRANDS = {
    "mif1": "heic",
    "msf1": "heic",
    "heic": "heic",
    "heix": "heic",
    "hevc": "heic",
    "hevx": "heic",
    "qt": "mov",
    "M4V": "m4v",
    "M4VH": "m4v",
    "M4VP": "m4v",
    "M4P": "m4p",
    "M4B": "m4b",
    "M4A": "m4a",
    "F4V": "f4v",
    "F4P": "f4p",
    "F4A": "f4a",
    "F4B": "f4b",
}
_JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def _ftyp(buf: Buffer) -> str | None:
    if not (_at(buf, b"ftyp", 4) and len(buf) > 8 and buf[8] & 0x60):
        return None
    brand = buf[8:12].decode("latin-1").replace("\x00", " ", 1).strip(_JS_WHITESPACE)
    if brand in _FTYP_BRANDS:
        return _FTYP_BRANDS[brand]
    if brand.startswith("3g"):
        return "3g2" if brand.startswith("3g2") else "3gp"
    return "mp4"


def _matroska(buf: Buffer) -> str | None:
    if not _at(buf, b"\x1a\x45\xdf\xa3"):
        return None
    sliced = buf[4 : 4 + 4096]
    id_pos = sliced.find(b"\x42\x82")
    if id_pos == -1:
        return None
    if _at(sliced, b"matroska", id_pos + 3):
        return "mkv"
    if _at(sliced, b"webm", id_pos + 3):
        return "webm"
    return None


def _riff(buf: Buffer) -> str | None:
    if not _at(buf, b"RIFF"):
        return None
    for signature, ext in ((b"AVI", "avi"), (b"WAVE", "wav"), (b"QLCM", "qcp")):
        if _at(buf, signature, 8):
            return ext
    return None


def _asf(buf: Buffer) -> str | None:
    if not _at(buf, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9"):
        return None
    offset = 30
    stream_properties = b"\x91\x07\xdc\xb7\xb7\xa9\xcf\x11\x8e\xe6\x00\xc0\x0c\x20\x53\x65"
    audio = b"\x40\x9e\x69\xf8\x4d\x5b\xcf\x11\xa8\xfd\x00\x80\x5f\x5c\x44\x2b"
    video = b"\xc0\xef\x19\xbc\x4d\x5b\xcf\x11\xa8\xfd\x00\x80\x5f\x5c\x44\x2b"
    while True:
        size_bytes = buf[offset + 16 : offset + 24]
        if _at(buf, stream_properties, offset):
            if _at(buf, audio, offset + 24):
                return "wma"
            if _at(buf, video, offset + 24):
                return "wmv"
            break
        if len(size_bytes) < 8:  # JS: undefined bytes make the size NaN and the loop stops
            break
        size = int.from_bytes(size_bytes, "little")
        if size == 0:  # JS would loop forever here; the answer is asf either way
            break
        offset += size
        if offset + 24 > len(buf):
            break
    return "asf"


def _mpeg_audio(buf: Buffer) -> str | None:
    start = 0
    while start < 2 and start < len(buf) - 16:
        if _at(buf, b"ID3", start) or _masked(buf, b"\xff\xe2", b"\xff\xe6", start):
            return "mp3"
        if _masked(buf, b"\xff\xe4", b"\xff\xe6", start) or _masked(
            buf, b"\xff\xf8", b"\xff\xfc", start
        ):
            return "mp2"
        if _masked(buf, b"\xff\xf0", b"\xff\xfc", start):
            return "mp4"
        start += 1
    return None


def _ogg(buf: Buffer) -> str | None:
    if not _at(buf, b"OggS"):
        return None
    for signature, ext in (
        (b"\x80theora", "ogv"),
        (b"\x01video\x00", "ogm"),
        (b"\x7fFLAC", "oga"),
        (b"Speex  ", "spx"),
        (b"\x01vorbis", "ogg"),
    ):
        if _at(buf, signature, 28):
            return ext
    return "ogx"


def _swf(buf: Buffer) -> str | None:
    return "swf" if buf[0] in (0x43, 0x46) and _at(buf, b"WS", 1) else None


def _woff(buf: Buffer) -> str | None:
    flavour = _at(buf, b"\x00\x01\x00\x00", 4) or _at(buf, b"OTTO", 4)
    if _at(buf, b"wOFF") and flavour:
        return "woff"
    if _at(buf, b"wOF2") and flavour:
        return "woff2"
    return None


def _eot(buf: Buffer) -> str | None:
    versions = (b"\x00\x00\x01", b"\x01\x00\x02", b"\x02\x00\x02")
    return "eot" if _at(buf, b"LP", 34) and any(_at(buf, v, 8) for v in versions) else None


def _mts(buf: Buffer) -> str | None:
    return "mts" if _at(buf, b"G", 4) and (_at(buf, b"G", 192) or _at(buf, b"G", 196)) else None


def _jpeg2000(buf: Buffer) -> str | None:
    if not _at(buf, b"\x00\x00\x00\x0cjP  \r\n\x87\n"):
        return None
    for signature, ext in ((b"jp2 ", "jp2"), (b"jpx ", "jpx"), (b"jpm ", "jpm"), (b"mjp2", "mj2")):
        if _at(buf, signature, 20):
            return ext
    return None


def _mie(buf: Buffer) -> str | None:
    head = _at(buf, b"\x7e\x10\x04") or _at(buf, b"\x7e\x18\x04")
    return "mie" if head and _at(buf, b"0MIE", 4) else None


_FILE_TYPE_CHECKS: list[_Check] = [
    _sig("jpg", b"\xff\xd8\xff"),
    _png,
    _sig("gif", b"GIF"),
    _sig("webp", b"WEBP", offset=8),
    _sig("flif", b"FLIF"),
    _tiff_like,
    _sig("bmp", b"BM"),
    _sig("jxr", b"II\xbc"),
    _sig("psd", b"8BPS"),
    _zip_family,
    _zip,
    _tar,
    _rar,
    _sig("gz", b"\x1f\x8b\x08"),
    _sig("bz2", b"BZh"),
    _sig("7z", b"7z\xbc\xaf\x27\x1c"),
    _sig("dmg", b"x\x01"),
    _sig("mov", b"free", b"mdat", b"moov", b"wide", offset=4),
    _ftyp,
    _sig("mid", b"MThd"),
    _matroska,
    _riff,
    _asf,
    _sig("mpg", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"),
    _mpeg_audio,
    _sig("opus", b"OpusHead", offset=28),
    _ogg,
    _sig("flac", b"fLaC"),
    _sig("ape", b"MAC "),
    _sig("wv", b"wvpk"),
    _sig("amr", b"#!AMR\n"),
    _sig("pdf", b"%PDF"),
    _sig("exe", b"MZ"),
    _swf,
    _sig("rtf", b"{\\rtf"),
    _sig("wasm", b"\x00asm"),
    _woff,
    _eot,
    _sig("ttf", b"\x00\x01\x00\x00\x00"),
    _sig("otf", b"OTTO\x00"),
    _sig("ico", b"\x00\x00\x01\x00"),
    _sig("cur", b"\x00\x00\x02\x00"),
    _sig("flv", b"FLV\x01"),
    _sig("ps", b"%!"),
    _sig("xz", b"\xfd7zXZ\x00"),
    _sig("sqlite", b"SQLi"),
    _sig("nes", b"NES\x1a"),
    _sig("crx", b"Cr24"),
    _sig("cab", b"MSCF", b"ISc("),
    _sig("deb", b"!<arch>\ndebian-binary"),
    _sig("ar", b"!<arch>"),
    _sig("rpm", b"\xed\xab\xee\xdb"),
    _sig("Z", b"\x1f\xa0", b"\x1f\x9d"),
    _sig("lz", b"LZIP"),
    _sig("msi", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + b"\x3e"),
    _sig("mxf", b"\x06\x0e\x2b\x34\x02\x05\x01\x01\x0d\x01\x02\x01\x01\x02"),
    _mts,
    _sig("blend", b"BLENDER"),
    _sig("bpg", b"BPG\xfb"),
    _jpeg2000,
    _sig("aif", b"FORM"),
    _sig("xml", b"<?xml "),
    _sig("mobi", b"BOOKMOBI", offset=60),
    _sig("ktx", b"\xabKTX 11\xbb\r\n\x1a\n"),
    _sig("dcm", b"DICM", offset=128),
    _sig("mpc", b"MP+", b"MPCK"),
    _sig("ics", b"BEGIN:"),
    _sig("glb", b"glTF\x02\x00\x00\x00"),
    _sig("pcap", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4"),
    _sig("dsf", b"DSD "),
    _sig("lnk", b"L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00F"),
    _sig("alias", b"book\x00\x00\x00\x00mark\x00\x00\x00\x00"),
    _sig("voc", b"Creative Voice File"),
    _sig("ac3", b"\x0b\x77"),
    _mie,
    _sig("arrow", b"ARROW1\x00\x00"),
    _sig("shp", b"\x27\x0a" + b"\x00" * 10, offset=2),
]
