"""Calibration (测算校准): make one community end in surplus and the other in overrun.

The package must pay all fund spend of a community's insured. The sample targets

    Σ fund_paid (inpatient + outpatient) + family-doctor fees of GT01 ≈ 96 % of its package  (结余)
    Σ fund_paid (inpatient + outpatient) + family-doctor fees of GT02 ≈ 103 % of its package (超支)

Outpatient fund is fixed when claims are drawn; the inpatient *policy-cost share* (政策范围内
费用占比) is then scaled per community: each case's policy cost is
``floor(clip(k × base_share ÷ ratio, 0.3, 1.0) × total_cost)`` and its fund
``round((policy_cost − deductible)⁺ × ratio)`` with the applied ratio and deductible of
:mod:`reimbursement`; k is found by bisection so that the inpatient fund hits
``target − outpatient``. Example: a case of 10,000.00 元 at a secondary county hospital
(ratio 85 %, deductible 300 元) with base share 0.70 and k = 1.05: policy share
0.70 × 1.05 ÷ 0.85 = 0.8647, policy cost 8,647.05 元, fund (8,647.05 − 300) × 0.85 =
7,094.99 元. ``self_pay = total_cost − fund_paid`` is never negative.
"""

from __future__ import annotations

import numpy as np

from .cases import Cases
from .claims import Claims, fund_by_community
from .county import County
from .reimbursement import pay

SHARE_BOUNDS = (0.3, 1.0)  # policy cost ÷ total cost


def calibrate_fund(county: County, cases: Cases, claims: Claims,
                   other_fen: np.ndarray | None = None) -> None:
    """Set ``cases.policy_fen`` and ``cases.fund_fen`` so each community meets its target;
    ``other_fen``: other package spend per community (family-doctor fees) also counted."""
    communities = len(county.community_ids)
    needed = county.target_spend_fen() - fund_by_community(claims, communities)
    if other_fen is not None:
        needed = needed - other_fen
    terms = cases.terms
    base = cases.base_share * 10_000 / terms.expected_bp
    policy = np.zeros(len(cases.total_fen), np.int64)
    for c in range(communities):
        mine = cases.community == c
        args = (cases.total_fen[mine], base[mine], terms.applied_deductible[mine],
                terms.applied_bp[mine])
        policy[mine] = _policy(*args, _solve_scale(*args, float(needed[c])))
    cases.policy_fen = policy
    cases.fund_fen = pay(policy, terms.applied_deductible, terms.applied_bp)


def _policy(total: np.ndarray, base: np.ndarray, deductible: np.ndarray, ratio_bp: np.ndarray,
            k: float) -> np.ndarray:
    return np.floor(np.clip(k * base, *SHARE_BOUNDS) * total).astype(np.int64)


def _solve_scale(total: np.ndarray, base: np.ndarray, deductible: np.ndarray,
                 ratio_bp: np.ndarray, target: float) -> float:
    """k with Σ fund(k) = target (bisection; best effort at the bounds)."""
    lo, hi = 0.0, SHARE_BOUNDS[1] / max(float(base.min(initial=1.0)), 1e-6)  # all at the cap
    for _ in range(45):
        mid = (lo + hi) / 2
        fund = pay(_policy(total, base, deductible, ratio_bp, mid), deductible, ratio_bp)
        if float(fund.sum()) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def spend_ratio(county: County, cases: Cases, claims: Claims) -> np.ndarray:
    """Fund spend ÷ package (official where given) per community, for checks and reports."""
    communities = len(county.community_ids)
    spend = fund_by_community(claims, communities) + np.array(
        [int(cases.fund_fen[cases.community == c].sum()) for c in range(communities)])
    package = np.array([o if o is not None else p
                        for p, o in zip(county.package_fen, county.official_fen)], dtype=float)
    return spend / package
