"""The case list and the scan (病例清单与汇总): case money, then exact sums by unit or community.

Case money (分): ``gross_value`` = points × settlement point value, rounded per case with
:func:`settlement.money.round_fen` (information for the case list); ``fund_due`` = gross −
self_pay − violation_deduction for scored cases, fund_paid − violation_deduction for unmatched
cases paid at cost, 0 for excluded cases.

The scan reduces a million case rows to one row per unit (or per community) with integer
sums (``numpy.add.at`` on int64: exact), so everything after works on small tables. Sums over
the few non-scored cases are taken on their positions only (most cases are scored).

Example: two scored cases of 200 and 750 points at 20.00 元/分, self-pay 1,000 and 4,000:
gross 4,000.00 + 15,000.00 = 19,000.00; fund due 3,000.00 + 11,000.00 = 14,000.00.
"""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import pandas as pd

from settlement.money import round_fen
from settlement.dip.codes import Factorized, column
from settlement.dip.scoring import (
    AT_COST, CLASSES, COEF_SOURCES, EXCLUDED, REASONS, SCORED, SPECIAL, CaseScores,
)
from settlement.dip.settle import PointValue, sum_by

SETTLEMENTS = ("scored", "at_cost", "excluded")
AGGREGATE_COLUMNS = ("cases", "excluded_cases", "special_cases", "review_cases", "point_units",
                     "case_gross_value", "at_cost", "self_pay", "violation_deduction",
                     "case_fund_due")


def _categorical(codes: np.ndarray, categories) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories, validate=False)


def case_ids(cases: pd.DataFrame, rows: np.ndarray):
    """The case_id column of the member cases (an Arrow-backed take when some are left out)."""
    ids = cases["case_id"].array
    return ids if len(rows) == len(ids) else ids.take(rows)


def case_frame(s: CaseScores, cases: pd.DataFrame, units: pd.DataFrame, pv: PointValue,
               community: Factorized | Future | None = None, ids=None) -> pd.DataFrame:
    """dip_cases: the contract columns first, then the explanatory ones (ids categorical).

    ``community`` (the factorised community_id column) and ``ids`` (:func:`case_ids`) may be
    computed beforehand or be Futures of another thread; they are awaited last.
    """
    rows = s.rows
    whole = len(rows) == len(cases)
    take = (lambda a: a) if whole else (lambda a: a[rows])
    self_pay = take(cases["self_pay"].to_numpy())
    violation = take(column(cases, "violation_deduction", 0))
    fund_paid = take(cases["fund_paid"].to_numpy())
    gross = round_fen(s.points * float(pv.settlement))  # 0 for cases without points
    fund_due = gross - self_pay - violation
    other = np.flatnonzero(s.settle != SCORED)
    fund_due[other] = np.where(s.settle[other] == AT_COST, fund_paid[other] - violation[other], 0)
    level_codes, levels = pd.factorize(units["level"])
    community = _ready(community, lambda: Factorized.of(cases["community_id"]))
    return pd.DataFrame({
        "case_id": _ready(ids, lambda: case_ids(cases, rows)),
        "unit_id": _categorical(s.unit_pos, pd.Index(units["unit_id"])),
        "community_id": community.categorical(rows),
        "dip_group": s.dip_group,
        "ratio": s.ratio,
        "case_class": _categorical(s.case_class, CLASSES),
        "base_score": s.base_score,
        "coefficient": s.coefficient,
        "points": s.points,
        "gross_value": gross,
        "fund_due": fund_due,
        "level": _categorical(np.append(level_codes, -1)[s.unit_pos], levels),
        "coefficient_source": _categorical(s.coef_source, COEF_SOURCES),
        "self_pay": self_pay,
        "violation_deduction": violation,
        "claim_fund_paid": fund_paid,
        "settlement": _categorical(s.settle, SETTLEMENTS),
        "review_flag": s.review,
        "excluded_reason": _categorical(s.reason, REASONS),
        "approved_points": s.approved_points,
    }, copy=False)


def _ready(value, compute):
    """A value given beforehand (a Future of another thread is awaited), else computed now."""
    if value is None:
        return compute()
    return value.result() if isinstance(value, Future) else value


def aggregate(codes: np.ndarray, n: int, s: CaseScores, dip_cases: pd.DataFrame) -> pd.DataFrame:
    """Exact sums of the case list by ``codes`` (0 ≤ code < n): columns AGGREGATE_COLUMNS."""
    other = np.flatnonzero(s.settle != SCORED)
    at_cost = other[s.settle[other] == AT_COST]
    excluded = other[s.settle[other] == EXCLUDED]
    self_pay = dip_cases["self_pay"].to_numpy()
    violation = dip_cases["violation_deduction"].to_numpy()
    count = np.bincount(codes, minlength=n)
    n_excluded = np.bincount(codes[excluded], minlength=n)
    return pd.DataFrame({
        "cases": count - n_excluded,
        "excluded_cases": n_excluded,
        "special_cases": np.bincount(codes[s.case_class == SPECIAL], minlength=n),
        "review_cases": np.bincount(codes[s.review], minlength=n),
        "point_units": sum_by(codes, s.point_units, n),
        "case_gross_value": sum_by(codes, dip_cases["gross_value"].to_numpy(), n),
        "at_cost": sum_by(codes[at_cost], dip_cases["claim_fund_paid"].to_numpy()[at_cost], n),
        "self_pay": sum_by(codes, self_pay, n) - sum_by(codes[other], self_pay[other], n),
        "violation_deduction": (sum_by(codes, violation, n)
                                - sum_by(codes[excluded], violation[excluded], n)),
        "case_fund_due": sum_by(codes, dip_cases["fund_due"].to_numpy(), n),
    }).astype("int64")
