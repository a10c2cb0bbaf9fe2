"""Expenditure of each community's insured population (医共体参保人员基金支出, DOMAIN §2.3).

The package pays **all** fund expenditure of the community's insured, wherever they are
treated. This module is a *scan*: it reduces millions of cases and claims to one row per
community, with vectorised group-bys only (no Python loop over rows)::

    expenditure_c = Σ DIP fund_due of cases at member units                  (住院 DIP 应付)
                  + DIP rounding line (unit settlement − Σ its cases, if given)
                  + Σ fund_paid of inpatient cases at non-member institutions,
                    by scope: county (non-member county units), city, province, national
                  + Σ fund_paid of outpatient claims, by claim_type
                  + other package lines (family-doctor fees, carve-outs …, signed)

Cases and claims count against the **insured's** community (``community_id`` of the case),
not the treating unit's: a GT02 resident treated at GT01's lead hospital is GT02 spending.

Example: community A's insured have DIP cases at member units with fund due 1,000.00 and
200.00, a case at a provincial hospital with fund paid 5,000.00 and one general outpatient
claim of 30.00 → expenditure_dip 1,200.00, expenditure_external 5,000.00 (province),
expenditure_outpatient 30.00, expenditure 6,230.00.

A *member unit* is a unit with a ``community_id`` whose category is not ``external``; cases
there are priced by DIP (``dip_cases.fund_due``); cases anywhere else are taken at what the
fund paid (``inpatient_cases.fund_paid``).

The reduction over the big tables is the scan engine's
(:meth:`settlement.scan.Engine.expenditure_lines`, pandas or DuckDB, identical to the fen);
this module adds the small lines (other package lines, the DIP rounding) and the totals.
"""

from __future__ import annotations

import pandas as pd

from settlement.scan import Engine, Window, resolve
from settlement.vocabulary import CLAIM_TYPES, SCOPES, community_of_members

LINE_LABELS = {
    "expenditure_dip": "医共体成员单位住院（DIP 应付）",
    "expenditure_dip_rounding": "DIP 机构结算与病例明细尾差",
    "expenditure_external_county": "县内非成员机构住院",
    "expenditure_external_city": "市内县外住院",
    "expenditure_external_province": "省内市外住院",
    "expenditure_external_national": "省外住院",
    "expenditure_outpatient_general": "普通门诊",
    "expenditure_outpatient_chronic_special": "门诊慢特病",
    "expenditure_outpatient_two_diseases": "“两病”门诊",
    "expenditure_other": "其他打包支出",
}

EXPENDITURE_COLUMNS = [
    "community_id", "expenditure_dip", "expenditure_dip_rounding",
    *(f"expenditure_external_{s}" for s in SCOPES), "expenditure_external",
    *(f"expenditure_outpatient_{t}" for t in CLAIM_TYPES), "expenditure_outpatient",
    "expenditure_other", "expenditure", "cases_dip", "cases_external", "claims_outpatient",
]


def scan_expenditure(
    dip_cases: pd.DataFrame,
    inpatient_cases,
    outpatient_claims,
    units: pd.DataFrame,
    communities: pd.DataFrame | None = None,
    other_lines: pd.DataFrame | None = None,
    dip_units: pd.DataFrame | None = None,
    *,
    engine: Engine | str | None = None,
    window: Window | None = None,
) -> pd.DataFrame:
    """Per-community expenditure lines (int64 fen), one row per community.

    ``dip_cases``: the DIP stage's cases (unit_id, community_id, fund_due). ``other_lines``:
    optional (community_id, line, label_zh, amount fen; signed). ``dip_units``: optional DIP
    unit settlement (unit_id, fund_due); where a member unit's fund due differs from the sum
    of its cases (point-value rounding), the difference is a named line of the unit's own
    community. ``communities``: the communities to report (zero rows included).
    ``inpatient_cases`` / ``outpatient_claims``: frames or Parquet paths; ``engine``: the scan
    engine (None: :func:`settlement.scan.get_engine`); ``window``: only the cases and claims
    of a date window (the monthly views).
    """
    scanned = resolve(engine).expenditure_lines(dip_cases, inpatient_cases, outpatient_claims,
                                                units, window=window)
    return expenditure_of_lines(scanned, dip_cases, units, communities, other_lines, dip_units)


def expenditure_of_lines(scanned: pd.DataFrame, dip_cases: pd.DataFrame, units: pd.DataFrame,
                         communities: pd.DataFrame | None = None,
                         other_lines: pd.DataFrame | None = None,
                         dip_units: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`scan_expenditure` of one scan's lines (:meth:`~settlement.scan.Engine.expenditure_lines`,
    or one period of ``expenditure_lines_by_period``)."""
    parts = [scanned.set_index(scanned["community_id"].astype(str)).drop(columns="community_id")]
    if other_lines is not None and not other_lines.empty:
        parts.append(_sum_by(other_lines, "amount", "expenditure_other"))
    if dip_units is not None:
        members = community_of_members(units)
        in_member = dip_cases["unit_id"].isin(members.index).to_numpy(bool)
        parts.append(_dip_rounding(dip_units, dip_cases.loc[in_member], members))
    frame = pd.concat(parts, axis=1)
    ids = (communities["community_id"].astype(str).tolist() if communities is not None
           else sorted(frame.index.dropna()))
    frame = frame.reindex(ids)
    for col in EXPENDITURE_COLUMNS[1:]:
        frame[col] = frame[col].fillna(0).astype("int64") if col in frame else 0
    frame["expenditure_external"] = frame[[f"expenditure_external_{s}" for s in SCOPES]].sum(axis=1)
    frame["expenditure"] = frame[["expenditure_dip", "expenditure_dip_rounding",
                                  "expenditure_external", "expenditure_outpatient",
                                  "expenditure_other"]].sum(axis=1)
    frame.index.name = "community_id"
    out = frame.reset_index()[EXPENDITURE_COLUMNS]
    out["community_id"] = out["community_id"].astype("string")
    return out


def _sum_by(frame: pd.DataFrame, money: str, name: str) -> pd.DataFrame:
    """Σ money by community (the small other-lines table); rows without a community drop out."""
    grouped = frame.groupby("community_id", sort=False, observed=True)[money].sum()
    grouped.index = grouped.index.astype(str)
    return grouped.rename(name).to_frame()


def _dip_rounding(dip_units: pd.DataFrame, member_cases: pd.DataFrame,
                  members: pd.Series) -> pd.DataFrame:
    """Unit settlement fund_due − Σ case fund_due, on the unit's own community."""
    by_case = member_cases["fund_due"].astype("int64").groupby(member_cases["unit_id"].astype(str)).sum()
    settled = pd.Series(dip_units["fund_due"].astype("int64").to_numpy(),
                        index=dip_units["unit_id"].astype(str).to_numpy())
    settled = settled[settled.index.isin(members.index)]
    diff = settled.sub(by_case.reindex(settled.index, fill_value=0))
    return diff.groupby(members.reindex(diff.index).to_numpy()).sum().rename(
        "expenditure_dip_rounding").to_frame()
