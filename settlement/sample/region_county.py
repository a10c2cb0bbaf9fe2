"""A county of the region as the sample generator sees it (区域内的县).

:class:`RegionCounty` is a :class:`~.county.County` whose per-community figures — the
calibration target, the earmarks, the official-package factor — are arrays (the sample
county has two communities and keeps them in constants). :func:`county_view` appends the
rest of the region to a county's own units the way a county run sees them (AGREEMENTS D):
every hospital of another county and every city hospital as an ``external`` unit of scope
``city`` (inside the pooling region, outside the county), the province and national
hospitals with their own scope. The venue classes of :mod:`venues` then need nothing new:
a patient sent "to the city" goes to a city hospital or to a hospital of another county of
the region, by attraction weight ÷ distance on a ring of counties::

    county C01 of 5: C02 and C05 at distance 1, C03 and C04 at distance 2
    weight of C02's lead hospital in C01's view = 1.0 × 0.6 ÷ 1 = 0.6
    weight of C03's 中医院 in C01's view       = 0.35 × 0.6 ÷ 2 = 0.105

The view's first ``own_units`` rows are the county's own units, unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .county import FINANCING_FEN, PREMIUM_FEN, RESERVE_PERCENT, County
from .region_catalog import OUTSIDE_HOSPITALS

CROSS_COUNTY_WEIGHT = 0.6
HOSPITAL_CATEGORIES = ("lead_hospital", "county_hospital", "private")


@dataclass
class RegionCounty(County):
    """A county of the region: its identity and per-community calibration figures."""

    county_id: str = ""
    county_name: str = ""
    own_units: int = 0  # the first rows of the unit lists are the county's own units
    spend_target: np.ndarray = field(default_factory=lambda: np.zeros(0))
    earmarks_fen: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    official_factor: list[float | None] = field(default_factory=list)

    def target_spend_fen(self) -> np.ndarray:
        """Σ fund_paid of each community's insured the county is calibrated to."""
        package = [o if o is not None else p for p, o in zip(self.package_fen, self.official_fen)]
        return np.array([round(p * t) for p, t in zip(package, self.spend_target)], np.int64)

    def hospital_rows(self) -> list[int]:
        return [i for i in range(self.own_units) if self.category[i] in HOSPITAL_CATEGORIES]


def set_budget(county: RegionCounty) -> None:
    """Computed package per community (as :func:`county._budget`), and the official figure
    (rounded to 10 元, never equal to the computed one) where the community has a factor."""
    for c in range(len(county.community_ids)):
        net = FINANCING_FEN - PREMIUM_FEN - int(county.earmarks_fen[c])
        county.package_fen[c] = int(county.insured[c]) * net * (100 - RESERVE_PERCENT) // 100
        factor = county.official_factor[c]
        if factor is None:
            county.official_fen.append(None)
            continue
        official = int(county.package_fen[c] * factor) // 1000 * 1000
        county.official_fen.append(official if official != county.package_fen[c]
                                   else official - 1000)


def county_view(structures: list[RegionCounty], city: list[tuple[str, str, str, float]],
                k: int) -> RegionCounty:
    """County k's own units followed by every other hospital its insured may go to."""
    own = structures[k]
    rows = []  # (unit_id, name, level, scope, dip_coefficient, weight)
    for j, other in enumerate(structures):
        if j == k:
            continue
        distance = min(abs(j - k), len(structures) - abs(j - k))
        rows += [(other.unit_id[r], other.unit_name[r], other.level[r], "city",
                  other.dip_coefficient[r], other.inpatient_weight[r] * CROSS_COUNTY_WEIGHT / distance)
                 for r in other.hospital_rows()]
    rows += [(uid, name, level, "city", None, weight) for uid, name, level, weight in city]
    rows += [(uid, name, level, scope, None, weight)
             for uid, name, scope, level, weight in OUTSIDE_HOSPITALS]
    ids, unit_names, levels, scopes, coefficients, weights = (list(col) for col in zip(*rows))
    m = len(rows)
    return dataclasses.replace(
        own, unit_id=own.unit_id + ids, unit_name=own.unit_name + unit_names,
        community=own.community + [None] * m, category=own.category + ["external"] * m,
        level=own.level + levels, scope=own.scope + scopes, parent=own.parent + [None] * m,
        dip_coefficient=own.dip_coefficient + coefficients,
        service_population=np.concatenate([own.service_population, np.zeros(m, np.int64)]),
        inpatient_weight=np.concatenate([own.inpatient_weight, np.array(weights)]))
