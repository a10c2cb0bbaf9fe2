"""Claims-audit benchmark (差别化报销审核): every case and claim of the sample county at scale N.

    .venv/bin/python benchmarks/bench_audit.py --scale 10 [--data DIR] [--repeat 3] [--engine duckdb]

Generates the sample county at scale N as Parquet (not timed; ``--data`` reuses a folder
written by ``settlement sample``), loads it with the loader (not timed), then times
:func:`settlement.stages.audit.audit_claims` on the inpatient cases and outpatient claims —
best of ``--repeat`` — with the committed config's ratio table. Scale 10 is 900,000 cases and
15,000,000 claims; the target is ≤ 10 s (issue 11).
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from settlement.config import load_config, resolve  # noqa: E402
from settlement.loader import load_folder  # noqa: E402
from settlement.sample import generate  # noqa: E402
from settlement.stages.audit import audit_claims  # noqa: E402

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "sample-county.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engine", default=None,
                        help="scan engine the claims are read through (pandas, duckdb)")
    args = parser.parse_args()
    params = resolve(load_config(CONFIG)).params.reimbursement
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data or Path(tmp)
        if args.data is None:
            generate(folder, scale=args.scale, fmt="parquet")
        start = time.perf_counter()
        t = load_folder(folder).tables
        load = time.perf_counter() - start
        ip, op, units = t["inpatient_cases"], t["outpatient_claims"], t["units"]
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = audit_claims(ip, op, units, params, engine=args.engine)
            times.append(time.perf_counter() - start)
    rows = len(ip) + len(op)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    where = f"data {args.data}" if args.data else f"scale {args.scale}"
    print(f"python {platform.python_version()} · {platform.machine()} · {where}")
    print(f"cases {len(ip):,}  claims {len(op):,}  (load {load:.1f} s, not timed)")
    print(f"audit best {min(times):.2f} s  (runs: {', '.join(f'{x:.2f}' for x in times)})  "
          f"{rows / min(times) / 1e6:.1f} M rows/s")
    print(f"flagged rows {len(result.claims):,}  peak RSS {peak:.2f} GB")


if __name__ == "__main__":
    main()
