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

from settlement.params import IndicatorParams
from settlement.problems import Problem
from settlement.stages.chronic import cohort_spend
from settlement.dip.codes import Factorized, lookup
from settlement.stages.indicator_measures import extra_measures

PRIMARY = ("township_center", "village_clinic")
COUNTY = "county"

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
#: value = numerator ÷ denominator × SCALE + OFFSET (default 1 and 0)
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


def measures(inpatient_cases: pd.DataFrame, outpatient_claims: pd.DataFrame, units: pd.DataFrame,
             enrolment: pd.DataFrame | None = None, communities: pd.DataFrame | None = None,
             reference_costs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The counts and fen sums behind the indicators, one row per community plus ``county``."""
    ip = _sums(inpatient_cases, units)
    op = _sums(outpatient_claims, units)
    ids = ip.index.union(op.index)
    ip, op = ip.reindex(ids, fill_value=0), op.reindex(ids, fill_value=0)
    per = pd.DataFrame({"ip_all": ip["rows"], "ip_in": ip["in_county"],
                        "ip_national": ip["national"], "op_all": op["rows"],
                        "op_in": op["in_county"], "op_primary": op["primary"]})
    money = ["fund_paid", "fund_in", "fund_primary"]
    per = per.join((ip[money] + op[money]).rename(columns={"fund_paid": "fund_all"}))
    if enrolment is not None and len(enrolment):
        enrolled = enrolment[enrolment["status"] == "enrolled"]
        items = cohort_spend(enrolled, inpatient_cases, outpatient_claims.iloc[:0], units)
        persons = enrolled.groupby("community_id")["person_id"].nunique()
        per = per.join(persons.rename("chronic_enrolled"), how="outer")
        per = per.join(items.groupby("community_id").size().rename("chronic_cases"), how="outer")
    per = per.reindex(columns=list(per.columns) + [c for c in ("chronic_enrolled", "chronic_cases")
                                                   if c not in per.columns])
    per = per.fillna(0).astype("int64")
    per["ip_out"] = per["ip_all"] - per["ip_in"]
    per["visits_all"] = per["ip_all"] + per["op_all"]
    per["visits_in"] = per["ip_in"] + per["op_in"]
    per.loc[COUNTY] = per.sum()
    per.index = per.index.astype("string").rename("scope")
    persons = _persons(inpatient_cases, outpatient_claims, units)
    per = per.join(persons, how="left").fillna(0).astype("int64")
    extra = extra_measures(inpatient_cases, outpatient_claims, units, communities, reference_costs)
    ids = per.index.union(extra.index)
    return per.reindex(ids, fill_value=0).join(extra.reindex(ids, fill_value=0)).astype("int64")


def _persons(inpatient_cases: pd.DataFrame, outpatient_claims: pd.DataFrame,
             units: pd.DataFrame) -> pd.DataFrame:
    """persons_all / persons_in: distinct insured persons with any / an in-county claim or case.

    Vectorised on integer codes: (community, person) pairs made unique with ``np.unique``."""
    frames = [f for f in (inpatient_cases, outpatient_claims) if "person_id" in f.columns]
    person = pd.factorize(pd.concat([f["person_id"].astype("string") for f in frames]))[0] \
        if frames else np.zeros(0, np.int64)
    comm = Factorized.of(pd.concat([f["community_id"].astype("string") for f in frames])
                         if frames else pd.Series([], dtype="string"))
    unit = pd.concat([f["unit_id"].astype("string") for f in frames]) if frames \
        else pd.Series([], dtype="string")
    inside = np.append(units["scope"].astype("string").eq(COUNTY).fillna(False).to_numpy(bool),
                       False)[lookup(unit, units["unit_id"].astype("string"))]
    keep = (comm.codes >= 0) & (person >= 0)
    code, person, inside = comm.codes[keep], person[keep].astype(np.int64), inside[keep]
    k = len(comm.uniques)

    def distinct(mask: np.ndarray) -> tuple[np.ndarray, int]:
        pairs = np.unique(code[mask].astype(np.int64) * (int(person.max(initial=0)) + 1) + person[mask])
        return (np.bincount(pairs // (int(person.max(initial=0)) + 1), minlength=k),
                len(np.unique(person[mask])))

    (all_by, all_n), (in_by, in_n) = distinct(np.ones(len(code), bool)), distinct(inside)
    out = pd.DataFrame({"persons_all": all_by, "persons_in": in_by},
                       index=pd.Index(comm.uniques, dtype="string"))
    out.loc[COUNTY] = [all_n, in_n]
    out.index = out.index.astype("string").rename("scope")
    return out.astype("int64")


def _sums(claims: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """Per insured community: rows, in-county / primary / national rows, fund sums (fen).

    The unit of each row is found by position (ids factorised once, :mod:`dip_codes`); an
    unknown unit counts as outside the county. Rows without a community are not counted.
    """
    position = lookup(claims["unit_id"].astype("string"), units["unit_id"].astype("string"))
    scope = units["scope"].astype("string")

    def flag(mask: pd.Series) -> np.ndarray:  # per unit, + False for "no unit" (position −1)
        return np.append(mask.fillna(False).to_numpy(dtype=bool), False)[position]

    in_county = flag(scope.eq(COUNTY))
    primary = in_county & flag(units["category"].astype("string").isin(PRIMARY))
    national = flag(scope.eq("national"))
    fund = claims["fund_paid"].to_numpy(dtype="int64")
    community = Factorized.of(claims["community_id"].astype("string"))
    code, k = community.codes, len(community.uniques)
    if (code < 0).any():  # no community: not counted
        keep = code >= 0
        code, in_county, primary, national, fund = (
            a[keep] for a in (code, in_county, primary, national, fund))

    def count(mask: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(code if mask is None else code[mask], minlength=k).astype("int64")

    def total(mask: np.ndarray | None = None) -> np.ndarray:  # exact int64 sums
        out = np.zeros(k, dtype="int64")
        np.add.at(out, code if mask is None else code[mask], fund if mask is None else fund[mask])
        return out

    return pd.DataFrame({
        "rows": count(), "in_county": count(in_county), "primary": count(primary),
        "national": count(national), "fund_paid": total(), "fund_in": total(in_county),
        "fund_primary": total(primary)}, index=pd.Index(community.uniques, dtype="string"))


def compute_indicators(*, inpatient_cases: pd.DataFrame, outpatient_claims: pd.DataFrame,
                       units: pd.DataFrame, params: IndicatorParams,
                       communities: pd.DataFrame | None = None,
                       enrolment: pd.DataFrame | None = None,
                       reference_costs: pd.DataFrame | None = None,
                       period: str | None = None) -> IndicatorResult:
    """The ``indicators`` table (every community, then ``county``) and the rubric scores.

    ``period``: what the rows cover (``YYYY``, ``YYYYQn`` or ``YYYY-MM``; the run passes its
    year), written in the table's ``period`` column (<NA> when not given)."""
    problems = [Problem("indicators.unknown_target", "warning", "config",
                        f"指标目标值中的 `{code}` 不是已知指标，已忽略",
                        f"unknown indicator code `{code}` in indicators.targets", value=code)
                for code in params.targets if code not in DEFINITIONS]
    per = measures(inpatient_cases, outpatient_claims, units, enrolment, communities,
                   reference_costs)
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
