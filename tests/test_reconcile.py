"""Reconciliation (对账) on a small county a finance officer can check by hand.

Community GA (surplus) has a lead hospital H1, a township centre T1 and a village clinic V1;
GB (overrun) has one hospital H2; X1 is an external hospital. Amounts are fen; every
expected number is derived below with its arithmetic.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.reconcile import ReconciliationError, reconcile


def units() -> pd.DataFrame:
    return pd.DataFrame({
        "unit_id": ["H1", "T1", "V1", "H2", "X1"],
        "unit_name": ["甲县人民医院", "城关镇卫生院", "张庄村卫生室", "乙县中医院", "市一院"],
        "community_id": pd.array(["GA", "GA", "GA", "GB", None], dtype="string"),
        "category": ["lead_hospital", "township_center", "village_clinic", "lead_hospital",
                     "external"],
    })


def communities() -> pd.DataFrame:
    return pd.DataFrame({"community_id": ["GA", "GB"], "community_name": ["甲医共体", "乙医共体"]})


def dip_units() -> pd.DataFrame:
    # H1: 10,000 points × 5 元/分 = 50,000.00 → 5,000,000 fen; fund_due = 5,000,000 − 1,000,000
    #     = 4,000,000; withheld 5 % = 200,000; score 90 → 0.9 → returned 180,000;
    #     fund_paid = 4,000,000 − 200,000 + 180,000 = 3,980,000; prepaid 3,500,000 → 480,000.
    # T1: 4,002.502 × 5 × 100 = 2,001,251; due = 2,001,251 − 250 − 1,000 = 2,000,001;
    #     withheld 100,000.05 → 100,000; × 0.8 = 80,000; paid 1,980,001; prepaid 2,000,000 → −19,999.
    return pd.DataFrame({
        "unit_id": ["H1", "T1"], "cases": [100, 40], "points": [10_000.0, 4_002.502],
        "point_value": ["5.0000", "5.0000"], "gross_value": [5_000_000, 2_001_251],
        "at_cost": [0, 0], "self_pay": [1_000_000, 250], "violation_deduction": [0, 1_000],
        "fund_due": [4_000_000, 2_000_001], "score": [90.0, 80.0],
        "score_coefficient": ["0.9", "0.8"], "withheld": [200_000, 100_000],
        "returned": [180_000, 80_000], "fund_paid": [3_980_000, 1_980_001],
        "prepaid": [3_500_000, 2_000_000], "balance": [480_000, -19_999]})


def community_settlement() -> pd.DataFrame:
    # GA: the claim lines count every claim of GA's insured (the chronic cohort's 250,000
    #     included); chronic is not carved out, so "other" = −250,000 (cohort moved to the
    #     capitation) + 300,000 (the capitation budget, paid by the package) = 50,000.
    #     DIP 6,000,000 + rounding 1 = Σ units' fund_due 4,000,000 + 2,000,001.
    #     E = 6,000,000 + 1 + 2,000,000 + 1,099,999 + 50,000 = 9,150,000; balance 850,000
    #     → retained 600,000, returned 250,000.
    # GB: E = 5,600,000 external; balance −600,000 → fund 300,000, community 300,000.
    return pd.DataFrame({
        "community_id": ["GA", "GB"], "package": [10_000_000, 5_000_000],
        "expenditure_dip": [6_000_000, 0], "expenditure_dip_rounding": [1, 0],
        "expenditure_external": [2_000_000, 5_600_000],
        "expenditure_outpatient": [1_099_999, 0], "expenditure_other": [50_000, 0],
        "expenditure": [9_150_000, 5_600_000], "balance": [850_000, -600_000],
        "surplus_retained": [600_000, 0], "surplus_returned": [250_000, 0],
        "overrun_fund_share": [0, 300_000], "overrun_community_share": [0, 300_000]})


def unit_distribution() -> pd.DataFrame:
    # GA 600,000 at 6 : 3 : 1 → 360,000 / 180,000 / 60,000; GB's 300,000 borne by H2.
    return pd.DataFrame({
        "unit_id": ["H1", "T1", "V1", "H2"], "community_id": ["GA", "GA", "GA", "GB"],
        "tier": ["county", "township", "village", "county"], "weight": [1.0, 1.0, 1.0, 1.0],
        "performance_coefficient": [1.0, 1.0, 1.0, 1.0],
        "surplus_share": [360_000, 180_000, 60_000, 0], "overrun_share": [0, 0, 0, 300_000]})


def chronic() -> tuple[pd.DataFrame, pd.DataFrame]:
    # GA: budget 300,000, spend 250,000 (DIP 100,000 + external 50,000 + outpatient 100,000)
    #     → balance 50,000: retained 40,000 (T1 30,000, V1 10,000), returned 10,000.
    settlement = pd.DataFrame({
        "community_id": ["GA", "GB"], "enrollees": [10, 0], "person_months": [120.0, 0.0],
        "budget": [300_000, 0], "spend": [250_000, 0], "balance": [50_000, 0],
        "retained": [40_000, 0], "fund_share": [0, 0], "community_share": [0, 0],
        "surplus_returned": [10_000, 0], "spend_dip": [100_000, 0],
        "spend_external": [50_000, 0], "spend_outpatient": [100_000, 0]})
    per_unit = pd.DataFrame({
        "community_id": ["GA", "GA"], "unit_id": ["T1", "V1"], "person_months": [90.0, 30.0],
        "quality_coefficient": [1.0, 1.0], "weight": [90.0, 30.0],
        "surplus_share": [30_000, 10_000], "overrun_share": [0, 0], "net": [30_000, 10_000]})
    return settlement, per_unit


def public_health() -> pd.DataFrame:
    return pd.DataFrame({
        "pool": ["basic", "basic", "two_diseases"], "unit_id": ["H1", "V1", "V1"],
        "tier": ["county", "village", "village"], "work_points": [100.0, 50.0, 5.0],
        "quality_coefficient": [1.0, 1.0, 1.0], "weight": [100.0, 50.0, 5.0],
        "allocation": [100_000, 50_000, 5_000], "prepaid": [60_000, 70_000, 0],
        "balance": [40_000, -20_000, 5_000]})


def prepayments() -> pd.DataFrame:
    return pd.DataFrame({
        "payment_id": ["p1", "p2", "p3", "p4"], "payee_id": ["H1", "T1", "H1", "GA"],
        "fund": ["dip", "dip", "package", "chronic"], "period": ["2025-06"] * 4,
        "amount": [3_500_000, 2_000_000, 50_000, 20_000]})


def results() -> dict[str, pd.DataFrame]:
    chronic_settlement, chronic_units = chronic()
    return {"dip_units": dip_units(), "community_settlement": community_settlement(),
            "unit_distribution": unit_distribution(), "chronic_settlement": chronic_settlement,
            "chronic_units": chronic_units, "public_health_allocation": public_health()}


def run(tables=None, **kw):
    return reconcile(tables or results(), units(), communities(), prepayments(),
                     chronic_carve_out=kw.pop("chronic_carve_out", False), **kw)


def lines_of(rec, unit: str) -> dict[str, int]:
    s = rec.unit_statement
    return dict(zip(s.loc[s["unit_id"] == unit, "line"], s.loc[s["unit_id"] == unit, "amount"]))


def test_statement_lines_and_net_of_the_lead_hospital():
    h1 = lines_of(run(), "H1")
    assert h1 == {
        "dip.gross_value": 5_000_000, "dip.self_pay": -1_000_000, "dip.withheld": -200_000,
        "dip.returned": 180_000, "dip.prepaid": -3_500_000,
        "package.surplus_share": 360_000, "package.prepaid": -50_000,
        "public_health.basic": 100_000, "public_health.basic.prepaid": -60_000,
        # DIP 480,000 + package (360,000 − 50,000) + public health 40,000 = 830,000
        "net": 830_000}
    assert sum(v for k, v in h1.items() if k != "net") == h1["net"]


def test_nets_of_every_member_unit():
    net = run().unit_statement.query("line == 'net'").set_index("unit_id")["amount"].to_dict()
    # T1: DIP −19,999 + package 180,000 + chronic 30,000 = 190,001
    # V1: package 60,000 + chronic 10,000 + public health (50,000 − 70,000) + 5,000 = 55,000
    # H2: overrun borne −300,000.  X1 is external: no statement.
    assert net == {"H1": 830_000, "T1": 190_001, "V1": 55_000, "H2": -300_000}


def test_violation_line_only_where_there_is_one():
    rec = run()
    assert lines_of(rec, "T1")["dip.violation_deduction"] == -1_000
    assert "dip.violation_deduction" not in lines_of(rec, "H1")


def test_explanations_carry_the_numbers():
    s = run().unit_statement.set_index(["unit_id", "line"])["explanation"]
    assert s["H1", "dip.gross_value"] == (
        "DIP 分值 10,000.0000 分 × 结算点值 5.0000 元/分 = 50,000.00 元（按单位总分值一次取整到分）")
    assert "4,000,000" not in s["H1", "dip.withheld"]  # yuan, not fen
    assert "基金应付 40,000.00 元" in s["H1", "dip.withheld"]
    assert "预留 2,000.00 元 × 考核折算系数 0.9（考核得分 90）= 1,800.00 元" == s["H1", "dip.returned"]
    assert s["H1", "net"].startswith("DIP 住院结算 4,800.00 + 结余留用/超支分担 3,100.00 + "
                                     "基本公共卫生服务经费 400.00 = 8,300.00 元")


def test_unit_funds_entitlement_prepaid_balance():
    f = run().unit_funds.set_index(["unit_id", "fund"])
    assert f.loc[("H1", "dip")].tolist() == ["GA", 3_980_000, 3_500_000, 480_000]
    assert f.loc[("H1", "package")].tolist() == ["GA", 360_000, 50_000, 310_000]
    assert f.loc[("V1", "public_health")].tolist() == ["GA", 55_000, 70_000, -15_000]
    assert f.loc[("H2", "package")].tolist() == ["GB", -300_000, 0, -300_000]


def test_bureau_identity_per_community_and_county():
    b = run().bureau_communities.set_index("community_id")
    # GA: outflow = (E 9,150,000 − K 300,000) + S 250,000 + Y 600,000 + Z 40,000 = 9,740,000
    #     identity = P 10,000,000 + 0 − (250,000 + 10,000) + 0 = 9,740,000
    assert b.loc["GA", "outflow"] == b.loc["GA", "identity"] == 9_740_000
    # external payments: the claim line (the cohort's external claims included)
    assert b.loc["GA", "external_payments"] == 2_000_000
    assert b.loc["GA", "in_county_payments"] == 9_740_000 - 2_000_000
    # GB: 5,600,000 − 300,000 = 5,000,000 + 300,000
    assert b.loc["GB", "outflow"] == b.loc["GB", "identity"] == 5_300_000
    assert b.loc["county", "outflow"] == 9_740_000 + 5_300_000


def test_bureau_year_end_dues():
    b = run().bureau_communities.set_index("community_id")
    # GA: DIP clearing 480,000 − 19,999 = 460,001; package 600,000 − 50,000 prepaid to H1 =
    #     550,000; chronic 40,000 − 20,000 prepaid to GA = 20,000 → 1,030,001
    assert b.loc["GA", ["dip_clearing", "package_due", "chronic_due", "year_end_due"]].tolist() == [
        460_001, 550_000, 20_000, 1_030_001]
    # quality withholding kept: (200,000 − 180,000) + (100,000 − 80,000) = 40,000
    assert b.loc["GA", "dip_withholding_kept"] == 40_000
    assert b.loc["GA", "cash_outflow"] == 9_740_000 - 40_000
    assert b.loc["GB", "year_end_due"] == -300_000


def test_bureau_units_leave_out_public_health():
    # flow of funds (default): the fund settles DIP with the hospitals; the community pays
    # the package and chronic shares; public health is the health commission's money.
    u = run().bureau_units.set_index("unit_id")
    assert u.loc["V1", ["dip", "package", "chronic", "total"]].tolist() == [0, 60_000, 10_000, 0]
    assert u.loc["V1", "paid_by_community"] == 60_000 + 10_000
    # H1: DIP clearing 480,000 less the fund's package advance 50,000 paid to H1 itself
    assert u.loc["H1", "total"] == 480_000 - 50_000 == u.loc["H1", "paid_by_fund"]
    assert u.loc["H1", "paid_by_community"] == 310_000 + 50_000
    assert (u["paid_by_fund"] + u["paid_by_community"] + u["paid_by_health_commission"]
            == u["net"]).all()


def test_all_checks_pass_and_are_listed():
    checks = run().checks
    assert checks["ok"].all()
    assert {"statement.net", "statement.fund", "bureau.outflow", "bureau.dip",
            "bureau.distribution", "bureau.package.split"} <= set(checks["check"])


def test_a_fen_too_many_in_the_distribution_is_caught():
    tables = results()
    tables["unit_distribution"].loc[0, "surplus_share"] += 1
    with pytest.raises(ReconciliationError) as err:
        run(tables)
    assert "bureau.distribution" in str(err.value) and "GA" in str(err.value)


def test_dip_charged_to_packages_must_match_the_units_settlement():
    # 100,000 of DIP charged to GA's package that no member unit was settled for
    tables = results()
    cs = tables["community_settlement"]
    cs.loc[0, ["expenditure_dip", "expenditure", "balance"]] += [100_000, 100_000, -100_000]
    cs.loc[0, "surplus_returned"] -= 100_000
    with pytest.raises(ReconciliationError) as err:
        run(tables)
    assert "bureau.dip" in str(err.value)


def test_expenditure_lines_must_add_up():
    tables = results()
    tables["community_settlement"].loc[1, "expenditure_other"] = 7
    with pytest.raises(ReconciliationError, match="bureau.expenditure_lines"):
        run(tables)


def test_carve_out_moves_the_budget_out_of_the_package():
    tables = results()
    cs = tables["community_settlement"]
    # carved out: package 10,000,000 − 300,000; the budget is no longer an expenditure line:
    # other = −250,000, E = 9,150,000 − 300,000 = 8,850,000, balance still 850,000
    cs.loc[0, ["package", "expenditure_other", "expenditure"]] = [9_700_000, -250_000, 8_850_000]
    b = run(tables, chronic_carve_out=True).bureau_communities.set_index("community_id")
    # outflow = 8,850,000 + 250,000 + 600,000 + 40,000 = 9,740,000
    #         = 9,700,000 + 300,000 − (250,000 + 10,000)
    assert b.loc["GA", "outflow"] == b.loc["GA", "identity"] == 9_740_000


def test_chronic_budget_needs_to_know_about_the_carve_out():
    with pytest.raises(ValueError, match="carve_out"):
        reconcile(results(), units(), communities(), prepayments())


def test_stage_balance_that_does_not_match_its_lines_is_caught():
    tables = results()
    tables["dip_units"].loc[0, "balance"] += 1  # the DIP stage's own identity broken
    with pytest.raises(ReconciliationError, match="statement.fund"):
        run(tables)


def test_only_funds_present_are_reconciled():
    rec = reconcile({"public_health_allocation": public_health()}, units(), communities())
    assert set(rec.unit_funds["fund"]) == {"public_health"}
    assert rec.bureau_communities.empty
    net = rec.unit_statement.query("line == 'net'").set_index("unit_id")["amount"]
    assert net.to_dict() == {"H1": 40_000, "T1": 0, "V1": -15_000, "H2": 0}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(-10**7, 10**7)),
                min_size=4, max_size=4))
def test_net_is_always_the_sum_of_the_lines(amounts):
    ph = pd.DataFrame({
        "pool": "basic", "unit_id": ["H1", "T1", "V1", "H2"], "tier": "t", "work_points": 1.0,
        "quality_coefficient": 1.0, "weight": 1.0,
        "allocation": [a for a, _, _ in amounts], "prepaid": [p for _, p, _ in amounts]})
    ph["balance"] = ph["allocation"] - ph["prepaid"]
    dist = unit_distribution().assign(surplus_share=[max(x, 0) for _, _, x in amounts],
                                      overrun_share=[max(-x, 0) for _, _, x in amounts])
    rec = reconcile({"public_health_allocation": ph, "unit_distribution": dist}, units(),
                    communities())
    s = rec.unit_statement
    net = s[s["line"] == "net"].set_index("unit_id")["amount"]
    rest = s[s["line"] != "net"].groupby("unit_id")["amount"].sum()
    assert net.to_dict() == rest.reindex(net.index, fill_value=0).to_dict()
    expected = {u: a - p + x for u, (a, p, x) in zip(["H1", "T1", "V1", "H2"], amounts)}
    assert net.to_dict() == expected
