"""Validation: each bad input gets exactly its problem, at the user's file, row and column.

Every test starts from the tiny valid county (tests/fixtures/tiny_county.py), breaks one
thing, writes the folder as CSV and validates it. A CSV's header is row 1, so
``rows[table][i]`` is row ``i + 2``. The per-test checks run our own masks
(``use_gx=False``, milliseconds); the ``gx`` tests run Great Expectations once per module on
the valid county and on a county with many breakages, and check that GX's verdicts lead to
the same problem list, the Data Docs and the report files. The CLI tests run the whole
``settlement validate`` command (exit codes, config errors, no traceback).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures.tiny_county import YEAR, tiny_county, write_folder
from settlement.cli import main
from settlement.loader import load_folder
from settlement.pipeline import load_and_validate
from settlement.problems import has_errors
from settlement.validation import validate_dataset
from settlement.validation.cross_table import exact_sum
from settlement.validation.report import print_summary, write_report

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONFIG = ROOT / "configs" / "sample-county.yaml"


def validate(folder, year=YEAR, resolved=None, use_gx=False):
    loaded = load_folder(folder)
    return loaded, loaded.problems + validate_dataset(loaded, year, resolved, use_gx=use_gx)


def found(problems, severity="error"):
    """(rule, table, file, row, column, value) of every problem, sorted as the report sorts."""
    return sorted((p.rule, p.table, p.file, p.row or 0, p.column, p.value)
                  for p in problems if p.severity == severity)


def broken(tmp_path, change, **kw):
    tables = tiny_county()
    change(tables)
    return validate(write_folder(tmp_path, tables), **kw)[1]


# ---------------------------------------------------------------- the valid county
def test_tiny_county_is_valid(tmp_path):
    loaded, problems = validate(write_folder(tmp_path))
    assert problems == []
    totals = loaded.validation.totals.set_index(["table", "column"])["total_fen"]
    # Σ inpatient total_cost = 3522.38 + 1400 + 6000 + 9000 + 800 + 1600 = 22,322.38 元
    assert totals[("inpatient_cases", "total_cost")] == 2_232_238
    # Σ prepayments = 668,905.00 + 1,000,000.00 − 500.00 = 1,668,405.00 元
    assert totals[("prepayments", "amount")] == 166_840_500


def test_exact_sum_does_not_overflow_int64():
    import pandas as pd

    big = pd.Series([2**62, 2**62, 2**62, -5], dtype="int64")
    assert exact_sum(big) == 3 * 2**62 - 5  # > int64 max, exact as a Python int


# ---------------------------------------------------------------- what bad input must get
def test_negative_cost(tmp_path):
    def change(t):
        t["inpatient_cases"][2].update(total_cost="-6000.00", self_pay="0.00", fund_paid="0.00")  # K003, row 4
    assert found(broken(tmp_path, change)) == [
        ("value.range", "inpatient_cases", "inpatient_cases.csv", 4, "total_cost", "-6000.00")]


def test_self_pay_above_total_cost(tmp_path):
    def change(t):
        t["inpatient_cases"][0]["self_pay"] = "4000.00"  # K001 total 3522.38, row 2
    assert found(broken(tmp_path, change)) == [
        ("amount.self_pay", "inpatient_cases", "inpatient_cases.csv", 2, "self_pay", "4000.00 > 3522.38")]


def test_fund_paid_above_total_cost_of_a_claim(tmp_path):
    def change(t):
        t["outpatient_claims"][3]["fund_paid"] = "500.01"  # M004 total 500.00, row 5
    assert found(broken(tmp_path, change)) == [
        ("amount.fund_paid", "outpatient_claims", "outpatient_claims.csv", 5, "fund_paid", "500.01 > 500.00")]


def test_duplicate_case_id_lists_every_occurrence(tmp_path):
    def change(t):
        t["inpatient_cases"][3]["case_id"] = "K001"  # row 5 repeats row 2
    assert found(broken(tmp_path, change)) == [
        ("key.duplicate", "inpatient_cases", "inpatient_cases.csv", 2, "case_id", "K001"),
        ("key.duplicate", "inpatient_cases", "inpatient_cases.csv", 5, "case_id", "K001")]


def test_duplicate_compound_key(tmp_path):
    def change(t):
        t["dip_reference_costs"].append({"group_code": "G1", "level": "tertiary", "avg_cost": "1.00"})  # row 8
    assert found(broken(tmp_path, change)) == [
        ("key.duplicate", "dip_reference_costs", "dip_reference_costs.csv", 2, "group_code+level", "G1 / tertiary"),
        ("key.duplicate", "dip_reference_costs", "dip_reference_costs.csv", 8, "group_code+level", "G1 / tertiary")]


def test_unit_that_does_not_exist(tmp_path):
    def change(t):
        t["outpatient_claims"][1]["unit_id"] = "T9"  # M002, row 3
        t["chronic_enrollees"][0]["managing_unit_id"] = "V9"  # row 2
    assert found(broken(tmp_path, change)) == [
        ("fk.units", "chronic_enrollees", "chronic_enrollees.csv", 2, "managing_unit_id", "V9"),
        ("fk.units", "outpatient_claims", "outpatient_claims.csv", 3, "unit_id", "T9")]


def test_village_whose_parent_is_not_a_township_centre(tmp_path):
    def change(t):
        t["units"][4]["parent_unit_id"] = "H1"  # V1 (row 6) under the lead hospital
        t["units"][5]["parent_unit_id"] = "T1"  # V2 (row 7, community C2) under C1's township centre
    assert found(broken(tmp_path, change)) == [
        ("village.parent", "units", "units.csv", 6, "parent_unit_id", "H1（lead_hospital，C1）"),
        ("village.parent", "units", "units.csv", 7, "parent_unit_id", "T1（township_center，C1）")]


def test_lead_unit_must_be_a_lead_hospital_of_the_community(tmp_path):
    def change(t):
        t["communities"][1]["lead_unit_id"] = "T2"  # C2, row 3
    assert found(broken(tmp_path, change)) == [
        ("lead.category", "communities", "communities.csv", 3, "lead_unit_id", "T2（township_center，C2）")]


def test_discharge_before_admission(tmp_path):
    def change(t):
        t["inpatient_cases"][2]["discharge_date"] = "2025-02-27"  # K003 admitted 2025-03-01, row 4
    assert found(broken(tmp_path, change)) == [
        ("date.order", "inpatient_cases", "inpatient_cases.csv", 4, "discharge_date", "2025-03-01 > 2025-02-27")]


def test_dates_outside_the_settlement_year(tmp_path):
    def change(t):
        t["inpatient_cases"][5]["discharge_date"] = "2026-01-02"  # K006, row 7
        t["outpatient_claims"][0]["service_date"] = "2024-12-31"  # M001, row 2
        t["public_health_workpoints"][2]["period"] = "2024Q4"  # row 4
    assert found(broken(tmp_path, change)) == [
        ("date.in_year", "inpatient_cases", "inpatient_cases.csv", 7, "discharge_date", "2026-01-02"),
        ("date.in_year", "outpatient_claims", "outpatient_claims.csv", 2, "service_date", "2024-12-31"),
        ("period.in_year", "public_health_workpoints", "public_health_workpoints.csv", 4, "period", "2024Q4")]


def test_year_checks_are_skipped_without_a_year(tmp_path):
    def change(t):
        t["outpatient_claims"][0]["service_date"] = "2024-12-31"
    assert found(broken(tmp_path, change, year=None)) == []


def test_missing_reference_cost_for_a_member_unit_case(tmp_path):
    def change(t):
        t["dip_reference_costs"] = [r for r in t["dip_reference_costs"] if (r["group_code"], r["level"]) != ("G2", "primary")]
    # K002 (row 3, T1 primary) and K006 (row 7, T2 primary) are G2 cases at primary units
    assert found(broken(tmp_path, change)) == [
        ("dip.reference", "inpatient_cases", "inpatient_cases.csv", 3, "dip_group", "G2 / primary"),
        ("dip.reference", "inpatient_cases", "inpatient_cases.csv", 7, "dip_group", "G2 / primary")]


def test_overlapping_chronic_enrolment(tmp_path):
    def change(t):  # row 4: P02 again while still enrolled since 2024-08-26
        t["chronic_enrollees"].append({"person_id": "P02", "community_id": "C1", "managing_unit_id": "V1",
                                       "diseases": "DM", "enroll_start": "2025-03-01", "enroll_end": "",
                                       "excluded_conditions": "", "family_doctor_signed": "false"})
    assert found(broken(tmp_path, change)) == [
        ("enrolment.overlap", "chronic_enrollees", "chronic_enrollees.csv", 4, "enroll_start", "2025-03-01 ~ （在册）"),
        ("key.duplicate", "chronic_enrollees", "chronic_enrollees.csv", 2, "person_id", "P02"),
        ("key.duplicate", "chronic_enrollees", "chronic_enrollees.csv", 4, "person_id", "P02")]


def test_enum_pattern_payee_entity_and_budget(tmp_path):
    def change(t):
        t["units"][5]["category"] = "clinic"  # V2, row 7
        t["prepayments"][0]["period"] = "2025-13"  # row 2
        t["prepayments"][1]["payee_id"] = "Z1"  # row 3
        t["performance_scores"][7]["entity_id"] = "C9"  # community C9, row 9
        t["fund_budget"].pop(1)  # C2 has no budget (communities row 3)
    assert found(broken(tmp_path, change)) == [
        ("budget.missing", "communities", "communities.csv", 3, "community_id", "C2"),
        ("fk.entity", "performance_scores", "performance_scores.csv", 9, "entity_id", "C9"),
        ("fk.payee", "prepayments", "prepayments.csv", 3, "payee_id", "Z1"),
        ("value.enum", "units", "units.csv", 7, "category", "clinic"),
        ("value.pattern", "prepayments", "prepayments.csv", 2, "period", "2025-13")]


def test_a_cell_the_loader_rejected_is_not_reported_again(tmp_path):
    def change(t):
        t["inpatient_cases"][0]["total_cost"] = "abc"  # row 2: money.format only (not ≥ 0, not self_pay ≤ total)
        t["dip_reference_costs"][0]["avg_cost"] = ""  # row 2: value.required only (not > 0)
    assert found(broken(tmp_path, change)) == [
        ("money.format", "inpatient_cases", "inpatient_cases.csv", 2, "total_cost", "abc"),
        ("value.required", "dip_reference_costs", "dip_reference_costs.csv", 2, "avg_cost", "")]


def test_missing_table_skips_the_rules_that_need_it(tmp_path):
    loaded, problems = validate(write_folder(tmp_path, skip=("units",)))
    assert found(problems) == [("table.missing", "units", str(tmp_path), 0, "", "")]


def test_header_only_required_table_is_empty(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "dip_groups.csv").write_text("group_code,group_name,score,group_type\n", encoding="utf-8")
    problems = validate(tmp_path)[1]
    # the groups used by cases and reference costs are now unknown, too
    assert ("table.empty", "dip_groups", "dip_groups.csv", 0, "", "0") in found(problems)
    assert {p.rule for p in problems} == {"table.empty", "fk.dip_groups"}


def test_unknown_extra_column_is_a_warning_only(tmp_path):
    def change(t):
        for row in t["outpatient_claims"]:
            row["remark"] = "x"
    problems = broken(tmp_path, change)
    assert not has_errors(problems)
    assert found(problems, "warning") == [("column.unknown", "outpatient_claims", "outpatient_claims.csv", 0, "remark", "")]


def test_excel_sheet_problems_carry_sheet_row_numbers(tmp_path):
    tables = tiny_county()
    write_folder(tmp_path, tables, skip=("outpatient_claims",))
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "outpatient_claims"
    sheet.append(["2025 年门诊结算明细（单位：元）"])  # title row 1, header on row 2
    header = list(tables["outpatient_claims"][0])
    sheet.append(header)
    for row in tables["outpatient_claims"]:
        sheet.append([row[h] for h in header])
    sheet["G4"] = "-120.00"  # M002 total_cost, sheet row 4
    sheet["H4"] = "-90.00"
    book.save(tmp_path / "门诊.xlsx")
    assert found(validate(tmp_path)[1]) == [
        ("value.range", "outpatient_claims", "门诊.xlsx", 4, "fund_paid", "-90.00"),
        ("value.range", "outpatient_claims", "门诊.xlsx", 4, "total_cost", "-120.00")]


def test_config_check_level_coefficients(tmp_path):
    resolved = SimpleNamespace(params=SimpleNamespace(dip=SimpleNamespace(level_coefficients={"tertiary": 1})))
    problems = validate(write_folder(tmp_path), resolved=resolved)[1]
    assert [(p.rule, p.value) for p in problems] == [("config.level", "primary"), ("config.level", "secondary")]


def test_money_total_beyond_int64_is_an_error(tmp_path):
    def change(t):
        t["outpatient_claims"] = [dict(t["outpatient_claims"][0], claim_id=f"M{i:03d}",
                                       total_cost="999999999999999.99", fund_paid="0.00") for i in range(100)]
    problems = broken(tmp_path, change)
    assert [(p.rule, p.table, p.column) for p in problems] == [("amount.total", "outpatient_claims", "total_cost")]


# ---------------------------------------------------------------- Great Expectations (one run each)
@pytest.fixture(scope="module")
def gx_valid(tmp_path_factory):
    loaded, problems = validate(write_folder(tmp_path_factory.mktemp("valid")), use_gx=True)
    return loaded, problems


def _many_breakages(t):
    t["inpatient_cases"][2].update(total_cost="-6000.00", self_pay="0.00", fund_paid="0.00")
    t["inpatient_cases"][3]["case_id"] = "K001"
    t["inpatient_cases"][5]["discharge_date"] = "2026-01-02"
    t["inpatient_cases"][1]["childbirth"] = "maybe"
    t["outpatient_claims"][1]["unit_id"] = "T9"
    t["outpatient_claims"][2]["claim_type"] = "dental"
    t["units"][4]["parent_unit_id"] = "H1"
    t["units"][6]["level"] = "top"
    t["dip_groups"][1]["score"] = "0"
    t["dip_reference_costs"].append({"group_code": "G1", "level": "tertiary", "avg_cost": "1.00"})
    t["performance_scores"][0]["score"] = "101"
    t["prepayments"][0]["period"] = "2025-13"
    t["overrun_adjustments"][0]["amount"] = "0.00"
    t["communities"][0]["insured_enrollees"] = "0"


@pytest.fixture(scope="module")
def gx_broken(tmp_path_factory):
    tables = tiny_county()
    _many_breakages(tables)
    folder = write_folder(tmp_path_factory.mktemp("broken"), tables)
    return folder, validate(folder, use_gx=True)


@pytest.mark.slow
def test_gx_passes_the_valid_county(gx_valid):
    loaded, problems = gx_valid
    assert problems == []
    suites = loaded.validation.suites
    assert suites.gx_error == "" and suites.gx_version.startswith("1.")
    assert set(suites.results) == {t for t in loaded.sources}  # one suite per loaded table
    assert all(v["success"] is True for v in suites.verdicts)


@pytest.mark.slow
def test_gx_verdicts_give_the_same_problems_as_our_masks(gx_broken):
    folder, (loaded, with_gx) = gx_broken
    without_gx = validate(folder, use_gx=False)[1]
    assert found(with_gx) == found(without_gx)
    failed = {(v["table"], v["rule"]) for v in loaded.validation.suites.verdicts if v["success"] is False}
    assert {("inpatient_cases", "value.range"), ("inpatient_cases", "key.duplicate"),
            ("inpatient_cases", "date.in_year"), ("outpatient_claims", "value.enum"),
            ("units", "value.enum"), ("dip_groups", "value.range"), ("dip_reference_costs", "key.duplicate"),
            ("performance_scores", "value.range"), ("prepayments", "value.pattern"),
            ("overrun_adjustments", "value.range"), ("communities", "value.range")} <= failed
    assert ("value.range", "dip_groups", "dip_groups.csv", 3, "score", "0.0") in found(with_gx)
    assert ("value.range", "overrun_adjustments", "overrun_adjustments.csv", 2, "amount", "0.00") in found(with_gx)


@pytest.mark.slow
def test_report_files_list_each_problem_at_its_row(gx_broken, tmp_path):
    folder, (loaded, problems) = gx_broken
    paths = write_report(problems, loaded, tmp_path / "validation", data_docs=True)  # --data-docs
    assert paths["workbook"].name == "问题清单.xlsx" and paths["html"].name == "校验报告.html"
    assert (tmp_path / "validation" / "gx_data_docs" / "index.html").exists()
    book = openpyxl.load_workbook(paths["workbook"], read_only=True)
    assert book.sheetnames == ["问题清单", "汇总", "金额合计", "校验项"]
    rows = list(book["问题清单"].iter_rows(values_only=True))
    assert rows[0][:7] == ("严重程度 severity", "数据表 table", "文件 file", "行号 row", "列 column",
                           "错误值 value", "规则 rule")
    assert ("错误", "inpatient_cases", "inpatient_cases.csv", 5, "case_id", "K001") in [r[:6] for r in rows]
    summary = {r[0]: r for r in book["汇总"].iter_rows(values_only=True)}
    assert summary["units"][3:6] == (7, 2, 0)  # 7 rows, 2 errors (level, parent), 0 warnings
    html = paths["html"].read_text(encoding="utf-8")
    assert "未通过 FAILED" in html and "inpatient_cases.csv" in html and "<script" not in html


def test_console_summary_is_chinese_with_english(tmp_path):
    def change(t):
        t["inpatient_cases"][0]["self_pay"] = "4000.00"
    tables = tiny_county()
    change(tables)
    loaded, problems = validate(write_folder(tmp_path, tables))
    lines: list[str] = []
    print_summary(problems, loaded, lines.append)
    text = "\n".join(lines)
    assert "校验未通过 Validation FAILED：1 个错误 errors" in text
    assert "inpatient_cases.csv 第 2 行 row 2 · self_pay" in text and "个人负担不能大于医疗总费用" in text


# ---------------------------------------------------------------- the command line
def _config(tmp_path, mutate) -> Path:
    raw = yaml.safe_load(SAMPLE_CONFIG.read_text(encoding="utf-8"))
    mutate(raw["parameters"])
    path = tmp_path / "county.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _cli(config: Path, data: Path, out: Path | None = None):
    args = ["validate", "--config", str(config), "--data", str(data)] + (["--out", str(out)] if out else [])
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.mark.slow
def test_cli_exit_0_on_valid_data_and_1_on_invalid(tmp_path):
    good = _cli(SAMPLE_CONFIG, write_folder(tmp_path / "good"), tmp_path / "out")
    assert good.exit_code == 0 and "校验通过 Validation PASSED" in good.output
    assert (tmp_path / "out" / "validation" / "问题清单.xlsx").exists()
    tables = tiny_county()
    tables["units"][4]["parent_unit_id"] = "H1"
    bad = _cli(SAMPLE_CONFIG, write_folder(tmp_path / "bad", tables))
    assert bad.exit_code == 1 and "units.csv 第 6 行 row 6 · parent_unit_id" in bad.output


@pytest.mark.parametrize("mutate, expected", [
    (lambda p: p["package"].pop("risk_reserve_rate"), "缺少参数 `package.risk_reserve_rate`"),
    (lambda p: p["package"]["risk_reserve_rate"]["values"].update({"2024-07-01": None}), "已于 2024-07-01 失效"),
    (lambda p: p["package"]["risk_reserve_rate"].update(unit="yuan"), "的单位应为 `ratio`"),
    (lambda p: p["package"]["risk_reserve_rate"].update(values={"2023-01-01": "五个点"}), "package.risk_reserve_rate"),
], ids=["missing", "expired", "wrong-unit", "wrong-type"])
def test_config_errors_are_reported_cleanly_with_exit_1(tmp_path, monkeypatch, mutate, expected):
    import settlement.validation as validation

    monkeypatch.setattr(validation, "run_suites",  # config errors are the point here: no GX run
                        lambda inputs, year, use_gx=True, **kw: validation.gx_suites.run_suites(inputs, year, use_gx=False, **kw))
    result = _cli(_config(tmp_path, mutate), write_folder(tmp_path / "data"))
    assert result.exit_code == 1
    assert expected in result.output and "Traceback" not in result.output
    _, _, _, problems = load_and_validate(_config(tmp_path, mutate), tmp_path / "data")
    assert {p.table for p in problems} == {"config"}


@pytest.mark.slow
def test_committed_sample_data_validates(tmp_path):
    result = _cli(SAMPLE_CONFIG, ROOT / "sample_data", tmp_path / "out")
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------- large tables: DuckDB whole-table checks
def test_duckdb_whole_table_checks_give_the_same_problems_as_the_masks(tmp_path, monkeypatch):
    """Every table treated as large (DuckDB counts, failing rows fetched by SQL) lists exactly the
    problems the pandas masks list: same rule, file, user row, column and shown value."""
    from settlement.validation import sql_checks

    tables = tiny_county()
    _many_breakages(tables)
    tables["outpatient_claims"][3]["fund_paid"] = "600.00"  # M004 row 5: 600.00 > total 500.00
    tables["inpatient_cases"][0]["self_pay"] = "4000.00"  # K001 row 2: 4000.00 > 3522.38
    tables["inpatient_cases"][4]["admission_date"] = "2025-07-05"  # K005 row 6: discharged 07-02
    tables["outpatient_claims"][0]["person_id"] = "x" * 65  # longer than an id may be (64)
    folder = write_folder(tmp_path, tables)
    by_masks = validate(folder, resolved=None)[1]
    monkeypatch.setattr(sql_checks, "LARGE_ROWS", 1)
    loaded, by_sql = validate(folder, resolved=None)
    assert found(by_sql) == found(by_masks)
    assert ("amount.fund_paid", "outpatient_claims", "outpatient_claims.csv", 5, "fund_paid", "600.00 > 500.00") \
        in found(by_sql)
    assert ("date.order", "inpatient_cases", "inpatient_cases.csv", 6, "discharge_date",
            "2025-07-05 > 2025-07-02") in found(by_sql)
    assert ("fk.units", "outpatient_claims", "outpatient_claims.csv", 3, "unit_id", "T9") in found(by_sql)
    verdicts = loaded.validation.suites.verdicts
    assert {v.get("engine") for v in verdicts} == {"DuckDB 全表"}
    # the key check counts both K001 rows; range counts the -6000.00 total
    counted = {(v["table"], v["rule"], v["column"]): v["unexpected"] for v in verdicts}
    assert counted[("inpatient_cases", "key.duplicate", "case_id")] == 2
    assert counted[("inpatient_cases", "value.range", "total_cost")] == 1


def test_money_totals_in_duckdb_are_exact_beyond_int64(tmp_path, monkeypatch):
    """Six cases of 2^62 fen each sum to 6 × 2^62 fen, beyond int64 (2^63 − 1): DuckDB's HUGEINT
    sum keeps it exact, as the pandas path's split sum does."""
    from settlement.validation import sql_checks
    from settlement.validation.cross_table import money_totals
    from settlement.validation.inputs import Inputs

    tables = tiny_county()
    folder = write_folder(tmp_path, tables)
    loaded = load_folder(folder)
    loaded.tables["inpatient_cases"]["total_cost"] = np.int64(2**62)  # 6 rows × 2^62 fen > int64
    monkeypatch.setattr(sql_checks, "LARGE_ROWS", 1)
    inputs = Inputs.of(loaded)
    totals = money_totals(inputs).set_index(["table", "column"])["total_fen"]
    assert totals[("inpatient_cases", "total_cost")] == 6 * 2**62
    # self_pay 536.54 + 300 + 1,000 + 3,000 + 200 + 400 元 = 5,436.54 元
    assert totals[("inpatient_cases", "self_pay")] == 543654
    inputs.close()


@settings(max_examples=40, deadline=None)
@given(keys=st.lists(st.tuples(st.sampled_from(["A", "B", "C", None, "中"]), st.integers(0, 3)), max_size=30))
def test_duplicate_rows_in_duckdb_count_what_pandas_counts(keys):
    """The key check's hash pre-pass never hides a repeat: for any keys (single or compound,
    with empty cells), DuckDB's count of rows with a repeated key is pandas' ``duplicated``."""
    from settlement.validation.sql_checks import Tables

    frame = pd.DataFrame({"a": pd.array([k[0] for k in keys], dtype="string"),
                          "b": pd.array([k[1] for k in keys], dtype="Int64")}, index=range(1, len(keys) + 1))
    tables = Tables({"t": frame})
    for key in (["a"], ["a", "b"]):
        present = frame[key].notna().all(axis=1)
        expected = int((frame[present].duplicated(subset=key, keep=False)).sum())
        assert tables.duplicate_rows("t", key) == expected
    tables.close()
