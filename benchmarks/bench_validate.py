"""Load + validate benchmark: the sample county at scale N, read from files and checked.

    .venv/bin/python benchmarks/bench_validate.py --scale 10 [--fmt csv|parquet] [--data DIR] [--repeat 1]
        [--baseline DIR] [--variants]

Generates the sample county (``settlement.sample.generate``) at scale N into a temporary
folder (not timed; ``--data DIR`` reuses a folder, ``--keep`` keeps the generated one), then
measures, in a fresh Python process per repetition so that peak memory is the load and the
validation only:

* load     — ``load_folder``: read every file (typed), money to int fen, every column checked;
* validate — ``validate_dataset`` with the config's year and parameters: GX suites (including
             the ``import great_expectations``), cross-table rules, exact money totals;
* CPU      — user + system seconds of the process (a busy shared machine disturbs it far
             less than the wall clock);
* peak RSS — ``ru_maxrss`` of that process.

``--baseline DIR`` measures another source tree (e.g. ``git archive`` of an older commit) the
same way, interleaved. ``--variants`` also measures the validation options of issue 13
(settlement.validation.sql_checks says which was chosen and why):

* ``duckdb+gx-sample`` (the default): large tables' verdicts by DuckDB counts over every row,
  GX on the small tables whole and on a 50 000-row sample of each large one (Data Docs);
* ``duckdb``: the same without GX on the large tables at all;
* ``gx-whole``: GX's pandas engine over every whole frame and pandas masks (the old way);
* ``no-gx``: DuckDB for the large tables, pandas masks for the small ones, GX not imported.

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


VARIANTS = {"duckdb+gx-sample": {}, "duckdb": {"GX_SAMPLE_ROWS": 0},
            "gx-whole": {"LARGE_ROWS": 10**18}, "no-gx": {"use_gx": False}}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(data: Path, use_gx: bool, variant: str = "") -> dict:
    """Load + validate ``data`` once in this process; timings, rows, problems, peak RSS."""
    from settlement.config import load_config, resolve
    from settlement.loader import load_folder
    from settlement.validation import validate_dataset

    options = dict(VARIANTS.get(variant, {}))
    use_gx = options.pop("use_gx", use_gx)
    if options:
        from settlement.validation import gx_suites, sql_checks

        for name, value in options.items():
            setattr(gx_suites if name == "GX_SAMPLE_ROWS" else sql_checks, name, value)
    resolved = resolve(load_config(CONFIG))
    started, cpu = time.perf_counter(), _cpu()
    loaded = load_folder(data)
    loaded_at, cpu_loaded = time.perf_counter(), _cpu()
    problems = validate_dataset(loaded, resolved.year, resolved, use_gx=use_gx)
    done = time.perf_counter()
    timings = loaded.validation.timings
    return {
        "load_cpu_s": cpu_loaded - cpu, "validate_cpu_s": _cpu() - cpu_loaded,
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
    parser.add_argument("--scale", type=float, default=10.0, help="scale to generate (with --data: its label)")
    parser.add_argument("--fmt", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--data", type=Path, help="an existing data folder (skips generation)")
    parser.add_argument("--keep", action="store_true", help="keep the generated folder")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-gx", action="store_true", help="our masks only (for comparison)")
    parser.add_argument("--baseline", type=Path, help="another source tree, measured the same way")
    parser.add_argument("--variants", action="store_true", help="also the validation options (see above)")
    parser.add_argument("--variant", default="", help=argparse.SUPPRESS)  # child process
    parser.add_argument("--tree", type=Path, default=ROOT, help=argparse.SUPPRESS)  # child process
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    if args.measure:
        sys.path.insert(0, str(args.tree))
        print(json.dumps(measure(args.measure, use_gx=not args.no_gx, variant=args.variant)))
        return

    tmp = None
    data = args.data
    if data is None:
        tmp = tempfile.mkdtemp(prefix=f"bench_validate_{args.scale:g}_")
        data = Path(tmp)
        print(f"generating scale {args.scale:g} ({args.fmt}) into {data} …", flush=True)
        print(f"  generated in {generate(args.scale, args.fmt, data):.1f} s (not part of the figures)", flush=True)
    size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    steps = [("this tree", ROOT, "")]
    if args.variants:
        steps = [(v, ROOT, v) for v in VARIANTS]
    if args.baseline:
        steps.append(("baseline", args.baseline, ""))
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in steps}
    for _ in range(args.repeat):
        for name, tree, variant in steps:
            cmd = [sys.executable, __file__, "--measure", str(data), "--tree", str(tree), "--variant", variant] \
                + (["--no-gx"] if args.no_gx else [])
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
    first = runs[steps[0][0]][0]
    rows = first["rows"]
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"data: {data} ({size / 1e6:,.0f} MB, {args.fmt}); cases {rows['inpatient_cases']:,}, "
          f"claims {rows['outpatient_claims']:,}; problems found: {first['problems']}"
          + (f"; GX error: {first['gx_error']}" if first["gx_error"] else ""))
    print("| code | scale | format | load (CPU) | validate (CPU) | GX suites / cross-table / totals | total | peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for name, _, _ in steps:
        best = min(runs[name], key=lambda r: r["total_s"])
        print(f"| {name} | {args.scale:g} | {args.fmt} | {best['load_s']:.1f} s ({best.get('load_cpu_s', 0):.1f} s) "
              f"| {best['validate_s']:.1f} s ({best.get('validate_cpu_s', 0):.1f} s) | {best['gx_s']:.1f} / "
              f"{best['cross_table_s']:.1f} / {best['totals_s']:.2f} s | **{best['total_s']:.1f} s** "
              f"| {best['peak_rss_mb'] / 1024:.2f} GB |")
    if tmp and not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
