"""Month-run benchmark (issue 10): ``settlement run --month`` (bulletin included) vs the year end.

    .venv/bin/python benchmarks/bench_monthly.py --scale 1 [--data DIR] [--format csv|parquet]
                                                 [--months 3 | --months all] [--no-year]
                                                 [--keep DIR]

1. generates the sample county at ``--scale`` with ``settlement sample`` (not timed), or takes
   an existing folder of that scale with ``--data DIR``;
2. writes the DIP-budget-scaled copy of ``configs/sample-county.yaml`` (bench_run.scaled_config);
3. in child processes against one fresh SQLite file: the month run(s) of ``--months`` (one
   month, default March, or all twelve in order — each month's paid_to_date reads the months
   before it from the run store) and one year-end ``settlement run`` (the twelve recorded
   months are then its DIP prepaid);
4. prints each run's wall time, its CPU time (user + system of the child: the figure to compare
   when other work shares the machine) and its step timings from ``manifest.json`` (load and
   validate, pre-settlement, 月度通报 and early warning, workbooks, database), the load average
   before and after, and the ratios the issue sets: one month ≤ 5 s at scale 10, twelve months
   ≤ 1.5 × one year-end run (wall and CPU), the same data, the same machine, side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_run import SETTLEMENT, scaled_config  # noqa: E402

YEAR = 2025


def _children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def timed(args: list[str], out: Path) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds, the run's step timings) of one ``settlement`` command."""
    before = set(out.iterdir()) if out.exists() else set()
    start, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(SETTLEMENT + args, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    (run_dir,) = [p for p in out.iterdir() if p not in before and (p / "manifest.json").is_file()]
    steps = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["timings_seconds"]
    return wall, cpu, steps


def _short(steps: dict) -> str:
    """Step timings with their English names only: 'load and validate 5.25, …'."""
    return ", ".join(f"{name.split(' ', 1)[-1]} {sec:.2f}" for name, sec in steps.items())


def run_all(data: Path, config: Path, work: Path, months: list[int], year: bool) -> list[tuple]:
    db, out = f"sqlite:///{work / 'runs.db'}", work / "reports"
    out.mkdir(exist_ok=True)
    common = ["--config", str(config), "--data", str(data), "--out", str(out), "--db", db, "--quiet"]
    rows = []
    for m in months:
        wall, cpu, steps = timed(["run", *common, "--month", f"{YEAR}-{m:02d}"], out)
        rows.append((f"{YEAR}-{m:02d}", wall, cpu, steps))
        print(f"  month {YEAR}-{m:02d}: {wall:7.2f} s wall {cpu:7.2f} s CPU  {_short(steps)}", flush=True)
    if year:
        wall, cpu, steps = timed(["run", *common], out)
        rows.append(("year", wall, cpu, steps))
        print(f"  year end:     {wall:7.2f} s wall {cpu:7.2f} s CPU  {_short(steps)}", flush=True)
    return rows


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--data", type=Path, help="an existing sample folder of --scale")
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--months", default="3",
                        help="a month number, several (1,6,12), or 'all' for twelve")
    parser.add_argument("--no-year", action="store_true", help="skip the year-end run")
    parser.add_argument("--keep", type=Path,
                        help="an empty folder that keeps the runs (reports/, runs.db) for a comparison")
    args = parser.parse_args()
    months = list(range(1, 13)) if args.months == "all" else [int(m) for m in args.months.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench_monthly_") as tmp:
        work = Path(tmp) if args.keep is None else args.keep
        work.mkdir(parents=True, exist_ok=True)
        if any(work.iterdir()):
            raise SystemExit(f"--keep {work}: the folder is not empty")
        data = args.data
        if data is None:
            data = work / "data"
            subprocess.run(SETTLEMENT + ["sample", "--scale", str(args.scale), "--out", str(data),
                                         "--format", args.format], check=True, capture_output=True)
        config = scaled_config(args.scale, work)
        print(f"scale {args.scale}, data {data}; before: {_load()}")
        rows = run_all(data, config, work, months, not args.no_year)
        print(f"after: {_load()}")
    for i, what in ((1, "wall"), (2, "CPU")):
        monthly = [r[i] for r in rows if r[0] != "year"]
        year = [r[i] for r in rows if r[0] == "year"]
        if monthly:
            print(f"{what}: one month {min(monthly):.2f} s (best of {len(monthly)}); "
                  f"months total {sum(monthly):.2f} s")
        if year and monthly:
            print(f"{what}: year end {year[0]:.2f} s; months total ÷ year end = {sum(monthly) / year[0]:.2f}")


if __name__ == "__main__":
    main()
