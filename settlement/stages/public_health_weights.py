"""Public-health unit weights (公卫工分权重), quality assessed per quarter (DOMAIN §2.7).

weight_u = Σ_q work_points_{u,q} × coefficient(score_{u,q}) — each quarter's own score mapped
by the rule, never a year-averaged score (seed 004: 每季度…依据工分值及评估结果核算经费). Under
threshold 0.85, Q1 1,000 points at 95 and Q2 1,000 at 70 weigh 1,000 × 1 + 1,000 × 0.70 =
1,700; the averaged 82.5 would have given 2,000 × 0.825 = 1,650. Used by
:mod:`settlement.stages.public_health` for both pools (basic, two_diseases).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from settlement.params import ScoreRule, Tier
from settlement.problems import Problem
from settlement.rules import score_coefficient_exact
from settlement.stages.finite import bad_values, nonfinite_problems
from settlement.vocabulary import POOL_ZH
from settlement.wording import quarter_zh  # 2025Q1 → 2025 年第 1 季度 (H7, issue 12)


def unit_weights(workpoints: pd.DataFrame, units: pd.DataFrame, rule: ScoreRule) -> pd.DataFrame:
    """Per (pool, unit): community_id, category, work_points, quality_score, coefficient, weight.

    Quality is assessed per quarter: ``weight_exact`` = Σ_q points_q × coefficient(score_q), a
    Decimal (object column); ``weight`` its float for display; ``quality_coefficient`` the
    effective coefficient weight ÷ Σ points (information); ``quality_score`` the
    work-point-weighted mean score (information only: it is never mapped by the rule);
    ``quarters`` the per-quarter working in Chinese.
    """
    wp = quarter_weights(workpoints, rule)
    g = wp.groupby(["pool", "unit_id"], sort=True)
    out = g.agg(work_points=("work_points", "sum"), scored=("scored", "sum"),
                mean_score=("quality_score", "mean")).reset_index()
    exact = {key: sum(rows, Decimal(0)) for key, rows in g["weight_exact"]}
    points = {key: sum(rows, Decimal(0)) for key, rows in g["points_exact"]}
    texts = {key: "；".join(rows) for key, rows in g["quarter_text"]}
    keys = list(zip(out["pool"], out["unit_id"]))
    out["weight_exact"] = [exact[k] for k in keys]
    out["work_points"] = [float(points[k]) for k in keys]  # exact Σ, then one float
    out["quarters"] = [texts[k] for k in keys]
    weighted = out["scored"] / out["work_points"].where(out["work_points"] > 0)
    out["quality_score"] = [float(_q2(s)) for s in weighted.fillna(out["mean_score"]).fillna(0)]
    out["weight"] = out["weight_exact"].astype("float64")
    out["quality_coefficient"] = (out["weight"] / out["work_points"].where(out["work_points"] > 0)
                                  ).fillna(0.0).round(4)  # effective: weight ÷ points, shown
    info = units.set_index(units["unit_id"].astype("string"))[["community_id", "category"]]
    out = out.join(info, on="unit_id")
    return out.drop(columns=["scored", "mean_score"]).astype(
        {"pool": "string", "unit_id": "string", "community_id": "string", "category": "string",
         "quarters": "string"})


def tier_of(categories: pd.Series, tiers: tuple[Tier, ...]) -> pd.Series:
    """Unit category → tier code (<NA> when no tier takes the category)."""
    mapping = {c: t.tier for t in tiers for c in t.categories}
    return categories.map(mapping).astype("string")


def quarter_weights(workpoints: pd.DataFrame, rule: ScoreRule) -> pd.DataFrame:
    """One row per (unit, quarter, pool): the quarter's points, coefficient and exact weight.

    work points 975.5 at score 87.8 (threshold 0.85: 0.878 ≥ 0.85 → 1) weigh 975.5; 900 at 80
    (0.80 < 0.85 → 0.80) weigh 720 — a year-averaged score would have paid both at 1.
    """
    pool = workpoints["pool"].fillna("basic") if "pool" in workpoints else "basic"
    wp = workpoints.assign(pool=pool).sort_values(["pool", "unit_id", "period"], kind="stable")
    points = [Decimal(f"{p:.6f}").normalize() for p in wp["work_points"]]
    coef = [score_coefficient_exact(s, rule) for s in wp["quality_score"]]
    wp["coefficient"], wp["points_exact"] = coef, points
    wp["weight_exact"] = [p * c for p, c in zip(points, coef)]
    wp["scored"] = wp["work_points"] * wp["quality_score"]
    wp["quarter_text"] = [f"{quarter_zh(q)} 工分 {p:,.2f} × 质量系数 {c.normalize():f}（得分 {s:g}）"
                          for q, p, c, s in zip(wp["period"], wp["work_points"], coef,
                                                wp["quality_score"])]
    return wp


def _q2(score: float) -> Decimal:
    return Decimal(repr(float(score))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def finite_points(workpoints: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    """Rows whose work points or quality score are not finite count 0 points (an error)."""
    bad = (bad_values(workpoints["work_points"].to_numpy(dtype="float64"))
           | bad_values(workpoints["quality_score"].to_numpy(dtype="float64")))
    if not bad.any():
        return workpoints, []
    rows = workpoints[bad]
    problems = nonfinite_problems("public_health.not_finite", "public_health_workpoints",
                                  "工分或质量得分", "work points or quality score",
                                  rows.index, rows["work_points"], "work_points",
                                  rows["unit_id"].astype(str) + " " + rows["period"].astype(str))
    fixed = workpoints.copy()
    fixed.loc[bad, ["work_points", "quality_score"]] = 0.0
    return fixed, problems


def missing_quarters(workpoints: pd.DataFrame) -> list[Problem]:
    """A warning per (pool, unit) lacking a quarter that other units of the pool report.

    Such a quarter counts 0 work points for the unit (nothing earned, nothing weighed); the
    quarters nobody reports yet (a settlement run before the year is complete) are not missing.
    """
    pool = workpoints["pool"].fillna("basic") if "pool" in workpoints else "basic"
    wp = workpoints.assign(pool=pool)
    out = []
    for name, rows in wp.groupby("pool", sort=True):  # two pools
        quarters = set(rows["period"].astype(str))
        for unit_id, periods in rows.groupby("unit_id", sort=True)["period"]:
            missing = sorted(quarters - set(periods.astype(str)))
            if missing:
                out.append(Problem(
                    "public_health.missing_quarter", "warning", "public_health_workpoints",
                    f"单位 {unit_id} 的{POOL_ZH.get(name, name)}缺少 {'、'.join(missing)} 的工分记录，"
                    "该季度按 0 工分计（不计权重）",
                    f"unit {unit_id}, pool {name}: no work points for {', '.join(missing)}; "
                    "counted as 0", column="period", value=str(unit_id)))
    return out
