"""The quarterly public-health prepayment plan (季度预拨方案, issue 10 point 5, seed 004):
a hand-built three-unit county whose plan under both rules is derived here, Σ plan == pool,
the year-end balance = allocation − plan, netting against actual prepayments."""

from decimal import Decimal
from fractions import Fraction

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.params import PublicHealthParams, ScoreRule, Tier
from settlement.reconcile.lines import public_health_lines
from settlement.stages.public_health import settle_public_health
from settlement.stages.public_health_plan import planned_of, quarter_of, quarter_shares

YEAR = 2025
UNITS = pd.DataFrame({"unit_id": pd.array(["T1", "V1", "V2"], dtype="string"),
                      "community_id": pd.array(["C1"] * 3, dtype="string"),
                      "category": pd.array(["township_center", "village_clinic", "village_clinic"],
                                           dtype="string")})
# 10,001 residents × 1 元, nothing reserved: the year's pool 1,000,100 fen, 250,025 a quarter
COMMUNITIES = pd.DataFrame({"community_id": pd.array(["C1"], dtype="string"),
                            "resident_population": [10_001]})
ONE_TIER = (Tier(tier="all", label_zh="全部", categories=("township_center", "village_clinic"),
                 ratio=Decimal(1)),)
# (unit, quarter, work points, score); proportional quality: weight = points × score / 100
POINTS = [("T1", "2024Q4", 50, 100), ("V1", "2024Q4", 50, 100), ("V2", "2024Q4", 100, 100),
          ("T1", "2025Q1", 100, 100), ("V1", "2025Q1", 200, 50), ("V2", "2025Q1", 300, 100),
          ("T1", "2025Q2", 100, 100), ("V1", "2025Q2", 100, 100), ("V2", "2025Q2", 100, 100),
          ("T1", "2025Q3", 200, 100), ("V1", "2025Q3", 100, 80), ("V2", "2025Q3", 100, 100),
          ("T1", "2025Q4", 1, 100), ("V1", "2025Q4", 1, 100), ("V2", "2025Q4", 2, 100)]


def params(**changes) -> PublicHealthParams:
    base = dict(per_capita_standard=Decimal(1), county_reserved_share=Decimal(0),
                two_diseases_pool=Decimal(0), tiers=ONE_TIER, tier_basis="ratio",
                quality_score_rule=ScoreRule(method="proportional"))
    return PublicHealthParams(**{**base, **changes})


def workpoints(rows=POINTS):
    rows = [r if len(r) == 5 else (*r, "basic") for r in rows]
    return pd.DataFrame(rows, columns=["unit_id", "period", "work_points", "quality_score",
                                       "pool"]).astype({"unit_id": "string", "period": "string",
                                                        "pool": "string", "work_points": "float64",
                                                        "quality_score": "float64"})


def largest_remainder(amount, weights):
    """Whole fen of each exact quota, then 1 fen each to the largest remainders (ties: id)."""
    total = sum(weights.values())
    quotas = {k: Fraction(amount) * Fraction(w) / total for k, w in weights.items()}
    parts = {k: int(q) for k, q in quotas.items()}
    order = sorted(quotas, key=lambda k: (-(quotas[k] - parts[k]), k))
    for k in order[:amount - sum(parts.values())]:
        parts[k] += 1
    return parts


def run(p, prepayments=None, rows=POINTS):
    return settle_public_health(communities=COMMUNITIES, units=UNITS, workpoints=workpoints(rows),
                                prepayments=prepayments, params=p, year=YEAR)


def plan_of(result, pool="basic"):
    plan = result.plan[result.plan["pool"] == pool]
    return {(u, q): int(v) for u, q, v in zip(plan["unit_id"], plan["quarter"], plan["planned"])}


# weights of each quarter (proportional): Q1 T1 100, V1 200 × 0.5 = 100, V2 300; Q2 100 each;
# Q3 200, 80, 100; the previous year (2024Q4) 50, 50, 100
BASE = {"T1": 50, "V1": 50, "V2": 100}
Q1 = {"T1": 100, "V1": 100, "V2": 300}
Q2 = {"T1": 100, "V1": 100, "V2": 100}
Q3 = {"T1": 200, "V1": 80, "V2": 100}


def test_quarter_shares_and_the_prepayment_ratio_use_the_allocator():
    assert quarter_shares(1_000_100, YEAR) == {f"2025Q{i}": 250_025 for i in (1, 2, 3, 4)}
    # 100,001 fen: the odd fen to the first quarter
    assert list(quarter_shares(100_001, YEAR).values()) == [25_001, 25_000, 25_000, 25_000]
    # 90 % of 250,025 = 225,022.5: the tie (.5 / .5) goes to the id first in order, "held"
    assert planned_of(250_025, Decimal("0.9")) == 225_022
    assert planned_of(250_025, Decimal(1)) == 250_025 and planned_of(250_025, Decimal(0)) == 0
    assert [quarter_of(p) for p in ("2025Q3", "2025-05", "2025-12", "2025", "x")] == [
        "2025Q3", "2025Q2", "2025Q4", "", ""]


def test_plan_by_assessed_work_points_of_the_previous_quarter():
    result = run(params(plan_rule="by_assessed_work_points", plan_q1_basis="previous_year"))
    got = plan_of(result)
    # Q1 on last year's weights 50:50:100 → 62,506.25 / 62,506.25 / 125,012.5 → the fen to V2
    # Q2 on Q1's 100:100:300 → 50,005 / 50,005 / 150,015 (exact)
    # Q3 on Q2's equal weights → 83,341.67 each, 2 fen to the ties by id: T1, V1
    # Q4 on Q3's 200:80:100 (Σ 380) → 131,592.11 / 52,636.84 / 65,796.05 → the fen to V1
    expected = {"2025Q1": {"T1": 62_506, "V1": 62_506, "V2": 125_013},
                "2025Q2": {"T1": 50_005, "V1": 50_005, "V2": 150_015},
                "2025Q3": {"T1": 83_342, "V1": 83_342, "V2": 83_341},
                "2025Q4": {"T1": 131_592, "V1": 52_637, "V2": 65_796}}
    for quarter, weights in zip(expected, (BASE, Q1, Q2, Q3)):
        assert largest_remainder(250_025, weights) == expected[quarter]
        assert {u: got[(u, quarter)] for u in UNITS["unit_id"]} == expected[quarter]
        assert sum(expected[quarter].values()) == 250_025  # Σ plan == the pool's quarter
    assert sum(got.values()) == 1_000_100  # Σ plan == the year's pool
    basis = result.plan.set_index(["unit_id", "quarter"])["basis"]
    assert basis[("T1", "2025Q1")] == "上年度（2024 年）考核加权工分"
    assert basis[("T1", "2025Q4")] == "2025 年第 3 季度考核加权工分"


def test_year_end_balance_is_allocation_less_the_plan():
    result = run(params(plan_rule="by_assessed_work_points", plan_q1_basis="previous_year"))
    t = result.allocation.set_index("unit_id")
    # the year's weights Σ_q: T1 100 + 100 + 200 + 1 = 401, V1 100 + 100 + 80 + 1 = 281,
    # V2 300 + 100 + 100 + 2 = 502
    allocation = largest_remainder(1_000_100, {"T1": 401, "V1": 281, "V2": 502})
    assert t["allocation"].to_dict() == allocation
    planned = {"T1": 62_506 + 50_005 + 83_342 + 131_592, "V1": 62_506 + 50_005 + 83_342 + 52_637,
               "V2": 125_013 + 150_015 + 83_341 + 65_796}
    assert t["prepaid"].to_dict() == planned
    assert t["balance"].to_dict() == {u: allocation[u] - planned[u] for u in allocation}
    assert t["balance"].sum() == 0  # Σ plan == pool == Σ allocation
    assert "按季度预拨方案计已预拨" in t.loc["T1", "explanation"]
    assert not [p for p in result.problems if p.rule == "public_health.plan_difference"]


@pytest.mark.parametrize("q1_basis, each_quarter", [
    ("previous_year", {"T1": 62_506, "V1": 62_506, "V2": 125_013}),  # 50 : 50 : 100
    ("equal", {"T1": 83_342, "V1": 83_342, "V2": 83_341}),  # alike; the 2 fen to T1, V1
])
def test_equal_quarters_use_the_base_every_quarter(q1_basis, each_quarter):
    result = run(params(plan_rule="equal", plan_q1_basis=q1_basis))
    got = plan_of(result)
    for quarter in ("2025Q1", "2025Q2", "2025Q3", "2025Q4"):
        assert {u: got[(u, quarter)] for u in each_quarter} == each_quarter
    assert sum(got.values()) == 1_000_100


def test_without_last_year_the_base_is_equal_and_said_so():
    this_year = [r for r in POINTS if not r[1].startswith("2024")]
    result = run(params(plan_rule="by_assessed_work_points"), rows=this_year)
    got = plan_of(result)
    assert [got[(u, "2025Q1")] for u in ("T1", "V1", "V2")] == [83_342, 83_342, 83_341]
    assert "public_health.plan_base_equal" in [p.rule for p in result.problems]


def test_a_prepayment_ratio_holds_part_of_each_quarter_back():
    result = run(params(plan_rule="equal", plan_q1_basis="equal",
                        plan_prepayment_ratio=Decimal("0.9")))
    plan = result.plan
    # each quarter 225,022 of 250,025 planned (see planned_of), split alike: 75,008 / 75,007 / …
    assert plan.groupby("quarter")["planned"].sum().tolist() == [225_022] * 4
    q1 = plan[plan["quarter"] == "2025Q1"].set_index("unit_id")["planned"].to_dict()
    assert q1 == largest_remainder(225_022, {"T1": 1, "V1": 1, "V2": 1}) == {
        "T1": 75_008, "V1": 75_007, "V2": 75_007}
    t = result.allocation.set_index("unit_id")
    assert t["balance"].sum() == 1_000_100 - 4 * 225_022  # the held-back part is paid at year end


def test_actual_prepayments_are_netted_and_differences_listed_per_unit_and_quarter():
    paid = pd.DataFrame({"payment_id": ["P1", "P2", "P3"], "payee_id": ["T1", "V1", "T1"],
                         "fund": ["public_health", "public_health", "dip"],
                         "period": ["2025Q1", "2025-02", "2025-01"],
                         "amount": [62_506, 60_000, 5]}).astype({"amount": "int64"})
    result = run(params(plan_rule="by_assessed_work_points"), prepayments=paid)
    t = result.allocation.set_index("unit_id")
    allocation = largest_remainder(1_000_100, {"T1": 401, "V1": 281, "V2": 502})
    # actual prepayments count: T1 62,506 (Q1), V1 60,000 (February → Q1), V2 nothing
    assert t["prepaid"].to_dict() == {"T1": 62_506, "V1": 60_000, "V2": 0}
    assert t["balance"].to_dict() == {"T1": allocation["T1"] - 62_506,
                                      "V1": allocation["V1"] - 60_000, "V2": allocation["V2"]}
    plan = result.plan.set_index(["unit_id", "quarter"])
    assert plan.loc[("T1", "2025Q1"), "difference"] == 0
    assert plan.loc[("V1", "2025Q1"), "difference"] == 60_000 - 62_506
    assert plan.loc[("T1", "2025Q2"), ["planned", "prepaid", "difference"]].tolist() == [
        50_005, 0, -50_005]
    warned = [p for p in result.problems if p.rule == "public_health.plan_difference"]
    assert [p.value for p in warned] == ["T1", "V1", "V2"]  # one per unit, its quarters listed
    assert "2025 年第 1 季度" not in warned[0].message_zh  # T1's Q1 agrees
    assert "2025 年第 1 季度 实际 600.00 元 / 方案 625.06 元（差额 -25.06 元）" in warned[1].message_zh


def test_two_diseases_pool_is_paid_by_each_quarters_own_assessment():
    rows = POINTS + [("T1", "2025Q1", 10, 100, "two_diseases"), ("V1", "2025Q1", 30, 100, "two_diseases"),
                     ("T1", "2025Q2", 30, 100, "two_diseases"), ("V1", "2025Q2", 10, 100, "two_diseases"),
                     ("T1", "2025Q3", 1, 100, "two_diseases"), ("T1", "2025Q4", 1, 100, "two_diseases")]
    result = run(params(two_diseases_pool=Decimal("1000.00")), rows=rows)
    got = plan_of(result, "two_diseases")
    # 100,000 fen, 25,000 a quarter: Q1 10:30 → 6,250 / 18,750; Q2 30:10 → 18,750 / 6,250;
    # Q3, Q4 T1 alone → 25,000 each
    assert got == {("T1", "2025Q1"): 6_250, ("V1", "2025Q1"): 18_750,
                   ("T1", "2025Q2"): 18_750, ("V1", "2025Q2"): 6_250,
                   ("T1", "2025Q3"): 25_000, ("T1", "2025Q4"): 25_000}
    two = result.allocation[result.allocation["pool"] == "two_diseases"].set_index("unit_id")
    assert two["allocation"].to_dict() == {"T1": 75_000, "V1": 25_000}
    # a year-summed split (T1 42, V1 40) would have given 51,220 / 48,780
    assert largest_remainder(100_000, {"T1": 42, "V1": 40}) == {"T1": 51_220, "V1": 48_780}
    assert two["balance"].tolist() == [0, 0]  # paid quarter by quarter on the same numbers


def test_statement_shows_each_quarter_and_nets_to_the_balance():
    result = run(params(plan_rule="by_assessed_work_points"))
    lines = public_health_lines(result.allocation, result.plan)
    t1 = lines[lines["unit_id"] == "T1"].set_index("line")
    assert t1.loc["public_health.basic.2025Q2.prepaid", "label_zh"] == \
        "减：基本公共卫生服务经费2025 年第 2 季度预拨"
    assert t1.loc["public_health.basic.2025Q2.prepaid", "amount"] == -50_005
    assert "依据2025 年第 1 季度考核加权工分" in t1.loc["public_health.basic.2025Q2.prepaid",
                                                     "explanation"]
    balance = result.allocation.set_index("unit_id").loc["T1", "balance"]
    assert t1["amount"].sum() == balance


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["T1", "V1", "V2"]),
                          st.sampled_from(["2024Q4", "2025Q1", "2025Q2", "2025Q3", "2025Q4"]),
                          st.integers(1, 10_000), st.integers(0, 100)),
                min_size=1, max_size=15, unique_by=lambda r: (r[0], r[1])),
       st.integers(1, 3_000_000), st.sampled_from(["equal", "by_assessed_work_points"]),
       st.sampled_from(["previous_year", "equal"]))
def test_every_quarter_of_the_plan_adds_up_to_its_share(rows, population, rule, q1_basis):
    communities = COMMUNITIES.assign(resident_population=[population])
    result = settle_public_health(communities=communities, units=UNITS,
                                  workpoints=workpoints(rows), prepayments=None,
                                  params=params(plan_rule=rule, plan_q1_basis=q1_basis), year=YEAR)
    by_quarter = result.plan.groupby("quarter")["planned"].sum()
    shares = quarter_shares(population * 100, YEAR)
    for quarter, share in shares.items():
        # a quarter whose basis weighs nobody (every score 0) plans nothing: else the share
        assert by_quarter.get(quarter, 0) in (0, share)
        if rule == "equal" and q1_basis == "equal":  # nobody can weigh 0: every fen planned
            assert by_quarter[quarter] == share
    t = result.allocation
    assert (t["balance"] == t["allocation"] - t["prepaid"]).all()
    assert t["prepaid"].sum() == result.plan["planned"].sum()


def test_the_sample_countys_prepayments_follow_its_quarterly_plan():
    """sample_data/prepayments.csv pays the basic pool by the sample config's plan rule (the
    generator writes the engine's own plan): no unit differs from the plan in any quarter, so
    the sample run lists no public_health.plan_difference; Q1 is equal within each tier (the
    sample has no 2024 work points) and Q2–Q4 differ by unit (each on the quarter before)."""
    from pathlib import Path

    from settlement.config import load_config, resolve
    from settlement.loader import load_folder
    from settlement.schema import contract

    root = Path(__file__).resolve().parent.parent
    names = ("communities", "units", "public_health_workpoints", "prepayments")
    schemas = contract()
    t = load_folder(root / "sample_data", {k: schemas[k] for k in names}).tables
    p = resolve(load_config(root / "configs" / "sample-county.yaml")).params.public_health
    assert p.plan_rule == "by_assessed_work_points" and p.plan_prepayment_ratio == 1
    result = settle_public_health(communities=t["communities"], units=t["units"],
                                  workpoints=t["public_health_workpoints"],
                                  prepayments=t["prepayments"], params=p, year=YEAR)
    assert not [q for q in result.problems if q.rule == "public_health.plan_difference"]
    basic = result.plan[result.plan["pool"] == "basic"]
    assert (basic["difference"] == 0).all() and (basic["prepaid"] == basic["planned"]).all()
    paid = t["prepayments"][t["prepayments"]["fund"] == "public_health"]
    assert int(paid["amount"].sum()) == int(basic["planned"].sum())
    q1 = basic[basic["quarter"] == "2025Q1"].groupby(["community_id", "tier"])["planned"]
    assert (q1.max() - q1.min() <= 1).all()  # equal shares, the allocator's odd fen apart
    q2 = basic[basic["quarter"] == "2025Q2"].groupby(["community_id", "tier"])["planned"]
    assert (q2.max() - q2.min() > 1).any()
