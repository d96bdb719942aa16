"""BAL diff: `guichet bal diff OLD NEW`, whole process, on two 250,000-row files.

Workload: ../shared/bal/make_big.py files (the real Bruz BAL replicated over real communes):
250k rows in BAL 1.3 (no BAN ids) against 250k rows in BAL 1.4 (BAN ids). make_big draws the
coordinate jitter and the 1.4 ids from one random stream, so the 1.4 file's long/lat differ from
the 1.3 file's on nearly every row: nearly every address is *modified* — the worst case for the
diff. A second pair is a realistic revision: the 1.4 file against a copy with 1 % of rows
removed, 1 % added and 1 % moved. Each run is a whole process (start-up included), the text
summary written to /dev/null (and once with --json); wall time and peak RSS from the kernel
(wait4), CPU time (user + system) of the process.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from _common import SHARED, WORK, speed_probe, table

REF_DIR = WORK / "bal"
BIG = REF_DIR / "big"
REPEAT = 3
OLD_13 = ("big_250k_1.3.csv", ["--rows", "250000", "--format", "1.3"])
NEW_14 = ("big_250k_1.4.csv", ["--rows", "250000", "--format", "1.4"])
EDITED_14 = "big_250k_1.4_edited.csv"


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    returncode: int


def prepare() -> None:
    """The reference's data (make_big reads its commune list) and the big files."""
    if not (REF_DIR / "reference" / "node" / "node_modules").is_dir():
        shutil.rmtree(REF_DIR, ignore_errors=True)
        shutil.copytree(SHARED / "bal", REF_DIR, ignore=shutil.ignore_patterns("expected"))
        subprocess.run(["npm", "ci", "--silent"], cwd=REF_DIR / "reference" / "node", check=True)
    for name, args in (OLD_13, NEW_14):
        target = BIG / name
        if not target.exists():
            BIG.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, str(REF_DIR / "make_big.py"), *args, "--out", str(target)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    if not (BIG / EDITED_14).exists():
        _write_edited(BIG / NEW_14[0], BIG / EDITED_14)


def _write_edited(source: Path, target: Path) -> None:
    """A revision of ``source``: every 100th row removed, every 100th (+50) row moved (lat),
    and 1 % new rows (copies renumbered, new id_ban_adresse) at the end."""
    lines = source.read_text("utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    columns = header.split(";")
    lat, numero, id_adresse = (columns.index(n) for n in ("lat", "numero", "id_ban_adresse"))
    out = [header]
    added = []
    for i, line in enumerate(rows):
        cells = line.split(";")
        if i % 100 == 0:
            continue
        if i % 100 == 50:
            cells[lat] = f"{float(cells[lat] or 0) + 0.0001:.7f}"
        if i % 100 == 25 and cells[numero].isdigit():
            new = list(cells)
            new[numero] = str(int(cells[numero]) + 5000)
            new[id_adresse] = f"00000000-0000-4000-8000-{i:012d}"
            added.append(";".join(new))
        out.append(";".join(cells))
    target.write_text("\n".join(out + added) + "\n", "utf-8")


def _run(args: list[str]) -> Run:
    """One whole process: wall time from here, CPU and peak RSS from wait4."""
    cmd = [sys.executable, "-m", "guichet", "bal", "diff", *args]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if proc.stderr is not None:
        proc.stderr.close()
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, cpu, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status))


def _measure(args: list[str], repeat: int = REPEAT) -> list[str]:
    runs = [_run(args) for _ in range(repeat)]
    if any(r.returncode != 0 for r in runs):
        raise RuntimeError(f"guichet bal diff {' '.join(args)} failed")
    walls = [r.wall_s for r in runs]
    return [
        f"{statistics.median(walls):.2f} s",
        f"{min(walls):.2f} s",
        f"{statistics.median(r.cpu_s for r in runs):.2f} s",
        f"{max(r.peak_rss_mib for r in runs):,.0f} MiB",
    ]


def run() -> str:
    prepare()
    old13, new14, edited = (str(BIG / n) for n in (OLD_13[0], NEW_14[0], EDITED_14))
    load = os.getloadavg()
    probe = speed_probe()
    worst = "1.3 → 1.4, 250k × 250k (≈ every row modified)"
    rows = [
        [worst, "summary", *_measure([old13, new14])],
        [worst, "--json", *_measure([old13, new14, "--json"])],
        ["1.4 → revision (1 % removed, added, moved)", "summary", *_measure([new14, edited])],
    ]
    header = ["files", "output", "wall (median of 3)", "wall (min)", "CPU", "peak RSS"]
    sizes = ", ".join(
        f"{Path(p).name} {Path(p).stat().st_size / 1e6:.1f} MB" for p in (old13, new14)
    )
    return "\n".join(
        [
            "## BAL diff (`guichet bal diff OLD NEW`)",
            "",
            f"Whole process (interpreter start-up included), output to /dev/null; {sizes}. "
            "Both files are read in one process, rows as integer codes, cells compared "
            "natively. "
            "Wall time: median and minimum of 3 runs (other jobs share the 2 cores: load "
            f"average {load[0]:.1f} / {load[1]:.1f} when the section started); CPU = user + "
            "system time of the command; peak RSS from the kernel (wait4). "
            f"Speed probe (a 10M-iteration Python loop, just before): {probe:.2f} s. "
            "Target (issue #15): ≤ 1 s for the 1.3 → 1.4 pair.",
            "",
            table(header, rows),
        ]
    )


if __name__ == "__main__":
    print(run())
