"""Distribution to member units (分配到成员单位, DOMAIN §2.4).

The surplus a community retains — or the overrun it bears — is split in two steps, each by
the one allocator (:func:`settlement.allocate.allocate`):

1. into **tier pools** by the configured ratios (e.g. county hospitals : township centres :
   village clinics = 6 : 3 : 1) with floors (e.g. villages ≥ 10 % of the amount); a tier with
   no unit in the community drops out and the others share its ratio;
2. within a tier by **weight = base measure × performance coefficient** (base measure:
   service population, DIP points or public-health work points; coefficient from the unit's
   score by ``unit_score_rule``).

Private hospitals (社会办医疗机构) are their own tier (a tier listing category ``private``) or
excluded (``private_hospitals``). The overrun the community bears is split the same way
(``overrun_rule: same_as_surplus``) or among all distributing units by their DIP fund due
(``by_dip_fund_due``). Shares are positive amounts: ``surplus_share`` received,
``overrun_share`` borne; ``net`` = surplus_share − overrun_share.

Example: 15,740,000.00 retained, 6 : 3 : 1 → county 9,444,000.00, township 4,722,000.00,
village 1,574,000.00 (floor 10 % = 1,574,000.00 holds); two township centres serving 30,000 and
10,000 people with scores 100 and 80 weigh 30,000 × 1.0 and 10,000 × 0.8 → 4,722,000.00 ×
30,000 / 38,000 = 3,727,894.736… and 994,105.263… → 3,727,894.74 and 994,105.26 (largest
remainder: the last fen goes to the larger fraction).

A tier may set its own ``base_measure`` (e.g. hospitals by DIP points, villages by service
population); weights are exact (base × Decimal coefficient as a fraction), so equal weights
tie exactly and the allocator breaks the tie by unit id.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

import pandas as pd

from settlement.allocate import AllocationError, allocate, share_floor
from settlement.money import yuan_display
from settlement.params import DistributionParams, Tier
from settlement.problems import Problem
from settlement.rules import describe_rule, rate_text, score_coefficient_exact
from settlement.stage import bracketed, uncited
from settlement.stages.finite import bad_values, nonfinite_problems
from settlement.vocabulary import member_units

DISTRIBUTION_COLUMNS = [  # CONTRACT.md unit_distribution, then the working
    "unit_id", "community_id", "tier", "weight", "performance_coefficient", "surplus_share",
    "overrun_share", "unit_name", "category", "tier_label", "base_measure", "base_value", "score",
    "tier_pool_surplus", "tier_pool_overrun", "net", "explanation",
]
EXCLUDED = "excluded"
BASE_LABELS = {"service_population": "服务人口", "dip_points": "DIP 分值", "work_points": "工分",
               "dip_fund_due": "DIP 基金应付"}


def unit_measures(dip_units: pd.DataFrame | None = None,
                  workpoints: pd.DataFrame | None = None) -> pd.DataFrame:
    """Base measures per unit from the DIP unit settlement and public-health work points.

    Returns unit_id, dip_points (Σ points), dip_fund_due (fen), work_points (Σ over periods).
    """
    parts = []
    if dip_units is not None:
        d = dip_units.set_index(dip_units["unit_id"].astype(str))
        parts.append(pd.DataFrame({"dip_points": d["points"].astype("float64"),
                                   "dip_fund_due": d["fund_due"].astype("int64")}))
    if workpoints is not None:
        parts.append(workpoints["work_points"].astype("float64")
                     .groupby(workpoints["unit_id"].astype(str)).sum().rename("work_points").to_frame())
    frame = pd.concat(parts, axis=1) if parts else pd.DataFrame()
    frame.index.name = "unit_id"
    return frame.reset_index()


class DistributionResult(NamedTuple):
    table: pd.DataFrame  # unit_distribution
    problems: list[Problem]


def distribute(
    community_settlement: pd.DataFrame,
    units: pd.DataFrame,
    performance_scores: pd.DataFrame,
    params: DistributionParams,
    measures: pd.DataFrame | None = None,
    cite: Callable[[str], str] = uncited,
) -> DistributionResult:
    """The ``unit_distribution`` table: one row per member unit of each settled community.

    ``measures``: from :func:`unit_measures` (needed for base measures dip_points / work_points
    and overrun_rule by_dip_fund_due). Per community, Σ surplus_share == surplus_retained and
    Σ overrun_share == overrun_community_share, exactly. ``cite(path)``: documents quoted.
    """
    problems: list[Problem] = []
    table = _unit_table(units, performance_scores, params, measures, problems)
    frames = []
    for row in community_settlement.itertuples(index=False):  # a handful of communities
        cid = str(row.community_id)
        members = table.loc[table["community_id"] == cid].copy()
        members["surplus_share"], members["tier_pool_surplus"], surplus_text = _split(
            int(row.surplus_retained), members, params, "结余留用", problems, cid)
        members["overrun_share"], members["tier_pool_overrun"], overrun_text = OVERRUN_RULES[
            params.overrun_rule].split(int(row.overrun_community_share), members, params,
                                       problems, cid)
        members["explanation"] = _explain(members, surplus_text, overrun_text, params,
                                          bracketed(cite, "distribution.tiers"))
        frames.append(members)
    out = pd.concat(frames, ignore_index=True) if frames else table.iloc[0:0].assign(
        surplus_share=0, overrun_share=0, tier_pool_surplus=0, tier_pool_overrun=0, explanation="")
    for col in ("surplus_share", "overrun_share", "tier_pool_surplus", "tier_pool_overrun"):
        out[col] = out[col].astype("int64")
    out["net"] = out["surplus_share"] - out["overrun_share"]
    out["weight"] = out["weight_exact"].map(float).astype("float64")
    for col in ("unit_id", "community_id", "tier", "unit_name", "category", "tier_label",
                "base_measure", "explanation"):
        out[col] = out[col].astype("string")
    return DistributionResult(out[DISTRIBUTION_COLUMNS], problems)


def _unit_table(units: pd.DataFrame, scores: pd.DataFrame, params: DistributionParams,
                measures: pd.DataFrame | None, problems: list[Problem]) -> pd.DataFrame:
    """Member units with tier, base value, score, coefficient and exact weight."""
    member = member_units(units)
    t = pd.DataFrame({"unit_id": member["unit_id"].astype(str).to_numpy(),
                      "unit_name": member["unit_name"].astype(str).to_numpy(),
                      "community_id": member["community_id"].astype(str).to_numpy(),
                      "category": member["category"].astype(str).to_numpy(),
                      "service_population": member["service_population"].fillna(0)
                      .astype("int64").to_numpy()})
    t["tier"] = t["category"].map(_tier_of(params, problems)).fillna(EXCLUDED)
    by_tier = {tier.tier: tier for tier in params.tiers}
    t["tier_label"] = t["tier"].map({k: v.label_zh for k, v in by_tier.items()} | {EXCLUDED: "不参与分配"})
    t["base_measure"] = t["tier"].map(
        {k: v.base_measure or params.base_measure for k, v in by_tier.items()}).fillna(params.base_measure)
    for name in ("dip_points", "work_points", "dip_fund_due"):
        t[name] = _measure(t, measures, name)
    _check_measures(t, measures, params, problems)
    t["base_value"] = [row[base] for row, base in zip(t.to_dict("records"), t["base_measure"])]
    _finite_base(t, problems)
    unit_scores = scores.loc[scores["entity_type"] == "unit"]
    t["score"] = t["unit_id"].map(dict(zip(unit_scores["entity_id"].astype(str),
                                           unit_scores["score"]))).astype("float64")
    coefficient = []
    for uid, tier, score in zip(t["unit_id"], t["tier"], t["score"]):  # member units: hundreds
        if pd.isna(score):
            if tier != EXCLUDED:
                problems.append(Problem("distribution.score_missing", "error", "performance_scores",
                                        f"成员单位 {uid} 缺少考核得分，无法计算绩效系数（暂按 0）",
                                        f"unit {uid} has no assessment score", value=uid))
            coefficient.append(Decimal(0))
        else:
            coefficient.append(score_coefficient_exact(Decimal(str(score)), params.unit_score_rule))
    t["performance_coefficient"] = [float(c) for c in coefficient]
    t["weight_exact"] = [Fraction(str(b)) * Fraction(c) for b, c in zip(t["base_value"], coefficient)]
    order = {tier.tier: i for i, tier in enumerate(params.tiers)}
    t["_order"] = t["tier"].map(order).fillna(len(order))
    t = t.sort_values(["community_id", "_order", "unit_id"], kind="stable")
    return t.drop(columns="_order").reset_index(drop=True)


def _finite_base(t: pd.DataFrame, problems: list[Problem]) -> None:
    """A base measure that is NaN, ±inf or beyond int64 weighs 0, with an error problem."""
    bad = bad_values(pd.to_numeric(t["base_value"], errors="coerce").to_numpy(dtype="float64"))
    if bad.any():
        problems += nonfinite_problems("distribution.weight_not_finite", "unit_distribution",
                                       "分配基数", "distribution base measure", [None] * int(bad.sum()),
                                       t.loc[bad, "base_value"], "base_value",
                                       t.loc[bad, "unit_id"])
        t.loc[bad, "base_value"] = 0


def _tier_of(params: DistributionParams, problems: list[Problem]) -> dict[str, str]:
    tier_of = {}
    for tier in params.tiers:
        for category in tier.categories:
            if category == "private" and params.private_hospitals == EXCLUDED:
                continue
            tier_of.setdefault(category, tier.tier)
    if params.private_hospitals == "own_tier" and "private" not in tier_of:
        problems.append(Problem("distribution.private_tier", "error", "config",
                                "社会办医疗机构设为单独分配层级，但层级配置中没有 private 类别的层级",
                                "private_hospitals is own_tier but no tier lists category private"))
    return tier_of


def _measure(t: pd.DataFrame, measures: pd.DataFrame | None, name: str) -> pd.Series:
    if measures is None or name not in measures:
        return pd.Series(0, index=t.index, dtype="int64" if name == "dip_fund_due" else "float64")
    values = dict(zip(measures["unit_id"].astype(str), measures[name]))
    return t["unit_id"].map(values).fillna(0)


def _check_measures(t: pd.DataFrame, measures: pd.DataFrame | None, params: DistributionParams,
                    problems: list[Problem]) -> None:
    needed = set(t.loc[t["tier"] != EXCLUDED, "base_measure"]) - {"service_population"}
    needed |= set(OVERRUN_RULES[params.overrun_rule].measures)
    for name in sorted(needed):
        if measures is None or name not in measures:
            problems.append(Problem("distribution.measure_missing", "error", "config",
                                    f"分配基数为{BASE_LABELS[name]}，但没有提供该数据",
                                    f"distribution needs unit measure {name}"))


def _split(amount: int, members: pd.DataFrame, params: DistributionParams, what: str,
           problems: list[Problem], cid: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """amount → tier pools (ratio, floors) → units (exact weights): (shares, pools, texts)."""
    shares = pd.Series(0, index=members.index, dtype="int64")
    pools = pd.Series(0, index=members.index, dtype="int64")
    texts = pd.Series("", index=members.index, dtype="object")
    tiers = [t for t in params.tiers if (members["tier"] == t.tier).any()]
    if amount == 0 or not tiers:
        if amount and not tiers:
            _error(problems, cid, f"医共体 {cid} 没有可参与分配的成员单位，{what} {yuan_display(amount)} 无法分配")
        return shares, pools, texts
    try:
        tier_amounts = allocate(amount, pd.Series({t.tier: t.ratio for t in tiers}),
                                floors=_floors(amount, tiers))
    except AllocationError as exc:  # floors rounded up to the fen cannot all be met
        _error(problems, cid, f"医共体 {cid} {what} {yuan_display(amount)} 无法按层级保底分配：{exc}")
        return shares, pools, texts
    ratio = " : ".join(_num(t.ratio) for t in tiers)
    floors = "".join(f"，{t.label_zh}保底 {rate_text(t.floor_share)}" for t in tiers
                     if t.floor_share is not None)
    for tier in tiers:
        rows = members.index[members["tier"] == tier.tier]
        pool = int(tier_amounts[tier.tier])
        pools[rows] = pool
        weights = pd.Series(members.loc[rows, "weight_exact"].to_numpy(),
                            index=members.loc[rows, "unit_id"].to_numpy())
        head = f"{what} {yuan_display(amount)} 按 {ratio} 分层{floors}，{tier.label_zh}层级 {yuan_display(pool)}"
        if pool and sum(weights) == 0:
            _error(problems, cid, f"医共体 {cid} {tier.label_zh}层级权重合计为 0，"
                                  f"{yuan_display(pool)} 暂按单位数平均分配")
            weights = pd.Series(1, index=weights.index)
            head += "（层级权重合计为 0，暂按单位数平均）"
        parts = allocate(pool, weights).reindex(weights.index)
        shares[rows] = parts.to_numpy()
        total = sum(weights)
        texts[rows] = [f"{head}；本单位 {yuan_display(pool)} × {_num(float(w))} ÷ {_num(float(total))}"
                       f" = {yuan_display(int(p))}（最大余数法取整到分）"
                       for w, p in zip(weights, parts)]
    return shares, pools, texts


def _overrun_as_surplus(amount: int, members: pd.DataFrame, params: DistributionParams,
                        problems: list[Problem], cid: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The overrun the community bears, split as its surplus would be (tier pools, weights)."""
    return _split(amount, members, params, "医共体自担超支", problems, cid)


def _overrun_by_dip_fund_due(amount: int, members: pd.DataFrame, params: DistributionParams,
                             problems: list[Problem], cid: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The overrun the community bears, among all distributing units by their DIP fund due."""
    if amount == 0:
        return _overrun_as_surplus(amount, members, params, problems, cid)
    shares = pd.Series(0, index=members.index, dtype="int64")
    pools = pd.Series(0, index=members.index, dtype="int64")
    texts = pd.Series("", index=members.index, dtype="object")
    rows = members.index[members["tier"] != EXCLUDED]
    weights = pd.Series(members.loc[rows, "dip_fund_due"].astype("int64").to_numpy(),
                        index=members.loc[rows, "unit_id"].to_numpy())
    if int(weights.sum()) == 0:
        _error(problems, cid, f"医共体 {cid} 成员单位 DIP 基金应付合计为 0，"
                              f"自担超支 {yuan_display(amount)} 无法按 DIP 应付分担")
        return shares, pools, texts
    parts = allocate(amount, weights).reindex(weights.index)
    shares[rows], pools[rows] = parts.to_numpy(), amount
    total = int(weights.sum())
    texts[rows] = [f"医共体自担超支 {yuan_display(amount)} 按 DIP 基金应付分担：{yuan_display(amount)} × "
                   f"{yuan_display(int(w))} ÷ {yuan_display(total)} = {yuan_display(int(p))}"
                   for w, p in zip(weights, parts)]
    return shares, pools, texts


class OverrunRule(NamedTuple):
    split: Callable[..., tuple[pd.Series, pd.Series, pd.Series]]
    measures: tuple[str, ...]  # unit measures the rule needs (:func:`unit_measures`)


#: ``distribution.overrun_rule`` → how the overrun the community bears reaches its units
OVERRUN_RULES: dict[str, OverrunRule] = {
    "same_as_surplus": OverrunRule(_overrun_as_surplus, ()),
    "by_dip_fund_due": OverrunRule(_overrun_by_dip_fund_due, ("dip_fund_due",)),
}


def _floors(amount: int, tiers: list[Tier]) -> pd.Series | None:
    floors = {t.tier: share_floor(amount, t.floor_share) for t in tiers
              if t.floor_share is not None}
    return pd.Series(floors, dtype="object") if floors else None


def _explain(members: pd.DataFrame, surplus_text: pd.Series, overrun_text: pd.Series,
             params: DistributionParams, source: str) -> list[str]:
    rule = describe_rule(params.unit_score_rule)
    out = []
    for i, r in zip(members.index, members.itertuples(index=False)):
        if r.tier == EXCLUDED:
            out.append("不参与结余分配与超支分担" + (
                "（社会办医疗机构按规定不参与）" if r.category == "private" else ""))
            continue
        parts = [f"权重 = {BASE_LABELS[r.base_measure]} {_num(r.base_value)} × 绩效系数 "
                 f"{_num(r.performance_coefficient)}（得分 {_num(r.score)}，{rule}）"
                 f"= {_num(float(r.weight_exact))}"]
        if surplus_text[i]:
            parts.append(surplus_text[i] + source)
        if overrun_text[i]:
            parts.append(overrun_text[i])
        out.append("；".join(parts))
    return out


def _num(value) -> str:
    if pd.isna(value):
        return "缺失"
    d = Decimal(str(value))
    if d == d.to_integral_value():
        return f"{int(d):,}"
    return format(d.normalize(), ",f")  # thousands separators (H7, issue 12)


def _error(problems: list[Problem], cid: str, zh: str) -> None:
    problems.append(Problem("distribution.unallocatable", "error", "unit_distribution", zh, value=cid))
