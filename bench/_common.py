"""Shared helpers for the benchmarks: processes timed as a whole, machine facts, markdown."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
WORK = ROOT / "bench" / "work"


@dataclass(frozen=True)
class ProcessRun:
    wall_s: float
    peak_rss_mib: float
    returncode: int


def run_process(cmd: list[str], *, env: dict[str, str] | None = None) -> ProcessRun:
    """Run a whole process; wall time from the parent, peak RSS from the kernel (wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        proc.stderr.close()
    return ProcessRun(wall, usage.ru_maxrss / 1024, proc.returncode)


def median_run(
    cmd: list[str], repeat: int, **kwargs: object
) -> tuple[ProcessRun, list[ProcessRun]]:
    runs = [run_process(cmd, **kwargs) for _ in range(repeat)]  # type: ignore[arg-type]
    wall = statistics.median(r.wall_s for r in runs)
    rss = max(r.peak_rss_mib for r in runs)
    return ProcessRun(wall, rss, runs[-1].returncode), runs


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return (
        f"{model}, {os.cpu_count()} cores, {mem_gib:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, Node {node or 'absent'}, "
        f"load average {os.getloadavg()[0]:.1f} when the run started"
    )


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
