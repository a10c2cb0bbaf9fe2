"""Indicators the assessments use (县域就医与医保基金指标), DOMAIN §2.6, seeds 000, 001, 004.

Each indicator is computed per community (the insured's ``community_id`` on the claim) and for
the county (every claim). A case or claim is **in county** (县域内) when its treating unit's
``scope`` is ``county``; it is at a **primary unit** (基层医疗卫生机构) when the unit's
``category`` is ``township_center`` or ``village_clinic``. Visits are counted as rows: one
outpatient claim = one visit (人次), one inpatient case = one admission (人次). Money is the
``fund_paid`` of the claims (fen), childbirth included except where said.

========================  ========================  ========================================
code                      label_zh                  numerator ÷ denominator
========================  ========================  ========================================
county_visit_rate         县域内就诊率                in-county outpatient claims + inpatient
                                                    cases ÷ all claims + cases
primary_outpatient_share  基层医疗卫生机构门急诊占比     outpatient claims at primary units ÷
                                                    in-county outpatient claims
county_inpatient_share    县域内住院人次占比            in-county inpatient cases ÷ all cases
cross_province_rate       跨省就医比例（住院）           cases at ``national`` units ÷ all cases
out_of_county_rate        县外就医比例（住院）           cases outside the county ÷ all cases
fund_in_county_rate       医保基金县域内支出率          fund_paid at in-county units ÷ all
                                                    fund_paid (inpatient + outpatient)
primary_fund_share        基层医保基金占比             fund_paid at primary units ÷ fund_paid
                                                    at in-county units
chronic_inpatient_rate    慢病包干人员住院率            admissions of enrolled persons discharged
                                                    in their enrolment period, childbirth
                                                    excluded ÷ enrolled persons
========================  ========================  ========================================

县域内就诊率 counts visits (人次) by default — the national monitoring definition the seeds quote
(歙县 2025 “县域内就诊率达85%” next to 人次-based 住院人次占比). ``indicators.visit_rate_basis:
persons`` counts persons instead: insured persons with at least one in-county claim or case ÷
insured persons with any (``persons_in`` ÷ ``persons_all``; the county row counts each person
once, not the sum of the communities).

A target (``indicators.targets``) is met when value ≥ target (``at_least``) or value < target
(``below``), compared exactly (numerator vs target × denominator). No denominator → value NaN,
met <NA>. The optional rubric ``indicators.scoring`` gives points per indicator met; the
``scores`` frame sums them per scope (an indicator without data earns nothing).

Example: a community with 8 outpatient claims (6 in county, 4 of them at primary units) and
2 inpatient cases (1 in county): 县域内就诊率 = (6 + 1) ÷ (8 + 2) = 70 %; 基层门急诊占比 =
4 ÷ 6 = 66.7 %; 县域内住院人次占比 = 1 ÷ 2 = 50 %.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

import numpy as np
import pandas as pd

from settlement.money import average_fen
from settlement.params import IndicatorParams
from settlement.problems import Problem
from settlement.scan import Engine, Window, resolve
from settlement.scan.pandas_indicators import BASE, COUNTY, PRIMARY  # noqa: F401 (PRIMARY re-exported)
from settlement.stages.indicator_measures import extra_measures

#: code → (label_zh, numerator measure, denominator measure, what is counted)
DEFINITIONS: dict[str, tuple[str, str, str, str]] = {
    "county_visit_rate": ("县域内就诊率", "visits_in", "visits_all", "人次"),
    "primary_outpatient_share": ("基层医疗卫生机构门急诊占比", "op_primary", "op_in", "人次"),
    "county_inpatient_share": ("县域内住院人次占比", "ip_in", "ip_all", "人次"),
    "cross_province_rate": ("跨省就医比例（住院）", "ip_national", "ip_all", "人次"),
    "out_of_county_rate": ("县外就医比例（住院）", "ip_out", "ip_all", "人次"),
    "fund_in_county_rate": ("医保基金县域内支出率", "fund_in", "fund_all", "分"),
    "primary_fund_share": ("基层医保基金占比", "fund_primary", "fund_in", "分"),
    "chronic_inpatient_rate": ("慢病包干人员住院率", "chronic_cases", "chronic_enrolled", "人次/人"),
    # issue 11 §8 (measures in indicator_measures.py)
    "referral_up_share": ("双向转诊：上转人次占比", "ref_up", "ip_all", "人次"),
    "referral_down_share": ("双向转诊：下转人次占比", "ref_down", "ip_all", "人次"),
    "down_referral_rate": ("下转率", "ref_down", "ref_up", "人次"),
    "inpatient_rate": ("区域住院率（每千参保人）", "ip_all", "insured", "人次/千人"),
    "inpatient_cost_per_case": ("住院次均费用（元）", "ip_cost", "ip_all", "元/人次"),
    "outpatient_cost_per_visit": ("门诊次均费用（元）", "op_cost", "op_all", "元/人次"),
    "inpatient_cost_growth": ("住院次均费用增长率", "ip_matched_cost", "ip_matched_ref", "分"),
    "average_length_of_stay": ("平均住院日（天）", "stay_days", "ip_all", "天/人次"),
    "fund_reimbursement_ratio": ("医保实际报销比例", "fund_all", "cost_all", "分"),
}
#: the indicators whose value is an amount (次均费用): exact fen per case or visit
#: (money.average_fen, half up), as the monthly bulletin's; SCALE still turns fen into yuan for
#: the target comparison (targets are written in yuan)
MONEY_PER_CASE = frozenset({"inpatient_cost_per_case", "outpatient_cost_per_visit"})
#: value = numerator ÷ denominator × SCALE + OFFSET (default 1 and 0), but MONEY_PER_CASE
SCALE = {"inpatient_rate": 1000, "inpatient_cost_per_case": Decimal("0.01"),
         "outpatient_cost_per_visit": Decimal("0.01")}
OFFSET = {"inpatient_cost_growth": -1}
DEFINITION_ZH = {
    "county_visit_rate": "县域内门诊人次与住院人次 ÷ 全部门诊与住院人次",
    "primary_outpatient_share": "基层医疗卫生机构（乡镇卫生院、村卫生室）门诊人次 ÷ 县域内门诊人次",
    "county_inpatient_share": "县域内机构住院人次 ÷ 全部住院人次",
    "cross_province_rate": "省外机构住院人次 ÷ 全部住院人次",
    "out_of_county_rate": "县外机构住院人次 ÷ 全部住院人次",
    "fund_in_county_rate": "县域内机构基金支付 ÷ 全部基金支付（住院与门诊）",
    "primary_fund_share": "基层医疗卫生机构基金支付 ÷ 县域内机构基金支付",
    "chronic_inpatient_rate": "慢病包干人员包干期内住院人次（不含生育）÷ 包干人数",
    "referral_up_share": "经转诊且转出机构层级低于收治机构（村 < 乡 < 县 < 县外）的住院人次 ÷ 全部住院人次",
    "referral_down_share": "经转诊且转出机构层级高于收治机构的住院人次 ÷ 全部住院人次",
    "down_referral_rate": "下转住院人次 ÷ 上转住院人次",
    "inpatient_rate": "参保人住院人次 ÷ 参保人数 × 1,000",
    "inpatient_cost_per_case": "住院医疗总费用 ÷ 住院人次",
    "outpatient_cost_per_visit": "门诊医疗总费用 ÷ 门诊人次",
    "inpatient_cost_growth": "成员单位已入组病例医疗总费用 ÷ 同病种同级别上年次均费用之和 − 1（病种结构调整后的增长）",
    "average_length_of_stay": "出院者占用总床日数（出院日 − 入院日，当日出院计 1 日）÷ 出院人次",
    "fund_reimbursement_ratio": "基金支付 ÷ 医疗总费用（住院与门诊）",
}
TABLE_COLUMNS = ["scope", "period", "indicator", "label_zh", "numerator", "denominator", "value",
                 "target", "direction", "met", "counted", "points", "definition_zh"]


PERSONS_ZH = "县域内有门诊或住院记录的参保人数 ÷ 有门诊或住院记录的参保人数（按人数，每人计一次）"


def definitions(params: IndicatorParams) -> dict[str, tuple[str, str, str, str]]:
    """:data:`DEFINITIONS` with 县域内就诊率 counted per ``params.visit_rate_basis``."""
    if params.visit_rate_basis != "persons":
        return DEFINITIONS
    return {**DEFINITIONS, "county_visit_rate": ("县域内就诊率（按人数）", "persons_in",
                                                  "persons_all", "人")}


def definitions_zh(params: IndicatorParams) -> dict[str, str]:
    if params.visit_rate_basis != "persons":
        return DEFINITION_ZH
    return {**DEFINITION_ZH, "county_visit_rate": PERSONS_ZH}


class IndicatorResult(NamedTuple):
    table: pd.DataFrame  # indicators: one row per (scope, indicator)
    scores: pd.DataFrame  # scope, points, max_points (rubric; empty without one)
    problems: list[Problem]


def measures(inpatient_cases, outpatient_claims, units: pd.DataFrame,
             enrolment: pd.DataFrame | None = None, communities: pd.DataFrame | None = None,
             reference_costs: pd.DataFrame | None = None, *, engine: Engine | str | None = None,
             window: Window | None = None, persons: bool = True) -> pd.DataFrame:
    """The counts and fen sums behind the indicators, one row per community plus ``county``.

    The big tables (frames or Parquet paths) are reduced by the scan engine
    (:meth:`~settlement.scan.Engine.indicator_counts`; ``window``: only the rows of a date
    window); the chronic cohort's admissions come from its cohort scan. ``persons=False``:
    the distinct persons are not counted (persons_* 0) — the costliest count of the scan
    (millions of distinct ids), needed only for 县域内就诊率 by persons."""
    engine = resolve(engine)
    counts = engine.indicator_counts(inpatient_cases, outpatient_claims, units, reference_costs,
                                     window=window, persons=persons)
    return measures_of_counts(counts, inpatient_cases, units, enrolment, communities,
                              engine=engine)


def measures_of_counts(counts: pd.DataFrame, inpatient_cases=None, units: pd.DataFrame | None = None,
                       enrolment: pd.DataFrame | None = None,
                       communities: pd.DataFrame | None = None, *,
                       engine: Engine | str | None = None) -> pd.DataFrame:
    """:func:`measures` of one scan's counts (:meth:`~settlement.scan.Engine.indicator_counts`,
    or one period of ``indicator_counts_by_period``); ``inpatient_cases`` and ``units`` are
    needed only with ``enrolment`` (the cohort scan)."""
    counts = counts.set_index(counts["scope"].astype(str)).drop(columns="scope")
    per = counts.drop(index=COUNTY)[BASE].copy()
    if enrolment is not None and len(enrolment):
        enrolled = enrolment[enrolment["status"] == "enrolled"]
        totals = resolve(engine).cohort_totals(enrolled, inpatient_cases, None, units)
        persons = enrolled.groupby("community_id")["person_id"].nunique()
        per = per.join(persons.rename("chronic_enrolled"), how="outer")
        cases = totals.groupby(totals["community_id"].astype(str))["items"].sum()
        per = per.join(cases.rename("chronic_cases"), how="outer")
    per = per.reindex(columns=list(per.columns) + [c for c in ("chronic_enrolled", "chronic_cases")
                                                   if c not in per.columns])
    per = per.fillna(0).astype("int64")
    per["ip_out"] = per["ip_all"] - per["ip_in"]
    per["visits_all"] = per["ip_all"] + per["op_all"]
    per["visits_in"] = per["ip_in"] + per["op_in"]
    per.loc[COUNTY] = per.sum()
    per = per.join(counts[["persons_all", "persons_in"]], how="left").fillna(0).astype("int64")
    extra = extra_measures(counts, communities)
    per.index = per.index.astype("string").rename("scope")
    ids = pd.Index(sorted(set(per.index.astype(str)) | set(extra.index.astype(str))), dtype="string",
                   name="scope")
    return per.reindex(ids, fill_value=0).join(extra.reindex(ids, fill_value=0)).astype("int64")


def compute_indicators(*, inpatient_cases: pd.DataFrame, outpatient_claims: pd.DataFrame,
                       units: pd.DataFrame, params: IndicatorParams,
                       communities: pd.DataFrame | None = None,
                       enrolment: pd.DataFrame | None = None,
                       reference_costs: pd.DataFrame | None = None,
                       period: str | None = None,
                       engine: Engine | str | None = None) -> IndicatorResult:
    """The ``indicators`` table (every community, then ``county``) and the rubric scores.

    ``period``: what the rows cover (``YYYY``, ``YYYYQn`` or ``YYYY-MM``; the run passes its
    year), written in the table's ``period`` column (<NA> when not given). ``engine``: the
    scan engine of the counts (None: the default engine)."""
    problems = [Problem("indicators.unknown_target", "warning", "config",
                        f"指标目标值中的 `{code}` 不是已知指标，已忽略",
                        f"unknown indicator code `{code}` in indicators.targets", value=code)
                for code in params.targets if code not in DEFINITIONS]
    per = measures(inpatient_cases, outpatient_claims, units, enrolment, communities,
                   reference_costs, engine=engine, persons=params.visit_rate_basis == "persons")
    if communities is not None:
        ids = sorted(set(communities["community_id"].astype(str)) | set(per.index) - {COUNTY})
        per = per.reindex(ids + [COUNTY], fill_value=0)
    frames = []
    for code, (label, num, den, counted) in definitions(params).items():  # seventeen indicators
        target = params.targets.get(code)
        frames.append(pd.DataFrame({
            "scope": per.index, "indicator": code, "label_zh": label,
            "numerator": per[num].to_numpy(), "denominator": per[den].to_numpy(),
            "target": float(target.target) if target else np.nan,
            "direction": target.direction if target else pd.NA, "counted": counted}))
    table = pd.concat(frames, ignore_index=True)
    ratio = table["numerator"] / table["denominator"].where(table["denominator"] > 0)
    table["value"] = (ratio * table["indicator"].map(lambda c: float(SCALE.get(c, 1)))
                      + table["indicator"].map(lambda c: float(OFFSET.get(c, 0))))
    money = table["indicator"].isin(MONEY_PER_CASE).to_numpy() & (table["denominator"] > 0).to_numpy()
    table.loc[money, "value"] = average_fen(table["numerator"].to_numpy()[money],  # 次均费用: exact
                                            table["denominator"].to_numpy()[money]).astype("float64")
    table["definition_zh"] = table["indicator"].map(definitions_zh(params)).astype("string")
    table["period"] = pd.array([period] * len(table), dtype="string")
    table["met"] = pd.array([_met(n, d, params.targets.get(c), c) for n, d, c in zip(
        table["numerator"], table["denominator"], table["indicator"])], dtype="boolean")
    points = {c: Decimal(p) for c, p in (params.scoring or {}).items()}
    table["points"] = [float(points.get(c, 0)) if m is True else 0.0
                       for c, m in zip(table["indicator"], table["met"].astype(object))]
    order = {s: i for i, s in enumerate(per.index)}  # communities, then county
    table = table.iloc[np.argsort(table["scope"].map(order).to_numpy(), kind="stable")]
    table = table[TABLE_COLUMNS].reset_index(drop=True).astype(
        {"scope": "string", "indicator": "string", "label_zh": "string", "direction": "string",
         "counted": "string", "numerator": "int64", "denominator": "int64"})
    return IndicatorResult(table, _scores(table, points), problems)


def _met(numerator: int, denominator: int, target, code: str = "") -> bool | None:
    """value vs target exactly: n × scale ≥ (target − offset) × d (or <, for ``below``)."""
    if target is None or denominator <= 0:
        return None
    scaled = (target.target - OFFSET.get(code, 0)) * Decimal(int(denominator))
    n = Decimal(int(numerator)) * Decimal(SCALE.get(code, 1))
    return bool(n >= scaled) if target.direction == "at_least" else bool(n < scaled)


def _scores(table: pd.DataFrame, points: dict[str, Decimal]) -> pd.DataFrame:
    if not points:
        return pd.DataFrame({"scope": pd.Series(dtype="string"),
                             "points": pd.Series(dtype="float64"),
                             "max_points": pd.Series(dtype="float64")})
    scored = table[table["indicator"].isin(list(points))]
    out = scored.groupby("scope", sort=False)["points"].sum().rename("points").reset_index()
    out["max_points"] = float(sum(points.values()))
    return out.astype({"scope": "string"})
