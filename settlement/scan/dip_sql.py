"""DIP case scoring in DuckDB SQL (病例分值计算的 DuckDB 实现): the numbers of scoring.py, bit for bit.

The DuckDB engine's DIP scans (:mod:`settlement.dip.scan` declares them; the pandas engine's
numpy code is the reference). One query scores every case at a member unit and either
returns the per-case columns (``dip_case_scores``) or sums them per unit and insured
community (``dip_unit_points``: out of core, a Parquet folder of a whole region is read by
DuckDB, never as a pandas frame).

How the floats stay identical (DOMAIN §2.2, module :mod:`~settlement.dip.scoring`)::

    ratio  = total_cost::DOUBLE / reference         (numpy: int64 / float64, same IEEE divide)
    factor = 1 | ratio | (ratio − high) + 1         by class; high wins over low, as in numpy
    points = score × factor × coefficient           left to right: (score × factor) × coef
    units  = floor(points × 10^d + 0.5)             the same two operations, then floor

The small tables come from :func:`~settlement.dip.scoring.catalogue` itself (level and unit
coefficients, DRG scale, reference matrix), so SQL and numpy read the very same float64 values;
the bounds are passed as text cast to DOUBLE (correctly rounded, like ``float(Decimal)``).
Variants are data: one column per period of the year (parameters by discharge date,
:mod:`~settlement.dip.dated`), inclusive bounds as flags in the comparison, the unmatched
policy as the reason code — one query shape for DIP and DRG.

Example: score 500, reference 10,000 元, coefficient 1, cost 25,000 元 → ratio 2.5 → high →
500 × ((2.5 − 2) + 1) × 1 = 750 points → 7,500,000 units at 4 decimals.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from settlement.dip.codes import Factorized
from settlement.dip.scan import CASE_COLUMNS, POINT_COLUMNS, DipPoints, check_by
from settlement.dip.scoring import (
    AT_COST, BY_APPROVAL, BY_BASIC, EXCLUDED, HIGH, LOW, NO_REASON, NO_REFERENCE,
    NORMAL, SCORED, SPECIAL, UNKNOWN_GROUP, UNMATCHED, UNMATCHED_REASON, CaseScores,
    _data_problems, active_bounds, catalogue, round_points,
)
from settlement.params import DipParams
from settlement.problems import Problem
from settlement.scan.frames import columns_of, parquet_files
from settlement.stages.finite import nonfinite_problems, points_limit
from settlement.vocabulary import is_member

_names = itertools.count()
#: the multiplier of each small code in the packed ``code`` column (each < 8)
CODE = {"cls": 1, "coef_source": 8, "settle": 64, "reason": 512, "review": 4096,
        "bad": 32768}
#: optional case columns and the value a case has without them
OPTIONAL = {"special_points": "NULL::DOUBLE", "violation_deduction": "0::BIGINT"}
#: the unmatched policy → reason code of an unmatched case with no group (a lookup, not an if)
POLICY_REASON = UNMATCHED_REASON


def _double(value) -> str:
    return f"'{float(value)!r}'::DOUBLE"


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
    member = is_member(units).to_numpy(bool)
    pos = np.flatnonzero(member)
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
    stride = len(cat.levels) + 1
    ok = np.flatnonzero(cat.refs > 0)  # ~(ref > 0) is unmatched: NaN and zero stay out
    ref_table = pa.table({"gl": pa.array(ok.astype("int64")), "ref": pa.array(cat.refs[ok])})
    return Lookups(pa.table(unit_table), pa.table(group_table), ref_table, stride, cat.levels,
                   cat.unit_level, problems)


def scored_sql(cases: str, look: dict[str, str], periods: Periods, stride: int, scale: float,
               limit: float) -> str:
    """SELECT of every member case with cls, ratio, score, coefficient, points, units …"""
    K = len(periods.params)
    bounds = [active_bounds(p) for p in periods.params]
    each = periods.each
    low, high = each([_double(b.low) for b in bounds]), each([_double(b.high) for b in bounds])
    low_open = each([_bool(not b.low_inclusive) for b in bounds])
    high_open = each([_bool(not b.high_inclusive) for b in bounds])
    apply = periods.param(lambda p: _bool(p.special_points_apply_coefficient))
    extreme = each([_double(b.extreme) for b in bounds])
    coef = each([f"u.coef_{k}" for k in range(K)])
    src = each([f"u.src_{k}" for k in range(K)])
    score = each([f"g.score_{k}" for k in range(K)])
    policy = periods.param(lambda p: str(POLICY_REASON[p.unmatched_policy]))
    return f"""
WITH c AS (SELECT *, {periods.expression()} AS period FROM {cases} AS c),
j AS (
  SELECT c.*, u.u, u.lv, g.g, coalesce(g.basic, false) AS basic, r.ref,
         {score} AS score, {coef} AS unit_coef, {src} AS unit_src,
         coalesce(NOT isnan(c.special_points), false) AS special
  FROM c JOIN {look['units']} AS u ON c.unit_id = u.unit_id
  LEFT JOIN {look['groups']} AS g ON c.dip_group = g.group_code
  LEFT JOIN {look['refs']} AS r ON r.gl = g.g * {stride} + u.lv),
k AS (
  SELECT *, total_cost::DOUBLE / ref AS ratio,
         CASE WHEN basic THEN 1.0::DOUBLE ELSE unit_coef END AS coef0,
         CASE WHEN basic THEN {BY_BASIC} ELSE unit_src END AS src0
  FROM j),
o AS (
  SELECT *, ratio > {high} OR ({high_open} AND ratio = {high}) AS hi,
            ratio < {low} OR ({low_open} AND ratio = {low}) AS lo
  FROM k),
m AS (
  SELECT *, CASE WHEN special THEN {SPECIAL} WHEN ref IS NULL THEN {UNMATCHED} WHEN hi THEN {HIGH}
                 WHEN lo THEN {LOW} ELSE {NORMAL} END AS cls,
         CASE WHEN hi THEN (ratio - {high}) + 1.0::DOUBLE WHEN lo THEN ratio
              ELSE 1.0::DOUBLE END AS factor
  FROM o),
p AS (
  SELECT *,
    CASE WHEN special THEN (CASE WHEN {apply} THEN special_points * coef0 ELSE special_points END)
         WHEN cls = {UNMATCHED} THEN 0.0::DOUBLE
         ELSE score * factor * coef0 END AS points,
    CASE WHEN special AND NOT {apply} THEN 1.0::DOUBLE WHEN cls = {UNMATCHED} THEN NULL
         ELSE coef0 END AS coefficient,
    CASE WHEN special AND NOT {apply} THEN {BY_APPROVAL} ELSE src0 END AS coef_source,
    coalesce(ratio > {extreme}, false) AND NOT special AS review,
    CASE WHEN cls <> {UNMATCHED} THEN {NO_REASON} WHEN g IS NOT NULL THEN {NO_REFERENCE}
         WHEN dip_group IS NOT NULL THEN {UNKNOWN_GROUP} ELSE {policy} END AS reason
  FROM m),
q AS (
  SELECT *, coalesce(isinf(points) OR isnan(points) OR abs(points) >= {_double(limit)}, false)
              AS bad,
         CASE WHEN cls <> {UNMATCHED} THEN {SCORED} WHEN reason = {NO_REASON} THEN {AT_COST}
              ELSE {EXCLUDED} END AS settle
  FROM p)
SELECT *, CASE WHEN bad OR points IS NULL THEN 0::BIGINT
               ELSE floor(points * {_double(scale)} + 0.5::DOUBLE)::BIGINT END AS point_units
FROM q"""


#: phase 1 of the Σ scan: per unit position (and community) and kind of case — settlement,
#: special, review, bad points, data error, big finite points packed into one small integer —
#: a count and four exact sums: few aggregates with an integer key over the many rows
#: (measured: less CPU than nine filtered aggregates per unit id, benchmarks/bench_dip.py).
#: Phase 2 (:data:`SUMS`) folds the few (key, kind) rows into the columns.
KIND = f"""settle + 4 * (cls = {SPECIAL})::INT + 8 * review::INT + 16 * bad::INT
  + 32 * (reason IN ({UNKNOWN_GROUP}, {NO_REFERENCE}))::INT
  + 64 * (bad AND NOT isinf(points) AND NOT isnan(points))::INT"""
KINDS = """count(*) AS n, sum(point_units) AS point_units, sum(fund_paid) AS fund_paid,
  sum(self_pay) AS self_pay, sum(violation_deduction) AS violation_deduction"""
SUMS = f"""
  coalesce(sum(n) FILTER (WHERE kind % 4 <> {EXCLUDED}), 0)::BIGINT AS cases,
  coalesce(sum(n) FILTER (WHERE kind % 4 = {EXCLUDED}), 0)::BIGINT AS excluded_cases,
  coalesce(sum(n) FILTER (WHERE kind // 4 % 2 = 1), 0)::BIGINT AS special_cases,
  coalesce(sum(n) FILTER (WHERE kind // 8 % 2 = 1), 0)::BIGINT AS review_cases,
  coalesce(sum(point_units), 0)::BIGINT AS point_units,
  coalesce(sum(fund_paid) FILTER (WHERE kind % 4 = {AT_COST}), 0)::BIGINT AS at_cost,
  coalesce(sum(self_pay) FILTER (WHERE kind % 4 = {SCORED}), 0)::BIGINT AS self_pay,
  coalesce(sum(violation_deduction) FILTER (WHERE kind % 4 <> {EXCLUDED}), 0)::BIGINT
    AS violation_deduction,
  coalesce(sum(n) FILTER (WHERE kind // 16 % 2 = 1), 0)::BIGINT AS nonfinite,
  coalesce(sum(n) FILTER (WHERE kind // 32 % 2 = 1), 0)::BIGINT AS data_errors,
  coalesce(sum(n) FILTER (WHERE kind // 64 % 2 = 1), 0)::BIGINT AS big"""


def sums_sql(scored: str, units: str, by: tuple[str, ...]) -> str:
    """Σ per ``by`` keys of the scored cases, in the two phases above, sorted by the keys."""
    inner = ", ".join(["u"] + list(by[1:]))
    keys = ", ".join(["lu.unit_id"] + list(by[1:]))
    return (f"SELECT {keys}, {SUMS} FROM (SELECT {inner}, {KIND} AS kind, {KINDS} "
            f"FROM ({scored}) GROUP BY ALL) AS k JOIN {units} AS lu ON lu.u = k.u "
            f"GROUP BY {keys} ORDER BY {keys} NULLS LAST")


#: the per-case columns fetched (the small codes packed into one integer: fewer columns to
#: convert, the dominant cost of a per-case fetch)
PER_CASE = f"""pos, u, cls + {CODE['coef_source']} * coef_source + {CODE['settle']} * settle
  + {CODE['reason']} * reason + {CODE['review']} * review::INT
  + {CODE['bad']} * bad::INT AS code,
  coalesce(ratio, 'nan'::DOUBLE) AS ratio, coalesce(score, 'nan'::DOUBLE) AS base_score,
  coalesce(coefficient, 'nan'::DOUBLE) AS coefficient, point_units"""


def _present(table) -> list[str]:
    """The case columns the table has (the optional ones may be missing)."""
    names = columns_of(table)
    return [c for c in CASE_COLUMNS if c in names]


def _select(present: list[str], source: str, pos: bool = False) -> str:
    """The case columns of ``source``, the absent optional ones as their default; ``pos``:
    with the row's position (``source`` from ``relation(…, row=True)``)."""
    cols = [c if c in present else f"{OPTIONAL[c]} AS {c}" for c in CASE_COLUMNS
            if c in present or c in OPTIONAL]
    return f"(SELECT {', '.join(cols + ['__row AS pos'] * pos)} FROM {source})"


class DuckDBDipScan:
    """The DIP scans of :mod:`settlement.dip.scan` in DuckDB (a mixin of the DuckDB engine).

    Uses the engine's ``con`` (a DuckDB connection), ``relation(table, columns, row=)`` and
    ``scope()`` (views dropped on the way out).
    """

    @contextmanager
    def _dip_query(self, units, groups, refs, params, dated):
        """The lookups of the periods registered for the query (and dropped after it)."""
        periods = Periods.of(params, dated)
        look = lookups(units, groups, refs, params, periods)
        names = {key: f"dip_{key}_{next(_names)}" for key in ("units", "groups", "refs")}
        with self.scope():
            try:
                for key, name in names.items():
                    self.con.register(name, getattr(look, key))
                d = params.case_points_decimals
                yield lambda source, n: scored_sql(source, names, periods, look.stride,
                                                   10.0 ** d, points_limit(d, n)), look, names
            finally:
                for name in names.values():
                    self.con.unregister(name)

    def dip_case_scores(self, inpatient_cases: pd.DataFrame, units: pd.DataFrame,
                        dip_groups: pd.DataFrame, reference_costs: pd.DataFrame,
                        params: DipParams, *, dated: list[tuple] | None = None,
                        codes=None) -> CaseScores:
        """Every case at a member unit scored in SQL; the arrays of ``score_cases``."""
        cases = inpatient_cases
        present = [c for c in _present(cases) if c != "case_id"]
        with self._dip_query(units, dip_groups, reference_costs, params, dated) as (sql, look, _):
            scored = sql(_select(present, self.relation(cases, present, row=True), True),
                         len(cases))
            result = self.con.execute(f"SELECT {PER_CASE} FROM ({scored})").fetchnumpy()
            out = {k: np.ma.getdata(v) for k, v in result.items()}
            if ((out["code"] // CODE["bad"]) % 2 == 1).any():  # rare: points not finite …
                out["bad_points"] = self.con.execute(
                    f"SELECT pos, coalesce(points, 'nan'::DOUBLE) AS points, "
                    f"coalesce(coefficient, 'nan'::DOUBLE) AS coefficient FROM ({scored}) "
                    f"WHERE bad").df()
        return _case_scores(cases, out, look, params.case_points_decimals, codes)

    def dip_unit_points(self, inpatient_cases, units: pd.DataFrame, dip_groups: pd.DataFrame,
                        reference_costs: pd.DataFrame, params: DipParams, *,
                        dated: list[tuple] | None = None,
                        by: tuple[str, ...] = ("unit_id",)) -> DipPoints:
        """Σ per member unit (and insured community) in one query; cases never in pandas."""
        by = check_by(by)
        present = _present(inpatient_cases)
        with self._dip_query(units, dip_groups, reference_costs, params, dated) as (sql, look,
                                                                                   names):
            source = _select(present, self.relation(inpatient_cases, present))
            total = _rows(inpatient_cases)
            sums = self.con.execute(sums_sql(sql(source, total), names["units"], by)).df()
            n = int((sums["cases"] + sums["excluded_cases"]).sum())
            if n < total and sums["big"].sum() > 0:  # the exact limit is for n member cases
                sums = self.con.execute(sums_sql(sql(source, n), names["units"], by)).df()
            problems = list(look.problems)
            if sums["data_errors"].sum() > 0:
                problems += self._data_problems(sql(source, n), look)
            if sums["nonfinite"].sum() > 0:
                rows = _select(present, self.relation(inpatient_cases, present, row=True), True)
                problems += self._nonfinite(inpatient_cases, sql(rows, n))
        table = sums[list(by)].astype(units["unit_id"].dtype)
        for col in POINT_COLUMNS:
            table[col] = sums[col].astype("int64")
        return DipPoints(table, problems, params.case_points_decimals)

    def _data_problems(self, scored: str, look: Lookups) -> list[Problem]:
        """Unknown group codes and missing reference costs, as :func:`score_cases` words them."""
        bad = self.con.execute(f"SELECT dip_group, lv, reason FROM ({scored}) WHERE reason IN "
                               f"({UNKNOWN_GROUP}, {NO_REFERENCE})").df()
        m = len(bad)
        mini = pd.DataFrame({"dip_group": bad["dip_group"].astype("string")})
        return _data_problems(mini, np.arange(m), np.arange(m), bad["reason"].to_numpy("int8"),
                              look.levels, bad["lv"].to_numpy("int64"))

    def _nonfinite(self, cases, scored: str) -> list[Problem]:
        """The rows whose points are not finite or overflow, with the user's row numbers."""
        bad = self.con.execute(f"SELECT pos, case_id, points, special FROM ({scored}) "
                               f"WHERE bad ORDER BY pos").df()
        rows = bad["pos"].to_numpy("int64")
        label = cases.index[rows] if isinstance(cases, pd.DataFrame) else rows
        return nonfinite_problems(
            "dip.points_not_finite", "inpatient_cases", "病例分值", "case points",
            label, bad["points"].to_numpy("float64"),
            "special_points" if bad["special"].all() else "", bad["case_id"].astype(str))


def _rows(table) -> int:
    """The number of rows of a frame or of Parquet files (from their footers)."""
    if isinstance(table, pd.DataFrame):
        return len(table)
    return sum(pq.ParquetFile(f).metadata.num_rows for f in parquet_files(table))


def _in_case_order(out: dict[str, np.ndarray], n_cases: int) -> tuple[np.ndarray, np.ndarray,
                                                                      dict[str, np.ndarray]]:
    """The fetched rows (any order) by case position: (member mask, rank of a position, arrays)."""
    pos = out["pos"]
    mask = np.zeros(n_cases, dtype=bool)
    mask[pos] = True
    rank = np.full(n_cases, -1, dtype="int64")
    rank[mask] = np.arange(int(mask.sum()))
    dest = rank[pos]
    ordered = {}
    for key in ("u", "code", "ratio", "base_score", "coefficient", "point_units"):
        ordered[key] = np.empty_like(out[key])
        ordered[key][dest] = out[key]
    return mask, rank, ordered


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


def _case_scores(cases: pd.DataFrame, out: dict, look: Lookups, d: int, codes) -> CaseScores:
    """The fetched columns in case order → CaseScores (with the problems of score_cases)."""
    mask, rank, a = _in_case_order(out, len(cases))
    rows = np.flatnonzero(mask)
    code = a["code"]
    unpack = {name: ((code // m) % 8).astype("int8") for name, m in CODE.items()}
    point_units = a["point_units"].astype("int64")
    nonfinite_rows, nonfinite_points = _exact_nonfinite(out.get("bad_points"), rank, point_units,
                                                        d, len(rows))
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
        approved_points=approved, decimals=d, problems=problems)


#: the name the scan interface gave the mixin
DipSql = DuckDBDipScan
