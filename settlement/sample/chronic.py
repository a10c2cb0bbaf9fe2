"""Chronic-disease enrollees (慢病包干人员): certificate holders and their enrolment periods.

About 4 % of the insured hold a chronic-disease outpatient certificate (门诊慢特病证) for
one to three of six diseases, coded::

    HT 高血压  DM 糖尿病  COPD 慢阻肺  CHD 冠心病  STROKE 脑卒中后遗症  CKD 慢性肾脏病

written ``;``-separated in that order (``HT;DM``). About 3 % also carry an excluded
condition (``CANCER`` 恶性肿瘤, ``LEUKEMIA`` 白血病, ``ESRD`` 尿毒症期).

Enrolment: 72 % enrolled before 2025 (start 2018–2024), 28 % join during 2025. End: 40 %
empty (still enrolled), 30 % 2025-12-31, 15 % a later certificate expiry, 15 % leave during
2025 (at least 30 days after they joined). The managing unit (管理单位) is the person's
village clinic (55 %) or its township centre; 60 % signed a family doctor (家庭医生签约).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import catalog
from .common import (PERSONS_PER_COMMUNITY, YEAR_END, YEAR_START, Table, person_ids, stream,
                     take)
from .county import County

ENROLLED_SHARE = 0.04
DISEASE_COUNT_P = (0.65, 0.27, 0.08)  # one, two, three diseases
EXCLUDED_SHARE = 0.03


@dataclass
class Enrollees:
    community: np.ndarray  # community position
    person: np.ndarray  # person index inside the community
    code: np.ndarray  # global person code
    disease_mask: np.ndarray  # bit i = CHRONIC_DISEASES[i]
    excluded_mask: np.ndarray  # bit i = EXCLUDED_CONDITIONS[i]
    start: np.ndarray  # datetime64[D]
    end: np.ndarray  # datetime64[D]; NaT = still enrolled
    managing_row: np.ndarray  # unit row
    signed: np.ndarray

    def in_year_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """First and last day of each enrolment that fall in the settlement year."""
        end = np.where(np.isnat(self.end), YEAR_END, self.end)
        return np.maximum(self.start, YEAR_START), np.minimum(end, YEAR_END)


def build_enrollees(seed: int, county: County) -> Enrollees:
    rng = stream(seed, "chronic")
    parts = []
    for c, insured in enumerate(county.insured):
        n = round(ENROLLED_SHARE * int(insured))
        person = np.sort(rng.choice(int(insured), size=n, replace=False))
        parts.append((np.full(n, c), person))
    community = np.concatenate([p[0] for p in parts]).astype(np.int64)
    person = np.concatenate([p[1] for p in parts]).astype(np.int64)
    n = len(person)
    disease_weights = np.array([d[2] for d in catalog.CHRONIC_DISEASES])
    counts = rng.choice(np.arange(1, 4), size=n, p=DISEASE_COUNT_P)
    diseases = _weighted_subset_mask(rng, disease_weights, counts)
    excluded = np.zeros(n, np.int64)
    has_excluded = rng.random(n) < EXCLUDED_SHARE
    excluded_weights = np.array([e[2] for e in catalog.EXCLUDED_CONDITIONS])
    excluded_counts = np.where(rng.random(n) < 0.08, 2, 1)
    excluded[has_excluded] = _weighted_subset_mask(rng, excluded_weights,
                                                   excluded_counts[has_excluded])
    start, end = _periods(rng, n)
    village = np.empty(n, np.int64)
    for c in range(len(county.community_ids)):
        mine = community == c
        village[mine] = county.home_village(c, person[mine])
    township = county.parent_row()[village]
    managing = np.where(rng.random(n) < 0.55, village, township)
    return Enrollees(community=community, person=person,
                     code=(community + 1) * PERSONS_PER_COMMUNITY + person,
                     disease_mask=diseases, excluded_mask=excluded, start=start, end=end,
                     managing_row=managing, signed=rng.random(n) < 0.60)


def _weighted_subset_mask(rng: np.random.Generator, weights: np.ndarray,
                          counts: np.ndarray) -> np.ndarray:
    """Per row, a bit mask of ``counts`` distinct items drawn by weight (Gumbel top-k)."""
    keys = np.log(weights)[None, :] + rng.gumbel(size=(len(counts), len(weights)))
    order = np.argsort(-keys, axis=1, kind="stable")
    mask = np.zeros(len(counts), np.int64)
    for j in range(int(counts.max(initial=0))):
        mask |= np.where(j < counts, 1 << order[:, j], 0)
    return mask


def _periods(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Enrolment start and end dates (end NaT = still enrolled)."""
    day = np.timedelta64(1, "D")
    before = rng.random(n) < 0.72
    start = np.where(before, YEAR_START - rng.integers(1, 7 * 365, n) * day,
                     YEAR_START + rng.integers(1, 335, n) * day)
    kind = rng.choice(4, size=n, p=(0.40, 0.30, 0.15, 0.15))
    leave_lo = np.maximum(start, YEAR_START) + 30 * day
    span = np.maximum((YEAR_END - leave_lo).astype(np.int64), 0)
    leave = np.minimum(leave_lo + np.floor(rng.random(n) * (span + 1)).astype(np.int64) * day,
                       YEAR_END)
    later = YEAR_END + rng.integers(1, 731, n) * day
    end = np.select([kind == 0, kind == 1, kind == 2],
                    [np.datetime64("NaT", "D"), YEAR_END, later], leave)
    return start, end.astype("datetime64[D]")


def _mask_text(masks: np.ndarray, codes: list[str]) -> pa.Array:
    """Bit masks → ``;``-joined codes in catalogue order (0 → null)."""
    table = [";".join(c for i, c in enumerate(codes) if m >> i & 1) for m in range(1 << len(codes))]
    return take(table, masks, null=masks == 0)


def chronic_enrollees_table(county: County, enrollees: Enrollees) -> Table:
    disease_codes = [d[0] for d in catalog.CHRONIC_DISEASES]
    excluded_codes = [e[0] for e in catalog.EXCLUDED_CONDITIONS]
    return (Table("chronic_enrollees")
            .add("person_id", "id", person_ids(enrollees.code))
            .add("community_id", "id", take(county.community_ids, enrollees.community))
            .add("managing_unit_id", "id", take(county.unit_id, enrollees.managing_row))
            .add("diseases", "id", _mask_text(enrollees.disease_mask, disease_codes))
            .add("enroll_start", "date", enrollees.start)
            .add("enroll_end", "date", enrollees.end)
            .add("excluded_conditions", "id", _mask_text(enrollees.excluded_mask, excluded_codes))
            .add("family_doctor_signed", "bool", enrollees.signed))
