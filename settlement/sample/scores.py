"""Assessment scores (绩效考核得分) and public-health work points (基本公卫工分).

Performance: one score per member unit (hospitals, township centres, village clinics) and
one per community, N(85, 7) clipped to 60–100 with one decimal; three units are forced
below 70 so the low coefficient tiers are exercised. GT01 (the surplus community) scores
about 88, GT02 about 81.

Work points per quarter follow the population served, so village clinics carry ≈ 40 % of
the tasks::

    village clinic   0.9 × its service population × U(0.8, 1.2) × U(0.85, 1.15) per quarter
    township centre  1.1 × its service population (its villages included)
    lead hospital    0.15 × community residents;  中医院 / 妇幼保健院  0.05 × residents

Quality scores: a unit level N(85, 6) plus a quarterly N(0, 2), clipped to 60–100.

The "两病一体化" contract fees (pool ``two_diseases``) are earned by township centres and
village clinics only: ≈ 8 % of their basic points per quarter, with their own quality score.
"""

from __future__ import annotations

import numpy as np

from .common import YEAR, Table, stream
from .county import County

COMMUNITY_SCORE_MEAN = (88.0, 81.0)
FORCED_LOW_SCORES = 3
QUARTERS = tuple(f"{YEAR}Q{q}" for q in range(1, 5))
POINTS_PER_PERSON = {"village_clinic": 0.9, "township_center": 1.1}
HOSPITAL_POINTS_PER_RESIDENT = {"lead_hospital": 0.15, "county_hospital": 0.05}


def _score(values: np.ndarray) -> np.ndarray:
    return np.clip(np.round(values, 1), 60.0, 100.0)


def member_rows(county: County) -> np.ndarray:
    return np.array([i for i, c in enumerate(county.community) if c is not None], np.int64)


def performance_scores_table(seed: int, county: County) -> Table:
    rng = stream(seed, "performance")
    members = member_rows(county)
    unit_scores = _score(rng.normal(85.0, 7.0, len(members)))
    low = rng.choice(len(members), size=FORCED_LOW_SCORES, replace=False)
    unit_scores[low] = np.round(rng.uniform(60.0, 69.9, FORCED_LOW_SCORES), 1)
    n_comm = len(county.community_ids)
    community_scores = _score(rng.normal(np.resize(COMMUNITY_SCORE_MEAN, n_comm), 3.0))
    return (Table("performance_scores")
            .add("entity_type", "id", ["unit"] * len(members) + ["community"] * n_comm)
            .add("entity_id", "id", [county.unit_id[i] for i in members] + county.community_ids)
            .add("score", "float", np.concatenate([unit_scores, community_scores])))


def workpoint_rows(county: County) -> np.ndarray:
    """Units that earn public-health work points: primary care and public county hospitals."""
    keep = set(POINTS_PER_PERSON) | set(HOSPITAL_POINTS_PER_RESIDENT)
    return np.array([i for i, c in enumerate(county.category) if c in keep], np.int64)


def workpoints(seed: int, county: County) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit rows, work points (units × 4), quality scores (units × 4))."""
    rng = stream(seed, "workpoints")
    rows = workpoint_rows(county)
    cid = {c: k for k, c in enumerate(county.community_ids)}
    base = np.empty(len(rows))
    for j, row in enumerate(rows):
        category = county.category[row]
        if category in POINTS_PER_PERSON:
            base[j] = POINTS_PER_PERSON[category] * county.service_population[row]
        else:
            residents = county.residents[cid[county.community[row]]]
            base[j] = HOSPITAL_POINTS_PER_RESIDENT[category] * residents
    unit_factor = rng.uniform(0.8, 1.2, len(rows))
    points = np.round(base[:, None] / 4 * unit_factor[:, None]
                      * rng.uniform(0.85, 1.15, (len(rows), 4)), 1)
    quality = _score(rng.normal(85.0, 6.0, len(rows))[:, None]
                     + rng.normal(0.0, 2.0, (len(rows), 4)))
    return rows, points, quality


TWO_DISEASES_SHARE = 0.08


def two_diseases_workpoints(seed: int, county: County, rows: np.ndarray,
                            points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Work points of the 两病一体化 pool: primary-care units, ≈ 8 % of their basic points."""
    rng = stream(seed, "workpoints-two-diseases")
    primary = np.array([county.category[r] in POINTS_PER_PERSON for r in rows])
    two_rows = rows[primary]
    two_points = np.round(points[primary] * TWO_DISEASES_SHARE
                          * rng.uniform(0.7, 1.3, (len(two_rows), 4)), 1)
    quality = _score(rng.normal(84.0, 7.0, len(two_rows))[:, None]
                     + rng.normal(0.0, 2.0, (len(two_rows), 4)))
    return two_rows, two_points, quality


def public_health_workpoints_table(county: County, rows: np.ndarray, points: np.ndarray,
                                   quality: np.ndarray, seed: int) -> Table:
    two_rows, two_points, two_quality = two_diseases_workpoints(seed, county, rows, points)
    all_rows = np.concatenate([rows, two_rows])
    pools = ["basic"] * (len(rows) * len(QUARTERS)) + ["two_diseases"] * (len(two_rows) * len(QUARTERS))
    return (Table("public_health_workpoints")
            .add("unit_id", "id", [county.unit_id[r] for r in all_rows for _ in QUARTERS])
            .add("period", "id", list(QUARTERS) * len(all_rows))
            .add("work_points", "float", np.concatenate([points, two_points]).reshape(-1))
            .add("quality_score", "float", np.concatenate([quality, two_quality]).reshape(-1))
            .add("pool", "id", pools))
