"""Family-doctor contract fees (家庭医生签约服务费, seed 002) as a package expenditure line.

Seed 002 has the community pay, from its package, the fund's part of the family-doctor
contract fees. The input ``family_doctor_fees`` gives per signing unit and period the signed
persons and the fund's amount. With ``family_doctor.in_package`` the year's fees of a
community's member units become the package line ``family_doctor_fees`` (an ``other_lines``
row of :mod:`expenditure`); with ``distribute_to_units`` each signing unit is the payee of
its own fees, otherwise the community's lead hospital receives them all::

    T001: 2025Q1 1,050 signed 2,625.00 + … + 2025Q4 1,062 signed 2,655.00 → 10,520.00
    community GT01: Σ of its units → line 家庭医生签约服务费 105,200.00

Fees of a period outside the settlement year, or of a unit that is not a member of a
community, are left out with a warning naming the row.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from settlement.money import yuan_display
from settlement.params import FamilyDoctorParams
from settlement.problems import Problem
from settlement.vocabulary import community_of_members

LINE = "family_doctor_fees"
LABEL_ZH = "家庭医生签约服务费（医保基金支付部分）"
UNIT_COLUMNS = ["unit_id", "community_id", "payee_id", "periods", "signed_persons", "amount",
                "explanation"]


class FamilyDoctorResult(NamedTuple):
    lines: pd.DataFrame | None  # other_lines rows (community_id, line, label_zh, amount)
    units: pd.DataFrame  # per signing unit: its fees and who receives them
    signed: pd.Series  # community_id → signed persons (mean over the year's periods)
    problems: list[Problem]


def settle_family_doctor(fees: pd.DataFrame | None, units: pd.DataFrame, communities: pd.DataFrame,
                         params: FamilyDoctorParams, year: int) -> FamilyDoctorResult:
    """The year's fees per unit and per community (int64 fen)."""
    empty = pd.DataFrame({c: pd.Series(dtype="string" if c in ("unit_id", "community_id",
                                                                 "payee_id", "explanation")
                                       else "int64") for c in UNIT_COLUMNS})
    if fees is None or fees.empty:
        return FamilyDoctorResult(None, empty, pd.Series(dtype="int64"), [])
    community_of = community_of_members(units).to_dict()
    lead_of = dict(zip(communities["community_id"].astype(str),
                       communities["lead_unit_id"].astype(str)))
    in_year = fees["period"].astype(str).str.startswith(str(year))
    known = fees["unit_id"].astype(str).isin(community_of)
    problems = [_left_out(fees, row, "所属期间不在结算年度内" if not in_year[row] else
                          "签约机构不是医共体成员单位") for row in fees.index[~(in_year & known)]]
    kept = fees.loc[in_year & known]
    per = kept.groupby(kept["unit_id"].astype(str)).agg(
        periods=("period", "nunique"), signed=("signed_persons", "sum"), amount=("amount", "sum"))
    per["community_id"] = per.index.map(community_of)
    per["payee_id"] = (per.index.to_series() if params.distribute_to_units
                       else per["community_id"].map(lead_of))
    per["signed_persons"] = per["signed"] // per["periods"].clip(lower=1)
    per["explanation"] = [_explain(u, r, params.distribute_to_units) for u, r in per.iterrows()]
    table = per.reset_index(names="unit_id")[UNIT_COLUMNS].astype(
        {"unit_id": "string", "community_id": "string", "payee_id": "string",
         "explanation": "string", "periods": "int64", "signed_persons": "int64",
         "amount": "int64"})
    by_community = table.groupby("community_id")["amount"].sum()
    lines = None
    if params.in_package and len(by_community):
        lines = pd.DataFrame({"community_id": pd.array(by_community.index, dtype="string"),
                              "line": LINE, "label_zh": LABEL_ZH,
                              "amount": by_community.astype("int64").to_numpy()})
    signed = table.groupby("community_id")["signed_persons"].sum().astype("int64")
    return FamilyDoctorResult(lines, table, signed, problems)


def _explain(unit_id: str, r, distributed: bool) -> str:
    payee = "拨付本机构" if distributed else f"由牵头医院 {r.payee_id} 统一收取"
    return (f"{unit_id}：{int(r.periods)} 期，平均签约 {int(r.signed_persons):,} 人，"
            f"医保基金支付签约服务费合计 {yuan_display(int(r.amount))}，{payee}")


def _left_out(fees: pd.DataFrame, row, why: str) -> Problem:
    return Problem("family_doctor.left_out", "warning", "family_doctor_fees",
                   f"家庭医生签约服务费第 {row} 行（{fees.at[row, 'unit_id']}，"
                   f"{fees.at[row, 'period']}）{why}，未计入打包支出",
                   f"family-doctor fee row {row} left out", row=int(row), column="unit_id",
                   value=str(fees.at[row, "unit_id"]))
