"""Small long tables from a query engine → the reference engine's exact frames.

A SQL engine returns its grouped sums as a few long rows (community, part, key, amount, rows);
these functions lay them out with the columns, dtypes and row order of the pandas engine,
so every engine shares one layout (and the tests compare them with ``check_dtype``)::

    community  part        key       amount  rows
    C1         dip                    1,000     2   → expenditure_dip 1,000, cases_dip 2
    C1         external    province     500     1   → expenditure_external_province 500
    C1         outpatient  general       30     1   → expenditure_outpatient_general 30
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from settlement.scan import (CASE_FLOW_COLUMNS, COHORT_ITEM_COLUMNS, COHORT_TOTAL_COLUMNS,
                             EXPENDITURE_SCAN_COLUMNS, INDICATOR_SCAN_COLUMNS,
                             OUTPATIENT_HOME_COLUMNS)

SPEND_LINES = ("dip", "external", "outpatient")
SOURCES = ("inpatient_cases", "outpatient_claims")
COUNTY = "county"


def _int64(frame: pd.DataFrame, first: str, columns: list[str]) -> pd.DataFrame:
    out = frame.reindex(columns=columns[1:], fill_value=0).fillna(0).astype("int64")
    out.columns = pd.Index(columns[1:])
    out.index = pd.Index(out.index.astype(str), name=first)
    out = out.reset_index()
    out[first] = out[first].astype("string")
    return out[columns]


def expenditure_frame(long: pd.DataFrame) -> pd.DataFrame:
    """(community_id, part, key, amount, rows) → :data:`EXPENDITURE_SCAN_COLUMNS`."""
    community = long["community_id"].astype(str).to_numpy()
    part, key = long["part"].astype(str).to_numpy(), long["key"].astype(str).to_numpy()
    amount, rows = long["amount"].to_numpy("int64"), long["rows"].to_numpy("int64")
    named = np.select([part == "dip", part == "external"],
                      ["expenditure_dip", np.char.add("expenditure_external_", key.astype(str))],
                      np.char.add("expenditure_outpatient_", key.astype(str)))
    counted = np.select([part == "dip", part == "external"],
                        ["cases_dip", "cases_external"], "claims_outpatient")
    cells = pd.DataFrame({"community_id": np.concatenate([community, community, community]),
                          "column": np.concatenate([named, counted,
                                                    np.where(part == "outpatient",
                                                             "expenditure_outpatient", "")]),
                          "value": np.concatenate([amount, rows, amount])})
    cells = cells.loc[cells["column"].isin(EXPENDITURE_SCAN_COLUMNS[1:])]
    wide = cells.groupby(["community_id", "column"])["value"].sum().unstack(fill_value=0)
    return _int64(wide, "community_id", EXPENDITURE_SCAN_COLUMNS)


def indicator_frame(ip: pd.DataFrame, op: pd.DataFrame, persons: pd.DataFrame) -> pd.DataFrame:
    """Per-community sums of both tables and the distinct persons → :data:`INDICATOR_SCAN_COLUMNS`.

    ``ip``/``op``: indexed by community; ``persons``: by community and ``county``."""
    ids = sorted(set(ip.index.astype(str)) | set(op.index.astype(str)))
    ip = ip.set_axis(ip.index.astype(str)).reindex(ids).fillna(0).astype("int64")
    op = op.set_axis(op.index.astype(str)).reindex(ids).fillna(0).astype("int64")
    per = pd.DataFrame({
        "ip_all": ip["rows"], "ip_in": ip["in_county"], "ip_national": ip["national"],
        "op_all": op["rows"], "op_in": op["in_county"], "op_primary": op["primary"],
        "fund_all": ip["fund"] + op["fund"], "fund_in": ip["fund_in"] + op["fund_in"],
        "fund_primary": ip["fund_primary"] + op["fund_primary"],
        "ref_up": ip["ref_up"], "ref_down": ip["ref_down"], "ip_cost": ip["cost"],
        "op_cost": op["cost"], "stay_days": ip["stay_days"],
        "ip_matched_cost": ip["matched_cost"], "ip_matched_ref": ip["matched_ref"]},
        index=pd.Index(ids, dtype=object))
    per.loc[COUNTY] = per.sum()
    per = per.join(persons.set_axis(persons.index.astype(str)))
    return _int64(per, "scope", INDICATOR_SCAN_COLUMNS)


def outpatient_home_frame(sums: pd.DataFrame) -> pd.DataFrame:
    """(community_id, fund_at_own_units, fund_elsewhere) rows → sorted, int64."""
    sums = sums.set_index(sums["community_id"].astype(str)).drop(columns="community_id")
    return _int64(sums.sort_index(), "community_id", OUTPATIENT_HOME_COLUMNS)


def case_flow_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """(unit_id, dip_group, cases, fund_paid) query rows, already sorted → :data:`CASE_FLOW_COLUMNS`
    typed as the reference (ids string, sums int64), positions 0 … n−1."""
    return pd.DataFrame({
        "unit_id": rows["unit_id"].astype("string").array,
        "dip_group": rows["dip_group"].astype("string").array,
        "cases": rows["cases"].to_numpy("int64"),
        "fund_paid": rows["fund_paid"].to_numpy("int64")})[CASE_FLOW_COLUMNS]


def cohort_totals_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """(community_id, line, items, amount, moved) query rows, sorted → the reference's types."""
    return pd.DataFrame({
        "community_id": rows["community_id"].astype("string").array,
        "line": rows["line"].astype("string").array,
        **{c: rows[c].to_numpy("int64") for c in ("items", "amount", "moved")}})[COHORT_TOTAL_COLUMNS]


def cohort_frame(source: str, rows: pd.DataFrame) -> pd.DataFrame:
    """Query rows (row, item_id, person_id, community_id, claim_community_id, member, date,
    amount) → :data:`COHORT_ITEM_COLUMNS` of one source table."""
    n = len(rows)
    if source == "outpatient_claims":
        line = np.full(n, SPEND_LINES.index("outpatient"), dtype="int8")
    else:
        line = np.where(rows["member"].to_numpy(bool), 0, 1).astype("int8")
    text = {c: rows[c].astype("string").array for c in ("item_id", "person_id", "community_id",
                                                        "claim_community_id")}
    return pd.DataFrame({
        "source": pd.Categorical.from_codes(np.full(n, SOURCES.index(source), dtype="int8"),
                                            list(SOURCES)),
        "row": rows["row"].to_numpy("int64"), **text,
        "line": pd.Categorical.from_codes(line, list(SPEND_LINES)),
        "date": rows["date"].to_numpy(dtype="datetime64[ns]"),
        "amount": rows["amount"].to_numpy("int64")})[COHORT_ITEM_COLUMNS]
