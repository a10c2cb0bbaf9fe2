"""Basic public-health fund (基本公共卫生服务经费), DOMAIN §2.7, seeds 003 (興國) and 004 (歙县).

Pools (资金池) — one per community, because the fund is packaged to each lead hospital:
    basic_c        = resident_population_c × per_capita_standard − reserved_c, where
                     reserved_c = gross_c × county_reserved_share (half up; stays at county level);
    two_diseases_c = the county's ``two_diseases_pool`` (两病一体化签约服务费) split by the
                     allocator among the communities that report ``two_diseases`` work points,
                     by resident population.
Tier pools (层级): a pool is split among the configured ``tiers`` (unit ``category`` → tier)
    that have work points, by their ``ratio`` (``tier_basis: ratio``) or by their summed
    weights (``tier_basis: work_points``), with each tier's ``floor_share`` of the pool as a
    floor (rounded up to the fen: "villages ≥ 40 %"). A tier without work points drops out
    and its ratio is shared by the others (a warning).
Unit weight (权重) within a tier — quality is assessed **per quarter** (seed 004: 每季度…依据
    工分值及评估结果核算经费): weight_u = Σ_q work_points_{u,q} × coefficient(score_{u,q}), the
    coefficient of each quarter's own score by ``quality_score_rule`` (proportional / tiered /
    threshold), never the coefficient of a year-averaged score (under a tiered or threshold rule
    that would pay a sub-70 quarter at the rate of a good one). The 两病一体化 pool is weighed the
    same way, quarter by quarter. A unit without a row for a quarter that other units of the
    pool report earns nothing that quarter (0 points; a warning names the quarters). Weights are
    exact decimals (points kept to 6 decimals) handed to the one allocator. Threshold 0.85:
    Q1 1,000 points at 95 → 1,000 × 1 and Q2 1,000 at 70 → 1,000 × 0.70: weight 1,700 (the
    averaged 82.5 would give 2,000 × 0.825 = 1,650); tiered (≥90 → 1, <60 → 0): Q1 1,000 at
    95 and Q2 1,000 at 50 weigh 1,000, the averaged 72.5 → 0.8 would give 1,600.
The 两病一体化 pool is split **quarter by quarter** (seed 004: 每季度…依据工分值及评估结果核算经费
    并拨付): its year amount in four equal quarters (allocator), each quarter's share through the
    tiers by that quarter's own weights; a unit's allocation is the sum of its four quarters.
Plan (季度预拨方案, :mod:`settlement.stages.public_health_plan`): table ``public_health_plan``.
Clearing (年终清算): balance = allocation − prepaid, where prepaid = the actual ``prepayments``
    of fund ``public_health`` in the year (an optional ``pool`` column names the pool, otherwise
    ``basic``), or — when there are none — the quarterly plan. Negative balance = claw-back,
    labelled 追回; positive 补拨.

Example (the village tier of 1,000,000.00; proportional quality): work points 120,000 /
95,000 / 60,000 at quality 95 / 88 / 72 → weights 114,000 / 83,600 / 43,200 (Σ 240,800) →
quotas 473,421.926…, 347,176.079…, 179,401.993… → whole fen 473,421.92 / 347,176.07 /
179,401.99 leave 2 fen, which go to the two largest remainders → 473,421.93 / 347,176.08 /
179,401.99.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

import numpy as np
import pandas as pd

from settlement.allocate import AllocationError, allocate, share_floor
from settlement.money import fen_of, mul_fen, yuan_display
from settlement.params import PublicHealthParams, Tier
from settlement.problems import Problem
from settlement.rules import describe_rule
from settlement.stages.public_health_plan import (Bases, candidates, idle_quarters, net_plan,
                                                  plan_points, quarter_of, quarterly_plan,
                                                  split_by_quarter)
from settlement.stages.public_health_weights import (finite_points, missing_quarters,
                                                     tier_of, unit_weights)
from settlement.vocabulary import POOL_ZH, member_units

ALLOCATION_COLUMNS = ["pool", "community_id", "unit_id", "tier", "work_points", "quality_score",
                      "quality_coefficient", "weight", "tier_pool", "allocation", "prepaid",
                      "balance", "clearing", "explanation"]


class PublicHealthResult(NamedTuple):
    allocation: pd.DataFrame  # public_health_allocation, one row per (pool, unit)
    pools: pd.DataFrame  # per (pool, community): gross, reserved, amount, allocated, unallocated
    tier_pools: pd.DataFrame  # per (pool, community, tier): ratio, floor, amount
    problems: list[Problem]
    plan: pd.DataFrame | None = None  # public_health_plan, per (pool, unit, quarter)


# ---------------------------------------------------------------- pools
def community_pools(communities: pd.DataFrame, weights: pd.DataFrame,
                    params: PublicHealthParams, standard: Fraction | None = None) -> pd.DataFrame:
    """Per (pool, community): resident_population, gross, reserved, amount (fen).

    ``weights``: the per-(pool, unit) frame of :func:`unit_weights` (which communities report
    two-diseases work points). ``standard``: the year's per-capita standard when it changes
    inside the year (:func:`year_standard`); default ``params.per_capita_standard``.
    """
    pop = communities.set_index(communities["community_id"].astype("string"))["resident_population"]
    per_capita = Fraction(str(params.per_capita_standard)) if standard is None else standard
    gross = [_fen_half_up(int(p) * per_capita) for p in pop]
    reserved = [mul_fen(g, params.county_reserved_share) for g in gross]
    basic = pd.DataFrame({"pool": "basic", "community_id": pop.index, "resident_population":
                          pop.to_numpy(), "gross": gross, "reserved": reserved})
    basic["amount"] = basic["gross"] - basic["reserved"]
    active = set(weights.loc[weights["pool"] == "two_diseases", "community_id"].dropna())
    two = pd.DataFrame({"pool": "two_diseases", "community_id": pop.index,
                        "resident_population": pop.to_numpy(), "gross": 0, "reserved": 0})
    total = fen_of(params.two_diseases_pool)
    weights = pop.where(pop.index.isin(list(active)), 0).astype("float64")
    two["amount"] = allocate(total, weights).reindex(pop.index).to_numpy() if weights.sum() else 0
    two["gross"] = two["amount"]
    frame = pd.concat([basic, two], ignore_index=True)
    return frame.astype({"community_id": "string", "gross": "int64", "reserved": "int64",
                         "amount": "int64"})


def year_standard(segments: list[tuple[dt.date, dt.date, Decimal]]) -> Fraction:
    """The year's per-capita standard, pro rata by the days each value is in force (exact).

    99 元 from 1 January and 109 元 from 1 July 2025: (99 × 181 + 109 × 184) ÷ 365 元.
    """
    days = [(end - start).days + 1 for start, end, _ in segments]
    total = sum(days)
    return sum((Fraction(str(v)) * n for (_, _, v), n in zip(segments, days)), Fraction(0)) / total


def _fen_half_up(yuan: Fraction) -> int:
    fen = yuan * 100
    whole, rest = divmod(fen.numerator, fen.denominator)
    return whole + (1 if 2 * rest >= fen.denominator else 0)


# ---------------------------------------------------------------- the split
def split_pool(amount: int, members: pd.DataFrame, tiers: tuple[Tier, ...],
               tier_basis: str = "ratio") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``amount`` fen: tiers (ratio or weight, floors) then units by ``weight_exact``.

    ``members``: unit_id, tier, weight_exact. Returns (members + tier_pool + allocation,
    tiers frame: tier, label_zh, ratio, tier_weight, floor, amount).
    """
    summed: dict[str, Decimal] = {}
    for tier, weight in zip(members["tier"], members["weight_exact"]):  # member units
        summed[tier] = summed.get(tier, Decimal(0)) + weight
    by_tier = {t.tier: summed.get(t.tier, Decimal(0)) for t in tiers}
    active = [t for t in tiers if by_tier[t.tier] > 0]
    basis = [t.ratio if tier_basis == "ratio" else by_tier[t.tier] for t in active]
    floors = {t.tier: share_floor(amount, t.floor_share) for t in active
              if t.floor_share is not None}
    if active:
        pools = allocate(amount, pd.Series(basis, index=[t.tier for t in active], dtype=object),
                         floors=pd.Series(floors, dtype="float64") if floors else None)
    else:
        pools = pd.Series(dtype="int64")
    out = members.copy()
    out["tier_pool"], out["allocation"] = 0, 0
    for t in active:  # a handful of tiers
        rows = out["tier"] == t.tier
        ids = out.loc[rows, "unit_id"].astype(str)
        weights = pd.Series(list(out.loc[rows, "weight_exact"]), index=ids, dtype=object)
        parts = allocate(int(pools[t.tier]), weights)
        out.loc[rows, "allocation"] = parts.reindex(ids).to_numpy()
        out.loc[rows, "tier_pool"] = int(pools[t.tier])
    tier_frame = pd.DataFrame({
        "tier": [t.tier for t in tiers], "label_zh": [t.label_zh for t in tiers],
        "ratio": [float(t.ratio) for t in tiers],
        "tier_weight": [float(by_tier[t.tier]) for t in tiers],
        "floor": [floors.get(t.tier, 0) for t in tiers],
        "amount": [int(pools.get(t.tier, 0)) for t in tiers]})
    return out.astype({"tier_pool": "int64", "allocation": "int64"}), tier_frame


# ---------------------------------------------------------------- the stage
def settle_public_health(*, communities: pd.DataFrame, units: pd.DataFrame,
                         workpoints: pd.DataFrame | None, prepayments: pd.DataFrame | None,
                         params: PublicHealthParams, year: int,
                         standard_segments: list | None = None) -> PublicHealthResult:
    """Pools per community → tiers → units by weighted work points → plan → clearing.

    ``standard_segments``: (first day, last day, value) of the per-capita standard when it
    changes inside the year (``Resolved.segments``); the pool is then pro rata by days.
    """
    raw = workpoints
    workpoints, problems = _points_of_year(workpoints, year)
    workpoints, bad = finite_points(workpoints)
    problems += bad + missing_quarters(workpoints)
    weights = unit_weights(workpoints, units, params.quality_score_rule)
    weights["tier"] = tier_of(weights["category"], params.tiers)
    problems += _weight_warnings(weights)
    weights = weights[weights["community_id"].notna() & weights["tier"].notna()]
    standard = year_standard(standard_segments) if standard_segments and len(
        standard_segments) > 1 else None
    pools = community_pools(communities, weights, params, standard)
    problems += _two_diseases_warning(pools, params)
    bases = Bases(plan_points(raw, workpoints, year), params, year)
    allocated, tier_pools = _split_pools(pools, weights, params, bases, problems)
    sums = allocated.groupby(["pool", "community_id"])["allocation"].sum()
    keys = zip(pools["pool"], pools["community_id"])
    pools["allocated"] = [int(sums.get(key, 0)) for key in keys]
    pools["unallocated"] = pools["amount"] - pools["allocated"]
    plan, bad = quarterly_plan(pools, candidates(units, params.tiers), bases, split_pool)
    actual, ignored = prepaid_by_unit(prepayments, units, year)
    plan, differ = net_plan(plan, actual, units)
    problems += bad + ignored + differ
    prepaid = plan.groupby(["pool", "unit_id"], as_index=False)["prepaid"].sum()
    table = _clearing(allocated, prepaid, units, params, set(actual["pool"].astype(str)))
    return PublicHealthResult(table, pools, tier_pools, problems, plan)


def _split_pools(pools: pd.DataFrame, weights: pd.DataFrame, params: PublicHealthParams,
                 bases: Bases, problems: list[Problem]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each (pool, community) split through the tiers; the 两病 pool quarter by quarter."""
    parts, tier_frames = [], []
    for row in pools.itertuples():  # pools × communities: a handful
        mine = (weights["pool"] == row.pool) & (weights["community_id"] == row.community_id)
        members = weights[mine]
        try:
            if row.pool == "two_diseases":
                split, tiers = split_by_quarter(int(row.amount), members, bases, split_pool)
                problems += idle_quarters(row, members, bases)
            else:
                split, tiers = split_pool(int(row.amount), members, params.tiers, params.tier_basis)
        except AllocationError as exc:  # floors rounded up to the fen cannot all be met
            problems.append(Problem(
                "public_health.unallocatable", "error", "public_health_allocation",
                f"医共体 {row.community_id} 的{POOL_ZH[row.pool]} {yuan_display(row.amount)} 元"
                f"无法按层级保底分配：{exc}", f"{row.community_id}/{row.pool}: {exc}",
                value=str(row.community_id)))
            split, tiers = split_pool(0, members, params.tiers, params.tier_basis)
        problems += _tier_warnings(row, tiers)
        parts.append(split)
        tier_frames.append(tiers.assign(pool=row.pool, community_id=row.community_id))
    allocated = pd.concat(parts, ignore_index=True) if parts else weights.assign(
        tier_pool=0, allocation=0)
    tier_pools = pd.concat(tier_frames, ignore_index=True) if tier_frames else pd.DataFrame()
    return allocated, tier_pools


def prepaid_by_unit(prepayments: pd.DataFrame | None, units: pd.DataFrame,
                    year: int) -> tuple[pd.DataFrame, list[Problem]]:
    """Σ public-health prepayments of ``year`` per (pool, unit_id, quarter); others reported.

    quarter: the period's quarter ('2025Q2', or '2025-05' → '2025Q2'), '' when it names none.
    """
    empty = pd.DataFrame({"pool": pd.Series(dtype="string"), "unit_id": pd.Series(dtype="string"),
                          "quarter": pd.Series(dtype="string"),
                          "prepaid": pd.Series(dtype="int64")})
    if prepayments is None:
        return empty, []
    p = prepayments[prepayments["fund"] == "public_health"]
    pool = p["pool"].fillna("basic") if "pool" in p else pd.Series("basic", index=p.index)
    in_year = p["period"].astype("string").str.startswith(str(year)).fillna(False)
    known = p["payee_id"].isin(member_units(units)["unit_id"])
    problems = [Problem("public_health.prepayment_ignored", "warning", "prepayments",
                        "公卫预拨款不属于结算年度或收款方不是成员单位，未计入年终清算",
                        "public-health prepayment outside the year or to a non-member: ignored",
                        row=int(i) if isinstance(i, (int, np.integer)) else None,
                        column="payee_id", value=str(v))
                for i, v in p.loc[~(in_year & known), "payee_id"].items()]
    ok = p[in_year & known]
    ok = ok.assign(pool=pool[in_year & known], quarter=ok["period"].map(quarter_of))
    out = ok.groupby(["pool", "payee_id", "quarter"])["amount"].sum()
    out = out.rename("prepaid").reset_index().rename(columns={"payee_id": "unit_id"})
    return (out.astype({"pool": "string", "unit_id": "string", "quarter": "string",
                        "prepaid": "int64"})
            if len(out) else empty), problems


def _clearing(allocated: pd.DataFrame, prepaid: pd.DataFrame, units: pd.DataFrame,
              params: PublicHealthParams, paid_pools: set[str]) -> pd.DataFrame:
    """Allocation − prepaid; ``paid_pools``: the pools with actual prepayments (others: plan)."""
    t = allocated.drop(columns=["weight_exact", "category"], errors="ignore").merge(
        prepaid, on=["pool", "unit_id"], how="outer")
    info = units.set_index(units["unit_id"].astype("string"))[["community_id", "category"]]
    missing = t["community_id"].isna()
    t.loc[missing, "community_id"] = t.loc[missing, "unit_id"].map(info["community_id"])
    t.loc[missing, "tier"] = tier_of(t.loc[missing, "unit_id"].map(info["category"]), params.tiers)
    zero = ["work_points", "weight", "tier_pool", "allocation", "prepaid"]
    t[zero] = t[zero].fillna(0)
    t = t.astype({c: "int64" for c in ["tier_pool", "allocation", "prepaid"]})
    t["balance"] = t["allocation"] - t["prepaid"]
    t["clearing"] = np.select([t["balance"] > 0, t["balance"] < 0], ["补拨", "追回"], "持平")
    rule = describe_rule(params.quality_score_rule)
    t["explanation"] = [
        f"{POOL_ZH.get(r.pool, r.pool)}：按季度考核，权重 = Σ 各季度工分 × 该季度质量系数（{rule}）："
        f"{r.quarters if isinstance(r.quarters, str) and r.quarters else '无工分'}"
        f"；合计工分 {r.work_points:,.2f}，权重 {r.weight:,.4f}；"
        f"层级资金 {yuan_display(r.tier_pool)} 元按权重分配 {yuan_display(r.allocation)} 元；"
        f"{'已预拨' if r.pool in paid_pools else '按季度预拨方案计已预拨'} {yuan_display(r.prepaid)} 元，"
        f"{r.clearing} {yuan_display(abs(r.balance))} 元"
        for r in t.itertuples()]
    t = t.sort_values(["pool", "community_id", "tier", "unit_id"], kind="stable")
    return t[ALLOCATION_COLUMNS].reset_index(drop=True).astype(
        {"pool": "string", "community_id": "string", "unit_id": "string", "tier": "string",
         "clearing": "string", "explanation": "string"})


def _points_of_year(workpoints: pd.DataFrame | None,
                    year: int) -> tuple[pd.DataFrame, list[Problem]]:
    """The work points of ``year`` (an empty table when there is none), and what was left out."""
    if workpoints is None:
        empty = pd.DataFrame({"unit_id": pd.Series(dtype="string"),
                              "period": pd.Series(dtype="string"),
                              "work_points": pd.Series(dtype="float64"),
                              "quality_score": pd.Series(dtype="float64")})
        return empty, [Problem("public_health.no_workpoints", "warning", "public_health_workpoints",
                               "未提供公卫工分表，公卫经费无法分配到单位",
                               "no public-health work points: nothing can be allocated")]
    in_year = workpoints["period"].astype("string").str.startswith(str(year)).fillna(False)
    problems = [Problem("public_health.period_outside_year", "warning", "public_health_workpoints",
                        f"工分季度 {period} 不在结算年度 {year}，未参与分配"
                        + ("（上年度工分仅作第一季度预拨方案基数）"
                           if str(period).startswith(str(year - 1)) else ""),
                        f"work points of {period} are outside {year}: ignored",
                        row=int(i) if isinstance(i, (int, np.integer)) else None,
                        column="period", value=str(period))
                for i, period in workpoints.loc[~in_year, "period"].items()]
    return workpoints[in_year.astype(bool)], problems


def _weight_warnings(weights: pd.DataFrame) -> list[Problem]:
    out = []
    for unit_id in weights.loc[weights["community_id"].isna(), "unit_id"].unique():
        out.append(Problem("public_health.non_member", "warning", "public_health_workpoints",
                           f"单位 {unit_id} 不是医共体成员单位，其公卫工分不参与分配",
                           f"unit {unit_id} is not a member unit: work points ignored",
                           column="unit_id", value=str(unit_id)))
    no_tier = weights["community_id"].notna() & weights["tier"].isna()
    for unit_id in weights.loc[no_tier, "unit_id"].unique():
        out.append(Problem("public_health.no_tier", "warning", "public_health_workpoints",
                           f"单位 {unit_id} 的机构类别不在任何公卫分配层级中，其工分不参与分配",
                           f"unit {unit_id}: category in no tier, work points ignored",
                           column="unit_id", value=str(unit_id)))
    return out


def _two_diseases_warning(pools: pd.DataFrame, params: PublicHealthParams) -> list[Problem]:
    total = fen_of(params.two_diseases_pool)
    if total == 0 or pools.loc[pools["pool"] == "two_diseases", "amount"].sum() == total:
        return []
    return [Problem("public_health.two_diseases_unallocated", "warning", "public_health_workpoints",
                    f"两病一体化资金池 {yuan_display(total)} 元：没有医共体上报两病工分，未分配",
                    "two-diseases pool: no community reports two_diseases work points")]


def _tier_warnings(pool_row, tiers: pd.DataFrame) -> list[Problem]:
    if pool_row.amount == 0:
        return []
    idle = tiers.loc[tiers["tier_weight"] == 0, "label_zh"].tolist()
    if len(idle) == len(tiers):
        return [Problem("public_health.unallocated", "warning", "public_health_workpoints",
                        f"医共体 {pool_row.community_id} 的{POOL_ZH[pool_row.pool]}没有任何工分，"
                        f"{yuan_display(pool_row.amount)} 元未分配",
                        f"{pool_row.community_id}/{pool_row.pool}: no work points, unallocated")]
    return [Problem("public_health.empty_tier", "warning", "public_health_workpoints",
                    f"医共体 {pool_row.community_id} 的{POOL_ZH[pool_row.pool]}中，层级 {label} 无工分，"
                    "其份额由其他层级按比例分配",
                    f"{pool_row.community_id}/{pool_row.pool}: tier {label} has no work points")
            for label in idle]
