"""More measures behind the indicators (issue 11 §8): referrals, admissions, costs, stays.

One row per insured community (plus ``county``), all integers (counts, fen, days) except the
reference cost, which is a sum of last year's average costs (fen, exact as well)::

    ref_up / ref_down   inpatient cases referred up / down (双向转诊): ``referral`` true and a
                        known ``referral_from_unit_id`` whose care level is lower / higher
                        than the treating unit's (village 0 < township 1 < county hospital 2
                        < outside the county 3)
    insured             insured enrolees of the community (communities.insured_enrollees)
    ip_cost, op_cost    Σ total_cost of inpatient cases / outpatient claims (fen)
    cost_all            ip_cost + op_cost
    stay_days           Σ max(1, discharge − admission) days (占用床日)
    ip_matched_cost     Σ total_cost of member-unit cases with a reference cost
    ip_matched_ref      Σ reference cost (上年同级别次均费用) of the same cases

Example: a case at the lead hospital referred from a township centre counts in ``ref_up``;
admitted 3 March, discharged 8 March: 5 stay days; same day: 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from settlement.dip.codes import Factorized, column, lookup

CARE_LEVEL = {"village_clinic": 0, "township_center": 1, "lead_hospital": 2,
              "county_hospital": 2, "private": 2, "external": 3}
EXTRA_COLUMNS = ["ref_up", "ref_down", "insured", "ip_cost", "op_cost", "cost_all", "stay_days",
                 "ip_matched_cost", "ip_matched_ref"]


def _sum_by(code: np.ndarray, k: int, values: np.ndarray | None = None) -> np.ndarray:
    keep = code >= 0
    if values is None:
        return np.bincount(code[keep], minlength=k).astype("int64")
    out = np.zeros(k, dtype="int64")
    np.add.at(out, code[keep], np.asarray(values, dtype="int64")[keep])
    return out


def _care_levels(frame: pd.DataFrame, column: str, units: pd.DataFrame) -> np.ndarray:
    """Care level of each row's unit in ``column``; −1 where missing or unknown."""
    level = units["category"].astype(str).map(CARE_LEVEL).fillna(-1).astype("int64").to_numpy()
    position = lookup(frame[column].astype("string"), units["unit_id"].astype("string"))
    return np.append(level, -1)[position]


def _reference_costs(cases: pd.DataFrame, units: pd.DataFrame,
                     reference: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """(matched mask, reference cost fen) of member-unit cases with a group and a cost."""
    n = len(cases)
    if reference is None or reference.empty or "dip_group" not in cases.columns:
        return np.zeros(n, bool), np.zeros(n, np.int64)
    groups = pd.Index(reference["group_code"].astype(str).unique())
    levels = pd.Index(reference["level"].astype(str).unique())
    table = np.full((len(groups) + 1, len(levels) + 1), -1, dtype=np.int64)
    table[groups.get_indexer(reference["group_code"].astype(str)),
          levels.get_indexer(reference["level"].astype(str))] = reference["avg_cost"].to_numpy("int64")
    unit_pos = lookup(cases["unit_id"].astype("string"), units["unit_id"].astype("string"))
    member = units["community_id"].notna().to_numpy() & (units["category"] != "external").to_numpy()
    unit_level = np.append(np.where(levels.get_indexer(units["level"].astype(str)) < 0, len(levels),
                                    levels.get_indexer(units["level"].astype(str))), len(levels))
    group = lookup(cases["dip_group"].astype("string"), pd.Series(groups, dtype="string"))
    cost = table[np.where(group < 0, len(groups), group), unit_level[unit_pos]]
    matched = np.append(member, False)[unit_pos] & (cost > 0)
    return matched, np.where(matched, cost, 0)


def _stay(cases: pd.DataFrame) -> np.ndarray:
    """max(1, discharge − admission) days per case; 0 where a date is missing."""
    if not {"admission_date", "discharge_date"} <= set(cases.columns):
        return np.zeros(len(cases), np.int64)
    days = (cases["discharge_date"] - cases["admission_date"]).dt.days
    return np.where(days.isna(), 0, np.maximum(days.fillna(0), 1)).astype(np.int64)


def extra_measures(inpatient_cases: pd.DataFrame, outpatient_claims: pd.DataFrame,
                   units: pd.DataFrame, communities: pd.DataFrame | None = None,
                   reference_costs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The :data:`EXTRA_COLUMNS` per insured community, then the ``county`` row."""
    ip_comm = Factorized.of(inpatient_cases["community_id"].astype("string"))
    op_comm = Factorized.of(outpatient_claims["community_id"].astype("string"))
    ids = ip_comm.uniques.union(op_comm.uniques)
    if communities is not None:
        ids = ids.union(pd.Index(communities["community_id"].astype(str)))
    ids = pd.Index([str(i) for i in ids])
    ip = np.append(ids.get_indexer(ip_comm.uniques.astype(str)), -1)[ip_comm.codes]
    op = np.append(ids.get_indexer(op_comm.uniques.astype(str)), -1)[op_comm.codes]
    k = len(ids)
    to_level = _care_levels(inpatient_cases, "unit_id", units)
    referred = inpatient_cases["referral"].to_numpy(dtype=bool, na_value=False) \
        if "referral" in inpatient_cases.columns else np.zeros(len(inpatient_cases), bool)
    from_level = (_care_levels(inpatient_cases, "referral_from_unit_id", units)
                  if "referral_from_unit_id" in inpatient_cases.columns
                  else np.full(len(inpatient_cases), -1))
    known = referred & (from_level >= 0) & (to_level >= 0)
    days = _stay(inpatient_cases)
    matched, ref = _reference_costs(inpatient_cases, units, reference_costs)
    ip_cost = column(inpatient_cases, "total_cost", 0)
    per = pd.DataFrame({
        "ref_up": _sum_by(np.where(known & (to_level > from_level), ip, -1), k),
        "ref_down": _sum_by(np.where(known & (to_level < from_level), ip, -1), k),
        "ip_cost": _sum_by(ip, k, ip_cost),
        "op_cost": _sum_by(op, k, column(outpatient_claims, "total_cost", 0)),
        "stay_days": _sum_by(ip, k, days),
        "ip_matched_cost": _sum_by(np.where(matched, ip, -1), k, ip_cost),
        "ip_matched_ref": _sum_by(np.where(matched, ip, -1), k, ref),
    }, index=ids)
    per["cost_all"] = per["ip_cost"] + per["op_cost"]
    insured = (communities.set_index(communities["community_id"].astype(str))["insured_enrollees"]
               if communities is not None else pd.Series(dtype="int64"))
    per["insured"] = insured.reindex(ids).fillna(0).astype("int64").to_numpy()
    per.loc["county"] = per.sum()
    per.index = per.index.astype("string").rename("scope")
    return per[EXTRA_COLUMNS].astype("int64")
