"""Basic public-health fund (基本公共卫生服务经费): pools per community, tier split with the
village floor, work points × quality within a tier, year-end clearing. Numbers derived here."""

from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.config import load_config, resolve
from settlement.params import ScoreRule, Tier
from settlement.stages.public_health import settle_public_health, split_pool, unit_weights

SAMPLE = Path(__file__).resolve().parent.parent / "configs" / "sample-county.yaml"
PARAMS = resolve(load_config(SAMPLE)).params.public_health  # 99 元, 5 % reserved, 1:5:4, ≥ 40 %
PROPORTIONAL = ScoreRule(method="proportional")
YEAR = 2025


def _params(**changes):
    return PARAMS.model_copy(update=changes)


UNITS = pd.DataFrame({
    "unit_id": pd.array(["H1", "T1", "V1", "V2", "V3", "H2", "T2", "X1"], dtype="string"),
    "community_id": pd.array(["C1"] * 5 + ["C2", "C2", None], dtype="string"),
    "category": pd.array(["lead_hospital", "township_center", "village_clinic", "village_clinic",
                          "village_clinic", "lead_hospital", "township_center", "external"],
                         dtype="string")})


def communities(pop_c1=25_000, pop_c2=10_000):
    return pd.DataFrame({"community_id": pd.array(["C1", "C2"], dtype="string"),
                         "resident_population": [pop_c1, pop_c2]})


def workpoints(rows):
    """rows: (unit, period, points, quality[, pool])."""
    rows = [r if len(r) == 5 else (*r, None) for r in rows]
    f = pd.DataFrame(rows, columns=["unit_id", "period", "work_points", "quality_score", "pool"])
    return f.astype({"unit_id": "string", "period": "string", "work_points": "float64",
                     "quality_score": "float64", "pool": "string"})


def prepayments(rows):
    """rows: (payment, payee, fund, period, amount fen)."""
    f = pd.DataFrame(rows, columns=["payment_id", "payee_id", "fund", "period", "amount"])
    return f.astype({"payment_id": "string", "payee_id": "string", "fund": "string",
                     "period": "string", "amount": "int64"})


def largest_remainder(amount, weights):
    """The rule, spelled out: whole fen of each exact quota, then 1 fen to the largest remainders."""
    total = sum(weights.values())
    quotas = {k: Fraction(amount * w, total) for k, w in weights.items()}
    parts = {k: int(q) for k, q in quotas.items()}
    order = sorted(quotas, key=lambda k: (-(quotas[k] - parts[k]), k))
    for k in order[:amount - sum(parts.values())]:
        parts[k] += 1
    return parts


VILLAGE_POINTS = {"V1": (120_000, 95), "V2": (95_000, 88), "V3": (60_000, 72)}


# ---------------------------------------------------------------- the required example
@pytest.mark.parametrize("pool, expected", [
    # weights 120,000×0.95 = 114,000; 95,000×0.88 = 83,600; 60,000×0.72 = 43,200 (Σ 240,800)
    # 1,000,000.00: quotas 47,342,192.69 / 34,717,607.97 / 17,940,199.34 fen → 2 fen left,
    #   to the remainders .97 (V2) and .69 (V1)
    (100_000_000, {"V1": 47_342_193, "V2": 34_717_608, "V3": 17_940_199}),
    # 1,000,000.01: quotas 47,342,193.16 / 34_717,608.32 / 17,940,199.51 → 1 fen left, to the
    #   largest remainder .51 — V3, the smallest unit
    (100_000_001, {"V1": 47_342_193, "V2": 34_717_608, "V3": 17_940_200}),
])
def test_village_tier_split_by_work_points_times_quality(pool, expected):
    weights = {u: p * q for u, (p, q) in VILLAGE_POINTS.items()}  # ×100: same ratios
    assert largest_remainder(pool, weights) == expected
    wp = workpoints([(u, "2025Q1", p, q) for u, (p, q) in VILLAGE_POINTS.items()])
    members = unit_weights(wp, UNITS, PROPORTIONAL)
    members["tier"] = "village"
    village = (Tier(tier="village", label_zh="村卫生室", categories=("village_clinic",),
                    ratio=Decimal(1), floor_share=Decimal("0.40")),)
    split, _ = split_pool(pool, members, village)
    assert dict(zip(split["unit_id"], split["allocation"])) == expected


def test_stage_end_to_end_with_quarterly_points_and_a_village_pool_of_one_million():
    # C1: 25,000 residents × 100 元, nothing reserved → 2,500,000.00; tiers 1:5:4 → the village
    # tier gets 4/10 = 1,000,000.00 (= its 40 % floor). Quarterly scores combine by the
    # work-point-weighted mean: V2 35,000 @ 94 + 60,000 @ 84.5 → 8,360,000 / 95,000 = 88.
    params = _params(per_capita_standard=Decimal(100), county_reserved_share=Decimal(0),
                     quality_score_rule=PROPORTIONAL, two_diseases_pool=Decimal(0))
    wp = workpoints([("H1", "2025Q1", 10_000, 90), ("T1", "2025Q2", 50_000, 80),
                     ("V1", "2025Q1", 60_000, 95), ("V1", "2025Q3", 60_000, 95),
                     ("V2", "2025Q2", 35_000, 94), ("V2", "2025Q4", 60_000, 84.5),
                     ("V3", "2025Q1", 60_000, 72), ("V3", "2025Q2", 0, 10)])
    result = settle_public_health(communities=communities(pop_c2=1), units=UNITS, workpoints=wp,
                                  prepayments=None, params=params, year=YEAR)
    c1 = result.allocation[result.allocation["community_id"] == "C1"].set_index("unit_id")
    assert c1.loc["V2", "quality_score"] == 88 and c1.loc["V3", "quality_score"] == 72
    assert c1.loc["V1", "tier_pool"] == 100_000_000
    assert c1.loc[["V1", "V2", "V3"], "allocation"].tolist() == [47_342_193, 34_717_608, 17_940_199]
    assert c1.loc["H1", "allocation"] == 25_000_000 and c1.loc["T1", "allocation"] == 125_000_000


# ---------------------------------------------------------------- pools, rules, floors
def test_pool_per_community_is_population_times_standard_less_the_county_share():
    # C1 123,457 × 99 = 12,222,243.00; 5 % reserved = 611,112.15; pool 11,611,130.85
    wp = workpoints([("H1", "2025Q1", 100, 90), ("T1", "2025Q1", 500, 90), ("V1", "2025Q1", 400, 90)])
    result = settle_public_health(communities=communities(123_457, 10), units=UNITS,
                                  workpoints=wp, prepayments=None, params=PARAMS, year=YEAR)
    pools = result.pools.set_index(["pool", "community_id"])
    assert pools.loc[("basic", "C1"), "gross"] == 1_222_224_300
    assert pools.loc[("basic", "C1"), "reserved"] == 61_111_215
    assert pools.loc[("basic", "C1"), "amount"] == 1_161_113_085
    c1 = result.allocation[result.allocation["community_id"] == "C1"]
    assert c1["allocation"].sum() == 1_161_113_085
    # C2 has no work points: its pool is reported unallocated, with a warning
    assert pools.loc[("basic", "C2"), "unallocated"] == 10 * 9_900 - 4_950
    assert "public_health.unallocated" in [p.rule for p in result.problems]


def test_threshold_rule_applies_the_coefficient_only_below_085():
    wp = workpoints([("V1", "2025Q1", 100, 88), ("V2", "2025Q1", 100, 72), ("V3", "2025Q1", 100, 85)])
    w = unit_weights(wp, UNITS, PARAMS.quality_score_rule).set_index("unit_id")
    assert w["quality_coefficient"].tolist() == [1.0, 0.72, 1.0]  # 0.88 → 1; 0.72 < 0.85; 0.85 → 1
    assert w["weight"].tolist() == [100, 72, 100]


def test_village_floor_binds_when_tiers_split_by_work_points():
    # weights: H1 60, T1 30, V1 10 → by weight the village tier would get 10 %; the floor is 40 %
    wp = workpoints([("H1", "2025Q1", 60, 100), ("T1", "2025Q1", 30, 100), ("V1", "2025Q1", 10, 100)])
    params = _params(tier_basis="work_points", per_capita_standard=Decimal(1),
                     county_reserved_share=Decimal(0), two_diseases_pool=Decimal(0))
    result = settle_public_health(communities=communities(10_000, 1), units=UNITS, workpoints=wp,
                                  prepayments=None, params=params, year=YEAR)
    tiers = result.tier_pools.query("community_id == 'C1' and pool == 'basic'").set_index("tier")["amount"]
    # pool 10,000.00; village floor 4,000.00; the other 6,000.00 by weight 60:30
    assert tiers.to_dict() == {"county": 400_000, "township": 200_000, "village": 400_000}


def test_a_tier_without_work_points_drops_out_and_is_reported():
    wp = workpoints([("T1", "2025Q1", 50, 100), ("V1", "2025Q1", 40, 100)])
    params = _params(per_capita_standard=Decimal(1), county_reserved_share=Decimal(0),
                     two_diseases_pool=Decimal(0))
    result = settle_public_health(communities=communities(9_000, 1), units=UNITS, workpoints=wp,
                                  prepayments=None, params=params, year=YEAR)
    c1 = result.allocation.query("community_id == 'C1'").set_index("unit_id")["allocation"]
    # 9,000.00 by ratios 5:4 (county tier absent) → 5,000.00 / 4,000.00 (village ≥ 3,600.00);
    # H1, V2, V3 have no work points: 0 (they are listed because the Q1 plan prepaid them)
    assert c1.to_dict() == {"H1": 0, "T1": 500_000, "V1": 400_000, "V2": 0, "V3": 0}
    assert "public_health.empty_tier" in [p.rule for p in result.problems]


def test_two_diseases_pool_goes_to_communities_reporting_its_work_points():
    wp = workpoints([(u, f"2025Q{q}", p, 90, "two_diseases") for q in (1, 2, 3, 4)
                     for u, p in (("T1", 10), ("V1", 30), ("T2", 10))] + [("H1", "2025Q1", 5, 90)])
    params = _params(two_diseases_pool=Decimal("300000.00"))
    result = settle_public_health(communities=communities(30_000, 10_000), units=UNITS,
                                  workpoints=wp, prepayments=None, params=params, year=YEAR)
    pools = result.pools.set_index(["pool", "community_id"])["amount"]
    # 300,000.00 by resident population 30,000 : 10,000 → 225,000.00 / 75,000.00
    assert pools[("two_diseases", "C1")] == 22_500_000 and pools[("two_diseases", "C2")] == 7_500_000
    two = result.allocation.query("pool == 'two_diseases'")
    assert two["allocation"].sum() == 30_000_000
    # each quarter 56,250.00 in C1: the township and village tiers (5:4) → 31,250.00 / 25,000.00;
    # four quarters → 125,000.00 / 100,000.00
    c1 = two.query("community_id == 'C1'").set_index("unit_id")["allocation"]
    assert c1.to_dict() == {"T1": 12_500_000, "V1": 10_000_000}


# ---------------------------------------------------------------- clearing
def test_year_end_clearing_against_quarterly_prepayments_with_claw_back():
    wp = workpoints([("T1", "2025Q1", 50, 100), ("V1", "2025Q1", 40, 100)])
    params = _params(per_capita_standard=Decimal(1), county_reserved_share=Decimal(0),
                     two_diseases_pool=Decimal(0))
    paid = prepayments([
        ("PP1", "T1", "public_health", "2025Q1", 100_000), ("PP2", "T1", "public_health", "2025Q2", 100_000),
        ("PP3", "V1", "public_health", "2025Q1", 500_000),          # more than its 4,000.00
        ("PP4", "V2", "public_health", "2025Q1", 20_000),           # no work points at all
        ("PP5", "T1", "dip", "2025-01", 999_999),                   # another fund: ignored
        ("PP6", "T1", "public_health", "2024Q4", 70_000),           # another year: reported
    ])
    result = settle_public_health(communities=communities(9_000, 1), units=UNITS, workpoints=wp,
                                  prepayments=paid, params=params, year=YEAR)
    t = result.allocation.query("community_id == 'C1'").set_index("unit_id")
    # T1 5,000.00 − 2,000.00 prepaid = 3,000.00 补拨; V1 4,000.00 − 5,000.00 = −1,000.00 追回;
    # V2 0 − 200.00 = −200.00 追回
    assert t.loc["T1", ["allocation", "prepaid", "balance"]].tolist() == [500_000, 200_000, 300_000]
    assert t.loc["V1", "balance"] == -100_000 and t.loc["V1", "clearing"] == "追回"
    assert t.loc["V2", ["allocation", "prepaid", "balance"]].tolist() == [0, 20_000, -20_000]
    assert t.loc["T1", "clearing"] == "补拨"
    assert [p.rule for p in result.problems if "prepayment" in p.rule] == [
        "public_health.prepayment_ignored"]


# ---------------------------------------------------------------- invariants
@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["H1", "T1", "V1", "V2", "V3"]),
                          st.sampled_from(["2025Q1", "2025Q2", "2025Q3", "2025Q4"]),
                          st.floats(0, 1e6, allow_nan=False).map(lambda x: round(x, 2)),
                          st.integers(0, 100)), min_size=1, max_size=20,
                unique_by=lambda r: (r[0], r[1])),
       st.integers(1, 2_000_000), st.sampled_from(["ratio", "work_points"]))
def test_every_fen_of_a_pool_is_allocated_and_villages_keep_their_floor(rows, population, basis):
    wp = workpoints(rows)
    params = _params(tier_basis=basis, two_diseases_pool=Decimal(0))
    result = settle_public_health(communities=communities(population, 1), units=UNITS,
                                  workpoints=wp, prepayments=None, params=params, year=YEAR)
    pool = result.pools.set_index(["pool", "community_id"]).loc[("basic", "C1")]
    c1 = result.allocation.query("community_id == 'C1'")
    assert c1["allocation"].sum() + pool["unallocated"] == pool["amount"]
    assert (c1["allocation"] >= 0).all()
    tiers = result.tier_pools.query("community_id == 'C1' and pool == 'basic'").set_index("tier")
    if tiers.loc["village", "tier_weight"] > 0 and tiers["tier_weight"].gt(0).sum() > 1:
        assert tiers.loc["village", "amount"] * 10 >= pool["amount"] * 4


def test_work_points_of_another_year_are_left_out_and_reported():
    wp = workpoints([("T1", "2025Q1", 50, 100), ("V1", "2024Q4", 40, 100), ("V1", "2025Q2", 10, 100)])
    params = _params(per_capita_standard=Decimal(1), county_reserved_share=Decimal(0),
                     two_diseases_pool=Decimal(0))
    result = settle_public_health(communities=communities(9_000, 1), units=UNITS, workpoints=wp,
                                  prepayments=None, params=params, year=YEAR)
    v1 = result.allocation.query("unit_id == 'V1'").iloc[0]
    assert v1["work_points"] == 10
    assert "public_health.period_outside_year" in [p.rule for p in result.problems]


# ---------------------------------------------------------------- quality per quarter (issue 9.3)
THRESHOLD = ScoreRule(method="threshold", threshold=Decimal("0.85"))
TIERED = ScoreRule.model_validate({"method": "tiered", "tiers": [
    {"min_score": 90, "coefficient": 1}, {"min_score": 80, "coefficient": "0.9"},
    {"min_score": 70, "coefficient": "0.8"}, {"min_score": 60, "coefficient": "0.6"},
    {"min_score": 0, "coefficient": 0}]})


@pytest.mark.parametrize("rule, expected_v1", [
    # threshold 0.85: Q1 95 → 0.95 ≥ 0.85 → 1; Q2 70 → 0.70 < 0.85 → 0.70:
    #   1,000 × 1 + 1,000 × 0.70 = 1,700 (the averaged 82.5 → 0.825 would give 1,650)
    (THRESHOLD, Decimal(1700)),
    # tiered: Q1 95 → 1.0; Q2 70 → 0.8: 1,000 + 800 = 1,800 (averaged 82.5 → 0.9 → 1,800 too)
    (TIERED, Decimal(1800)),
])
def test_quality_coefficient_is_applied_quarter_by_quarter(rule, expected_v1):
    wp = workpoints([("V1", "2025Q1", 1_000, 95), ("V1", "2025Q2", 1_000, 70)])
    got = unit_weights(wp, UNITS, rule).set_index("unit_id").loc["V1"]
    assert got["weight_exact"] == expected_v1
    assert got["work_points"] == 2_000 and got["quality_score"] == 82.5  # information only


def test_a_sub_60_quarter_is_not_paid_at_the_rate_of_a_good_one():
    # tiered: V1 Q1 1,000 at 95 → 1.0, Q2 1,000 at 50 → 0 → weight 1,000 (averaged 72.5 → 0.8
    # would weigh 1,600); V2 2 × 1,000 at 85 → 0.9 → 1,800. Village tier of 1,000.00 (100,000 fen):
    # V1 100,000 × 1,000 / 2,800 = 35,714.29 → 35,714; V2 64,285.71 → 64,286 (larger remainder)
    wp = workpoints([("V1", "2025Q1", 1_000, 95), ("V1", "2025Q2", 1_000, 50),
                     ("V2", "2025Q1", 1_000, 85), ("V2", "2025Q2", 1_000, 85)])
    members = unit_weights(wp, UNITS, TIERED).assign(tier="village")
    assert largest_remainder(100_000, {"V1": 1_000, "V2": 1_800}) == {"V1": 35_714, "V2": 64_286}
    split, _ = split_pool(100_000, members, (Tier(tier="village", label_zh="村卫生室",
                                                   categories=("village_clinic",), ratio=Decimal(1)),))
    assert dict(zip(split["unit_id"], split["allocation"])) == {"V1": 35_714, "V2": 64_286}


def test_two_diseases_pool_is_weighed_per_quarter_and_explained_per_quarter():
    # the two-diseases pool of 1,000.00 goes to C1 (the only community reporting it), all in
    # one tier when only villages report, split quarter by quarter (seed 004: 每季度…依据工分值
    # 及评估结果核算经费): four quarters of 250.00. Q1: V1 600 at 90 (threshold → 1) = 600, V2
    # 1,000 at 84 → 840: 25,000 × 600 / 1,440 = 10,416.67 → 10,417, V2 14,583; Q2: V1 400 at
    # 80 (0.80) alone → 25,000; Q3, Q4: nobody reports → 50,000 fen unallocated (a warning).
    params = _params(per_capita_standard=Decimal(0), county_reserved_share=Decimal(0),
                     quality_score_rule=THRESHOLD, two_diseases_pool=Decimal(1000),
                     tier_basis="work_points")
    wp = workpoints([("V1", "2025Q1", 600, 90, "two_diseases"), ("V1", "2025Q2", 400, 80, "two_diseases"),
                     ("V2", "2025Q1", 1_000, 84, "two_diseases")])
    result = settle_public_health(communities=communities(), units=UNITS, workpoints=wp,
                                  prepayments=None, params=params, year=YEAR)
    two = result.allocation.query("pool == 'two_diseases'").set_index("unit_id")
    assert largest_remainder(25_000, {"V1": 600, "V2": 840}) == {"V1": 10_417, "V2": 14_583}
    assert two.loc[["V1", "V2"], "allocation"].tolist() == [10_417 + 25_000, 14_583]
    pool = result.pools.set_index(["pool", "community_id"]).loc[("two_diseases", "C1")]
    assert (pool["allocated"], pool["unallocated"]) == (50_000, 50_000)
    idle = [p for p in result.problems if p.rule == "public_health.two_diseases_quarter_unallocated"]
    assert len(idle) == 1 and "2025 年第 3 季度、2025 年第 4 季度" in idle[0].message_zh
    text = two.loc["V1", "explanation"]
    assert "2025 年第 1 季度 工分 600.00 × 质量系数 1（得分 90）" in text
    assert "2025 年第 2 季度 工分 400.00 × 质量系数 0.8（得分 80）" in text
    # V2 lacks 2025Q2, which V1 reports: counted as 0 points, and said so
    missing = [p for p in result.problems if p.rule == "public_health.missing_quarter"]
    assert [(p.value, "2025Q2" in p.message_zh) for p in missing] == [("V2", True)]


def test_non_finite_work_points_are_an_error_and_count_zero():
    wp = workpoints([("V1", "2025Q1", float("inf"), 90), ("V2", "2025Q1", 100, 90)])
    result = settle_public_health(communities=communities(), units=UNITS, workpoints=wp,
                                  prepayments=None, params=_params(), year=YEAR)
    errors = [p for p in result.problems if p.severity == "error"]
    assert [p.rule for p in errors] == ["public_health.not_finite"]
    v1 = result.allocation.query("pool == 'basic' and unit_id == 'V1'").iloc[0]
    assert v1["work_points"] == 0 and v1["allocation"] == 0
