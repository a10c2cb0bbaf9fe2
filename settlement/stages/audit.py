"""Claims audit (医保差别化报销审核, DOMAIN §2.11): did each claim get the ratio and the
deductible the rules give?

For every inpatient case and outpatient claim that carries ``policy_cost``, ``deductible``,
``fund_paid`` and a finite ``reimbursement_ratio``, at a unit the ratio table covers, the
audit recomputes the expected fund payment::

    expected ratio      = ratios[scope of the treating unit][its level]
                          − unreferred_cut   if the scope is in unreferred_cut_scopes, the
                                             claim is not referred and no exemption holds
                                             (emergency, registered residence elsewhere)
    expected deductible = deductibles[level]                       (outpatient: per visit)
                          referred up inside the community:  max(0, own − referring unit's)
                          referred down inside the community: 0
    expected fund paid  = round((policy_cost − expected deductible)⁺ × expected ratio)

and lists each claim whose applied ratio or deductible breaks a rule, one row per rule
(:data:`RULES`), with expected against applied payment and the difference (positive: the
fund paid too much). When a claim breaks a ratio rule and a deductible rule, the difference
is split: the deductible part at the expected ratio, the ratio part the rest, so the rows of
a claim add up to its difference. Ratios are compared in basis points (0.01 %).

Example: policy cost 8,000.00 at a secondary county hospital (85 %, deductible 300.00), a
case referred up from a township centre (deductible 100.00): expected deductible
300 − 100 = 200.00, expected fund (8,000 − 200) × 85 % = 6,630.00. Applied deductible
300.00 → fund 6,545.00, difference −85.00 (the patient was overcharged), rule
``referral_up_deductible``.

The scan engine reduces each claim table to the rows that differ from the expected ratio or
deductible (:meth:`~settlement.scan.Engine.claims_to_audit`, :mod:`settlement.scan.claims_audit`:
one SQL filter in DuckDB, the numpy terms batch by batch elsewhere); the rules are told apart
and the payments computed here, on those rows only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from settlement.money import fen_of
from settlement.params import ReimbursementParams
from settlement.problems import Problem
from settlement.scan import Engine, resolve
from settlement.scan.claims_audit import (BP, AuditRules, applied_ratio_bp, audited_rows,
                                          expected_terms, money)
from settlement.scan.frames import DEFAULTS, columns_of
from settlement.vocabulary import is_member

#: rule code → Chinese label (the order of the listing)
RULES = {
    "ratio_table": "报销比例与比例表不符（按机构范围和等级）",
    "unreferred_cut_missing": "未按规定转诊就医，未降低报销比例",
    "cut_wrongly_applied": "急诊急救、异地备案或已转诊，不应降低报销比例",
    "deductible_table": "起付线与医院等级标准不符",
    "referral_up_deductible": "医共体内上转，起付线应只补交差额（合并计算起付线）",
    "referral_down_deductible": "医共体内下转，应免除下级机构起付线",
}
AUDIT_COLUMNS = [  # the columns in its order, then the claim's table and policy cost
    "claim_id", "unit_id", "community_id", "rule", "rule_zh", "applied_ratio", "expected_ratio",
    "applied_deductible", "expected_deductible", "fund_paid", "expected_fund_paid", "difference",
    "claim_kind", "policy_cost",
]
MONEY_COLUMNS = ["applied_deductible", "expected_deductible", "fund_paid", "expected_fund_paid",
                 "difference", "policy_cost"]
KINDS = {"inpatient": ("inpatient_cases", "case_id"), "outpatient": ("outpatient_claims", "claim_id")}


@dataclass(frozen=True)
class Policy:
    """The parameter table as arrays: ratio in basis points by (scope, level), −1 = none."""

    scopes: list[str]
    levels: list[str]
    ratio_bp: np.ndarray
    deductible_fen: np.ndarray  # by level
    rank: np.ndarray  # by level
    cut_bp: int
    cut_scope: np.ndarray  # by scope
    exemptions: tuple[str, ...]
    outpatient_deductible_fen: int

    @classmethod
    def of(cls, p: ReimbursementParams) -> "Policy":
        scopes = sorted(p.ratios)
        levels = sorted({lv for row in p.ratios.values() for lv in row} | set(p.deductibles)
                        | set(p.level_rank))
        table = np.full((len(scopes) + 1, len(levels) + 1), -1, dtype=np.int32)  # 4 bytes a row
        for i, scope in enumerate(scopes):
            for lv, ratio in p.ratios[scope].items():
                table[i, levels.index(lv)] = int((ratio * BP).to_integral_value())
        deductible = np.array([fen_of(p.deductibles.get(lv, 0)) for lv in levels] + [0])
        rank = np.array([p.level_rank.get(lv, 0) for lv in levels] + [0])
        cut_scope = np.array([s in p.unreferred_cut_scopes for s in scopes] + [False])
        return cls(scopes, levels, table, deductible.astype(np.int64), rank.astype(np.int64),
                   int((p.unreferred_cut * BP).to_integral_value()), cut_scope,
                   tuple(p.cut_exemptions), fen_of(p.outpatient_deductible))


@dataclass
class AuditResult:
    claims: pd.DataFrame  # claims_audit: one row per flagged claim and rule
    totals: pd.DataFrame  # per unit, community, rule and the county
    audited: dict[str, int]  # rows audited per kind
    problems: list[Problem]


def pay(policy_fen: np.ndarray, deductible_fen: np.ndarray, ratio_bp: np.ndarray) -> np.ndarray:
    """round((policy − deductible)⁺ × ratio) in fen, half up, in integer arithmetic."""
    base = np.maximum(np.asarray(policy_fen, np.int64) - deductible_fen, 0)
    ratio = np.asarray(ratio_bp, np.int64)
    largest = int(np.abs(ratio).max(initial=0))
    if largest and int(base.max(initial=0)) > (np.iinfo(np.int64).max - BP) // largest:
        # a cost the loader accepts (< 10^15 yuan) whose product would wrap round int64: the
        # same arithmetic in Python's integers (exact; a result beyond int64 raises, never wraps)
        exact = (base.astype(object) * ratio.astype(object) + BP // 2) // BP
        return np.array([int(v) for v in exact], dtype=np.int64)
    return (base * ratio + BP // 2) // BP


def _codes(values: pd.Series, names: list[str]) -> np.ndarray:
    """Position of each value in ``names``; len(names) (the sink) where unknown."""
    index = pd.Index(names).get_indexer(values.astype("string").fillna(""))
    return np.where(index < 0, len(names), index)


def rules_of(units: pd.DataFrame, policy: Policy) -> AuditRules:
    """The scan's :class:`~settlement.scan.claims_audit.AuditRules`: per unit position (+ a
    sink for unknown units, −1) everything a row needs of its unit, so each row attribute is
    one take — base ratio, cut scope, deductible, rank, community —, and the policy's scalars."""
    community = units["community_id"].astype("string")
    member = is_member(units).to_numpy(bool)
    scope = _codes(units["scope"], policy.scopes)
    level = _codes(units["level"], policy.levels)
    sink = lambda a, v: np.append(np.asarray(a), v)  # noqa: E731
    at = {"base_bp": sink(policy.ratio_bp[scope, level], -1),
          "cut_scope": sink(policy.cut_scope[scope], False),
          "deductible": sink(policy.deductible_fen[level], 0),
          "rank": sink(policy.rank[level], 0),
          "community": sink(np.where(member, pd.factorize(community)[0], -1), -1),
          "member": sink(member, False)}
    return AuditRules(units["unit_id"], at, policy.cut_bp, policy.exemptions,
                      policy.outpatient_deductible_fen)


def _rule_masks(applied_bp, applied_ded, t: dict[str, np.ndarray], cut_bp: int) -> dict:
    """rule code → rows breaking it (ratio rules are exclusive, deductible rules too)."""
    ratio_wrong = applied_bp != t["expected_bp"]
    missing_cut = ratio_wrong & t["cut"] & (applied_bp == t["base_bp"])
    wrong_cut = ratio_wrong & ~t["cut"] & t["cut_scope"] & (applied_bp == t["base_bp"] - cut_bp)
    ded_wrong = applied_ded != t["deductible"]
    return {
        "ratio_table": ratio_wrong & ~missing_cut & ~wrong_cut,
        "unreferred_cut_missing": missing_cut,
        "cut_wrongly_applied": wrong_cut,
        "deductible_table": ded_wrong & ~t["up"] & ~t["down"],
        "referral_up_deductible": ded_wrong & t["up"],
        "referral_down_deductible": ded_wrong & t["down"],
    }


def audit_kind(frame: pd.DataFrame, kind: str, rules: AuditRules) -> pd.DataFrame:
    """The listing of one table's rows (inpatient or outpatient; the scan's rows to audit, or
    any frame: rows that agree with the rules are left out).

    Two comparisons run over every row (applied vs expected ratio and deductible); the rules
    are told apart and the payments computed for the rows that differ."""
    policy_fen, _ = money(frame, "policy_cost")
    applied_ded, _ = money(frame, "deductible")
    fund_fen, _ = money(frame, "fund_paid")
    applied_bp, has_ratio = applied_ratio_bp(frame)
    t = expected_terms(frame, kind, rules)
    audited = audited_rows(frame, has_ratio, t)
    rows = np.flatnonzero(((applied_bp != t["expected_bp"]) | (applied_ded != t["deductible"]))
                          & audited)
    sub = {name: t[name][rows] for name in t if name != "known"}
    sub.update(policy=policy_fen[rows], applied_ded=applied_ded[rows], applied_bp=applied_bp[rows],
               fund=fund_fen[rows])
    masks = _rule_masks(sub["applied_bp"], sub["applied_ded"], sub, rules.cut_bp)
    both = (masks["ratio_table"] | masks["unreferred_cut_missing"] | masks["cut_wrongly_applied"]) & (
        sub["applied_ded"] != sub["deductible"])
    expected = pay(sub["policy"], sub["deductible"], sub["expected_bp"])
    # with two rules broken: the deductible part at the expected ratio, the ratio part the rest
    ded_part = pay(sub["policy"], sub["applied_ded"], sub["expected_bp"]) - expected
    total = sub["fund"] - expected
    parts = []
    for order, (rule, mask) in enumerate(masks.items()):
        at = np.flatnonzero(mask)
        if not len(at):
            continue
        diff = np.where(both[at], (total - ded_part)[at] if order < 3 else ded_part[at], total[at])
        parts.append(pd.DataFrame({
            "_row": rows[at], "_order": order, "applied_bp": sub["applied_bp"][at],
            "expected_bp": sub["expected_bp"][at], "applied_deductible": sub["applied_ded"][at],
            "expected_deductible": sub["deductible"][at], "policy_cost": sub["policy"][at],
            "fund_paid": sub["fund"][at], "expected_fund_paid": expected[at], "difference": diff}))
    return _listing(frame, kind, parts, rules.unit_ids, t["pos"])


def _listing(frame: pd.DataFrame, kind: str, parts: list[pd.DataFrame], unit_ids: pd.Series,
             pos: np.ndarray) -> pd.DataFrame:
    if not parts:
        return empty_audit()
    flagged = pd.concat(parts, ignore_index=True).sort_values(["_row", "_order"], kind="stable")
    rows, order = flagged["_row"].to_numpy(), flagged["_order"].to_numpy()
    out = pd.DataFrame({
        "claim_id": _strings(frame[KINDS[kind][1]], rows),
        "claim_kind": _strings(pd.Series([kind], dtype="string"), np.zeros(len(rows), np.int64)),
        "unit_id": _strings(unit_ids.astype("string"), pos[rows]),
        "community_id": _strings(frame["community_id"], rows),
        "rule": _strings(pd.Series(list(RULES), dtype="string"), order),
        "rule_zh": _strings(pd.Series(list(RULES.values()), dtype="string"), order),
        "applied_ratio": flagged["applied_bp"].to_numpy() / BP,
        "expected_ratio": flagged["expected_bp"].to_numpy() / BP,
    })
    for col in MONEY_COLUMNS:
        out[col] = flagged[col].to_numpy(dtype="int64")
    return _typed(out)


def _strings(values: pd.Series, index: np.ndarray) -> pd.Series:
    """values[index] as Arrow-backed strings, without a round trip through Python objects."""
    array = values.array
    if isinstance(array, pd.arrays.ArrowStringArray):
        return pd.Series(pd.arrays.ArrowStringArray(array._pa_array.take(pa.array(index))))
    return values.iloc[index].astype("string").reset_index(drop=True)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    strings = ["claim_id", "claim_kind", "unit_id", "community_id", "rule", "rule_zh"]
    return frame[AUDIT_COLUMNS].astype({c: "string" for c in strings}).reset_index(drop=True)


def empty_audit() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="int64") for c in AUDIT_COLUMNS})
    frame[["applied_ratio", "expected_ratio"]] = frame[["applied_ratio", "expected_ratio"]].astype(
        "float64")
    return _typed(frame)


def audit_claims(inpatient_cases, outpatient_claims, units: pd.DataFrame,
                 params: ReimbursementParams, *, engine: Engine | str | None = None) -> AuditResult:
    """The audit of both claim tables (nothing audited when no ratio table is configured).

    The tables (frames, Parquet paths or the loader's SpilledTable) are reduced by the scan engine to the rows to audit
    (:meth:`~settlement.scan.Engine.claims_to_audit`: the claims' ids and text stay in the
    engine) and those rows are audited by the numpy rules above: the rules are per claim, so
    the listing is the same as one pass over the whole table."""
    from settlement.stages.audit_table import audit_totals, check_table, distinct_count

    if params.ratios is None:  # not configured: nothing audited (``audited`` stays empty)
        return AuditResult(empty_audit(), audit_totals(empty_audit()), {}, [])
    engine = resolve(engine)
    rules = rules_of(units, Policy.of(params))
    listings, audited = [], {}
    for kind, table in (("inpatient", inpatient_cases), ("outpatient", outpatient_claims)):
        if not isinstance(table, pd.DataFrame):  # a path, or the loader's SpilledTable (its file)
            table = Path(getattr(table, "path", table))
        rows, audited[kind] = engine.claims_to_audit(table, kind, _audit_columns(table, kind, rules),
                                                     rules)
        listing = audit_kind(rows, kind, rules)
        if len(listing):
            listings.append(listing)
    claims = pd.concat(listings, ignore_index=True) if listings else empty_audit()
    problems = check_table(params).problems
    if len(claims):
        problems.append(Problem(
            "audit.flagged", "warning", "inpatient_cases/outpatient_claims",
            f"差别化报销审核：{distinct_count(claims['claim_id']):,} 条结算记录不符合报销政策，"
            f"多支付 {_yuan(claims['difference'].clip(lower=0).sum())}，"
            f"少支付 {_yuan(-claims['difference'].clip(upper=0).sum())}（见 claims_audit）",
            f"{distinct_count(claims['claim_id'])} claims break a reimbursement rule"))
    return AuditResult(claims, audit_totals(claims), audited, problems)


def _audit_columns(table, kind: str, rules: AuditRules) -> list[str]:
    """The columns the audit reads of a table (the ones it has; optional ones default)."""
    wanted = [KINDS[kind][1], "unit_id", "community_id", "fund_paid", "policy_cost", "deductible",
              "reimbursement_ratio", "referral", *(["referral_from_unit_id"] if kind == "inpatient"
                                                   else []), *rules.exemptions]
    present = columns_of(table)
    return list(dict.fromkeys(c for c in wanted if c in present or c in DEFAULTS))


def _yuan(fen) -> str:
    from settlement.money import yuan_display

    return yuan_display(int(fen))


def expenditure_lines(claims: pd.DataFrame, params: ReimbursementParams) -> pd.DataFrame | None:
    """With ``audit_effect: adjust_expenditure``: −Σ difference per insured community as an
    ``other_lines`` row (审核追回/补付); otherwise None (report only)."""
    if params.audit_effect != "adjust_expenditure" or claims.empty:
        return None
    sums = claims.groupby(claims["community_id"].astype(str))["difference"].sum()
    return pd.DataFrame({"community_id": pd.array(sums.index, dtype="string"),
                         "line": "claims_audit", "label_zh": "差别化报销审核追回（−）或补付（+）",
                         "amount": (-sums).astype("int64").to_numpy()})
