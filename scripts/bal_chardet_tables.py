#!/usr/bin/env python3
"""Extract chardet 1.6.1's recogniser tables into ``src/guichet/bal/data/chardet_tables.json``.

``guichet.bal._chardet`` is a port of chardet-js (the detector used by @ban-team/validateur-bal
3.5.2). Its single-byte recognisers (``lib/encoding/sbcs.js``) rank charsets with a 256-byte
``byteMap`` and 64-entry trigram lists per language; the multi-byte ones (``lib/encoding/mbcs.js``)
use lists of common characters. Rather than copying those numbers by hand, this script loads the
installed JS modules with Node, dumps every table, checks the assumptions the Python port relies
on, and writes the JSON data file (committed; rerun only when the chardet version changes).

Usage (Node >= 18 and the reference's node_modules required):

    python3 scripts/bal_chardet_tables.py \
        [--chardet /tmp/bal/reference/node/node_modules/chardet] \
        [--out src/guichet/bal/data/chardet_tables.json]

Assumptions checked (the script fails loudly if chardet changes them):
* every n-gram list has 64 strictly increasing entries, so ``NGramParser.search`` (an unrolled
  binary search over 64 slots) is plain set membership;
* no n-gram contains a 0x00 byte (the parser's initial state), so the first two partial n-grams
  of a stream never hit;
* the only byte mapped to 0 (skipped) is 0x27 and ``byteMap`` never yields an ASCII whitespace
  byte other than 0x20, so ``bytes.split()`` on the mapped stream splits exactly on the parser's
  space;
* ``spaceChar`` is 0x20 for every recogniser;
* ``commonChars`` lists are strictly increasing (``binarySearch`` is set membership).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHARDET = Path("/tmp/bal/reference/node/node_modules/chardet")
DEFAULT_OUT = ROOT / "src" / "guichet" / "bal" / "data" / "chardet_tables.json"

# Runs inside Node: instantiates every recogniser class and prints its tables as JSON.
_DUMP_JS = r"""
const dir = process.argv[1];
const sbcs = require(dir + '/lib/encoding/sbcs.js');
const mbcs = require(dir + '/lib/encoding/mbcs.js');
const pkg = require(dir + '/package.json');
const out = {version: pkg.version, sbcs: [], mbcs: []};
for (const key of Object.keys(sbcs)) {
  const r = new sbcs[key]();
  const ng = r.ngrams();
  const flat = Array.isArray(ng) && isFinite(ng[0]);
  const overridesLanguage = Object.getPrototypeOf(r).hasOwnProperty('language');
  out.sbcs.push({
    cls: key,
    name: r.name({c1Bytes: false}),
    c1_name: r.name({c1Bytes: true}),
    language: overridesLanguage ? r.language() : null,
    space_char: r.spaceChar,
    byte_map: r.byteMap(),
    ngrams: flat ? [[null, ng]] : ng.map((n) => [n.fLang, n.fNGrams]),
    flat,
  });
}
for (const key of Object.keys(mbcs)) {
  const r = new mbcs[key]();
  out.mbcs.push({cls: key, name: r.name(), language: r.language(), common_chars: r.commonChars});
}
console.log(JSON.stringify(out));
"""

_ASCII_WHITESPACE = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20}


def _js_search(table: list[int], value: int) -> int:
    """``NGramParser.search`` from sbcs.js, verbatim (reads past the end as ``undefined``)."""

    def at(i: int) -> float:
        return table[i] if 0 <= i < len(table) else float("nan")  # undefined <= x is false

    index = 0
    for step in (32, 16, 8, 4, 2, 1):
        if at(index + step) <= value:
            index += step
    if at(index) > value:
        index -= 1
    if index < 0 or at(index) != value:
        return -1
    return index


def _check(dump: dict[str, list[dict[str, object]]]) -> None:
    for rec in dump["sbcs"]:
        cls = rec["cls"]
        byte_map = rec["byte_map"]
        assert isinstance(byte_map, list) and len(byte_map) == 256, cls
        assert rec["space_char"] == 0x20, cls
        assert [b for b in range(256) if byte_map[b] == 0] == [0x27], cls
        assert not (set(byte_map) & (_ASCII_WHITESPACE - {0x20})), cls
        ngrams = rec["ngrams"]
        assert isinstance(ngrams, list)
        for _lang, table in ngrams:
            assert len(table) == 64, cls
            assert all(a < b for a, b in pairwise(table)), cls
            assert all(_js_search(table, v) >= 0 for v in table), cls
            for v in table:
                assert (v & 0xFF) and (v >> 8) & 0xFF and (v >> 16) & 0xFF, (cls, hex(v))
    for rec in dump["mbcs"]:
        common = rec["common_chars"]
        assert isinstance(common, list)
        assert all(a < b for a, b in pairwise(common)), rec["cls"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chardet", type=Path, default=DEFAULT_CHARDET)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    proc = subprocess.run(
        ["node", "-e", _DUMP_JS, str(args.chardet.resolve())],
        capture_output=True,
        text=True,
        check=True,
    )
    dump = json.loads(proc.stdout)
    _check(dump)
    for rec in dump["sbcs"]:
        # 512 hex digits are easier to diff than 256 numbers.
        rec["byte_map"] = bytes(rec["byte_map"]).hex()
        del rec["space_char"]
    data = {
        "source": f"chardet {dump['version']} lib/encoding/{{sbcs,mbcs}}.js "
        "(generated by scripts/bal_chardet_tables.py, do not edit)",
        "sbcs": dump["sbcs"],
        "mbcs": dump["mbcs"],
    }
    args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} (chardet {dump['version']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
