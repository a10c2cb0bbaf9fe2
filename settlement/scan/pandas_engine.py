"""The pandas engine: the reference implementation of every scan (vectorised pandas/numpy).

Everything is in memory: a Parquet input is read whole (only the columns a scan needs).
The other engines must return exactly what these methods return. The cohort scan lives in
:mod:`pandas_cohort`, the indicator counts in :mod:`pandas_indicators`.

Example (:meth:`PandasEngine.expenditure_lines`): community A's insured have DIP cases at
member units with fund due 1,000.00 and 200.00, a case at a provincial hospital with fund paid
5,000.00 and a general outpatient claim of 30.00 → expenditure_dip 120,000 fen (cases_dip
2), expenditure_external_province 500,000, expenditure_outpatient_general 3,000.
"""

from __future__ import annotations

from typing import Iterator

import pandas as pd

from settlement.scan import (CASE_FLOW_COLUMNS, EXPENDITURE_SCAN_COLUMNS, OUTPATIENT_HOME_COLUMNS,
                             Engine, Table,
                             Window, register_engine)
from settlement.scan.frames import read
from settlement.scan.pandas_cohort import cohort_items
from settlement.scan.pandas_indicators import indicator_counts
from settlement.vocabulary import CLAIM_TYPES, SCOPES, community_of_members

try:  # the DIP scans (helper "dipscan"): settle_dip's numpy code as engine methods
    from settlement.dip.scan import PandasDipScan
except ImportError:  # pragma: no cover - until the DIP scan exists
    class PandasDipScan:  # type: ignore[no-redef]
        pass


@register_engine("pandas")
class PandasEngine(PandasDipScan, Engine):
    """In-memory pandas/numpy scans: the reference for every other engine."""

    def expenditure_lines(self, dip_cases: Table, inpatient_cases: Table,
                          outpatient_claims: Table, units: pd.DataFrame, *,
                          window: Window | None = None) -> pd.DataFrame:
        dated = window is not None
        cases = read(inpatient_cases, ["case_id", "community_id", "unit_id", "fund_paid",
                                       *(["discharge_date"] if dated else [])],
                     window=window, date_column="discharge_date")
        claims = read(outpatient_claims, ["community_id", "claim_type", "fund_paid",
                                          *(["service_date"] if dated else [])],
                      window=window, date_column="service_date")
        dip = read(dip_cases, ["case_id", "unit_id", "community_id", "fund_due"])
        if dated:
            dip = dip.loc[dip["case_id"].isin(cases["case_id"]).to_numpy(bool)]
        members = community_of_members(units)
        dip = dip.loc[(dip["unit_id"].isin(members.index) & dip["community_id"].notna()).to_numpy(bool)]
        frame = pd.concat([_sum_by(dip, "fund_due", "expenditure_dip", count="cases_dip"),
                           _external(cases, members, units), _outpatient(claims)], axis=1)
        frame = frame.reindex(sorted(frame.index.dropna()))
        for col in EXPENDITURE_SCAN_COLUMNS[1:]:
            frame[col] = frame[col].fillna(0).astype("int64") if col in frame else 0
        frame.index.name = "community_id"
        out = frame.reset_index()[EXPENDITURE_SCAN_COLUMNS]
        return out.astype({"community_id": "string", **{c: "int64" for c in out.columns[1:]}})

    def cohort_items(self, cohort: pd.DataFrame, inpatient_cases: Table,
                     outpatient_claims: Table | None, units: pd.DataFrame,
                     dip_cases: Table | None = None) -> pd.DataFrame:
        return cohort_items(cohort, inpatient_cases, outpatient_claims, units, dip_cases)

    def indicator_counts(self, inpatient_cases: Table, outpatient_claims: Table,
                         units: pd.DataFrame, reference_costs: pd.DataFrame | None = None, *,
                         window: Window | None = None, persons: bool = True) -> pd.DataFrame:
        return indicator_counts(inpatient_cases, outpatient_claims, units, reference_costs,
                                window=window, persons=persons)

    def outpatient_at_home(self, outpatient_claims: Table, units: pd.DataFrame, *,
                           window: Window | None = None) -> pd.DataFrame:
        columns = ["community_id", "unit_id", "fund_paid", *(["service_date"] if window else [])]
        c = read(outpatient_claims, columns, window=window, date_column="service_date")
        c = c.loc[c["community_id"].notna().to_numpy(bool)]
        home = community_of_members(units)
        inside = (c["unit_id"].astype(str).map(home).astype("string")
                  == c["community_id"].astype("string")).fillna(False).astype(bool)
        by = c["community_id"].astype(str)
        out = pd.DataFrame({"fund_at_own_units": c["fund_paid"].where(inside, 0).groupby(by).sum(),
                            "fund_elsewhere": c["fund_paid"].where(~inside, 0).groupby(by).sum()})
        out = out.sort_index().rename_axis("community_id").reset_index()
        return out.astype({"community_id": "string", "fund_at_own_units": "int64",
                           "fund_elsewhere": "int64"})[OUTPATIENT_HOME_COLUMNS]

    def case_flows(self, inpatient_cases: Table, *, window: Window | None = None) -> pd.DataFrame:
        columns = ["unit_id", "dip_group", "fund_paid", *(["discharge_date"] if window else [])]
        c = read(inpatient_cases, columns, window=window, date_column="discharge_date")
        keys = [c["unit_id"].astype("string").rename("unit_id"),
                c["dip_group"].astype("string").rename("dip_group")]
        grouped = c["fund_paid"].astype("int64").groupby(keys, dropna=False, sort=False).agg(["size", "sum"])
        out = grouped.reset_index().rename(columns={"size": "cases", "sum": "fund_paid"})
        out = out.sort_values(["unit_id", "dip_group"], na_position="last", kind="stable")
        return out.reset_index(drop=True).astype({
            "unit_id": "string", "dip_group": "string", "cases": "int64", "fund_paid": "int64"})[CASE_FLOW_COLUMNS]

    def batches(self, table: Table, columns: list[str]) -> Iterator[pd.DataFrame]:
        yield read(table, columns)


def _sum_by(frame: pd.DataFrame, money: str, name: str, count: str | None = None) -> pd.DataFrame:
    """Σ money (and row count) by insured community; rows without a community drop out."""
    grouped = frame.groupby("community_id", sort=False, observed=True)[money].agg(["sum", "size"])
    grouped.index = grouped.index.astype(str)
    out = grouped[["sum"]].rename(columns={"sum": name})
    if count:
        out[count] = grouped["size"]
    return out


def _by_community_and(frame: pd.DataFrame, key: pd.Series, money: str) -> tuple[pd.DataFrame, pd.Series]:
    """One pass: Σ money by (community, key) as a wide table, and rows per community."""
    grouped = (frame[money].groupby([frame["community_id"], key], sort=False, observed=True)
               .agg(["sum", "size"]))
    if grouped.empty:
        return pd.DataFrame(index=pd.Index([], dtype=str)), pd.Series(dtype="int64")
    grouped.index = grouped.index.set_levels([grouped.index.levels[0].astype(str),
                                              grouped.index.levels[1].astype(str)])
    wide = grouped["sum"].unstack(fill_value=0)
    return wide, grouped["size"].groupby(level=0).sum()


def _external(cases: pd.DataFrame, members: pd.Series, units: pd.DataFrame) -> pd.DataFrame:
    """fund_paid of cases at non-member institutions, by the institution's scope."""
    outside = cases.loc[~cases["unit_id"].isin(members.index).to_numpy(bool)]
    scope = outside["unit_id"].map(units.set_index("unit_id")["scope"]).fillna("national")
    wide, count = _by_community_and(outside, scope, "fund_paid")
    table = wide.reindex(columns=list(SCOPES), fill_value=0).add_prefix("expenditure_external_")
    table["cases_external"] = count
    return table


def _outpatient(claims: pd.DataFrame) -> pd.DataFrame:
    """fund_paid of outpatient claims by claim_type (any type counts in the total)."""
    wide, count = _by_community_and(claims, claims["claim_type"], "fund_paid")
    out = wide.reindex(columns=list(CLAIM_TYPES), fill_value=0).add_prefix("expenditure_outpatient_")
    out["expenditure_outpatient"] = wide.sum(axis=1)
    out["claims_outpatient"] = count
    return out
