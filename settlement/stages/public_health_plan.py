"""The quarterly prepayment plan of the public-health fund (季度预拨方案), DOMAIN §2.7, seed 004.

Seed 004: 牵头医院每季度会县级公共卫生机构监测评估并提出资金预拨方案…年终评估清算; the
两病一体化 fees: 每季度…依据工分值及评估结果核算经费并拨付. So, per (pool, community):

* quarter shares: the year's pool split into four equal quarters by the one allocator
  (100,001 fen → 25,001 / 25,000 / 25,000 / 25,000: the odd fen to Q1);
* planned of a quarter = the share × ``plan_prepayment_ratio`` (the allocator splits the share
  into planned and held back; ratio 1 prepays it whole);
* the planned money is split like the year's money (tiers, floors, then unit weights,
  :func:`split_pool`) on a **basis** of weights:
  basic pool, ``plan_rule: equal`` → every quarter on the base; ``by_assessed_work_points`` →
  quarter q on the assessed weight (Σ work points × quality coefficient) of quarter q − 1 (the
  latest assessed quarter before q), Q1 on the base. The base (``plan_q1_basis``):
  ``previous_year`` = the weights of the previous year's rows of the work points table,
  ``equal`` = every unit of a tier alike (also when the previous year is not given, a warning).
  two_diseases pool → each quarter on that quarter's own weights (核算经费并拨付 after the
  quarter): Σ over the quarters is that pool's allocation (:func:`split_by_quarter`).

Netting (年终清算): without public-health rows in ``prepayments`` the plan is what was prepaid;
with them, the actual prepayments count and every (pool, unit, quarter) whose actual differs
from the plan is a warning ``public_health.plan_difference``.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pandas as pd

from settlement.allocate import AllocationError, allocate
from settlement.money import yuan_display
from settlement.params import PublicHealthParams, Tier
from settlement.problems import Problem
from settlement.stages.public_health_weights import (finite_points, quarter_weights,
                                                     tier_of)
from settlement.vocabulary import POOL_ZH, POOLS, member_units
from settlement.wording import quarter_zh

PLAN_COLUMNS = ["pool", "community_id", "unit_id", "tier", "quarter", "quarter_pool",
                "planned", "prepaid", "difference", "basis", "explanation"]


def quarters(year: int) -> list[str]:
    return [f"{year}Q{i}" for i in range(1, 5)]


def quarter_shares(amount: int, year: int) -> dict[str, int]:
    """The year's pool in four equal quarters (largest remainder: odd fen to the earliest)."""
    ids = quarters(year)
    return {q: int(v) for q, v in allocate(amount, pd.Series([1] * 4, index=ids)).items()}


def planned_of(share: int, ratio: Decimal) -> int:
    """The part of a quarter's share prepaid by the plan (the allocator splits planned / held)."""
    if ratio in (0, 1) or share == 0:
        return share * int(ratio)
    parts = allocate(share, pd.Series({"held": 1 - ratio, "planned": ratio}, dtype=object))
    return int(parts["planned"])


def quarter_of(period) -> str:
    """'2025Q2' → '2025Q2'; '2025-05' → '2025Q2'; anything else → '' (未注明季度)."""
    text = str(period)
    if re.fullmatch(r"\d{4}Q[1-4]", text):
        return text
    found = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if found and 1 <= int(found.group(2)) <= 12:
        return f"{found.group(1)}Q{(int(found.group(2)) - 1) // 3 + 1}"
    return ""


# ---------------------------------------------------------------- bases of weights
class Bases:
    """Assessed weights per (pool, period) → {unit_id: Decimal}, from the work points table."""

    def __init__(self, workpoints: pd.DataFrame, params: PublicHealthParams, year: int):
        self.year, self.params = year, params
        wp = quarter_weights(workpoints, params.quality_score_rule) if len(workpoints) else None
        self.by: dict[tuple[str, str], dict[str, Decimal]] = {}
        rows = [] if wp is None else zip(wp["pool"], wp["period"].astype(str),
                                         wp["unit_id"].astype(str), wp["weight_exact"])
        for pool, period, unit_id, weight in rows:
            got = self.by.setdefault((pool, period), {})
            got[unit_id] = got.get(unit_id, Decimal(0)) + weight
        self.last_year = {pool: _sum_dicts([self.by.get((pool, q), {}) for q in quarters(year - 1)])
                          for pool in POOLS}

    def base(self, pool: str) -> tuple[dict[str, Decimal] | None, str]:
        """(weights or None for equal, basis text) of Q1 / the equal rule."""
        if self.params.plan_q1_basis == "previous_year" and self.last_year[pool]:
            return self.last_year[pool], f"上年度（{self.year - 1} 年）考核加权工分"
        return None, "层级内各单位等额"

    def of_quarter(self, pool: str, index: int) -> tuple[dict[str, Decimal] | None, str]:
        """The basis of quarter ``index`` (1–4) of the year for ``pool``."""
        qs = quarters(self.year)
        if pool == "two_diseases":
            own = qs[index - 1]  # 两病: the quarter's own assessment (核算经费并拨付)
            return self.by.get((pool, own), {}), f"{quarter_zh(own)}考核加权工分（按季核算）"
        if self.params.plan_rule == "by_assessed_work_points":
            for q in reversed(qs[:index - 1]):  # the latest assessed quarter before this one
                if self.by.get((pool, q)):
                    return self.by[(pool, q)], f"{quarter_zh(q)}考核加权工分"
        return self.base(pool)


def _sum_dicts(parts: list[dict[str, Decimal]]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for part in parts:
        for k, v in part.items():
            out[k] = out.get(k, Decimal(0)) + v
    return out


def members_on(candidates: pd.DataFrame, weights: dict[str, Decimal] | None) -> pd.DataFrame:
    """candidates (unit_id, tier) with ``weight_exact`` from ``weights`` (None: 1 each)."""
    ids = candidates["unit_id"].astype(str)
    w = [Decimal(1) if weights is None else weights.get(i, Decimal(0)) for i in ids]
    return candidates.assign(weight_exact=pd.Series(w, index=candidates.index, dtype=object))


# ---------------------------------------------------------------- the 两病 pool by quarter
def split_by_quarter(amount: int, members: pd.DataFrame, bases: Bases,
                     split) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 两病一体化 pool: four equal quarters, each split by that quarter's own weights.

    A quarter nobody reports stays unallocated. Returns the year's members (allocation and
    tier_pool = Σ of the quarters) and the tiers frame (floor and amount Σ of the quarters).
    ``split`` is :func:`settlement.stages.public_health.split_pool`.
    """
    params = bases.params
    total, tiers = split(0, members, params.tiers, params.tier_basis)
    for index, (_, share) in enumerate(quarter_shares(amount, bases.year).items(), 1):
        weights, _ = bases.of_quarter("two_diseases", index)
        if not weights or share == 0:
            continue
        out, frame = split(share, members_on(members, weights), params.tiers,
                                params.tier_basis)
        total["allocation"] += out["allocation"].to_numpy()
        total["tier_pool"] += out["tier_pool"].to_numpy()
        tiers["amount"] += frame["amount"].to_numpy()
        tiers["floor"] += frame["floor"].to_numpy()
    return total, tiers


def idle_quarters(pool_row, members: pd.DataFrame, bases: Bases) -> list[Problem]:
    """A warning per quarter of the 两病 pool that no member of the community reports."""
    ids = set(members["unit_id"].astype(str))
    idle = [q for i, q in enumerate(quarters(bases.year), 1) if not any(
        w > 0 for u, w in (bases.of_quarter("two_diseases", i)[0] or {}).items() if u in ids)]
    if pool_row.amount == 0 or not ids or not idle:
        return []
    return [Problem("public_health.two_diseases_quarter_unallocated", "warning",
                    "public_health_workpoints",
                    f"医共体 {pool_row.community_id} 的两病一体化签约服务经费：{'、'.join(map(quarter_zh, idle))}"
                    "无两病工分，该季度份额未分配",
                    f"{pool_row.community_id}/two_diseases: no work points in {', '.join(idle)}; "
                    "that quarter's share is unallocated", value=str(pool_row.community_id))]


def plan_points(raw: pd.DataFrame | None, year_points: pd.DataFrame, year: int) -> pd.DataFrame:
    """The year's (cleaned) work points plus the previous year's finite rows (the plan's base)."""
    if raw is None:
        return year_points
    last = raw[raw["period"].astype("string").str.startswith(str(year - 1)).fillna(False)
               .astype(bool)]
    last, _ = finite_points(last)  # its non-finite rows are 0 (reported? not this year's)
    return pd.concat([year_points, last], ignore_index=True) if len(last) else year_points


def candidates(units: pd.DataFrame, tiers: tuple[Tier, ...]) -> pd.DataFrame:
    """Member units with a tier: who a plan may be made for (unit_id, community_id, tier)."""
    u = member_units(units)
    out = pd.DataFrame({"unit_id": u["unit_id"].astype("string"),
                        "community_id": u["community_id"].astype("string"),
                        "tier": tier_of(u["category"].astype("string"), tiers)})
    return out[out["tier"].notna()].reset_index(drop=True)


# ---------------------------------------------------------------- the plan
def quarterly_plan(pools: pd.DataFrame, candidates: pd.DataFrame, bases: Bases,
                   split) -> tuple[pd.DataFrame, list[Problem]]:
    """One row per (pool, community, quarter, unit) planned; ``split`` is :func:`split_pool`.

    ``candidates``: member units with a tier (unit_id, community_id, tier).
    """
    params, rows, problems = bases.params, [], []
    for pool in pools.itertuples():  # pools × communities: a handful
        mine = candidates[candidates["community_id"] == pool.community_id]
        for index, (q, share) in enumerate(quarter_shares(int(pool.amount), bases.year).items(), 1):
            ratio = Decimal(1) if pool.pool == "two_diseases" else params.plan_prepayment_ratio
            planned = planned_of(share, ratio)
            weights, basis = bases.of_quarter(pool.pool, index)
            members = members_on(mine, weights)
            try:
                out, _ = split(planned, members, params.tiers, params.tier_basis)
            except AllocationError as exc:
                problems.append(_unplannable(pool, q, exc))
                continue
            rows.append(out.assign(pool=pool.pool, community_id=pool.community_id, quarter=q,
                                   quarter_pool=planned, share=share, ratio=ratio, basis=basis))
    if params.plan_q1_basis == "previous_year" and not bases.last_year["basic"] and len(pools):
        problems.append(Problem(
            "public_health.plan_base_equal", "warning", "public_health_workpoints",
            f"公卫工分表无上年度（{bases.year - 1} 年）工分，第一季度预拨方案按层级内各单位等额编制",
            f"no work points of {bases.year - 1}: the Q1 plan splits each tier equally"))
    if not rows:
        return _empty(), problems
    plan = pd.concat(rows, ignore_index=True).rename(columns={"allocation": "planned"})
    plan = plan[(plan["planned"] != 0) | (plan["weight_exact"] > 0)]
    return plan, problems


def _unplannable(pool, quarter: str, exc: Exception) -> Problem:
    return Problem("public_health.plan_unallocatable", "error", "public_health_plan",
                   f"医共体 {pool.community_id} 的{POOL_ZH[pool.pool]}{quarter_zh(quarter)}预拨方案"
                   f"无法按层级保底分配：{exc}", f"{pool.community_id}/{pool.pool}/{quarter}: {exc}",
                   value=str(pool.community_id))


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("quarter_pool", "planned", "prepaid",
                                                             "difference") else "string")
                         for c in PLAN_COLUMNS})


# ---------------------------------------------------------------- netting
def net_plan(plan: pd.DataFrame, actual: pd.DataFrame,
             units: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    """The plan netted against actual prepayments (pool, unit_id, quarter, prepaid).

    A pool without actual rows: prepaid = planned (the plan was paid). A pool with them:
    prepaid = actual, and each unit whose actual differs from its plan in some quarter gets
    one warning listing those quarters (``public_health.plan_difference``).
    """
    keys = ["pool", "unit_id", "quarter"]
    plan = plan.astype({"unit_id": "string", "quarter": "string", "pool": "string"})
    paid_pools = set(actual["pool"].astype(str))
    t = plan.merge(actual, on=keys, how="outer")
    info = units.set_index(units["unit_id"].astype("string"))["community_id"]
    t["community_id"] = t["community_id"].fillna(t["unit_id"].map(info))
    t["from_plan"] = ~t["pool"].astype(str).isin(paid_pools)
    for col in ("planned", "prepaid", "quarter_pool", "share"):
        t[col] = t[col].fillna(0).astype("int64")
    t["prepaid"] = t["prepaid"].where(~t["from_plan"], t["planned"])
    t["difference"] = t["prepaid"] - t["planned"]
    t["basis"] = t["basis"].fillna("无预拨方案").astype("string")
    t["explanation"] = [_explain(r) for r in t.itertuples()]
    t = t.sort_values(["pool", "community_id", "unit_id", "quarter"], kind="stable")
    problems = [_difference(pool, unit_id, rows) for (pool, unit_id), rows in
                t[t["difference"] != 0].groupby(["pool", "unit_id"], sort=True)]
    return t[PLAN_COLUMNS].reset_index(drop=True).astype(
        {c: "string" for c in ("pool", "community_id", "unit_id", "tier", "quarter", "basis",
                               "explanation")}), problems


def _explain(r) -> str:
    name, when = POOL_ZH.get(r.pool, r.pool), quarter_zh(r.quarter) if r.quarter else "未注明季度"
    if r.basis == "无预拨方案":
        return f"{when}{name}：无预拨方案，实际预拨 {yuan_display(r.prepaid)} 元"
    weight = r.weight_exact if isinstance(r.weight_exact, Decimal) else Decimal(0)
    text = (f"{when}{name}预拨方案：医共体本季度资金 {yuan_display(r.share)} 元"
            f" × 预拨比例 {Decimal(str(r.ratio)).normalize():f} = {yuan_display(r.quarter_pool)} 元，"
            f"依据{r.basis}（本单位权重 {weight.normalize():f}，层级资金 "
            f"{yuan_display(r.tier_pool)} 元）分得 {yuan_display(r.planned)} 元")
    if r.from_plan:
        return text + "；未录入该资金的预拨款，按方案计为已预拨"
    return text + f"；实际预拨 {yuan_display(r.prepaid)} 元，差额 {yuan_display(r.difference)} 元"


def _difference(pool: str, unit_id: str, rows: pd.DataFrame) -> Problem:
    parts = [f"{quarter_zh(q) if q else '未注明季度'} 实际 {yuan_display(a)} 元 / 方案 "
             f"{yuan_display(p)} 元（差额 {yuan_display(d)} 元）" for q, a, p, d in
             zip(rows["quarter"].fillna(""), rows["prepaid"], rows["planned"], rows["difference"])]
    return Problem(
        "public_health.plan_difference", "warning", "prepayments",
        f"单位 {unit_id} 的{POOL_ZH.get(pool, pool)}实际预拨与季度预拨方案不一致：{'；'.join(parts)}"
        "（年终按实际预拨清算）",
        f"unit {unit_id}, pool {pool}: prepayments differ from the quarterly plan in "
        f"{', '.join(q or 'no quarter' for q in rows['quarter'].fillna(''))}",
        column="amount", value=str(unit_id))
