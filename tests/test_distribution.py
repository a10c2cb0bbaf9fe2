"""Distribution of the retained surplus / borne overrun to member units (§2.4)."""

from decimal import Decimal

import pandas as pd

from global_budget_scenario import (SCORES, UNITS, YUAN, communities, expenditure, fund_budget, s,
                                    sample_params, with_section)
from settlement.params import Tier
from settlement.stages.corridor import settle_corridor
from settlement.stages.distribution import DISTRIBUTION_COLUMNS, distribute, unit_measures
from settlement.stages.package import settle_packages

P = sample_params()


def community_settlement(a_spend=316_000_000, b_spend=230_000_000, params=P):
    packages = settle_packages(communities(), fund_budget(), params.package).table
    return settle_corridor(packages, expenditure(a_spend * YUAN, b_spend * YUAN), SCORES,
                           params.corridor).table


def run(params=P, units=UNITS, scores=SCORES, measures=None, problems=None, **spend):
    result = distribute(community_settlement(params=params, **spend), units, scores,
                        params.distribution, measures)
    if problems is not None:
        problems += result.problems
    return result.table.set_index("unit_id")


def test_issue_surplus_split_six_three_one():
    # A retains 15,740,000.00 → 6 : 3 : 1 → 9,444,000.00 / 4,722,000.00 / 1,574,000.00
    # (village floor 10 % × 15,740,000 = 1,574,000.00 holds exactly)
    frame = run()
    a = frame[frame["community_id"] == "A"]
    by_tier = a.groupby("tier")["surplus_share"].sum()
    assert by_tier.to_dict() == {"county": 9_444_000 * YUAN, "township": 4_722_000 * YUAN,
                                 "village": 1_574_000 * YUAN}
    assert a["surplus_share"].sum() == 15_740_000 * YUAN
    assert (a["overrun_share"] == 0).all()


def test_within_tier_weight_is_population_times_performance():
    frame = run()
    # county tier 9,444,000.00: HA 200,000 × 1.0, HA2 70,000 × 1.0 →
    # 944,400,000 fen × 200,000 / 270,000 = 699,555,555.56 → 699,555,556 (larger remainder),
    # HA2 244,844,444.44 → 244,844,444
    assert frame.loc["HA", "surplus_share"] == 699_555_556
    assert frame.loc["HA2", "surplus_share"] == 244_844_444
    # township tier 4,722,000.00: TA1 30,000 × 1.0 = 30,000; TA2 10,000 × 0.8 = 8,000 →
    # 472,200,000 × 30/38 = 372,789,473.68 → 372,789,474; TA2 99,410,526.32 → 99,410,526
    assert frame.loc["TA2", "performance_coefficient"] == 0.8
    assert frame.loc["TA2", "weight"] == 8_000.0
    assert frame.loc["TA1", "surplus_share"] == 372_789_474
    assert frame.loc["TA2", "surplus_share"] == 99_410_526
    # village tier 1,574,000.00: VA1 1,500 × 0.9, VA2 500 × 0.9 → 3 : 1 → 1,180,500.00 / 393,500.00
    assert frame.loc["VA1", "surplus_share"] == 1_180_500 * YUAN
    assert frame.loc["VA2", "surplus_share"] == 393_500 * YUAN
    assert "4,722,000.00 × 8,000 ÷ 38,000 = 994,105.26" in frame.loc["TA2", "explanation"]


def test_issue_overrun_borne_by_b_units():
    # B bears 4,420,000.00 → 6 : 3 : 1 → HB 2,652,000.00, TB1 1,326,000.00, VB1 442,000.00;
    # the private hospital PB is excluded in the sample config
    frame = run()
    assert frame.loc["HB", "overrun_share"] == 2_652_000 * YUAN
    assert frame.loc["TB1", "overrun_share"] == 1_326_000 * YUAN
    assert frame.loc["VB1", "overrun_share"] == 442_000 * YUAN
    assert frame.loc["PB", "tier"] == "excluded"
    assert frame.loc["PB", "overrun_share"] == 0
    assert frame.loc["HB", "net"] == -2_652_000 * YUAN


def test_contract_columns_types_and_external_units_left_out():
    frame = run().reset_index()
    assert list(frame.columns) == DISTRIBUTION_COLUMNS
    assert set(frame["unit_id"]) == set(UNITS["unit_id"][UNITS["community_id"].notna()])
    for col in ("surplus_share", "overrun_share", "net"):
        assert str(frame[col].dtype) == "int64"


def test_binding_village_floor():
    # ratios 6 : 3 : 1 but villages ≥ 20 %: village 20 % of 15,740,000 = 3,148,000.00;
    # the other 12,592,000.00 by 6 : 3 → 8,394,666.67 / 4,197,333.33
    tiers = tuple(t.model_copy(update={"floor_share": Decimal("0.2")}) if t.tier == "village" else t
                  for t in P.distribution.tiers)
    frame = run(params=with_section(P, "distribution", tiers=tiers))
    a = frame[frame["community_id"] == "A"].groupby("tier")["surplus_share"].sum()
    assert a["village"] == 3_148_000 * YUAN
    assert a["county"] == 839_466_667 and a["township"] == 419_733_333
    assert a.sum() == 15_740_000 * YUAN


def test_private_hospital_as_own_tier():
    tiers = P.distribution.tiers + (Tier(tier="private", label_zh="社会办医疗机构",
                                         categories=("private",), ratio=Decimal(1)),)
    params = with_section(P, "distribution", tiers=tiers, private_hospitals="own_tier")
    frame = run(params=params)
    # B has a private hospital: 4,420,000.00 by 6 : 3 : 1 : 1 would give villages 401,818.18 (1/11),
    # below their floor 10 % = 442,000.00 → villages held at 442,000.00 and the other
    # 3,978,000.00 by 6 : 3 : 1 → HB 2,386,800.00, TB1 1,193,400.00, PB 397,800.00
    assert frame.loc["PB", "tier"] == "private"
    assert frame.loc["VB1", "overrun_share"] == 442_000 * YUAN
    assert frame.loc["HB", "overrun_share"] == 2_386_800 * YUAN
    assert frame.loc["TB1", "overrun_share"] == 1_193_400 * YUAN
    assert frame.loc["PB", "overrun_share"] == 397_800 * YUAN
    assert frame[frame["community_id"] == "B"]["overrun_share"].sum() == 4_420_000 * YUAN
    # A has no private hospital: its tier drops out, A still splits 6 : 3 : 1
    assert frame[frame["community_id"] == "A"].groupby("tier")["surplus_share"].sum()["county"] \
        == 9_444_000 * YUAN


def test_own_tier_without_a_private_tier_is_a_config_error():
    problems = []
    run(params=with_section(P, "distribution", private_hospitals="own_tier"), problems=problems)
    assert "distribution.private_tier" in [p.rule for p in problems]


def test_tier_base_measure_dip_points_and_overrun_by_dip_fund_due():
    # county tier weighed by DIP points: HA 3,000 points, HA2 1,000 → 3 : 1 of 9,444,000.00
    tiers = tuple(t.model_copy(update={"base_measure": "dip_points"}) if t.tier == "county" else t
                  for t in P.distribution.tiers)
    params = with_section(P, "distribution", tiers=tiers, overrun_rule="by_dip_fund_due")
    dip_units = pd.DataFrame({"unit_id": s("HA", "HA2", "HB", "TB1"),
                              "points": [3000.0, 1000.0, 500.0, 100.0],
                              "fund_due": pd.array([0, 0, 600_000, 200_000], dtype="int64")})
    frame = run(params=params, measures=unit_measures(dip_units=dip_units))
    assert frame.loc["HA", "base_measure"] == "dip_points"
    assert frame.loc["HA", "surplus_share"] == 7_083_000 * YUAN
    assert frame.loc["HA2", "surplus_share"] == 2_361_000 * YUAN
    assert frame.loc["TA1", "base_measure"] == "service_population"
    # B's 4,420,000.00 by DIP fund due 6,000.00 : 2,000.00 → 3,315,000.00 / 1,105,000.00; VB1 none
    assert frame.loc["HB", "overrun_share"] == 3_315_000 * YUAN
    assert frame.loc["TB1", "overrun_share"] == 1_105_000 * YUAN
    assert frame.loc["VB1", "overrun_share"] == 0


def test_missing_measure_is_reported():
    params = with_section(P, "distribution", base_measure="work_points")
    problems = []
    run(params=params, problems=problems)
    assert "distribution.measure_missing" in [p.rule for p in problems]


def test_work_points_measure():
    workpoints = pd.DataFrame({"unit_id": s("TA1", "TA1", "TA2"), "period": s("2025Q1", "2025Q2", "2025Q1"),
                               "work_points": [100.0, 50.0, 150.0]})
    measures = unit_measures(workpoints=workpoints)
    assert dict(zip(measures["unit_id"], measures["work_points"])) == {"TA1": 150.0, "TA2": 150.0}


def test_missing_unit_score_is_an_error_and_weighs_zero():
    problems = []
    frame = run(scores=SCORES[SCORES["entity_id"] != "TA2"], problems=problems)
    assert frame.loc["TA2", "surplus_share"] == 0
    assert frame.loc["TA1", "surplus_share"] == 4_722_000 * YUAN
    assert [(p.rule, p.severity, p.value) for p in problems] == [
        ("distribution.score_missing", "error", "TA2")]


def test_zero_weight_tier_is_reported_and_split_evenly():
    units = UNITS.copy()
    units.loc[units["category"] == "village_clinic", "service_population"] = 0
    problems = []
    frame = run(units=units, problems=problems)
    assert [p.rule for p in problems] == ["distribution.unallocatable"] * 2  # A and B villages
    assert frame.loc["VA1", "surplus_share"] == frame.loc["VA2", "surplus_share"] == 787_000 * YUAN
