"""Scan benchmark: the reductions over the big tables, on one engine, at one scale.

    .venv/bin/python benchmarks/bench_scans.py --scale 10 --engine duckdb [--inputs parquet]

Times the stage functions that scan ``inpatient_cases`` / ``outpatient_claims`` through the
scan engine (:mod:`settlement.scan`): the expenditure scan, the chronic cohort spend, the
indicator counts and the claims audit (wall and CPU time, best of ``--repeat``: on a shared
machine the CPU time is the fairer comparison), and reports the process's peak RSS. ``--inputs frames`` (default) loads the big tables as the loader's frames first (as a
run does today; loading is not timed); ``--inputs parquet`` hands the engine the Parquet
files, so the big tables never enter pandas (out of core: DuckDB reads them itself, the pandas
engine reads them whole). One engine per process, so the RSS figures are the engine's own.

The data is ``settlement sample --scale N --format parquet`` written once to
``--data`` (default /tmp/scan_bench/sN); the DIP case list the expenditure scan needs is
computed once by the DIP stage and kept next to it (``_dip_cases.parquet``; not timed).
"""

from __future__ import annotations

import argparse
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from settlement.config import load_config, resolve  # noqa: E402
from settlement.loader import load_folder  # noqa: E402
from settlement.scan import get_engine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "sample-county.yaml"
BIG = ("inpatient_cases", "outpatient_claims")
SMALL = ("units", "communities", "chronic_enrollees", "dip_reference_costs", "dip_groups",
         "performance_scores", "prepayments")


def ensure_data(scale: float, folder: Path) -> Path:
    """The sample at ``scale`` as Parquet in ``folder`` (written once), and its DIP case list."""
    if not (folder / "units.parquet").exists() and not (folder / "units.csv").exists():
        subprocess.run([sys.executable, "-m", "settlement.cli", "sample", "--scale", str(scale),
                        "--format", "parquet", "--out", str(folder)], check=True)
    dip_path = folder / "_dip_cases.parquet"
    if not dip_path.exists():  # in a child process: its memory is not this benchmark's
        subprocess.run([sys.executable, __file__, "--dip-only", "--data", str(folder)], check=True)
    return dip_path


def write_dip_cases(folder: Path) -> None:
    from settlement.dip.stage import settle_dip

    resolved = resolve(load_config(CONFIG))
    t = load_folder(folder, tables=[*SMALL, "inpatient_cases"]).tables
    dip = settle_dip(t["inpatient_cases"], t["units"], t["dip_groups"], t["dip_reference_costs"],
                     t["performance_scores"], t["prepayments"], resolved.params.dip,
                     dated=resolved.section_segments("dip"), engine="pandas")
    dip.cases[["case_id", "unit_id", "community_id", "fund_due"]].to_parquet(
        folder / "_dip_cases.parquet", index=False)


def scans(t: dict, dip_cases, resolved, engine) -> dict[str, callable]:
    from settlement.stages.audit import audit_claims
    from settlement.stages.chronic import cohort_spend, enrolment
    from settlement.stages.expenditure import scan_expenditure
    from settlement.stages.indicators import measures

    P = resolved.params
    roster = enrolment(t["chronic_enrollees"], P.chronic, resolved.year)
    enrolled = roster[roster["status"] == "enrolled"]
    ip, op, units = t["inpatient_cases"], t["outpatient_claims"], t["units"]
    return {
        "expenditure": lambda: scan_expenditure(dip_cases, ip, op, units, t["communities"],
                                                engine=engine),
        "chronic": lambda: cohort_spend(enrolled, ip, op, units, dip_cases, engine=engine),
        "indicators": lambda: measures(ip, op, units, roster, t["communities"],
                                       t["dip_reference_costs"], engine=engine),
        "audit": lambda: audit_claims(ip, op, units, P.reimbursement, engine=engine),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--engine", default="duckdb")
    parser.add_argument("--inputs", choices=["frames", "parquet"], default="frames")
    parser.add_argument("--data", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit, e.g. 1GB")
    parser.add_argument("--dip-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = args.data or Path(f"/tmp/scan_bench/s{args.scale:g}")
    if args.dip_only:
        return write_dip_cases(folder)
    dip_path = ensure_data(args.scale, folder)
    resolved = resolve(load_config(CONFIG))
    t0 = time.perf_counter()
    big = [] if args.inputs == "parquet" else list(BIG)
    t = load_folder(folder, tables=[*SMALL, *big]).tables
    if args.inputs == "parquet":
        t.update({name: folder / f"{name}.parquet" if (folder / f"{name}.parquet").exists()
                  else folder / name for name in BIG})
        dip_cases = dip_path
    else:
        dip_cases = pd.read_parquet(dip_path)
        dip_cases["case_id"] = dip_cases["case_id"].astype("string")
    load = time.perf_counter() - t0
    options = {"memory_limit": args.memory_limit} if args.memory_limit else {}
    engine = get_engine(args.engine, **options)
    timings, cpu = {}, {}
    for name, scan in scans(t, dip_cases, resolved, engine).items():
        best = best_cpu = float("inf")
        for _ in range(args.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            scan()
            best = min(best, time.perf_counter() - start)
            best_cpu = min(best_cpu, time.process_time() - start_cpu)
        timings[name], cpu[name] = best, best_cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = {n: len(t[n]) for n in BIG if isinstance(t[n], pd.DataFrame)}
    print(f"scale {args.scale:g} engine {args.engine} inputs {args.inputs}"
          + (f" ({', '.join(f'{n} {r:,}' for n, r in rows.items())})" if rows else "")
          + f"; load {load:.1f} s (not timed)")
    print("  " + "  ".join(f"{k} {v:.3f} s" for k, v in timings.items())
          + f"  total {sum(timings.values()):.3f} s (wall, best of {args.repeat})")
    print("  cpu " + "  ".join(f"{k} {v:.3f} s" for k, v in cpu.items())
          + f"  total {sum(cpu.values()):.3f} s (CPU time of all threads)")
    print(f"  peak RSS {rss:,.0f} MB; {platform.python_implementation()} {platform.python_version()}, "
          f"pandas {pd.__version__}, {platform.machine()}")


if __name__ == "__main__":
    main()
