"""The DIP scans (DIP 病例扫描): every case scored, then exact sums per unit (and community).

Two scans sit behind the scan engines (:mod:`settlement.scan`), each declared here once:

``dip_case_scores(inpatient_cases, units, dip_groups, reference_costs, params, *, dated=None)``
    → :class:`~settlement.dip.scoring.CaseScores`, the per-case arrays ``settle_dip`` turns
    into ``dip_cases`` (ratio, class, coefficient, points …). ``inpatient_cases`` is a frame,
    or a Parquet path: then ``CaseScores.cases`` holds the :data:`LIST_COLUMNS` of every case
    (read with the scores in one pass; the rest of the table never reaches pandas).

``dip_unit_points(inpatient_cases, units, dip_groups, reference_costs, params, *, dated=None,
by=("unit_id",))`` → :class:`DipPoints`: Σ per member unit (or per unit and insured
community) of the case counts, points (int64 units of 10^-decimals: exact) and the money of
the cases (fen) — without a case list. ``inpatient_cases`` is a frame or a Parquet path, so
a whole region's cases are summed out of core (the region point value).

:class:`PandasDipScan` is the reference (the numpy scoring of :mod:`~settlement.dip.scoring`);
the DuckDB and Spark engines implement the same methods with one SQL query
(:mod:`settlement.scan.dip_query`, :mod:`settlement.scan.dip_flow`) and must give the same
numbers bit for bit (``tests/test_dip_engines.py``, ``tests/test_scan_spark.py``).

Example: two cases of one unit, 200 and 750 points (4 decimals), self-pay 1,000.00 and
4,000.00 元 → one row: cases 2, point_units 9,500,000, self_pay 500,000 fen.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from settlement.dip.codes import column
from settlement.dip.scoring import (
    AT_COST, EXCLUDED, SCORED, SPECIAL, CaseScores, score_cases,
)
from settlement.dip.settle import sum_by
from settlement.params import DipParams
from settlement.problems import Problem

#: the sums of :meth:`dip_unit_points`, all int64, after the ``by`` keys
POINT_COLUMNS = ["cases", "excluded_cases", "special_cases", "review_cases", "point_units",
                 "at_cost", "self_pay", "violation_deduction"]
#: the case columns the DIP scans read (the optional ones may be absent)
CASE_COLUMNS = ["case_id", "unit_id", "community_id", "dip_group", "discharge_date",
                "total_cost", "self_pay", "fund_paid", "special_points", "violation_deduction"]
KEYS = ("unit_id", "community_id")
ROW = "_row"  # the user's row number in a spilled table (settlement.spill.ROW)
#: the case columns the case list (dip_cases) and the summary read, when the cases come from
#: Parquet (``CaseScores.cases``); the discharge date only for parameters that change
LIST_COLUMNS = ["case_id", "community_id", "dip_group", "self_pay", "fund_paid",
                "special_points", "violation_deduction"]


def list_columns(dated: list[tuple] | None) -> list[str]:
    """:data:`LIST_COLUMNS`, with ``discharge_date`` when the parameters change in the year
    (each case is explained by its period's)."""
    return LIST_COLUMNS + ["discharge_date"] * bool(dated and len(dated) > 1)


class DipPoints(NamedTuple):
    """Σ per unit (and community): ``table`` = the ``by`` keys (string) + POINT_COLUMNS."""

    table: pd.DataFrame
    problems: list[Problem]
    decimals: int  # points = point_units × 10^-decimals


def check_by(by: tuple[str, ...]) -> tuple[str, ...]:
    by = tuple(by)
    if not by or by[0] != "unit_id" or any(k not in KEYS for k in by) or len(set(by)) < len(by):
        raise ValueError(f"by must be ('unit_id',) or ('unit_id', 'community_id'), not {by}")
    return by


def read_cases(cases: pd.DataFrame | Path) -> pd.DataFrame:
    """The case columns the scans need, as a frame (a Parquet path is read whole, as the
    pandas engine reads it: indexed by the user's row numbers, :func:`by_user_row`)."""
    if isinstance(cases, pd.DataFrame):
        return cases
    from settlement.scan.frames import columns_of, read

    return by_user_row(read(cases, [c for c in CASE_COLUMNS + [ROW] if c in columns_of(cases)]))


def by_user_row(frame: pd.DataFrame) -> pd.DataFrame:
    """Cases read from Parquet, indexed by the user's row numbers when the file holds them
    (``_row`` of a spilled table, :mod:`settlement.spill`: problems then name the row as a run
    in memory does), else as the loader numbers a Parquet file: row n is the n-th data row
    (position + 1; a file used in place, :mod:`settlement.in_place`)."""
    if ROW not in frame.columns:
        return frame.set_axis(pd.RangeIndex(1, len(frame) + 1, name="row")) \
            if isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0 else frame
    return frame.drop(columns=ROW).set_axis(pd.Index(frame[ROW].to_numpy(), name="row"))


def point_sums(s: CaseScores, cases: pd.DataFrame, units: pd.DataFrame,
               by: tuple[str, ...]) -> pd.DataFrame:
    """Exact sums of scored cases per ``by`` keys (rows with a case), sorted by the keys."""
    rows = s.rows
    unit_ids = units["unit_id"]
    if by == ("unit_id",):
        codes, n = s.unit_pos, len(units)
        keys = {"unit_id": unit_ids.to_numpy()}
    else:
        comm_codes, comm = pd.factorize(cases["community_id"].iloc[rows], use_na_sentinel=True)
        k = len(comm) + 1
        comm_codes = np.where(comm_codes < 0, k - 1, comm_codes)
        codes, n = s.unit_pos * k + comm_codes, len(units) * k
        keys = {"unit_id": np.repeat(unit_ids.to_numpy(), k),
                "community_id": np.tile(np.append(np.asarray(comm, dtype=object), None),
                                        len(units))}
    sums = _sums(codes, n, s, cases)
    out = pd.DataFrame({key: pd.array(values, dtype=unit_ids.dtype)
                        for key, values in keys.items()})
    out = pd.concat([out, sums], axis=1)
    out = out.loc[(out["cases"] + out["excluded_cases"]).gt(0)]
    return out.sort_values(list(by), na_position="last", kind="stable").reset_index(drop=True)


def _sums(codes: np.ndarray, n: int, s: CaseScores, cases: pd.DataFrame) -> pd.DataFrame:
    """The same sums as :func:`settlement.dip.cases.aggregate`, from the input cases."""
    rows = s.rows
    excluded = np.flatnonzero(s.settle == EXCLUDED)
    at_cost = np.flatnonzero(s.settle == AT_COST)
    scored = np.flatnonzero(s.settle == SCORED)
    self_pay = cases["self_pay"].to_numpy()[rows]
    violation = column(cases, "violation_deduction", 0)[rows]
    fund_paid = cases["fund_paid"].to_numpy()[rows]
    count = np.bincount(codes, minlength=n)
    n_excluded = np.bincount(codes[excluded], minlength=n)
    kept = np.flatnonzero(s.settle != EXCLUDED)
    return pd.DataFrame({
        "cases": count - n_excluded,
        "excluded_cases": n_excluded,
        "special_cases": np.bincount(codes[s.case_class == SPECIAL], minlength=n),
        "review_cases": np.bincount(codes[s.review], minlength=n),
        "point_units": sum_by(codes, s.point_units, n),
        "at_cost": sum_by(codes[at_cost], fund_paid[at_cost], n),
        "self_pay": sum_by(codes[scored], self_pay[scored], n),
        "violation_deduction": sum_by(codes[kept], violation[kept], n),
    }).astype("int64")


class PandasDipScan:
    """The reference DIP scans (numpy over a pandas frame); a mixin of the pandas engine."""

    def dip_case_scores(self, inpatient_cases: pd.DataFrame | Path, units: pd.DataFrame,
                        dip_groups: pd.DataFrame, reference_costs: pd.DataFrame,
                        params: DipParams, *, dated: list[tuple] | None = None,
                        codes=None) -> CaseScores:
        """Every case at a member unit scored (:func:`settlement.dip.scoring.score_cases`); a
        Parquet path is read (the scoring columns) and its case-list columns returned."""
        if isinstance(inpatient_cases, pd.DataFrame):
            return score_cases(inpatient_cases, units, dip_groups, reference_costs, params,
                               codes, dated)
        cases = read_cases(inpatient_cases)
        s = score_cases(cases, units, dip_groups, reference_costs, params, None, dated)
        return replace(s, cases=cases[[c for c in list_columns(dated) if c in cases.columns]])

    def dip_unit_points(self, inpatient_cases: pd.DataFrame | Path, units: pd.DataFrame,
                        dip_groups: pd.DataFrame, reference_costs: pd.DataFrame,
                        params: DipParams, *, dated: list[tuple] | None = None,
                        by: tuple[str, ...] = ("unit_id",)) -> DipPoints:
        """Σ per member unit (and insured community) of the scored cases; see the module."""
        by = check_by(by)
        cases = read_cases(inpatient_cases)
        s = score_cases(cases, units, dip_groups, reference_costs, params, dated=dated)
        return DipPoints(point_sums(s, cases, units, by), s.problems, s.decimals)
