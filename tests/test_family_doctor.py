"""Family-doctor contract fees (家庭医生签约服务费): a package line, paid on to the signing units."""

import pandas as pd

from settlement.params import FamilyDoctorParams
from settlement.stages.expenditure import scan_expenditure
from settlement.stages.family_doctor import LINE, settle_family_doctor

UNITS = pd.DataFrame({
    "unit_id": ["H1", "T1", "V1", "T2", "X1"],
    "community_id": pd.array(["C1", "C1", "C1", "C2", None], dtype="string"),
    "category": ["lead_hospital", "township_center", "village_clinic", "township_center",
                 "external"],
    "scope": ["county"] * 4 + ["city"]}).astype({"unit_id": "string", "category": "string",
                                                 "scope": "string"})
COMMUNITIES = pd.DataFrame({"community_id": ["C1", "C2"], "lead_unit_id": ["H1", "H2"]})
# (unit, period, signed persons, fund amount fen)
FEES = pd.DataFrame([("T1", "2025Q1", 1_000, 250_000), ("T1", "2025Q2", 1_100, 275_000),
                     ("V1", "2025Q1", 300, 75_000), ("T2", "2025-03", 500, 125_000),
                     ("T2", "2024Q4", 400, 100_000),  # last year: left out
                     ("X1", "2025Q1", 10, 2_500)],    # not a member: left out
                    columns=["unit_id", "period", "signed_persons", "amount"])
FEES.index = FEES.index + 2  # user row numbers (header = row 1)


def test_the_years_fees_become_one_line_per_community():
    result = settle_family_doctor(FEES, UNITS, COMMUNITIES, FamilyDoctorParams(in_package=True), 2025)
    lines = result.lines.set_index("community_id")["amount"]
    assert lines.to_dict() == {"C1": 250_000 + 275_000 + 75_000, "C2": 125_000}
    assert set(result.lines["line"]) == {LINE}
    units = result.units.set_index("unit_id")
    assert units.loc["T1", "signed_persons"] == (1_000 + 1_100) // 2  # mean over its periods
    assert units.loc["T1", "payee_id"] == "H1"  # not distributed: the lead hospital receives
    assert [p.row for p in result.problems] == [6, 7]
    assert result.signed.to_dict() == {"C1": 1_050 + 300, "C2": 500}


def test_distributed_to_the_signing_units():
    result = settle_family_doctor(FEES, UNITS, COMMUNITIES,
                                  FamilyDoctorParams(in_package=True, distribute_to_units=True), 2025)
    units = result.units.set_index("unit_id")
    assert (units["payee_id"] == units.index).all()
    assert "拨付本机构" in units.loc["V1", "explanation"]


def test_not_in_the_package_no_line():
    result = settle_family_doctor(FEES, UNITS, COMMUNITIES, FamilyDoctorParams(), 2025)
    assert result.lines is None and len(result.units) == 3


def test_the_line_is_package_expenditure():
    lines = settle_family_doctor(FEES, UNITS, COMMUNITIES, FamilyDoctorParams(in_package=True),
                                 2025).lines
    empty_cases = pd.DataFrame({"case_id": pd.Series(dtype="string"),
                                "unit_id": pd.Series(dtype="string"),
                                "community_id": pd.Series(dtype="string"),
                                "discharge_date": pd.Series(dtype="datetime64[ns]"),
                                "fund_due": pd.Series(dtype="int64"),
                                "fund_paid": pd.Series(dtype="int64")})
    claims = empty_cases.drop(columns=["case_id", "discharge_date"]).assign(
        claim_id=pd.Series(dtype="string"), claim_type=pd.Series(dtype="string"),
        service_date=pd.Series(dtype="datetime64[ns]"))
    spend = scan_expenditure(empty_cases, empty_cases, claims, UNITS, COMMUNITIES,
                             other_lines=lines).set_index("community_id")
    assert spend.loc["C1", "expenditure_other"] == spend.loc["C1", "expenditure"] == 600_000
