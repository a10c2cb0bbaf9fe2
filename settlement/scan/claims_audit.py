"""The claims audit's scan (差别化报销审核): the claims that break a reimbursement rule.

The audit (:mod:`settlement.stages.audit`) compares each claim's applied ratio and deductible
with the ones the rules give. Over 15 M claims almost all agree, so the scan reduces a claim
table to the rows that differ and counts the rows it audited; the stage then tells the rules
apart and prices the differences on those few rows. Per row (:func:`expected_terms`)::

    expected ratio (bp)  = base ratio of the unit's scope × level − cut_bp
                           (the cut only in a cut scope, unless referred or exempt)
    expected deductible  = inpatient: the level's, referred up inside the community
                           max(0, own − referring unit's), referred down 0;
                           outpatient: the per-visit deductible
    audited              = policy_cost, deductible, fund_paid and a finite ratio given, the
                           unit (and its scope × level) in the table
    to audit             = audited and (applied ratio ≠ expected or applied deductible ≠ expected)

with the applied ratio in basis points ``floor(ratio × 10,000 + 0.5)`` (float64, clipped to
int32; NaN and ±inf are no ratio: the claim is not audited, so a non-finite number never
reaches an amount — the amounts use the expected ratio and the fund paid, never the applied
ratio). Example: a claim at a unit whose table ratio is 85 %, applied 0.90 → 9,000 bp ≠
8,500 bp: listed; applied 0.8499999999 → 8,500 bp: correct.

:meth:`settlement.scan.Engine.claims_to_audit` is the reduction: this module's numpy
(:func:`to_audit`) batch by batch for the reference engines, one SQL query in DuckDB
(:func:`audit_sql`, the same arithmetic in the same order), so only the flagged rows leave
the engine.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from settlement.dip.codes import lookup

BP = 10_000  # basis points per 1.0
BP_MIN, BP_MAX = -(2 ** 31), 2 ** 31 - 1  # an applied ratio's bp is clipped to int32
#: the per-unit terms of :class:`AuditRules` (``at``), each indexed by unit position + a sink
UNIT_TERMS = ["base_bp", "cut_scope", "deductible", "rank", "community", "member"]


class AuditRules(NamedTuple):
    """What a row's expected ratio and deductible need, built by the stage from the
    parameters: per unit position (the last entry a sink for unknown units) its base ratio
    (bp, −1 = no ratio), cut scope, deductible (fen), level rank, community code (−1 none) and
    membership; the cut (bp), the exemption flags and the outpatient deductible (fen)."""

    unit_ids: pd.Series
    at: dict[str, np.ndarray]
    cut_bp: int
    exemptions: tuple[str, ...]
    outpatient_deductible: int

    def unit_frame(self) -> pd.DataFrame:
        """The units as a small table (unit_id + :data:`UNIT_TERMS`), the first row of an id
        kept as :func:`positions` finds it."""
        frame = pd.DataFrame({"unit_id": self.unit_ids.astype("string").reset_index(drop=True),
                              **{t: self.at[t][:-1] for t in UNIT_TERMS}})
        return frame.drop_duplicates("unit_id").reset_index(drop=True)


def positions(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """Position of each id in ``keys`` (the first row of a duplicated id), −1 where missing or
    unknown: one Arrow hash lookup (``index_in``, ~6× faster than factorising 15 M ids; it
    finds the first occurrence), :func:`dip_codes.lookup` on the first rows otherwise."""
    array = values.array
    keys = keys.astype("string").reset_index(drop=True)  # a missing id matches nothing
    if isinstance(array, pd.arrays.ArrowStringArray):
        value_set = pa.array(keys.to_numpy(object, na_value=None), pa.string())
        found = pc.index_in(array._pa_array, value_set=value_set, skip_nulls=True)
        return pc.fill_null(found, -1).to_numpy()  # int32
    first = np.flatnonzero(~keys.duplicated().to_numpy())
    found = lookup(values.astype("string"), keys.iloc[first])
    return np.where(found >= 0, first[found], -1)


def flag(frame: pd.DataFrame, name: str, default: bool = False) -> np.ndarray:
    """An optional boolean column as a numpy mask (missing column or value: ``default``)."""
    if name not in frame.columns:
        return np.full(len(frame), default)
    return frame[name].to_numpy(dtype=bool, na_value=default)


def money(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(values fen, given mask) of an optional nullable money column."""
    if name not in frame.columns:
        return np.zeros(len(frame), np.int64), np.zeros(len(frame), bool)
    column = frame[name]
    return column.to_numpy(dtype="int64", na_value=0), column.notna().to_numpy()


def applied_ratio_bp(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(applied ratio in bp, given mask): ``floor(ratio × 10,000 + 0.5)`` in float64 — half up,
    for a negative ratio too —, clipped to the int32 range (a ratio of 1e300 is listed at
    214,748.3647, never wrapped round). NaN and ±inf are no ratio: not given, not audited."""
    ratio = (frame["reimbursement_ratio"].to_numpy(dtype="float64", na_value=np.nan)
             if "reimbursement_ratio" in frame.columns else np.full(len(frame), np.nan))
    given = np.isfinite(ratio)
    bp = np.floor(np.where(given, ratio, 0.0) * BP + 0.5)
    return np.clip(bp, BP_MIN, BP_MAX).astype(np.int32), given


def expected_terms(frame: pd.DataFrame, kind: str, rules: AuditRules) -> dict[str, np.ndarray]:
    """Per row: base/expected ratio (bp), expected deductible (fen), cut and referral flags."""
    at = rules.at
    pos = positions(frame["unit_id"], rules.unit_ids)
    base_bp, cut_scope = at["base_bp"][pos], at["cut_scope"][pos]
    referral = flag(frame, "referral")
    exempt = referral.copy()
    for name in rules.exemptions:
        exempt |= flag(frame, name)
    cut = cut_scope & ~exempt
    expected_bp = np.where(cut, base_bp - rules.cut_bp, base_bp)
    up = down = np.broadcast_to(False, len(frame))  # read-only views: no 15 M allocations
    if kind == "inpatient":
        own = at["deductible"][pos]
        src = (np.full(len(frame), -1) if "referral_from_unit_id" not in frame.columns
               else positions(frame["referral_from_unit_id"], rules.unit_ids))
        inside = (referral & (src >= 0) & at["member"][pos]
                  & (at["community"][src] == at["community"][pos]))
        rank, src_rank = at["rank"][pos], at["rank"][src]
        up, down = inside & (rank > src_rank), inside & (rank < src_rank)
        deductible = np.where(up, np.maximum(own - at["deductible"][src], 0),
                              np.where(down, 0, own))
    else:
        deductible = np.broadcast_to(np.int64(rules.outpatient_deductible), len(frame))
    return {"base_bp": base_bp, "expected_bp": expected_bp, "deductible": deductible,
            "cut": cut, "cut_scope": cut_scope, "up": up, "down": down,
            "known": base_bp >= 0, "pos": pos}


def audited_rows(frame: pd.DataFrame, has_ratio: np.ndarray, t: dict[str, np.ndarray]) -> np.ndarray:
    """The rows the audit can judge: policy cost, deductible, fund paid and a finite ratio
    given, the unit's ratio in the table (``t``: :func:`expected_terms`)."""
    return (money(frame, "policy_cost")[1] & money(frame, "deductible")[1]
            & money(frame, "fund_paid")[1] & has_ratio & t["known"])


def to_audit(frame: pd.DataFrame, kind: str, rules: AuditRules) -> tuple[np.ndarray, int]:
    """(positions of the rows to audit, rows audited) of one frame: the numpy reference."""
    applied_ded, _has_ded = money(frame, "deductible")
    applied_bp, has_ratio = applied_ratio_bp(frame)
    t = expected_terms(frame, kind, rules)
    audited = audited_rows(frame, has_ratio, t)
    differs = (applied_bp != t["expected_bp"]) | (applied_ded != t["deductible"])
    return np.flatnonzero(differs & audited), int(audited.sum())


def audit_sql(claims: str, units: str, kind: str, rules: AuditRules,
              columns: list[str]) -> tuple[str, str]:
    """(rows to audit in table order, rows audited): the SQL of :func:`to_audit`.

    ``claims``: a relation with the audit's ``columns`` and ``__row``; ``units``: a view of
    :meth:`AuditRules.unit_frame`; an exemption flag the table lacks counts as false. Integers
    as in numpy (bp and fen); the applied ratio is the same double arithmetic (a FLOAT column
    cast to DOUBLE first), floored and clipped."""
    exempt = " OR ".join(["coalesce(c.referral, false)",
                          *(f'coalesce(c."{e}", false)' for e in rules.exemptions if e in columns)])
    cut = f"(coalesce(u.cut_scope, false) AND NOT ({exempt}))"
    expected_bp = f"(CASE WHEN {cut} THEN u.base_bp - {int(rules.cut_bp)} ELSE u.base_bp END)"
    if kind == "inpatient":
        source = (f"{claims} c LEFT JOIN {units} u ON CAST(c.unit_id AS VARCHAR) = u.unit_id "
                  f"LEFT JOIN {units} s ON CAST(c.referral_from_unit_id AS VARCHAR) = s.unit_id")
        inside = ("(coalesce(c.referral, false) AND s.unit_id IS NOT NULL "
                  "AND coalesce(u.member, false) AND s.community = u.community)")
        deductible = (f"(CASE WHEN {inside} AND u.rank > s.rank "
                      f"THEN greatest(u.deductible - s.deductible, 0) "
                      f"WHEN {inside} AND u.rank < s.rank THEN 0 ELSE u.deductible END)")
    else:
        source = f"{claims} c LEFT JOIN {units} u ON CAST(c.unit_id AS VARCHAR) = u.unit_id"
        deductible = str(int(rules.outpatient_deductible))
    ratio = "CAST(c.reimbursement_ratio AS DOUBLE)"  # a FLOAT column is multiplied in float64 too
    audited = ("(c.policy_cost IS NOT NULL AND c.deductible IS NOT NULL AND c.fund_paid IS NOT NULL "
               f"AND isfinite({ratio}) AND u.base_bp >= 0)")
    applied_bp = (f"CAST(least(greatest(floor({ratio} * CAST({BP} AS DOUBLE) + 0.5), {BP_MIN}), "
                  f"{BP_MAX}) AS BIGINT)")
    rows = (f"SELECT c.* EXCLUDE (__row) FROM {source} WHERE {audited} AND "
            f"({applied_bp} <> {expected_bp} OR c.deductible <> {deductible}) ORDER BY c.__row")
    count = f"SELECT count(*) FROM {source} WHERE {audited}"
    return rows, count
