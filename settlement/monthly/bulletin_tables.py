"""The tables of the monthly bulletin (月度通报, issue 10 §3): out-of-county care, execution, CMI.

Seed 000 orders 每月进行跨省（县）就医数据统计分析，及时调度通报; seed 003 asks for 月调度. This
module is pure: the loader's frames of the year to date, the DIP case rows and the year's
package per community → the bulletin's tables; :mod:`settlement.monthly.bulletin` assembles
them with the early warnings (预警) and the year-end projection, :mod:`bulletin_book` writes
月度通报.xlsx.

Periods (``period``): ``month`` — inpatient cases by discharge month, outpatient claims by
service month; ``last_month`` — the month before (same year); ``quarter`` — the quarter the
month closes (March, June, September, December only: 季通报); ``ytd`` — 1 January to the end
of the month (本年累计); ``prior_month`` and ``prior_ytd`` — the same for the previous year,
where its frames are given.

The ratios are the indicator stage's own (:func:`settlement.stages.indicators.measures_of_counts`,
the same counts and definitions), taken on the period's rows. The big tables
(``inpatient_cases``, ``outpatient_claims``: frames, Parquet paths, or the loader's spilled
tables) are only ever read by the scan engine, every period in one pass of each scan — the
period is one more grouping key (``indicator_counts_by_period``, ``expenditure_lines_by_period``,
``case_flows``); only the DIP case rows (the month run's own result) are handled in pandas.
CMI = (Σ case points ÷ cases) ÷ the region's points per case over the same period (every
scored case given), so the county's CMI is 1 by construction and a community's says how heavy
its cases are against the region.

Example: in March community A has 10 inpatient cases, 2 of them outside the county, 1 of those
in another province: 县外就医比例 = 2 ÷ 10 = 20 %, 跨省就医比例 = 1 ÷ 10 = 10 %. Its cases have
12.0 points per case and the region 10.0: CMI = 1.2.
"""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from settlement.params import Params
from settlement.stages.expenditure import expenditure_of_lines
from settlement.money import average_fen
from settlement.stages.indicators import SCALE, definitions, definitions_zh, measures_of_counts

#: the one indicator that is an amount: its value is int fen (次均费用), not a float of yuan
MONEY_PER_CASE = "inpatient_cost_per_case"

COUNTY = "county"
PERIODS = ("month", "last_month", "quarter", "ytd", "prior_month", "prior_ytd")
PERIOD_ZH = {"month": "本月", "last_month": "上月", "quarter": "本季度", "ytd": "本年累计",
             "prior_month": "上年同月", "prior_ytd": "上年同期累计"}
#: the indicator stage's indicators the bulletin shows, in this order
SHOWN = ("cross_province_rate", "out_of_county_rate", "county_visit_rate",
         "primary_outpatient_share", "inpatient_cost_per_case")
EXTRA_ZH = {
    "inpatient_cases": ("住院人次", "出院日期在本期内的住院病例数（参保人所属医共体）"),
    "cmi": ("病例组合指数 CMI", "（本范围病例总点数 ÷ 病例数）÷ 统筹区同期全部入组病例的例均点数"),
}
INDICATOR_COLUMNS = ["scope", "period", "indicator", "label_zh", "numerator", "denominator",
                     "value", "target", "direction", "definition_zh"]


class Window(NamedTuple):
    start: pd.Timestamp  # inclusive
    end: pd.Timestamp  # exclusive


def windows(month: str) -> dict[str, Window]:
    """The periods of ``month`` (YYYY-MM) as half-open date windows (no ``last_month`` in
    January: the month before belongs to the previous year, see ``prior_*``)."""
    year, mon = (int(x) for x in month.split("-"))
    start = pd.Timestamp(year, mon, 1)
    end = pd.Timestamp(year + mon // 12, mon % 12 + 1, 1)
    prior_end = pd.Timestamp(year - 1 + mon // 12, mon % 12 + 1, 1)
    out = {"month": Window(start, end), "ytd": Window(pd.Timestamp(year, 1, 1), end),
           "prior_month": Window(pd.Timestamp(year - 1, mon, 1), prior_end),
           "prior_ytd": Window(pd.Timestamp(year - 1, 1, 1), prior_end)}
    if mon > 1:
        out["last_month"] = Window(pd.Timestamp(year, mon - 1, 1), start)
    if mon % 3 == 0:
        out["quarter"] = Window(pd.Timestamp(year, mon - 2, 1), end)
    return out


def period_code(period: str, month: str) -> str:
    """The stored ``period`` of a bulletin period: ``month`` → 2025-03, ``quarter`` → 2025Q1,
    ``ytd`` → None (a year to date is not a period of the indicators table)."""
    year, mon = (int(x) for x in month.split("-"))
    return {"month": month, "quarter": f"{year}Q{(mon - 1) // 3 + 1}"}.get(period)


def previous_month(month: str) -> str | None:
    """``YYYY-MM`` of the month before, inside the same year (None for January)."""
    year, mon = (int(x) for x in month.split("-"))
    return None if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def year_elapsed(month: str) -> tuple[int, int]:
    """(days from 1 January to the month's last day, days of the year)."""
    year, mon = (int(x) for x in month.split("-"))
    last = dt.date(year, mon, calendar.monthrange(year, mon)[1])
    return (last - dt.date(year, 1, 1)).days + 1, 366 if calendar.isleap(year) else 365


def scan_table(table):
    """A big table as the scan engine takes it: a frame or a Parquet path (the loader's spilled
    table, :class:`settlement.spill.SpilledTable`, by its ``path``)."""
    if isinstance(table, (pd.DataFrame, Path)):
        return table
    return Path(table.path)


def in_window(frame: pd.DataFrame, column: str, w: Window) -> pd.DataFrame:
    """The rows of a (small) frame dated in ``w``."""
    dates = frame[column]
    return frame.loc[(dates >= w.start) & (dates < w.end)]


def scan_windows(ws: dict[str, Window]) -> dict:
    """The periods' windows as the scan engine's :class:`settlement.scan.Window`."""
    from settlement.scan import Window as ScanWindow

    return {p: ScanWindow(w.start, w.end) for p, w in ws.items()}


def with_discharge(dip_cases: pd.DataFrame, cases) -> pd.DataFrame:
    """``dip_cases`` with its case's ``discharge_date`` (by ``case_id``; one hash join, so the
    periods are then date windows of the same rows). The month run's DIP rows carry it
    already; ``cases`` as a path or the loader's spilled table is read for its two columns
    only — a spilled table's own rows only (a file used in place under the loader's ``where``
    holds other months' and years' rows, which are not the table's: its ``kept``)."""
    if "discharge_date" in dip_cases:
        return dip_cases
    if not isinstance(cases, (pd.DataFrame, Path)):  # a SpilledTable: its rows (``kept``) only
        cases = cases[["case_id", "discharge_date"]]
    elif isinstance(cases, Path):
        from settlement.scan.frames import read

        cases = read(cases, ["case_id", "discharge_date"])
    at = pd.Index(cases["case_id"]).get_indexer(dip_cases["case_id"])
    dates = cases["discharge_date"].to_numpy()[at]
    return dip_cases.assign(discharge_date=pd.Series(dates, index=dip_cases.index).where(at >= 0))


def dip_in_window(dip_cases: pd.DataFrame, cases: pd.DataFrame, w: Window) -> pd.DataFrame:
    """DIP case rows whose case (by ``case_id``) was discharged in ``w``."""
    return in_window(with_discharge(dip_cases, cases), "discharge_date", w)


def period_counts(source: dict, ws: dict[str, Window], units: pd.DataFrame, *,
                  engine, persons: bool = True) -> dict[str, pd.DataFrame]:
    """period → the indicator scan's counts of that window of the ``source`` year's big
    tables: ONE by-period scan for all the windows. ``persons=False`` (县域内就诊率 by visits,
    the only indicator that counts persons): the distinct persons — the costliest count, one
    query per window — are not counted and are 0, as in the year-end indicator stage."""
    counts = engine.indicator_counts_by_period(
        scan_table(source["inpatient_cases"]), scan_table(source["outpatient_claims"]), units,
        windows=scan_windows(ws), persons=persons)
    return {p: counts.loc[counts["period"] == p].drop(columns="period").reset_index(drop=True)
            for p in ws}


def indicator_rows(counts: pd.DataFrame, per_case: pd.DataFrame | None,
                   tables: dict[str, pd.DataFrame], params: Params, period: str) -> pd.DataFrame:
    """The shown indicators, 住院人次 and CMI of one period (``counts``: the period's indicator
    scan, :func:`period_counts`; ``per_case``: the period's DIP points per case by community,
    :func:`points_per_case`, or None: no CMI), every community and the county."""
    communities = tables["communities"]
    per = measures_of_counts(counts, communities=communities)
    ids = sorted(communities["community_id"].astype(str)) + [COUNTY]
    per = per.reindex(ids, fill_value=0)
    frames, defs, defs_zh = [], definitions(params.indicators), definitions_zh(params.indicators)
    for code in SHOWN:
        label, num, den, _ = defs[code]
        target = params.indicators.targets.get(code)
        n, d = per[num].to_numpy("int64"), per[den].to_numpy("int64")
        if code == MONEY_PER_CASE:  # money ÷ cases: exact fen, never a float amount
            value = np.where(d > 0, average_fen(n, d), np.nan)
        else:
            value = np.where(d > 0, n / np.where(d > 0, d, 1), np.nan) * float(SCALE.get(code, 1))
        frames.append(pd.DataFrame({
            "scope": ids, "indicator": code, "label_zh": label, "numerator": n.astype(float),
            "denominator": d.astype(float), "value": value,
            "target": float(target.target) if target else np.nan,
            "direction": target.direction if target else None,
            "definition_zh": defs_zh[code]}))
    frames.append(pd.DataFrame({
        "scope": ids, "indicator": "inpatient_cases", "label_zh": EXTRA_ZH["inpatient_cases"][0],
        "numerator": per["ip_all"].to_numpy(float), "denominator": np.nan,
        "value": per["ip_all"].to_numpy(float), "target": np.nan, "direction": None,
        "definition_zh": EXTRA_ZH["inpatient_cases"][1]}))
    if per_case is not None:
        frames.append(cmi_rows(per_case, ids))
    out = pd.concat(frames, ignore_index=True)
    out.insert(1, "period", period)
    return out[INDICATOR_COLUMNS]


def points_per_case(dip: pd.DataFrame, key: str) -> pd.DataFrame:
    """cases, points and points per case by ``key`` (community_id or unit_id), plus the region."""
    grouped = dip.groupby(dip[key].astype(str))["points"].agg(["size", "sum"])
    grouped.columns = ["cases", "points"]
    grouped.loc[COUNTY] = [len(dip), float(dip["points"].sum())]
    grouped["per_case"] = grouped["points"] / grouped["cases"].where(grouped["cases"] > 0)
    return grouped


def cmi_rows(per_case: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """CMI per community and county (``per_case``: :func:`points_per_case` by community_id):
    numerator points per case, denominator the region's."""
    per = per_case.reindex(ids)
    region = per.loc[COUNTY, "per_case"]
    return pd.DataFrame({
        "scope": ids, "indicator": "cmi", "label_zh": EXTRA_ZH["cmi"][0],
        "numerator": per["per_case"].to_numpy(float), "denominator": region,
        "value": (per["per_case"] / region).to_numpy(float) if region and region > 0 else np.nan,
        "target": np.nan, "direction": None, "definition_zh": EXTRA_ZH["cmi"][1]})


def unit_cmi(figures: dict, units: pd.DataFrame, month: str) -> pd.DataFrame:
    """Per treating unit: cases, points per case and CMI this month and the month before
    (``figures``: the months' figures, :mod:`.month_figures`)."""
    from settlement.monthly.month_figures import points_per_case as per_case_of

    out = []
    for label, m in (("", month), ("_prev", previous_month(month))):
        if m is None:
            continue
        per = per_case_of(figures, "unit_id", [m])
        region = per.loc[COUNTY, "per_case"]
        per = per.drop(index=COUNTY)
        per["cmi"] = per["per_case"] / region if region and region > 0 else np.nan
        out.append(per[["cases", "points", "cmi"]].add_suffix(label))
    frame = pd.concat(out, axis=1).rename_axis("unit_id").reset_index()
    names = units.set_index(units["unit_id"].astype(str))["unit_name"].astype(str)
    frame.insert(1, "unit_name", frame["unit_id"].map(names))
    for col in ("cases", "cases_prev"):
        if col in frame:
            frame[col] = frame[col].fillna(0).astype("int64")
    return frame


def execution(tables: dict[str, pd.DataFrame], figures: dict, packages: pd.DataFrame | None,
              month: str) -> pd.DataFrame:
    """基金执行进度 per community and county: spent this month / year to date vs the package.

    Spent is the expenditure scan of the period (DIP fund due of member-unit cases at the
    caller's point value, fund paid elsewhere and for outpatient claims; ``figures``: its
    months' lines, :mod:`.month_figures`); other package lines (family-doctor fees …) are
    annual and not in it.
    """
    from settlement.monthly.month_figures import lines_frame, period_months

    months = period_months(month)
    periods = {p: months[p] for p in ("month", "ytd")}
    spent = {}
    for period, ms in periods.items():
        scanned = lines_frame(figures, ms)
        scan = expenditure_of_lines(scanned, None, tables["units"], tables["communities"])
        spent[period] = scan.set_index("community_id")["expenditure"].astype("int64")
    frame = pd.DataFrame({"spent_month": spent["month"], "spent_ytd": spent["ytd"]})
    if packages is not None:
        frame["package"] = packages.set_index(packages["community_id"].astype(str))["package"] \
            .reindex(frame.index).astype("Int64")
    else:
        frame["package"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    frame.loc[COUNTY] = frame.sum(min_count=1)
    elapsed, days = year_elapsed(month)
    frame["share_elapsed"] = elapsed / days
    pkg = frame["package"].astype("float64")
    frame["share_spent"] = frame["spent_ytd"] / pkg.where(pkg > 0)
    frame["lead_points"] = frame["share_spent"] - frame["share_elapsed"]
    frame.index = frame.index.astype(str).rename("community_id")
    return frame.reset_index().astype({"spent_month": "int64", "spent_ytd": "int64"})


def _outside(flows: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """The case flows (:meth:`~settlement.scan.Engine.case_flows`) to units outside the county
    (an unknown unit counts as outside), with the unit's scope."""
    scope = units.set_index(units["unit_id"].astype(str))["scope"].astype(str)
    where = flows["unit_id"].astype(str).map(scope)
    return flows.assign(scope=where).loc[where.ne(COUNTY).to_numpy(bool)]


def destinations(flows: pd.DataFrame, units: pd.DataFrame, top: int,
                 group_cases: pd.Series | None = None) -> pd.DataFrame:
    """Top out-of-county institutions of the period by inpatient cases (外转去向), from the
    period's case flows (cases and fund paid per treating unit and DIP group; or only those
    outside the county with ``group_cases``, the period's cases by DIP group at every unit)."""
    out = _outside(flows, units)
    names = units.set_index(units["unit_id"].astype(str))["unit_name"].astype(str)
    agg = out.groupby(out["unit_id"].astype(str)).agg(
        cases=("cases", "sum"), fund_paid=("fund_paid", "sum"), scope=("scope", "first"))
    agg["unit_name"] = agg.index.map(names)
    total = int((flows["cases"] if group_cases is None else group_cases).sum())
    agg["share"] = agg["cases"] / total if total else np.nan
    agg = agg.sort_values(["cases", "fund_paid"], ascending=False, kind="stable").head(top)
    return agg.rename_axis("unit_id").reset_index().astype({"fund_paid": "int64"})


def outflow_groups(flows: pd.DataFrame | None, units: pd.DataFrame, groups: pd.DataFrame | None,
                   top: int, group_cases: pd.Series | None = None,
                   outside: pd.DataFrame | None = None) -> pd.DataFrame:
    """DIP groups whose cases leave the county most (外转病种), with the share that leaves, from
    the case flows, or from ``outside`` (cases and fund paid at units outside the county by DIP
    group) with ``group_cases`` (the cases by DIP group at every unit)."""
    if outside is None:
        coded = flows.loc[flows["dip_group"].notna().to_numpy(bool)]
        out = _outside(coded, units)
        total = coded.groupby(coded["dip_group"].astype(str))["cases"].sum()
    else:
        out = outside.loc[outside["dip_group"].notna().to_numpy(bool)]
        total = group_cases.loc[group_cases.index.notna()]
        total.index = total.index.astype(str)
    agg = out.groupby(out["dip_group"].astype(str)).agg(
        cases_out=("cases", "sum"), fund_paid=("fund_paid", "sum"))
    agg["cases_all"] = total.reindex(agg.index).astype("int64")
    agg["share_out"] = agg["cases_out"] / agg["cases_all"]
    if groups is not None:
        agg["group_name"] = agg.index.map(groups.set_index(groups["group_code"].astype(str))[
            "group_name"].astype(str))
    agg = agg.sort_values(["cases_out", "fund_paid"], ascending=False, kind="stable").head(top)
    return agg.rename_axis("dip_group").reset_index().astype({"fund_paid": "int64"})
