"""The issue-4 county, built inline for the global-budget tests (test_package, test_corridor,
test_distribution, test_ledger).

County of 600,000 insured at 1,070 元, critical-illness premium 100 元, reserve 5 %:
community A has 60 % of the insured (360,000), B 40 % (240,000). A's insured spend
316,000,000.00, B's 230,000,000.00. Money in the frames is int64 fen, as the loader gives it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd

from settlement.config import load_config, resolve
from settlement.params import Params

YUAN = 100  # fen per yuan
SAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "sample-county.yaml"


def s(*values) -> pd.arrays.StringArray:
    return pd.array(values, dtype="string")


def sample_params() -> Params:
    return resolve(load_config(SAMPLE_CONFIG)).params


def with_section(params: Params, section: str, **changes) -> Params:
    """The params with some fields of one section replaced (for scenario variants)."""
    return params.model_copy(update={section: getattr(params, section).model_copy(update=changes)})


def communities(insured=(360_000, 240_000), ids=("A", "B")) -> pd.DataFrame:
    return pd.DataFrame({"community_id": s(*ids), "community_name": s(*(f"{i}医共体" for i in ids)),
                         "insured_enrollees": pd.array(insured, dtype="int64")})


def fund_budget(ids=("A", "B"), financing=1070, premium=100, earmarks=0,
                official=None) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame({
        "community_id": s(*ids),
        "per_capita_financing": [financing * YUAN] * n,
        "critical_illness_premium_per_capita": [premium * YUAN] * n,
        "other_earmarks_per_capita": pd.array([earmarks * YUAN] * n, dtype="Int64"),
        "official_package": pd.array(official or [None] * n, dtype="Int64"),
    })


UNITS = pd.DataFrame({
    "unit_id": s("HA", "HA2", "TA1", "TA2", "VA1", "VA2", "HB", "TB1", "VB1", "PB", "X1", "X2", "N1"),
    "unit_name": s("A 县医院", "A 中医院", "A 镇一", "A 镇二", "A 村一", "A 村二", "B 县医院", "B 镇一",
                   "B 村一", "B 民营医院", "市医院", "省外医院", "县内非成员医院"),
    "community_id": s("A", "A", "A", "A", "A", "A", "B", "B", "B", "B", None, None, None),
    "category": s("lead_hospital", "county_hospital", "township_center", "township_center",
                  "village_clinic", "village_clinic", "lead_hospital", "township_center",
                  "village_clinic", "private", "external", "external", "private"),
    "scope": s(*["county"] * 10, "city", "national", "county"),
    "service_population": pd.array([200_000, 70_000, 30_000, 10_000, 1_500, 500, 150_000, 20_000,
                                    1_500, 0, 0, 0, 0], dtype="int64"),
})

SCORES = pd.DataFrame({
    "entity_type": s("community", "community", *["unit"] * 10),
    "entity_id": s("A", "B", "HA", "HA2", "TA1", "TA2", "VA1", "VA2", "HB", "TB1", "VB1", "PB"),
    "score": [95.0, 92.0, 100.0, 100.0, 100.0, 80.0, 90.0, 90.0, 100.0, 100.0, 100.0, 100.0],
})


def expenditure(a_fen: int, b_fen: int) -> pd.DataFrame:
    """An expenditure frame as :func:`scan_expenditure` returns it, all in the DIP line."""
    from settlement.stages.expenditure import EXPENDITURE_COLUMNS
    frame = pd.DataFrame(0, index=range(2), columns=EXPENDITURE_COLUMNS[1:], dtype="int64")
    frame.insert(0, "community_id", s("A", "B"))
    for col in ("expenditure_dip", "expenditure"):
        frame[col] = [a_fen, b_fen]
    return frame


def pct(x: str) -> Decimal:
    return Decimal(x) / 100
