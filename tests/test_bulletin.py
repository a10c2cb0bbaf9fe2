"""The monthly bulletin (issue 10 §3–4): a hand-built March whose ratios and warnings are derived here.

Units: H1 (C1's lead hospital), T1 (C1's township centre), H2 (C2's lead hospital), all in the
county; X1 a city hospital, X2 a hospital in another province (``national``).

February: C1 has 2 cases at H1 (100 points each, fund due 100.00, total cost 200.00).
March, inpatient (total cost 300.00 each):
  C1: H1 ×2 (150 points, fund due 200.00), T1 ×1 (60 points, 50.00), X1 ×1 (fund paid 300.00),
      X2 ×1 (500.00) → 5 cases, 2 outside the county, 1 in another province;
  C2: H2 ×3 (100 points, 200.00), X1 ×1 (300.00) → 4 cases, 1 outside.
March, outpatient (fund paid 10.00 each): C1 3 at T1 + 1 at H1; C2 2 at H2 + 1 at X1.
Packages: C1 4,000.00, C2 10,000.00.
"""

from __future__ import annotations

import zipfile
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from settlement.config import load_config, resolve
from settlement.monthly.bulletin import build_bulletin, scale_fen
from settlement.monthly.bulletin_book import write_bulletin
from settlement.params import EarlyWarningParams

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "sample-county.yaml"


def _units() -> pd.DataFrame:
    return pd.DataFrame({
        "unit_id": ["H1", "T1", "H2", "X1", "X2"],
        "unit_name": ["一院", "城关卫生院", "二院", "市医院", "外省医院"],
        "community_id": ["C1", "C1", "C2", None, None],
        "category": ["lead_hospital", "township_center", "lead_hospital", "external", "external"],
        "level": ["tertiary", "primary", "secondary", "tertiary", "tertiary"],
        "scope": ["county", "county", "county", "city", "national"],
    }).astype("string")


def _cases() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [  # case_id, community, unit, discharge, total, fund_paid, points, fund_due
        ("F1", "C1", "H1", "2025-02-10", 20000, 9000, 100.0, 10000),
        ("F2", "C1", "H1", "2025-02-20", 20000, 9000, 100.0, 10000),
        ("M1", "C1", "H1", "2025-03-05", 30000, 18000, 150.0, 20000),
        ("M2", "C1", "H1", "2025-03-06", 30000, 18000, 150.0, 20000),
        ("M3", "C1", "T1", "2025-03-07", 30000, 4000, 60.0, 5000),
        ("M4", "C1", "X1", "2025-03-08", 30000, 30000, None, None),
        ("M5", "C1", "X2", "2025-03-09", 30000, 50000, None, None),
        ("M6", "C2", "H2", "2025-03-10", 30000, 18000, 100.0, 20000),
        ("M7", "C2", "H2", "2025-03-11", 30000, 18000, 100.0, 20000),
        ("M8", "C2", "H2", "2025-03-12", 30000, 18000, 100.0, 20000),
        ("M9", "C2", "X1", "2025-03-13", 30000, 30000, None, None),
        ("A1", "C1", "H1", "2025-04-02", 30000, 18000, 150.0, 20000),  # after the month: ignored
    ]
    frame = pd.DataFrame(rows, columns=["case_id", "community_id", "unit_id", "discharge_date",
                                        "total_cost", "fund_paid", "points", "fund_due"])
    frame["discharge_date"] = pd.to_datetime(frame["discharge_date"])
    frame["admission_date"] = frame["discharge_date"] - pd.Timedelta(days=3)
    frame["dip_group"] = pd.array(["G1"] * len(frame), dtype="string")
    frame["referral"] = False
    dip = frame.loc[frame["points"].notna(), ["case_id", "unit_id", "community_id", "dip_group",
                                              "points", "fund_due"]].copy()
    dip["fund_due"] = dip["fund_due"].astype("int64")
    cases = frame.drop(columns=["points", "fund_due"])
    cases["self_pay"] = 0
    for col in ("case_id", "community_id", "unit_id"):
        cases[col] = cases[col].astype("string")
    return cases, dip


def _claims() -> pd.DataFrame:
    units = ["T1", "T1", "T1", "H1", "H2", "H2", "X1"]
    comms = ["C1"] * 4 + ["C2"] * 3
    return pd.DataFrame({
        "claim_id": pd.array([f"O{i}" for i in range(7)], dtype="string"),
        "person_id": pd.array([f"P{i}" for i in range(7)], dtype="string"),
        "community_id": pd.array(comms, dtype="string"), "unit_id": pd.array(units, dtype="string"),
        "service_date": pd.to_datetime(["2025-03-15"] * 7),
        "claim_type": pd.array(["general"] * 7, dtype="string"),
        "total_cost": [1500] * 7, "fund_paid": [1000] * 7})


def _tables() -> tuple[dict, pd.DataFrame]:
    cases, dip = _cases()
    communities = pd.DataFrame({"community_id": pd.array(["C1", "C2"], dtype="string"),
                                "insured_enrollees": [1000, 800]})
    groups = pd.DataFrame({"group_code": pd.array(["G1"], dtype="string"),
                           "group_name": pd.array(["高血压"], dtype="string")})
    return {"inpatient_cases": cases, "outpatient_claims": _claims(), "units": _units(),
            "communities": communities, "dip_groups": groups}, dip


PACKAGES = pd.DataFrame({"community_id": ["C1", "C2"], "package": [400000, 1000000]})


@pytest.fixture(scope="module")
def params():
    base = resolve(load_config(CONFIG), 2025).params  # out_of_county 21 %, cross-province 5.5 %
    ew = EarlyWarningParams(execution_lead=Decimal("0.05"), cost_growth=Decimal("0.10"),
                            cmi_change=Decimal("0.15"), case_change=Decimal("0.30"))
    return base.model_copy(update={"early_warning": ew})


@pytest.fixture(scope="module")
def bulletin(params):
    tables, dip = _tables()
    return build_bulletin(tables, params, "2025-03", dip, PACKAGES)


def _value(b, scope, period, code, column="value"):
    ind = b.indicators
    row = ind[(ind.scope == scope) & (ind.period == period) & (ind.indicator == code)]
    assert len(row) == 1
    return row.iloc[0][column]


def test_ratios_of_the_month_with_numerator_and_denominator(bulletin):
    b = bulletin
    assert (_value(b, "C1", "month", "out_of_county_rate", "numerator"),
            _value(b, "C1", "month", "out_of_county_rate", "denominator")) == (2, 5)
    assert _value(b, "C1", "month", "cross_province_rate") == pytest.approx(1 / 5)
    assert _value(b, "C2", "month", "out_of_county_rate") == pytest.approx(1 / 4)
    assert _value(b, "county", "month", "out_of_county_rate") == pytest.approx(3 / 9)
    # 县域内就诊率: C1 (4 in-county claims + 3 in-county cases) ÷ (4 + 5); C2 (2 + 3) ÷ (3 + 4)
    assert _value(b, "C1", "month", "county_visit_rate") == pytest.approx(7 / 9)
    assert _value(b, "C2", "month", "county_visit_rate") == pytest.approx(5 / 7)
    assert _value(b, "C1", "month", "primary_outpatient_share") == pytest.approx(3 / 4)
    # year to date: C1 adds February's 2 in-county cases → 2 out of 7; April is not counted
    assert _value(b, "C1", "ytd", "out_of_county_rate") == pytest.approx(2 / 7)
    assert _value(b, "C1", "ytd", "inpatient_cases") == 7
    # 次均费用 is an amount: exact int fen (3 March cases × 300.00 元 ÷ 3 = 30,000 fen)
    assert _value(b, "C1", "month", "inpatient_cost_per_case") == 30_000
    assert not b.indicators["definition_zh"].isna().any()


def test_cmi_against_the_region_average_of_the_period(bulletin):
    # March: region 660 points ÷ 6 cases = 110; C1 (150 + 150 + 60) ÷ 3 = 120; C2 100
    assert _value(bulletin, "C1", "month", "cmi") == pytest.approx(120 / 110)
    assert _value(bulletin, "C2", "month", "cmi") == pytest.approx(100 / 110)
    assert _value(bulletin, "county", "month", "cmi") == pytest.approx(1.0)
    h1 = bulletin.unit_cmi.set_index("unit_id").loc["H1"]
    assert h1["cmi"] == pytest.approx(150 / 110) and h1["cmi_prev"] == pytest.approx(1.0)


def test_execution_and_run_rate_projection(bulletin):
    ex = bulletin.execution.set_index("community_id")
    # C1: Feb DIP 2 × 100.00 + Mar DIP 2 × 200.00 + 50.00 + outside 300.00 + 500.00 + 4 claims × 10.00
    c1 = 20000 + 40000 + 5000 + 30000 + 50000 + 4000
    c2 = 60000 + 30000 + 3000
    assert (ex.at["C1", "spent_ytd"], ex.at["C2", "spent_ytd"]) == (c1, c2)
    assert ex.at["county", "spent_ytd"] == c1 + c2
    assert ex.at["C1", "spent_month"] == c1 - 20000
    assert ex.at["C1", "share_elapsed"] == pytest.approx(90 / 365)
    assert ex.at["C1", "share_spent"] == pytest.approx(c1 / 400000)
    proj = bulletin.projection.set_index("community_id")
    expected = int(Fraction(c1 * 365, 90) + Fraction(1, 2))  # 604,277.78 → 604,278 fen
    assert proj.at["C1", "projected_spend"] == expected == 604278
    assert proj.at["C1", "projected_balance"] == 400000 - expected


def test_warnings_name_the_numbers(bulletin):
    by_rule: dict[str, list] = {}
    for w in bulletin.warnings:
        by_rule.setdefault(w.rule, []).append(w)
    # execution: C1 149,000 ÷ 400,000 = 37.25 % vs 24.66 % elapsed (> 5 points); C2 9.3 %: no
    assert [w.column for w in by_rule["early_warning.execution"]] == ["C1"]
    assert "37.25%" in by_rule["early_warning.execution"][0].message_zh
    # out of county (target 21 %): C1 40 %, C2 25 %, county 33 %; cross-province (5.5 %): C1 20 %, county 11 %
    assert sorted(w.column for w in by_rule["early_warning.out_of_county"]) == \
        ["C1", "C1", "C2", "county", "county"]
    assert any("2 ÷ 5" in w.message_zh for w in by_rule["early_warning.out_of_county"])
    # 次均费用: C1 and county 200.00 in February → 300.00 in March, +50 %; C2 had no February case
    assert sorted(w.column for w in by_rule["early_warning.cost_growth"]) == ["C1", "county"]
    # H1's CMI 1.0 → 1.3636 (+36 % > 15 %); its cases 2 → 2 (no case warning); T1/H2 new this month
    assert [w.column for w in by_rule["early_warning.unit_cmi"]] == ["H1"]
    assert "early_warning.unit_cases" not in by_rule


def test_thresholds_left_out_are_not_checked(params):
    tables, dip = _tables()
    quiet = params.model_copy(update={"early_warning": EarlyWarningParams()})
    b = build_bulletin(tables, quiet, "2025-03", dip, PACKAGES)
    assert {w.rule for w in b.warnings} == {"early_warning.out_of_county"}


def test_min_unit_cases_silences_small_units(params):
    tables, dip = _tables()
    ew = params.early_warning.model_copy(update={"min_unit_cases": 3})
    b = build_bulletin(tables, params.model_copy(update={"early_warning": ew}), "2025-03", dip, PACKAGES)
    assert "early_warning.unit_cmi" not in {w.rule for w in b.warnings}  # H1 had 2 cases each month


def test_previous_year_gives_same_month_and_seasonal_projection(params):
    tables, dip = _tables()
    prior = tables["inpatient_cases"].iloc[:2].copy()  # two C1 cases of 2024
    prior["discharge_date"] = pd.to_datetime(["2024-03-10", "2024-09-10"])
    prior["admission_date"] = prior["discharge_date"] - pd.Timedelta(days=2)
    prior["fund_paid"] = [10000, 40000]
    previous = {"inpatient_cases": prior, "outpatient_claims": tables["outpatient_claims"].iloc[:0]}
    b = build_bulletin(tables, params, "2025-03", dip, PACKAGES, previous=previous)
    assert _value(b, "C1", "prior_month", "inpatient_cases") == 1
    proj = b.projection[b.projection["method"] == "seasonal"].set_index("community_id")
    c1 = 149000
    assert proj.at["C1", "projected_spend"] == c1 * 50000 // 10000  # × full year ÷ Jan–Mar
    assert proj.at["C2", "projected_spend"] is pd.NA  # no spend last year to date: no seasonal figure


def test_scale_fen_rounds_half_away_from_zero():
    assert scale_fen(1, 1, 2) == 1 and scale_fen(-1, 1, 2) == -1 and scale_fen(5, 1, 3) == 2


def test_workbook_reads_back_with_numbers_that_add_up(bulletin, tmp_path):
    path = write_bulletin(tmp_path / "月度通报.xlsx", bulletin, "示例县")
    book = openpyxl.load_workbook(path)
    assert {"通报", "指标明细", "基金执行进度", "外转去向与病种", "单位CMI", "预警", "口径说明"} <= set(book.sheetnames)
    ex = {r[0]: r for r in book["基金执行进度"].iter_rows(min_row=2, max_row=4, values_only=True)}
    assert ex["C1"][1] == 4000 and ex["C1"][3] == 1490  # yuan, numbers
    assert ex["C1"][3] + ex["C2"][3] == ex["全县"][3]
    detail = list(book["指标明细"].iter_rows(min_row=2, values_only=True))
    num = {(r[0], r[1], r[2]): r[4] for r in detail}
    assert all(isinstance(r[4], (int, float)) for r in detail if r[4] is not None)
    for code in ("out_of_county_rate", "county_visit_rate", "inpatient_cases"):
        assert num[("C1", "本月", code)] + num[("C2", "本月", code)] == num[("全县", "本月", code)]
    warnings = list(book["预警"].iter_rows(min_row=2, values_only=True))
    assert len(warnings) == len(bulletin.warnings)
    with zipfile.ZipFile(path) as zf:  # two charts on 通报, one on 基金执行进度
        assert sum(n.startswith("xl/charts/chart") for n in zf.namelist()) == 3


def test_command_writes_the_bulletin_of_the_sample_county(tmp_path):
    from click.testing import CliRunner

    from settlement.cli import main

    root = Path(__file__).resolve().parents[1]
    result = CliRunner().invoke(main, ["bulletin", "--config", str(CONFIG), "--data",
                                       str(root / "sample_data"), "--month", "2025-06",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "预警 early warnings" in result.output
    book = openpyxl.load_workbook(tmp_path / "月度通报.xlsx")
    ex = {r[0]: r for r in book["基金执行进度"].iter_rows(min_row=2, max_row=4, values_only=True)}
    assert ex["全县"][3] == pytest.approx(ex["GT01"][3] + ex["GT02"][3], abs=0.001)
    assert 0 < ex["全县"][4] < 1 and ex["全县"][5] == pytest.approx(181 / 365)  # 1 Jan – 30 Jun


def test_command_refuses_a_month_outside_the_year(tmp_path):
    from click.testing import CliRunner

    from settlement.cli import main

    root = Path(__file__).resolve().parents[1]
    result = CliRunner().invoke(main, ["bulletin", "--config", str(CONFIG), "--data",
                                       str(root / "sample_data"), "--month", "2024-06",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 1 and "不在结算年度" in result.output


def test_visit_rate_by_persons_counts_each_person_once(params):
    """Persons basis (§6): C1's March has 9 rows of 9 persons; make P-H1's claim and case one person.

    C1 persons: cases M1–M5 (5 persons), claims O0–O3 (4 persons) → 9; give claim O3 (at H1)
    and case M4 (at X1, outside) the same person: 8 persons, 7 of them with an in-county row
    (the shared person has one, at H1) → 7 ÷ 8 = 87.5 %; by visits it stays 7 ÷ 9.
    """
    tables, dip = _tables()
    cases = tables["inpatient_cases"].copy()
    cases["person_id"] = pd.array([f"Q{c}" for c in cases["case_id"]], dtype="string")
    cases.loc[cases["case_id"] == "M4", "person_id"] = "P3"  # the person of claim O3
    tables["inpatient_cases"] = cases
    by_persons = params.indicators.model_copy(update={"visit_rate_basis": "persons"})
    b = build_bulletin(tables, params.model_copy(update={"indicators": by_persons}), "2025-03", dip,
                       PACKAGES)
    assert (_value(b, "C1", "month", "county_visit_rate", "numerator"),
            _value(b, "C1", "month", "county_visit_rate", "denominator")) == (7, 8)
    assert "人数" in _value(b, "C1", "month", "county_visit_rate", "definition_zh")
    visits = build_bulletin(tables, params, "2025-03", dip, PACKAGES)
    assert _value(visits, "C1", "month", "county_visit_rate") == pytest.approx(7 / 9)


def test_the_indicator_table_states_its_period(params):
    from settlement.stages.indicators import compute_indicators

    tables, _ = _tables()
    result = compute_indicators(inpatient_cases=tables["inpatient_cases"],
                                outpatient_claims=tables["outpatient_claims"],
                                units=tables["units"], params=params.indicators,
                                communities=tables["communities"], period="2025")
    assert result.table.columns[1] == "period" and set(result.table["period"]) == {"2025"}


def test_given_packages_spare_the_settlement_with_the_same_bulletin():
    from settlement.monthly.bulletin_inputs import bulletin_for_month
    from settlement.pipeline import load_and_validate

    root = Path(__file__).resolve().parents[1]
    _, resolved, loaded, problems = load_and_validate(CONFIG, root / "sample_data")
    full, _ = bulletin_for_month(loaded.tables, resolved, "2025-04")
    packages = full.execution.loc[full.execution["community_id"] != "county", ["community_id", "package"]]
    quick, _ = bulletin_for_month(loaded.tables, resolved, "2025-04", packages=packages)
    pd.testing.assert_frame_equal(full.execution, quick.execution)
    pd.testing.assert_frame_equal(full.indicators, quick.indicators)
    assert [w.message_zh for w in full.warnings] == [w.message_zh for w in quick.warnings]


def test_the_package_without_cases_and_claims_is_the_year_runs_package():
    """bulletin_for_month takes the year's package from a settlement without any case or claim
    (the package — financing, reserve, chronic carve-out, basis — depends on none): on the
    sample county it is the full year settlement's package of each community, to the fen."""
    from settlement.monthly.bulletin_inputs import bulletin_for_month
    from settlement.pipeline import load_and_validate, settle

    root = Path(__file__).resolve().parents[1]
    _, resolved, loaded, _ = load_and_validate(CONFIG, root / "sample_data")
    year = settle(loaded.tables, resolved).tables["packages"].set_index("community_id")["package"]
    b, _ = bulletin_for_month(loaded.tables, resolved, "2025-06")
    shown = b.execution.set_index("community_id")["package"]
    assert shown.drop("county").astype("int64").to_dict() == year.astype("int64").to_dict()
    assert int(shown["county"]) == int(year.sum())
