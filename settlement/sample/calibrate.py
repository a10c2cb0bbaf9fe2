"""Calibration (测算校准): make one community end in surplus and the other in overrun.

The package must pay all fund spend of a community's insured. The sample targets

    Σ fund_paid (inpatient + outpatient) of GT01's insured ≈ 96 % of its package  (结余)
    Σ fund_paid (inpatient + outpatient) of GT02's insured ≈ 103 % of its package (超支)

Outpatient fund is fixed when claims are drawn; the inpatient fund share is then scaled
per community: each case's share is ``clip(k × base_share, 0.05, 0.95)`` and k is found
by bisection so that the inpatient fund hits ``target − outpatient``. Example: target
100.0 万元, outpatient 20.0 万, inpatient cost 130.0 万 with base shares around 0.7 →
k ≈ 0.88, shares ≈ 0.615, inpatient fund 80.0 万. ``fund_paid = floor(share × cost)``
so ``self_pay = total_cost − fund_paid`` is never negative.
"""

from __future__ import annotations

import numpy as np

from .cases import Cases
from .claims import Claims, fund_by_community
from .county import County

SHARE_BOUNDS = (0.05, 0.95)


def calibrate_fund(county: County, cases: Cases, claims: Claims) -> None:
    """Set ``cases.fund_fen`` so each community's fund spend meets its target."""
    communities = len(county.community_ids)
    needed = county.target_spend_fen() - fund_by_community(claims, communities)
    fund = np.zeros(len(cases.total_fen), np.int64)
    for c in range(communities):
        mine = cases.community == c
        total = cases.total_fen[mine].astype(np.float64)
        base = cases.base_share[mine]
        k = _solve_scale(total, base, float(needed[c]))
        share = np.clip(k * base, *SHARE_BOUNDS)
        fund[mine] = np.floor(share * total).astype(np.int64)
    cases.fund_fen = fund


def _solve_scale(total: np.ndarray, base: np.ndarray, target: float) -> float:
    """k with Σ clip(k × base) × total = target (bisection; best effort at the bounds)."""
    lo, hi = 0.0, SHARE_BOUNDS[1] / max(float(base.min(initial=1.0)), 1e-6)  # all at the cap
    for _ in range(45):
        mid = (lo + hi) / 2
        if float(np.dot(np.clip(mid * base, *SHARE_BOUNDS), total)) < target:
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
