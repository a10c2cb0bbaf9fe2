"""Global-budget benchmark: expenditure scan + package + corridor + distribution + ledger.

    .venv/bin/python benchmarks/bench_package.py --scale 10 [--engine duckdb] [--claims-fraction 1.0] [--repeat 3]

Builds a synthetic county shaped like the sample county (two communities, a lead hospital
each, other county hospitals, a private hospital, 20 township centres, 200 village clinics,
16 external hospitals and one non-member county hospital) at scale N: 90,000 × N inpatient
cases (≈ 85 % at member units, priced by DIP, the rest outside) and 1,500,000 × N outpatient
claims (``--claims-fraction`` builds fewer). Frames have the loader's dtypes (ids pandas
"string", money int64 fen). Building the data is not timed; the stages are, best of
``--repeat``. The scan is the only stage that touches the millions of rows; the others work
on the per-community and per-unit aggregates. ``--engine``: the scan engine
(:mod:`settlement.scan`: pandas, duckdb; default the registry's default).
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from settlement.config import load_config, resolve  # noqa: E402
from settlement.scan import get_engine  # noqa: E402
from settlement.stages.corridor import settle_corridor  # noqa: E402
from settlement.stages.distribution import distribute, unit_measures  # noqa: E402
from settlement.stages.expenditure import scan_expenditure  # noqa: E402
from settlement.stages.ledger import community_ledger  # noqa: E402
from settlement.stages.package import settle_packages  # noqa: E402

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "sample-county.yaml"
CASES_AT_SCALE_1 = 90_000
CLAIMS_AT_SCALE_1 = 1_500_000


def strings(codes: np.ndarray, labels: list[str]) -> pd.Series:
    """Ids as the loader gives them (pandas "string"), built fast from category codes."""
    return pd.Series(pd.Categorical.from_codes(codes, labels)).astype("string")


def county() -> pd.DataFrame:
    rows = []
    for c, cid in enumerate(["GT01", "GT02"]):
        rows.append((f"H{c}1", cid, "lead_hospital", "county", 300_000))
        rows.append((f"H{c}2", cid, "county_hospital", "county", 100_000))
        if c == 1:
            rows.append((f"H{c}3", cid, "private", "county", 0))
        for t in range(10):
            tid = f"T{c}{t:02d}"
            rows.append((tid, cid, "township_center", "county", 15_000 + 1_000 * t))
            rows += [(f"{tid}V{v}", cid, "village_clinic", "county", 1_000 + 37 * v) for v in range(10)]
    rows += [(f"X{i:02d}", None, "external", scope, 0)
             for i, scope in enumerate(["city"] * 6 + ["province"] * 6 + ["national"] * 4)]
    rows.append(("N01", None, "private", "county", 0))
    ids, comm, cat, scope, pop = zip(*rows)
    return pd.DataFrame({"unit_id": pd.array(ids, dtype="string"),
                         "unit_name": pd.array([f"机构{u}" for u in ids], dtype="string"),
                         "community_id": pd.array(comm, dtype="string"),
                         "category": pd.array(cat, dtype="string"),
                         "scope": pd.array(scope, dtype="string"),
                         "service_population": np.array(pop, dtype="int64")})


def synthetic(scale: float, claims_fraction: float, seed: int = 7) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    units = county()
    member = units["community_id"].notna() & (units["category"] != "external")
    member_ids = units.loc[member & units["category"].isin(
        ["lead_hospital", "county_hospital", "private", "township_center"]), "unit_id"].tolist()
    outside_ids = units.loc[~member, "unit_id"].tolist()
    n = int(CASES_AT_SCALE_1 * scale)
    at_member = rng.random(n) < 0.85
    comm = rng.choice(2, n, p=[0.57, 0.43])  # GT01 has 60 % of the insured: surplus; GT02 overrun
    unit = np.where(at_member, rng.integers(0, len(member_ids), n),
                    len(member_ids) + rng.integers(0, len(outside_ids), n))
    cost = rng.lognormal(8.7, 0.7, n).astype("int64") * 100
    case_ids = np.char.add("C", np.arange(n).astype(str))
    inpatient = pd.DataFrame({
        "case_id": pd.array(case_ids, dtype="string"),
        "community_id": strings(comm, ["GT01", "GT02"]),
        "unit_id": strings(unit, member_ids + outside_ids),
        "total_cost": cost, "fund_paid": (cost * 0.6).astype("int64")})
    dip = inpatient.loc[at_member, ["case_id", "unit_id", "community_id"]].copy()
    dip["fund_due"] = (cost[at_member] * 0.62).astype("int64")
    dip["case_class"] = pd.array(["normal"] * len(dip), dtype="string")
    m = int(CLAIMS_AT_SCALE_1 * scale * claims_fraction)
    kind = rng.choice(3, m, p=[0.85, 0.10, 0.05])
    claims = pd.DataFrame({
        "community_id": strings(rng.choice(2, m, p=[0.57, 0.43]), ["GT01", "GT02"]),
        "unit_id": strings(rng.integers(0, len(units), m), units["unit_id"].tolist()),
        "claim_type": strings(kind, ["general", "chronic_special", "two_diseases"]),
        "fund_paid": rng.integers(500, 20_000, m)})
    insured = int(600_000 * scale)
    communities = pd.DataFrame({"community_id": pd.array(["GT01", "GT02"], dtype="string"),
                                "insured_enrollees": [insured * 6 // 10, insured * 4 // 10]})
    budget = pd.DataFrame({"community_id": pd.array(["GT01", "GT02"], dtype="string"),
                           "per_capita_financing": [110_000] * 2,
                           "critical_illness_premium_per_capita": [10_000] * 2,
                           "other_earmarks_per_capita": pd.array([0, 300], dtype="Int64"),
                           "official_package": pd.array([None, None], dtype="Int64")})
    scores = pd.DataFrame({
        "entity_type": pd.array(["community"] * 2 + ["unit"] * int(member.sum()), dtype="string"),
        "entity_id": pd.array(["GT01", "GT02"] + units.loc[member, "unit_id"].tolist(), dtype="string"),
        "score": np.concatenate([[93.0, 84.0], np.round(rng.uniform(60, 100, int(member.sum())), 1)])})
    dip_units = (dip.groupby("unit_id", observed=True)["fund_due"].sum().rename("fund_due").reset_index()
                 .assign(points=lambda f: f["fund_due"] / 1000.0))
    return {"units": units, "inpatient": inpatient, "dip": dip, "claims": claims,
            "communities": communities, "budget": budget, "scores": scores, "dip_units": dip_units}


def run_once(data: dict, params, engine=None) -> dict[str, float]:
    t = {}
    t0 = time.perf_counter()
    exp = scan_expenditure(data["dip"], data["inpatient"], data["claims"], data["units"],
                           data["communities"], dip_units=data["dip_units"], engine=engine)
    t["scan"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    packages = settle_packages(data["communities"], data["budget"], params.package).table
    t["package"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    settlement = settle_corridor(packages, exp, data["scores"], params.corridor).table
    t["corridor"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    units = distribute(settlement, data["units"], data["scores"], params.distribution,
                       unit_measures(dip_units=data["dip_units"])).table
    t["distribution"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    community_ledger(settlement, units)
    t["ledger"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    t["_settlement"] = settlement
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--claims-fraction", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engine", default=None, help="scan engine: pandas, duckdb")
    args = parser.parse_args()
    engine = get_engine(args.engine)
    params = resolve(load_config(CONFIG)).params
    t0 = time.perf_counter()
    data = synthetic(args.scale, args.claims_fraction)
    build = time.perf_counter() - t0
    runs = [run_once(data, params, engine) for _ in range(args.repeat)]
    best = {k: min(r[k] for r in runs) for k in runs[0] if not k.startswith("_")}
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"scale {args.scale:g} engine {engine.name}: {len(data['inpatient']):,} cases ({len(data['dip']):,} DIP), "
          f"{len(data['claims']):,} claims, {len(data['units'])} units; build {build:.1f} s (not timed)")
    print("  " + "  ".join(f"{k} {v:.3f} s" for k, v in best.items()) + f"  (best of {args.repeat})")
    s = runs[0]["_settlement"]
    balances = zip(s["community_id"], s["balance"])
    print("  balance (元): " + ", ".join(f"{c} {b / 100:,.2f}" for c, b in balances))
    print(f"  peak RSS {rss_mb:,.0f} MB; {platform.python_implementation()} {platform.python_version()}, "
          f"pandas {pd.__version__}, {platform.machine()}")


if __name__ == "__main__":
    main()
