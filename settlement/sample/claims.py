"""Outpatient claims (门诊结算明细): general, chronic-special and two-diseases visits.

At scale 1 about 1.5 million claims: general 85 % (普通门诊), chronic_special 10 % (门诊慢特病)
and two_diseases 5 % (两病门诊, hypertension/diabetes). Chronic and two-diseases claims belong
to enrollees; 90 % of them fall inside the enrolment period, the rest anywhere in the year
(so some are outside it). Venues (see :mod:`venues`), by claim type::

                 village township own  other city province national
    general        30 %    30 %    30 %  3 %   4 %   1.5 %    1.5 %
    chronic        15 %    40 %    37 %  2 %   4 %   1 %      1 %
    two_diseases   45 %    45 %    10 %

which puts about 60 % of visits at primary care (基层门急诊占比). Costs are lognormal
(general median 25 元 at a village clinic up to 300 元 out of province, σ 0.8); the fund
pays a share by venue (70 % at a village clinic … 30 % out of province), never above cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .chronic import Enrollees
from .common import (PERSONS_PER_COMMUNITY, YEAR_START, Table, ids, person_ids, random_days,
                     split_counts, stream, take, to_fen)
from .county import County
from .reimbursement import Terms, build_terms, pay
from .venues import draw_persons, pick_units

CLAIMS_AT_SCALE_1 = 1_500_000
CLAIM_TYPES = ("general", "chronic_special", "two_diseases")
TYPE_SHARE = (0.85, 0.10, 0.05)
UTILISATION = (1.00, 1.05)  # visits per insured, relative, by community
GENERAL_ENROLLED_SHARE = 0.12
IN_PERIOD_SHARE = 0.90
VENUE_P = np.array([
    [0.30, 0.30, 0.30, 0.03, 0.04, 0.015, 0.015],
    [0.15, 0.40, 0.37, 0.02, 0.04, 0.01, 0.01],
    [0.45, 0.45, 0.10, 0.0, 0.0, 0.0, 0.0],
])
MEDIAN_COST = np.array([  # 元, by claim type × venue class
    [25, 45, 100, 100, 180, 250, 300],
    [150, 200, 260, 260, 400, 450, 500],
    [80, 100, 130, 130, 130, 130, 130],
], dtype=np.float64)
COST_SIGMA = (0.8, 0.6, 0.5)
FUND_SHARE = np.array([
    [0.70, 0.65, 0.50, 0.50, 0.40, 0.35, 0.30],
    [0.70, 0.70, 0.62, 0.62, 0.50, 0.45, 0.40],
    [0.75, 0.75, 0.65, 0.65, 0.65, 0.65, 0.65],
])


@dataclass
class Claims:
    community: np.ndarray
    code: np.ndarray  # person code
    unit_row: np.ndarray
    date: np.ndarray
    claim_type: np.ndarray  # index into CLAIM_TYPES
    total_fen: np.ndarray
    fund_fen: np.ndarray
    venue: np.ndarray | None = None
    policy_fen: np.ndarray | None = None
    terms: Terms | None = None


def build_claims(seed: int, county: County, enrollees: Enrollees, scale: float) -> Claims:
    rng = stream(seed, "claims")
    n = round(CLAIMS_AT_SCALE_1 * scale)
    per_type = split_counts(n, np.array(TYPE_SHARE))
    weights = county.insured * np.resize(np.array(UTILISATION), len(county.insured))  # repeats past 2
    community_g = np.repeat(np.arange(len(weights)), split_counts(int(per_type[0]), weights))
    enrollee_person = [enrollees.person[enrollees.community == c]
                       for c in range(len(county.community_ids))]
    person_g = draw_persons(rng, county, community_g, GENERAL_ENROLLED_SHARE, enrollee_person)
    date_g = random_days(rng, len(person_g))
    chronic = _enrollee_claims(rng, enrollees, int(per_type[1]), np.ones(len(enrollees.code), bool))
    two_ok = (enrollees.disease_mask & 0b11) > 0  # HT or DM
    two = _enrollee_claims(rng, enrollees, int(per_type[2]), two_ok)
    community = np.concatenate([community_g, chronic[0], two[0]])
    person = np.concatenate([person_g, chronic[1], two[1]])
    date = np.concatenate([date_g, chronic[2], two[2]])
    claim_type = np.repeat(np.arange(3), per_type)
    venue = np.empty(n, np.int64)
    for t in range(3):
        mine = claim_type == t
        venue[mine] = rng.choice(7, size=int(mine.sum()), p=VENUE_P[t])
    unit_row = pick_units(rng, county, community, person, venue, county.inpatient_weight)
    cost = MEDIAN_COST[claim_type, venue] * np.exp(
        rng.standard_normal(n) * np.array(COST_SIGMA)[claim_type])
    total = np.maximum(to_fen(cost), 100)
    share = np.clip(FUND_SHARE[claim_type, venue] * rng.uniform(0.92, 1.05, n), 0.0, 0.95)
    fund = np.floor(total * share).astype(np.int64)
    code = (community + 1) * PERSONS_PER_COMMUNITY + person
    day = (date - YEAR_START).astype(np.int64)
    order = np.argsort(((day * 4 + claim_type) << 32) | code, kind="stable")  # date, type, person
    claims = Claims(community=community[order], code=code[order], unit_row=unit_row[order],
                    date=date[order], claim_type=claim_type[order], total_fen=total[order],
                    fund_fen=fund[order], venue=venue[order])
    _apply_terms(seed, county, claims)
    return claims


def _apply_terms(seed: int, county: County, claims: Claims) -> None:
    """Policy cost from the drawn fund share and the expected ratio; fund from the applied
    terms (:mod:`reimbursement`): policy_cost = min(total, ⌈fund × 10,000 ÷ ratio_bp⌉)."""
    person = claims.code - (claims.community + 1) * PERSONS_PER_COMMUNITY
    terms = build_terms(seed, county, claims.community, person, claims.venue, claims.unit_row,
                        np.zeros(len(person), bool), inpatient=False)
    policy = np.minimum(claims.total_fen, -(-claims.fund_fen * 10_000 // terms.expected_bp))
    claims.policy_fen, claims.terms = policy, terms
    claims.fund_fen = pay(policy, terms.applied_deductible, terms.applied_bp)


def _enrollee_claims(rng: np.random.Generator, enrollees: Enrollees, n: int,
                     eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n claims of eligible enrollees: (community, person, date), mostly inside enrolment."""
    pool = np.flatnonzero(eligible)
    if len(pool) == 0:
        pool = np.arange(len(enrollees.code))
    if len(pool) == 0 or n == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, random_days(rng, 0)
    who = pool[rng.integers(0, len(pool), size=n)]
    lo, hi = enrollees.in_year_bounds()
    lo, hi = lo[who], hi[who]
    span = (hi - lo).astype(np.int64)
    inside = lo + np.floor(rng.random(n) * (span + 1)).astype(np.int64).astype("timedelta64[D]")
    anywhere = random_days(rng, n)
    date = np.where(rng.random(n) < IN_PERIOD_SHARE, inside, anywhere)
    return enrollees.community[who], enrollees.person[who], date


def fund_by_community(claims: Claims, communities: int) -> np.ndarray:
    """Σ fund_paid (fen) of each community's insured."""
    return np.array([int(claims.fund_fen[claims.community == c].sum())
                     for c in range(communities)], dtype=np.int64)


def outpatient_claims_table(county: County, claims: Claims) -> Table:
    return (Table("outpatient_claims")
            .add("claim_id", "id", ids("MZ", np.arange(1, len(claims.code) + 1), 9))
            .add("person_id", "id", person_ids(claims.code))
            .add("community_id", "id", take(county.community_ids, claims.community))
            .add("unit_id", "id", take(county.unit_id, claims.unit_row))
            .add("service_date", "date", claims.date)
            .add("claim_type", "id", take(list(CLAIM_TYPES), claims.claim_type))
            .add("total_cost", "money", claims.total_fen)
            .add("fund_paid", "money", claims.fund_fen)
            .add("policy_cost", "money", claims.policy_fen)
            .add("deductible", "money", claims.terms.applied_deductible)
            .add("reimbursement_ratio", "float", claims.terms.applied_bp / 10_000)
            .add("referral", "bool", claims.terms.referral)
            .add("referral_from_unit_id", "id", take(county.unit_id,
                                                     np.maximum(claims.terms.referral_from, 0),
                                                     null=claims.terms.referral_from < 0))
            .add("emergency", "bool", claims.terms.emergency)
            .add("registered_residence_elsewhere", "bool", claims.terms.residence))
