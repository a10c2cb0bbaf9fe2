"""The county's structure (县域结构): communities, budgets, units and where people live.

Two medical communities (医共体) share one county: each has a lead hospital, GT01 also the
中医院 and GT02 the 妇幼保健院 and a private hospital; 20 township centres (乡镇卫生院 /
社区卫生服务中心) and 200 village clinics (村卫生室) hang under them; 16 hospitals outside
the county (city, province, out of province) treat what the county does not.

Insured people are numbered 0..N-1 inside their community and live in contiguous blocks
by village, so ``home_village`` is one ``searchsorted``::

    village blocks of GT01: [0, 1530) → 01001, [1530, 2710) → 01002, ...
    person 1600 of GT01 lives in village 01002, township T001

Ids: hospitals ``H0001``, townships ``T001``, villages numeric with a leading zero for
townships 1–9 (``01003`` = village 3 of T001; ``12005`` of T012), external ``X001``,
persons ``P1`` + 8 digits (GT01) / ``P2`` + 8 digits (GT02).

The unit list depends on the seed only, never on the scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import catalog
from .common import Table, split_counts, stream

RESIDENTS_PER_INSURED = 1.06
FINANCING_FEN = 110_000  # 2025 national per-capita financing, 1100.00 元
PREMIUM_FEN = 10_000  # 大病保险 100.00 元 per capita
EARMARKS_FEN = (0, 300)  # other earmarks per capita by community: 0.00 and 3.00 元
RESERVE_PERCENT = 5  # assumed risk reserve rate (config: package.risk_reserve_rate)
SPEND_TARGET = (0.96, 1.03)  # fund spend of the community's insured ÷ package (surplus, overrun)
OFFICIAL_PACKAGE_FACTOR = (None, 0.9982)  # GT02 gets an official package slightly below


@dataclass
class County:
    """Units and population of the county; arrays are indexed by unit row number."""

    unit_id: list[str]
    unit_name: list[str]
    community: list[str | None]
    category: list[str]
    level: list[str]
    scope: list[str]
    parent: list[str | None]
    dip_coefficient: list[float | None]
    service_population: np.ndarray
    inpatient_weight: np.ndarray  # attraction of hospitals for inpatients
    community_ids: list[str]
    insured: np.ndarray  # per community, at this scale
    residents: np.ndarray
    case_rate: np.ndarray  # inpatient cases per insured
    villages: list[np.ndarray]  # per community: unit rows of its village clinics, block order
    village_bounds: list[np.ndarray]  # per community: first person of each village block
    package_fen: np.ndarray  # computed package per community
    official_fen: list[int | None]

    def rows(self, category: str, community: int | None = None) -> np.ndarray:
        """Unit rows of a category (optionally of one community, by position)."""
        cid = None if community is None else self.community_ids[community]
        return np.array([i for i, cat in enumerate(self.category) if cat == category
                         and (cid is None or self.community[i] == cid)], dtype=np.int64)

    def hospitals(self, community: int) -> np.ndarray:
        """Rows of the county hospitals (lead, other county, private) of a community."""
        cid = self.community_ids[community]
        return np.array([i for i, cat in enumerate(self.category)
                         if cat in ("lead_hospital", "county_hospital", "private")
                         and self.community[i] == cid], dtype=np.int64)

    def home_village(self, community: int, person: np.ndarray) -> np.ndarray:
        """Unit row of the village clinic where each person (index in community) lives."""
        block = np.searchsorted(self.village_bounds[community], person, side="right") - 1
        return self.villages[community][block]

    def parent_row(self) -> np.ndarray:
        """Unit row of each unit's parent (-1 where none)."""
        where = {uid: i for i, uid in enumerate(self.unit_id)}
        return np.array([where[p] if p else -1 for p in self.parent], dtype=np.int64)

    def target_spend_fen(self) -> np.ndarray:
        """Σ fund_paid of each community's insured the sample is calibrated to."""
        package = [o if o is not None else p for p, o in zip(self.package_fen, self.official_fen)]
        return np.array([round(p * t) for p, t in zip(package, SPEND_TARGET)], dtype=np.int64)


def build_county(seed: int, scale: float) -> County:
    """Lay out communities, units and village population blocks."""
    rng = stream(seed, "units")
    cids = [c[0] for c in catalog.COMMUNITIES]
    insured = np.array([max(200, round(c[2] * scale)) for c in catalog.COMMUNITIES])
    residents = np.round(insured * RESIDENTS_PER_INSURED).astype(np.int64)
    rows: list[tuple] = []  # (id, name, community, category, level, scope, parent, coef, w)
    for uid, name, cid, category, level, coef in catalog.COUNTY_HOSPITALS:
        weight = {"lead_hospital": 1.0, "private": 0.30}.get(category, 0.35)
        rows.append((uid, name, cid, category, level, "county", None, coef, weight))
    village_names = _village_names(rng)
    n_villages = _villages_per_township(rng)
    town_no = 0
    for c, cid in enumerate(cids):
        for k in range(catalog.TOWNS_PER_COMMUNITY[c]):
            town = catalog.TOWNS[town_no]
            town_no += 1
            tid = f"T{town_no:03d}"
            suffix = "社区卫生服务中心" if k == 0 else "卫生院"
            rows.append((tid, town + suffix, cid, "township_center", "primary", "county",
                         None, None, 0.0))
            for v in range(n_villages[town_no - 1]):
                vname = village_names.pop()
                level = "primary" if rng.random() < 0.15 else "unrated"
                rows.append((f"{town_no:02d}{v + 1:03d}", f"{vname}村卫生室", cid,
                             "village_clinic", level, "county", tid, None, 0.0))
    for uid, name, scope, level, weight in catalog.EXTERNAL_HOSPITALS:
        rows.append((uid, name, None, "external", level, scope, None, None, weight))
    cols = list(zip(*rows))
    county = County(
        unit_id=list(cols[0]), unit_name=list(cols[1]), community=list(cols[2]),
        category=list(cols[3]), level=list(cols[4]), scope=list(cols[5]), parent=list(cols[6]),
        dip_coefficient=list(cols[7]), service_population=np.zeros(len(rows), np.int64),
        inpatient_weight=np.array(cols[8], dtype=np.float64), community_ids=cids,
        insured=insured, residents=residents,
        case_rate=np.array([c[3] for c in catalog.COMMUNITIES]),
        villages=[], village_bounds=[], package_fen=np.zeros(2, np.int64), official_fen=[])
    _place_population(county, rng)
    _budget(county)
    return county


def _village_names(rng: np.random.Generator) -> list[str]:
    names = [p + s for p in catalog.VILLAGE_PREFIXES for s in catalog.VILLAGE_SUFFIXES]
    return [names[i] for i in rng.permutation(len(names))]


def _villages_per_township(rng: np.random.Generator) -> np.ndarray:
    """200 villages over 20 townships: at least 5 each, the rest by township size."""
    size = rng.lognormal(0.0, 0.35, size=len(catalog.TOWNS))
    return 5 + split_counts(200 - 5 * len(catalog.TOWNS), size)


def _place_population(county: County, rng: np.random.Generator) -> None:
    """Split each community's insured into village blocks; set service populations."""
    parent = county.parent_row()
    pop = county.service_population
    for c in range(len(county.community_ids)):
        villages = county.rows("village_clinic", c)
        size = split_counts(int(county.insured[c]), rng.lognormal(0.0, 0.45, len(villages)))
        county.villages.append(villages)
        county.village_bounds.append(np.concatenate([[0], np.cumsum(size)[:-1]]))
        pop[villages] = np.round(size * RESIDENTS_PER_INSURED).astype(np.int64)
        np.add.at(pop, parent[villages], pop[villages])
        for row in county.hospitals(c):
            share = 1.0 if county.category[row] == "lead_hospital" else 0.35
            pop[row] = round(county.residents[c] * share)


def _budget(county: County) -> None:
    """Computed package per community, and the bureau's official figure where given."""
    for c in range(len(county.community_ids)):
        net = FINANCING_FEN - PREMIUM_FEN - EARMARKS_FEN[c]
        county.package_fen[c] = int(county.insured[c]) * net * (100 - RESERVE_PERCENT) // 100
        factor = OFFICIAL_PACKAGE_FACTOR[c]
        if factor is None:
            county.official_fen.append(None)
        else:  # rounded to 10 元, never equal to the computed figure
            official = int(county.package_fen[c] * factor) // 1000 * 1000
            county.official_fen.append(official if official != county.package_fen[c]
                                       else official - 1000)


def communities_table(county: County) -> Table:
    names = [c[1] for c in catalog.COMMUNITIES]
    leads = [county.unit_id[county.rows("lead_hospital", c)[0]]
             for c in range(len(county.community_ids))]
    return (Table("communities")
            .add("community_id", "id", county.community_ids)
            .add("community_name", "text", names)
            .add("lead_unit_id", "id", leads)
            .add("insured_enrollees", "int", county.insured.astype(np.int64))
            .add("resident_population", "int", county.residents.astype(np.int64)))


def fund_budget_table(county: County) -> Table:
    n = len(county.community_ids)
    return (Table("fund_budget")
            .add("community_id", "id", county.community_ids)
            .add("per_capita_financing", "money", np.full(n, FINANCING_FEN, np.int64))
            .add("critical_illness_premium_per_capita", "money", np.full(n, PREMIUM_FEN, np.int64))
            .add("other_earmarks_per_capita", "money", np.array(EARMARKS_FEN, np.int64))
            .add("official_package", "money", county.official_fen))


def units_table(county: County) -> Table:
    return (Table("units")
            .add("unit_id", "id", county.unit_id)
            .add("unit_name", "text", county.unit_name)
            .add("community_id", "id", county.community)
            .add("category", "id", county.category)
            .add("level", "id", county.level)
            .add("scope", "id", county.scope)
            .add("parent_unit_id", "id", county.parent)
            .add("service_population", "int", county.service_population)
            .add("dip_coefficient", "float", county.dip_coefficient))
