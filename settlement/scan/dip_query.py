"""The DIP scoring query (病例分值计算的 SQL), written once for every SQL engine.

DuckDB (:mod:`settlement.scan.dip_sql`) and Spark SQL (:mod:`settlement.scan.spark_dip`) run
this very text; only the way a table becomes a view and a result comes back differs. The
text keeps to what both dialects read alike: ``CAST(x AS T)`` (never ``::``), constants cast
to DOUBLE (Spark's ``1.0`` is DECIMAL), ``abs(x) = Infinity`` (Spark has no ``isinf``),
"approved points given" as ``IS NOT NULL AND NOT isnan`` (Spark's ``isnan(NULL)`` is false),
explicit GROUP BY lists, ``FILTER (WHERE …)`` and ``%`` (no ``//``).

How the floats stay identical to the numpy reference (:mod:`~settlement.dip.scoring`)::

    ratio  = CAST(total_cost AS DOUBLE) / reference   (numpy: int64 / float64, same IEEE divide)
    factor = 1 | ratio | (ratio − high) + 1           by class; high wins over low, as in numpy
    points = score × factor × coefficient             left to right: (score × factor) × coef
    units  = floor(points × 10^d + 0.5)               the same two operations, then floor

The small tables come from :func:`~settlement.dip.scoring.catalogue` itself (level and unit
coefficients, DRG scale, reference matrix), so SQL and numpy read the same float64 values;
the bounds are text cast to DOUBLE (correctly rounded, like ``float(Decimal)``). Variants
are data: one column per period of the year (parameters by discharge date), inclusive bounds
as flags in the comparison, the unmatched policy as the reason code.

Example: score 500, reference 10,000 元, coefficient 1, cost 25,000 元 → ratio 2.5 → high →
500 × ((2.5 − 2) + 1) × 1 = 750 points → 7,500,000 units at 4 decimals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from settlement.dip.scan import CASE_COLUMNS
from settlement.dip.scoring import (
    AT_COST, BY_APPROVAL, BY_BASIC, EXCLUDED, HIGH, LOW, NO_REASON, NO_REFERENCE, NORMAL, SCORED,
    SPECIAL, UNKNOWN_GROUP, UNMATCHED, UNMATCHED_REASON, active_bounds, catalogue,
)
from settlement.params import DipParams
from settlement.problems import Problem
from settlement.scan.frames import columns_of
from settlement.vocabulary import is_member

#: the multiplier of each small code in the packed ``code`` column (each < 8)
CODE = {"cls": 1, "coef_source": 8, "settle": 64, "reason": 512, "review": 4096,
        "bad": 32768}
#: optional case columns and the value a case has without them
OPTIONAL = {"special_points": "CAST(NULL AS DOUBLE)", "violation_deduction": "CAST(0 AS BIGINT)"}
ONE, ZERO = "CAST(1.0 AS DOUBLE)", "CAST(0.0 AS DOUBLE)"
NAN, INFINITY = "CAST('NaN' AS DOUBLE)", "CAST('Infinity' AS DOUBLE)"


def double(value) -> str:
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def _bool(value: bool) -> str:
    return "true" if value else "false"


@dataclass(frozen=True)
class Periods:
    """The parameter sets of the year by discharge date (one set: the whole year)."""

    params: list[DipParams]
    starts: list  # first day of each period (the first is unused)

    @classmethod
    def of(cls, params: DipParams, dated: list[tuple] | None) -> "Periods":
        if dated and len(dated) > 1:
            return cls([p for _, _, p in dated], [a for a, _, _ in dated])
        return cls([params], [None])

    def expression(self) -> str:
        """The period index of a case (the nearest period for dates outside the year)."""
        if len(self.params) == 1:
            return "0"
        whens = " ".join(f"WHEN c.discharge_date >= DATE '{start.isoformat()}' THEN {k}"
                         for k, start in reversed(list(enumerate(self.starts))) if k > 0)
        return f"CASE {whens} ELSE 0 END"

    def each(self, values: list[str]) -> str:
        """One SQL value per period: a constant, or a CASE on the case's period."""
        if len(set(values)) == 1:
            return values[0]
        return "CASE period " + " ".join(f"WHEN {k} THEN {v}" for k, v in enumerate(values)) \
            + " END"

    def param(self, read) -> str:
        return self.each([read(p) for p in self.params])


@dataclass(frozen=True)
class Lookups:
    """The small tables of the query, from :func:`catalogue` of each period (same floats)."""

    units: pa.Table  # member units: unit_id, u (position in units), lv, coef_k, src_k
    groups: pa.Table  # group_code, g (position), basic, score_k (k: period of the year)
    refs: pa.Table  # gl = g × (levels + 1) + lv, ref (> 0 only: the others are unmatched)
    stride: int
    levels: pd.Index
    unit_level: np.ndarray  # level position of each unit of the units frame (sink last)
    problems: list[Problem]


def lookups(units, groups, refs, params: DipParams, periods: Periods) -> Lookups:
    """The query's small tables, and the catalogue problems in score_cases' order."""
    cat, problems = catalogue(units, groups, refs, params)
    cats = []
    for p in periods.params:
        c, more = (cat, []) if p is params else catalogue(units, groups, refs, p)
        problems += [x for x in more if x not in problems]
        cats.append(c)
    pos = np.flatnonzero(is_member(units).to_numpy(bool))
    unit_table = {"unit_id": pa.array(units["unit_id"].astype(str).to_numpy()[pos]),
                  "u": pa.array(pos.astype("int64")),
                  "lv": pa.array(cat.unit_level[pos].astype("int64"))}
    group_table = {"group_code": pa.array(groups["group_code"].astype(str).to_numpy()),
                   "g": pa.array(np.arange(len(groups), dtype="int64")),
                   "basic": pa.array(cat.group_basic[:-1])}
    for k, c in enumerate(cats):
        unit_table[f"coef_{k}"] = pa.array(c.unit_coef[pos], from_pandas=True)  # NaN → NULL
        unit_table[f"src_{k}"] = pa.array(c.unit_source[pos].astype("int64"))
        group_table[f"score_{k}"] = pa.array(c.group_score[:-1], from_pandas=True)
    ok = np.flatnonzero(cat.refs > 0)  # ~(ref > 0) is unmatched: NaN and zero stay out
    ref_table = pa.table({"gl": pa.array(ok.astype("int64")), "ref": pa.array(cat.refs[ok])})
    return Lookups(pa.table(unit_table), pa.table(group_table), ref_table, len(cat.levels) + 1,
                   cat.levels, cat.unit_level, problems)


def scored_sql(cases: str, look: dict[str, str], periods: Periods, stride: int, scale: float,
               limit: float, join: str = "JOIN") -> str:
    """Every case with cls, ratio, score, coefficient, points, point_units, settle …

    ``join``: ``JOIN`` (member cases only) or ``LEFT JOIN`` (every case; ``u`` is NULL at a
    unit that is not a member, and the other columns of such a row mean nothing)."""
    K, each = len(periods.params), periods.each
    bounds = [active_bounds(p) for p in periods.params]
    low, high = each([double(b.low) for b in bounds]), each([double(b.high) for b in bounds])
    low_open = each([_bool(not b.low_inclusive) for b in bounds])
    high_open = each([_bool(not b.high_inclusive) for b in bounds])
    apply = periods.param(lambda p: _bool(p.special_points_apply_coefficient))
    extreme = each([double(b.extreme) for b in bounds])
    coef, src = each([f"u.coef_{k}" for k in range(K)]), each([f"u.src_{k}" for k in range(K)])
    score = each([f"g.score_{k}" for k in range(K)])
    policy = periods.param(lambda p: str(UNMATCHED_REASON[p.unmatched_policy]))
    return f"""
WITH c AS (SELECT *, {periods.expression()} AS period FROM {cases} AS c),
j AS (
  SELECT c.*, u.u, u.lv, g.g, coalesce(g.basic, false) AS basic, r.ref,
         {score} AS score, {coef} AS unit_coef, {src} AS unit_src,
         (c.special_points IS NOT NULL AND NOT isnan(c.special_points)) AS special
  FROM c {join} {look['units']} AS u ON c.unit_id = u.unit_id
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
  SELECT *, coalesce(abs(points) = {INFINITY} OR isnan(points) OR abs(points) >= {double(limit)},
                     false) AS bad,
         CASE WHEN cls <> {UNMATCHED} THEN {SCORED} WHEN reason = {NO_REASON} THEN {AT_COST}
              ELSE {EXCLUDED} END AS settle
  FROM p)
SELECT *, CASE WHEN bad OR points IS NULL THEN CAST(0 AS BIGINT)
               ELSE CAST(floor(points * {double(scale)} + CAST(0.5 AS DOUBLE)) AS BIGINT)
          END AS point_units
FROM q"""


def _bit(k: int) -> str:
    """Bit k of the packed kind is set."""
    return f"kind % {2 ** (k + 1)} >= {2 ** k}"


#: phase 1 of the Σ scan: per unit position (and community) and kind of case — settlement,
#: special, review, bad points, data error, big finite points packed into one small integer —
#: a count and four exact sums: few aggregates with an integer key over the many rows
#: (measured: less CPU than nine filtered aggregates per unit id, benchmarks/bench_dip.py).
#: Phase 2 (:data:`SUMS`) folds the few (key, kind) rows into the columns.
KIND = f"""settle + 4 * CAST(cls = {SPECIAL} AS INT) + 8 * CAST(review AS INT)
  + 16 * CAST(bad AS INT) + 32 * CAST(reason IN ({UNKNOWN_GROUP}, {NO_REFERENCE}) AS INT)
  + 64 * CAST(bad AND abs(points) <> {INFINITY} AND NOT isnan(points) AS INT)"""
KINDS = """count(*) AS n, sum(point_units) AS point_units, sum(fund_paid) AS fund_paid,
  sum(self_pay) AS self_pay, sum(violation_deduction) AS violation_deduction"""


def _total(expr: str, where: str, name: str) -> str:
    return f"CAST(coalesce(sum({expr}) FILTER (WHERE {where}), 0) AS BIGINT) AS {name}"


SUMS = ", ".join([
    _total("n", f"kind % 4 <> {EXCLUDED}", "cases"),
    _total("n", f"kind % 4 = {EXCLUDED}", "excluded_cases"),
    _total("n", _bit(2), "special_cases"),
    _total("n", _bit(3), "review_cases"),
    "CAST(coalesce(sum(point_units), 0) AS BIGINT) AS point_units",
    _total("fund_paid", f"kind % 4 = {AT_COST}", "at_cost"),
    _total("self_pay", f"kind % 4 = {SCORED}", "self_pay"),
    _total("violation_deduction", f"kind % 4 <> {EXCLUDED}", "violation_deduction"),
    _total("n", _bit(4), "nonfinite"),
    _total("n", _bit(5), "data_errors"),
    _total("n", _bit(6), "big"),
])


def sums_sql(scored: str, units: str, by: tuple[str, ...]) -> str:
    """Σ per ``by`` keys of the scored cases, in the two phases above, sorted by the keys."""
    inner = ", ".join(["u"] + list(by[1:]))
    keys = ", ".join(["lu.unit_id"] + [f"k.{key}" for key in by[1:]])
    return (f"SELECT {keys}, {SUMS} FROM (SELECT {inner}, kind, {KINDS} FROM "
            f"(SELECT *, {KIND} AS kind FROM ({scored}) AS s) AS s GROUP BY {inner}, kind) AS k "
            f"JOIN {units} AS lu ON lu.u = k.u GROUP BY {keys} ORDER BY {keys} NULLS LAST")


#: the per-case columns of ``dip_case_scores`` (the small codes packed into one integer:
#: fewer columns to convert); ``u`` −1 = not a member unit
PER_CASE = f"""pos, coalesce(u, -1) AS u, cls + {CODE['coef_source']} * coef_source
  + {CODE['settle']} * settle + {CODE['reason']} * reason + {CODE['review']} * CAST(review AS INT)
  + {CODE['bad']} * CAST(bad AS INT) AS code,
  coalesce(ratio, {NAN}) AS ratio, coalesce(score, {NAN}) AS base_score,
  coalesce(coefficient, {NAN}) AS coefficient, point_units"""
PER_CASE_NAMES = ("u", "code", "ratio", "base_score", "coefficient", "point_units")


def present(table) -> list[str]:
    """The case columns the table has (the optional ones may be missing)."""
    names = columns_of(table)
    return [c for c in CASE_COLUMNS if c in names]


def select(have: list[str], source: str, row: str | None = None,
           extra: list[str] = ()) -> str:
    """The case columns of ``source``, an absent optional one as its default; ``row``: the
    name of ``source``'s row-position column, taken as ``pos``; ``extra``: more columns."""
    cols = [c if c in have else f"{OPTIONAL[c]} AS {c}" for c in CASE_COLUMNS
            if c in have or c in OPTIONAL]
    cols += list(extra) + [f"{row} AS pos"] * bool(row)
    return f"(SELECT {', '.join(cols)} FROM {source})"
