"""Year-end clearing with the recorded monthly pre-settlements (年度清算与月度预结算), pure.

The year-end run receives the engine's own recorded months (unit_id, month, paid; see
:mod:`settlement.monthly.recorded`) and the ``prepayments`` input table:

- ``prepayments`` has no row of fund ``dip``: the recorded months are the DIP prepaid — one
  prepayment row per unit and month (payment_id ``月度预结算-<month>-<unit>``), so the DIP
  balance is fund_paid − Σ paid of the months;
- it has DIP rows: they stay the prepaid (the bureau's own record of what it paid), and every
  (unit, month) where the two differ is a warning ``dip.presettlement_mismatch`` in 校验, with
  the unit, the month and both amounts.
"""

from __future__ import annotations

import pandas as pd

from settlement.money import yuan_display as yuan
from settlement.problems import Problem

RULE = "dip.presettlement_mismatch"


def with_recorded_months(prepayments: pd.DataFrame | None,
                         recorded: pd.DataFrame | None) -> tuple[pd.DataFrame | None, list[Problem]]:
    """(the prepayments the year-end run uses, the reconciliation warnings)."""
    if recorded is None or recorded.empty:
        return prepayments, []
    dip_rows = (prepayments.loc[prepayments["fund"].eq("dip")]
                if prepayments is not None and len(prepayments) else None)
    if dip_rows is None or dip_rows.empty:
        return _append_months(prepayments, recorded), [_used_note(recorded)]
    return prepayments, mismatches(dip_rows, recorded)


def _append_months(prepayments: pd.DataFrame | None, recorded: pd.DataFrame) -> pd.DataFrame:
    months = pd.DataFrame({
        "payment_id": [f"月度预结算-{m}-{u}" for m, u in zip(recorded["month"], recorded["unit_id"])],
        "payee_id": recorded["unit_id"].astype(str).to_numpy(), "fund": "dip",
        "period": recorded["month"].astype(str).to_numpy(),
        "amount": recorded["paid"].astype("int64").to_numpy()})
    if prepayments is None or prepayments.empty:
        return months.astype({c: "string" for c in ("payment_id", "payee_id", "fund", "period")})
    months = months.astype({c: prepayments[c].dtype for c in months.columns})
    start = int(prepayments.index.max()) + 1 if len(prepayments) else 0
    months.index = range(start, start + len(months))
    return pd.concat([prepayments, months]).reindex(columns=prepayments.columns)


def _used_note(recorded: pd.DataFrame) -> Problem:
    months = sorted(set(recorded["month"].astype(str)))
    return Problem("dip.presettlement_recorded", "warning", "prepayments",
                   f"预付款表无 DIP 预结算记录，按本系统记录的 {len(months)} 个月度预结算（{months[0]} 至 "
                   f"{months[-1]}，合计 {yuan(int(recorded['paid'].sum()))} 元）作为已预结算金额清算",
                   "no dip prepayments given: the recorded monthly pre-settlements are the prepaid")


def mismatches(dip_rows: pd.DataFrame, recorded: pd.DataFrame) -> list[Problem]:
    """One warning per (unit, month) where the prepayments and the recorded months differ."""
    given = dip_rows.groupby([dip_rows["payee_id"].astype(str).rename("unit_id"),
                              dip_rows["period"].astype(str).rename("month")])["amount"].sum()
    ours = recorded.assign(unit_id=recorded["unit_id"].astype(str),
                           month=recorded["month"].astype(str)).groupby(["unit_id", "month"])["paid"].sum()
    both = pd.concat({"given": given, "ours": ours}, axis=1).fillna(0).astype("int64")
    out = []
    for (unit, month), a, b in zip(both.index, both["given"], both["ours"]):
        if a != b:
            out.append(Problem(
                RULE, "warning", "prepayments",
                f"DIP 月度预结算不一致：单位 {unit} {month} 预付款表 {yuan(int(a))} 元，本系统记录的月度预结算 "
                f"{yuan(int(b))} 元，差额 {yuan(int(a - b))} 元（清算按预付款表）",
                f"dip pre-settlement mismatch: {unit} {month}: prepayments {a} fen, recorded {b} fen",
                column="amount", value=f"{unit} {month}"))
    return out
