"""Build src/guichet/cog/cog.json.gz from the npm package @etalab/decoupage-administratif.

The reference BAL publication service bundles @etalab/decoupage-administratif 6.0.0 (COG 2026);
Guichet ships the subset it needs, in a compact, deterministic file (same input, same bytes):

    {"source": "@etalab/decoupage-administratif@6.0.0",
     "regions":      [[code, nom], ...],
     "departements": [[code, nom, region], ...],
     "communes":     [[code, type, nom, departement, region, parent, [anciens codes]], ...],
     "epci":         [[siren, nom, type, [member commune codes]], ...]}

`type` is one letter: A commune actuelle, D commune déléguée, S commune associée,
M arrondissement municipal. `parent` is the chef-lieu (a commune actuelle) of a déléguée or
associée, the commune (Paris, Lyon, Marseille) of an arrondissement, "" otherwise.

Usage (needs npm and the npm registry; or --source DIR with an unpacked package):

    python scripts/build_cog_data.py [--version 6.0.0] [--source DIR] [--out PATH]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = "@etalab/decoupage-administratif"
DEFAULT_VERSION = "6.0.0"
TARGET = Path(__file__).resolve().parents[1] / "src/guichet/cog/cog.json.gz"
TYPE_LETTERS = {
    "commune-actuelle": "A",
    "commune-deleguee": "D",
    "commune-associee": "S",
    "arrondissement-municipal": "M",
}


def fetch(version: str, workdir: Path) -> Path:
    """`npm pack` the package into `workdir` and unpack it; returns the package's data dir."""
    result = subprocess.run(
        ["npm", "pack", f"{PACKAGE}@{version}", "--pack-destination", str(workdir), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    tarball = workdir / json.loads(result.stdout)[0]["filename"]
    with tarfile.open(tarball) as archive:
        archive.extractall(workdir, filter="data")
    return workdir / "package" / "data"


def _load(data_dir: Path, name: str) -> list[dict[str, Any]]:
    value = json.loads((data_dir / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(value, list)
    return value


def build(data_dir: Path, version: str) -> dict[str, Any]:
    communes = []
    for c in _load(data_dir, "communes"):
        parent = c.get("chefLieu") or c.get("commune") or ""
        anciens = sorted(c.get("anciensCodes") or [])
        row = [c["code"], TYPE_LETTERS[c["type"]], c["nom"], c["departement"], c["region"]]
        communes.append([*row, parent, anciens])
    communes.sort(key=lambda row: (row[0], row[1]))
    return {
        "source": f"{PACKAGE}@{version}",
        "regions": sorted([r["code"], r["nom"]] for r in _load(data_dir, "regions")),
        "departements": sorted(
            [d["code"], d["nom"], d["region"]] for d in _load(data_dir, "departements")
        ),
        "communes": communes,
        "epci": sorted(
            [e["code"], e["nom"], e["type"], sorted(m["code"] for m in e["membres"])]
            for e in _load(data_dir, "epci")
        ),
    }


def write(data: dict[str, Any], out: Path) -> int:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    buffer = io.BytesIO()
    # mtime=0 and no file name: rebuilding from the same input gives the same bytes.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(payload)
    out.write_bytes(buffer.getvalue())
    return len(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=DEFAULT_VERSION)
    parser.add_argument("--source", type=Path, help="an unpacked package's data/ directory")
    parser.add_argument("--out", type=Path, default=TARGET)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.source or fetch(args.version, Path(tmp))
        data = build(data_dir, args.version)
        size = write(data, args.out)
    counts = {key: len(value) for key, value in data.items() if isinstance(value, list)}
    print(f"wrote {args.out} ({size} bytes): {counts}")


if __name__ == "__main__":
    main()
