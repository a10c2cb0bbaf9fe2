"""Load + validate benchmark: the sample county at scale N, read from files and checked.

    .venv/bin/python benchmarks/bench_validate.py --scale 10 [--fmt csv|parquet] [--data DIR] [--repeat 1]

Generates the sample county (``settlement.sample.generate``) at scale N into a temporary
folder (not timed; ``--data DIR`` reuses a folder, ``--keep`` keeps the generated one), then
measures, in a fresh Python process per repetition so that peak memory is the load and the
validation only:

* load     — ``load_folder``: read every file, parse money to int fen, type every column;
* validate — ``validate_dataset`` with the config's year and parameters: GX suites (including
             the ``import great_expectations``), cross-table rules, exact money totals;
* peak RSS — ``ru_maxrss`` of that process.

Target (issue 2): load + validate scale 10 (≈ 900,000 cases + ≈ 15 M claims) < 60 s, peak < 4 GB.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CONFIG = ROOT / "configs" / "sample-county.yaml"


def measure(data: Path, use_gx: bool) -> dict:
    """Load + validate ``data`` once in this process; timings, rows, problems, peak RSS."""
    from settlement.config import load_config, resolve
    from settlement.loader import load_folder
    from settlement.validation import validate_dataset

    resolved = resolve(load_config(CONFIG))
    started = time.perf_counter()
    loaded = load_folder(data)
    loaded_at = time.perf_counter()
    problems = validate_dataset(loaded, resolved.year, resolved, use_gx=use_gx)
    done = time.perf_counter()
    timings = loaded.validation.timings
    return {
        "load_s": loaded_at - started, "validate_s": done - loaded_at, "total_s": done - started,
        "gx_s": timings["suites"], "cross_table_s": timings["cross_table"], "totals_s": timings["totals"],
        "rows": {t: len(f) for t, f in loaded.tables.items()},
        "problems": len(loaded.problems) + len(problems),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "gx_error": loaded.validation.suites.gx_error,
    }


def generate(scale: float, fmt: str, out: Path) -> float:
    from settlement.sample import generate as write_sample

    started = time.perf_counter()
    write_sample(out, scale=scale, fmt=fmt)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--fmt", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--data", type=Path, help="an existing data folder (skips generation)")
    parser.add_argument("--keep", action="store_true", help="keep the generated folder")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-gx", action="store_true", help="our masks only (for comparison)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, use_gx=not args.no_gx)))
        return

    tmp = None
    data = args.data
    if data is None:
        tmp = tempfile.mkdtemp(prefix=f"bench_validate_{args.scale:g}_")
        data = Path(tmp)
        print(f"generating scale {args.scale:g} ({args.fmt}) into {data} …", flush=True)
        print(f"  generated in {generate(args.scale, args.fmt, data):.1f} s (not part of the figures)", flush=True)
    size = sum(p.stat().st_size for p in data.iterdir() if p.is_file())
    runs = []
    for _ in range(args.repeat):
        cmd = [sys.executable, __file__, "--measure", str(data)] + (["--no-gx"] if args.no_gx else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["total_s"])
    rows = best["rows"]
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"data: {data} ({size / 1e6:,.0f} MB, {args.fmt}); cases {rows['inpatient_cases']:,}, "
          f"claims {rows['outpatient_claims']:,}; problems found: {best['problems']}"
          + (f"; GX error: {best['gx_error']}" if best["gx_error"] else ""))
    print("| scale | format | cases | claims | load | validate (GX suites / cross-table / totals) | total | peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.scale:g} | {args.fmt} | {rows['inpatient_cases']:,} | {rows['outpatient_claims']:,} "
          f"| {best['load_s']:.1f} s | {best['validate_s']:.1f} s ({best['gx_s']:.1f} / {best['cross_table_s']:.1f} "
          f"/ {best['totals_s']:.2f}) | **{best['total_s']:.1f} s** | {best['peak_rss_mb'] / 1024:.2f} GB |")
    if tmp and not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
