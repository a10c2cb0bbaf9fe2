"""Spark (local) vs DuckDB on the same Parquet: the scans of the scan layer, one scale.

    .venv/bin/python benchmarks/bench_spark.py --scale 10 [--repeat 2] [--engines duckdb,spark]

The data is ``settlement sample --scale N --format parquet`` (benchmarks/bench_scans.py writes
it once to /tmp/scan_bench/sN, with the DIP case list; money DECIMAL yuan, which both engines
turn into fen exactly). Both engines read the big tables' files themselves (the cluster path:
no big table enters pandas); ``--work`` (default /tmp/spark_bench/sN) holds the engines'
results for the comparison. Timed per scan, best of ``--repeat``: the expenditure
lines, the indicator counts, the outpatient split, the chronic cohort items and the DIP points
per unit. Each engine runs in its own process, so its memory is its own: the Python process's
peak RSS and, for Spark, the JVM's (``VmHWM`` of the java child); wall and CPU time (the
process and its JVM: on a shared machine the CPU time is the work, the wall time the load). The parent checks that both
engines returned the same frames (``assert_frame_equal``) and prints one table.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

BIG = ("inpatient_cases", "outpatient_claims")


def prepare(scale: float, data: Path, work: Path) -> None:
    """The sample and its DIP case list; the list copied to ``work`` (Spark skips files
    whose name starts with ``_``)."""
    from bench_scans import ensure_data

    dip = ensure_data(scale, data)
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "dip_cases.parquet").exists():
        pq.write_table(pq.read_table(dip), work / "dip_cases.parquet")


def scans(engine, data: Path, work: Path) -> dict:
    from settlement.config import load_config, resolve
    from settlement.loader import load_folder
    from settlement.stages.chronic import enrolment

    resolved = resolve(load_config(HERE.parent / "configs" / "sample-county.yaml"))
    t = load_folder(data, tables=["units", "chronic_enrollees", "dip_groups",
                                  "dip_reference_costs"]).tables
    roster = enrolment(t["chronic_enrollees"], resolved.params.chronic, resolved.year)
    cohort = roster.loc[roster["status"] == "enrolled",
                        ["person_id", "community_id", "period_start", "period_end"]]
    ip, op = (data / f"{n}.parquet" if (data / f"{n}.parquet").exists() else data / n for n in BIG)
    dip = work / "dip_cases.parquet"
    units, refs = t["units"], t["dip_reference_costs"]
    return {
        "expenditure_lines": lambda: engine.expenditure_lines(dip, ip, op, units),
        "indicator_counts": lambda: engine.indicator_counts(ip, op, units, refs),
        "outpatient_at_home": lambda: engine.outpatient_at_home(op, units),
        "cohort_items": lambda: engine.cohort_items(cohort, ip, op, units, dip),
        "dip_unit_points": lambda: engine.dip_unit_points(
            ip, units, t["dip_groups"], refs, resolved.params.dip,
            dated=resolved.section_segments("dip"), by=("unit_id", "community_id")).table,
    }


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its children (the JVM), seconds: on a
    loaded machine wall time measures the neighbours, CPU time the work."""
    import psutil

    total = 0.0
    for p in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def java_peak_mb() -> float:
    """Peak RSS (VmHWM) of this process's java children, MB (0 without one)."""
    import psutil

    peak = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
            is_java = "java" in " ".join(child.cmdline()[:1])
        except (OSError, psutil.Error):
            continue
        if is_java:
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
    return peak


def child(name: str, data: Path, work: Path, repeat: int, out: Path) -> None:
    from settlement.scan import get_engine

    start = time.perf_counter()
    engine = get_engine(name)
    if name == "spark":
        engine.spark  # the JVM start, reported apart
    ready = time.perf_counter() - start
    timings, cpu, results = {}, {}, {}
    for scan, run in scans(engine, data, work).items():
        best = best_cpu = float("inf")
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), cpu_seconds()
            results[scan] = run()
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, cpu_seconds() - c0)
        timings[scan], cpu[scan] = best, best_cpu
    report = {"engine": name, "start": ready, "timings": timings, "cpu": cpu,
              "python_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "java_rss_mb": java_peak_mb()}
    with open(out, "wb") as f:
        pickle.dump((report, results), f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--engines", default="duckdb,spark")
    parser.add_argument("--data", type=Path)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    data = args.data or Path(f"/tmp/scan_bench/s{args.scale:g}")
    work = args.work or Path(f"/tmp/spark_bench/s{args.scale:g}")
    if args.child:
        return child(args.child, data, work, args.repeat, args.out)
    prepare(args.scale, data, work)
    reports, results = [], []
    for name in args.engines.split(","):
        out = work / f"_{name}.pickle"
        subprocess.run([sys.executable, __file__, "--child", name, "--scale", str(args.scale),
                        "--repeat", str(args.repeat), "--data", str(data), "--work", str(work),
                        "--out", str(out)], check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        with open(out, "rb") as f:
            report, result = pickle.load(f)
        reports.append(report)
        results.append(result)
    _check_same(results)
    rows = {n: pq.ParquetFile(data / f"{n}.parquet").metadata.num_rows for n in BIG}
    print(f"scale {args.scale:g}: {', '.join(f'{n} {r:,}' for n, r in rows.items())}; "
          f"{os.cpu_count()} cores, {platform.python_version()}; best of {args.repeat}")
    for r in reports:
        print(f"  {r['engine']:7s} start {r['start']:6.1f} s  "
              + "  ".join(f"{k} {v:7.2f} s" for k, v in r["timings"].items())
              + f"  total {sum(r['timings'].values()):7.2f} s (CPU {sum(r['cpu'].values()):7.2f} s)  RSS python {r['python_rss_mb']:,.0f} MB"
              + (f" + JVM {r['java_rss_mb']:,.0f} MB" if r["java_rss_mb"] else ""))
    print(json.dumps(reports))


def _check_same(results: list[dict]) -> None:
    from pandas.testing import assert_frame_equal

    for other in results[1:]:
        for scan, frame in results[0].items():
            assert_frame_equal(frame, other[scan], check_dtype=True, obj=scan)
    if len(results) > 1:
        print("the engines' frames are identical (assert_frame_equal, dtypes checked)")


if __name__ == "__main__":
    main()
