"""Load benchmark: the loader against the floor (a plain typed pyarrow read of the same files).

    .venv/bin/python benchmarks/bench_load.py --scale 10 [--fmt csv|parquet] [--data DIR]
        [--repeat 3] [--baseline DIR]

Generates the sample county at scale N (``settlement.sample.generate``, not timed; ``--data``
reuses a folder), then measures, each in a fresh Python process (so peak RSS is that step's):

* floor    — every table file read by pyarrow with the schema's types (CSV: ``pyarrow.csv``
             with ``column_types``, ids as strings, money decimal128(17, 2); Parquet:
             ``pyarrow.parquet.read_table``), nothing else: the least any loader can do;
* load     — ``settlement.loader.load_folder``: header search, typed read (or the text path
             for files with quirks), user row numbers, every cell checked, pandas frames;
* baseline — the same ``load_folder`` from another source tree (``--baseline DIR``, e.g. a
             ``git archive`` of an older commit), for before/after figures on the same machine.

The rounds are interleaved (floor, load, baseline, floor, …) so that other load on a shared
machine hits all of them alike; the best of ``--repeat`` rounds is reported, with the median,
and the CPU seconds (user + system) of the step, which a busy machine disturbs far less than
the wall clock.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def floor(data: Path) -> dict:
    """A typed pyarrow read of every table file of ``data``; seconds, rows."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from settlement.csv_reader import ARROW_TYPES
    from settlement.schema import contract

    started = time.perf_counter()
    rows = {}
    for name, schema in contract().items():
        types = {c.name: ARROW_TYPES.get(c.type, pa.string()) for c in schema.columns}
        csv, parquet = data / f"{name}.csv", data / f"{name}.parquet"
        if csv.exists():
            table = pacsv.read_csv(csv, convert_options=pacsv.ConvertOptions(column_types=types))
        elif parquet.exists() or (data / name).is_dir():
            table = pq.read_table(parquet if parquet.exists() else data / name)
        else:
            continue
        rows[name] = table.num_rows
        del table
    return {"seconds": time.perf_counter() - started, "rows": rows}


def load(data: Path) -> dict:
    from settlement.loader import load_folder

    started = time.perf_counter()
    loaded = load_folder(data)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": {t: len(f) for t, f in loaded.tables.items()},
            "problems": len(loaded.problems),
            "typed": sorted(t for t, s in loaded.sources.items() if getattr(s, "typed", False))}


def child(step: str, data: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = floor(data) if step == "floor" else load(data)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    print(json.dumps(result))


def run(step: str, data: Path, tree: Path) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", step, "--data", str(data), "--tree", str(tree)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--fmt", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--data", type=Path, help="an existing data folder (skips generation)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another source tree to measure the same way")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(args.tree))
        child(args.child, args.data)
        return
    data, tmp = args.data, None
    if data is None:
        from settlement.sample import generate

        tmp = tempfile.mkdtemp(prefix=f"bench_load_{args.scale:g}_")
        data = Path(tmp)
        generate(data, scale=args.scale, fmt=args.fmt)
    steps = [("floor", ROOT), ("load", ROOT)] + ([("baseline", args.baseline)] if args.baseline else [])
    results: dict[str, list[dict]] = {name: [] for name, _ in steps}
    for _ in range(args.repeat):
        for name, tree in steps:
            results[name].append(run("floor" if name == "floor" else "load", data, tree))
    size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    rows = results["load"][0]["rows"]
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}; "
          f"data {data} ({size / 1e6:,.0f} MB); cases {rows['inpatient_cases']:,}, claims {rows['outpatient_claims']:,}; "
          f"typed CSV reads: {', '.join(results['load'][0]['typed']) or '-'}")
    floor_best = min(r["seconds"] for r in results["floor"])
    floor_cpu = min(r["cpu_seconds"] for r in results["floor"])
    print("| step | wall best | wall median | × floor | CPU best | CPU × floor | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for name, _ in steps:
        seconds = [r["seconds"] for r in results[name]]
        cpu = min(r["cpu_seconds"] for r in results[name])
        rss = max(r["peak_rss_mb"] for r in results[name])
        print(f"| {name} | {min(seconds):.1f} s | {statistics.median(seconds):.1f} s | "
              f"{min(seconds) / floor_best:.2f} | {cpu:.1f} s | {cpu / floor_cpu:.2f} | {rss / 1024:.2f} GB |")
    if tmp:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
