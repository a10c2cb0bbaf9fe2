"""The expenditure scan: cases and claims → per-community lines, by the insured's community."""

import pandas as pd

from global_budget_scenario import UNITS, YUAN, communities, s
from settlement.stages.expenditure import EXPENDITURE_COLUMNS, scan_expenditure


def dip_cases(*rows):
    """rows of (case_id, unit_id, insured community, fund_due yuan)."""
    case, unit, comm, due = zip(*rows) if rows else ((), (), (), ())
    return pd.DataFrame({"case_id": s(*case), "unit_id": s(*unit), "community_id": s(*comm),
                         "fund_due": pd.array([d * YUAN for d in due], dtype="int64"),
                         "case_class": s(*["normal"] * len(rows))})


def inpatient(*rows):
    """rows of (case_id, unit_id, insured community, fund_paid yuan)."""
    case, unit, comm, paid = zip(*rows)
    return pd.DataFrame({"case_id": s(*case), "unit_id": s(*unit), "community_id": s(*comm),
                         "fund_paid": pd.array([p * YUAN for p in paid], dtype="int64")})


def claims(*rows):
    """rows of (claim_id, insured community, claim_type, fund_paid yuan)."""
    cid, comm, kind, paid = zip(*rows) if rows else ((), (), (), ())
    return pd.DataFrame({"claim_id": s(*cid), "community_id": s(*comm), "unit_id": s(*["TA1"] * len(rows)),
                         "claim_type": s(*kind),
                         "fund_paid": pd.array([p * YUAN for p in paid], dtype="int64")})


CASES = dip_cases(("c1", "HA", "A", 1000), ("c2", "TA1", "A", 200),
                  ("c3", "HA", "B", 700),     # B resident treated at A's lead hospital → B
                  ("c4", "HB", None, 900))    # insured outside the county: in no package
INPATIENT = inpatient(("c1", "HA", "A", 800), ("c2", "TA1", "A", 150), ("c3", "HA", "B", 600),
                      ("c4", "HB", None, 800),
                      ("c5", "X1", "A", 5000),  # city hospital
                      ("c6", "X2", "B", 9000),  # out of province
                      ("c7", "N1", "A", 300))   # non-member county hospital
CLAIMS = claims(("o1", "A", "general", 30), ("o2", "A", "chronic_special", 45),
                ("o3", "B", "two_diseases", 12), ("o4", "B", "general", 8))


def test_lines_by_insured_community():
    frame = scan_expenditure(CASES, INPATIENT, CLAIMS, UNITS, communities()).set_index("community_id")
    a, b = frame.loc["A"], frame.loc["B"]
    # A: DIP 1,000 + 200 = 1,200; city 5,000; non-member county 300; outpatient 30 + 45 = 75
    assert a["expenditure_dip"] == 1200 * YUAN
    assert a["expenditure_external_city"] == 5000 * YUAN
    assert a["expenditure_external_county"] == 300 * YUAN
    assert a["expenditure_external"] == 5300 * YUAN
    assert a["expenditure_outpatient_general"] == 30 * YUAN
    assert a["expenditure_outpatient_chronic_special"] == 45 * YUAN
    assert a["expenditure_outpatient"] == 75 * YUAN
    assert a["expenditure"] == (1200 + 5300 + 75) * YUAN
    # B: DIP 700 (treated at A's hospital, counted for B); national 9,000; outpatient 12 + 8
    assert b["expenditure_dip"] == 700 * YUAN
    assert b["expenditure_external_national"] == 9000 * YUAN
    assert b["expenditure_outpatient"] == 20 * YUAN
    assert b["expenditure"] == (700 + 9000 + 20) * YUAN
    assert (a["cases_dip"], a["cases_external"], a["claims_outpatient"]) == (2, 2, 2)
    assert list(frame.reset_index().columns) == EXPENDITURE_COLUMNS
    assert all(str(frame[c].dtype) == "int64" for c in EXPENDITURE_COLUMNS[1:])


def test_member_case_fund_paid_is_ignored_in_favour_of_dip_fund_due():
    # c1 was paid 800 at claim time but DIP says 1,000 is due: the package bears 1,000
    frame = scan_expenditure(CASES, INPATIENT, CLAIMS, UNITS, communities()).set_index("community_id")
    assert frame.loc["A", "expenditure_dip"] == 1200 * YUAN


def test_communities_without_activity_get_zero_rows():
    frame = scan_expenditure(dip_cases(), INPATIENT.iloc[0:0], claims(), UNITS, communities())
    assert frame["community_id"].tolist() == ["A", "B"]
    assert (frame["expenditure"] == 0).all()


def test_other_lines_and_dip_rounding_line():
    # other: family-doctor fees 50 for A, minus a chronic carve-out of 20 → 30
    other = pd.DataFrame({"community_id": s("A", "A"), "line": s("family_doctor", "chronic_carve_out"),
                          "label_zh": s("家庭医生签约服务费", "慢病包干人群支出（单列）"),
                          "amount": pd.array([50 * YUAN, -20 * YUAN], dtype="int64")})
    # the DIP unit settlement of HA says 1,700.01 where its cases sum to 1,000 + 700 = 1,700.00:
    # the 0.01 is a rounding line of HA's own community (A)
    dip_units = pd.DataFrame({"unit_id": s("HA", "TA1", "HB"),
                              "fund_due": pd.array([170_001, 20_000, 90_000], dtype="int64")})
    frame = scan_expenditure(CASES, INPATIENT, CLAIMS, UNITS, communities(), other_lines=other,
                             dip_units=dip_units).set_index("community_id")
    assert frame.loc["A", "expenditure_other"] == 30 * YUAN
    assert frame.loc["A", "expenditure_dip_rounding"] == 1
    assert frame.loc["B", "expenditure_dip_rounding"] == 0
    assert frame.loc["A", "expenditure"] == (1200 + 5300 + 75 + 30) * YUAN + 1
