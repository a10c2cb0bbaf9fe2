"""The pooling region's structure (统筹区结构): counties of different sizes, their communities
and units, the city hospitals (市直医院) and the hospitals outside the region.

A region of N counties at scale S: county k has a *size* f_k, where size 1 is the sample
county (520,000 insured, ≈ 90,000 inpatient cases, 1.5 million claims). Sizes are drawn
around 2 × S (a province's average county of ≈ 1 million insured), lognormal (σ 0.5),
each between 0.4× and 2× the mean, and sum to exactly 2 × S × N — so 50 counties at scale 1
hold ≈ 9 million cases and ≈ 150 million claims. The structure grows with the size::

    communities (医共体)     round(2 √f), 1 … 6        size 0.2 → 1, 1 → 2, 4 → 4
    township centres         round(20 f^0.6), ≥ 2      size 0.2 → 8, 1 → 20, 4 → 46
    village clinics          5 + about 5 per township (lognormal), ≈ 10 per township
    county hospitals         a lead hospital per community, 中医院, 妇幼保健院, round(f) private
    city hospitals           max(6, round(6 √(Σ f ÷ 2)))   3 counties at scale 1 → 10

Ids (county C01): communities ``C01GT01``, hospitals ``C01H0001``, townships ``C01T001``,
villages ``C01`` + township (2 digits) + village (3 digits) = ``C0101003``; city hospitals
``S001``…; the province and national hospitals keep the sample's ``X007``…``X016``.

Each county is built by :func:`build_structure` from its own seed (its units only); the
structure depends on the seed and the size, never on the other counties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import catalog, region_catalog as names
from .common import split_counts, stream
from .county import EARMARKS_FEN, OFFICIAL_PACKAGE_FACTOR, SPEND_TARGET, _place_population
from .region_county import RegionCounty, set_budget

MEAN_SIZE = 2.0  # × scale: sample counties per region county, on average
SIZE_SIGMA = 0.5
SIZE_BOUNDS = (0.4, 2.0)  # × the mean size
MAX_COMMUNITIES = 6
MAX_TOWNSHIPS = 300
MAX_PRIVATE = len(names.PRIVATE_NAMES)
SAMPLE_INSURED = sum(c[2] for c in catalog.COMMUNITIES)
CASE_RATE = (0.150, 0.200)  # inpatient cases per insured, drawn per community
HOSPITAL_WEIGHT = {"lead_hospital": 1.0, "county_hospital": 0.35, "private": 0.30}


@dataclass(frozen=True)
class CountySpec:
    """One county of the region: id, name, position (0-based), size and its own seed."""

    county_id: str
    name: str
    position: int
    size: float
    seed: int


@dataclass
class Region:
    counties: list[CountySpec]
    structures: list[RegionCounty]  # each county's own units and population
    city: list[tuple[str, str, str, float]]  # city hospitals: (unit_id, name, level, weight)


def build_region(seed: int, counties: int, scale: float) -> Region:
    """Lay out the region: county sizes and names, every county's structure, city hospitals."""
    rng = stream(seed, "region")
    stems = names.county_stems()
    if not 1 <= counties <= len(stems):
        raise ValueError(f"counties must be between 1 and {len(stems)}, not {counties!r}")
    sizes = county_sizes(rng, counties, scale)
    picked = rng.permutation(len(stems))[:counties]
    width = max(2, len(str(counties)))
    specs = [CountySpec(f"C{k + 1:0{width}d}", stems[picked[k]] + "县", k, float(sizes[k]),
                        county_seed(seed, k)) for k in range(counties)]
    return Region(counties=specs, structures=[build_structure(s) for s in specs],
                  city=city_hospitals(float(sizes.sum())))


def county_seed(seed: int, position: int) -> int:
    """The seed of county ``position`` (its own streams, independent of the other counties)."""
    return int(np.random.SeedSequence([int(seed), position + 1]).generate_state(1)[0])


def county_sizes(rng: np.random.Generator, counties: int, scale: float) -> np.ndarray:
    """Sizes around MEAN_SIZE × scale, clipped to SIZE_BOUNDS × the mean, summing to the total."""
    weight = rng.lognormal(0.0, SIZE_SIGMA, counties)
    weight = np.clip(weight / weight.mean(), *SIZE_BOUNDS)
    return MEAN_SIZE * scale * counties * weight / weight.sum()


def city_hospitals(total_size: float) -> list[tuple[str, str, str, float]]:
    """The catalogue's six city hospitals, then more numbered ones as the region grows."""
    count = max(len(names.CITY_HOSPITALS), round(6 * (total_size / MEAN_SIZE) ** 0.5))
    rows = [(f"S{k + 1:03d}", h[1], h[3], h[4]) for k, h in enumerate(names.CITY_HOSPITALS)]
    for k in range(len(rows), count):
        level = "tertiary" if k % 3 == 0 else "secondary"
        rows.append((f"S{k + 1:03d}", f"{names.REGION}第{names.number_zh(k - 3)}人民医院", level, 1.0))
    return rows


def structure_counts(size: float) -> tuple[int, int, int]:
    """(communities, township centres, private hospitals) of a county of this size."""
    communities = int(np.clip(round(2 * size ** 0.5), 1, MAX_COMMUNITIES))
    townships = int(np.clip(round(20 * size ** 0.6), max(2, communities), MAX_TOWNSHIPS))
    return communities, townships, int(np.clip(round(size), 1, MAX_PRIVATE))


def build_structure(spec: CountySpec) -> RegionCounty:
    """The county's own communities, units and village population blocks."""
    rng = stream(spec.seed, "units")
    n_comm, n_towns, n_private = structure_counts(spec.size)
    cids = [f"{spec.county_id}GT{c + 1:02d}" for c in range(n_comm)]
    insured = np.maximum(200, split_counts(round(SAMPLE_INSURED * spec.size),
                                           rng.lognormal(0.0, 0.3, n_comm)))
    rows = _hospitals(spec, cids, n_private)
    towns = 1 + split_counts(n_towns - n_comm, insured.astype(np.float64))
    rows += _primary_care(rng, spec, cids, towns)
    cols = list(zip(*rows))
    parity = (spec.position + np.arange(n_comm)) % 2  # surplus and overrun communities alternate
    county = RegionCounty(
        unit_id=list(cols[0]), unit_name=list(cols[1]), community=list(cols[2]),
        category=list(cols[3]), level=list(cols[4]), scope=["county"] * len(rows),
        parent=list(cols[5]), dip_coefficient=list(cols[6]),
        service_population=np.zeros(len(rows), np.int64),
        inpatient_weight=np.array(cols[7], dtype=np.float64), community_ids=cids,
        insured=insured, residents=np.round(insured * 1.06).astype(np.int64),
        case_rate=rng.uniform(*CASE_RATE, n_comm), villages=[], village_bounds=[],
        package_fen=np.zeros(n_comm, np.int64), official_fen=[],
        county_id=spec.county_id, county_name=spec.name, own_units=len(rows),
        spend_target=np.array(SPEND_TARGET)[parity] * rng.uniform(0.99, 1.01, n_comm),
        earmarks_fen=np.array(EARMARKS_FEN, np.int64)[parity],
        official_factor=[OFFICIAL_PACKAGE_FACTOR[p] for p in parity])
    _place_population(county, rng)
    set_budget(county)
    return county


def _hospitals(spec: CountySpec, cids: list[str], n_private: int) -> list[tuple]:
    """(id, name, community, category, level, parent, dip_coefficient, weight) rows."""
    n_comm = len(cids)
    rows = []
    for c in range(n_comm):
        level = "tertiary" if c == 0 and spec.size >= 0.5 else "secondary"
        title = "人民医院" if c == 0 else f"第{names.ordinal(c)}人民医院"
        rows.append((spec.name + title, cids[c], "lead_hospital", level, None))
    rows.append((spec.name + "中医院", cids[0], "county_hospital", "secondary", None))
    rows.append((spec.name + "妇幼保健院", cids[1 % n_comm], "county_hospital", "secondary", None))
    for j in range(n_private):
        rows.append((spec.name + names.PRIVATE_NAMES[j], cids[(j + 1) % n_comm], "private",
                     "secondary", 0.85))
    return [(f"{spec.county_id}H{j + 1:04d}", name, cid, category, level, None, coef,
             HOSPITAL_WEIGHT[category])
            for j, (name, cid, category, level, coef) in enumerate(rows)]


def _primary_care(rng: np.random.Generator, spec: CountySpec, cids: list[str],
                  towns: np.ndarray) -> list[tuple]:
    """Township centres and their village clinics, community by community."""
    town_names = names.town_stems()
    town_names = [town_names[i] for i in rng.permutation(len(town_names))]
    village_names = names.village_names()
    village_names = [village_names[i] for i in rng.permutation(len(village_names))]
    n_villages = 5 + split_counts(5 * int(towns.sum()), rng.lognormal(0.0, 0.35, int(towns.sum())))
    rows, town_no = [], 0
    for c, cid in enumerate(cids):
        for k in range(int(towns[c])):
            stem = town_names[town_no]
            town_no += 1
            tid = f"{spec.county_id}T{town_no:03d}"
            name = stem + ("街道社区卫生服务中心" if k == 0 else
                           ("乡" if rng.random() < 0.3 else "镇") + "卫生院")
            rows.append((tid, name, cid, "township_center", "primary", None, None, 0.0))
            for v in range(int(n_villages[town_no - 1])):
                level = "primary" if rng.random() < 0.15 else "unrated"
                rows.append((f"{spec.county_id}{town_no:02d}{v + 1:03d}",
                             village_names.pop() + "村卫生室", cid, "village_clinic", level,
                             tid, None, 0.0))
    return rows
