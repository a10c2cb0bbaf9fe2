"""Point value and hospital settlement (点值测算与医院年度清算), in exact fen.

Settlement point value (结算点值), DOMAIN §2.2::

    computed   pv = (fund_budget ÷ reimbursement_ratio) ÷ Σ points, half up to N decimals
    published  pv = the bureau's published value, as given
    DRG rate   pv = drg_rate_per_rw ÷ drg_points_per_rw   (payment = RW × rate)

Per member unit h (small table: one Python step per unit is fine)::

    gross_value = Σ points_h × pv                      ONE rounding to fen (fen_of, exact)
    fund_due    = gross_value + at_cost − self_pay − violation_deduction
    withheld    = max(fund_due, 0) × quality_withhold_rate          (质量保证金)
    returned    = withheld × f(score_h)                 (rules.score_coefficient_exact)
    fund_paid   = fund_due − withheld + returned
    balance     = fund_paid − prepaid                   (prepaid: Σ prepayments, fund 'dip')

``at_cost`` is the fund_paid of unmatched cases paid at cost (no points). Case-level
gross_value is points × pv rounded per case (information for the case list); the unit's
gross is rounded once from its exact Σ points, and ``case_rounding`` = unit gross − Σ case
gross names the difference. The monthly pre-settlement view re-prices the same points at
the budget point value (预算点值).

Example (issue 3): budget 800,000,000, ratio 0.64, Σ points 62,500,000 → pv 20.00; a unit
with 1,000,000 points and 7,200,000 self-pay: gross 20,000,000.00, fund due 12,800,000.00,
withheld 5 % = 640,000.00, score 90 proportional → returned 576,000.00, paid 12,736,000.00.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

import numpy as np
import pandas as pd

from settlement.dip.methods import POINT_VALUE_METHODS, point_value_method
from settlement.money import fen_of, mul_fen
from settlement.params import DipParams
from settlement.problems import Problem
from settlement.rules import score_coefficient_exact


@dataclass(frozen=True)
class PointValue:
    """Settlement and budget point values (元/分) and the pool they come from."""

    settlement: Decimal  # 结算点值 (year-end clearing)
    budget: Decimal  # 预算点值 (monthly pre-settlement)
    method: str  # computed / published / drg_rate
    formula_value: Decimal | None  # unrounded (budget ÷ ratio) ÷ Σ points, for information
    pool: int  # fen: fund_budget ÷ reimbursement_ratio (DIP 总额)
    total_points: Decimal


def settlement_point_value(total_points: Decimal, params: DipParams) -> tuple[PointValue,
                                                                             list[Problem]]:
    """The point value of the year; an error problem when it cannot be computed."""
    problems: list[Problem] = []
    with localcontext() as ctx:
        ctx.prec = 60
        pool_exact = params.fund_budget / params.reimbursement_ratio
        formula = pool_exact / total_points if total_points > 0 else None
        method = point_value_method(params)
        value = POINT_VALUE_METHODS[method](params, formula)
        if value is None:
            value = Decimal(0)
            problems.append(Problem("dip.point_value", "error", "inpatient_cases",
                                    "全部病例分值合计为 0，无法测算结算点值",
                                    "total points are 0: the point value cannot be computed"))
    return PointValue(value, params.budget_point_value, method, formula, fen_of(pool_exact),
                      total_points), problems


def sum_by(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Exact int64 sums of integer (or bool) ``values`` by ``codes`` (0 ≤ code < n)."""
    out = np.zeros(n, dtype="int64")
    np.add.at(out, codes, np.asarray(values).astype("int64", copy=False))
    return out


def points_decimal(point_units: int, decimals: int) -> Decimal:
    return Decimal(int(point_units)).scaleb(-decimals)


def price(point_units: pd.Series, value: Decimal, decimals: int) -> pd.Series:
    """fen_of(points × value) per row: the one rounding of a unit's (or community's) money."""
    with localcontext() as ctx:
        ctx.prec = 60
        fen = [fen_of(points_decimal(p, decimals) * value) for p in point_units]
    return pd.Series(fen, index=point_units.index, dtype="int64")


def settle_units(agg: pd.DataFrame, pv: PointValue, scores: pd.DataFrame,
                 prepaid: pd.Series, params: DipParams) -> tuple[pd.DataFrame, list[Problem]]:
    """dip_units from the per-unit aggregates (see :func:`settlement.dip.cases.aggregate`)."""
    out = price_groups(agg, pv, params.case_points_decimals)
    out["point_value"] = str(pv.settlement)
    out["case_rounding"] = out["gross_value"] - out["case_gross_value"]
    out = quality_withhold(out, scores, params)
    out["fund_paid"] = out["fund_due"] - out["withheld"] + out["returned"]
    out["prepaid"] = out["unit_id"].map(prepaid).fillna(0).astype("int64")
    out["balance"] = out["fund_paid"] - out["prepaid"]
    return budget_view(out, pv, params.case_points_decimals), _unit_problems(out)


def quality_withhold(units: pd.DataFrame, scores: pd.DataFrame, params: DipParams) -> pd.DataFrame:
    """withheld = max(fund_due, 0) × rate; returned = withheld × f(score) (质量保证金)."""
    out = units.copy()
    unit_scores = scores.loc[scores["entity_type"].eq("unit")]
    by_unit = pd.Series(unit_scores["score"].to_numpy(dtype="float64"),
                        index=unit_scores["entity_id"].astype(str))
    out["score"] = out["unit_id"].map(by_unit).astype("float64")
    coef = [Decimal(0) if np.isnan(s) else score_coefficient_exact(s, params.quality_score_rule)
            for s in out["score"]]
    withheld = [mul_fen(max(int(f), 0), params.quality_withhold_rate) for f in out["fund_due"]]
    out["score_coefficient"] = [str(c) for c in coef]
    out["withheld"] = pd.Series(withheld, index=out.index, dtype="int64")
    out["returned"] = pd.Series([mul_fen(w, c) for w, c in zip(withheld, coef)], index=out.index,
                                dtype="int64")
    return out


def budget_view(units: pd.DataFrame, pv: PointValue, decimals: int) -> pd.DataFrame:
    """Monthly pre-settlement view: the same points at the budget point value (预算点值)."""
    out = units.copy()
    out["budget_point_value"] = str(pv.budget)
    out["gross_value_budget"] = price(out["point_units"], pv.budget, decimals)
    out["fund_due_budget"] = (out["gross_value_budget"] + out["at_cost"] - out["self_pay"]
                              - out["violation_deduction"])
    out["point_value_effect"] = out["gross_value"] - out["gross_value_budget"]
    return out


def _unit_problems(units: pd.DataFrame) -> list[Problem]:
    problems = []
    for uid in units.loc[units["score"].isna() & units["cases"].gt(0), "unit_id"]:
        problems.append(Problem("dip.unit_score", "error", "performance_scores",
                                f"成员单位 {uid} 缺少考核得分，无法计算质量保证金返还",
                                f"unit {uid} has no performance score", column="entity_id",
                                value=str(uid)))
    for uid in units.loc[units["fund_due"].lt(0), "unit_id"]:
        problems.append(Problem("dip.negative_fund_due", "warning", "inpatient_cases",
                                f"成员单位 {uid} 基金应付为负数（个人负担与违规扣款超过分值金额），"
                                f"不预留质量保证金", f"unit {uid}: fund due is negative",
                                value=str(uid)))
    return problems


def dip_prepaid(prepayments: pd.DataFrame | None) -> pd.Series:
    """Σ prepayments with fund 'dip' by payee (fen)."""
    if prepayments is None or prepayments.empty:
        return pd.Series(dtype="int64")
    dip = prepayments.loc[prepayments["fund"].eq("dip")]
    return dip.groupby(dip["payee_id"].astype(str))["amount"].sum().astype("int64")


def price_groups(agg: pd.DataFrame, pv: PointValue, decimals: int) -> pd.DataFrame:
    """points, gross (one rounding per row) and fund_due of an aggregate (by unit or community)."""
    out = agg.copy()
    out["points"] = out["point_units"] / 10.0 ** decimals
    out["gross_value"] = price(out["point_units"], pv.settlement, decimals)
    out["fund_due"] = (out["gross_value"] + out["at_cost"] - out["self_pay"]
                       - out["violation_deduction"])
    return out
