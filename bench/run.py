"""`make bench`: run every benchmark and write BENCHMARKS.md at the repository root."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bal_diff
import bal_validator
import chaos
import depot_api
import loader_api
import revalidate
from _common import ROOT, compile_sources, machine

import dropzone

RESULTS = ROOT / "bench" / "results"

BENCHES = {
    "bal": bal_validator,
    "diff": bal_diff,
    "depot": depot_api,
    "loader": loader_api,
    "dropzone": dropzone,
    "chaos": chaos,
    "revalidate": revalidate,
}


def main() -> None:
    """Run every benchmark, or only those named on the command line (see BENCHES)."""
    chosen = sys.argv[1:] or list(BENCHES)
    RESULTS.mkdir(exist_ok=True)
    compile_sources()
    stamp = f"_Measured on {dt.date.today().isoformat()} — {machine()}._"
    for name in chosen:
        (RESULTS / f"{name}.md").write_text(f"{BENCHES[name].run()}\n\n{stamp}\n", "utf-8")
    # Sections measured earlier are kept, each with its own date and machine.
    sections = [
        (RESULTS / f"{name}.md").read_text("utf-8").strip()
        for name in BENCHES
        if (RESULTS / f"{name}.md").exists()
    ]
    text = "\n\n".join(
        [
            "# Benchmarks",
            "Written by `make bench` (`make bench ARGS=bal` runs one section). Each section gives "
            "its workload, the machine it ran on and, where a reference exists, the ratio to it "
            "measured in the same run.",
            *sections,
        ]
    )
    (ROOT / "BENCHMARKS.md").write_text(text + "\n", "utf-8")
    print(text)


if __name__ == "__main__":
    main()
