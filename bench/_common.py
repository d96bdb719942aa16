"""Shared helpers for the benchmarks: processes timed as a whole, machine facts, markdown."""

from __future__ import annotations

import compileall
import os
import platform
import socket
import statistics
import subprocess
import threading
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
    peak_tree_mib: float = 0.0
    """Peak of the summed PSS of the process and its children (pages they share counted once)."""


def run_process(
    cmd: list[str], *, env: dict[str, str] | None = None, sample_tree: bool = False
) -> ProcessRun:
    """Run a whole process; wall time from the parent, peak RSS of its largest process from
    the kernel (wait4), and with `sample_tree` the peak of its whole process tree (PSS sampled
    every 20 ms: the sampling takes some CPU, so such a run is not one of the timed ones)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    sampler = _TreeMemory(proc.pid) if sample_tree else None
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    tree = sampler.stop() if sampler is not None else 0.0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        proc.stderr.close()
    return ProcessRun(wall, usage.ru_maxrss / 1024, proc.returncode, tree)


class _TreeMemory:
    """Samples the PSS of a process and its descendants (Linux `smaps_rollup`) in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.02):
            self.peak_kib = max(self.peak_kib, sum(map(_pss_kib, self._tree())))

    def _tree(self) -> list[int]:
        """The process and its descendants (`task/*/children`: no scan of all of /proc)."""
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                tasks = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for task in tasks:
                try:
                    with open(f"/proc/{pid}/task/{task}/children") as children:
                        todo += [int(child) for child in children.read().split()]
                except OSError:
                    continue
        return found

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.peak_kib / 1024


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def median_run(
    cmd: list[str], repeat: int, *, tree: bool = False, **kwargs: object
) -> tuple[ProcessRun, list[ProcessRun]]:
    """`repeat` timed runs (median wall time); with `tree`, one more run for the memory of the
    whole process tree."""
    runs = [run_process(cmd, **kwargs) for _ in range(repeat)]  # type: ignore[arg-type]
    if tree:
        runs.append(run_process(cmd, sample_tree=True, **kwargs))  # type: ignore[arg-type]
    timed = runs[:repeat]
    wall = statistics.median(r.wall_s for r in timed)
    rss = max(r.peak_rss_mib for r in runs)
    return ProcessRun(wall, rss, timed[-1].returncode, runs[-1].peak_tree_mib), timed


def free_port() -> int:
    """A loopback port free now (for a server the bench starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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


def speed_probe() -> float:
    """Seconds for 10 million additions in a Python loop, measured just before the runs: the
    machine's speed at that moment (the same VM was seen 0.9 s and 1.4 s within an hour)."""
    start = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - start


def compile_sources() -> None:
    """Guichet's bytecode written before anything is timed, as an installed wheel holds it: the
    editable install has none, and this environment may forbid writing it
    (PYTHONDONTWRITEBYTECODE), which would make every timed run compile the sources again."""
    compileall.compile_dir(ROOT / "src", quiet=1)
