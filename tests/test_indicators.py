"""Indicators (县域就医与医保基金指标) on a hand-built claims table; ratios derived here."""

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from settlement.config import load_config, resolve
from settlement.params import IndicatorTarget
from settlement.stages.chronic import enrolment
from settlement.stages.indicators import DEFINITIONS, compute_indicators

SAMPLE = Path(__file__).resolve().parent.parent / "configs" / "sample-county.yaml"
ALL = resolve(load_config(SAMPLE)).params
PARAMS = ALL.indicators  # 2025 targets: 85 % / 62 % / 80 %, 跨省 < 5.5 %, 县外 < 21 % …

UNITS = pd.DataFrame({
    "unit_id": pd.array(["H1", "T1", "V1", "H2", "T2", "K1", "S1", "N1"], dtype="string"),
    "community_id": pd.array(["C1", "C1", "C1", "C2", "C2", None, None, None], dtype="string"),
    "category": pd.array(["lead_hospital", "township_center", "village_clinic", "lead_hospital",
                          "township_center", "external", "external", "external"], dtype="string"),
    "scope": pd.array(["county"] * 5 + ["city", "province", "national"], dtype="string")})

# C1's insured — outpatient: 3 at T1, 2 at V1, 2 at H1, 1 at C2's lead hospital H2 (still in
# county), 1 in the city (K1), 1 out of province (N1); fund paid in fen
OUTPATIENT = [("C1", "T1", 1_000)] * 3 + [("C1", "V1", 500)] * 2 + [("C1", "H1", 3_000)] * 2 + [
    ("C1", "H2", 2_000), ("C1", "K1", 4_000), ("C1", "N1", 6_000),
    ("C2", "T2", 1_000), ("C2", "T2", 1_000), ("C2", "H2", 2_000), ("C2", "K1", 5_000)]
# inpatient: (community, unit, fund paid fen, person, discharge, childbirth)
INPATIENT = [
    ("C1", "H1", 500_000, "P1", "2025-03-01", False),
    ("C1", "H1", 400_000, "P2", "2025-05-01", True),   # childbirth
    ("C1", "T1", 100_000, "P3", "2025-06-01", False),
    ("C1", "S1", 900_000, "P1", "2024-12-31", False),  # before P1's enrolment (1 Jan 2025)
    ("C1", "N1", 1_200_000, "P4", "2025-08-01", False),
    ("C2", "H2", 600_000, "Q1", "2025-02-01", False),
    ("C2", "K1", 700_000, "Q2", "2025-02-01", False),
]


def claims_frames():
    op = pd.DataFrame(OUTPATIENT, columns=["community_id", "unit_id", "fund_paid"])
    op["claim_id"] = [f"O{i}" for i in range(len(op))]
    op["person_id"] = "X"
    op["service_date"] = pd.Timestamp("2025-06-01")
    ip = pd.DataFrame(INPATIENT, columns=["community_id", "unit_id", "fund_paid", "person_id",
                                          "discharge_date", "childbirth"])
    ip["case_id"] = [f"I{i}" for i in range(len(ip))]
    ip["discharge_date"] = pd.to_datetime(ip["discharge_date"])
    strings = ["community_id", "unit_id", "person_id"]
    return (ip.astype({c: "string" for c in strings + ["case_id"]}),
            op.astype({c: "string" for c in strings + ["claim_id"]}))


def cohort():
    """C1 enrolees P1 (from 1 Jan 2025), P2, P3 (until 31 May), P5 — all hypertension."""
    f = pd.DataFrame({
        "person_id": ["P1", "P2", "P3", "P5"], "community_id": ["C1"] * 4,
        "managing_unit_id": ["T1"] * 4, "diseases": ["HT"] * 4,
        "enroll_start": pd.to_datetime(["2025-01-01", "2024-01-01", "2024-01-01", "2025-01-01"]),
        "enroll_end": pd.to_datetime([None, None, "2025-05-31", None]),
        "excluded_conditions": [None] * 4, "family_doctor_signed": [False] * 4})
    f = f.astype({c: "string" for c in ["person_id", "community_id", "managing_unit_id",
                                        "diseases", "excluded_conditions"]})
    return enrolment(f, ALL.chronic, 2025)


def run(params=PARAMS):
    ip, op = claims_frames()
    return compute_indicators(inpatient_cases=ip, outpatient_claims=op, units=UNITS, params=params,
                              enrolment=cohort())


def test_indicators_of_a_community_and_the_county():
    table = run().table.set_index(["scope", "indicator"])
    c1 = table.loc["C1"]
    # visits: outpatient in county 3 + 2 + 2 + 1 = 8 of 10; inpatient in county 3 of 5
    assert (c1.loc["county_visit_rate", "numerator"], c1.loc["county_visit_rate", "denominator"]) == (11, 15)
    assert c1.loc["county_visit_rate", "value"] == pytest.approx(11 / 15)  # 73.3 % < 85 %
    assert not c1.loc["county_visit_rate", "met"]
    # 基层门急诊: T1 3 + V1 2 = 5 of the 8 in-county outpatient visits = 62.5 % ≥ 62 %
    assert c1.loc["primary_outpatient_share", ["numerator", "denominator"]].tolist() == [5, 8]
    assert c1.loc["primary_outpatient_share", "met"]
    # inpatient: in county H1, H1, T1 = 3 of 5; province S1 and national N1 outside
    assert c1.loc["county_inpatient_share", "value"] == pytest.approx(3 / 5)
    assert c1.loc["out_of_county_rate", ["numerator", "denominator"]].tolist() == [2, 5]
    assert c1.loc["cross_province_rate", ["numerator", "denominator"]].tolist() == [1, 5]
    # fund: in county = outpatient 3,000 + 1,000 + 6,000 + 2,000 + inpatient 1,000,000
    fund_in = 3 * 1_000 + 2 * 500 + 2 * 3_000 + 2_000 + 500_000 + 400_000 + 100_000
    fund_all = fund_in + 4_000 + 6_000 + 900_000 + 1_200_000
    assert c1.loc["fund_in_county_rate", ["numerator", "denominator"]].tolist() == [fund_in, fund_all]
    # 基层 fund: T1 and V1 only (outpatient 4,000 + T1's case 100,000) of the in-county fund
    fund_primary = 3 * 1_000 + 2 * 500 + 100_000
    assert c1.loc["primary_fund_share", ["numerator", "denominator"]].tolist() == [fund_primary, fund_in]
    assert c1.loc["primary_fund_share", "value"] == pytest.approx(104_000 / 1_012_000)  # 10.3 % < 15 %

    county = table.loc["county"]
    # county = C1 + C2: outpatient 10 + 4, in county 8 + 3; inpatient 5 + 2, in county 3 + 1
    assert county.loc["county_visit_rate", ["numerator", "denominator"]].tolist() == [8 + 3 + 3 + 1, 14 + 7]
    assert county.loc["primary_outpatient_share", ["numerator", "denominator"]].tolist() == [5 + 2, 8 + 3]
    assert county.loc["out_of_county_rate", ["numerator", "denominator"]].tolist() == [2 + 1, 7]
    assert county.loc["cross_province_rate", "value"] == pytest.approx(1 / 7)


def test_visit_rate_by_persons_counts_persons_and_by_visits_leaves_them_uncounted():
    # C1's persons: X (all outpatient claims), P1 (H1), P2 (H1), P3 (T1), P4 (N1, national)
    # → 4 of 5 with an in-county row; the county: X once, P1–P4, Q1 (H2), Q2 (K1 city) → 5 of 7
    by_persons = PARAMS.model_copy(update={"visit_rate_basis": "persons"})
    table = run(by_persons).table.set_index(["scope", "indicator"])
    assert table.loc[("C1", "county_visit_rate"), ["numerator", "denominator"]].tolist() == [4, 5]
    assert table.loc[("county", "county_visit_rate"), ["numerator", "denominator"]].tolist() == [5, 7]
    # by visits (the default) the scan skips the distinct persons; every other figure is the same
    visits = run().table.set_index(["scope", "indicator"])
    assert visits.loc[("C1", "county_visit_rate"), ["numerator", "denominator"]].tolist() == [11, 15]
    others = [i for i in DEFINITIONS if i != "county_visit_rate"]
    pd.testing.assert_frame_equal(visits.loc[(slice(None), others), :],
                                  table.loc[(slice(None), others), :])


def test_chronic_cohort_inpatient_rate():
    c1 = run().table.set_index(["scope", "indicator"]).loc[("C1", "chronic_inpatient_rate")]
    # P1's case of 1 March counts, its case of 31 Dec 2024 is before enrolment; P2's case is a
    # childbirth; P3's 1 June case is after P3 left on 31 May; P4 is not enrolled → 1 of 4
    assert (c1["numerator"], c1["denominator"]) == (1, 4)
    assert c1["value"] == 0.25 and c1["met"]  # below 30 %
    county = run().table.set_index(["scope", "indicator"]).loc[("county", "chronic_inpatient_rate")]
    assert (county["numerator"], county["denominator"]) == (1, 4)
    c2 = run().table.set_index(["scope", "indicator"]).loc[("C2", "chronic_inpatient_rate")]
    assert c2["denominator"] == 0 and pd.isna(c2["value"]) and pd.isna(c2["met"])


def test_every_scope_has_every_indicator_with_its_label():
    table = run().table
    assert table["scope"].unique().tolist() == ["C1", "C2", "county"]
    assert len(table) == 3 * len(DEFINITIONS)
    assert table.loc[table["indicator"] == "county_visit_rate", "label_zh"].iloc[0] == "县域内就诊率"


def test_targets_compare_exactly_at_the_boundary():
    # compared as numerator vs target × denominator, so equality is decided exactly:
    # "at least" includes the target, "below" excludes it
    exact = PARAMS.model_copy(update={"targets": {
        "primary_outpatient_share": IndicatorTarget(target=Decimal("0.625"), direction="at_least"),
        "cross_province_rate": IndicatorTarget(target=Decimal("0.2"), direction="below"),
        "out_of_county_rate": IndicatorTarget(target=Decimal("0.4"), direction="below")}})
    c1 = run(exact).table.set_index(["scope", "indicator"]).loc["C1"]
    assert c1.loc["primary_outpatient_share", "met"]          # 5 / 8 = 0.625 ≥ 0.625
    assert not c1.loc["cross_province_rate", "met"]           # 1 / 5 = 0.2, not < 0.2
    assert not c1.loc["out_of_county_rate", "met"]            # 2 / 5 = 0.4, not < 0.4
    assert pd.isna(c1.loc["county_visit_rate", "target"]) and pd.isna(c1.loc["county_visit_rate", "met"])


def test_scoring_rubric_adds_points_of_met_indicators():
    result = run()
    scores = result.scores.set_index("scope")
    # C1 meets 基层门急诊占比 (15) and 慢病住院率 (15); fails the rest
    met = result.table.query("scope == 'C1' and met == True")["indicator"].tolist()
    assert sorted(met) == ["chronic_inpatient_rate", "primary_outpatient_share"]
    assert scores.loc["C1", "points"] == 15 + 15 and scores.loc["C1", "max_points"] == 100


def test_unknown_target_code_is_reported():
    odd = PARAMS.model_copy(update={"targets": {
        **PARAMS.targets, "referral_rate": IndicatorTarget(target=Decimal("0.1"), direction="below")}})
    assert [p.rule for p in run(odd).problems] == ["indicators.unknown_target"]


# ---------------------------------------------------------------- issue 11 §8: more indicators
def extra_frames():
    """C1's five admissions (cost 元, fund 元, days, referral from), two outpatient visits."""
    ip = pd.DataFrame({
        "case_id": ["A", "B", "C", "D", "E"], "community_id": ["C1"] * 5,
        "unit_id": ["H1", "H1", "T1", "N1", "T1"],
        "referral": [True, True, True, False, False],
        "referral_from_unit_id": pd.array(["T1", "V1", "H1", None, None], dtype="string"),
        "admission_date": pd.to_datetime(["2025-03-03", "2025-04-01", "2025-05-01",
                                          "2025-06-01", "2025-07-01"]),
        "discharge_date": pd.to_datetime(["2025-03-08", "2025-04-01", "2025-05-04",
                                          "2025-06-11", "2025-07-02"]),
        "total_cost": [1_000_000, 600_000, 200_000, 2_000_000, 200_000],
        "fund_paid": [700_000, 420_000, 180_000, 1_000_000, 180_000],
        "dip_group": pd.array(["G1", "G1", None, "G1", "G2"], dtype="string"),
        "person_id": ["P"] * 5, "childbirth": [False] * 5})
    op = pd.DataFrame({"claim_id": ["O1", "O2"], "community_id": ["C1", "C1"],
                       "unit_id": ["T1", "V1"], "total_cost": [10_000, 4_000],
                       "fund_paid": [6_000, 3_000], "person_id": ["P", "P"],
                       "service_date": pd.to_datetime(["2025-01-02", "2025-01-03"])})
    strings = ["case_id", "community_id", "unit_id", "person_id"]
    return ip.astype({c: "string" for c in strings}), op.astype(
        {c: "string" for c in ("claim_id", "community_id", "unit_id", "person_id")})


def test_referrals_admission_rate_costs_and_stays():
    ip, op = extra_frames()
    units = UNITS.assign(level=["tertiary", "primary", "primary", "secondary", "primary",
                                "tertiary", "tertiary", "tertiary"]).astype({"level": "string"})
    ref = pd.DataFrame({"group_code": ["G1", "G2"], "level": ["tertiary", "primary"],
                        "avg_cost": [800_000, 250_000]})
    comms = pd.DataFrame({"community_id": ["C1", "C2"], "insured_enrollees": [2_000, 1_000]})
    table = compute_indicators(inpatient_cases=ip, outpatient_claims=op, units=units,
                               params=PARAMS, communities=comms, reference_costs=ref)
    c1 = table.table[table.table["scope"] == "C1"].set_index("indicator")
    # up: A (T1 → H1), B (V1 → H1); down: C (H1 → T1)
    assert (c1.loc["referral_up_share", "numerator"], c1.loc["referral_down_share", "numerator"]) == (2, 1)
    assert c1.loc["referral_up_share", "value"] == 2 / 5
    assert c1.loc["down_referral_rate", "value"] == 1 / 2
    assert c1.loc["inpatient_rate", "value"] == pytest.approx(5 / 2_000 * 1000)  # 2.5 ‰
    assert c1.loc["inpatient_cost_per_case", "value"] == 4_000_000 / 5  # fen, exact (次均费用)
    assert c1.loc["outpatient_cost_per_visit", "value"] == 14_000 / 2  # fen, exact (门诊次均费用)
    # member cases with a reference cost: A, B at H1 (G1 tertiary 8,000), E at T1 (G2 primary 2,500)
    assert c1.loc["inpatient_cost_growth", "value"] == pytest.approx(
        (10_000 + 6_000 + 2_000) / (8_000 + 8_000 + 2_500) - 1)
    # stays 5, 1 (same day), 3, 10, 1 days
    assert c1.loc["average_length_of_stay", "value"] == (5 + 1 + 3 + 10 + 1) / 5
    fund, cost = 700_000 + 420_000 + 180_000 + 1_000_000 + 180_000 + 9_000, 4_000_000 + 14_000
    assert c1.loc["fund_reimbursement_ratio", "value"] == fund / cost
    assert c1["definition_zh"].notna().all()
    assert "1,000" in c1.loc["inpatient_rate", "definition_zh"]


def test_inpatient_cost_per_case_is_exact_fen_rounded_half_up():
    """Two cases of 500.00 and 500.01 元: 100,001 fen ÷ 2 = 50,000.5 → 50,001 fen (500.01 元),
    never a float of yuan (issue 10: 次均费用 as the bulletin shows it)."""
    ip, op = extra_frames()
    ip = ip.iloc[:2].assign(total_cost=[50_000, 50_001])
    table = compute_indicators(inpatient_cases=ip, outpatient_claims=op, units=UNITS,
                               params=PARAMS).table
    c1 = table[table["scope"] == "C1"].set_index("indicator").loc["inpatient_cost_per_case"]
    assert (c1["numerator"], c1["denominator"], c1["value"]) == (100_001, 2, 50_001.0)
