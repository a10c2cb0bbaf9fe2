"""DIP case scoring by discharge date (按出院日期适用年中调整的计分参数), issue 9 item 6.

When case-scoring parameters (bounds, inclusivity, level coefficients, special-points rule, DRG
bounds: ``settlement.params.PERIOD_RULES`` ``by_discharge_date``) change inside the year, the
year is cut into periods of one parameter set (``Resolved.section_segments("dip")``) and each
case is scored by :func:`~settlement.dip.scoring.score_block` with the parameters in
force on its discharge date. The point value, the fund budget and the withhold stay annual.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from settlement.problems import Problem
from settlement.dip.scoring import Block, catalogue, score_block


def period_of(discharge: pd.Series, dated: list[tuple]) -> np.ndarray:
    """Index of the period (of ``dated``: first day, last day, …) of each discharge date.

    Dates before the first period or after the last take the nearest; a missing date the first.
    """
    starts = np.array([np.datetime64(a, "D") for a, _, _ in dated])
    days = discharge.to_numpy().astype("datetime64[D]")
    which = np.clip(np.searchsorted(starts, days, side="right") - 1, 0, len(dated) - 1)
    which[np.isnat(days)] = 0
    return which


def score_by_discharge_date(unit: np.ndarray, group: np.ndarray, cost: np.ndarray,
                            special: np.ndarray, discharge: pd.Series, units: pd.DataFrame,
                            groups: pd.DataFrame, refs: pd.DataFrame,
                            dated: list[tuple]) -> tuple[Block, list[Problem]]:
    """:func:`score_block` per period of the year, each case by its discharge date's parameters.

    Level coefficient 1.0 until 30 June and 1.05 from 1 July: a tertiary case discharged on
    30 June scores 500 × 1.0, one discharged on 1 July 500 × 1.05 = 525. Cases dated before the
    first period or after the last (rejected by validation) take the nearest one.
    """
    n = len(cost)
    which = period_of(discharge, dated)
    out = Block(np.zeros(n, "int8"), np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan),
                np.zeros(n, "int8"), np.zeros(n, "int64"), np.zeros(n, bool), *[[]] * 4)
    pieces: dict[str, list] = {"special_rows": [], "unmatched_rows": [], "nonfinite_rows": [],
                               "nonfinite_points": []}
    problems: list[Problem] = []
    for k, (_, _, params) in enumerate(dated):  # a change or two in a year
        rows = np.flatnonzero(which == k)
        cat, more = catalogue(units, groups, refs, params)
        problems += [p for p in more if p not in problems]
        block = score_block(unit[rows], group[rows], cost[rows], special[rows], cat, params, n)
        for name in ("case_class", "ratio", "base_score", "coefficient", "coef_source",
                     "point_units", "review"):
            getattr(out, name)[rows] = getattr(block, name)
        for name in ("special_rows", "unmatched_rows", "nonfinite_rows"):
            pieces[name].append(rows[getattr(block, name)])
        pieces["nonfinite_points"].append(block.nonfinite_points)
    joined = {name: np.concatenate(parts) if parts else np.zeros(0, "int64")
              for name, parts in pieces.items()}
    order = {name: np.argsort(joined[name], kind="stable") for name in pieces}
    return Block(out.case_class, out.ratio, out.base_score, out.coefficient, out.coef_source,
                 out.point_units, out.review, joined["special_rows"][order["special_rows"]],
                 joined["unmatched_rows"][order["unmatched_rows"]],
                 joined["nonfinite_rows"][order["nonfinite_rows"]],
                 joined["nonfinite_points"][order["nonfinite_rows"]]), problems
