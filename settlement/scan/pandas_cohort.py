"""The chronic cohort's items of spend, pandas reference (:meth:`Engine.cohort_items`).

An item is a non-childbirth inpatient case (dated by ``discharge_date``) or an outpatient
claim (``service_date``) of an enrolled person, dated inside one of the person's enrolment
periods (both ends inclusive). Its amount is what the global-budget package counts for it: a
case at a member unit its DIP ``fund_due`` (0 when DIP did not settle it; ``fund_paid`` when
no DIP result is given), anything else its ``fund_paid``::

    cohort  P1 C1 2025-01-01 … 2025-06-30
    cases   I1 P1 at a member unit, discharged 03-01, DIP fund due 800   → dip 800
            I2 P1 at a city hospital, discharged 07-02                   → outside the period
    claims  O1 P1 03-05 fund paid 30                                     → outpatient 30
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from settlement.scan.frames import read
from settlement.vocabulary import is_member

SPEND_LINES = ("dip", "external", "outpatient")
SOURCES = ("inpatient_cases", "outpatient_claims")
CASE_COLUMNS = ["case_id", "person_id", "community_id", "unit_id", "discharge_date", "fund_paid",
                "childbirth"]
CLAIM_COLUMNS = ["claim_id", "person_id", "community_id", "service_date", "fund_paid"]


def cohort_rows(person_id: pd.Series, dates: pd.Series, cohort: pd.DataFrame) -> pd.DataFrame:
    """Rows of a claims table dated inside an enrolment period of their person.

    Returns ``row`` (position in the claims table) and ``period`` (position in ``cohort``).
    The person ids are probed once into the cohort's distinct persons (an Arrow hash lookup,
    no merge of the whole table); only the matching rows are joined to their periods, on an
    integer key. A person with two periods joins both, and the date keeps at most one of them
    (the validation rejects overlapping periods; the chronic stage catches the rest)::

        claims person [P1, P9, P1]  dates [03-01, 03-01, 11-30]
        cohort person [P1]          period [01-01 … 06-30]
        probe → [0, −1, 0]; join rows 0, 2; dates keep row 0 → row [0], period [0]
    """
    persons = pd.unique(cohort["person_id"].astype("string"))
    found = pc.index_in(_arrow(person_id), value_set=_arrow(pd.Series(persons)))
    key = pc.fill_null(found, -1).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(key >= 0)
    period_key = pd.Index(persons).get_indexer(cohort["person_id"].astype("string"))
    joined = pd.DataFrame({"row": rows, "key": key[rows]}).merge(
        pd.DataFrame({"key": period_key, "period": np.arange(len(cohort))}), on="key")
    date = dates.to_numpy()[joined["row"].to_numpy()]
    period = joined["period"].to_numpy()
    inside = ((date >= cohort["period_start"].to_numpy()[period])
              & (date <= cohort["period_end"].to_numpy()[period]))
    return joined.loc[inside, ["row", "period"]].reset_index(drop=True)


def _arrow(values: pd.Series) -> pa.Array:
    """A text column as one Arrow large_string array (no copy when it is Arrow already)."""
    arr = pa.array(values.astype("string").array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string())


def cohort_items(enrolled: pd.DataFrame, inpatient_cases, outpatient_claims, units: pd.DataFrame,
                 dip_cases=None) -> pd.DataFrame:
    """Items of spend: source, row (position in its table), item_id, person_id, community_id
    (the enrolee's), claim_community_id, line (dip/external/outpatient), date, amount (fen)."""
    cohort = enrolled[["person_id", "community_id", "period_start", "period_end"]].reset_index(drop=True)
    community = cohort["community_id"].astype("string")
    member_units = units.loc[is_member(units), "unit_id"]

    cases = read(inpatient_cases, CASE_COLUMNS).reset_index(drop=True)
    cases = cases.loc[~cases["childbirth"].fillna(False).astype(bool).to_numpy()]
    hit = cohort_rows(cases["person_id"], cases["discharge_date"], cohort)
    picked = cases.iloc[hit["row"].to_numpy()]
    member = picked["unit_id"].isin(member_units).to_numpy(bool)
    amount = picked["fund_paid"].to_numpy(dtype="int64").copy()
    if dip_cases is not None:
        dip = read(dip_cases, ["case_id", "fund_due"])
        due = dip.set_index(dip["case_id"].astype("string"))["fund_due"]
        amount[member] = picked["case_id"][member].map(due).fillna(0).to_numpy(dtype="int64")
    frames = [_items("inpatient_cases", picked, picked.index.to_numpy(), "case_id",
                     "discharge_date", community.iloc[hit["period"]],
                     np.where(member, "dip", "external"), amount)]
    if outpatient_claims is not None:
        claims = read(outpatient_claims, CLAIM_COLUMNS)
        hit = cohort_rows(claims["person_id"], claims["service_date"], cohort)
        picked = claims.iloc[hit["row"].to_numpy()]
        frames.append(_items("outpatient_claims", picked, hit["row"].to_numpy(), "claim_id",
                             "service_date", community.iloc[hit["period"]], "outpatient",
                             picked["fund_paid"].to_numpy(dtype="int64")))
    return pd.concat(frames, ignore_index=True)


def _items(source: str, picked: pd.DataFrame, rows: np.ndarray, id_column: str,
           date_column: str, community: pd.Series, line: np.ndarray | str,
           amount: np.ndarray) -> pd.DataFrame:
    """The item frame; text stays in Arrow (``.array``), repeated labels are categoricals."""
    def text(values: pd.Series):
        return values.astype("string").array

    n = len(picked)
    labels = (pd.Categorical.from_codes(np.full(n, SPEND_LINES.index(line), dtype="int8"),
                                        list(SPEND_LINES))
              if isinstance(line, str) else pd.Categorical(line, categories=list(SPEND_LINES)))
    return pd.DataFrame({
        "source": pd.Categorical.from_codes(np.full(n, SOURCES.index(source), dtype="int8"),
                                            list(SOURCES)),
        "row": rows.astype("int64"), "item_id": text(picked[id_column]),
        "person_id": text(picked["person_id"]), "community_id": text(community),
        "claim_community_id": text(picked["community_id"]), "line": labels,
        "date": picked[date_column].to_numpy(dtype="datetime64[ns]"),
        "amount": amount.astype("int64")})


def cohort_totals_of(items: pd.DataFrame) -> pd.DataFrame:
    """Items (:func:`cohort_items`' columns) → per (community_id, line): items, amount, moved
    (:meth:`~settlement.scan.Engine.cohort_totals`)::

        items  C1 dip 800 (claim C1), C1 outpatient 30 (claim C2), C1 outpatient 20 (claim C1)
        →      C1 dip 1 800 0;  C1 outpatient 2 50 1
    """
    from settlement.scan import COHORT_TOTAL_COLUMNS

    moved = (items["claim_community_id"].astype("string")
             != items["community_id"].astype("string")).fillna(False).to_numpy(bool)
    frame = pd.DataFrame({"community_id": items["community_id"].astype("string"),
                          "line": items["line"].astype(str), "items": 1,
                          "amount": items["amount"].to_numpy("int64"),
                          "moved": moved.astype("int64")})
    out = frame.groupby(["community_id", "line"], sort=True, dropna=True).sum().reset_index()
    return out.astype({"community_id": "string", "line": "string", "items": "int64",
                       "amount": "int64", "moved": "int64"})[COHORT_TOTAL_COLUMNS]
