"""The two DIP scans on any SQL engine (DuckDB, Spark): one flow around one query text.

:class:`SqlDipScan` implements ``dip_case_scores`` and ``dip_unit_points`` of
:mod:`settlement.dip.scan` over the query of :mod:`~settlement.scan.dip_query`; an engine
mixes it in and supplies one hook, ``_dip_session(lookups)``: a context in which the
query's small tables are views and which turns a table into a view (``source``) and runs a
query into Arrow (``arrow``). So the computation, its problems and the shaping of the results
exist once; DuckDB (:mod:`~settlement.scan.dip_sql`) and Spark
(:mod:`~settlement.scan.spark_dip`) differ only in those few lines.

``dip_case_scores`` on a Parquet path is the out-of-core case list: one pass over the files
scores every case and fetches, as Arrow, only the case columns the case list needs
(:data:`~settlement.dip.scan.LIST_COLUMNS`; never ``total_cost``), returned as
``CaseScores.cases``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from settlement.dip.codes import Factorized
from settlement.dip.scan import ROW, POINT_COLUMNS, DipPoints, by_user_row, check_by, list_columns
from settlement.dip.scoring import (
    NO_REFERENCE, SPECIAL, UNKNOWN_GROUP, UNMATCHED, CaseScores, _data_problems, round_points,
)
from settlement.params import DipParams
from settlement.problems import Problem
from settlement.scan.dip_query import (
    CODE, NAN, PER_CASE, PER_CASE_NAMES, Lookups, Periods, lookups, present, scored_sql, select,
    sums_sql,
)
from settlement.scan.frames import arrow_to_frame, columns_of, parquet_files
from settlement.stages.finite import nonfinite_problems, points_limit


@dataclass(frozen=True)
class Session:
    """What an engine gives the flow while the lookups are registered."""

    names: dict[str, str]  # the views of the lookups: units, groups, refs
    row: str  # the row-position column of a ``source(…, row=True)``
    source: Callable[..., str]  # (table, columns, row=False) → a view of those columns
    arrow: Callable[[str], pa.Table]  # run a query, the result as Arrow


class SqlDipScan:
    """The DIP scans over an SQL engine; the engine defines ``_dip_session(look)``."""

    @contextmanager
    def _dip_query(self, units, groups, refs, params: DipParams, dated):
        """(sql(source, n, join), lookups, session) for the parameters of each period."""
        periods = Periods.of(params, dated)
        look = lookups(units, groups, refs, params, periods)
        d = params.case_points_decimals
        with self._dip_session(look) as session:
            yield (lambda source, n, join="JOIN": scored_sql(
                source, session.names, periods, look.stride, 10.0 ** d, points_limit(d, n),
                join)), look, session

    def dip_case_scores(self, inpatient_cases, units: pd.DataFrame, dip_groups: pd.DataFrame,
                        reference_costs: pd.DataFrame, params: DipParams, *,
                        dated: list[tuple] | None = None, codes=None) -> CaseScores:
        """Every case scored in SQL: the arrays of ``score_cases`` (a Parquet path: and the
        case-list columns of every case, as ``cases``)."""
        cases, frame = inpatient_cases, isinstance(inpatient_cases, pd.DataFrame)
        have = [c for c in present(cases) if not (frame and c == "case_id")]
        rows = [] if frame else _user_rows(cases)
        listed = [] if frame else list_columns(dated) + rows
        with self._dip_query(units, dip_groups, reference_costs, params, dated) as (sql, look, s):
            scored = sql(select(have, s.source(cases, have + rows, row=True), s.row, rows),
                         _rows(cases), "LEFT JOIN")
            table = s.arrow(f"SELECT {', '.join([PER_CASE] + listed)} FROM ({scored}) AS s")
            bad = None
            if (np.asarray(table.column("code")) // CODE["bad"] % 2 == 1).any():  # rare
                bad = s.arrow(f"SELECT pos, coalesce(points, {NAN}) AS points, "
                              f"coalesce(coefficient, {NAN}) AS coefficient FROM ({scored}) AS s "
                              f"WHERE bad AND u IS NOT NULL").to_pandas()
        return case_scores(cases if frame else None, table, bad, look, params, codes, listed)

    def dip_unit_points(self, inpatient_cases, units: pd.DataFrame, dip_groups: pd.DataFrame,
                        reference_costs: pd.DataFrame, params: DipParams, *,
                        dated: list[tuple] | None = None,
                        by: tuple[str, ...] = ("unit_id",)) -> DipPoints:
        """Σ per member unit (and insured community) in one query; cases never in pandas."""
        by = check_by(by)
        have = present(inpatient_cases)
        with self._dip_query(units, dip_groups, reference_costs, params, dated) as (sql, look, s):
            source = select(have, s.source(inpatient_cases, have))
            total = _rows(inpatient_cases)
            sums = s.arrow(sums_sql(sql(source, total), s.names["units"], by)).to_pandas()
            n = int((sums["cases"] + sums["excluded_cases"]).sum())
            if n < total and sums["big"].sum() > 0:  # the exact limit is for n member cases
                sums = s.arrow(sums_sql(sql(source, n), s.names["units"], by)).to_pandas()
            problems = list(look.problems)
            if sums["data_errors"].sum() > 0:
                problems += _sql_data_problems(s, sql(source, n), look)
            if sums["nonfinite"].sum() > 0:
                user = _user_rows(inpatient_cases)
                rows = select(have, s.source(inpatient_cases, have + user, row=True), s.row, user)
                problems += _sql_nonfinite(s, inpatient_cases, sql(rows, n))
        table = pd.DataFrame({k: sums[k].astype(units["unit_id"].dtype) for k in by})
        for col in POINT_COLUMNS:
            table[col] = sums[col].to_numpy("int64")
        return DipPoints(table, problems, params.case_points_decimals)


def _sql_data_problems(s: Session, scored: str, look: Lookups) -> list[Problem]:
    """Unknown group codes and missing reference costs, as :func:`score_cases` words them."""
    bad = s.arrow(f"SELECT dip_group, lv, reason FROM ({scored}) AS s WHERE reason IN "
                  f"({UNKNOWN_GROUP}, {NO_REFERENCE})").to_pandas()
    m = len(bad)
    mini = pd.DataFrame({"dip_group": bad["dip_group"].astype("string")})
    return _data_problems(mini, np.arange(m), np.arange(m), bad["reason"].to_numpy("int8"),
                          look.levels, bad["lv"].to_numpy("int64"))


def _sql_nonfinite(s: Session, cases, scored: str) -> list[Problem]:
    """The rows whose points are not finite or overflow, with the user's row numbers."""
    user = _user_rows(cases)
    bad = s.arrow(f"SELECT {', '.join(['pos', 'case_id', 'points', 'special'] + user)} "
                  f"FROM ({scored}) AS s WHERE bad ORDER BY pos").to_pandas()
    rows = bad["pos"].to_numpy("int64")
    label = (cases.index[rows] if isinstance(cases, pd.DataFrame)
             else by_user_row(bad.set_index(bad["pos"].to_numpy())).index)
    return nonfinite_problems(
        "dip.points_not_finite", "inpatient_cases", "病例分值", "case points",
        label, bad["points"].to_numpy("float64"),
        "special_points" if bad["special"].all() else "", bad["case_id"].astype(str))


def _user_rows(table) -> list[str]:
    """``[_row]`` when a Parquet table holds the user's row numbers (a spilled table)."""
    return [ROW] if not isinstance(table, pd.DataFrame) and ROW in columns_of(table) else []


def _rows(table) -> int:
    """The number of rows of a frame or of Parquet files (from their footers)."""
    if isinstance(table, pd.DataFrame):
        return len(table)
    return sum(pq.ParquetFile(f).metadata.num_rows for f in parquet_files(table))


def _in_case_order(table: pa.Table) -> pa.Table:
    """The fetched rows (every case, any order) in case order (no work when already so)."""
    pos = np.asarray(table.column("pos"))
    if len(pos) and (pos[0] != 0 or (np.diff(pos) != 1).any()):
        inverse = np.empty(len(pos), dtype="int64")
        inverse[pos] = np.arange(len(pos))
        table = table.take(pa.array(inverse))
    return table


def _exact_nonfinite(bad: pd.DataFrame | None, rank: np.ndarray, point_units: np.ndarray,
                     d: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows flagged by SQL (limit of all cases) rechecked with the limit of the n member cases
    (:func:`~settlement.stages.finite.points_limit`): the rows that stay bad and their points."""
    if bad is None or bad.empty:
        return np.zeros(0, dtype="int64"), np.zeros(0)
    rows = rank[bad["pos"].to_numpy("int64")]
    points = bad["points"].to_numpy("float64")
    coefficient = bad["coefficient"].to_numpy("float64")
    still = (np.isinf(points) | (np.abs(points) >= points_limit(d, n))
             | (np.isnan(points) & ~np.isnan(coefficient)))
    fine = ~still & ~np.isnan(points)
    point_units[rows[fine]] = round_points(points[fine], d)
    order = np.argsort(rows[still], kind="stable")
    return rows[still][order], points[still][order]


def case_scores(cases: pd.DataFrame | None, table: pa.Table, bad: pd.DataFrame | None,
                look: Lookups, params: DipParams, codes, listed: list[str]) -> CaseScores:
    """The fetched rows → CaseScores (with the problems of score_cases). ``cases``: the input
    frame, or None: then the ``listed`` columns of ``table`` are the case frame."""
    table = _in_case_order(table)
    a = {name: np.asarray(table.column(name)) for name in PER_CASE_NAMES}
    mask = a["u"] >= 0
    rows = np.flatnonzero(mask)
    rank = np.cumsum(mask) - 1
    a = {name: (values if len(rows) == len(mask) else values[rows]) for name, values in a.items()}
    if cases is None:
        cases = by_user_row(arrow_to_frame(table.select(listed)))
    d = params.case_points_decimals
    unpack = {name: ((a["code"] // m) % 8).astype("int8") for name, m in CODE.items()}
    point_units = a["point_units"].astype("int64")
    nonfinite_rows, nonfinite_points = _exact_nonfinite(bad, rank, point_units, d, len(rows))
    cls, reason = unpack["cls"], unpack["reason"]
    special_rows = np.flatnonzero(cls == SPECIAL)
    unmatched_rows = np.flatnonzero(cls == UNMATCHED)
    unit_pos = a["u"].astype("int64")
    problems = list(look.problems)
    problems += _data_problems(cases, rows, unmatched_rows, reason, look.levels,
                               look.unit_level[unit_pos[unmatched_rows]])
    bad_rows = rows[nonfinite_rows]
    problems += nonfinite_problems(
        "dip.points_not_finite", "inpatient_cases", "病例分值", "case points",
        cases.index[bad_rows], nonfinite_points,
        "special_points" if np.isin(nonfinite_rows, special_rows).all() else "",
        cases["case_id"].astype(str).iloc[bad_rows])
    approved = np.full(len(rows), np.nan)
    if "special_points" in cases.columns:
        approved[special_rows] = cases["special_points"].to_numpy("float64")[rows[special_rows]]
    group = (codes or {}).get("dip_group") or Factorized.of(cases["dip_group"])
    return CaseScores(
        rows=rows, unit_pos=unit_pos, case_class=cls, ratio=a["ratio"],
        base_score=a["base_score"], coefficient=a["coefficient"],
        coef_source=unpack["coef_source"], point_units=point_units,
        review=unpack["review"].astype(bool), settle=unpack["settle"], reason=reason,
        external_rows=np.flatnonzero(~mask), dip_group=group.categorical(rows),
        approved_points=approved, decimals=d, problems=problems,
        cases=None if not listed else cases)
