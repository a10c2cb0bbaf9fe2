"""A floor is a floor (issue 9 item 4): a binding floor holds after rounding, never a fen short.

Every floor in the code goes through :func:`settlement.allocate.share_floor` (ceil to the fen)
and the allocator's water-filling, which keeps every floored recipient at or above its floor:
the distribution tiers (villages ≥ 10 % …), the public-health tiers (villages ≥ 40 %) and the
allocator's own ``floors``. Property tests: Σ parts == pool and every floor met, exactly
(part ≥ amount × share as rationals).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from global_budget_scenario import sample_params, with_section
from settlement.allocate import allocate, share_floor
from settlement.params import Tier
from settlement.stages.distribution import _split
from settlement.stages.public_health import split_pool

P = sample_params()


def test_share_floor_rounds_toward_the_floor():
    # 18 % of 1,000.01 元 = 100,001 × 0.18 = 18,000.18 fen → 18,001 (half up would give 18,000)
    assert share_floor(100_001, Decimal("0.18")) == 18_001
    assert share_floor(100_000, Decimal("0.18")) == 18_000  # exact: no fen added
    assert share_floor(-100_001, Decimal("0.18")) == 18_001  # an overrun: the floor of |amount|


def _members(weights: dict[str, tuple[str, int]]) -> pd.DataFrame:
    return pd.DataFrame({"unit_id": list(weights), "tier": [t for t, _ in weights.values()],
                         "weight_exact": [Fraction(w) for _, w in weights.values()]})


def _tiers(village_floor: Decimal) -> tuple[Tier, ...]:
    return (Tier(tier="county", label_zh="县级医院", categories=("lead_hospital",), ratio=Decimal(6)),
            Tier(tier="township", label_zh="乡镇卫生院", categories=("township_center",),
                 ratio=Decimal(3)),
            Tier(tier="village", label_zh="村卫生室", categories=("village_clinic",), ratio=Decimal(1),
                 floor_share=village_floor))


def test_binding_village_floor_of_18_percent_is_not_a_fen_short():
    # 1,000.01 元 by 6 : 3 : 1 would give villages 10,000.1 fen; the 18 % floor binds:
    # 100,001 × 0.18 = 18,000.18 fen → villages 18,001 fen (≥ 18,000.18); the other 82,000 fen
    # by 6 : 3 → 54,666.67 / 27,333.33 → 54,667 / 27,333 (the larger remainder takes the fen)
    params = with_section(P, "distribution", tiers=_tiers(Decimal("0.18"))).distribution
    members = _members({"H": ("county", 1), "T": ("township", 1), "V": ("village", 1)})
    shares, pools, _ = _split(100_001, members, params, "结余留用", [], "A")
    assert dict(zip(members["tier"], pools)) == {"county": 54_667, "township": 27_333,
                                                 "village": 18_001}
    assert shares.sum() == 100_001


amounts = st.integers(min_value=0, max_value=10**11)
floor_shares = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("0.60"), places=4)
unit_weights = st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(amount=amounts, floor=floor_shares, county=unit_weights, township=unit_weights,
       village=unit_weights)
def test_distribution_tiers_sum_to_the_pool_and_keep_the_floor(amount, floor, county, township,
                                                                village):
    params = with_section(P, "distribution", tiers=_tiers(floor)).distribution
    weights = {f"{tier[0].upper()}{i}": (tier, w) for tier, ws in
               (("county", county), ("township", township), ("village", village))
               for i, w in enumerate(ws)}
    members = _members(weights)
    shares, pools, _ = _split(amount, members, params, "结余留用", [], "A")
    assert int(shares.sum()) == amount
    village_total = int(shares[members["tier"] == "village"].sum())
    assert Fraction(village_total) >= Fraction(amount) * Fraction(str(floor))


@settings(max_examples=150, deadline=None)
@given(amount=amounts, floor=floor_shares, county=unit_weights, township=unit_weights,
       village=unit_weights, basis=st.sampled_from(["ratio", "work_points"]))
def test_public_health_tiers_sum_to_the_pool_and_keep_the_floor(amount, floor, county, township,
                                                                 village, basis):
    weights = {f"{tier[0].upper()}{i}": (tier, w) for tier, ws in
               (("county", county), ("township", township), ("village", village))
               for i, w in enumerate(ws)}
    members = _members(weights).assign(
        weight_exact=lambda f: [Decimal(w.numerator) for w in f["weight_exact"]])
    out, tiers = split_pool(amount, members, _tiers(floor), basis)
    assert int(out["allocation"].sum()) == amount
    village_total = int(out.loc[out["tier"] == "village", "allocation"].sum())
    assert Fraction(village_total) >= Fraction(amount) * Fraction(str(floor))


@settings(max_examples=200, deadline=None)
@given(amount=amounts, weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=2,
                                        max_size=6),
       shares=st.lists(st.decimals(min_value=Decimal(0), max_value=Decimal("0.15"), places=3),
                       min_size=2, max_size=6))
def test_allocator_floors_hold_after_rounding(amount, weights, shares):
    ids = [f"U{i}" for i in range(len(weights))]
    floors = pd.Series([share_floor(amount, shares[i % len(shares)]) for i in range(len(ids))],
                       index=ids, dtype="float64")
    assume(floors.sum() <= amount)  # ceil floors of shares Σ ≤ 1 can still pass a tiny amount
    weights[0] = max(weights[0], 1)  # someone can take what the floors leave
    parts = allocate(amount, pd.Series(weights, index=ids), floors=floors)
    assert int(parts.sum()) == amount
    assert all(parts[i] >= floors[i] for i in ids)


def test_floors_above_one_hundred_percent_are_a_config_error():
    import pytest
    from pydantic import ValidationError

    # townships ≥ 50 % and villages ≥ 60 %: no split can meet both
    tiers = _tiers(Decimal("0.6"))
    tiers = (tiers[0], tiers[1].model_copy(update={"floor_share": Decimal("0.5")}), tiers[2])
    for section in ("distribution", "public_health"):
        dumped = getattr(P, section).model_dump() | {"tiers": [t.model_dump() for t in tiers]}
        with pytest.raises(ValidationError, match="floor_share"):
            type(getattr(P, section)).model_validate(dumped)


def test_floors_that_cannot_all_be_met_after_rounding_are_an_error_not_a_crash():
    # townships ≥ 50 % and villages ≥ 50 % of 0.01 元: each floor is 0.5 fen → 1 fen each,
    # 2 fen > 1 fen. Distribution and public health report an error and allocate nothing.
    tiers = _tiers(Decimal("0.5"))
    tiers = (tiers[0], tiers[1].model_copy(update={"floor_share": Decimal("0.5")}), tiers[2])
    params = with_section(P, "distribution", tiers=tiers).distribution
    members = _members({"H": ("county", 1), "T": ("township", 1), "V": ("village", 1)})
    problems = []
    shares, _, _ = _split(1, members, params, "结余留用", problems, "A")
    assert [p.rule for p in problems] == ["distribution.unallocatable"] and shares.sum() == 0

    import pandas as pd
    from settlement.stages.public_health import settle_public_health
    from tests.test_public_health import UNITS as PH_UNITS, workpoints
    ph = P.public_health.model_copy(update={"tiers": tiers, "per_capita_standard": Decimal("0.01"),
                                            "county_reserved_share": Decimal(0),
                                            "two_diseases_pool": Decimal(0)})
    wp = workpoints([("H1", "2025Q1", 1, 90), ("T1", "2025Q1", 1, 90), ("V1", "2025Q1", 1, 90)])
    communities = pd.DataFrame({"community_id": pd.array(["C1", "C2"], dtype="string"),
                                "resident_population": [1, 1]})
    result = settle_public_health(communities=communities, units=PH_UNITS, workpoints=wp,
                                  prepayments=None, params=ph, year=2025)
    assert "public_health.unallocatable" in [p.rule for p in result.problems]
    assert result.pools.set_index(["pool", "community_id"]).loc[("basic", "C1"), "unallocated"] == 1
