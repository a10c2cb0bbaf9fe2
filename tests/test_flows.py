"""Flow of funds (资金流向) and the payer of each line, on a county small enough to check by hand.

GA: lead hospital H1, village clinic V1; GB: lead hospital H2; X1 external. Amounts in fen.

DIP cases (insured community at hospital → fund due): GA@H1 3,000,000; GB@H1 1,000,000;
GA@H2 500,000; GB@H2 2,000,000. H1: fund due 4,000,000, withheld 200,000, returned 100,000
→ kept 100,000, split by case fund due 3 : 1 → GA 75,000, GB 25,000; fund paid 3,900,000.
H2: due 2,500,000, withheld = returned 125,000 → kept 0, paid 2,500,000.
Outpatient: GA@V1 200,000, GA@H2 50,000, GB@H2 100,000. External: GA 400,000.
GA: E = 3,500,000 + 400,000 + 250,000 = 4,150,000; P 4,500,000 → surplus 350,000 → retained
300,000 (H1 200,000, V1 100,000), returned 50,000; package advance 250,000.
GB: E = 3,000,000 + 100,000 = 3,100,000; P 3,000,000 → overrun 100,000: fund 60,000, H2 bears
40,000.
"""

from __future__ import annotations

import pandas as pd
import pytest

from settlement.params import FlowOfFundsParams
from settlement.reconcile.core import _Tables, reconcile
from settlement.reconcile.flows import community_flows


def units() -> pd.DataFrame:
    return pd.DataFrame({
        "unit_id": ["H1", "V1", "H2", "X1"], "unit_name": ["甲院", "张庄村卫生室", "乙院", "市一院"],
        "community_id": pd.array(["GA", "GA", "GB", None], dtype="string"),
        "category": ["lead_hospital", "village_clinic", "lead_hospital", "external"]})


def results() -> dict[str, pd.DataFrame]:
    dip_cases = pd.DataFrame({"case_id": ["c1", "c2", "c3", "c4"],
                              "unit_id": ["H1", "H1", "H2", "H2"],
                              "community_id": ["GA", "GB", "GA", "GB"],
                              "fund_due": [3_000_000, 1_000_000, 500_000, 2_000_000]})
    dip_units = pd.DataFrame({
        "unit_id": ["H1", "H2"], "points": [1.0, 1.0], "point_value": ["1", "1"],
        "gross_value": [4_000_000, 2_500_000], "self_pay": [0, 0], "violation_deduction": [0, 0],
        "fund_due": [4_000_000, 2_500_000], "withheld": [200_000, 125_000],
        "returned": [100_000, 125_000], "fund_paid": [3_900_000, 2_500_000],
        "prepaid": [3_000_000, 2_000_000], "balance": [900_000, 500_000]})
    cs = pd.DataFrame({
        "community_id": ["GA", "GB"], "package": [4_500_000, 3_000_000],
        "expenditure_dip": [3_500_000, 3_000_000], "expenditure_dip_rounding": [0, 0],
        "expenditure_external": [400_000, 0], "expenditure_outpatient": [250_000, 100_000],
        "expenditure_other": [0, 0], "expenditure": [4_150_000, 3_100_000],
        "balance": [350_000, -100_000], "surplus_retained": [300_000, 0],
        "surplus_returned": [50_000, 0], "overrun_fund_share": [0, 60_000],
        "overrun_community_share": [0, 40_000]})
    dist = pd.DataFrame({
        "unit_id": ["H1", "V1", "H2"], "community_id": ["GA", "GA", "GB"],
        "tier": ["county", "village", "county"], "weight": [1.0, 1.0, 1.0],
        "performance_coefficient": [1.0, 1.0, 1.0], "surplus_share": [200_000, 100_000, 0],
        "overrun_share": [0, 0, 40_000]})
    return {"dip_cases": dip_cases, "dip_units": dip_units, "community_settlement": cs,
            "unit_distribution": dist}


def claims() -> pd.DataFrame:
    return pd.DataFrame({"claim_id": ["o1", "o2", "o3"], "unit_id": ["V1", "H2", "H2"],
                         "community_id": ["GA", "GA", "GB"], "fund_paid": [200_000, 50_000, 100_000]})


def prepayments() -> pd.DataFrame:
    return pd.DataFrame({"payment_id": ["p1"], "payee_id": ["GA"], "fund": ["package"],
                         "period": ["2025Q1"], "amount": [250_000]})


COMMUNITIES = pd.DataFrame({"community_id": ["GA", "GB"], "community_name": ["甲医共体", "乙医共体"]})


@pytest.fixture(scope="module")
def rec():
    return reconcile(results(), units(), COMMUNITIES, prepayments(), chronic_carve_out=False,
                     outpatient_claims=claims())


def flows(rec) -> dict[str, dict]:
    return rec.community_flows.set_index("community_id").to_dict("index")


def test_the_fund_paid_the_community_and_its_units_the_package_net_of_shares_and_outside(rec):
    f = flows(rec)
    # GA: T = 4,500,000 − 50,000; O = 500,000 (GA@H2) + 400,000 + 50,000 (GA@H2 outpatient);
    #     W = 75,000 → 3,425,000 = units 3,000,000 − 75,000 + 200,000 + advance 250,000
    #     + year end (300,000 − 250,000).
    ga = f["GA"]
    assert (ga["entitlement"], ga["paid_outside"], ga["kept"]) == (4_450_000, 950_000, 75_000)
    assert ga["paid_to_units"] == 3_000_000 - 75_000 + 200_000
    assert (ga["advances"], ga["year_end_community"]) == (250_000, 50_000)
    assert ga["paid_to_units"] + ga["paid_to_community"] == 4_450_000 - 950_000 - 75_000
    # GB: T = 3,000,000 + 60,000; O = 1,000,000 − 25,000 (GB@H1 less its kept share); W 25,000
    #     → 2,060,000 = H2 2,000,000 + outpatient 100,000 + year end −40,000 (H2 bears it).
    gb = f["GB"]
    assert (gb["entitlement"], gb["paid_outside"], gb["kept"]) == (3_060_000, 975_000, 25_000)
    assert gb["paid_to_units"] + gb["paid_to_community"] == 3_060_000 - 975_000 - 25_000
    assert gb["year_end_community"] == -40_000


def test_hospital_payments_tie_to_the_flows(rec):
    # H1 fund paid 3,900,000 = GA's 3,000,000 − 75,000 + GB's 1,000,000 − 25,000.
    ga = flows(rec)["GA"]
    assert ga["hospitals_fund_paid"] == 3_900_000
    assert ga["dip_for_others"] == 1_000_000 and ga["kept_for_others"] == 25_000
    flow_checks = rec.checks.loc[rec.checks["check"].str.startswith("flow.")]
    assert len(flow_checks) == 6 and flow_checks["ok"].all()


def test_county_row_is_the_sum(rec):
    f = flows(rec)
    assert f["county"]["kept"] == 100_000 == 200_000 - 100_000 + 125_000 - 125_000
    assert f["county"]["entitlement"] == 4_450_000 + 3_060_000


def test_each_line_names_its_payer_and_the_net_splits_by_payer(rec):
    s = rec.unit_statement
    v1 = s.loc[s["unit_id"] == "V1"].set_index("line")
    assert v1.loc["package.surplus_share", "payer"] == "community"  # the community pays V1
    h1 = s.loc[s["unit_id"] == "H1"].set_index("line")
    assert h1.loc["dip.withheld", "payer"] == "fund"
    assert "医共体 2,000.00 元" in h1.loc["net", "explanation"]  # surplus share 200,000 fen
    assert "医保基金 9,000.00 元" in h1.loc["net", "explanation"]  # DIP clearing 900,000 fen
    b = rec.bureau_units.set_index("unit_id")
    # H1: DIP clearing 900,000 (fund) + surplus share 200,000 (community) = net 1,100,000.
    assert (b.loc["H1", "paid_by_fund"], b.loc["H1", "paid_by_community"]) == (900_000, 200_000)
    assert b.loc["H1", "net"] == 1_100_000 == int(h1.loc["net", "amount"])
    assert (b[["paid_by_fund", "paid_by_community", "paid_by_health_commission"]].sum(axis=1)
            == b["net"]).all()


def test_units_mode_pays_the_shares_directly():
    t = _Tables(results(), prepayments())
    rec = reconcile(results(), units(), COMMUNITIES, prepayments(), chronic_carve_out=False,
                    outpatient_claims=claims())
    bureau = rec.bureau_communities
    direct, checks = community_flows(t, bureau, units(), results()["dip_cases"], claims(),
                                     FlowOfFundsParams(settlement_payee="units"))
    ga = direct.set_index("community_id").loc["GA"]
    # the fund pays H1 and V1 their 300,000 itself and recovers the 250,000 advance from GA
    assert ga["units_share_direct"] == 300_000 and ga["year_end_community"] == -250_000
    assert ga["paid_to_units"] + ga["paid_to_community"] == 4_450_000 - 950_000 - 75_000
    assert all(c["ok"].all() for c in checks)


def test_the_case_list_is_summed_per_hospital_and_insured_community_once():
    """case_sums: c1 + c5 at H1 for GA (3,000,000 + 250,000); a case at H1 without an insured
    community under （无参保医共体）; X1 is no member hospital: its case is left out; categorical
    ids (as the DIP stage keeps them) and every other column of the list unused."""
    from settlement.reconcile.flows import case_sums
    from settlement.vocabulary import community_of_members

    dip_cases = pd.DataFrame({
        "case_id": ["c1", "c2", "c3", "c4", "c5", "c6", "c7"],
        "unit_id": pd.Categorical(["H1", "H1", "H2", "H2", "H1", "X1", "H1"]),
        "community_id": pd.Categorical(["GA", "GB", "GA", "GB", "GA", "GA", None]),
        "fund_due": [3_000_000, 1_000_000, 500_000, 2_000_000, 250_000, 9_999, 700],
        "explanation": ["正常"] * 7})
    got = case_sums(dip_cases, community_of_members(units()))
    pairs = {(r.unit_id, r.community_id): r.fund_due for r in got.itertuples(index=False)}
    assert pairs == {("H1", "GA"): 3_000_000 + 250_000, ("H1", "GB"): 1_000_000,
                     ("H2", "GA"): 500_000, ("H2", "GB"): 2_000_000, ("H1", "（无参保医共体）"): 700}
    assert list(got.columns) == ["unit_id", "community_id", "fund_due"]
    assert got["fund_due"].dtype == "int64"
