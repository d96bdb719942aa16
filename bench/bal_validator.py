"""BAL validator: `guichet bal validate` against the reference CLI, whole process, same files.

Workload: large realistic files from ../shared/bal/make_big.py (the real Bruz BAL replicated over
real communes): 300k rows in BAL 1.3 (~56 MB), 100k rows in BAL 1.4 with BAN ids and 100k rows
in 1.3 (the cost of a 1.4 row against a 1.3 row, at the same size and start-up), and a ~200 MB
file (1.1M rows) for memory. Each side validates the file and writes its report; timed as a whole
process (interpreter start-up included), peak RSS from the kernel.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from _common import SHARED, WORK, ProcessRun, median_run, run_process, speed_probe, table

REF_DIR = WORK / "bal"
GUICHET = Path(sys.executable).with_name("guichet")
TODAY = "2026-11-22"
FILES = [
    # (name, make_big args, profile, run the reference too)
    ("big_300k_1.3.csv", ["--rows", "300000", "--format", "1.3"], "1.3", True),
    ("big_100k_1.4.csv", ["--rows", "100000", "--format", "1.4"], "1.4", True),
    ("big_100k_1.3.csv", ["--rows", "100000", "--format", "1.3"], "1.3", True),
    ("big_1100k_1.3.csv", ["--rows", "1100000", "--format", "1.3"], "1.3", False),
]


def prepare() -> None:
    """A private copy of the reference with its npm dependencies, and the big files."""
    if not (REF_DIR / "reference" / "node" / "node_modules").is_dir():
        shutil.rmtree(REF_DIR, ignore_errors=True)
        shutil.copytree(SHARED / "bal", REF_DIR, ignore=shutil.ignore_patterns("expected"))
        subprocess.run(["npm", "ci", "--silent"], cwd=REF_DIR / "reference" / "node", check=True)
    for name, args, _, _ in FILES:
        target = REF_DIR / "big" / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, str(REF_DIR / "make_big.py"), *args, "--out", str(target)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def _reference(path: Path, profile: str) -> ProcessRun:
    cmd = [
        "node",
        "--max-old-space-size=16000",
        str(REF_DIR / "reference" / "run-ref.mjs"),
        str(path),
        profile,
        "--mode=summary",
        "--det-uuid",
        "--ban=offline",
        f"--today={TODAY}",
        f"--out={WORK / 'ref-report.json'}",
    ]
    return median_run(cmd, 1)[0]


def _guichet_around(
    path: Path, profile: str, reference: Callable[[], ProcessRun]
) -> tuple[ProcessRun, ProcessRun]:
    """Guichet's runs on both sides of the reference's (3 before, 2 after; median of the 5)
    and the reference's: the VM's speed drifts within minutes, and both sides should see the
    same machine."""
    before = _guichet_runs(path, profile, 3)
    ref = reference()
    after = _guichet_runs(path, profile, 2)
    return _median_of(before, after), ref


def _median_of(*sides: tuple[ProcessRun, list[ProcessRun]]) -> ProcessRun:
    timed = [run for _, runs in sides for run in runs]
    return ProcessRun(
        statistics.median(run.wall_s for run in timed),
        max(summary.peak_rss_mib for summary, _ in sides),
        timed[-1].returncode,
        max(summary.peak_tree_mib for summary, _ in sides),
    )


def _guichet_runs(path: Path, profile: str, repeat: int) -> tuple[ProcessRun, list[ProcessRun]]:
    return median_run(_guichet_cmd(path, profile), repeat, tree=True)


def _guichet_cmd(path: Path, profile: str) -> list[str]:
    validate = [str(GUICHET), "bal", "validate", str(path)]
    return [*validate, "--profile", profile, "--json", "--today", TODAY]


def run() -> str:
    prepare()
    probe = speed_probe()
    rows: list[list[str]] = []
    walls: dict[str, tuple[float, float]] = {}  # name: (Guichet, reference)
    for name, _, profile, with_reference in FILES:
        path = REF_DIR / "big" / name
        size = f"{path.stat().st_size / 1e6:.1f} MB"
        if with_reference:
            ours, ref = _guichet_around(path, profile, partial(_reference, path, profile))
            walls[name] = (ours.wall_s, ref.wall_s)
            rows.append(
                [
                    name,
                    size,
                    profile,
                    f"{ref.wall_s:.2f} s",
                    f"{ref.peak_rss_mib:,.0f} MiB",
                    f"{ours.wall_s:.2f} s",
                    f"{ours.peak_rss_mib:,.0f} MiB",
                    f"{ours.peak_tree_mib:,.0f} MiB",
                    f"{ref.wall_s / ours.wall_s:.1f}×",
                    # against all of Guichet's processes, whichever measure is larger
                    f"{ref.peak_rss_mib / max(ours.peak_rss_mib, ours.peak_tree_mib):.1f}×",
                ]
            )
        else:
            ours = _median_of(_guichet_runs(path, profile, 3))
            rows.append(
                [
                    name,
                    size,
                    profile,
                    "not run",
                    "",
                    f"{ours.wall_s:.2f} s",
                    f"{ours.peak_rss_mib:,.0f} MiB",
                    f"{ours.peak_tree_mib:,.0f} MiB",
                    "",
                    "",
                ]
            )
    header = [
        "file",
        "size",
        "profile",
        "reference wall",
        "reference peak RSS",
        "guichet wall",
        "guichet peak RSS",
        "guichet, all processes (PSS)",
        "speed ratio",
        "memory ratio",
    ]
    return "\n".join(
        [
            "## BAL validator (`guichet bal validate` vs @ban-team/validateur-bal 3.5.2)",
            "",
            "Whole process (start-up included), report written as JSON, BAN lookup offline, frozen "
            f"date {TODAY}. Guichet: median of 5 runs, 3 before and 2 after the reference's "
            "(median of 3 where the reference is not run); reference: 1 run "
            "(`run-ref.mjs --mode=summary`, Node with a 16 GB heap limit as in TIMINGS.md). "
            "Peak RSS from the kernel (wait4): the largest single process. On files of 4 MB or"
            " more Guichet forks a second process for half of the rows (both cores); `all"
            " processes` is the peak of their summed PSS (sampled every 20 ms; the file's text,"
            " shared copy-on-write, counted once). Guichet's bytecode compiled beforehand, as an"
            " installed package has it. Speed probe (a 10M-iteration Python loop, just before):"
            f" {probe:.2f} s.",
            "",
            table(header, rows),
            "",
            _row_cost(walls),
        ]
    )


def _row_cost(walls: dict[str, tuple[float, float]], pairs: int = 9) -> str:
    """What a 1.4 row costs against a 1.3 row, both files of 100k rows, on each side.

    Guichet's ratio is the median over ``pairs`` runs of the two files one after the other:
    the VM's speed drifts within minutes, and two medians taken minutes apart mix it in."""
    ours_14, ref_14 = walls["big_100k_1.4.csv"]
    ours_13, ref_13 = walls["big_100k_1.3.csv"]
    file_14, file_13 = REF_DIR / "big" / "big_100k_1.4.csv", REF_DIR / "big" / "big_100k_1.3.csv"
    runs_14, runs_13 = [], []
    for _ in range(pairs):
        runs_14.append(run_process(_guichet_cmd(file_14, "1.4")).wall_s)
        runs_13.append(run_process(_guichet_cmd(file_13, "1.3")).wall_s)
    paired = statistics.median(a / b for a, b in zip(runs_14, runs_13, strict=True))
    size_14, size_13 = file_14.stat().st_size, file_13.stat().st_size
    return (
        f"A 1.4 row against a 1.3 row (100k rows each, whole process): Guichet {paired:.2f}×"
        f" (median over {pairs} runs of the two files one after the other; "
        f"{statistics.median(runs_14):.2f} s / {statistics.median(runs_13):.2f} s; from the"
        f" table above, {ours_14 / ours_13:.2f}×), the reference {ref_14 / ref_13:.2f}×"
        f" ({ref_14:.2f} s / {ref_13:.2f} s). The 1.4 file has 25 columns (3 of them uuids)"
        f" where 1.3 has 22, {size_14 / size_13:.2f}× the bytes, and two cross-row warnings on"
        " every row, each listed twice in the JSON report (rowErrors and problems)."
    )
