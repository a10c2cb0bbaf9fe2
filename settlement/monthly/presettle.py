"""Monthly DIP pre-settlement (月度预结算), pure: the month's cases → what each unit is paid.

DOMAIN §2.2: the bureau pays hospitals every month at the budget point value (预算点值) and
re-prices the whole year at the settlement point value at year end (年度清算). Per member unit
``h`` and month ``m`` (money int64 fen)::

    points_hm  = Σ points of the cases of h discharged in m   (the year's DIP scorer, by
                                                               discharge date's parameters)
    amount_hm  = fen(points_hm × budget_point_value)          ONE rounding per unit-month
                 + at_cost − self_pay − violation_deduction   (基金应付, at the budget value)
    withheld   = max(amount, 0) × quality_withhold_rate       (质量保证金, kept to year end)
    paid       = (amount − withheld) × presettlement_ratio    (本月拨付, half up to fen)
    paid_to_date = paid + Σ paid of the earlier months of the same county-year

The scoring is :func:`settlement.dip.stage.settle_dip` itself on the month's cases (no second
scorer): a case's points depend only on the case and the parameters in force on its discharge
date, so the twelve months' points are exactly the year's. The settlement point value that
``settle_dip`` also computes for the month is ignored: a month is priced at the budget value.

Example: one unit, 1,000 points at 12.50 元/分 = 12,500.00, self-pay 2,000.00 → amount
10,500.00; withheld 5 % = 525.00; paid 90 % × 9,975.00 = 8,977.50.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from settlement.money import mul_fen, yuan_display as yuan
from settlement.params import DipParams
from settlement.problems import Problem
from settlement.dip.stage import settle_dip
from settlement.vocabulary import is_member

COLUMNS = ["unit_id", "month", "points", "budget_point_value", "amount", "withheld", "paid",
           "paid_to_date"]
#: the month's working columns (statements and the bureau list show them; not stored)
DETAIL = ["unit_name", "community_id", "cases", "gross_value_budget", "at_cost", "self_pay",
          "violation_deduction", "paid_before", "explanation"]
MONEY = ["amount", "withheld", "paid", "paid_to_date", "gross_value_budget", "at_cost",
         "self_pay", "violation_deduction", "paid_before"]


@dataclass(frozen=True)
class MonthResult:
    table: pd.DataFrame  # dip_presettlement: COLUMNS + DETAIL, one row per unit
    cases: pd.DataFrame  # the month's dip_cases (scored by the year's scorer)
    problems: list[Problem] = field(default_factory=list)


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """'2025-03' → (2025-03-01, 2025-03-31); ValueError if it is not YYYY-MM."""
    first = dt.datetime.strptime(month, "%Y-%m").date()
    following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first, following - dt.timedelta(days=1)


def discharged(cases, first: dt.date | None, last: dt.date) -> pd.DataFrame:
    """The inpatient cases discharged from ``first`` (None: 1 January of ``last``'s year — a
    table used in place may hold earlier years' rows) to ``last``, inclusive, as a frame. ``cases``: a frame, a Parquet path or the loader's spilled table — a path is read
    for the case columns the DIP stage scores (:data:`settlement.dip.scan.CASE_COLUMNS`), only
    the rows of the dates (never the whole table's every column)."""
    from settlement.monthly.bulletin_tables import scan_table

    if first is None:
        first = dt.date(last.year, 1, 1)
    cases = scan_table(cases)
    if not isinstance(cases, pd.DataFrame):
        from settlement.dip.scan import CASE_COLUMNS
        from settlement.scan import Window
        from settlement.scan.frames import columns_of, read

        window = Window(pd.Timestamp(first), pd.Timestamp(last) + pd.Timedelta(days=1))
        return read(cases, [c for c in CASE_COLUMNS if c in columns_of(cases)], window=window,
                    date_column="discharge_date")
    day = cases["discharge_date"].dt.date
    return cases.loc[(day >= first) & (day <= last)]


def cases_of_month(cases, month: str) -> pd.DataFrame:
    """The inpatient cases discharged in ``month`` (YYYY-MM), a frame (see :func:`discharged`)."""
    return discharged(cases, *month_bounds(month))


def presettle_month(t: dict[str, pd.DataFrame], params: DipParams, month: str,
                    paid_before: pd.Series | None = None,
                    dated: list[tuple] | None = None) -> MonthResult:
    """The month's pre-settlement per member unit from the year's input frames ``t``.

    ``paid_before``: Σ paid of the earlier months by unit_id (fen), from the run store.
    Units paid in earlier months but without cases this month get a row with paid 0.
    """
    problems: list[Problem] = []
    if params.presettlement_ratio is None:
        problems.append(Problem("dip.presettlement_ratio", "error", "config",
                                "缺少参数 dip.presettlement_ratio（月度预结算拨付比例），无法进行月度预结算",
                                "parameter dip.presettlement_ratio is missing", column="dip.presettlement_ratio"))
        return MonthResult(_empty(), pd.DataFrame(), problems)
    before = (paid_before if paid_before is not None else pd.Series(dtype="int64")).astype("int64")
    month_cases = cases_of_month(t["inpatient_cases"], month)
    units, dip_cases = _scored_units(t, month_cases, params, dated, problems)
    if units.empty and before.empty:
        problems.append(Problem("dip.presettlement_empty", "warning", "inpatient_cases",
                                f"{month} 没有成员单位出院病例，本月无 DIP 预结算",
                                f"no member-unit cases discharged in {month}"))
    table = price_month(units, before, t["units"], params, month)
    return MonthResult(table, dip_cases, problems)


def year_to_date_cases(t: dict[str, pd.DataFrame], params: DipParams, month: str,
                       dated: list[tuple] | None = None, since: str | None = None) -> pd.DataFrame:
    """dip_cases of the cases discharged from 1 January to the end of ``month``, priced at the
    budget point value (the monthly bulletin's CMI, DIP spend and execution progress), each
    with its case's ``discharge_date`` (the bulletin's periods are date windows of them).
    ``since`` (YYYY-MM): from that month on only (the months before are recorded figures).
    Bounded on both sides: a case table used where it lies (the user's own Parquet,
    :mod:`settlement.in_place`) may hold other years' rows, which the month does not hold."""
    from settlement.monthly.bulletin_tables import with_discharge

    first, last = month_bounds(month)
    start = first.replace(month=1) if since is None else month_bounds(since)[0]
    ytd = discharged(t["inpatient_cases"], start, last)
    at_budget = {"point_value_mode": "published", "published_point_value": params.budget_point_value,
                 "payment_method": "dip"}
    priced = params.model_copy(update=at_budget)
    dated = [(a, b, p.model_copy(update=at_budget)) for a, b, p in dated] if dated else None
    dip = settle_dip(ytd, t["units"], t["dip_groups"], t["dip_reference_costs"],
                     t["performance_scores"], None, priced, explain="none", dated=dated).cases
    return with_discharge(dip, ytd)


def _scored_units(t, month_cases, params, dated, problems) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The month's dip_units (points, at_cost, self_pay, violation) by the year's DIP stage."""
    member = is_member(t["units"])
    at_member = month_cases["unit_id"].astype(str).isin(set(t["units"].loc[member, "unit_id"].astype(str)))
    if not at_member.any():
        return pd.DataFrame(), pd.DataFrame()
    dip = settle_dip(month_cases, t["units"], t["dip_groups"], t["dip_reference_costs"],
                     t["performance_scores"], None, params, explain="none", dated=dated)
    problems += [p for p in dip.problems if p.rule not in ("dip.unit_score", "dip.point_value")]
    units = dip.units.copy()  # settle_dip hands points as float: back to the exact integer units
    units["point_units"] = np.rint(units["points"] * 10.0 ** params.case_points_decimals).astype("int64")
    return units, dip.cases


def price_month(units: pd.DataFrame, paid_before: pd.Series, all_units: pd.DataFrame,
                params: DipParams, month: str) -> pd.DataFrame:
    """The pre-settlement rows from the month's per-unit points and deductions."""
    units = _with_paid_units(units, paid_before, all_units)
    if units.empty:
        return _empty()
    from settlement.dip.settle import price

    out = pd.DataFrame({"unit_id": units["unit_id"].astype(str).to_numpy(), "month": month})
    out["points"] = (units["point_units"] / 10.0 ** params.case_points_decimals).to_numpy()
    out["budget_point_value"] = str(params.budget_point_value)
    gross = price(units["point_units"].reset_index(drop=True), params.budget_point_value,
                  params.case_points_decimals)
    out["gross_value_budget"] = gross.to_numpy()
    for col in ("at_cost", "self_pay", "violation_deduction", "cases"):
        out[col] = units[col].astype("int64").to_numpy()
    out["amount"] = out["gross_value_budget"] + out["at_cost"] - out["self_pay"] - out["violation_deduction"]
    out["withheld"] = [mul_fen(max(int(a), 0), params.quality_withhold_rate) for a in out["amount"]]
    out["paid"] = [mul_fen(int(a) - int(w), params.presettlement_ratio)
                   for a, w in zip(out["amount"], out["withheld"])]
    out["paid_before"] = out["unit_id"].map(paid_before).fillna(0).astype("int64")
    out["paid_to_date"] = out["paid"] + out["paid_before"]
    info = all_units.assign(unit_id=all_units["unit_id"].astype(str)).set_index("unit_id")
    out["unit_name"] = out["unit_id"].map(info["unit_name"]).astype(object).to_numpy()
    out["community_id"] = out["unit_id"].map(info["community_id"]).astype(object).to_numpy()
    out[MONEY] = out[MONEY].astype("int64")
    out["explanation"] = explanations(out, params)
    return out[COLUMNS + DETAIL].sort_values("unit_id").reset_index(drop=True)


def _with_paid_units(units: pd.DataFrame, paid_before: pd.Series, all_units: pd.DataFrame) -> pd.DataFrame:
    """Add a zero row for each unit paid in an earlier month with no case this month."""
    have = set(units["unit_id"].astype(str)) if len(units) else set()
    extra = sorted(set(paid_before.index.astype(str)) - have)
    if not extra:
        return units
    zeros = pd.DataFrame({"unit_id": extra, "point_units": 0, "at_cost": 0, "self_pay": 0,
                          "violation_deduction": 0, "cases": 0})
    if units.empty:
        return zeros
    return pd.concat([units[zeros.columns], zeros], ignore_index=True)


def explanations(out: pd.DataFrame, params: DipParams) -> list[str]:
    """Each unit's month in one Chinese sentence (amounts in yuan, exact)."""
    d, rate, ratio = params.case_points_decimals, params.quality_withhold_rate, params.presettlement_ratio
    return [f"分值 {p:,.{d}f} × 预算点值 {params.budget_point_value} 元/分 = {yuan(g)} 元；加未入组按实际支付 "
            f"{yuan(c)}，减个人负担 {yuan(s)}、违规扣款 {yuan(v)} → 预结算金额 {yuan(a)}；预留质量保证金 "
            f"{rate} → {yuan(w)}；(金额 − 保证金) × 拨付比例 {ratio} = 本月拨付 {yuan(paid)}；"
            f"此前各月已拨付 {yuan(b)}，累计 {yuan(td)}"
            for p, g, c, s, v, a, w, paid, b, td in zip(
                out["points"], out["gross_value_budget"], out["at_cost"], out["self_pay"],
                out["violation_deduction"], out["amount"], out["withheld"], out["paid"],
                out["paid_before"], out["paid_to_date"])]


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="int64" if c in MONEY + ["cases"] else object)
                          for c in COLUMNS + DETAIL})
    frame["points"] = frame["points"].astype("float64")
    return frame
