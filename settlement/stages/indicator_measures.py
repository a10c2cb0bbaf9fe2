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

The counts over the cases and claims are the scan engine's
(:meth:`settlement.scan.Engine.indicator_counts`); this module adds the per-community
figures of the small tables (insured enrolees) and the county row.
"""

from __future__ import annotations

import pandas as pd

from settlement.scan.pandas_indicators import CARE_LEVEL  # noqa: F401 (the care levels, documented above)

EXTRA_COLUMNS = ["ref_up", "ref_down", "insured", "ip_cost", "op_cost", "cost_all", "stay_days",
                 "ip_matched_cost", "ip_matched_ref"]
SCANNED = ["ref_up", "ref_down", "ip_cost", "op_cost", "stay_days", "ip_matched_cost",
           "ip_matched_ref"]


def extra_measures(counts: pd.DataFrame, communities: pd.DataFrame | None = None) -> pd.DataFrame:
    """The :data:`EXTRA_COLUMNS` per insured community, then the ``county`` row.

    ``counts``: the engine's indicator counts indexed by scope (communities and ``county``);
    ``communities``: adds its communities (zero counts) and their insured enrolees."""
    per = counts.drop(index="county", errors="ignore")[SCANNED]
    ids = pd.Index([str(i) for i in per.index])
    if communities is not None:
        ids = ids.union(pd.Index(communities["community_id"].astype(str)))
    per = per.set_axis([str(i) for i in per.index]).reindex(ids, fill_value=0)
    per["cost_all"] = per["ip_cost"] + per["op_cost"]
    insured = (communities.set_index(communities["community_id"].astype(str))["insured_enrollees"]
               if communities is not None else pd.Series(dtype="int64"))
    per["insured"] = insured.reindex(ids).fillna(0).astype("int64").to_numpy()
    per.loc["county"] = per.sum()
    per.index = per.index.astype("string").rename("scope")
    return per[EXTRA_COLUMNS].astype("int64")
