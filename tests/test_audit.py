"""Claims audit (差别化报销审核): a hand-built claim set per rule, expected amounts derived here."""

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from settlement.config import load_config, resolve
from settlement.loader import load_folder
from settlement.params import ReimbursementParams
from settlement.sample import reimbursement as sample_terms
from settlement.stages.audit import RULES, audit_claims, expenditure_lines, pay
from settlement.stages.audit_table import check_table

ROOT = Path(__file__).resolve().parent.parent
D = Decimal

PARAMS = ReimbursementParams(
    ratios={"county": {"primary": D("0.90"), "secondary": D("0.80"), "tertiary": D("0.70")},
            "city": {"tertiary": D("0.60")}, "province": {"tertiary": D("0.50")},
            "national": {"secondary": D("0.60")}},
    deductibles={"primary": D(200), "secondary": D(500), "tertiary": D(800)},
    outpatient_deductible=D(0), level_rank={"primary": 0, "secondary": 1, "tertiary": 2},
    level_order=("primary", "secondary", "tertiary"), pooling_scopes=("county",),
    unreferred_cut=D("0.10"), unreferred_cut_scopes=("province", "national"),
    cut_exemptions=("emergency", "registered_residence_elsewhere"), minimum_gap=D("0.10"))

UNITS = pd.DataFrame({
    "unit_id": ["H1", "H2", "T1", "T2", "P1", "N1", "K1"],
    "community_id": pd.array(["C1", "C1", "C1", "C2", None, None, None], dtype="string"),
    "category": ["lead_hospital", "county_hospital", "township_center", "township_center",
                 "external", "external", "external"],
    "level": ["tertiary", "secondary", "primary", "primary", "tertiary", "secondary", "tertiary"],
    "scope": ["county", "county", "county", "county", "province", "national", "city"],
}).astype("string")

POLICY = 1_000_000  # 10,000.00 元 in fen
# case, unit, applied ratio, applied deductible (fen), referral, from, emergency, fund paid
CASES = [
    ("I1", "H2", 0.80, 50_000, False, None, False, 760_000),  # (10,000 − 500) × 80 %: correct
    ("I2", "H2", 0.85, 50_000, False, None, False, 807_500),  # ratio 5 points high
    ("I3", "P1", 0.50, 80_000, False, None, False, 460_000),  # province, unreferred: no cut
    ("I4", "P1", 0.40, 80_000, False, None, True, 368_000),   # emergency, yet cut
    ("I5", "P1", 0.50, 80_000, True, "H1", False, 460_000),   # referred out: correct
    ("I6", "H1", 0.70, 80_000, True, "T1", False, 644_000),   # up from T1: full deductible
    ("I7", "T1", 0.90, 20_000, True, "H1", False, 882_000),   # down from H1: deductible kept
    ("I8", "H2", 0.85, 60_000, False, None, False, 799_000),  # deductible and ratio wrong
    ("I9", "T2", 0.90, 0, True, "H1", False, 900_000),        # from another community: no merge
    ("I10", "H2", 0.80, 50_000, False, None, False, 760_000),  # no policy cost: not audited
]


def cases() -> pd.DataFrame:
    frame = pd.DataFrame(CASES, columns=["case_id", "unit_id", "reimbursement_ratio", "deductible",
                                         "referral", "referral_from_unit_id", "emergency",
                                         "fund_paid"])
    frame["community_id"] = ["C1"] * 8 + ["C2", "C1"]
    frame["policy_cost"] = pd.array([POLICY] * 9 + [None], dtype="Int64")
    frame["deductible"] = frame["deductible"].astype("Int64")
    frame["registered_residence_elsewhere"] = False
    return frame.astype({c: "string" for c in ("case_id", "unit_id", "referral_from_unit_id",
                                               "community_id")})


def claims() -> pd.DataFrame:
    frame = pd.DataFrame({
        "claim_id": ["O1", "O2", "O3"], "unit_id": ["N1", "N1", "T1"],
        "community_id": ["C1", "C1", "C2"],
        "policy_cost": pd.array([10_000, 10_000, 10_000], dtype="Int64"),
        "deductible": pd.array([0, 0, 0], dtype="Int64"),
        "reimbursement_ratio": [0.60, 0.60, 0.90], "referral": [False, False, False],
        "emergency": [False, False, False], "registered_residence_elsewhere": [False, True, False],
        "fund_paid": [6_000, 6_000, 9_000]})
    return frame.astype({c: "string" for c in ("claim_id", "unit_id", "community_id")})


@pytest.fixture(scope="module")
def audit():
    return audit_claims(cases(), claims(), UNITS, PARAMS)


def rows_of(audit, claim_id: str) -> pd.DataFrame:
    return audit.claims[audit.claims["claim_id"] == claim_id].set_index("rule")


def test_pay_rounds_half_up_in_fen():
    # 10.01 × 85 % = 8.5085 → 8.51; 0.30 × 85 % = 0.255 → 0.26; never below a zero base
    assert pay(np.array([1_001, 30, 100]), np.array([0, 0, 500]), np.array([8_500, 8_500, 9_000])
               ).tolist() == [851, 26, 0]


def test_correct_claims_are_not_listed(audit):
    assert set(audit.claims["claim_id"]) == {"I2", "I3", "I4", "I6", "I7", "I8", "I9", "O1"}
    assert audit.audited == {"inpatient": 9, "outpatient": 3}  # I10 has no policy cost


def test_ratio_five_points_above_the_table(audit):
    row = rows_of(audit, "I2").loc["ratio_table"]
    expected = (POLICY - 50_000) * 80 // 100  # 760,000
    assert (row.applied_ratio, row.expected_ratio) == (0.85, 0.80)
    assert (row.expected_fund_paid, row.difference) == (expected, 807_500 - expected)


def test_unreferred_care_out_of_the_city_loses_ten_points(audit):
    row = rows_of(audit, "I3").loc["unreferred_cut_missing"]
    expected = (POLICY - 80_000) * 40 // 100  # 50 % − 10 points
    assert row.expected_ratio == 0.40 and row.difference == 460_000 - expected == 92_000
    outpatient = rows_of(audit, "O1").loc["unreferred_cut_missing"]
    assert outpatient.expected_fund_paid == 10_000 * 50 // 100 and outpatient.difference == 1_000


def test_emergencies_keep_the_full_ratio(audit):
    row = rows_of(audit, "I4").loc["cut_wrongly_applied"]
    expected = (POLICY - 80_000) * 50 // 100
    assert row.expected_ratio == 0.50 and row.difference == 368_000 - expected == -92_000


def test_referred_up_pays_the_deductible_difference(audit):
    row = rows_of(audit, "I6").loc["referral_up_deductible"]
    merged = 80_000 - 20_000  # tertiary 800 − primary 200
    assert (row.applied_deductible, row.expected_deductible) == (80_000, merged)
    assert row.difference == 644_000 - (POLICY - merged) * 70 // 100 == -14_000


def test_referred_down_pays_no_deductible(audit):
    row = rows_of(audit, "I7").loc["referral_down_deductible"]
    assert row.expected_deductible == 0 and row.difference == 882_000 - POLICY * 90 // 100


def test_a_referral_from_another_community_pays_the_full_deductible(audit):
    row = rows_of(audit, "I9").loc["deductible_table"]
    assert row.expected_deductible == 20_000
    assert row.difference == 900_000 - (POLICY - 20_000) * 90 // 100 == 18_000


def test_two_rules_split_the_difference(audit):
    rows = rows_of(audit, "I8")
    expected = (POLICY - 50_000) * 80 // 100               # 760,000
    at_expected_ratio = (POLICY - 60_000) * 80 // 100      # 752,000: the deductible part
    assert rows.loc["deductible_table"].difference == at_expected_ratio - expected == -8_000
    assert rows.loc["ratio_table"].difference == 799_000 - at_expected_ratio == 47_000
    assert rows["difference"].sum() == 799_000 - expected


def test_totals_by_rule_unit_community_and_county(audit):
    totals = audit.totals.set_index(["by", "key"])
    assert totals.loc[("rule", "ratio_table"), "difference"] == 47_500 + 47_000
    assert totals.loc[("unit", "H2"), "claims"] == 2 and totals.loc[("unit", "H2"), "rows"] == 3
    assert totals.loc[("community", "C2"), "difference"] == 18_000
    county = totals.loc[("county", "county")]
    assert county["difference"] == audit.claims["difference"].sum()
    assert county["overpaid"] - county["underpaid"] == county["difference"]
    assert county["claims"] == 8


def test_adjusting_the_expenditure_is_a_parameter(audit):
    assert expenditure_lines(audit.claims, PARAMS) is None  # report only by default
    adjust = PARAMS.model_copy(update={"audit_effect": "adjust_expenditure"})
    lines = expenditure_lines(audit.claims, adjust).set_index("community_id")["amount"]
    c1 = audit.claims.loc[audit.claims["community_id"] == "C1", "difference"].sum()
    assert lines.to_dict() == {"C1": -c1, "C2": -18_000}


def test_no_ratio_table_no_audit():
    result = audit_claims(cases(), claims(), UNITS, ReimbursementParams())
    assert result.claims.empty and result.audited == {} and not result.problems


def test_the_table_check_finds_the_one_broken_gap():
    ratios = {**PARAMS.ratios, "city": {"secondary": D("0.75"), "tertiary": D("0.60")}}
    check = check_table(PARAMS.model_copy(update={"ratios": ratios}))
    bad = check.table[~check.table["ok"]]
    assert len(bad) == 1 and len(check.problems) == 1
    row = bad.iloc[0]
    assert (row.check, row.scope, row.level, row.compared_with) == ("pooling", "county",
                                                                    "secondary", "city")
    assert row.gap == pytest.approx(0.05) and "低于" in row.message_zh
    assert check_table(PARAMS).table["ok"].all()


def test_the_sample_table_meets_three_times_ten_percent():
    params = resolve(load_config(ROOT / "configs" / "sample-county.yaml")).params.reimbursement
    table = check_table(params).table
    assert table["ok"].all() and set(table["check"]) == {"pooling", "level", "referral"}


def test_the_generator_follows_the_sample_config():
    p = resolve(load_config(ROOT / "configs" / "sample-county.yaml")).params.reimbursement
    for i, scope in enumerate(sample_terms.SCOPES):
        for level, rank in (("primary", 0), ("secondary", 1), ("tertiary", 2)):
            assert p.ratios[scope][level] * 10_000 == int(sample_terms.RATIO_BP[i, rank])
    assert {lv: int(v * 100) for lv, v in p.deductibles.items()} == sample_terms.DEDUCTIBLE_FEN
    assert p.unreferred_cut * 10_000 == sample_terms.PENALTY_BP
    assert p.unreferred_cut_scopes == sample_terms.PENALTY_SCOPES


def test_the_sample_county_breaks_every_rule_and_nothing_else():
    params = resolve(load_config(ROOT / "configs" / "sample-county.yaml")).params.reimbursement
    t = load_folder(ROOT / "sample_data").tables
    result = audit_claims(t["inpatient_cases"], t["outpatient_claims"], t["units"], params)
    counts = result.claims["rule"].value_counts()
    assert set(counts.index) == set(RULES) and (counts >= 1).all()
    flagged = len(result.claims.drop_duplicates(["claim_kind", "claim_id"]))
    audited = sum(result.audited.values())
    assert audited == len(t["inpatient_cases"]) + len(t["outpatient_claims"])
    assert 0.01 < flagged / audited < 0.05  # "a few percent"
    for kind, frame in (("inpatient", t["inpatient_cases"]), ("outpatient", t["outpatient_claims"])):
        bp = np.rint(frame["reimbursement_ratio"].to_numpy() * 10_000).astype(np.int64)
        computed = pay(frame["policy_cost"].to_numpy("int64"), frame["deductible"].to_numpy("int64"),
                       bp)
        assert (computed == frame["fund_paid"].to_numpy()).all(), kind  # fund = applied terms


def test_each_unit_statement_lists_its_own_claims_only(tmp_path, audit):
    import openpyxl

    from settlement.report.audit import unit_sheets
    from settlement.report.context import ReportContext
    from settlement.report.statements import write_statement

    units = UNITS.assign(unit_name=UNITS["unit_id"] + "院")
    ctx = ReportContext("示例县", 2025, "run", units, pd.DataFrame({
        "community_id": ["C1", "C2"], "community_name": ["一", "二"]}))
    statement = pd.DataFrame({"unit_id": ["H2"], "line": ["net"], "label_zh": ["净额"],
                              "amount": [0], "explanation": [""]})
    hook = unit_sheets({"claims_audit": audit.claims}, ctx)
    write_statement(tmp_path / "H2.xlsx", "H2", statement, ctx, hook)
    sheet = openpyxl.load_workbook(tmp_path / "H2.xlsx", read_only=True)["审核与补助"]
    cells = {c for row in sheet.iter_rows(values_only=True) for c in row if isinstance(c, str)}
    assert {"I2", "I8"} <= cells and not cells & {"I3", "I4", "I6", "I7", "I9", "O1"}
    write_statement(tmp_path / "T2.xlsx", "T2x", statement, ctx, hook)  # nothing flagged: no sheet
    assert openpyxl.load_workbook(tmp_path / "T2.xlsx", read_only=True).sheetnames == ["结算单"]


@pytest.mark.slow
def test_settlement_audit_command_writes_the_listing(tmp_path):
    from click.testing import CliRunner

    from settlement.cli import main

    result = CliRunner().invoke(main, ["audit", "--config", str(ROOT / "configs" / "sample-county.yaml"),
                                       "--data", str(ROOT / "sample_data"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    listing = pd.read_csv(tmp_path / "results" / "claims_audit.csv", dtype=str)
    assert list(listing.columns) == [  # the columns, then the table and policy cost
        "claim_id", "unit_id", "community_id", "rule", "rule_zh", "applied_ratio",
        "expected_ratio", "applied_deductible", "expected_deductible", "fund_paid",
        "expected_fund_paid", "difference", "claim_kind", "policy_cost"]
    assert listing["difference"].str.match(r"^-?\d+\.\d{2}$").all()  # yuan, two decimals
    assert "合计" in result.output and "未按规定转诊就医" in result.output


def test_each_claim_counts_once_where_its_rows_start_like_duplicated_says():
    """first_rows: c1 listed under two rules counts at its first row only; the same id in the
    other table (kind) is another claim; distinct_count counts ids across both kinds once."""
    from settlement.stages.audit_table import distinct_count, first_rows

    listing = pd.DataFrame({
        "claim_kind": pd.array(["inpatient", "inpatient", "inpatient", "outpatient", "outpatient"],
                               dtype="string"),
        "claim_id": pd.array(["c1", "c1", "c2", "c1", "c3"], dtype="string")})
    assert first_rows(listing).tolist() == [True, False, True, True, True]
    assert distinct_count(listing["claim_id"]) == 3


def test_first_rows_and_distinct_count_agree_with_pandas_on_any_listing():
    from settlement.stages.audit_table import distinct_count, first_rows

    rng = np.random.default_rng(13)
    for size in (0, 1, 2, 50, 2_000):
        listing = pd.DataFrame({
            "claim_kind": pd.array(rng.choice(["inpatient", "outpatient"], size), dtype="string"),
            "claim_id": pd.array([f"ZY{v:03d}" for v in rng.integers(0, 300, size)], dtype="string")})
        assert first_rows(listing).tolist() == (~listing.duplicated(["claim_kind", "claim_id"])).tolist()
        assert distinct_count(listing["claim_id"]) == listing["claim_id"].nunique()
