"""Inpatient cases (住院病例): who, where, which DIP group, what it cost.

At scale 1 about 90,000 discharges for 520,000 insured. Each case draws, in order:

1. its community (by insured × admission rate) and person (7 % drawn from chronic enrollees);
2. childbirth (生育住院, ~5 %, never an enrollee);
3. a venue class (:mod:`venues`): 76 % county hospitals and township centres of the own
   community, 4 % the other community, 9 % city, 6.5 % province, 4.5 % out of province;
   none at village clinics;
4. a DIP group suited to the unit (township centres: 基层病种 and simple conservative
   groups; the 妇幼保健院: women's and children's groups; external tertiary hospitals: the
   complex ones);
5. its cost ratio r = total cost ÷ reference cost of the group at the unit's level:
   log r ~ N(−0.041, 0.419) gives ≈ 6 % below 0.5 and ≈ 4 % above 2; 0.05 % are extreme
   (r between 5 and 12). Example: group score 800 at a secondary hospital, reference
   8,800 元, r = 1.2 → total_cost 10,560.00 元.

1 % of cases are unmatched (dip_group empty); ≈ 0.02 % (at least one) high-cost member
cases carry approved special points (特例单议); 0.3 % carry a violation deduction.
The fund's share of each cost is set later by :mod:`calibrate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .chronic import Enrollees
from .common import (DAYS_IN_YEAR, PERSONS_PER_COMMUNITY, YEAR_START, Table, ids, person_ids,
                     random_days, split_counts, stream, take, to_fen, whole_yuan)
from .county import County
from .dip import DipCatalogue
from .reimbursement import Terms, build_terms
from .venues import OTHER, draw_persons, pick_units

CASES_AT_SCALE_1 = 90_000
ENROLLED_SHARE = 0.07
CHILDBIRTH_SHARE = 0.055  # of non-enrollee cases
VENUE_P = np.array([[0.0, 0.14, 0.62, 0.04, 0.09, 0.065, 0.045],   # other admissions
                    [0.0, 0.08, 0.78, 0.06, 0.06, 0.015, 0.005]])  # childbirth
LOG_RATIO = (-0.041, 0.419)
EXTREME_SHARE = 0.0005
UNMATCHED_SHARE = 0.01
SPECIAL_SHARE = 0.0002
VIOLATION_SHARE = 0.003
#: by venue class (village, township, own, other, city, province, national)
FUND_SHARE = np.array([0.0, 0.82, 0.70, 0.70, 0.60, 0.55, 0.48])
REFERRAL_P = np.array([0.0, 0.01, 0.03, 0.08, 0.15, 0.16, 0.14])
LEVEL_INDEX = {"tertiary": 0, "secondary": 1, "primary": 2, "unrated": 2}


@dataclass
class Cases:
    community: np.ndarray
    code: np.ndarray
    unit_row: np.ndarray
    venue: np.ndarray
    admission: np.ndarray
    discharge: np.ndarray
    group: np.ndarray  # -1 = unmatched
    ratio: np.ndarray
    total_fen: np.ndarray
    base_share: np.ndarray  # fund share before calibration
    referral: np.ndarray
    childbirth: np.ndarray
    special_points: np.ndarray  # NaN = none
    violation_fen: np.ndarray
    fund_fen: np.ndarray | None = None
    policy_fen: np.ndarray | None = None
    terms: Terms | None = None

    @property
    def member(self) -> np.ndarray:
        """Treated by a member unit of a community (county hospital or township centre)."""
        return self.venue <= OTHER


def build_cases(seed: int, county: County, dip: DipCatalogue, enrollees: Enrollees,
                scale: float) -> Cases:
    rng = stream(seed, "cases")
    n = round(CASES_AT_SCALE_1 * scale)
    n_comm = len(county.community_ids)
    community = np.repeat(np.arange(n_comm), split_counts(n, county.insured * county.case_rate))
    enrollee_person = [enrollees.person[enrollees.community == c] for c in range(n_comm)]
    person = draw_persons(rng, county, community, ENROLLED_SHARE, enrollee_person)
    code = (community + 1) * PERSONS_PER_COMMUNITY + person
    childbirth = ~np.isin(code, enrollees.code) & (rng.random(n) < CHILDBIRTH_SHARE)
    venue, unit_row = _treating_units(rng, county, community, person, childbirth)
    group = _draw_groups(rng, county, dip, unit_row, childbirth)
    level = np.array([LEVEL_INDEX[lv] for lv in county.level])[unit_row]
    ratio = np.exp(LOG_RATIO[0] + LOG_RATIO[1] * rng.standard_normal(n))
    extreme = rng.random(n) < EXTREME_SHARE
    ratio[extreme] = rng.uniform(5.0, 12.0, int(extreme.sum()))
    total = np.maximum(to_fen(dip.avg_cost_fen[group, level] * ratio / 100.0), 10_000)
    admission, discharge = _stay_dates(rng, dip.score[group])
    referral = rng.random(n) < REFERRAL_P[venue]
    unmatched = rng.random(n) < UNMATCHED_SHARE
    special = _special_points(rng, dip, group, ratio, venue <= OTHER, unmatched)
    violation = np.where((venue <= OTHER) & (rng.random(n) < VIOLATION_SHARE),
                         np.minimum(whole_yuan(rng.uniform(10_000, 300_000, n)), total // 4), 0)
    order = np.lexsort((code, discharge))
    cases = Cases(community=community[order], code=code[order], unit_row=unit_row[order],
                  venue=venue[order], admission=admission[order], discharge=discharge[order],
                  group=np.where(unmatched, -1, group)[order], ratio=ratio[order],
                  total_fen=total[order],
                  base_share=(FUND_SHARE[venue] * rng.uniform(0.92, 1.06, n))[order],
                  referral=referral[order], childbirth=childbirth[order],
                  special_points=special[order], violation_fen=violation[order])
    person_sorted = cases.code - (cases.community + 1) * PERSONS_PER_COMMUNITY
    cases.terms = build_terms(seed, county, cases.community, person_sorted, cases.venue,
                              cases.unit_row, cases.referral, inpatient=True)
    cases.referral = cases.terms.referral
    return cases


def _maternity(county: County) -> np.ndarray:
    """Per unit row: a maternal and child health hospital (妇幼保健院)."""
    return np.array(["妇幼" in name for name in county.unit_name])


def _treating_units(rng: np.random.Generator, county: County, community: np.ndarray,
                    person: np.ndarray, childbirth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(venue class, unit row) per case; childbirth goes 4× more to the 妇幼保健院."""
    venue = np.empty(len(person), np.int64)
    unit_row = np.empty(len(person), np.int64)
    mch = _maternity(county)
    for birth in (False, True):
        mine = childbirth == birth
        venue[mine] = rng.choice(7, size=int(mine.sum()), p=VENUE_P[int(birth)])
        weight = county.inpatient_weight * np.where(mch & birth, 4.0, 1.0)
        unit_row[mine] = pick_units(rng, county, community[mine], person[mine], venue[mine],
                                    weight)
    return venue, unit_row


def _stay_dates(rng: np.random.Generator, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Admission and discharge dates, both in the year: length of stay grows with the score
    (median 5.5 days at score 600); a seasonal day is squeezed into [stay, 364] days."""
    stay = np.clip(np.round(rng.lognormal(np.log(5.5 * (score / 600.0) ** 0.35), 0.45)),
                   0, 60).astype(np.int64)
    seasonal = (random_days(rng, len(score)) - YEAR_START).astype(np.int64)
    last = DAYS_IN_YEAR - 1
    offset = stay + np.floor(seasonal * (last - stay) / last).astype(np.int64)
    discharge = YEAR_START + offset.astype("timedelta64[D]")
    return discharge - stay.astype("timedelta64[D]"), discharge


def _group_weights(dip: DipCatalogue, kind: str, birth: bool) -> np.ndarray:
    """Relative frequency of each DIP group at one kind of unit."""
    base = dip.frequency * (dip.childbirth if birth else ~dip.childbirth)
    simple = dip.conservative & (dip.score < 700)
    if kind == "township":
        return base * np.where(dip.basic, 1.0, np.where(simple, 0.25, 0.0))
    if kind == "mch":
        return base * np.where(dip.women_children, 6.0, 0.15)
    if kind == "tertiary":
        return base * (dip.score / 500.0) ** 0.6
    if kind == "secondary_external":
        return base * (dip.score / 500.0) ** 0.2
    return base * np.where(dip.score > 4000, 0.3, 1.0)


def _unit_kinds(county: County) -> np.ndarray:
    """Per unit row, which group mix it treats (see :func:`_group_weights`)."""
    category = np.array(county.category)
    tertiary = np.array(county.level) == "tertiary"
    return np.select(
        [category == "township_center", _maternity(county),
         (category == "external") & tertiary, category == "external"],
        ["township", "mch", "tertiary", "secondary_external"], "county")


def _draw_groups(rng: np.random.Generator, county: County, dip: DipCatalogue,
                 unit_row: np.ndarray, childbirth: np.ndarray) -> np.ndarray:
    """DIP group per case, from the group frequencies of the kind of unit treating it."""
    kind = _unit_kinds(county)[unit_row]
    group = np.empty(len(unit_row), np.int64)
    for k in ("township", "mch", "tertiary", "secondary_external", "county"):
        for birth in (False, True):
            mine = (kind == k) & (childbirth == birth)
            if not mine.any():
                continue
            weights = _group_weights(dip, k, birth)
            if weights.sum() == 0:  # e.g. childbirth at a township centre: normal delivery
                weights = _group_weights(dip, "county", birth) * dip.conservative
            group[mine] = rng.choice(len(weights), size=int(mine.sum()), p=weights / weights.sum())
    return group


def _special_points(rng: np.random.Generator, dip: DipCatalogue, group: np.ndarray,
                    ratio: np.ndarray, member: np.ndarray, unmatched: np.ndarray) -> np.ndarray:
    """Approved 特例单议 points on a few high-cost member cases (NaN elsewhere)."""
    special = np.full(len(group), np.nan)
    candidates = np.flatnonzero(member & ~unmatched & (ratio > 3.0))
    k = min(len(candidates), max(1, round(SPECIAL_SHARE * len(group))))
    chosen = np.sort(rng.choice(candidates, size=k, replace=False)) if k else candidates[:0]
    special[chosen] = np.round(dip.score[group[chosen]] * ratio[chosen]
                               * rng.uniform(0.85, 1.0, k), 2)
    return special


def inpatient_cases_table(county: County, dip: DipCatalogue, cases: Cases) -> Table:
    assert cases.fund_fen is not None, "calibrate the fund share first"
    return (Table("inpatient_cases")
            .add("case_id", "id", ids("ZY", np.arange(1, len(cases.code) + 1), 8))
            .add("person_id", "id", person_ids(cases.code))
            .add("community_id", "id", take(county.community_ids, cases.community))
            .add("unit_id", "id", take(county.unit_id, cases.unit_row))
            .add("admission_date", "date", cases.admission)
            .add("discharge_date", "date", cases.discharge)
            .add("dip_group", "id", take(dip.code, np.maximum(cases.group, 0),
                                         null=cases.group < 0))
            .add("total_cost", "money", cases.total_fen)
            .add("self_pay", "money", cases.total_fen - cases.fund_fen)
            .add("fund_paid", "money", cases.fund_fen)
            .add("referral", "bool", cases.referral)
            .add("childbirth", "bool", cases.childbirth)
            .add("special_points", "float", cases.special_points)
            .add("violation_deduction", "money", cases.violation_fen)
            .add("policy_cost", "money", cases.policy_fen)
            .add("deductible", "money", cases.terms.applied_deductible)
            .add("reimbursement_ratio", "float", cases.terms.applied_bp / 10_000)
            .add("referral_from_unit_id", "id", take(county.unit_id,
                                                     np.maximum(cases.terms.referral_from, 0),
                                                     null=cases.terms.referral_from < 0))
            .add("emergency", "bool", cases.terms.emergency)
            .add("registered_residence_elsewhere", "bool", cases.terms.residence))
