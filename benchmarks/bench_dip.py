"""DIP stage benchmark: our vectorised stage against one DuckDB SQL query on the same data.

    .venv/bin/python benchmarks/bench_dip.py --cases 1000000 [--units 300] [--repeat 3]

Builds a synthetic, self-contained city (cases at member and external units, core /
comprehensive / basic groups, unit coefficient overrides, special and unmatched cases),
runs :func:`settlement.dip.stage.settle_dip` (with and without the per-case Chinese
explanations) and the same computation as one DuckDB query (score cases, Σ points, point
value, per-unit gross / fund due / withhold / return / fund paid, all in exact integers),
checks that both give the same Σ points and per-unit points, fund_due and fund_paid, and
prints the best-of-N times, the ratio and the peak memory (RSS high-water mark).
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from settlement.config import load_config, resolve  # noqa: E402
from settlement.params import ScoreRule  # noqa: E402
from settlement.dip.stage import settle_dip  # noqa: E402

LEVELS = ["tertiary", "secondary", "primary", "unrated"]
CONFIG = Path(__file__).resolve().parent.parent / "configs" / "sample-county.yaml"


def synthetic(n_cases: int, n_units: int, n_groups: int, seed: int = 7) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    S = lambda values: pd.Series(values, dtype="string")  # noqa: E731
    unit_ids = [f"U{i:05d}" for i in range(n_units)]
    external = rng.random(n_units) < 0.15
    override = np.where(rng.random(n_units) < 0.1, np.round(rng.uniform(0.8, 1.1, n_units), 2),
                        np.nan)
    units = pd.DataFrame({
        "unit_id": S(unit_ids), "unit_name": S([f"机构{i}" for i in range(n_units)]),
        "community_id": S([None if e else f"C{i % 12:02d}" for i, e in enumerate(external)]),
        "category": S(np.where(external, "external", "county_hospital")),
        "level": S(np.array(LEVELS)[rng.integers(0, 4, n_units)]),
        "dip_coefficient": override})
    codes = [f"G{i:05d}" for i in range(n_groups)]
    groups = pd.DataFrame({
        "group_code": S(codes), "group_name": S(codes),
        "score": np.round(rng.lognormal(6.5, 0.8, n_groups), 2),
        "group_type": S(np.where(rng.random(n_groups) < 0.1, "basic", "core"))})
    refs = pd.DataFrame({
        "group_code": S(np.repeat(codes, 4)), "level": S(LEVELS * n_groups),
        "avg_cost": (groups["score"].to_numpy().repeat(4) * 2000
                     * np.tile([1.2, 1.0, 0.8, 0.8], n_groups)).astype("int64")})
    g = rng.integers(0, n_groups, n_cases)
    u = rng.integers(0, n_units, n_cases)
    ratio = rng.lognormal(0.0, 0.45, n_cases)
    cost = (refs["avg_cost"].to_numpy()[g * 4] * ratio).astype("int64")
    self_pay = (cost * rng.uniform(0.2, 0.5, n_cases)).astype("int64")
    group = np.array(codes, dtype=object)[g]
    group[rng.random(n_cases) < 0.02] = None
    special = np.where(rng.random(n_cases) < 0.001, np.round(rng.uniform(100, 5000, n_cases), 1),
                       np.nan)
    cases = pd.DataFrame({
        "case_id": S([f"K{i:08d}" for i in range(n_cases)]),
        "person_id": S([f"P{i:08d}" for i in rng.integers(0, n_cases, n_cases)]),
        "community_id": S([f"C{i:02d}" for i in rng.integers(0, 12, n_cases)]),
        "unit_id": S(np.array(unit_ids, dtype=object)[u]), "dip_group": S(group),
        "total_cost": cost, "self_pay": self_pay, "fund_paid": cost - self_pay,
        "special_points": special,
        "violation_deduction": np.where(rng.random(n_cases) < 0.01, 10_000, 0).astype("int64")})
    scores = pd.DataFrame({"entity_type": S(["unit"] * n_units), "entity_id": S(unit_ids),
                           "score": rng.integers(60, 101, n_units).astype("float64")})
    prepay = pd.DataFrame({"payment_id": S([f"PP{i}" for i in range(n_units)]),
                           "payee_id": S(unit_ids), "fund": S(["dip"] * n_units),
                           "period": S(["2025-06"] * n_units),
                           "amount": rng.integers(0, 10**9, n_units).astype("int64")})
    return {"cases": cases, "units": units, "groups": groups, "refs": refs, "scores": scores,
            "prepayments": prepay.loc[~external]}


def _ratio(value: Decimal) -> tuple[int, int]:
    return value.as_integer_ratio()


DUCKDB_SQL = """
WITH u AS (
  SELECT unit_id, level, coalesce(dip_coefficient, lc.coef) AS unit_coef
  FROM units LEFT JOIN level_coef lc USING (level)
  WHERE community_id IS NOT NULL AND category <> 'external'),
c AS (
  SELECT c.unit_id, c.total_cost, c.self_pay, c.fund_paid, c.violation_deduction,
         c.special_points, c.dip_group IS NOT NULL AS has_group, g.score * {scale} AS score,
         CASE WHEN g.group_type = 'basic' THEN 1.0 ELSE u.unit_coef END AS coef,
         CASE WHEN r.avg_cost > 0 AND g.group_code IS NOT NULL
              THEN c.total_cost::DOUBLE / r.avg_cost::DOUBLE END AS ratio
  FROM cases c JOIN u ON c.unit_id = u.unit_id
  LEFT JOIN groups g ON c.dip_group = g.group_code
  LEFT JOIN refs r ON r.group_code = c.dip_group AND r.level = u.level),
k AS (
  SELECT *,
    CASE WHEN special_points IS NOT NULL THEN 'special' WHEN ratio IS NULL THEN 'unmatched'
         WHEN ratio < {low} {low_eq} THEN 'low' WHEN ratio > {high} {high_eq} THEN 'high'
         ELSE 'normal' END AS cls
  FROM c),
p AS (
  SELECT unit_id, cls, self_pay, fund_paid, violation_deduction, has_group,
    floor(CASE cls WHEN 'special' THEN special_points WHEN 'unmatched' THEN 0.0
                   WHEN 'low' THEN score * ratio * coef
                   WHEN 'high' THEN score * ((ratio - {high}) + 1.0) * coef
                   ELSE score * coef END * {scale_points} + 0.5)::BIGINT AS point_units
  FROM k),
per_unit AS (
  SELECT unit_id, sum(point_units)::HUGEINT AS point_units,
    sum(CASE WHEN cls <> 'unmatched' THEN self_pay ELSE 0 END)::HUGEINT AS self_pay,
    sum(CASE WHEN cls = 'unmatched' AND NOT has_group THEN fund_paid ELSE 0 END)::HUGEINT
      AS at_cost,
    sum(CASE WHEN cls = 'unmatched' AND has_group THEN 0 ELSE violation_deduction END)::HUGEINT
      AS violation
  FROM p GROUP BY unit_id),
pv AS (  -- point value in 10^-pvd yuan, half up: pool ÷ Σ points, exact integers
  SELECT (2 * {budget_fen}::HUGEINT * {pv_scale} * {rr_den}
          + 100 * {rr_num} * sum(point_units))
         // (2 * 100 * {rr_num} * sum(point_units)) AS pv FROM per_unit),
money AS (
  SELECT unit_id, point_units,
    (2 * point_units * pv.pv + {gross_den}) // (2 * {gross_den}) AS gross, at_cost, self_pay,
    violation FROM per_unit, pv),
due AS (
  SELECT *, gross + at_cost - self_pay - violation AS fund_due FROM money),
w AS (
  SELECT due.*, (2 * greatest(fund_due, 0) * {w_num} + {w_den}) // (2 * {w_den}) AS withheld,
         s.score FROM due LEFT JOIN scores s ON s.entity_id = due.unit_id)
SELECT unit_id, point_units, gross, fund_due, withheld,
       (2 * withheld * score::BIGINT + 100) // 200 AS returned,
       fund_due - withheld + (2 * withheld * score::BIGINT + 100) // 200 AS fund_paid
FROM w ORDER BY unit_id
"""


def duckdb_query(params) -> str:
    d, pvd = params.case_points_decimals, params.point_value_decimals
    rr_num, rr_den = _ratio(params.reimbursement_ratio)
    w_num, w_den = _ratio(params.quality_withhold_rate)
    low_eq = "" if params.low_bound_inclusive else f"OR ratio = {params.low_bound}"
    high_eq = "" if params.high_bound_inclusive else f"OR ratio = {params.high_bound}"
    return DUCKDB_SQL.format(
        scale=1.0, low=float(params.low_bound), high=float(params.high_bound), low_eq=low_eq,
        high_eq=high_eq, scale_points=float(10 ** d), budget_fen=int(params.fund_budget * 100),
        pv_scale=10 ** (pvd + d), rr_num=rr_num, rr_den=rr_den,
        gross_den=10 ** (d + pvd - 2), w_num=w_num, w_den=w_den)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--scale", type=int, help="scale factor: 100,000 cases per unit of scale")
    ap.add_argument("--units", type=int, default=300)
    ap.add_argument("--groups", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (0 = default)")
    args = ap.parse_args(argv)
    n = args.scale * 100_000 if args.scale else args.cases
    import duckdb

    params = resolve(load_config(CONFIG)).params.dip
    t = time.perf_counter()
    data = synthetic(n, args.units, args.groups)
    print(f"synthetic data: {n:,} cases, {args.units} units, {args.groups} groups "
          f"({time.perf_counter() - t:.1f} s); RSS peak {peak_mb():,.0f} MB")
    rss_data = peak_mb()

    member = data["units"].loc[data["units"]["category"].ne("external"), "unit_id"]
    paid = int(data["cases"].loc[data["cases"]["unit_id"].isin(member), "fund_paid"].sum())
    # the SQL below encodes these choices; the rest (bounds, coefficients, rates) is the config's
    params = params.model_copy(update={
        "fund_budget": Decimal(paid).scaleb(-2), "payment_method": "dip",
        "unmatched_policy": "paid_at_cost", "point_value_mode": "computed",
        "special_points_apply_coefficient": False,
        "quality_score_rule": ScoreRule(method="proportional")})

    def ours(explain: str):
        return settle_dip(data["cases"], data["units"], data["groups"], data["refs"],
                          data["scores"], data["prepayments"], params, explain=explain)

    level_coef = pd.DataFrame({"level": list(params.level_coefficients),
                               "coef": [float(v) for v in params.level_coefficients.values()]})
    con, con1 = duckdb.connect(), duckdb.connect()
    con1.execute("SET threads = 1")  # for reference: DuckDB on one core
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    for c in (con, con1):
        for name in ("cases", "units", "groups", "refs", "scores"):
            c.register(name, data[name])
        c.register("level_coef", level_coef)
    sql = duckdb_query(params)
    t = time.perf_counter()
    ours("rule")
    first = time.perf_counter() - t
    rss_ours = peak_mb()
    times: dict[str, list[float]] = {"none": [], "rule": [], "full": [], "duckdb": [],
                                     "duckdb1": []}
    outputs = {}
    for _ in range(args.repeat):  # interleaved, so a busy machine hurts every variant alike
        for name, fn in (("duckdb", lambda: con.execute(sql).df()),
                         ("duckdb1", lambda: con1.execute(sql).df()),
                         ("none", lambda: ours("none")), ("rule", lambda: ours("rule"))):
            t = time.perf_counter()
            outputs[name] = fn()
            times[name].append(time.perf_counter() - t)
    rss_all = peak_mb()
    t = time.perf_counter()
    outputs["full"] = ours("full")
    times["full"].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    res, res_full, duck = outputs["rule"], outputs["full"], outputs["duckdb"]

    mine = res.units.set_index("unit_id")
    duck = duck.set_index("unit_id")
    scale = 10 ** params.case_points_decimals
    checks = {
        "Σ points": int(round(mine["points"].sum() * scale)) == int(duck["point_units"].sum()),
        "points per unit": (np.rint(mine["points"] * scale).astype("int64")
                            == duck["point_units"].reindex(mine.index).astype("int64")).all(),
        "fund_due per unit": (mine["fund_due"] == duck["fund_due"].reindex(mine.index)
                              .astype("int64")).all(),
        "fund_paid per unit": (mine["fund_paid"] == duck["fund_paid"].reindex(mine.index)
                               .astype("int64")).all(),
        "DuckDB 1 thread gives the same": outputs["duckdb1"].set_index("unit_id").equals(duck),
        "explain modes give the same units": res_full.units.equals(res.units)
        and outputs["none"].units.equals(res.units),
    }
    print(f"point value {res.summary.point_value.settlement}; Σ points "
          f"{res.summary.point_value.total_points}; units {len(mine)}")
    for name, ok in checks.items():
        print(f"  check {name}: {'OK' if ok else 'MISMATCH'}")
    d = best["duckdb"]
    print(f"DuckDB, one SQL query           {d:7.3f} s   ({threads} threads)")
    print(f"DuckDB, same query, 1 thread    {best['duckdb1']:7.3f} s")
    for name, label in (("none", "ours, explain='none'"),
                        ("rule", "ours, explain='rule' (default)"),
                        ("full", "ours, explain='full'")):
        print(f"{label:31} {best[name]:7.3f} s   {best[name] / d:5.2f}× DuckDB")
    print(f"first run of ours (cold) {first:.3f} s")
    print(f"peak RSS (whole process): data {rss_data:,.0f} MB; + our stage {rss_ours:,.0f} MB; "
          f"+ DuckDB {rss_all:,.0f} MB; + explain='full' {peak_mb():,.0f} MB")
    print(f"machine: {platform.processor() or platform.machine()}, {_cores()} cores, "
          f"Python {platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}, "
          f"duckdb {duckdb.__version__}")
    return 0 if all(checks.values()) else 1


def _cores() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    raise SystemExit(main())
