"""`make bench`: run every benchmark and write BENCHMARKS.md at the repository root."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bal_validator  # noqa: E402
from _common import ROOT, machine  # noqa: E402

BENCHES = [bal_validator]


def main() -> None:
    sections = [bench.run() for bench in BENCHES]
    text = "\n\n".join([
        "# Benchmarks",
        f"Written by `make bench` on {dt.date.today().isoformat()}.",
        f"Machine: {machine()}.",
        *sections,
    ])
    (ROOT / "BENCHMARKS.md").write_text(text + "\n", "utf-8")
    print(text)


if __name__ == "__main__":
    main()
