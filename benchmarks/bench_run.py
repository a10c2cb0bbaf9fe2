"""Whole-run benchmark: ``settlement run`` end to end on a generated county of scale N.

    .venv/bin/python benchmarks/bench_run.py --scale 1 [--format csv|parquet] [--keep DIR] [--data DIR]

1. generates the sample county at ``--scale`` (1 = a county: ≈ 90,000 cases, 1.5 M claims;
   10 = a city) with ``settlement sample`` (not timed in the figures below), or takes an
   existing folder of that scale with ``--data DIR``;
2. writes a copy of ``configs/sample-county.yaml`` whose DIP fund budget is scaled with the
   data (the committed config fits the committed scale-0.1 sample);
3. runs ``settlement run`` in a child process against a fresh SQLite file and reads the step
   timings from the run's ``manifest.json``; peak memory is the child's max RSS;
4. measures the floor side by side (on by default; ``--no-floor`` skips it), in a child process
   of its own: a typed pyarrow read of every input file (CSV with the contract's types, Parquet
   as it is) plus writing the run's own outputs again — the old floor counts only the result
   tables as CSV with pyarrow; the floor with the same outputs adds the other CSVs, every
   workbook's cells written with XlsxWriter (values, no formats; read back untimed with
   openpyxl) and the stored rows inserted into a fresh SQLite file with ``executemany`` in one
   transaction. The run is reported as a multiple of both (issue 13: the run ≤ 2× the floor).
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
# -P: the current folder is not put ahead of PYTHONPATH (a run started from another checkout would
# measure that checkout's code); PYTHONPATH, else the installed package, decides what is measured
SETTLEMENT = [sys.executable, "-P", "-m", "settlement.cli"]


def scaled_config(scale: float, out: Path) -> Path:
    raw = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    budget = raw["parameters"]["dip"]["fund_budget"]["values"]
    for day, value in budget.items():
        budget[day] = round(float(value) * scale / COMMITTED_SCALE, 2)
    path = out / "config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


FLOOR = r"""
import json, pathlib, sqlite3, sys, time
import openpyxl, xlsxwriter
import pyarrow as pa, pyarrow.csv as pc, pyarrow.parquet as pq
from settlement.schema import contract
ARROW = {"id": pa.string(), "text": pa.string(), "enum": pa.string(), "codes": pa.string(),
         "period": pa.string(), "quarter": pa.string(), "int": pa.int64(), "float": pa.float64(),
         "money": pa.decimal128(18, 2), "date": pa.date32(), "bool": pa.bool_()}
data, run_dir, db, out = (pathlib.Path(a) for a in sys.argv[1:5])
schemas, timed, cpu = contract(), {}, {}
clock = lambda: (time.perf_counter(), time.process_time())
def took(name, begun):
    timed[name], cpu[name] = (b - a for a, b in zip(begun, clock()))

start = clock()  # 1. the inputs, typed
for path in sorted(data.rglob("*")):
    table = path.name.split(".")[0] if path.is_file() else None
    if path.suffix == ".parquet":
        pq.read_table(path)
    elif path.suffix == ".csv" and table in schemas:
        types = {c.name: ARROW[c.type] for c in schemas[table].columns}
        pc.read_csv(path, convert_options=pc.ConvertOptions(column_types=types,
                    true_values=["true", "1"], false_values=["false", "0"]))
took("read", start)

def write_csvs(name, paths, folder):
    tables = [pc.read_csv(p) for p in paths]  # untimed
    start = clock()
    for i, t in enumerate(tables):
        pc.write_csv(t, folder / f"{i}.csv")
    took(name, start)

(out / "csv").mkdir(parents=True, exist_ok=True)
results = sorted((run_dir / "results").glob("*.csv"))
write_csvs("results_csv", results, out / "csv")  # 2. the result tables (the old floor)
others = sorted(p for p in run_dir.rglob("*.csv") if p.parent != run_dir / "results")
(out / "csv2").mkdir(exist_ok=True)
write_csvs("other_csv", others, out / "csv2")  # the units' audit lists

books = []  # 3. every workbook's cells (values; read back untimed with openpyxl)
for path in sorted(run_dir.rglob("*.xlsx")):
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    books.append([(ws.title, [list(r) for r in ws.iter_rows(values_only=True)]) for ws in wb.worksheets])
    wb.close()
cells = sum(1 for b in books for _, rows in b for r in rows for v in r if v is not None)
(out / "xlsx").mkdir(exist_ok=True)
start = clock()
for i, book in enumerate(books):
    wb = xlsxwriter.Workbook(str(out / "xlsx" / f"{i}.xlsx"), {"in_memory": True, "strings_to_numbers": False,
                             "strings_to_formulas": False, "strings_to_urls": False})
    for title, rows in book:
        ws = wb.add_worksheet(title)
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if v is None:
                    continue
                if isinstance(v, str):
                    ws.write_string(r, c, v)
                elif isinstance(v, bool):
                    ws.write_boolean(r, c, v)
                elif isinstance(v, (int, float)):
                    ws.write_number(r, c, v)
                else:
                    ws.write(r, c, v)
    wb.close()
took("xlsx", start)

src = sqlite3.connect(db)  # 4. the stored rows, into a fresh SQLite file (read back untimed)
(run_id,) = src.execute("SELECT run_id FROM runs").fetchone()
names = [r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%row_no%'")]
stored = {n: (src.execute(f"SELECT sql FROM sqlite_master WHERE name = ?", (n,)).fetchone()[0],
              src.execute(f"SELECT * FROM {n} WHERE run_id = ?", (run_id,)).fetchall()) for n in names}
fresh = out / "floor.db"
fresh.unlink(missing_ok=True)
dst = sqlite3.connect(fresh, isolation_level=None)
dst.execute("CREATE TABLE runs (run_id VARCHAR(64) PRIMARY KEY)")
dst.execute("INSERT INTO runs VALUES (?)", (run_id,))
for n, (ddl, rows) in stored.items():
    dst.execute(ddl)
rows_stored = sum(len(rows) for _, rows in stored.values())
start = clock()
dst.execute("BEGIN IMMEDIATE")
for n, (ddl, rows) in stored.items():
    if rows:
        dst.executemany(f"INSERT INTO {n} VALUES ({', '.join('?' * len(rows[0]))})", rows)
dst.execute("COMMIT")
took("sqlite", start)
print(json.dumps({"seconds": timed, "cpu": cpu, "cells": cells, "workbooks": len(books), "rows": rows_stored}))
"""


def floor_seconds(data: Path, run_dir: Path, db: Path) -> dict:
    """The floor's parts in seconds, measured in a fresh child process: the typed read of
    every input, and writing the same outputs — the result CSVs (pyarrow), the other CSVs, every
    workbook's cells (XlsxWriter, values only) and the stored rows (SQLite executemany into a
    fresh file, one transaction). What is written again is read back first, untimed."""
    with tempfile.TemporaryDirectory(prefix="bench_floor_") as out:
        child = subprocess.run([sys.executable, "-c", FLOOR, str(data), str(run_dir), str(db), out],
                               check=True, capture_output=True, text=True)
    return json.loads(child.stdout.splitlines()[-1])


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
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # the generation's CPU, if any
    start = time.perf_counter()
    child = subprocess.run(SETTLEMENT + ["run", "--config", str(config), "--data", str(data),
                                         "--out", str(work / "reports"), "--db",
                                         f"sqlite:///{work / 'runs.db'}", "--quiet"],
                           capture_output=True, text=True)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the run and its forked writers
    peak_mb = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
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
    print(f"  {'CPU (user + sys, with its workers)':<40} {cpu:8.2f} s")
    print(f"  peak memory (max RSS of the run)         {peak_mb:8.0f} MB")
    if not args.no_floor:
        floor = floor_seconds(data, run_dir, work / "runs.db")
        t = floor["seconds"]
        old = t["read"] + t["results_csv"]
        new = old + t["other_csv"] + t["xlsx"] + t["sqlite"]
        print(f"  floor: typed pyarrow read {t['read']:.2f} s + pyarrow CSV write of the results "
              f"{t['results_csv']:.2f} s = {old:.2f} s (old floor); the run is {wall / old:.2f}× it")
        print(f"  floor with the same outputs: + other CSVs {t['other_csv']:.2f} s + XlsxWriter "
              f"{floor['cells']:,} cells of {floor['workbooks']} workbooks {t['xlsx']:.2f} s + SQLite "
              f"executemany of {floor['rows']:,} stored rows {t['sqlite']:.2f} s = {new:.2f} s; "
              f"the run is {wall / new:.2f}× it")
        c = floor["cpu"]
        old_cpu = c["read"] + c["results_csv"]
        new_cpu = old_cpu + c["other_csv"] + c["xlsx"] + c["sqlite"]
        print(f"  CPU: the run {cpu:.2f} s, old floor {old_cpu:.2f} s ({cpu / old_cpu:.2f}×), floor with "
              f"the same outputs {new_cpu:.2f} s ({cpu / new_cpu:.2f}×)")

if __name__ == "__main__":
    main()
