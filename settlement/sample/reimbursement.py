"""Reimbursement terms of each case and claim (报销政策执行): ratio, deductible, referral.

The sample county reimburses by the table of ``configs/sample-county.yaml``
(``reimbursement.*``; the constants below mirror it and ``tests/test_audit.py`` checks that
they agree)::

    ratio (报销比例)   primary  secondary  tertiary        deductible (起付线, inpatient)
    county            95 %     85 %       75 %            primary 100 元, secondary 300 元,
    city              85 %     75 %       65 %            tertiary 600 元; outpatient none
    province          80 %     70 %       60 %
    national          75 %     65 %       55 %

Care in the province or out of it without referral loses 10 points (seed 000), except
emergencies and registered residence/work elsewhere. A case referred up inside its
community pays the difference of the two deductibles (600 − 100 = 500 元 from a township
centre to the tertiary lead hospital); referred down it pays none (seeds 001/003).

A few percent of rows break one rule each, deliberately, so the audit has something to
find: the ratio is 5 points too high (2 %), the 10-point cut is missing (6 % of unreferred
out-of-city care) or wrongly applied to an exempt case (6 %), the deductible is 100 元 off
(2 % of cases) or a referred case pays the full deductible (15 %). ``fund_paid`` is what the
applied terms give: round((policy_cost − deductible) × ratio), half up, in fen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import stream
from .county import County
from .venues import CITY, NATIONAL, OWN, PROVINCE, TOWNSHIP, home_villages

SCOPES = ("county", "city", "province", "national")
LEVEL_RANK = {"unrated": 0, "primary": 0, "secondary": 1, "tertiary": 2}
#: ratio in basis points (1/10,000) by scope × rank (primary, secondary, tertiary)
RATIO_BP = np.array([[9500, 8500, 7500], [8500, 7500, 6500], [8000, 7000, 6000],
                     [7500, 6500, 5500]], dtype=np.int64)
DEDUCTIBLE_FEN = {"unrated": 0, "primary": 10_000, "secondary": 30_000, "tertiary": 60_000}
PENALTY_BP = 1000
PENALTY_SCOPES = ("province", "national")
EMERGENCY_SHARE = (0.10, 0.05)  # inpatient, outpatient
RESIDENCE_SHARE = 0.03
DOWN_REFERRAL_SHARE = 0.08  # extra referred-down admissions at township centres
OUTPATIENT_REFERRAL_SHARE = 0.10  # of out-of-county visits
WRONG_RATIO, WRONG_PENALTY, WRONG_EXEMPT = 0.02, 0.06, 0.06
WRONG_DEDUCTIBLE, WRONG_REFERRAL = 0.02, 0.15
WRONG_RATIO_BP, WRONG_DEDUCTIBLE_FEN = 500, 10_000


@dataclass
class Terms:
    """Per row: expected and applied terms; ``referral_from`` is a unit row or −1."""

    referral: np.ndarray
    referral_from: np.ndarray
    emergency: np.ndarray
    residence: np.ndarray
    expected_bp: np.ndarray
    applied_bp: np.ndarray
    applied_deductible: np.ndarray


def pay(policy_fen: np.ndarray, deductible_fen: np.ndarray, ratio_bp: np.ndarray) -> np.ndarray:
    """round((policy − deductible)⁺ × ratio) in fen, half up, integer arithmetic only."""
    base = np.maximum(np.asarray(policy_fen, np.int64) - deductible_fen, 0)
    return (base * ratio_bp + 5_000) // 10_000


def _unit_arrays(county: County) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rank = np.array([LEVEL_RANK[lv] for lv in county.level])
    scope = np.array([SCOPES.index(s) for s in county.scope])
    deductible = np.array([DEDUCTIBLE_FEN[lv] for lv in county.level], dtype=np.int64)
    return rank, scope, deductible


def _lead_rows(county: County, community: np.ndarray) -> np.ndarray:
    leads = np.array([county.rows("lead_hospital", c)[0]
                      for c in range(len(county.community_ids))])
    return leads[community]


def _referrals(rng, county: County, community, person, venue, referral, inpatient: bool):
    """(referral, referral_from row): up from the home township to own county hospitals,
    down from the lead hospital to township centres, out from the lead hospital."""
    if inpatient:
        referral = referral | ((venue == TOWNSHIP) & (rng.random(len(venue)) < DOWN_REFERRAL_SHARE))
    else:
        referral = (venue >= CITY) & (rng.random(len(venue)) < OUTPATIENT_REFERRAL_SHARE)
    township = county.parent_row()[home_villages(county, community, person)]
    source = np.where(venue == OWN, township, _lead_rows(county, community))
    return referral, np.where(referral, source, -1)


def build_terms(seed: int, county: County, community: np.ndarray, person: np.ndarray,
                venue: np.ndarray, unit_row: np.ndarray, referral: np.ndarray,
                inpatient: bool) -> Terms:
    """Draw emergency/residence/referral and the applied ratio and deductible of each row."""
    rng = stream(seed, "reimbursement_inpatient" if inpatient else "reimbursement_outpatient")
    n = len(venue)
    rank, scope, deductible = _unit_arrays(county)
    emergency = rng.random(n) < EMERGENCY_SHARE[0 if inpatient else 1]
    residence = rng.random(n) < RESIDENCE_SHARE
    referral, source = _referrals(rng, county, community, person, venue, referral, inpatient)
    base_bp = RATIO_BP[scope[unit_row], rank[unit_row]]
    out_of_city = np.isin(venue, (PROVINCE, NATIONAL))
    exempt = emergency | residence
    cut = out_of_city & ~referral & ~exempt
    expected_bp = base_bp - np.where(cut, PENALTY_BP, 0)
    applied_bp = expected_bp.copy()
    wrong_ratio = rng.random(n) < WRONG_RATIO
    applied_bp[wrong_ratio] = np.minimum(expected_bp[wrong_ratio] + WRONG_RATIO_BP, 10_000)
    draw = rng.random(n)
    not_cut = cut & ~wrong_ratio & (draw < WRONG_PENALTY)
    applied_bp[not_cut] = base_bp[not_cut]
    wrongly_cut = out_of_city & ~referral & exempt & ~wrong_ratio & (draw < WRONG_EXEMPT)
    applied_bp[wrongly_cut] = base_bp[wrongly_cut] - PENALTY_BP
    applied_deductible = _applied_deductible(rng, county, unit_row, source, deductible, rank,
                                             inpatient)
    return Terms(referral, source, emergency, residence, expected_bp, applied_bp,
                 applied_deductible)


def expected_deductible(county: County, unit_row: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Deductible by level; referred inside the community: up pays the difference, down none."""
    rank, _, deductible = _unit_arrays(county)
    own = deductible[unit_row]
    src = np.maximum(source, 0)
    communities = np.array([c or "" for c in county.community], dtype=object)
    inside = (source >= 0) & (communities[src] == communities[unit_row]) & (communities[unit_row] != "")
    up = inside & (rank[unit_row] > rank[src])
    down = inside & (rank[unit_row] < rank[src])
    return np.where(up, np.maximum(own - deductible[src], 0), np.where(down, 0, own))


def _applied_deductible(rng, county: County, unit_row, source, deductible, rank,
                        inpatient: bool) -> np.ndarray:
    n = len(unit_row)
    if not inpatient:
        return np.zeros(n, np.int64)
    expected = expected_deductible(county, unit_row, source)
    full = deductible[unit_row]
    referred_rule = (source >= 0) & (expected != full)
    draw = rng.random(n)
    applied = expected.copy()
    full_paid = referred_rule & (draw < WRONG_REFERRAL)
    applied[full_paid] = full[full_paid]
    off = ~referred_rule & (draw < WRONG_DEDUCTIBLE)
    applied[off] = expected[off] + WRONG_DEDUCTIBLE_FEN
    return applied
