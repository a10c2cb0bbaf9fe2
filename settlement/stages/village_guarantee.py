"""Village clinics' guaranteed income (村卫生室保底收入, seed 004).

Seed 004: 对享受4.8万元保底收入的村卫生室一村一策核定工作数量和质量，将考核结果与兑现补助挂钩.
Each listed clinic (``village_guarantee.clinics``) is guaranteed ``amount`` a year, scaled by
its assessment (``assessment_rule`` applied to the unit's score in ``performance_scores``);
the settlement's own payments to it count first, and a named pool (``pool``, e.g. the county
budget) pays the rest::

    guaranteed = amount × coefficient(score)
    income     = Σ the clinic's entitlements of the year (``unit_funds``: package share,
                 chronic capitation, public health …) + its family-doctor fees
    subsidy    = max(0, guaranteed − income)

Example: 48,000.00 × 0.92 (score 92, proportional) = 44,160.00; income 30,500.00 → subsidy
13,660.00; income 50,000.00 → subsidy 0.00.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from settlement.money import fen_of, mul_fen, yuan_display
from settlement.params import VillageGuaranteeParams
from settlement.problems import Problem
from settlement.rules import describe_rule, score_coefficient_exact

COLUMNS = ["unit_id", "community_id", "pool", "guarantee", "score", "coefficient", "guaranteed",
           "settlement_income", "family_doctor_fees", "subsidy", "explanation"]


class GuaranteeResult(NamedTuple):
    table: pd.DataFrame
    problems: list[Problem]


def village_guarantee(params: VillageGuaranteeParams, units: pd.DataFrame,
                      performance_scores: pd.DataFrame, unit_funds: pd.DataFrame,
                      family_doctor_units: pd.DataFrame | None = None) -> GuaranteeResult:
    """One row per guaranteed clinic (int64 fen); unknown or non-village ids are reported."""
    if not params.clinics:
        return GuaranteeResult(pd.DataFrame(columns=COLUMNS), [])
    by_id = units.set_index(units["unit_id"].astype(str))
    scores = performance_scores.loc[performance_scores["entity_type"] == "unit"]
    score_of = dict(zip(scores["entity_id"].astype(str), scores["score"]))
    income = unit_funds.groupby(unit_funds["unit_id"].astype(str))["entitlement"].sum()
    fees = pd.Series(dtype="int64")
    if family_doctor_units is not None and len(family_doctor_units):
        paid = family_doctor_units.loc[family_doctor_units["payee_id"] == family_doctor_units["unit_id"]]
        fees = paid.groupby(paid["unit_id"].astype(str))["amount"].sum()
    rows, problems = [], []
    for uid in params.clinics:
        if uid not in by_id.index or by_id.at[uid, "category"] != "village_clinic":
            problems.append(Problem("village_guarantee.unknown_clinic", "warning", "config",
                                    f"保底收入名单中的 {uid} 不是村卫生室，已忽略",
                                    f"{uid} in village_guarantee.clinics is not a village clinic",
                                    file="village_guarantee.clinics", value=uid))
            continue
        rows.append(_row(uid, str(by_id.at[uid, "community_id"]), params, score_of.get(uid),
                         int(income.get(uid, 0)), int(fees.get(uid, 0)), problems))
    table = pd.DataFrame(rows, columns=COLUMNS)
    money = ["guarantee", "guaranteed", "settlement_income", "family_doctor_fees", "subsidy"]
    table[money] = table[money].astype("int64")
    return GuaranteeResult(table.astype({"unit_id": "string", "community_id": "string",
                                         "pool": "string", "explanation": "string"}), problems)


def _row(uid: str, cid: str, params: VillageGuaranteeParams, score, income: int, fees: int,
         problems: list[Problem]) -> dict:
    amount = fen_of(params.amount)
    if score is None or pd.isna(score):
        problems.append(Problem("village_guarantee.no_score", "warning", "performance_scores",
                                f"村卫生室 {uid} 没有考核得分，保底收入按系数 0 计",
                                f"village clinic {uid} has no score", value=uid))
        score = 0.0
    coefficient = score_coefficient_exact(score, params.assessment_rule)
    guaranteed = mul_fen(amount, coefficient)
    subsidy = max(0, guaranteed - income - fees)
    y = yuan_display
    text = (f"保底收入 {y(amount)} × 考核系数 {coefficient.normalize()}（得分 {score}，"
            f"{describe_rule(params.assessment_rule)}）= {y(guaranteed)}；本年结算收入 {y(income)}"
            + (f" + 家庭医生签约服务费 {y(fees)}" if fees else "")
            + f"；保底补助 = 保底收入 {y(guaranteed)} − 本年收入 {y(income + fees)}（不足 0 按 0）= {y(subsidy)}，"
              f"由{params.pool}支付")
    return {"unit_id": uid, "community_id": cid, "pool": params.pool, "guarantee": amount,
            "score": float(score), "coefficient": float(coefficient), "guaranteed": guaranteed,
            "settlement_income": income, "family_doctor_fees": fees, "subsidy": subsidy,
            "explanation": text}
