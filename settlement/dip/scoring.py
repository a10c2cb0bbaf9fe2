"""Case scoring (病例分值计算), vectorised over every inpatient case at once.

A case's ratio r = total_cost ÷ reference cost of (its group, its treating unit's level)
(上年同级别次均费用). Its class and base points follow DOMAIN §2.2::

    normal  low ≤ r ≤ high   base = score
    low     r < low          base = score × r
    high    r > high         base = score × (r − high + 1)
    special approved         points = special_points (特例单议, replaces the formula)
    unmatched                no points: paid at fund_paid, or excluded (a parameter)

points = base × coefficient, rounded to ``case_points_decimals`` (half up). The coefficient is
1 for ``basic`` groups (基层病种) at every level, else the unit's own ``dip_coefficient`` if
given, else the level coefficient (等级系数). Bounds and their inclusivity are parameters; a
case with r > extreme bound is flagged for review and keeps the high formula.

Worked rule (Guangzhou; score 500, reference 10,000 元, coefficient 1):
cost 4,000 → r 0.4 → 500 × 0.4 = 200; 9,000 → 500; 5,000 (r = 0.5, inclusive) → 500;
20,000 (r = 2.0, inclusive) → 500; 25,000 → r 2.5 → 500 × (2.5 − 2 + 1) = 750.

DRG (``payment_method: drg``): the catalogue score is RW, base score = RW × drg_points_per_rw,
with the DRG bounds. Only cases treated at member units (community_id set, category not
``external``) are scored; the others are returned as ``external_rows`` (pass-through).

Points are held as int64 in units of 10^-decimals points, so every sum of points is exact.
Lookups use factorised codes and numpy indexing (no merge of the case table), see
:mod:`~settlement.dip.codes`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from settlement.params import DipParams
from settlement.problems import Problem
from settlement.dip.codes import Factorized, column, factorize_columns, lookup
from settlement.dip.methods import Bounds, active_bounds, payment_method  # noqa: F401 (re-export)
from settlement.stages.finite import nonfinite_problems, points_limit
from settlement.vocabulary import CASE_CLASS_ZH, CASE_CLASSES, LEVEL_ZH, is_member

CLASSES = CASE_CLASSES  # normal, low, high, special, unmatched (settlement.vocabulary)
NORMAL, LOW, HIGH, SPECIAL, UNMATCHED = range(5)
CLASS_ZH = CASE_CLASS_ZH

# how a case is settled (settle code) and why it is excluded (reason code)
SCORED, AT_COST, EXCLUDED = range(3)
REASONS = ("", "未入组病例，按规定不予结算", "病种编码不在病种目录中", "缺少同级别参考费用")
NO_REASON, BY_POLICY, UNKNOWN_GROUP, NO_REFERENCE = range(4)

# where the coefficient comes from
COEF_SOURCES = ("level", "unit", "basic", "approved")
BY_LEVEL, BY_UNIT, BY_BASIC, BY_APPROVAL = range(4)

#: the unmatched policy → reason code of an unmatched case without a group (0: paid at cost)
UNMATCHED_REASON = {"paid_at_cost": NO_REASON, "excluded": BY_POLICY}



@dataclass(frozen=True)
class CaseScores:
    """Scored member cases, as arrays aligned with ``rows`` (positions in the case frame)."""

    rows: np.ndarray  # int64 positions of member cases in the input frame
    unit_pos: np.ndarray  # int64 position of the treating unit in the units frame
    case_class: np.ndarray  # int8, index into CLASSES
    ratio: np.ndarray  # float64, NaN for unmatched
    base_score: np.ndarray  # float64 group score (DRG: RW × points per RW)
    coefficient: np.ndarray  # float64 coefficient applied
    coef_source: np.ndarray  # int8, index into COEF_SOURCES
    point_units: np.ndarray  # int64 points × 10^decimals (exact)
    review: np.ndarray  # bool, r above the extreme bound
    settle: np.ndarray  # int8 SCORED / AT_COST / EXCLUDED
    reason: np.ndarray  # int8 index into REASONS
    external_rows: np.ndarray  # positions of cases at non-member units (pass-through)
    dip_group: pd.Categorical  # the cases' group codes as given (unknown codes kept)
    approved_points: np.ndarray  # float64 approved 特例单议 points of special cases, else NaN
    decimals: int
    problems: list[Problem] = field(default_factory=list)
    #: the case-list columns of every case (dip.scan.LIST_COLUMNS) when the cases were read
    #: from Parquet by the scan; ``rows`` / ``external_rows`` are positions in it
    cases: pd.DataFrame | None = None

    @cached_property
    def points(self) -> np.ndarray:
        """Points as float64 (the exact value is point_units × 10^-decimals)."""
        return self.point_units / 10.0 ** self.decimals


def unit_coefficients(units: pd.DataFrame, params: DipParams) -> tuple[np.ndarray, np.ndarray,
                                                                        list[Problem]]:
    """Per unit (plus a NaN sink row): coefficient and its source (level or unit override)."""
    levels = units["level"].astype("string")
    by_level = levels.map({k: float(v) for k, v in params.level_coefficients.items()})
    by_level = by_level.astype("float64").to_numpy()
    override = column(units, "dip_coefficient", np.nan)
    has_override = ~np.isnan(override)
    coef = np.where(has_override, override, by_level)
    source = np.where(has_override, BY_UNIT, BY_LEVEL).astype("int8")
    missing = sorted(set(levels[np.isnan(coef)].dropna()))
    problems = [Problem("dip.level_coefficient", "error", "units",
                        f"等级 {lvl} 没有配置等级系数（dip.level_coefficients）",
                        f"no level coefficient for level {lvl}", column="level", value=lvl)
                for lvl in missing]
    return np.append(coef, np.nan), np.append(source, BY_LEVEL).astype("int8"), problems


def reference_matrix(refs: pd.DataFrame, groups: pd.DataFrame, levels: pd.Index) -> np.ndarray:
    """avg_cost (fen, float) by [group position, level position]; last row/column = NaN sink."""
    matrix = np.full((len(groups) + 1, len(levels) + 1), np.nan)
    g = lookup(refs["group_code"], groups["group_code"])
    lv = Factorized.of(refs["level"]).positions_in(pd.Series(levels))
    ok = (g >= 0) & (lv >= 0)
    matrix[g[ok], lv[ok]] = refs["avg_cost"].to_numpy(dtype="float64")[ok]
    return matrix


def outlier_rows(ratio: np.ndarray, bounds: Bounds) -> tuple[np.ndarray, np.ndarray]:
    """Positions of low and high cases by the bounds and their inclusivity (NaN: neither)."""
    low, high = float(bounds.low), float(bounds.high)
    is_low = ratio < low if bounds.low_inclusive else ratio <= low
    is_high = ratio > high if bounds.high_inclusive else ratio >= high
    return np.flatnonzero(is_low), np.flatnonzero(is_high)


def ratio_factor(ratio: np.ndarray, low_rows: np.ndarray, high_rows: np.ndarray,
                 bounds: Bounds) -> np.ndarray:
    """The factor on the score: 1 (normal), r (low), r − high + 1 (high)."""
    factor = np.ones(len(ratio))
    factor[low_rows] = ratio[low_rows]
    factor[high_rows] = (ratio[high_rows] - float(bounds.high)) + 1.0
    return factor


def round_points(points: np.ndarray, decimals: int) -> np.ndarray:
    """Points (≥ 0, finite) → int64 units of 10^-decimals, half up."""
    scaled = points * 10.0 ** decimals
    scaled += 0.5
    return np.floor(scaled, out=scaled).astype("int64")


@dataclass(frozen=True)
class Catalogue:
    """The small tables as arrays by position, each with a sink entry last (for position −1)."""

    levels: pd.Index
    unit_level: np.ndarray  # level position of each unit
    unit_coef: np.ndarray  # level coefficient, or the unit's own (NaN: level without one)
    unit_source: np.ndarray  # BY_LEVEL / BY_UNIT
    group_score: np.ndarray  # score (DRG: RW × points per RW)
    group_basic: np.ndarray  # basic group (基层病种)
    refs: np.ndarray  # reference cost by group × level, flattened


def catalogue(units: pd.DataFrame, groups: pd.DataFrame, refs: pd.DataFrame,
              params: DipParams) -> tuple[Catalogue, list[Problem]]:
    extra_levels = set(units["level"].dropna().unique()) - set(LEVEL_ZH)
    levels = pd.Index(list(LEVEL_ZH) + sorted(extra_levels))
    unit_coef, unit_source, problems = unit_coefficients(units, params)
    scale = payment_method(params).score_scale(params)
    return Catalogue(
        levels=levels,
        unit_level=np.append(levels.get_indexer(units["level"].astype("string")), -1),
        unit_coef=unit_coef, unit_source=unit_source,
        group_score=np.append(groups["score"].to_numpy(dtype="float64") * scale, np.nan),
        group_basic=np.append(groups["group_type"].eq("basic").to_numpy(bool), False),
        refs=reference_matrix(refs, groups, levels).ravel()), problems


def score_cases(cases: pd.DataFrame, units: pd.DataFrame, groups: pd.DataFrame,
                refs: pd.DataFrame, params: DipParams,
                codes: Mapping[str, Factorized] | None = None,
                dated: list[tuple] | None = None) -> CaseScores:
    """Score every case treated at a member unit; see the module docstring.

    ``codes``: the ``unit_id`` and ``dip_group`` columns already factorised (optional).
    ``dated``: (first day, last day, DipParams) when scoring parameters change inside the year
    (``Resolved.section_segments("dip")``): each case is scored by the parameters in force on
    its discharge date (:func:`score_by_discharge_date`).
    """
    codes = codes or factorize_columns(cases, ("unit_id", "dip_group"))
    cat, problems = catalogue(units, groups, refs, params)
    unit_all = codes["unit_id"].positions_in(units["unit_id"])
    member = np.append(is_member(units).to_numpy(bool), False)[unit_all]
    rows, external_rows = np.flatnonzero(member), np.flatnonzero(~member)
    u, g = unit_all[rows], codes["dip_group"].positions_in(groups["group_code"])[rows]
    n = len(rows)
    special = column(cases, "special_points", np.nan)[rows]
    cost = cases["total_cost"].to_numpy()[rows]
    if dated and len(dated) > 1:
        from settlement.dip.dated import score_by_discharge_date  # it builds on this module

        out, more = score_by_discharge_date(u, g, cost, special, cases["discharge_date"].iloc[rows],
                                            units, groups, refs, dated)
        problems += [p for p in more if p not in problems]
    else:
        out = score_block(u, g, cost, special, cat, params)
    special_rows, unmatched_rows = out.special_rows, out.unmatched_rows
    given = codes["dip_group"].codes[rows[unmatched_rows]]
    reason, settle = unmatched_settlement(unmatched_rows, g, given, n, params)
    problems += _data_problems(cases, rows, unmatched_rows, reason, cat.levels,
                               cat.unit_level[u[unmatched_rows]])
    bad = rows[out.nonfinite_rows]
    problems += nonfinite_problems(
        "dip.points_not_finite", "inpatient_cases", "病例分值", "case points",
        cases.index[bad], out.nonfinite_points,
        "special_points" if np.isin(out.nonfinite_rows, special_rows).all() else "",
        cases["case_id"].astype(str).iloc[bad])
    return CaseScores(rows=rows, unit_pos=u, case_class=out.case_class, ratio=out.ratio,
                      base_score=out.base_score, coefficient=out.coefficient,
                      coef_source=out.coef_source, point_units=out.point_units,
                      review=out.review, settle=settle, reason=reason, external_rows=external_rows,
                      dip_group=codes["dip_group"].categorical(rows),
                      approved_points=_at(special_rows, special[special_rows], n),
                      decimals=params.case_points_decimals, problems=problems)


@dataclass(frozen=True)
class Block:
    """Per-case results of :func:`score_block`."""

    case_class: np.ndarray  # int8
    ratio: np.ndarray
    base_score: np.ndarray
    coefficient: np.ndarray
    coef_source: np.ndarray  # int8
    point_units: np.ndarray  # int64
    review: np.ndarray  # bool
    special_rows: np.ndarray  # positions of the special cases
    unmatched_rows: np.ndarray  # positions of the unmatched cases (not special)
    nonfinite_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))
    nonfinite_points: np.ndarray = field(default_factory=lambda: np.zeros(0))  # as computed


def score_block(unit: np.ndarray, group: np.ndarray, cost: np.ndarray, special: np.ndarray,
                cat: Catalogue, params: DipParams, n_all: int | None = None) -> Block:
    """Score cases given their unit and group positions, total cost (fen) and approved points.

    ``n_all``: the number of cases summed with these (for the int64 limit; default: these).
    """
    bounds = active_bounds(params)
    ref = cat.refs[group * (len(cat.levels) + 1) + cat.unit_level[unit]]  # −k: the NaN sink
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero reference: unmatched below
        ratio = cost / ref
    unmatched = np.flatnonzero(~(ref > 0))  # no group, or no reference cost
    ratio[unmatched] = np.nan
    low, high = outlier_rows(ratio, bounds)
    case_class = np.full(len(ratio), NORMAL, dtype="int8")
    case_class[low], case_class[high] = LOW, HIGH
    case_class[unmatched] = UNMATCHED
    basic = cat.group_basic[group]
    coefficient, coef_source = cat.unit_coef[unit], cat.unit_source[unit]
    coefficient[basic], coef_source[basic] = 1.0, BY_BASIC
    score = cat.group_score[group]
    points = score * ratio_factor(ratio, low, high, bounds)
    points *= coefficient
    points[unmatched] = 0.0
    specials = np.flatnonzero(~np.isnan(special))
    case_class[specials] = SPECIAL
    SPECIAL_RULES[params.special_points_apply_coefficient](specials, special, points,
                                                           coefficient, coef_source)
    unmatched = unmatched[case_class[unmatched] == UNMATCHED]  # not special
    coefficient[unmatched] = np.nan
    review = ratio > float(bounds.extreme)
    review[specials] = False
    # NaN points where a level has no coefficient (an error problem) count 0; so do points
    # that are ±inf or too large for an exact int64 sum (an error problem: finite.py)
    limit = points_limit(params.case_points_decimals, n_all or len(points))
    nonfinite = np.flatnonzero(np.isinf(points) | (np.abs(points) >= limit)
                               | (np.isnan(points) & ~np.isnan(coefficient)))
    nonfinite_points = points[nonfinite].copy()
    points[nonfinite] = 0.0
    point_units = round_points(np.nan_to_num(points, copy=False), params.case_points_decimals)
    return Block(case_class, ratio, score, coefficient, coef_source, point_units, review,
                 specials, unmatched, nonfinite, nonfinite_points)


def _special_times_coefficient(rows, special, points, coefficient, coef_source) -> None:
    """特例单议分值再乘系数: points = approved points × the case's coefficient."""
    points[rows] = special[rows] * coefficient[rows]


def _special_as_approved(rows, special, points, coefficient, coef_source) -> None:
    """特例单议按核定分值: points = approved points, coefficient 1 (source: approval)."""
    points[rows] = special[rows]
    coefficient[rows], coef_source[rows] = 1.0, BY_APPROVAL


#: special_points_apply_coefficient → how a special case's points are set
SPECIAL_RULES = {True: _special_times_coefficient, False: _special_as_approved}


def _at(positions: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    out[positions] = values
    return out


def unmatched_settlement(unmatched_rows: np.ndarray, g: np.ndarray, group_code: np.ndarray,
                         n: int, params: DipParams) -> tuple[np.ndarray, np.ndarray]:
    """(reason, settle) per case: unmatched → at cost or excluded by policy; data errors excluded.

    ``group_code``: the factorised dip_group of the unmatched cases (−1 = empty).
    """
    reason = np.zeros(n, dtype="int8")
    has_group = group_code >= 0
    known = g[unmatched_rows] >= 0
    by_policy = UNMATCHED_REASON[params.unmatched_policy]
    reason[unmatched_rows] = np.where(known, NO_REFERENCE,
                                      np.where(has_group, UNKNOWN_GROUP, by_policy))
    settle = np.full(n, SCORED, dtype="int8")
    settle[unmatched_rows] = AT_COST
    settle[unmatched_rows[reason[unmatched_rows] != NO_REASON]] = EXCLUDED
    return reason, settle


def _data_problems(cases: pd.DataFrame, rows: np.ndarray, unmatched_rows: np.ndarray,
                   reason: np.ndarray, levels: pd.Index, level: np.ndarray) -> list[Problem]:
    """One error per unknown group code and per missing (group, level) reference cost."""
    problems = []
    why = reason[unmatched_rows]
    bad = rows[unmatched_rows[why == UNKNOWN_GROUP]]
    for code in sorted(set(cases["dip_group"].iloc[bad])):  # a handful of codes
        problems.append(Problem("dip.unknown_group", "error", "inpatient_cases",
                                f"病种编码 {code} 不在病种目录（dip_groups）中，相关病例未结算",
                                f"group {code} is not in dip_groups", column="dip_group",
                                value=str(code)))
    missing = why == NO_REFERENCE
    if missing.any():
        pairs = pd.DataFrame({
            "group": cases["dip_group"].iloc[rows[unmatched_rows[missing]]].to_numpy(),
            "level": levels[level[missing]]}).value_counts().sort_index()
        for (code, level), n in pairs.items():
            problems.append(Problem("dip.missing_reference", "error", "dip_reference_costs",
                                    f"病种 {code} 在 {LEVEL_ZH.get(level, level)} 级别没有参考费用，"
                                    f"{n} 例病例未结算",
                                    f"no reference cost for ({code}, {level}); {n} cases",
                                    column="avg_cost", value=f"{code}/{level}"))
    return problems
