"""Family-doctor contract fees (家庭医生签约服务费) paid by the fund, per signing unit and quarter.

Seed 002 has the medical community pay, from its package, the fund's part of the family-doctor
contract fees (医共体承担…按规定支出的家庭医生签约服务). In the sample every township centre
and village clinic signs a share of its service population (25–45 %, drawn per unit, ±3 %
from quarter to quarter) and the fund pays 10.00 元 per signed person and year, i.e. 2.50 元
per quarter::

    T001, service population 3,000, share 0.35 → 1,050 signed in 2025Q1 → 2,625.00 元
"""

from __future__ import annotations

import numpy as np

from .common import YEAR, Table, stream, take
from .county import County

SIGNING_CATEGORIES = ("township_center", "village_clinic")
SIGNED_SHARE = (0.25, 0.45)
QUARTER_JITTER = 0.03
FEE_PER_QUARTER_FEN = 250  # 10.00 元 per signed person and year, paid quarterly


def signing_rows(county: County) -> np.ndarray:
    return np.array([i for i, cat in enumerate(county.category) if cat in SIGNING_CATEGORIES],
                    dtype=np.int64)


def family_doctor_fees(seed: int, county: County) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit rows, signed persons (units × 4), fund amount in fen (units × 4))."""
    rng = stream(seed, "family_doctor")
    rows = signing_rows(county)
    share = rng.uniform(*SIGNED_SHARE, len(rows))[:, None] * rng.uniform(
        1 - QUARTER_JITTER, 1 + QUARTER_JITTER, (len(rows), 4))
    signed = np.round(county.service_population[rows][:, None] * share).astype(np.int64)
    return rows, signed, signed * FEE_PER_QUARTER_FEN


def fees_by_community(county: County, rows: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Σ fee (fen) of each community's signing units."""
    position = {c: k for k, c in enumerate(county.community_ids)}
    community = np.array([position[county.community[r]] for r in rows])
    return np.bincount(community, weights=amount.sum(axis=1),
                       minlength=len(county.community_ids)).astype(np.int64)


def family_doctor_fees_table(county: County, rows: np.ndarray, signed: np.ndarray,
                             amount: np.ndarray) -> Table:
    quarters = [f"{YEAR}Q{q}" for q in range(1, 5)]
    return (Table("family_doctor_fees")
            .add("unit_id", "id", take(county.unit_id, np.repeat(rows, 4)))
            .add("period", "id", quarters * len(rows))
            .add("signed_persons", "int", signed.ravel())
            .add("amount", "money", amount.ravel()))
