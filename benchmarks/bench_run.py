"""Whole-run benchmark: ``settlement run`` end to end on a generated county of scale N.

    .venv/bin/python benchmarks/bench_run.py --scale 1 [--format csv|parquet] [--keep DIR] [--data DIR]

1. generates the sample county at ``--scale`` (1 = a county: ≈ 90,000 cases, 1.5 M claims;
   10 = a city) with ``settlement sample`` (not timed in the figures below), or takes an
   existing folder of that scale with ``--data DIR``;
2. writes a copy of ``configs/sample-county.yaml`` whose DIP fund budget is scaled with the
   data (the committed config fits the committed scale-0.1 sample);
3. runs ``settlement run`` in a child process against a fresh SQLite file and reads the step
   timings from the run's ``manifest.json``; peak memory is the child's max RSS;
4. measures the floor side by side (``--floor``, on by default): a typed pyarrow read of every
   input file (CSV with the contract's types, Parquet as it is) plus writing the run's own
   result tables again as CSV with pyarrow, in a child process of its own; the run is then
   reported as a multiple of that floor (issue 13: the run ≤ 2× the floor).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "sample-county.yaml"
COMMITTED_SCALE = 0.1
SETTLEMENT = [sys.executable, "-m", "settlement.cli"]


def scaled_config(scale: float, out: Path) -> Path:
    raw = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    budget = raw["parameters"]["dip"]["fund_budget"]["values"]
    for day, value in budget.items():
        budget[day] = round(float(value) * scale / COMMITTED_SCALE, 2)
    path = out / "config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def floor_seconds(data: Path, results: Path) -> tuple[float, float]:
    """(read, write) seconds of the floor, measured in a fresh child process."""
    code = f"""
import time, pathlib
import pyarrow as pa, pyarrow.csv as pc, pyarrow.parquet as pq
from settlement.schema import contract
ARROW = {{"id": pa.string(), "text": pa.string(), "enum": pa.string(), "codes": pa.string(),
          "period": pa.string(), "quarter": pa.string(), "int": pa.int64(), "float": pa.float64(),
          "money": pa.decimal128(18, 2), "date": pa.date32(), "bool": pa.bool_()}}
schemas = contract()
data, results = pathlib.Path({str(data)!r}), pathlib.Path({str(results)!r})
start = time.perf_counter()
for path in sorted(data.rglob("*")):
    table = path.name.split(".")[0] if path.is_file() else None
    if path.suffix == ".parquet":
        pq.read_table(path)
    elif path.suffix == ".csv" and table in schemas:
        types = {{c.name: ARROW[c.type] for c in schemas[table].columns}}
        pc.read_csv(path, convert_options=pc.ConvertOptions(column_types=types,
                    true_values=["true", "1"], false_values=["false", "0"]))
read = time.perf_counter() - start
tables = [pc.read_csv(p) for p in sorted(results.glob("*.csv"))]
start = time.perf_counter()
for i, t in enumerate(tables):
    pc.write_csv(t, f"/tmp/_floor_{{i}}.csv")
print(read, time.perf_counter() - start)
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    read, write = (float(x) for x in out.stdout.split())
    return read, write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--format", default="csv", choices=["csv", "parquet"])
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep")
    parser.add_argument("--data", type=Path, default=None,
                        help="an existing sample folder of this --scale (skips generation)")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor measurement")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_run_"))
    work.mkdir(parents=True, exist_ok=True)
    data = args.data or work / "data"
    start = time.perf_counter()
    if args.data is None:
        subprocess.run(SETTLEMENT + ["sample", "--out", str(data), "--scale", str(args.scale),
                                     "--format", args.format], check=True, capture_output=True)
    generated = time.perf_counter() - start
    config = scaled_config(args.scale, work)
    start = time.perf_counter()
    child = subprocess.run(SETTLEMENT + ["run", "--config", str(config), "--data", str(data),
                                         "--out", str(work / "reports"), "--db",
                                         f"sqlite:///{work / 'runs.db'}", "--quiet"],
                           capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if child.returncode != 0:
        print(child.stdout[-3000:], child.stderr[-3000:])
        raise SystemExit(f"run failed with exit code {child.returncode}")
    (run_dir,) = [p for p in (work / "reports").iterdir() if not p.name.startswith(".")]  # not .cache
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    rows = manifest["row_counts"]["inputs"]
    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_version()}")
    print(f"scale {args.scale} ({args.format}): {rows.get('inpatient_cases', 0):,} cases, "
          f"{rows.get('outpatient_claims', 0):,} claims; generated in {generated:.1f} s")
    for step, seconds in manifest["timings_seconds"].items():
        print(f"  {step:<40} {seconds:8.2f} s")
    print(f"  {'whole run (wall, incl. start-up)':<40} {wall:8.2f} s")
    print(f"  peak memory (max RSS of the run)         {peak_mb:8.0f} MB")
    if not args.no_floor:
        read, write = floor_seconds(data, run_dir / "results")
        floor = read + write
        print(f"  floor: typed pyarrow read {read:.2f} s + pyarrow CSV write of the results "
              f"{write:.2f} s = {floor:.2f} s; the run is {wall / floor:.2f}× the floor")


if __name__ == "__main__":
    main()
