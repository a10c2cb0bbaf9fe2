"""DIP/DRG settlement of inpatient cases (按病种分值付费 / DRG 点数法), DOMAIN §2.2.

One public function, :func:`settle_dip`: score every case at a member unit
(:mod:`~settlement.dip.scoring`), fix the settlement point value and settle each
member unit in exact fen (:mod:`~settlement.dip.settle`), explain every case in Chinese
(:mod:`~settlement.dip.explain`) and tie the money in a ledger
(:mod:`~settlement.dip.ledger`).

Tiny example: one tertiary hospital, group score 500, reference cost 10,000 元, budget 24,000 元
at reimbursement ratio 0.6 → pool 40,000 元. Cases costing 4,000 (r 0.4 → 200 points) and
25,000 (r 2.5 → 750 points): Σ 950 points, point value 40,000 ÷ 950 = 42.1053 元/分 (4 d.p.),
unit gross = 950 × 42.1053 = 40,000.035 → 40,000.04 元: the 0.04 paid above the pool is the
ledger's 点值取整差额 line.

Rounding, decided once: case points are rounded to ``case_points_decimals`` and held as exact
integers; the case list shows each case's gross rounded to fen (information); a unit's gross is
its exact Σ points × point value rounded once, and ``case_rounding`` in ``dip_units`` is the
difference to the Σ of its cases. Cases at non-member units are not in ``dip_cases``: they
pass through at fund_paid (the package stage counts them); the summary gives their count and
fund_paid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from settlement.money import yuan_display
from settlement.vocabulary import member_units
from settlement.params import DipParams
from settlement.problems import Problem
from settlement.dip.explain import explain_cases, explain_rules
from settlement.dip.ledger import (
    DipSummary, build_ledger, money_at_point_value, point_value_text, unit_totals,
)
from settlement.dip.codes import PARALLEL_FROM, Factorized, executor
from settlement.dip.cases import aggregate, case_frame, case_ids
from settlement.dip.dated import period_of
from settlement.dip.scan import PandasDipScan
from settlement.dip.scoring import CLASSES, CaseScores
from settlement.dip.settle import (
    PointValue, dip_prepaid, points_decimal, price_groups, settle_units, settlement_point_value,
)

UNIT_INFO = ["unit_name", "community_id", "category", "level"]
EXPLAIN = {"rule": explain_rules, "full": explain_cases}
MAX_CELLS = 1_000_000  # unit × community cells of the one-pass scan
UNIT_CONTRACT = ["unit_id", "cases", "points", "point_value", "gross_value", "self_pay",
                 "violation_deduction", "fund_due", "withheld", "returned", "fund_paid", "prepaid",
                 "balance"]


@dataclass(frozen=True)
class DipResult:
    """What the DIP stage returns. Money int64 fen; ``point_value`` columns are Decimal text."""

    cases: pd.DataFrame  # dip_cases, one row per case at a member unit
    units: pd.DataFrame  # dip_units, one row per member unit with cases or DIP prepayments
    communities: pd.DataFrame  # DIP money by the insured's community (for the package stage)
    ledger: pd.DataFrame  # section, line, label_zh, amount, explanation; each section sums to 0
    summary: DipSummary
    problems: list[Problem] = field(default_factory=list)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"dip_cases": self.cases, "dip_units": self.units,
                "dip_communities": self.communities, "dip_ledger": self.ledger}


def settle_dip(cases: pd.DataFrame | Path, units: pd.DataFrame, groups: pd.DataFrame,
               reference_costs: pd.DataFrame, performance_scores: pd.DataFrame,
               prepayments: pd.DataFrame | None, params: DipParams, *,
               source: Callable[[str], str] | None = None,
               explain: Literal["rule", "full", "none"] = "rule",
               dated: list[tuple] | None = None, engine=None) -> DipResult:
    """Settle the year's inpatient cases by DIP (or DRG). Pure: frames + params → result.

    ``source`` (e.g. ``resolved.source``) adds parameter references to the ledger text.
    ``explain``: the per-case ``explanation`` column — ``rule`` (categorical: class, bounds,
    formula, coefficient and source; the case's numbers are in its own columns), ``full`` (one
    sentence with the case's numbers, see :func:`explain_cases`), or ``none``.
    ``dated``: (first day, last day, DipParams) when case-scoring parameters change inside the
    year (``Resolved.section_segments("dip")``): each case is scored by its discharge date's.
    ``cases`` may be a Parquet path (file or folder, money in yuan): the engine scores it and
    reads only the case-list columns into pandas (``dip.scan.LIST_COLUMNS``).
    ``engine``: the scan engine that scores cases on disk (``dip_case_scores``; None → the
    default, :func:`settlement.scan.get_engine`); an engine without DIP scans uses the numpy
    reference. Cases already in memory (a frame) are scored by the numpy reference whatever
    the engine: the case list needs every case's scores in numpy, and a round trip through an
    engine costs more than the scoring itself (measured, ``benchmarks/bench_dip.py``: 1 M cases,
    the DuckDB query alone 0.13 s, numpy's whole scoring 0.07 s); the results are identical.
    """
    cases = cases if isinstance(cases, pd.DataFrame) else Path(getattr(cases, "path", cases))
    scorer = _scorer(engine, cases)  # a SpilledTable (settlement.spill): its Parquet file
    # 2 cores: Arrow and numpy release the GIL (a Parquet path: a large table, as a rule)
    with executor(len(cases) if isinstance(cases, pd.DataFrame) else PARALLEL_FROM) as pool:
        s, cases, dip_cases, pv, problems = _score_and_list(cases, units, groups, reference_costs,
                                                            params, pool, dated, scorer)
        explanation = (pool.submit(_explain, EXPLAIN[explain], dip_cases, params, dated,
                                   cases, s.rows)
                       if explain != "none" else None)
        by_unit, by_community = scan(s, dip_cases, units)
        communities = community_frame(by_community, pv, s.decimals)
        prepaid = dip_prepaid(prepayments)
        aggregates = _with_prepaid_units(by_unit, prepaid, units, problems)
        dip_units, unit_problems = settle_units(aggregates, pv, performance_scores, prepaid, params)
        dip_units["explanation"] = unit_explanations(dip_units, params)
        summary = _summary(s, cases, pv, dip_units, params)
        if explanation is not None:
            dip_cases["explanation"] = explanation.result()
    problems += unit_problems + _case_warnings(dip_units)
    extra = [c for c in dip_units.columns if c not in UNIT_CONTRACT and c != "point_units"]
    return DipResult(dip_cases, dip_units[UNIT_CONTRACT + extra], communities,
                     build_ledger(summary, params, source), summary, problems)


def _explain(explain_fn, dip_cases: pd.DataFrame, params: DipParams, dated: list[tuple] | None,
             cases: pd.DataFrame, rows: np.ndarray):
    """Case explanations; with mid-year parameters, each case by its discharge period's."""
    if not dated or len(dated) == 1:
        return explain_fn(dip_cases, params)
    which = period_of(cases["discharge_date"].iloc[rows], dated)
    out = np.empty(len(dip_cases), dtype=object)
    for k, (first, last, period_params) in enumerate(dated):  # a change or two in a year
        rows = np.flatnonzero(which == k)
        if len(rows):
            text = np.asarray(explain_fn(dip_cases.iloc[rows], period_params), dtype=object)
            out[rows] = text + f"（{first.isoformat()} 至 {last.isoformat()} 出院适用的参数）"
    return pd.Categorical(out)


def _scorer(engine, cases: pd.DataFrame | Path):
    """The engine's ``dip_case_scores`` for cases on disk; the numpy reference for a frame (or
    an engine without DIP scans)."""
    from settlement.scan import resolve

    reference = PandasDipScan().dip_case_scores
    if isinstance(cases, pd.DataFrame):
        return reference
    return getattr(resolve(engine), "dip_case_scores", reference)


def _score_and_list(cases, units, groups, reference_costs, params, pool, dated=None,
                    scorer=PandasDipScan().dip_case_scores):
    """Score the cases, fix the point value and build the case list (string work on ``pool``).

    A frame is scored with its ids factorised here (on ``pool``); a Parquet path is scored by
    the engine, which reads it once and returns only the case-list columns (``s.cases``)."""
    if isinstance(cases, pd.DataFrame):
        unit = pool.submit(Factorized.of, cases["unit_id"])
        group = Factorized.of(cases["dip_group"])
        codes = {"unit_id": unit.result(), "dip_group": group}
        community = pool.submit(Factorized.of, cases["community_id"])  # awaited in case_frame
        s = scorer(cases, units, groups, reference_costs, params, dated=dated, codes=codes)
    else:
        s = scorer(cases, units, groups, reference_costs, params, dated=dated)
        cases = s.cases
        community = pool.submit(Factorized.of, cases["community_id"])
    ids = pool.submit(case_ids, cases, s.rows)
    pv, problems = settlement_point_value(points_decimal(int(s.point_units.sum()), s.decimals),
                                          params)
    dip_cases = case_frame(s, cases, units, pv, community, ids)
    return s, cases, dip_cases, pv, s.problems + problems


def scan(s: CaseScores, dip_cases: pd.DataFrame, units: pd.DataFrame) -> tuple[pd.DataFrame,
                                                                              pd.DataFrame]:
    """The scan: one pass of exact sums by (treating unit, insured community); the per-unit and
    per-community aggregates are its two margins. Units: those with case rows."""
    community = dip_cases["community_id"].cat
    n_comm = len(community.categories) + 1  # + a sink for cases without a community
    comm = community.codes.to_numpy().astype("int64")
    comm[comm < 0] = n_comm - 1
    by_unit, by_community = _margins(s, dip_cases, len(units), comm, n_comm)
    by_unit.insert(0, "unit_id", units["unit_id"].astype(str).to_numpy())
    for col in UNIT_INFO:
        by_unit[col] = units[col].to_numpy()
    by_community.insert(0, "community_id",
                        pd.array(list(community.categories) + [pd.NA], dtype="string"))
    has_cases = by_unit["cases"].add(by_unit["excluded_cases"]).gt(0)
    return (by_unit.loc[has_cases].reset_index(drop=True),
            by_community.loc[by_community["cases"].gt(0)].reset_index(drop=True))


def _with_prepaid_units(agg: pd.DataFrame, prepaid: pd.Series, units: pd.DataFrame,
                        problems: list[Problem]) -> pd.DataFrame:
    """Add member units with DIP prepayments but no cases; warn on other payees."""
    member = member_units(units)
    member_ids = set(member["unit_id"].astype(str))
    for payee in sorted(set(prepaid.index) - member_ids):
        problems.append(Problem("dip.prepayment_payee", "warning", "prepayments",
                                f"DIP 月度预结算收款方 {payee} 不是成员单位，未计入 DIP 清算",
                                f"dip prepayment payee {payee} is not a member unit",
                                column="payee_id", value=payee))
    extra = sorted((set(prepaid.index) & member_ids) - set(agg["unit_id"]))
    if not extra:
        return agg
    info = member.assign(unit_id=member["unit_id"].astype(str)).set_index("unit_id")
    add = pd.DataFrame({"unit_id": extra})
    for col in agg.columns.drop("unit_id"):
        add[col] = info.loc[extra, col].to_numpy() if col in UNIT_INFO else 0
    return pd.concat([agg, add.astype(agg.dtypes.to_dict())], ignore_index=True)


def _margins(s: CaseScores, dip_cases: pd.DataFrame, n_units: int, comm: np.ndarray,
             n_comm: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sums by unit and by community: one pass over (unit × community) cells when they are few."""
    if n_units * n_comm > MAX_CELLS:
        return (aggregate(s.unit_pos, n_units, s, dip_cases),
                aggregate(comm, n_comm, s, dip_cases))
    cells = aggregate(s.unit_pos * n_comm + comm, n_units * n_comm, s, dip_cases)
    table = cells.to_numpy().reshape(n_units, n_comm, len(cells.columns))
    return (pd.DataFrame(table.sum(axis=1), columns=cells.columns),
            pd.DataFrame(table.sum(axis=0), columns=cells.columns))


def community_frame(by_community: pd.DataFrame, pv: PointValue, decimals: int) -> pd.DataFrame:
    """DIP money by the insured's community, each community's gross rounded once."""
    agg = by_community[["community_id", "cases", "point_units", "at_cost", "self_pay",
                        "violation_deduction"]]
    out = price_groups(agg, pv, decimals).drop(columns=["point_units"])
    return out.sort_values("community_id", na_position="last").reset_index(drop=True)


EXPLAINED = ["points", "point_value", "gross_value", "at_cost", "self_pay", "violation_deduction",
             "fund_due", "withheld", "score", "score_coefficient", "returned", "fund_paid",
             "prepaid", "balance"]


def unit_explanations(dip_units: pd.DataFrame, params: DipParams) -> list[str]:
    """Each unit's settlement in one sentence (amounts in yuan, exact)."""
    y, d = yuan_display, params.case_points_decimals
    return [f"分值 {points:,.{d}f} × 结算点值 {pv} 元/分 = {y(gross)} 元；加未入组按实际支付 "
            f"{y(at_cost)}，减个人负担 {y(self_pay)}、违规扣款 {y(violation)} → 基金应付 "
            f"{y(due)}；预留质量保证金 {y(withheld)}，考核得分 {score:g} 折算系数 {coef} → 返还 "
            f"{y(returned)}；基金实付 {y(paid)}，已预结算 {y(prepaid)}，清算 {y(balance)}"
            for points, pv, gross, at_cost, self_pay, violation, due, withheld, score, coef,
            returned, paid, prepaid, balance in zip(*(dip_units[c] for c in EXPLAINED))]


def _summary(s: CaseScores, cases: pd.DataFrame, pv: PointValue, dip_units: pd.DataFrame,
             params: DipParams) -> DipSummary:
    counts = np.bincount(s.case_class, minlength=len(CLASSES))
    external_paid = cases["fund_paid"].to_numpy()[s.external_rows].sum()
    return DipSummary(
        payment_method=params.payment_method, point_value=pv,
        cases_by_class=dict(zip(CLASSES, map(int, counts))),
        settled_cases=int(dip_units["cases"].sum()),
        excluded_cases=int(dip_units["excluded_cases"].sum()),
        review_cases=int(dip_units["review_cases"].sum()), external_cases=len(s.external_rows),
        external_fund_paid=int(external_paid), dip_pool=pv.pool,
        money_at_point_value=money_at_point_value(pv), units=unit_totals(dip_units))


def _case_warnings(dip_units: pd.DataFrame) -> list[Problem]:
    """One warning per unit for cases to review (极端高倍率) or excluded (不予结算)."""
    out = []
    flagged = dip_units.loc[dip_units["review_cases"].gt(0)]
    for uid, n in zip(flagged["unit_id"], flagged["review_cases"]):
        out.append(Problem("dip.extreme_ratio", "warning", "inpatient_cases",
                           f"{uid} 有 {n} 例病例倍率超过极端界值，待专家评议（暂按高倍率公式计分）",
                           f"{uid}: {n} extreme-ratio cases", value=str(uid)))
    excluded = dip_units.loc[dip_units["excluded_cases"].gt(0)]
    for uid, n in zip(excluded["unit_id"], excluded["excluded_cases"]):
        out.append(Problem("dip.excluded_cases", "warning", "inpatient_cases",
                           f"{uid} 有 {n} 例病例不予结算（见病例清单原因）",
                           f"{uid}: {n} cases excluded", value=str(uid)))
    return out


def point_value_explanation(result: DipResult, params: DipParams) -> str:
    """The point value sentence for statements and the summary sheet."""
    return point_value_text(result.summary.point_value, params)
