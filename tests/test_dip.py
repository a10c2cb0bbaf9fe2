"""DIP/DRG settlement (issue 3): scenario tests a finance officer can check by hand.

Every expected number is derived in the test, with the arithmetic in the comment or the
expression. Money is int64 fen in the frames; ``fen("12.34")`` turns yuan into fen exactly.
The helpers at the top build small input frames exactly as the loader gives them; the
property tests (test_dip_properties.py) reuse them.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from settlement.money import fen_of
from settlement.params import DipParams
from settlement.dip.stage import DipResult, settle_dip
from settlement.dip.explain import explain_cases

BASE_PARAMS = dict(
    payment_method="dip", low_bound="0.5", high_bound="2.0", low_bound_inclusive=True,
    high_bound_inclusive=True, extreme_ratio_bound="5",
    level_coefficients={"tertiary": "1.0", "secondary": "0.9", "primary": "0.8", "unrated": "0.8"},
    unmatched_policy="paid_at_cost", fund_budget="800000000", reimbursement_ratio="0.64",
    point_value_mode="computed", point_value_decimals=4, budget_point_value="19.50",
    quality_withhold_rate="0.05", quality_score_rule={"method": "proportional"},
    drg_low_bound="0.4", drg_high_bound="3.0", drg_extreme_ratio_bound="5",
)


def params(**overrides) -> DipParams:
    return DipParams.model_validate(BASE_PARAMS | overrides)


def S(values) -> pd.Series:
    return pd.Series(values, dtype="string")


def fen(yuan) -> int:
    """Yuan (int, str or Decimal) → fen, exactly."""
    return int(Decimal(str(yuan)) * 100)


def units_frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (unit_id, community_id or None, category, level, dip_coefficient or None)."""
    ids, communities, categories, levels, coefs = zip(*rows)
    return pd.DataFrame({
        "unit_id": S(ids), "unit_name": S([f"机构{i}" for i in ids]), "community_id": S(communities),
        "category": S(categories), "level": S(levels), "scope": S(["county"] * len(ids)),
        "parent_unit_id": S([None] * len(ids)), "service_population": np.zeros(len(ids), "int64"),
        "dip_coefficient": np.array([np.nan if c is None else c for c in coefs], dtype="float64")})


UNITS = units_frame([
    ("H3", "C1", "lead_hospital", "tertiary", None),
    ("H2", "C1", "county_hospital", "secondary", None),
    ("HX", "C2", "county_hospital", "secondary", 0.95),
    ("T1", "C2", "township_center", "primary", None),
    ("EXT", None, "external", "tertiary", None),
])


def groups_frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (group_code, score, group_type)."""
    codes, scores, types = zip(*rows)
    return pd.DataFrame({"group_code": S(codes), "group_name": S(codes),
                         "score": np.array(scores, dtype="float64"), "group_type": S(types)})


GROUPS = groups_frame([("G500", 500.0, "core"), ("B100", 100.0, "basic")])


def refs_frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (group_code, level, avg_cost in yuan)."""
    codes, levels, costs = zip(*rows)
    return pd.DataFrame({"group_code": S(codes), "level": S(levels),
                         "avg_cost": np.array([fen(c) for c in costs], dtype="int64")})


REFS = refs_frame([(g, lv, 10_000) for g in ("G500", "B100")
                   for lv in ("tertiary", "secondary", "primary", "unrated")])


def cases_frame(rows: list[dict]) -> pd.DataFrame:
    """Each row: unit_id, total_cost (yuan); optional dip_group (default G500), self_pay,
    fund_paid, violation_deduction (yuan), special_points, community_id, case_id."""
    n = len(rows)
    get = lambda key, default: [r.get(key, default) for r in rows]  # noqa: E731
    total = [fen(c) for c in get("total_cost", 0)]
    return pd.DataFrame({
        "case_id": S(get("case_id", None) if all("case_id" in r for r in rows)
                     else [f"K{i:06d}" for i in range(n)]),
        "person_id": S([f"P{i}" for i in range(n)]),
        "community_id": S(get("community_id", "C1")),
        "unit_id": S(get("unit_id", "H3")),
        "admission_date": pd.to_datetime(["2025-03-01"] * n),
        "discharge_date": pd.to_datetime(["2025-03-08"] * n),
        "dip_group": S(get("dip_group", "G500")),
        "total_cost": np.array(total, dtype="int64"),
        "self_pay": np.array([fen(v) for v in get("self_pay", 0)], dtype="int64"),
        "fund_paid": np.array([fen(v) for v in get("fund_paid", 0)], dtype="int64"),
        "referral": np.zeros(n, dtype=bool), "childbirth": np.zeros(n, dtype=bool),
        "special_points": np.array(get("special_points", np.nan), dtype="float64"),
        "violation_deduction": np.array([fen(v) for v in get("violation_deduction", 0)],
                                        dtype="int64"),
    })


def scores_frame(scores: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"entity_type": S(["unit"] * len(scores)), "entity_id": S(list(scores)),
                         "score": np.array(list(scores.values()), dtype="float64")})


SCORES = scores_frame({"H3": 90, "H2": 80, "HX": 100, "T1": 70})


def prepayments_frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (payee_id, fund, period, amount in yuan)."""
    payees, funds, periods, amounts = zip(*rows) if rows else ((), (), (), ())
    return pd.DataFrame({"payment_id": S([f"PP{i}" for i in range(len(rows))]),
                         "payee_id": S(payees), "fund": S(funds), "period": S(periods),
                         "amount": np.array([fen(a) for a in amounts], dtype="int64")})


def run(cases: list[dict] | pd.DataFrame, *, units=UNITS, groups=GROUPS, refs=REFS,
        scores=SCORES, prepayments=None, explain="rule", **overrides) -> DipResult:
    frame = cases if isinstance(cases, pd.DataFrame) else cases_frame(cases)
    return settle_dip(frame, units, groups, refs, scores, prepayments, params(**overrides),
                      explain=explain)


def unit_row(result: DipResult, unit_id: str) -> pd.Series:
    return result.units.set_index("unit_id").loc[unit_id]


def balanced(result: DipResult) -> bool:
    return bool(result.ledger.groupby("section")["amount"].sum().eq(0).all())


CONTRACT_CASE_COLUMNS = ["case_id", "unit_id", "community_id", "dip_group", "ratio", "case_class",
                         "base_score", "coefficient", "points", "gross_value", "fund_due"]
CONTRACT_UNIT_COLUMNS = ["unit_id", "cases", "points", "point_value", "gross_value", "self_pay",
                         "violation_deduction", "fund_due", "withheld", "returned", "fund_paid",
                         "prepaid", "balance"]
PUBLISHED_20 = dict(point_value_mode="published", published_point_value="20")


# ---------------------------------------------------------------- case scoring
@pytest.mark.parametrize("cost, case_class, points, derivation", [
    (4_000, "low", 200, 500 * (4_000 / 10_000)),  # r = 0.4 < 0.5 → score × r
    (9_000, "normal", 500, 500),  # r = 0.9 → score
    (5_000, "normal", 500, 500),  # r = 0.5: the bound is normal (inclusive)
    (20_000, "normal", 500, 500),  # r = 2.0: the bound is normal (inclusive)
    (25_000, "high", 750, 500 * (2.5 - 2.0 + 1)),  # r = 2.5 → score × (r − 2 + 1)
])
def test_guangzhou_worked_rule(cost, case_class, points, derivation):
    # score 500, reference cost 10,000 元, tertiary hospital (coefficient 1.0)
    case = run([{"unit_id": "H3", "total_cost": cost}]).cases.iloc[0]
    assert case["ratio"] == cost / 10_000
    assert case["case_class"] == case_class
    assert case["points"] == points == derivation
    assert case["coefficient"] == 1.0 and case["base_score"] == 500


def test_point_value_and_hospital_settlement_example():
    # Σ points 62,500,000: hospital A 2,000 cases × 500 = 1,000,000 points (self-pay 3,600 元
    # each = 7,200,000), hospital B 100 cases × 615,000 = 61,500,000 points.
    units = units_frame([("A", "C1", "lead_hospital", "tertiary", None),
                         ("B", "C1", "county_hospital", "tertiary", None)])
    groups = groups_frame([("G500", 500.0, "core"), ("BIG", 615_000.0, "core")])
    refs = refs_frame([("G500", "tertiary", 10_000), ("BIG", "tertiary", 10_000)])
    cases = ([{"unit_id": "A", "total_cost": 10_000, "self_pay": 3_600}] * 2_000
             + [{"unit_id": "B", "dip_group": "BIG", "total_cost": 10_000}] * 100)
    result = run(cases, units=units, groups=groups, refs=refs,
                 scores=scores_frame({"A": 90, "B": 100}), point_value_decimals=2,
                 fund_budget="800000000", reimbursement_ratio="0.64")
    # point value = (800,000,000 ÷ 0.64) ÷ 62,500,000 = 1,250,000,000 ÷ 62,500,000 = 20.00
    assert result.summary.point_value.total_points == 62_500_000
    assert result.summary.point_value.settlement == Decimal("20.00")
    a = unit_row(result, "A")
    assert a["points"] == 1_000_000 and a["point_value"] == "20.00"
    assert a["gross_value"] == fen(1_000_000 * 20)  # 20,000,000.00
    assert a["self_pay"] == fen(2_000 * 3_600)  # 7,200,000.00
    fund_due = 20_000_000 - 7_200_000
    assert a["fund_due"] == fen(fund_due) == fen("12800000.00")
    withheld = Decimal(fund_due) * Decimal("0.05")
    assert a["withheld"] == fen(withheld) == fen("640000.00")
    returned = withheld * Decimal(90) / 100  # proportional rule: score 90 → 0.9
    assert a["returned"] == fen(returned) == fen("576000.00")
    assert a["fund_paid"] == fen(fund_due - withheld + returned) == fen("12736000.00")
    # the pool is exactly paid out: no rounding line
    lines = result.ledger.set_index(["section", "line"])["amount"]
    assert lines["pool", "dip_pool"] == fen(1_250_000_000)
    assert lines["pool", "point_value_difference"] == 0 and lines["pool", "unit_rounding"] == 0
    assert balanced(result)


@pytest.mark.parametrize("low_inclusive, high_inclusive, cost, case_class, points", [
    (False, True, 5_000, "low", 500 * 0.5),  # r = 0.5 is low when the bound is exclusive
    (True, False, 20_000, "high", 500 * (2.0 - 2.0 + 1)),  # r = 2.0 is high: score × 1
    (False, False, 9_000, "normal", 500),
    (True, True, 4_999, "low", 500 * 0.4999),  # just under the bound
])
def test_bound_inclusivity_is_a_parameter(low_inclusive, high_inclusive, cost, case_class, points):
    result = run([{"total_cost": cost}], low_bound_inclusive=low_inclusive,
                 high_bound_inclusive=high_inclusive, explain="full")
    case = result.cases.iloc[0]
    assert case["case_class"] == case_class
    assert case["points"] == pytest.approx(points, abs=1e-9)
    if case_class == "low" and not low_inclusive:
        assert "倍率 0.5 ≤ 0.5" in case["explanation"]


def test_level_coefficient_unit_override_and_basic_groups():
    cases = [
        {"unit_id": "H3", "total_cost": 10_000},  # tertiary 1.0 → 500 × 1.0 = 500
        {"unit_id": "H2", "total_cost": 10_000},  # secondary 0.9 → 500 × 0.9 = 450
        {"unit_id": "T1", "total_cost": 10_000},  # primary 0.8 → 500 × 0.8 = 400
        {"unit_id": "HX", "total_cost": 10_000},  # secondary, own coefficient 0.95 → 475
        {"unit_id": "H2", "dip_group": "B100", "total_cost": 10_000},  # basic → 100 × 1
        {"unit_id": "HX", "dip_group": "B100", "total_cost": 10_000},  # basic beats override
    ]
    got = run(cases).cases
    assert got["points"].tolist() == pytest.approx([500, 450, 400, 475, 100, 100])
    assert got["coefficient"].tolist() == [1.0, 0.9, 0.8, 0.95, 1.0, 1.0]
    assert got["coefficient_source"].tolist() == ["level", "level", "level", "unit", "basic",
                                                  "basic"]


def test_approved_special_points_replace_the_formula():
    # r = 60,000 / 10,000 = 6 would be high (and flagged), but 1,234.5 points were approved
    case = {"unit_id": "H2", "total_cost": 60_000, "special_points": 1234.5}
    got = run([case]).cases.iloc[0]
    assert (got["case_class"], got["points"], got["coefficient"]) == ("special", 1234.5, 1.0)
    assert not got["review_flag"] and got["approved_points"] == 1234.5
    # a county may apply the level coefficient to approved points: 1,234.5 × 0.9 = 1,111.05
    scaled = run([case], special_points_apply_coefficient=True).cases.iloc[0]
    assert scaled["points"] == pytest.approx(1234.5 * 0.9) == 1111.05


def test_unmatched_case_paid_at_cost():
    cases = [{"unit_id": "H3", "total_cost": 10_000, "self_pay": 2_000},  # 500 points
             {"unit_id": "H3", "dip_group": None, "total_cost": 5_000, "self_pay": 1_000,
              "fund_paid": 4_000, "violation_deduction": 100}]
    result = run(cases, **PUBLISHED_20)
    unmatched = result.cases.iloc[1]
    assert (unmatched["case_class"], unmatched["settlement"]) == ("unmatched", "at_cost")
    assert unmatched["points"] == 0 and unmatched["gross_value"] == 0
    assert unmatched["fund_due"] == fen(4_000 - 100)  # fund_paid − violation
    h3 = unit_row(result, "H3")
    assert h3["cases"] == 2 and h3["at_cost"] == fen(4_000)
    # gross 500 × 20 = 10,000; + at cost 4,000 − self-pay of scored cases 2,000 − violation 100
    assert h3["fund_due"] == fen(10_000 + 4_000 - 2_000 - 100)
    assert balanced(result)


def test_unmatched_case_excluded_with_reason():
    cases = [{"unit_id": "H3", "total_cost": 10_000, "self_pay": 2_000},
             {"unit_id": "H3", "dip_group": None, "total_cost": 5_000, "fund_paid": 4_000,
              "violation_deduction": 100}]
    result = run(cases, unmatched_policy="excluded", **PUBLISHED_20)
    excluded = result.cases.iloc[1]
    assert excluded["settlement"] == "excluded" and excluded["fund_due"] == 0
    assert excluded["excluded_reason"] == "未入组病例，按规定不予结算"
    h3 = unit_row(result, "H3")
    assert (h3["cases"], h3["excluded_cases"], h3["at_cost"]) == (1, 1, 0)
    assert h3["fund_due"] == fen(10_000 - 2_000)  # the excluded case's violation is not counted
    assert [p.rule for p in result.problems] == ["dip.excluded_cases"]


def test_extreme_ratio_is_flagged_and_keeps_the_high_formula():
    result = run([{"total_cost": 60_000}, {"total_cost": 50_000}])
    flagged, at_bound = result.cases.iloc[0], result.cases.iloc[1]
    assert flagged["review_flag"] and flagged["points"] == 500 * (6 - 2 + 1)  # 2,500
    assert not at_bound["review_flag"]  # r = 5 is not above the bound
    assert at_bound["points"] == 500 * (5 - 2 + 1)  # 2,000
    assert unit_row(result, "H3")["review_cases"] == 1
    (problem,) = result.problems
    assert problem.rule == "dip.extreme_ratio" and problem.severity == "warning"
    assert "待专家评议" in result.cases["explanation"].iloc[0]


# ---------------------------------------------------------------- DRG
DRG_GROUPS = groups_frame([("D12", 1.2, "core")])  # the catalogue gives RW 1.2
DRG_REFS = refs_frame([("D12", "tertiary", 10_000)])


@pytest.mark.parametrize("cost, case_class, points", [
    (3_000, "low", 120 * 0.3),  # base 1.2 × 100 = 120 points; r = 0.3 < 0.4 → 120 × 0.3 = 36
    (4_000, "normal", 120),  # r = 0.4: the DRG low bound, inclusive
    (25_000, "normal", 120),  # r = 2.5: high under DIP (2.0), normal under DRG (3.0)
    (35_000, "high", 120 * (3.5 - 3 + 1)),  # r = 3.5 > 3 → 120 × 1.5 = 180
])
def test_drg_points_use_rw_and_their_own_bounds(cost, case_class, points):
    result = run([{"dip_group": "D12", "total_cost": cost}], groups=DRG_GROUPS, refs=DRG_REFS,
                 payment_method="drg", explain="full")
    case = result.cases.iloc[0]
    assert case["base_score"] == 120 and case["case_class"] == case_class
    assert case["points"] == pytest.approx(points, abs=1e-9)
    assert "DRG 基准点数（RW × 100）" in case["explanation"]
    assert balanced(result)


def test_drg_payment_by_rate_per_rw():
    # payment = RW × rate: 1.2 × 10,000 元 = 12,000 元, i.e. 120 points at 10,000 ÷ 100 = 100 元
    result = run([{"dip_group": "D12", "total_cost": 10_000, "self_pay": 3_000}],
                 groups=DRG_GROUPS, refs=DRG_REFS, payment_method="drg",
                 drg_rate_per_rw="10000")
    pv = result.summary.point_value
    assert (pv.method, pv.settlement) == ("drg_rate", Decimal(100))
    h3 = unit_row(result, "H3")
    assert h3["gross_value"] == fen(Decimal("1.2") * 10_000)
    assert h3["fund_due"] == fen(12_000 - 3_000)
    assert balanced(result)


def test_drg_needs_its_bounds():
    with pytest.raises(ValueError, match="drg_low_bound"):
        params(payment_method="drg", drg_low_bound=None)


def test_published_point_value_needs_a_value():
    with pytest.raises(ValueError, match="published_point_value"):
        params(point_value_mode="published")
    with pytest.raises(ValueError, match="published_point_value"):
        params(point_value_mode="region")  # the region's value is given as published


# ---------------------------------------------------------------- point value and ledger
def test_computed_point_value_rounding_is_a_ledger_line():
    # pool = 1,000 ÷ 0.6 = 1,666.666… → 1,666.67 元; Σ points = 200 + 750 = 950;
    # point value = 1,666.666… ÷ 950 = 1.754385… → 1.7544 (4 decimals, half up);
    # units get 950 × 1.7544 = 1,666.68 元: 0.01 more than the pool, named 点值取整差额.
    result = run([{"total_cost": 4_000}, {"total_cost": 25_000}], fund_budget="1000",
                 reimbursement_ratio="0.6")
    assert result.summary.point_value.settlement == Decimal("1.7544")
    lines = result.ledger.set_index(["section", "line"])["amount"]
    assert lines["pool", "dip_pool"] == fen("1666.67")
    assert lines["pool", "units_gross"] == -fen(Decimal(950) * Decimal("1.7544"))  # −1,666.68
    assert lines["pool", "point_value_difference"] == -(fen("1666.67") - fen("1666.68"))  # +0.01
    assert lines["pool", "unit_rounding"] == 0
    assert result.ledger.loc[result.ledger["line"].eq("point_value_difference"),
                             "label_zh"].item() == "点值取整差额"
    assert balanced(result)


def test_at_the_region_point_value_the_ledger_starts_from_the_countys_own_money():
    # A county of a pooling region (point_value_mode region, the region's value 0.0333 元/分):
    # the budget 1,000 ÷ 0.6 = 1,666.67 元 is the REGION's pool, not the county's. The county's
    # two units of 1 point each: its money 2 × 0.0333 = 0.0666 → 0.07 元, the units 0.03 + 0.03;
    # the region section: 1,666.67 − 0.07 = 1,666.60 元 is the rest of the region.
    cases = [{"unit_id": "H3", "special_points": 1.0}, {"unit_id": "H2", "special_points": 1.0}]
    result = run(cases, point_value_mode="region", published_point_value="0.0333",
                 fund_budget="1000", reimbursement_ratio="0.6")
    ledger = result.ledger
    lines = ledger.set_index(["section", "line"])["amount"]
    assert lines["pool"].to_dict() == {"county_dip_money": 7, "units_gross": -6, "unit_rounding": -1}
    assert lines["region"].to_dict() == {"region_pool": fen("1666.67"), "county_dip_money": -7,
                                         "rest_of_region": -(fen("1666.67") - 7)}
    assert ledger["section"].drop_duplicates().tolist() == ["pool", "units", "budget", "region"]
    assert "由区域 DIP 住院统筹基金支付" in ledger["explanation"].iloc[0]
    assert balanced(result)
    # the same cases at a published value of the county's own: the county's pool, as before
    own = run(cases, point_value_mode="published", published_point_value="0.0333",
              fund_budget="1000", reimbursement_ratio="0.6")
    assert own.ledger["line"].iloc[0] == "dip_pool" and "region" not in set(own.ledger["section"])
    pd.testing.assert_frame_equal(own.ledger.loc[own.ledger["section"].isin(["units", "budget"])]
                                  .reset_index(drop=True),
                                  ledger.loc[ledger["section"].isin(["units", "budget"])]
                                  .reset_index(drop=True))


def test_case_and_unit_rounding_are_named():
    # published point value 0.0333 元/分, approved cases of 1 point each:
    # each case 0.0333 元 = 3.33 分 → 3 fen; H3's three cases: Σ 9 fen, but the unit is
    # rounded once: 3 × 0.0333 = 0.0999 元 → 10 fen, so case_rounding = 1.
    # H2 has one case: 3 fen. Σ points 4 × 0.0333 = 0.1332 元 → 13 fen vs units 10 + 3 = 13.
    cases = [{"unit_id": "H3", "special_points": 1.0}] * 3 + [{"unit_id": "H2",
                                                               "special_points": 1.0}]
    result = run(cases, point_value_mode="published", published_point_value="0.0333")
    assert result.cases["gross_value"].tolist() == [3, 3, 3, 3]
    h3 = unit_row(result, "H3")
    assert (h3["gross_value"], h3["case_gross_value"], h3["case_rounding"]) == (10, 9, 1)
    assert result.summary.money_at_point_value == fen_of(Decimal(4) * Decimal("0.0333"))  # 13
    assert result.summary.unit_rounding == 13 - (10 + 3)
    # two units of 1 point each: 0.0333 → 3 fen each = 6, but 2 × 0.0333 = 0.0666 → 7 fen
    two = run([{"unit_id": "H3", "special_points": 1.0}, {"unit_id": "H2", "special_points": 1.0}],
              point_value_mode="published", published_point_value="0.0333")
    lines = two.ledger.set_index(["section", "line"])["amount"]
    assert lines["pool", "unit_rounding"] == -(7 - 6)
    assert balanced(two)


def test_budget_point_value_view():
    # 500 points: settlement 500 × 20.00 = 10,000; pre-settlement 500 × 19.50 = 9,750
    result = run([{"total_cost": 10_000}], **PUBLISHED_20, budget_point_value="19.50")
    h3 = unit_row(result, "H3")
    assert (h3["point_value"], h3["budget_point_value"]) == ("20", "19.50")
    assert h3["gross_value_budget"] == fen(500 * Decimal("19.50"))
    assert h3["point_value_effect"] == fen(10_000) - fen(9_750)
    budget = result.ledger.loc[result.ledger["section"].eq("budget")].set_index("line")["amount"]
    assert budget.tolist() == [fen(9_750), fen(250), -fen(10_000)]


def test_prepayments_and_balance():
    cases = [{"unit_id": "H3", "total_cost": 10_000, "self_pay": 2_000}]
    prepaid = prepayments_frame([("H3", "dip", "2025-01", 1_000), ("H3", "dip", "2025-02", 500),
                                 ("H3", "package", "2025Q1", 9_999), ("H2", "dip", "2025-01", 300),
                                 ("EXT", "dip", "2025-01", 50)])
    result = run(cases, prepayments=prepaid, **PUBLISHED_20)
    h3 = unit_row(result, "H3")
    # gross 500 × 20 = 10,000; due 8,000; withheld 5 % = 400; returned 400 × 0.90 = 360
    assert (h3["fund_due"], h3["withheld"], h3["returned"]) == (fen(8_000), fen(400), fen(360))
    assert h3["fund_paid"] == fen(8_000 - 400 + 360)  # 7,960
    assert h3["prepaid"] == fen(1_000 + 500)  # the package prepayment is another fund
    assert h3["balance"] == fen(7_960 - 1_500)
    h2 = unit_row(result, "H2")  # prepaid, but no cases: the prepayment is clawed back
    assert (h2["cases"], h2["fund_paid"], h2["balance"]) == (0, 0, -fen(300))
    assert [p.rule for p in result.problems] == ["dip.prepayment_payee"]
    assert balanced(result)


def test_external_cases_pass_through():
    cases = [{"unit_id": "H3", "total_cost": 10_000},
             {"unit_id": "EXT", "total_cost": 9_000, "fund_paid": 7_000}]
    result = run(cases)
    assert result.cases["unit_id"].tolist() == ["H3"]
    assert (result.summary.external_cases, result.summary.external_fund_paid) == (1, fen(7_000))


def test_money_by_insured_community():
    cases = [{"unit_id": "H3", "community_id": "C1", "total_cost": 10_000, "self_pay": 1_000},
             {"unit_id": "H3", "community_id": "C2", "total_cost": 25_000, "self_pay": 5_000},
             {"unit_id": "HX", "community_id": "C2", "dip_group": None, "fund_paid": 800}]
    got = run(cases, **PUBLISHED_20).communities.set_index("community_id")
    assert got.loc["C1", "fund_due"] == fen(500 * 20 - 1_000)  # 9,000
    assert got.loc["C2", "fund_due"] == fen(750 * 20 - 5_000 + 800)  # 10,800 (at cost 800)


# ---------------------------------------------------------------- errors as data
def test_missing_reference_unknown_group_and_missing_score_are_errors():
    refs = refs_frame([("G500", "tertiary", 10_000)])  # no secondary reference
    cases = [{"unit_id": "H2", "total_cost": 10_000}, {"unit_id": "H3", "dip_group": "ZZZ"},
             {"unit_id": "H3", "total_cost": 10_000}]
    result = run(cases, refs=refs, scores=scores_frame({"H2": 80}))
    got = result.cases.set_index("case_id")
    assert got["excluded_reason"].tolist() == ["缺少同级别参考费用", "病种编码不在病种目录中", ""]
    assert got["dip_group"].tolist() == ["G500", "ZZZ", "G500"]  # the code as given is kept
    errors = sorted(p.rule for p in result.problems if p.severity == "error")
    assert errors == ["dip.missing_reference", "dip.unit_score", "dip.unknown_group"]


def test_level_without_coefficient_is_an_error():
    result = run([{"unit_id": "T1", "total_cost": 10_000}, {"unit_id": "H3", "total_cost": 10_000}],
                 level_coefficients={"tertiary": "1.0", "secondary": "0.9"})
    assert result.cases["points"].tolist() == [0.0, 500.0]  # primary has no coefficient
    assert [p.rule for p in result.problems if p.severity == "error"] == ["dip.level_coefficient"]


# ---------------------------------------------------------------- outputs
def test_output_columns_and_money_types():
    result = run([{"total_cost": 10_000}, {"dip_group": None, "fund_paid": 100}])
    assert list(result.cases.columns[:len(CONTRACT_CASE_COLUMNS)]) == CONTRACT_CASE_COLUMNS
    assert list(result.units.columns[:len(CONTRACT_UNIT_COLUMNS)]) == CONTRACT_UNIT_COLUMNS
    for col in ("gross_value", "fund_due", "self_pay", "violation_deduction", "claim_fund_paid"):
        assert result.cases[col].dtype == np.int64, col
    for col in ("gross_value", "self_pay", "fund_due", "withheld", "returned", "fund_paid",
                "prepaid", "balance", "case_rounding", "gross_value_budget"):
        assert result.units[col].dtype == np.int64, col
    assert result.ledger["amount"].dtype == np.int64
    assert set(result.tables()) == {"dip_cases", "dip_units", "dip_communities", "dip_ledger"}


def test_every_case_says_why():
    cases = [{"total_cost": 25_000}, {"unit_id": "HX", "dip_group": "B100", "total_cost": 1_000},
             {"dip_group": None, "fund_paid": 4_000}, {"special_points": 88.0}]
    rule = run(cases).cases["explanation"].tolist()
    assert rule == [
        "费用偏高病例（倍率 > 2.0）：分值 = 病种分值 × (倍率 − 2.0 + 1) × 等级系数（三级）1.0",
        "费用偏低病例（倍率 < 0.5）：分值 = 病种分值 × 倍率 × 基层病种系数 1",
        "未入组病例：不计分值，按即时结算基金支付结算",
        "特例单议病例：按核定分值结算，不适用倍率和系数"]
    full = run(cases, explain="full")
    assert full.cases["explanation"].tolist() == [
        "费用偏高病例：倍率 2.5 > 2.0，分值 = 病种分值 500 × (倍率 2.5 − 2.0 + 1) × 等级系数（三级）1.0"
        " = 750 分",
        "费用偏低病例：倍率 0.1 < 0.5，分值 = 病种分值 100 × 倍率 0.1 × 基层病种系数 1 = 10 分",
        "未入组病例：不计分值，按即时结算基金支付 4000.00 元结算",
        "特例单议病例：按核定分值 88 分结算，不适用倍率和系数"]
    # the full sentences can be made later from the case list alone (e.g. one unit's cases)
    again = explain_cases(full.cases.drop(columns="explanation").iloc[[2, 0]], params())
    assert again.tolist() == [full.cases["explanation"].iloc[2], full.cases["explanation"].iloc[0]]
    h3 = unit_row(full, "H3")
    assert h3["explanation"].startswith("分值 838.0000 × 结算点值")


def test_sample_county_parameters_resolve_and_settle():
    from pathlib import Path

    from settlement.config import load_config, resolve

    resolved = resolve(load_config(Path(__file__).parent.parent / "configs" / "sample-county.yaml"))
    result = settle_dip(cases_frame([{"total_cost": 10_000}]), UNITS, GROUPS, REFS, SCORES, None,
                        resolved.params.dip, source=resolved.source)
    assert balanced(result)
    assert "示医保发" in " ".join(result.ledger["explanation"])
