"""Where people are treated (就诊地): from a venue class to a treating unit.

Cases and claims first draw a *venue class*, then a unit of that class:

    0 village    the person's own village clinic (村卫生室)
    1 township   the township centre above it (乡镇卫生院)
    2 own        a county hospital of the person's community, by attraction weight
    3 other      a county hospital of the other community (县域内跨医共体)
    4 city       a hospital in the city outside the county (市内县外)
    5 province   a hospital elsewhere in the province (省内市外)
    6 national   a hospital out of province (跨省)

Classes 0–3 are in-county (县域内); 0–1 are primary care (基层).
"""

from __future__ import annotations

import numpy as np

from .county import County

VILLAGE, TOWNSHIP, OWN, OTHER, CITY, PROVINCE, NATIONAL = range(7)
EXTERNAL_SCOPES = {CITY: "city", PROVINCE: "province", NATIONAL: "national"}


def home_villages(county: County, community: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Unit row of each person's village clinic."""
    out = np.empty(len(person), np.int64)
    for c in range(len(county.community_ids)):
        mine = community == c
        out[mine] = county.home_village(c, person[mine])
    return out


def pick_units(rng: np.random.Generator, county: County, community: np.ndarray,
               person: np.ndarray, venue: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Treating unit row for each row, given its venue class.

    ``weight`` (per unit row) is the attraction of hospitals inside a class.
    """
    village = home_villages(county, community, person)
    rows = np.where(venue == VILLAGE, village, county.parent_row()[village])
    n_comm = len(county.community_ids)
    for c in range(n_comm):
        for cls, pool in ((OWN, county.hospitals(c)), (OTHER, county.hospitals((c + 1) % n_comm))):
            _choose(rng, rows, (venue == cls) & (community == c), pool, weight)
    for cls, scope in EXTERNAL_SCOPES.items():
        pool = np.array([i for i, s in enumerate(county.scope) if s == scope], dtype=np.int64)
        _choose(rng, rows, venue == cls, pool, weight)
    return rows


def _choose(rng: np.random.Generator, rows: np.ndarray, mask: np.ndarray, pool: np.ndarray,
            weight: np.ndarray) -> None:
    size = int(mask.sum())
    if size == 0:
        return
    p = weight[pool] / weight[pool].sum()
    rows[mask] = pool[rng.choice(len(pool), size=size, p=p)]


def draw_persons(rng: np.random.Generator, county: County, community: np.ndarray,
                 enrolled_share: float, enrollee_person: list[np.ndarray]) -> np.ndarray:
    """Person index for each row: from the community's enrollees with ``enrolled_share``,
    otherwise uniformly from all its insured."""
    person = np.empty(len(community), np.int64)
    from_enrollees = rng.random(len(community)) < enrolled_share
    for c in range(len(county.community_ids)):
        mine = community == c
        size = int(mine.sum())
        drawn = rng.integers(0, int(county.insured[c]), size=size)
        pool = enrollee_person[c]
        if len(pool):
            chronic = pool[rng.integers(0, len(pool), size=size)]
            drawn = np.where(from_enrollees[mine], chronic, drawn)
        person[mine] = drawn
    return person
