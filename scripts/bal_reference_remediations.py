"""Build tests/bal/data/reference_remediations.json.gz: the reference validator's remediations
for every corpus file, for the differential test tests/bal/test_remediations_reference.py.

For each file of ../shared/bal/corpus/{fixtures,ecosystem,derived}/ this runs the reference
(@ban-team/validateur-bal 3.5.2) through its runner, exactly as the corpus reports were made::

    node run-ref.mjs FILE 1.3 --mode=full --det-uuid --ban=offline --today=2026-11-22

(``--det-uuid``: uuid.v4 becomes a counter, 00000000-0000-4000-8000-000000000001, ...; the
profile does not matter, remediations are computed before any profile is applied) and keeps,
per file, only the rows whose ``remediations`` object is not empty::

    {"<file name>": {"rows": [[line, {<remediations, keys in the reference's order>}], ...],
                     "rowCount": n}
     "<file name>": {"error": "<what the reference threw>"}, ...}

written as compact JSON, gzip'd with a zero mtime (same input, same bytes).

Usage (needs Node and the reference installed, see ../shared/bal/TIMINGS.md §4)::

    cp -r ../shared/bal /tmp/bal && (cd /tmp/bal/reference/node && npm ci)
    python scripts/bal_reference_remediations.py [/tmp/bal]
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED_BAL = ROOT.parent / "shared" / "bal"
TARGET = ROOT / "tests" / "bal" / "data" / "reference_remediations.json.gz"
CASES = ROOT / "tests" / "bal" / "data" / "remediation_cases"
"""Hand-made files for what the corpus lacks (missing commune names and columns, partial BAN
ids, shared streets, a BAN lookup): stored under ``cases/<name>``; a ``*.mock.csv`` file is run
with ``--ban=mock:MOCK_COMMUNE_ID`` (every commune has that BAN id)."""
MOCK_COMMUNE_ID = "0246e48c-f33d-433a-8984-034219be842e"
TODAY = "2026-11-22"


def corpus_files() -> list[Path]:
    files: list[Path] = []
    for folder in ("fixtures", "ecosystem", "derived"):
        files += sorted(
            p for p in (SHARED_BAL / "corpus" / folder).iterdir() if p.suffix in (".csv", ".png")
        )
    return files


def reference_remediations(runner: Path, path: Path, ban: str = "offline") -> dict[str, Any]:
    cmd = [
        "node",
        "--max-old-space-size=8000",
        str(runner),
        str(path),
        "1.3",
        "--mode=full",
        "--det-uuid",
        f"--ban={ban}",
        f"--today={TODAY}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env={"TZ": "UTC", "PATH": _path()})
    if done.returncode != 0:
        error = next(
            (line.strip() for line in done.stderr.splitlines() if "Error: " in line),
            done.stderr.strip()[:300],
        )
        return {"error": error}
    report = json.loads(done.stdout)
    if not report.get("parseOk"):
        return {"rows": [], "rowCount": 0, "parseOk": False}
    rows = [[row["line"], row["remediations"]] for row in report["rows"] if row["remediations"]]
    return {"rows": rows, "rowCount": len(report["rows"])}


def _path() -> str:
    return os.environ.get("PATH", "/usr/bin:/bin")


def main() -> None:
    copy = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/bal")
    runner = copy / "reference" / "run-ref.mjs"
    out: dict[str, Any] = {}
    runs = [(path.name, path, "offline") for path in corpus_files()]
    for path in sorted(CASES.glob("*.csv")):
        ban = f"mock:{MOCK_COMMUNE_ID}" if path.name.endswith(".mock.csv") else "offline"
        runs.append((f"cases/{path.name}", path, ban))
    for name, path, ban in runs:
        out[name] = entry = reference_remediations(runner, path, ban)
        print(name, entry.get("error") or len(entry["rows"]), file=sys.stderr)
    raw = json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode()
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(raw)
    TARGET.write_bytes(buffer.getvalue())
    size = len(buffer.getvalue())
    print(f"{TARGET}: {len(raw):,} bytes of JSON, {size:,} gzip'd", file=sys.stderr)


if __name__ == "__main__":
    main()
