"""DIP benchmark: our DIP scan and stage on both engines against hand-written DuckDB SQL.

    .venv/bin/python benchmarks/bench_dip.py --cases 1000000 [--units 300] [--repeat 3]

Builds a synthetic, self-contained city (cases at member and external units, core /
comprehensive / basic groups, unit coefficient overrides, special and unmatched cases) and
times, interleaved (best of N):

* the **scan** (every case scored, Σ per unit: counts, exact points, at-cost, self-pay,
  violations): ``engine.dip_unit_points`` on the DuckDB engine (our generated SQL,
  :mod:`settlement.scan.dip_query`) and on the pandas engine (numpy), against one hand-written
  DuckDB query of the same computation — over the in-memory frame and over a Parquet file;
* the **stage** :func:`settlement.dip.stage.settle_dip` (case list, point value, unit
  settlement; explain ``none`` / ``rule``) on both engines, from the frame and from the
  Parquet file (as a spilled table reaches the stage), against one hand-written DuckDB
  query of the whole computation (point value, per-unit gross / fund due / withhold / return
  / fund paid, in exact integers).

Every variant's numbers are checked against the others (per-unit points, money, counts), then
the times (wall clock and process CPU time, all threads: on a shared machine the CPU time is
the steadier measure of the work), the ratios and the peak memory (RSS high-water mark).
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from settlement.config import load_config, resolve  # noqa: E402
from settlement.params import ScoreRule  # noqa: E402
from settlement.dip.stage import settle_dip  # noqa: E402
from settlement.sample.writer import yuan_decimal  # noqa: E402
from settlement.scan import get_engine  # noqa: E402

LEVELS = ["tertiary", "secondary", "primary", "unrated"]
MONEY = ("total_cost", "self_pay", "fund_paid", "violation_deduction")  # of the cases
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
        "discharge_date": pd.Timestamp("2025-01-01") + pd.to_timedelta(
            rng.integers(0, 365, n_cases), unit="D"),
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
  FROM {cases} c JOIN u ON c.unit_id = u.unit_id
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


HAND_SCAN_SQL = """
WITH u AS (
  SELECT unit_id, level, coalesce(dip_coefficient, lc.coef) AS unit_coef
  FROM units LEFT JOIN level_coef lc USING (level)
  WHERE community_id IS NOT NULL AND category <> 'external'),
c AS (
  SELECT c.unit_id, c.total_cost, c.self_pay, c.fund_paid, c.violation_deduction,
         c.special_points, c.dip_group IS NOT NULL AS has_group, g.score,
         CASE WHEN g.group_type = 'basic' THEN 1.0 ELSE u.unit_coef END AS coef,
         CASE WHEN r.avg_cost > 0 AND g.group_code IS NOT NULL
              THEN c.total_cost::DOUBLE / r.avg_cost::DOUBLE END AS ratio
  FROM {cases} c JOIN u ON c.unit_id = u.unit_id
  LEFT JOIN groups g ON c.dip_group = g.group_code
  LEFT JOIN refs r ON r.group_code = c.dip_group AND r.level = u.level),
k AS (
  SELECT *,
    CASE WHEN special_points IS NOT NULL THEN 'special' WHEN ratio IS NULL THEN 'unmatched'
         WHEN ratio > {high} {high_eq} THEN 'high' WHEN ratio < {low} {low_eq} THEN 'low'
         ELSE 'normal' END AS cls
  FROM c),
p AS (
  SELECT unit_id, cls, self_pay, fund_paid, violation_deduction, has_group,
    cls = 'unmatched' AND has_group AS excluded,
    coalesce(ratio > {extreme}, false) AND cls <> 'special' AS review,
    floor(CASE cls WHEN 'special' THEN special_points WHEN 'unmatched' THEN 0.0
                   WHEN 'low' THEN score * ratio * coef
                   WHEN 'high' THEN score * ((ratio - {high}) + 1.0) * coef
                   ELSE score * coef END * {scale_points} + 0.5)::BIGINT AS point_units
  FROM k)
SELECT unit_id, count(*) FILTER (WHERE NOT excluded) AS cases,
  count(*) FILTER (WHERE excluded) AS excluded_cases,
  count(*) FILTER (WHERE cls = 'special') AS special_cases,
  count(*) FILTER (WHERE review) AS review_cases,
  sum(point_units)::BIGINT AS point_units,
  sum(CASE WHEN cls = 'unmatched' AND NOT has_group THEN fund_paid ELSE 0 END)::BIGINT AS at_cost,
  sum(CASE WHEN cls <> 'unmatched' THEN self_pay ELSE 0 END)::BIGINT AS self_pay,
  sum(CASE WHEN excluded THEN 0 ELSE violation_deduction END)::BIGINT AS violation_deduction
FROM p GROUP BY unit_id ORDER BY unit_id
"""


def scan_query(params, cases: str) -> str:
    """The hand-written scan: the same computation as ``engine.dip_unit_points``."""
    low_eq = "" if params.low_bound_inclusive else f"OR ratio = {params.low_bound}"
    high_eq = "" if params.high_bound_inclusive else f"OR ratio = {params.high_bound}"
    return HAND_SCAN_SQL.format(
        cases=cases, low=float(params.low_bound), high=float(params.high_bound), low_eq=low_eq,
        high_eq=high_eq, extreme=float(params.extreme_ratio_bound),
        scale_points=float(10 ** params.case_points_decimals))


def duckdb_query(params, cases: str = "cases") -> str:
    d, pvd = params.case_points_decimals, params.point_value_decimals
    rr_num, rr_den = _ratio(params.reimbursement_ratio)
    w_num, w_den = _ratio(params.quality_withhold_rate)
    low_eq = "" if params.low_bound_inclusive else f"OR ratio = {params.low_bound}"
    high_eq = "" if params.high_bound_inclusive else f"OR ratio = {params.high_bound}"
    return DUCKDB_SQL.format(
        cases=cases, scale=1.0, low=float(params.low_bound), high=float(params.high_bound), low_eq=low_eq,
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
    ap.add_argument("--only", choices=["scan", "stage"], help="time only the scan or the stage")
    args = ap.parse_args(argv)
    n = args.scale * 100_000 if args.scale else args.cases
    t = time.perf_counter()
    data = synthetic(n, args.units, args.groups)
    print(f"synthetic data: {n:,} cases, {args.units} units, {args.groups} groups "
          f"({time.perf_counter() - t:.1f} s); RSS peak {peak_mb():,.0f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        parquet = Path(tmp) / "inpatient_cases.parquet"
        pq.write_table(as_parquet(data["cases"]), parquet)
        bench = Bench(data, bench_params(data), parquet, args.threads)
        outputs, best = bench.run(args.repeat, args.only)
        checks = bench.checks(outputs)
    report(best, checks, outputs, bench)
    return 0 if all(checks.values()) else 1


def as_parquet(cases: pd.DataFrame) -> pa.Table:
    """The cases as Parquet files hold them (money as decimal yuan, as the generator writes)."""
    table = pa.Table.from_pandas(cases, preserve_index=False)
    for name in MONEY:
        table = table.set_column(table.schema.get_field_index(name), name,
                                 yuan_decimal(cases[name].to_numpy()))
    return table


def bench_params(data: dict[str, pd.DataFrame]):
    member = data["units"].loc[data["units"]["category"].ne("external"), "unit_id"]
    paid = int(data["cases"].loc[data["cases"]["unit_id"].isin(member), "fund_paid"].sum())
    # the hand-written SQL encodes these choices; the rest (bounds, coefficients, rates) is the
    # config's
    return resolve(load_config(CONFIG)).params.dip.model_copy(update={
        "fund_budget": Decimal(paid).scaleb(-2), "payment_method": "dip",
        "unmatched_policy": "paid_at_cost", "point_value_mode": "computed",
        "special_points_apply_coefficient": False,
        "quality_score_rule": ScoreRule(method="proportional")})


class Bench:
    """The variants, run interleaved so that a busy machine hurts every one alike."""

    def __init__(self, data, params, parquet: Path, threads: int):
        import duckdb

        self.data, self.params, self.parquet = data, params, parquet
        self.engines = {"pandas": get_engine("pandas"),
                        "duckdb": get_engine("duckdb", threads=threads or None)}
        self.con = duckdb.connect()
        if threads:
            self.con.execute(f"SET threads = {threads}")
        for name in ("cases", "units", "groups", "refs", "scores"):
            self.con.register(name, data[name])
        self.con.register("level_coef", pd.DataFrame({
            "level": list(params.level_coefficients),
            "coef": [float(v) for v in params.level_coefficients.values()]}))
        fen = ", ".join(f"CAST({c} * 100 AS BIGINT) AS {c}" for c in MONEY)  # yuan → fen
        self.con.execute(f"CREATE VIEW cases_parquet AS SELECT * REPLACE ({fen}) "
                         f"FROM read_parquet('{parquet}')")
        self.threads = self.con.execute("SELECT current_setting('threads')").fetchone()[0]

    def variants(self) -> dict:
        d, p, sql = self.data, self.params, self.con.execute
        small = (d["units"], d["groups"], d["refs"], p)
        stage = lambda engine, explain, cases=d["cases"]: lambda: settle_dip(  # noqa: E731
            cases, d["units"], d["groups"], d["refs"], d["scores"], d["prepayments"], p,
            explain=explain, engine=self.engines[engine])
        return {
            "sql_scan": lambda: sql(scan_query(p, "cases")).df(),
            "scan_duckdb": lambda: self.engines["duckdb"].dip_unit_points(d["cases"], *small),
            "scan_pandas": lambda: self.engines["pandas"].dip_unit_points(d["cases"], *small),
            "sql_scan_parquet": lambda: sql(scan_query(p, "cases_parquet")).df(),
            "scan_duckdb_parquet": lambda: self.engines["duckdb"].dip_unit_points(self.parquet,
                                                                                  *small),
            "sql_stage": lambda: sql(duckdb_query(p)).df(),
            "stage_pandas_none": stage("pandas", "none"),
            "stage_duckdb_none": stage("duckdb", "none"),
            "stage_pandas_rule": stage("pandas", "rule"),
            "stage_duckdb_rule": stage("duckdb", "rule"),
            "stage_pandas_parquet": stage("pandas", "rule", self.parquet),
            "stage_duckdb_parquet": stage("duckdb", "rule", self.parquet),
        }

    def run(self, repeat: int, only: str | None = None) -> tuple[dict, dict]:
        variants = {name: fn for name, fn in self.variants().items()
                    if only is None or name.startswith((only, f"sql_{only}"))}
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        outputs = {}
        for _ in range(repeat):
            for name, fn in variants.items():
                t, cpu = time.perf_counter(), time.process_time()
                outputs[name] = fn()
                times[name].append((time.perf_counter() - t, time.process_time() - cpu))
        self.rss = peak_mb()
        return outputs, {k: (min(w for w, _ in v), min(c for _, c in v))
                         for k, v in times.items()}

    def checks(self, out: dict) -> dict[str, bool]:
        checks: dict[str, bool] = {}
        if "sql_scan" in out:
            checks |= self.scan_checks(out)
        if "sql_stage" in out:
            checks |= self.stage_checks(out)
        return checks

    def scan_checks(self, out: dict) -> dict[str, bool]:
        hand = out["sql_scan"].set_index("unit_id")
        cols = list(hand.columns)
        ours = {k: out[k].table.set_index("unit_id")[cols] for k in
                ("scan_duckdb", "scan_pandas", "scan_duckdb_parquet")}
        return {
            "scan: DuckDB = pandas engine": ours["scan_duckdb"].equals(ours["scan_pandas"]),
            "scan: Parquet = frame": ours["scan_duckdb_parquet"].equals(ours["scan_duckdb"]),
            "scan: ours = hand-written SQL": all(
                np.array_equal(ours["scan_duckdb"][c].to_numpy(),
                               hand[c].reindex(ours["scan_duckdb"].index).to_numpy("int64"))
                for c in cols)}

    def stage_checks(self, out: dict) -> dict[str, bool]:
        stage = out["stage_duckdb_rule"].units.set_index("unit_id")
        sql_stage = out["sql_stage"].set_index("unit_id")
        scale = 10 ** self.params.case_points_decimals
        return {
            "stage: DuckDB = pandas engine": all(
                out[f"stage_duckdb_{e}"].units.equals(out[f"stage_pandas_{e}"].units)
                and out[f"stage_duckdb_{e}"].cases.equals(out[f"stage_pandas_{e}"].cases)
                for e in ("none", "rule")),
            "stage: Parquet = frame, both engines": all(
                out[f"stage_{e}_parquet"].units.equals(out["stage_pandas_rule"].units)
                and _same_cases(out[f"stage_{e}_parquet"].cases, out["stage_pandas_rule"].cases)
                for e in ("pandas", "duckdb")),
            "stage: points per unit = hand-written SQL": bool(
                (np.rint(stage["points"] * scale).astype("int64")
                 == sql_stage["point_units"].reindex(stage.index).astype("int64")).all()),
            "stage: fund_due, fund_paid = hand-written SQL": all(
                (stage[c] == sql_stage[c].reindex(stage.index).astype("int64")).all()
                for c in ("fund_due", "fund_paid")),
        }


def _same_cases(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """The case lists are equal (case_id compared as text: its Arrow string type may differ)."""
    return (a.drop(columns="case_id").equals(b.drop(columns="case_id"))
            and a["case_id"].astype(str).equals(b["case_id"].astype(str)))


def report(best: dict, checks: dict, outputs: dict, bench: Bench) -> None:
    if "stage_duckdb_rule" in outputs:
        res = outputs["stage_duckdb_rule"]
        print(f"point value {res.summary.point_value.settlement}; Σ points "
              f"{res.summary.point_value.total_points}; units {len(res.units)}")
    for name, ok in checks.items():
        print(f"  check {name}: {'OK' if ok else 'MISMATCH'}")
    rows = [("scan: hand-written DuckDB SQL (frame)", "sql_scan", "sql_scan"),
            ("scan: ours, DuckDB engine (frame)", "scan_duckdb", "sql_scan"),
            ("scan: ours, pandas engine (frame)", "scan_pandas", "sql_scan"),
            ("scan: hand-written DuckDB SQL (Parquet)", "sql_scan_parquet", "sql_scan_parquet"),
            ("scan: ours, DuckDB engine (Parquet)", "scan_duckdb_parquet", "sql_scan_parquet"),
            ("stage: hand-written DuckDB SQL", "sql_stage", "sql_stage"),
            ("stage: ours, pandas, explain none", "stage_pandas_none", "sql_stage"),
            ("stage: ours, DuckDB, explain none", "stage_duckdb_none", "sql_stage"),
            ("stage: ours, pandas, explain rule", "stage_pandas_rule", "sql_stage"),
            ("stage: ours, DuckDB, explain rule", "stage_duckdb_rule", "sql_stage"),
            ("stage: ours, pandas, Parquet, rule", "stage_pandas_parquet", "sql_stage"),
            ("stage: ours, DuckDB, Parquet, rule", "stage_duckdb_parquet", "sql_stage")]
    print(f"{'best of N':42} {'wall':>8} {'× hand':>7} {'CPU':>8} {'× hand':>7}")
    for label, name, base in (r for r in rows if r[1] in best):
        (wall, cpu), (base_wall, base_cpu) = best[name], best[base]
        print(f"{label:42} {wall:7.3f}s {wall / base_wall:6.2f}× {cpu:7.3f}s "
              f"{cpu / base_cpu:6.2f}×")
    print(f"DuckDB threads {bench.threads}; peak RSS (whole process) {bench.rss:,.0f} MB")
    print(f"machine: {platform.processor() or platform.machine()}, {_cores()} cores, "
          f"Python {platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}, "
          f"duckdb {duckdb_version()}")


def duckdb_version() -> str:
    import duckdb

    return duckdb.__version__


def _cores() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    raise SystemExit(main())
