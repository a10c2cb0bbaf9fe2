"""The monthly bulletin (月度通报, issue 10 §3–4): its tables, early warnings and projection.

:func:`build_bulletin` takes the loader's frames of the year to date, the resolved parameters,
the month, the DIP case rows (scored by the caller, monthly at the budget point value) and the
year's package per community, and returns a :class:`Bulletin`: the tables of
:mod:`bulletin_tables`, the year-end projection and the warnings (预警) as ``Problem`` records
of severity ``warning``, each naming the numbers that triggered it.

Warnings (thresholds ``early_warning.*``; one left out is not checked):

* ``early_warning.execution`` — share of the package spent − share of the year elapsed >
  ``execution_lead`` (e.g. 40 % spent at the end of March, 90 ÷ 365 = 24.66 % elapsed: 15.34
  points ahead > 5);
* ``early_warning.out_of_county`` — this month's 县外 / 跨省就医比例 not below its target in
  ``indicators.targets`` (numerator ≥ target × denominator, exact);
* ``early_warning.cost_growth`` — 住院次均费用 this month ÷ the same month last year (else last
  month) − 1 > ``cost_growth``;
* ``early_warning.unit_cmi`` / ``early_warning.unit_cases`` — a member unit's CMI or case count
  this month ÷ last month − 1 beyond ± ``cmi_change`` / ``case_change``.

Projection (预计年末结余), per community: *run rate* — spent to date × days of the year ÷ days
elapsed; *seasonal* (where last year's frames are given) — spent to date × last year's full-year
fund paid ÷ last year's fund paid to the same date. Balance = package − projected spend. Fen,
rounded once, half away from zero.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

import numpy as np
import pandas as pd

from settlement.money import yuan_display
from settlement.params import Params
from settlement.problems import Problem
from settlement.monthly import bulletin_tables as bt

RUN_RATE_ZH = "按本年累计支出的日均水平外推：累计支出 × 全年天数 ÷ 已过天数"
SEASONAL_ZH = "按上年月度结构外推：累计支出 × 上年全年基金支付 ÷ 上年同期累计基金支付"


class Bulletin(NamedTuple):
    month: str  # YYYY-MM
    indicators: pd.DataFrame  # bt.INDICATOR_COLUMNS: scope × period × indicator
    execution: pd.DataFrame  # per community + county: package, spent, shares (基金执行进度)
    projection: pd.DataFrame  # per community + county: projected spend and balance, method
    destinations: pd.DataFrame  # top out-of-county institutions this year to date (外转去向)
    outflow_groups: pd.DataFrame  # DIP groups that leave the county most, year to date (外转病种)
    unit_cmi: pd.DataFrame  # per member unit: cases, points, CMI this month and last
    warnings: list[Problem]
    recorded: dict = {}  # month → run id: the months whose figures came from the run store
    figures: dict = {}  # figure → every month's frame (:mod:`.month_figures`) the bulletin summed
    changed: dict = {}  # month → (run id, tables): recorded, its rows changed since, read again


def build_bulletin(tables: dict[str, pd.DataFrame], params: Params, month: str,
                   dip_cases: pd.DataFrame, packages: pd.DataFrame | None = None,
                   previous: dict[str, pd.DataFrame] | None = None, *,
                   engine=None, figures: dict[str, pd.DataFrame] | None = None,
                   recorded: dict[str, str] | None = None,
                   changed: dict | None = None) -> Bulletin:
    """The bulletin of ``month`` (YYYY-MM); see the module docstring.

    ``tables`` (and ``previous``, last year's): the loader's tables; the big two may be frames,
    Parquet paths or spilled tables. ``engine``: the scan engine (:func:`settlement.scan.resolve`).
    The year's periods are sums of its months' figures (:mod:`.month_figures`: each month one
    window of the same scans); ``figures``, when given, are every month of the year to date
    (``recorded``: month → run id of the months taken from the run store, named in the notes;
    ``changed``: month → (run id, tables) of the recorded months read again because their rows
    changed, named too), else they are scanned here from ``tables`` and ``dip_cases``."""
    from settlement.monthly import month_figures as mf
    from settlement.scan import resolve

    engine = resolve(engine)
    dip_cases = bt.with_discharge(dip_cases, tables["inpatient_cases"])
    w, units = bt.windows(month), tables["units"]
    if figures is None:
        figures = mf.from_data(tables, dip_cases, mf.month_list(month), engine=engine)
    rows = _year_rows(tables, month, figures, params, engine)
    prior_spend = None
    if previous is not None:  # last year: its periods and its full year (the projection), one scan
        year = int(month[:4]) - 1
        prior = {p: x for p, x in w.items() if p.startswith("prior")}
        full = {"prior_full": bt.Window(pd.Timestamp(year, 1, 1), pd.Timestamp(year + 1, 1, 1))}
        given = previous.get("dip_cases")
        given = bt.with_discharge(given, previous["inpatient_cases"]) if given is not None else None
        rows.update(_indicator_rows(previous, {**prior, **full}, given, {**tables, **previous},
                                    params, engine))
        prior_spend = (_fund_spent(rows.pop("prior_full")[1]), _fund_spent(rows["prior_ytd"][1]))
    indicators = pd.concat([rows[p][0] for p in w if p in rows], ignore_index=True)
    ex = bt.execution(tables, figures, packages, month)
    top = params.early_warning.top_n
    ytd = mf.month_list(month)
    (out_units, out_groups), group_cases = mf.outside_frames(figures, ytd), mf.group_cases(figures, ytd)
    bulletin = Bulletin(
        month, indicators, ex, projection(ex, month, prior_spend),
        bt.destinations(out_units, units, top, group_cases),
        bt.outflow_groups(None, units, tables.get("dip_groups"), top, group_cases, out_groups),
        bt.unit_cmi(figures, units, month), [], dict(recorded or {}), figures, dict(changed or {}))
    return bulletin._replace(warnings=warnings(bulletin, params))


def _year_rows(tables, month: str, figures, params, engine) -> dict[str, tuple]:
    """period → (indicator rows, counts) of the year's periods, from the months' figures; the
    counts of distinct persons (县域内就诊率 by persons only) by one scan of the year to date."""
    from settlement.monthly import month_figures as mf

    months = mf.period_months(month)
    if params.indicators.visit_rate_basis == "persons":
        w = bt.windows(month)
        counts = bt.period_counts(tables, {p: w[p] for p in months}, tables["units"],
                                  engine=engine, persons=True)
    else:
        counts = {p: mf.counts_frame(figures, ms) for p, ms in months.items()}
    return {p: (bt.indicator_rows(counts[p], mf.points_per_case(figures, "community_id", ms),
                                  tables, params, p), counts[p])
            for p, ms in months.items()}


def _indicator_rows(source, ws, dip_cases, tables, params, engine) -> dict[str, tuple]:
    """period → (indicator rows, scan counts) of the periods ``ws`` of the ``source`` year
    (one by-period scan; ``dip_cases`` with discharge dates, or None)."""
    counts = bt.period_counts(source, ws, tables["units"], engine=engine,
                              persons=params.indicators.visit_rate_basis == "persons")
    return {p: (bt.indicator_rows(c, None if dip_cases is None else bt.points_per_case(
                bt.in_window(dip_cases, "discharge_date", ws[p]), "community_id"),
                                  tables, params, p), c)
            for p, c in counts.items()}


STORED_COLUMNS = ["scope", "period", "indicator", "label_zh", "numerator", "denominator", "value",
                  "target", "met"]


def stored_indicators(b: Bulletin, params: Params) -> pd.DataFrame:
    """The month's (and, closing a quarter, the quarter's) indicators as the ``indicators``
    result table of the month run: period ``YYYY-MM`` / ``YYYYQn``, met against the target
    exactly as the year's (numerator vs target × denominator)."""
    from settlement.stages.indicators import _met

    rows = b.indicators.assign(period=b.indicators["period"].map(
        lambda p: bt.period_code(p, b.month))).dropna(subset=["period"])
    targets = params.indicators.targets
    met = [_met(int(n), int(d), targets.get(c), c) if d == d and n == n else None
           for n, d, c in zip(rows["numerator"], rows["denominator"], rows["indicator"])]
    out = rows.assign(met=pd.array(met, dtype="boolean"))[STORED_COLUMNS].reset_index(drop=True)
    return out.astype({c: "string" for c in ("scope", "period", "indicator", "label_zh")})


def scale_fen(fen: int, num: int, den: int) -> int:
    """fen × num ÷ den, rounded once half away from zero (exact)."""
    q = Fraction(int(fen)) * num / den
    sign = -1 if q < 0 else 1
    return sign * int(abs(q) + Fraction(1, 2))


def _fund_spent(counts: pd.DataFrame) -> pd.Series:
    """Σ fund_paid of inpatient cases and outpatient claims per community and the county (the
    indicator scan's ``fund_all`` of one period)."""
    return pd.Series(counts["fund_all"].to_numpy("int64"), index=counts["scope"].astype(str))


def projection(ex: pd.DataFrame, month: str,
               prior_spend: tuple[pd.Series, pd.Series] | None) -> pd.DataFrame:
    """Projected year-end spend and balance per community: run rate, and seasonal where last
    year's fund paid (full year, to the same date; :func:`_fund_spent`) is given."""
    elapsed, days = bt.year_elapsed(month)
    frame = ex[["community_id", "package", "spent_ytd"]].copy()
    frames = [frame.assign(method="run_rate", method_zh=RUN_RATE_ZH, projected_spend=[
        scale_fen(s, days, elapsed) for s in frame["spent_ytd"]])]
    if prior_spend is not None:
        full, to_date = prior_spend
        ids = frame["community_id"].astype(str)
        f, t = full.reindex(ids).fillna(0).astype("int64"), to_date.reindex(ids).fillna(0).astype("int64")
        frames.append(frame.assign(method="seasonal", method_zh=SEASONAL_ZH, projected_spend=[
            scale_fen(s, int(a), int(b)) if b > 0 else pd.NA
            for s, a, b in zip(frame["spent_ytd"], f, t)]))
    out = pd.concat(frames, ignore_index=True)
    out["projected_spend"] = out["projected_spend"].astype("Int64")
    out["projected_balance"] = (out["package"] - out["projected_spend"]).astype("Int64")
    return out


def _warn(rule: str, scope: str, zh: str, en: str, value) -> Problem:
    return Problem(rule, "warning", "bulletin", zh, en, column=scope, value=str(value))


def warnings(b: Bulletin, params: Params) -> list[Problem]:
    """Every early warning of the bulletin, in the order of the module docstring."""
    ew = params.early_warning
    out: list[Problem] = []
    if ew.execution_lead is not None:
        out += _execution(b.execution, ew.execution_lead)
    out += _out_of_county(b.indicators, params)
    if ew.cost_growth is not None:
        out += _cost_growth(b.indicators, ew.cost_growth)
    if ew.cmi_change is not None or ew.case_change is not None:
        big = b.unit_cmi.loc[b.unit_cmi[["cases", "cases_prev"]].max(axis=1) >= ew.min_unit_cases] \
            if "cases_prev" in b.unit_cmi else b.unit_cmi.iloc[:0]
        out += _unit_jumps(big, ew.cmi_change, ew.case_change)
    return out


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def _execution(ex: pd.DataFrame, lead: Decimal) -> list[Problem]:
    hits = ex.loc[ex["lead_points"].astype("float64") > float(lead)]
    return [_warn("early_warning.execution", r.community_id,
                  f"{r.community_id}：基金执行进度 {_pct(r.share_spent)}（累计支出 {r.spent_ytd / 100:,.2f} 元 ÷ "
                  f"打包基金 {int(r.package) / 100:,.2f} 元）超过时间进度 {_pct(r.share_elapsed)} "
                  f"{r.lead_points * 100:.2f} 个百分点，预警线 {float(lead) * 100:.2f} 个百分点",
                  f"{r.community_id}: execution {_pct(r.share_spent)} ahead of time {_pct(r.share_elapsed)}",
                  f"{r.lead_points:.6f}") for r in hits.itertuples()]


def _out_of_county(ind: pd.DataFrame, params: Params) -> list[Problem]:
    out = []
    for code in ("out_of_county_rate", "cross_province_rate"):
        target = params.indicators.targets.get(code)
        if target is None or target.direction != "below":
            continue
        rows = ind.loc[(ind["period"] == "month") & (ind["indicator"] == code) & (ind["denominator"] > 0)]
        for r in rows.itertuples():
            if Decimal(int(r.numerator)) >= target.target * Decimal(int(r.denominator)):
                out.append(_warn("early_warning.out_of_county", r.scope,
                                 f"{r.scope}：本月{r.label_zh} {_pct(r.value)}（{int(r.numerator)} ÷ "
                                 f"{int(r.denominator)} 人次）未低于目标 {_pct(float(target.target))}",
                                 f"{r.scope}: {code} {r.value:.4f} ≥ target {target.target}",
                                 f"{r.value:.6f}"))
    return out


def _cost_growth(ind: pd.DataFrame, limit: Decimal) -> list[Problem]:
    cost = ind.loc[ind["indicator"] == "inpatient_cost_per_case"].pivot(
        index="scope", columns="period", values="value")
    base_period = "prior_month" if "prior_month" in cost else "last_month"
    if base_period not in cost or "month" not in cost:
        return []
    base_zh = bt.PERIOD_ZH[base_period]
    growth = cost["month"] / cost[base_period].where(cost[base_period] > 0) - 1
    return [_warn("early_warning.cost_growth", scope,
                  f"{scope}：本月住院次均费用 {yuan_display(int(cost.at[scope, 'month']))} 元，{base_zh} "
                  f"{yuan_display(int(cost.at[scope, base_period]))} 元，增长 {_pct(g)}，"
                  f"超过预警线 {_pct(float(limit))}",
                  f"{scope}: cost per case growth {g:.4f} > {limit}", f"{g:.6f}")
            for scope, g in growth.items() if np.isfinite(g) and g > float(limit)]


def _unit_jumps(units: pd.DataFrame, cmi_limit: Decimal | None,
                case_limit: Decimal | None) -> list[Problem]:
    if "cases_prev" not in units:
        return []
    out = []
    for r in units.itertuples():
        if cmi_limit is not None and r.cmi_prev > 0 and abs(r.cmi / r.cmi_prev - 1) > float(cmi_limit):
            change = r.cmi / r.cmi_prev - 1
            out.append(_warn("early_warning.unit_cmi", r.unit_id,
                             f"{r.unit_id} {r.unit_name}：本月 CMI {r.cmi:.4f}，上月 {r.cmi_prev:.4f}，环比变动 {_pct(change)}，"
                             f"超过预警线 ±{_pct(float(cmi_limit))}",
                             f"{r.unit_id}: CMI {r.cmi_prev:.4f} → {r.cmi:.4f}", f"{change:.6f}"))
        if case_limit is not None and r.cases_prev > 0 and \
                abs(r.cases / r.cases_prev - 1) > float(case_limit):
            change = r.cases / r.cases_prev - 1
            out.append(_warn("early_warning.unit_cases", r.unit_id,
                             f"{r.unit_id} {r.unit_name}：本月出院病例 {r.cases} 例，上月 {r.cases_prev} 例，环比变动 {_pct(change)}，"
                             f"超过预警线 ±{_pct(float(case_limit))}",
                             f"{r.unit_id}: cases {r.cases_prev} → {r.cases}", f"{change:.6f}"))
    return out
