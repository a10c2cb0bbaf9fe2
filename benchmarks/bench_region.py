"""Region benchmark: ``settlement run --region`` end to end on a generated pooling region.

    .venv/bin/python benchmarks/bench_region.py --counties 3 --scale 1 [--format parquet]
        [--workers 2] [--data DIR] [--keep DIR]

1. generates the region with ``settlement sample --counties N --scale S`` (timed separately),
   or takes an existing one with ``--data DIR`` (it must hold ``region.yaml``);
2. runs ``settlement run --region DIR/region.yaml --data DIR`` in a child process against a
   fresh SQLite file;
3. samples the memory of the whole process tree (the run and its county worker processes)
   every 0.1 s with psutil: the peak of the SUM of their resident sets is what the machine
   must hold (the max RSS of one process would hide the workers running side by side);
4. prints the step timings of the run's manifest, the wall time and that peak.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

# -P: the current folder is not put ahead of PYTHONPATH (a run started from another checkout would
# measure that checkout's code); PYTHONPATH, else the installed package, decides what is measured
SETTLEMENT = [sys.executable, "-P", "-m", "settlement.cli"]


class TreeMemory:
    """Peak Σ RSS of a process and all its descendants, sampled in a thread."""

    def __init__(self, pid: int, every: float = 0.1):
        self.root, self.every, self.peak, self._stop = psutil.Process(pid), every, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                total = 0
                for proc in procs:
                    try:
                        total += proc.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                return
            time.sleep(self.every)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _follow(child: subprocess.Popen, start: float, memory: TreeMemory, show: bool) -> str:
    """The child's output (each step line shown as it comes when ``show``)."""
    lines = []
    for line in child.stdout:
        lines.append(line)
        if show and line.strip().startswith(("▸", "完成", "区域", "已")):
            print(f"[{time.perf_counter() - start:7.1f} s, peak {memory.peak / 2**20:6.0f} MB] {line.rstrip()}",
                  flush=True)
    child.wait()
    return "".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counties", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--format", default="parquet", choices=["csv", "parquet"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=None, help="an existing region folder")
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep")
    parser.add_argument("--progress", action="store_true",
                        help="print the run's steps as they come, with the time and Σ RSS so far")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_region_"))
    work.mkdir(parents=True, exist_ok=True)
    data = args.data or work / "region"
    generated = 0.0
    if args.data is None:
        start = time.perf_counter()
        subprocess.run(SETTLEMENT + ["sample", "--counties", str(args.counties), "--scale", str(args.scale),
                                     "--format", args.format, "--out", str(data)], check=True)
        generated = time.perf_counter() - start
    start = time.perf_counter()
    child = subprocess.Popen(SETTLEMENT + ["run", "--region", str(data / "region.yaml"), "--data", str(data),
                                           "--workers", str(args.workers), "--out", str(work / "reports"),
                                           "--db", f"sqlite:///{work / 'runs.db'}"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    memory = TreeMemory(child.pid)
    output = _follow(child, start, memory, args.progress)
    wall, peak = time.perf_counter() - start, memory.stop()
    if child.returncode != 0:
        print(output[-4000:])
        raise SystemExit(f"run failed with exit code {child.returncode}")
    manifests = sorted((work / "reports").glob("*/manifest.json"))
    manifest = json.loads(manifests[-1].read_text(encoding="utf-8"))
    rows = manifest.get("row_counts", {}).get("inputs", {})
    print(f"machine: {platform.processor() or platform.machine()}, {psutil.cpu_count()} CPUs, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}")
    counties = len(yaml.safe_load((data / "region.yaml").read_text(encoding="utf-8"))["counties"])
    print(f"region: {counties} counties, scale {args.scale if args.data is None else '-'} ({args.format}); "
          f"{rows.get('inpatient_cases', 0):,} cases, {rows.get('outpatient_claims', 0):,} claims; "
          f"generated in {generated:.1f} s")
    for step, seconds in manifest.get("timings_seconds", {}).items():
        print(f"  {step:<44} {seconds:8.2f} s")
    print(f"  {'whole run (wall, incl. start-up)':<44} {wall:8.2f} s")
    print(f"  {'peak memory, Σ RSS of the process tree':<44} {peak / 2**20:8.0f} MB")


if __name__ == "__main__":
    main()
