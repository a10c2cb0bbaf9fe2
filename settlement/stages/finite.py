"""Finite intermediate results (中间结果有限性检查): points, point values, weights, ratios.

The loader rejects NaN and ±inf in the inputs; the stages check what they compute from them
as well, because a non-finite or overflowing float cast to int64 silently becomes
−9,223,372,036,854,775,808 (a case of ``special_points = inf`` once gave −922,337,203,685,477
points and a "successful" run). A stage that finds one sets the value to 0, carries on so that
every such problem is reported, and returns an **error** Problem naming the table, the user's
row and the column — never an exception, and never a silently wrong number.

Limits are arithmetic, not policy: points are held as int64 units of 10^-decimals, so a case's
points must stay below 2^63 ÷ 10^decimals ÷ (number of cases) for the sum of all cases to fit.
With 4 decimals and 100,000 cases that is 9,223,372 × 1,000 ≈ 9.2 × 10^9 points per case.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from settlement.problems import Problem

INT64_LIMIT = 2.0**63
MAX_LISTED = 20  # rows listed one by one; the rest are counted in one more problem


def points_limit(decimals: int, n: int) -> float:
    """The largest |points| of one case for which Σ over ``n`` cases fits int64 units."""
    return INT64_LIMIT / 10.0**decimals / max(int(n), 1)


def bad_values(values: np.ndarray, limit: float = INT64_LIMIT) -> np.ndarray:
    """Mask of values that are NaN, ±inf or not below ``limit`` in magnitude."""
    x = np.asarray(values, dtype="float64")
    return ~(np.abs(x) < limit)


def nonfinite_problems(rule: str, table: str, what_zh: str, what_en: str,
                       rows: Iterable, values: Iterable, column: str = "",
                       labels: Iterable | None = None) -> list[Problem]:
    """One error per bad row (user row numbers, up to :data:`MAX_LISTED`), then a count.

    ``labels`` (e.g. case ids) are named in the message; ``values`` are the bad values.
    """
    rows, values = list(rows), list(values)
    labels = list(labels) if labels is not None else [""] * len(rows)
    out = [Problem(rule, "error", table,
                   f"{label + ' ' if label else ''}{what_zh}不是有限数值或超出可计算范围（{_show(v)}），"
                   f"按 0 计，结算结果不可用",
                   f"{what_en} is not finite or overflows ({_show(v)}); counted as 0",
                   row=_row(r), column=column, value=_show(v))
           for r, v, label in zip(rows[:MAX_LISTED], values[:MAX_LISTED], labels[:MAX_LISTED])]
    if len(rows) > MAX_LISTED:
        out.append(Problem(rule, "error", table,
                           f"另有 {len(rows) - MAX_LISTED} 行{what_zh}不是有限数值或超出可计算范围",
                           f"{len(rows) - MAX_LISTED} more rows with non-finite {what_en}",
                           column=column))
    return out


def _row(r) -> int | None:
    return int(r) if isinstance(r, (int, np.integer)) and not isinstance(r, bool) else None


def _show(v) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        return str(v)
    return str(v) if pd.isna(f) or np.isinf(f) else f"{f:.6g}"
