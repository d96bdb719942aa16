"""Build src/guichet/bal/data/communes.tsv.gz from the reference validator's minicog.json.

minicog.json (shipped in @ban-team/validateur-bal) is a list of ``{code, nom, anciensCodes?}``:
current communes and municipal arrondissements (COG vintage of the package). The output keeps
the same order, one commune per line::

    code <TAB> nom <TAB> anciensCodes joined by ","   (empty when absent)

gzip'd with a zero mtime so that rebuilding from the same input gives the same bytes.

Usage::

    python scripts/build_bal_communes.py \
        [/tmp/bal/reference/node/node_modules/@ban-team/validateur-bal/minicog.json]
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

DEFAULT_SOURCE = Path("/tmp/bal/reference/node/node_modules/@ban-team/validateur-bal/minicog.json")
TARGET = Path(__file__).resolve().parents[1] / "src/guichet/bal/data/communes.tsv.gz"


def to_tsv(communes: list[dict[str, object]]) -> str:
    lines = []
    for commune in communes:
        code, nom = str(commune["code"]), str(commune["nom"])
        anciens = commune.get("anciensCodes") or []
        assert isinstance(anciens, list)
        fields = [code, nom, ",".join(str(c) for c in anciens)]
        if any(ch in f for f in fields for ch in "\t\n\r"):
            raise ValueError(f"separator inside a field: {commune!r}")
        if any("," in str(c) for c in anciens):
            raise ValueError(f"comma inside a code: {commune!r}")
        lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    communes = json.loads(source.read_text("utf-8"))
    data = to_tsv(communes).encode("utf-8")
    TARGET.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    print(f"{TARGET}: {len(communes)} communes, {TARGET.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
