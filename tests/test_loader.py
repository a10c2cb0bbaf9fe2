"""Loader: files as users save them → typed frames, every problem at the user's row.

Each test writes the tiny valid county (tests/fixtures/tiny_county.py) to a temporary folder,
changes one thing, loads it, and checks the frames or the problems. In a CSV the header is
row 1, so ``rows[table][i]`` is row ``i + 2``.
"""

from __future__ import annotations

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fixtures.tiny_county import tiny_county, write_csv, write_folder
from settlement import cells
from settlement.loader import load_folder
from settlement.schema import contract


def errors(result):
    return [(p.rule, p.table, p.file, p.row, p.column, p.value) for p in result.problems if p.severity == "error"]


def test_valid_folder_loads_with_contract_types_and_user_row_numbers(tmp_path):
    result = load_folder(write_folder(tmp_path))
    assert result.problems == []
    cases = result.tables["inpatient_cases"]
    assert list(cases.columns) == contract()["inpatient_cases"].column_names
    assert cases.index.tolist() == [2, 3, 4, 5, 6, 7]  # header is row 1
    assert str(cases["case_id"].dtype) == "string" and cases["total_cost"].dtype == "int64"
    assert cases["admission_date"].dtype == "datetime64[ns]" and cases["referral"].dtype == bool
    # K001: 3,522.38 元 = 352238 fen; K003 violation deduction 120.00 元 = 12000 fen
    assert cases.loc[2, "total_cost"] == 352238 and cases.loc[4, "violation_deduction"] == 12000
    assert pd.isna(cases.loc[6, "dip_group"])  # K005 unmatched: empty → <NA>
    budget = result.tables["fund_budget"]
    assert budget["official_package"].dtype == "Int64"  # empty = "not given", not 0
    assert pd.isna(budget.loc[2, "official_package"]) and budget.loc[3, "official_package"] == 2079979000
    assert set(result.file_hashes) == {f"{t}.csv" for t in tiny_county()}


def test_ids_keep_leading_zeros(tmp_path):
    tables = tiny_county()
    tables["units"][2]["unit_id"] = "007"  # T1 renamed
    result = load_folder(write_folder(tmp_path, tables))
    assert "007" in result.tables["units"]["unit_id"].tolist()


def test_missing_required_table_is_an_error_optional_is_not(tmp_path):
    result = load_folder(write_folder(tmp_path, skip=("units", "prepayments")))
    assert [(p.rule, p.table) for p in result.problems] == [("table.missing", "units")]
    assert result.tables["prepayments"].empty and "prepayments" not in result.sources


def test_missing_column_names_table_file_and_column(tmp_path):
    tables = tiny_county()
    for row in tables["outpatient_claims"]:
        del row["fund_paid"]
    result = load_folder(write_folder(tmp_path, tables))
    assert errors(result) == [("column.missing", "outpatient_claims", "outpatient_claims.csv", None, "fund_paid", "")]


def test_unknown_extra_column_is_a_warning_and_ignored(tmp_path):
    tables = tiny_county()
    for row in tables["units"]:
        row["备注"] = "x"
    result = load_folder(write_folder(tmp_path, tables))
    assert [(p.rule, p.severity, p.file, p.column) for p in result.problems] == [
        ("column.unknown", "warning", "units.csv", "备注")]
    assert "备注" not in result.tables["units"].columns


def test_empty_file_is_reported_with_its_name(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "dip_groups.csv").write_bytes(b"")
    result = load_folder(tmp_path)
    assert errors(result) == [("file.empty", "dip_groups", "dip_groups.csv", None, "", "")]


def test_gbk_file_loads_correctly(tmp_path):
    tables = tiny_county()
    write_folder(tmp_path, tables)
    write_csv(tmp_path / "units.csv", tables["units"], encoding="gbk")  # what Chinese Excel saves
    result = load_folder(tmp_path)
    assert result.problems == []
    assert result.sources["units"].encoding == "GB18030/GBK"
    assert result.tables["units"]["unit_name"].tolist()[:3] == ["县人民医院", "县第二人民医院", "城关镇卫生院"]


def test_utf8_bom_header_is_read(tmp_path):
    tables = tiny_county()
    write_folder(tmp_path, tables)
    write_csv(tmp_path / "communities.csv", tables["communities"], encoding="utf-8-sig")
    result = load_folder(tmp_path)
    assert result.problems == [] and result.tables["communities"]["community_id"].tolist() == ["C1", "C2"]


def test_thousands_separators_are_parsed_exactly(tmp_path):
    tables = tiny_county()
    tables["inpatient_cases"][3]["total_cost"] = "9,000.00"
    tables["fund_budget"][1]["official_package"] = "20,799,790.00"
    tables["prepayments"][0]["amount"] = "¥668,905.01"
    result = load_folder(write_folder(tmp_path, tables))
    assert result.problems == []
    assert result.tables["inpatient_cases"].loc[5, "total_cost"] == 900_000  # 9,000.00 元
    assert result.tables["fund_budget"].loc[3, "official_package"] == 2_079_979_000
    assert result.tables["prepayments"].loc[2, "amount"] == 66_890_501


def test_non_numeric_amount_is_reported_at_its_row_and_column(tmp_path):
    tables = tiny_county()
    tables["inpatient_cases"][2]["total_cost"] = "六千元"  # K003, row 4
    tables["outpatient_claims"][1]["fund_paid"] = "90.001"  # three decimals, row 3
    result = load_folder(write_folder(tmp_path, tables))
    assert errors(result) == [
        ("money.format", "inpatient_cases", "inpatient_cases.csv", 4, "total_cost", "六千元"),
        ("money.format", "outpatient_claims", "outpatient_claims.csv", 3, "fund_paid", "90.001")]
    assert result.flagged[("inpatient_cases", "total_cost")].tolist() == [4]


def test_empty_required_cell_and_bad_dates_and_booleans(tmp_path):
    tables = tiny_county()
    tables["inpatient_cases"][0]["person_id"] = ""  # row 2
    tables["inpatient_cases"][1]["admission_date"] = "2024/12/28"  # row 3: accepted (Excel's own form)
    tables["inpatient_cases"][2]["discharge_date"] = "2025-02-30"  # row 4: no such day
    tables["inpatient_cases"][3]["admission_date"] = "2025-5-1"  # row 5: accepted
    tables["inpatient_cases"][4]["referral"] = "是"  # row 6: accepted
    tables["inpatient_cases"][5]["childbirth"] = "maybe"  # row 7
    result = load_folder(write_folder(tmp_path, tables))
    assert errors(result) == [
        ("value.required", "inpatient_cases", "inpatient_cases.csv", 2, "person_id", ""),
        ("date.format", "inpatient_cases", "inpatient_cases.csv", 4, "discharge_date", "2025-02-30"),
        ("bool.format", "inpatient_cases", "inpatient_cases.csv", 7, "childbirth", "maybe")]
    cases = result.tables["inpatient_cases"]
    assert cases.loc[5, "admission_date"] == pd.Timestamp("2025-05-01") and cases.loc[6, "referral"]
    assert cases.loc[3, "admission_date"] == pd.Timestamp("2024-12-28")


def test_malformed_csv_line_is_reported_with_its_row(tmp_path):
    write_folder(tmp_path)
    path = tmp_path / "communities.csv"
    path.write_text(path.read_text(encoding="utf-8") + "C3,第三医共体,H3,1,2,多余\n", encoding="utf-8")
    result = load_folder(tmp_path)
    assert [(p.rule, p.file, p.row) for p in result.problems] == [("row.malformed", "communities.csv", 4)]


def test_excel_sheet_with_title_rows_loads_with_sheet_row_numbers(tmp_path):
    tables = tiny_county()
    write_folder(tmp_path, tables, skip=("inpatient_cases",))
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "inpatient_cases"
    sheet.append(["示例县 2025 年住院病例"])  # row 1: title
    sheet.append([])  # row 2: blank
    header = list(tables["inpatient_cases"][0])
    sheet.append(header)  # row 3: header
    for row in tables["inpatient_cases"]:  # rows 4…9; money as Excel numbers
        sheet.append([float(row[h]) if h in ("total_cost", "self_pay", "fund_paid") else row[h] for h in header])
    sheet["H5"] = -1400.0  # K002 total_cost, sheet row 5
    book.save(tmp_path / "病例.xlsx")
    result = load_folder(tmp_path)
    source = result.sources["inpatient_cases"]
    assert (source.kind, source.sheet, source.header_row) == ("xlsx", "inpatient_cases", 3)
    cases = result.tables["inpatient_cases"]
    assert cases.index.tolist() == [4, 5, 6, 7, 8, 9]
    assert cases.loc[4, "total_cost"] == 352238  # the float 3522.38 read exactly
    assert cases.loc[5, "total_cost"] == -140000
    assert result.problems == []  # the sign is the validation step's business (value.range)


def test_parquet_with_decimal_money_loads_exactly(tmp_path):
    tables = tiny_county()
    write_folder(tmp_path, tables, skip=("dip_reference_costs",))
    rows = tables["dip_reference_costs"]
    from decimal import Decimal

    pq.write_table(pa.table({
        "group_code": [r["group_code"] for r in rows], "level": [r["level"] for r in rows],
        "avg_cost": pa.array([Decimal(r["avg_cost"]) for r in rows], type=pa.decimal128(18, 2))}),
        tmp_path / "dip_reference_costs.parquet")
    result = load_folder(tmp_path)
    assert result.problems == []
    ref = result.tables["dip_reference_costs"]
    assert ref.index.tolist() == [1, 2, 3, 4, 5, 6] and ref.loc[1, "avg_cost"] == 329471


def test_table_in_two_files_is_ambiguous(tmp_path):
    write_folder(tmp_path)
    pq.write_table(pa.table({"group_code": ["G1"]}), tmp_path / "dip_groups.parquet")
    result = load_folder(tmp_path)
    assert [(p.rule, p.table) for p in result.problems] == [("table.ambiguous", "dip_groups")]


def test_missing_folder_is_one_problem(tmp_path):
    result = load_folder(tmp_path / "nowhere")
    assert [p.rule for p in result.problems] == ["folder.missing"]


def test_rows_listed_are_capped_per_rule_with_a_summary_line(tmp_path, monkeypatch):
    monkeypatch.setattr(cells, "MAX_ROWS_LISTED", 2)
    tables = tiny_county()
    for row in tables["inpatient_cases"]:
        row["referral"] = "?"
    result = load_folder(write_folder(tmp_path, tables))
    listed = [p for p in result.problems if p.rule == "bool.format"]
    assert [p.row for p in listed] == [2, 3, None]  # 2 rows, then "另有 4 行"
    assert "另有 4 行" in listed[-1].message_zh
    assert result.flagged[("inpatient_cases", "referral")].tolist() == [2, 3, 4, 5, 6, 7]  # all, not capped


def test_large_amounts_stay_exact_and_overflow_is_rejected():
    from settlement.money import parse_yuan

    parsed = parse_yuan(pd.Series(["999,999,999,999,999.99", "1000000000000000.00", "-0.01"]))
    assert parsed.fen.tolist() == [99_999_999_999_999_999, 0, -1]
    assert parsed.invalid.tolist() == [False, True, False]  # > 10^15 yuan does not fit int64 fen safely
    assert parsed.fen.dtype == np.int64
