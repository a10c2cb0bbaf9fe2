"""DIP case scoring on Spark (病例分值计算的 Spark 实现): scoring.py's numbers, bit for bit.

The two DIP scans of :mod:`settlement.dip.scan` as Spark SQL, a mixin of the Spark engine.
``dip_unit_points`` is the cluster path of the region's point value: a Parquet folder of the
whole region's cases is read by Spark's executors and only the sums per unit (and insured
community) come back. ``dip_case_scores`` returns the per-case arrays ``settle_dip`` needs.

The query is the DuckDB one of :mod:`settlement.scan.dip_sql` in Spark's dialect, built on
the very same small tables (:func:`~settlement.scan.dip_sql.lookups`: level and unit
coefficients, DRG scale, reference costs as float64 from :func:`~settlement.dip.scoring.catalogue`)
and the same period logic (:class:`~settlement.scan.dip_sql.Periods`). The float operations
are those of numpy in the same order (IEEE 754 doubles in the JVM as in numpy)::

    ratio  = CAST(total_cost AS DOUBLE) / reference
    points = (score × factor) × coefficient
    units  = floor(points × 10^d + 0.5)

Two dialect traps, handled: Spark's literals ``1.0`` are DECIMAL, so every constant is cast
to DOUBLE (bounds are text cast to DOUBLE: correctly rounded, as ``float(Decimal)``); and
``isnan(NULL)`` is false in Spark, not NULL, so "approved points given" is spelled
``special_points IS NOT NULL AND NOT isnan(special_points)``.

Example: score 500, reference 10,000 元, coefficient 1, cost 25,000 元 → ratio 2.5 → high →
500 × ((2.5 − 2) + 1) × 1 = 750 points → 7,500,000 units at 4 decimals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from settlement.dip.scan import CASE_COLUMNS, POINT_COLUMNS, DipPoints, check_by
from settlement.dip.scoring import (
    AT_COST, BY_APPROVAL, BY_BASIC, EXCLUDED, HIGH, LOW, NO_REASON, NO_REFERENCE, NORMAL, SCORED,
    SPECIAL, UNKNOWN_GROUP, UNMATCHED, CaseScores, _data_problems, active_bounds,
)
from settlement.params import DipParams
from settlement.problems import Problem
from settlement.scan.dip_sql import CODE, POLICY_REASON, Lookups, Periods, _case_scores, lookups
from settlement.scan.frames import columns_of
from settlement.scan.spark_session import SparkTables
from settlement.stages.finite import nonfinite_problems, points_limit

#: optional case columns and the value a case has without them
OPTIONAL = {"special_points": "CAST(NULL AS DOUBLE)", "violation_deduction": "CAST(0 AS BIGINT)"}
ONE, ZERO = "CAST(1.0 AS DOUBLE)", "CAST(0.0 AS DOUBLE)"
INFINITY = "CAST('Infinity' AS DOUBLE)"


def _double(value) -> str:
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def scored_sql(cases: str, look: dict[str, str], periods: Periods, stride: int, scale: float,
               limit: float) -> str:
    """Every member case with cls, ratio, score, coefficient, points, point_units, settle …"""
    K, each = len(periods.params), periods.each
    bounds = [active_bounds(p) for p in periods.params]
    low, high = each([_double(b.low) for b in bounds]), each([_double(b.high) for b in bounds])
    low_open = each([_bool(not b.low_inclusive) for b in bounds])
    high_open = each([_bool(not b.high_inclusive) for b in bounds])
    apply = periods.param(lambda p: _bool(p.special_points_apply_coefficient))
    extreme = each([_double(b.extreme) for b in bounds])
    coef, src = each([f"u.coef_{k}" for k in range(K)]), each([f"u.src_{k}" for k in range(K)])
    score = each([f"g.score_{k}" for k in range(K)])
    policy = periods.param(lambda p: str(POLICY_REASON[p.unmatched_policy]))
    return f"""
WITH c AS (SELECT *, {periods.expression()} AS period FROM {cases} AS c),
j AS (
  SELECT c.*, u.u, u.lv, g.g, coalesce(g.basic, false) AS basic, r.ref,
         {score} AS score, {coef} AS unit_coef, {src} AS unit_src,
         (c.special_points IS NOT NULL AND NOT isnan(c.special_points)) AS special
  FROM c JOIN {look['units']} AS u ON c.unit_id = u.unit_id
  LEFT JOIN {look['groups']} AS g ON c.dip_group = g.group_code
  LEFT JOIN {look['refs']} AS r ON r.gl = g.g * {stride} + u.lv),
k AS (
  SELECT *, CAST(total_cost AS DOUBLE) / ref AS ratio,
         CASE WHEN basic THEN {ONE} ELSE unit_coef END AS coef0,
         CASE WHEN basic THEN {BY_BASIC} ELSE unit_src END AS src0
  FROM j),
o AS (
  SELECT *, ratio > {high} OR ({high_open} AND ratio = {high}) AS hi,
            ratio < {low} OR ({low_open} AND ratio = {low}) AS lo
  FROM k),
m AS (
  SELECT *, CASE WHEN special THEN {SPECIAL} WHEN ref IS NULL THEN {UNMATCHED} WHEN hi THEN {HIGH}
                 WHEN lo THEN {LOW} ELSE {NORMAL} END AS cls,
         CASE WHEN hi THEN (ratio - {high}) + {ONE} WHEN lo THEN ratio ELSE {ONE} END AS factor
  FROM o),
p AS (
  SELECT *,
    CASE WHEN special THEN (CASE WHEN {apply} THEN special_points * coef0 ELSE special_points END)
         WHEN cls = {UNMATCHED} THEN {ZERO}
         ELSE score * factor * coef0 END AS points,
    CASE WHEN special AND NOT {apply} THEN {ONE} WHEN cls = {UNMATCHED} THEN CAST(NULL AS DOUBLE)
         ELSE coef0 END AS coefficient,
    CASE WHEN special AND NOT {apply} THEN {BY_APPROVAL} ELSE src0 END AS coef_source,
    coalesce(ratio > {extreme}, false) AND NOT special AS review,
    CASE WHEN cls <> {UNMATCHED} THEN {NO_REASON} WHEN g IS NOT NULL THEN {NO_REFERENCE}
         WHEN dip_group IS NOT NULL THEN {UNKNOWN_GROUP} ELSE {policy} END AS reason
  FROM m),
q AS (
  SELECT *, coalesce(abs(points) = {INFINITY} OR isnan(points) OR abs(points) >= {_double(limit)},
                     false) AS bad,
         CASE WHEN cls <> {UNMATCHED} THEN {SCORED} WHEN reason = {NO_REASON} THEN {AT_COST}
              ELSE {EXCLUDED} END AS settle
  FROM p)
SELECT *, CASE WHEN bad OR points IS NULL THEN CAST(0 AS BIGINT)
               ELSE CAST(floor(points * {_double(scale)} + CAST(0.5 AS DOUBLE)) AS BIGINT)
          END AS point_units
FROM q"""


SUMS = f"""
  count_if(settle <> {EXCLUDED}) AS cases,
  count_if(settle = {EXCLUDED}) AS excluded_cases,
  count_if(cls = {SPECIAL}) AS special_cases,
  count_if(review) AS review_cases,
  CAST(coalesce(SUM(point_units), 0) AS BIGINT) AS point_units,
  CAST(coalesce(SUM(IF(settle = {AT_COST}, fund_paid, 0)), 0) AS BIGINT) AS at_cost,
  CAST(coalesce(SUM(IF(settle = {SCORED}, self_pay, 0)), 0) AS BIGINT) AS self_pay,
  CAST(coalesce(SUM(IF(settle <> {EXCLUDED}, violation_deduction, 0)), 0) AS BIGINT)
    AS violation_deduction,
  count_if(bad AND abs(points) <> {INFINITY} AND NOT isnan(points)) AS big,
  count_if(bad) AS nonfinite,
  count_if(reason IN ({UNKNOWN_GROUP}, {NO_REFERENCE})) AS data_errors"""

#: the per-case columns fetched by ``dip_case_scores`` (small codes packed into one integer)
PER_CASE = f"""pos, u, cls + {CODE['coef_source']} * coef_source + {CODE['settle']} * settle
  + {CODE['reason']} * reason + {CODE['review']} * CAST(review AS INT)
  + {CODE['bad']} * CAST(bad AS INT) AS code,
  coalesce(ratio, CAST('NaN' AS DOUBLE)) AS ratio, coalesce(score, CAST('NaN' AS DOUBLE)) AS base_score,
  coalesce(coefficient, CAST('NaN' AS DOUBLE)) AS coefficient, point_units"""


def _present(table) -> list[str]:
    names = columns_of(table)
    return [c for c in CASE_COLUMNS if c in names]


def _select(present: list[str], view: str, pos: bool = False) -> str:
    """The case columns of ``view``, an absent optional one as its default (``pos``: the row)."""
    cols = [c if c in present else f"{OPTIONAL[c]} AS {c}" for c in CASE_COLUMNS
            if c in present or c in OPTIONAL]
    return f"(SELECT {', '.join(cols + ['row AS pos'] * pos)} FROM {view})"


class SparkDipScan:
    """The DIP scans in Spark SQL (a mixin of :class:`~settlement.scan.spark_engine.SparkEngine`)."""

    def _dip_views(self, t: SparkTables, units, groups, refs, params: DipParams, dated):
        """The lookups registered in ``t``; returns (sql(source, n), lookups)."""
        periods = Periods.of(params, dated)
        look = lookups(units, groups, refs, params, periods)
        names = {}
        for key in ("units", "groups", "refs"):
            view = f"dip_{key}_{len(t.views)}"
            self.spark.createDataFrame(getattr(look, key)).createOrReplaceTempView(view)
            t.views.append(view)
            names[key] = view
        d = params.case_points_decimals
        return (lambda source, n: scored_sql(source, names, periods, look.stride, 10.0 ** d,
                                             points_limit(d, n))), look

    def dip_unit_points(self, inpatient_cases, units: pd.DataFrame, dip_groups: pd.DataFrame,
                        reference_costs: pd.DataFrame, params: DipParams, *,
                        dated: list[tuple] | None = None,
                        by: tuple[str, ...] = ("unit_id",)) -> DipPoints:
        """Σ per member unit (and insured community) in one Spark query; cases stay in Spark."""
        by, keys = check_by(by), ", ".join(by)
        present = _present(inpatient_cases)
        t = SparkTables(self.spark)
        try:
            sql, look = self._dip_views(t, units, dip_groups, reference_costs, params, dated)
            source = _select(present, t.register(inpatient_cases, present))
            total = (len(inpatient_cases) if isinstance(inpatient_cases, pd.DataFrame)
                     else int(self.spark.sql(f"SELECT count(*) FROM {source}").collect()[0][0]))
            query = (f"SELECT {keys}, {SUMS} FROM ({{}}) GROUP BY {keys} "
                     f"ORDER BY {keys} NULLS LAST")
            sums = self.spark.sql(query.format(sql(source, total))).toArrow().to_pandas()
            n = int((sums["cases"] + sums["excluded_cases"]).sum())
            if n < total and sums["big"].sum() > 0:  # the exact limit is for n member cases
                sums = self.spark.sql(query.format(sql(source, n))).toArrow().to_pandas()
            problems = list(look.problems)
            if sums["data_errors"].sum() > 0:
                problems += self._dip_data_problems(sql(source, n), look)
            if sums["nonfinite"].sum() > 0:
                rows = _select(present, t.register(inpatient_cases, present, row=True), True)
                problems += self._dip_nonfinite(inpatient_cases, sql(rows, n))
        finally:
            t.drop()
        table = pd.DataFrame({k: sums[k].astype(units["unit_id"].dtype) for k in by})
        for col in POINT_COLUMNS:
            table[col] = sums[col].to_numpy("int64") if len(sums) else np.zeros(0, "int64")
        return DipPoints(table, problems, params.case_points_decimals)

    def dip_case_scores(self, inpatient_cases: pd.DataFrame, units: pd.DataFrame,
                        dip_groups: pd.DataFrame, reference_costs: pd.DataFrame,
                        params: DipParams, *, dated: list[tuple] | None = None,
                        codes=None) -> CaseScores:
        """Every case at a member unit scored in Spark; the arrays of ``score_cases``."""
        cases = inpatient_cases
        present = [c for c in _present(cases) if c != "case_id"]
        t = SparkTables(self.spark)
        try:
            sql, look = self._dip_views(t, units, dip_groups, reference_costs, params, dated)
            scored = sql(_select(present, t.register(cases, present, row=True), True), len(cases))
            table = self.spark.sql(f"SELECT {PER_CASE} FROM ({scored})").toArrow()
            out = {name: table.column(name).to_numpy() for name in table.column_names}
            if ((out["code"] // CODE["bad"]) % 2 == 1).any():  # rare: points not finite …
                out["bad_points"] = self.spark.sql(
                    f"SELECT pos, coalesce(points, CAST('NaN' AS DOUBLE)) AS points, "
                    f"coalesce(coefficient, CAST('NaN' AS DOUBLE)) AS coefficient "
                    f"FROM ({scored}) WHERE bad").toArrow().to_pandas()
        finally:
            t.drop()
        return _case_scores(cases, out, look, params.case_points_decimals, codes)

    def _dip_data_problems(self, scored: str, look: Lookups) -> list[Problem]:
        """Unknown group codes and missing reference costs, worded as :func:`score_cases` does."""
        bad = self.spark.sql(f"SELECT dip_group, lv, reason FROM ({scored}) WHERE reason IN "
                             f"({UNKNOWN_GROUP}, {NO_REFERENCE})").toArrow().to_pandas()
        m = len(bad)
        mini = pd.DataFrame({"dip_group": bad["dip_group"].astype("string")})
        return _data_problems(mini, np.arange(m), np.arange(m), bad["reason"].to_numpy("int8"),
                              look.levels, bad["lv"].to_numpy("int64"))

    def _dip_nonfinite(self, cases, scored: str) -> list[Problem]:
        """The rows whose points are not finite or overflow, with the user's row numbers."""
        bad = self.spark.sql(f"SELECT pos, case_id, points, special FROM ({scored}) "
                             f"WHERE bad ORDER BY pos").toArrow().to_pandas()
        rows = bad["pos"].to_numpy("int64")
        label = cases.index[rows] if isinstance(cases, pd.DataFrame) else rows
        return nonfinite_problems(
            "dip.points_not_finite", "inpatient_cases", "病例分值", "case points",
            label, bad["points"].to_numpy("float64"),
            "special_points" if bad["special"].all() else "", bad["case_id"].astype(str))
