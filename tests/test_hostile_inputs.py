"""Hostile and quirky inputs: each is one small change to the tiny valid county's files.

Two tables drive the tests. ``ACCEPTED``: text a Chinese Excel/WPS export really writes in one
cell, and the typed value the loader must make of it. ``REJECTED``: a cell, line or file
that must give exactly one kind of error, at the row the user sees (CSV header = row 1, so
``tiny_county()[table][i]`` is row ``i + 2``) and the column, in Chinese. The cases after the
tables change whole files (encodings, blank lines, workbooks, links, headers).
"""

from __future__ import annotations

import datetime as dt
import io
import os

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fixtures.tiny_county import YEAR, tiny_county, write_csv, write_folder
from settlement.loader import load_folder
from settlement.validation import validate_dataset

D = pd.Timestamp


def county(tmp_path, table=None, row=0, column=None, text=None):
    tables = tiny_county()
    if table:
        tables[table][row][column] = text
    return write_folder(tmp_path, tables)


def errors(result_problems):
    return [(p.rule, p.table, p.file, p.row, p.column, p.value) for p in result_problems if p.severity == "error"]


def validated(folder):
    loaded = load_folder(folder)
    return loaded, loaded.problems + validate_dataset(loaded, YEAR, use_gx=False)


# (table, column, cell text, value expected in the frame) — row 2 of the table's CSV
ACCEPTED = [
    ("prepayments", "amount", "１２３４．５６", 123456),  # full-width digits and point: 1,234.56 元
    ("prepayments", "amount", "１，２３４", 123400),  # full-width thousands separator
    ("prepayments", "amount", "－５", -500),  # full-width minus
    ("prepayments", "amount", "−5.50", -550),  # typographic minus U+2212
    ("prepayments", "amount", "¥1,234.00", 123400),
    ("prepayments", "amount", "￥1,234元", 123400),
    ("prepayments", "amount", "1,234.00 元", 123400),
    ("prepayments", "amount", "(1,234.00)", -123400),  # accounting negative
    ("prepayments", "amount", "1234.5000", 123450),  # a database numeric(18,4)
    ("prepayments", "amount", "\u30001234.5\u3000", 123450),  # ideographic spaces around
    ("inpatient_cases", "discharge_date", "2025/1/28", D("2025-01-28")),
    ("inpatient_cases", "discharge_date", "2025年1月28日", D("2025-01-28")),
    ("inpatient_cases", "discharge_date", "2025.1.28", D("2025-01-28")),
    ("inpatient_cases", "discharge_date", "20250128", D("2025-01-28")),
    ("inpatient_cases", "discharge_date", "45685", D("2025-01-28")),  # Excel serial: 1899-12-30 + 45685 days
    ("inpatient_cases", "discharge_date", "2025-01-28 08:30:00", D("2025-01-28")),
    ("inpatient_cases", "discharge_date", "２０２５－０１－２８", D("2025-01-28")),
    ("inpatient_cases", "referral", "是", True),
    ("inpatient_cases", "referral", "否", False),
    ("inpatient_cases", "referral", "Y", True),
    ("inpatient_cases", "referral", "N", False),
    ("inpatient_cases", "referral", "TRUE", True),
    ("inpatient_cases", "referral", "1", True),
    ("inpatient_cases", "referral", "１", True),
    ("communities", "insured_enrollees", "30,000", 30000),
    ("communities", "insured_enrollees", "３００００", 30000),
    ("communities", "insured_enrollees", "30000.00", 30000),
    ("performance_scores", "score", "９５．８", 95.8),
    ("performance_scores", "score", "1.5e1", 15.0),
    ("units", "category", "Lead_Hospital", "lead_hospital"),
    ("units", "category", "ｌｅａｄ＿ｈｏｓｐｉｔａｌ", "lead_hospital"),
    ("units", "unit_name", "  县人民医院\u3000", "县人民医院"),
]


@pytest.mark.parametrize("table, column, text, expected", ACCEPTED, ids=[f"{a[1]}={a[2]}" for a in ACCEPTED])
def test_accepted_cells(tmp_path, table, column, text, expected):
    result = load_folder(county(tmp_path, table, 0, column, text))
    assert errors(result.problems) == []
    assert result.tables[table].loc[2, column] == expected


# (table, row index, column, cell text, rule, words the Chinese message must contain)
REJECTED = [
    ("prepayments", 0, "amount", "nan", "number.nonfinite", "有限"),
    ("prepayments", 1, "amount", "NaN", "number.nonfinite", "有限"),
    ("prepayments", 0, "amount", "inf", "number.nonfinite", "无穷大"),
    ("prepayments", 0, "amount", "-Infinity", "number.nonfinite", "有限"),
    ("prepayments", 0, "amount", "#DIV/0!", "number.nonfinite", "Excel 错误值"),
    ("prepayments", 0, "amount", "1e400", "number.overflow", "过大"),
    ("prepayments", 0, "amount", "10000000000000000", "number.overflow", "过大"),
    ("prepayments", 0, "amount", "1.235", "money.format", "两位小数"),
    ("prepayments", 0, "amount", "1234,56", "money.format", "金额"),  # a decimal comma is not a thousands separator
    ("prepayments", 0, "amount", "1,2,3", "money.format", "金额"),
    ("prepayments", 0, "amount", "NULL", "money.format", "金额"),
    ("communities", 0, "insured_enrollees", "9223372036854775808", "number.overflow", "过大"),
    ("communities", 0, "insured_enrollees", "1e400", "number.overflow", "过大"),
    ("communities", 0, "insured_enrollees", "inf", "number.nonfinite", "有限"),
    ("communities", 1, "insured_enrollees", "nan", "number.nonfinite", "有限"),
    ("communities", 0, "insured_enrollees", "3E+04", "int.format", "科学计数法"),
    ("communities", 0, "insured_enrollees", "1.5", "int.format", "整数"),
    ("inpatient_cases", 0, "special_points", "inf", "number.nonfinite", "有限"),
    ("inpatient_cases", 0, "special_points", "-inf", "number.nonfinite", "有限"),
    ("inpatient_cases", 5, "special_points", "nan", "number.nonfinite", "有限"),
    ("inpatient_cases", 0, "special_points", "1e400", "number.overflow", "过大"),
    ("performance_scores", 0, "score", "NaN", "number.nonfinite", "有限"),
    ("units", 0, "service_population", "99999999999999999999", "number.overflow", "过大"),
    ("inpatient_cases", 0, "person_id", "4.40102E+17", "id.scientific", "文本"),
    ("inpatient_cases", 2, "discharge_date", "01/28/2025", "date.format", "日期"),
    ("inpatient_cases", 2, "discharge_date", "2025-02-30", "date.format", "日期"),
    ("inpatient_cases", 2, "referral", "maybe", "bool.format", "是/否"),
]


@pytest.mark.parametrize("table, i, column, text, rule, words", REJECTED, ids=[f"{r[2]}={r[3]}" for r in REJECTED])
def test_rejected_cells_name_file_row_column_and_value(tmp_path, table, i, column, text, rule, words):
    result = load_folder(county(tmp_path, table, i, column, text))
    found = [p for p in result.problems if p.severity == "error"]
    assert [(p.rule, p.file, p.row, p.column, p.value) for p in found] == [(rule, f"{table}.csv", i + 2, column, text)]
    assert words in found[0].message_zh  # the user's own text is shown (never -9223372036854775808)


def test_a_written_nan_is_not_an_empty_cell_even_where_empty_means_default(tmp_path):
    # violation_deduction has default 0: an empty cell is 0, but "nan" must not silently become 0
    result = load_folder(county(tmp_path, "inpatient_cases", 0, "violation_deduction", "nan"))
    assert [(p.rule, p.row, p.column) for p in result.problems] == [("number.nonfinite", 2, "violation_deduction")]


# ---------------------------------------------------------------- whole files
def _csv_text(table, rows=None):
    buffer = io.StringIO()
    write_csv_rows = rows if rows is not None else tiny_county()[table]
    header = list(write_csv_rows[0])
    buffer.write(",".join(header) + "\n")
    for row in write_csv_rows:
        buffer.write(",".join(row[h] for h in header) + "\n")
    return buffer.getvalue()


def _replace(folder, table, data: bytes):
    (folder / f"{table}.csv").write_bytes(data)
    return folder


def test_blank_lines_do_not_shift_row_numbers(tmp_path):
    lines = _csv_text("prepayments").splitlines()
    # header, Y001, blank, spaces, blank, Y002 (now line 6), Y003 (line 7) with a bad amount
    lines = lines[:2] + ["", "   ", ""] + lines[2:3] + [lines[3].replace("-500.00", "abc")]
    result = load_folder(_replace(write_folder(tmp_path), "prepayments", ("\n".join(lines) + "\n").encode()))
    assert errors(result.problems) == [("money.format", "prepayments", "prepayments.csv", 7, "amount", "abc")]
    assert result.tables["prepayments"].index.tolist() == [2, 6, 7]


def test_trailing_empty_rows_and_columns_from_excel_are_ignored(tmp_path):
    text = _csv_text("units")
    lines = [line + ",," for line in text.splitlines()] + [",,,,,,,,,,", ",,,,,,,,,,"]
    result = load_folder(_replace(write_folder(tmp_path), "units", ("\n".join(lines) + "\n").encode()))
    assert result.problems == []
    assert len(result.tables["units"]) == 7


def test_short_blank_row_and_surplus_empty_fields_are_not_malformed(tmp_path):
    lines = _csv_text("prepayments").splitlines()
    lines = lines[:2] + [",,"] + [lines[2] + ",,"] + lines[3:]  # Y002 at line 4 with two extra empty fields
    result = load_folder(_replace(write_folder(tmp_path), "prepayments", ("\n".join(lines) + "\n").encode()))
    assert result.problems == []
    assert result.tables["prepayments"]["payment_id"].to_dict() == {2: "Y001", 4: "Y002", 5: "Y003"}


def test_malformed_line_after_blank_lines_is_at_its_own_row(tmp_path):
    lines = _csv_text("prepayments").splitlines()
    lines = lines[:2] + ["", ""] + [lines[2] + ",多余"] + lines[3:]  # line 5
    result = load_folder(_replace(write_folder(tmp_path), "prepayments", ("\n".join(lines) + "\n").encode()))
    assert [(p.rule, p.row) for p in result.problems] == [("row.malformed", 5)]


def test_padded_and_full_width_spaced_headers(tmp_path):
    # every kind of column padded: text, money (Arrow would guess a number type), date, bool
    header, body = _csv_text("inpatient_cases").split("\n", 1)
    padded = ",".join(f" {h} " if i % 2 else f"\u3000{h}\u3000" for i, h in enumerate(header.split(",")))
    result = load_folder(_replace(write_folder(tmp_path), "inpatient_cases", (padded + "\n" + body).encode()))
    assert result.problems == []
    first = result.tables["inpatient_cases"].loc[2]
    assert (first["person_id"], first["total_cost"], first["discharge_date"]) == ("P01", 352238, D("2025-01-06"))


def test_chinese_labels_are_accepted_as_column_names(tmp_path):
    from settlement.schema import contract

    labels = {c.name: c.label_zh for c in contract()["units"].columns}
    text = _csv_text("units").split("\n", 1)
    header = ",".join(labels[h] if h != "unit_name" else "机构名称(unit_name)" for h in text[0].split(","))
    result = load_folder(_replace(write_folder(tmp_path), "units", (header + "\n" + text[1]).encode()))
    assert result.problems == []
    assert result.tables["units"].loc[2, "unit_id"] == "H1" and result.tables["units"].loc[2, "unit_name"] == "县人民医院"


def test_a_column_given_twice_under_name_and_label_is_an_error(tmp_path):
    text = _csv_text("dip_groups").replace("group_code,group_name", "group_code,病种编码", 1)
    result = load_folder(_replace(write_folder(tmp_path), "dip_groups", text.encode()))
    assert ("column.duplicate", "group_code") in [(p.rule, p.column) for p in result.problems]


def test_title_line_above_the_csv_header_is_skipped_and_rows_keep_their_numbers(tmp_path):
    text = "2025 年度预付款明细,,,,\n" + _csv_text("prepayments").replace("-500.00", "x")
    result = load_folder(_replace(write_folder(tmp_path), "prepayments", text.encode()))
    assert errors(result.problems) == [("money.format", "prepayments", "prepayments.csv", 5, "amount", "x")]
    assert result.sources["prepayments"].header_row == 2


def test_tab_separated_file_is_read_with_a_warning(tmp_path):
    text = _csv_text("prepayments").replace(",", "\t")
    result = load_folder(_replace(write_folder(tmp_path), "prepayments", text.encode()))
    assert [(p.rule, p.severity) for p in result.problems] == [("file.delimiter", "warning")]
    assert result.tables["prepayments"].loc[4, "amount"] == -50000


@pytest.mark.parametrize("data, rule, row", [
    (b"PK\x03\x04" + b"\x00" * 60, "file.not_csv", None),  # a workbook renamed .csv
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 60, "file.not_csv", None),  # old .xls
    (_csv_text("prepayments").encode("utf-16"), "file.encoding", None),  # Excel "Unicode text"
    (_csv_text("prepayments").encode("utf-16-le"), "file.encoding", None),  # UTF-16 without BOM
    (_csv_text("prepayments").replace("Y002", "Y0\x0002").encode(), "file.nul", 3),
    ((_csv_text("prepayments") + "Y004,H1,dip,2025-02,1.00\n").encode()
     .replace(b"H1,dip,2025-02", "卫生院".encode("gbk") + b",dip,2025-02").replace(b"Y001,H1", "Y001,医".encode()),
     "encoding.mixed", 5),  # a GBK line pasted into a UTF-8 file
    (_csv_text("prepayments").encode() + b"Y004,\x80\xff,dip,2025-02,1.00\n", "encoding.invalid", 5),
])
def test_files_that_are_not_csv_text_say_what_they_are(tmp_path, data, rule, row):
    result = load_folder(_replace(write_folder(tmp_path), "prepayments", data))
    assert [(p.rule, p.file, p.row) for p in result.problems] == [(rule, "prepayments.csv", row)]
    assert "Traceback" not in result.problems[0].message_zh and result.problems[0].value == ""


def test_a_utf8_line_inside_a_gbk_file_is_named(tmp_path):
    lines = _csv_text("units").splitlines()
    data = ("\n".join(lines[:4]) + "\n").encode("gbk") + (lines[4] + "\n").encode() + \
        ("\n".join(lines[5:]) + "\n").encode("gbk")  # line 5 pasted from a UTF-8 file
    result = load_folder(_replace(write_folder(tmp_path), "units", data))
    assert [(p.rule, p.row) for p in result.problems] == [("encoding.mixed", 5)]
    assert "GBK" in result.problems[0].message_zh


def test_gbk_file_is_still_read(tmp_path):
    result = load_folder(_replace(write_folder(tmp_path), "units", _csv_text("units").encode("gbk")))
    assert result.problems == [] and result.tables["units"].loc[2, "unit_name"] == "县人民医院"


# ---------------------------------------------------------------- workbooks, parquet, folders
def _book(path, sheets: dict[str, list[list]]):
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)


def _rows(table):
    rows = tiny_county()[table]
    return [list(rows[0])] + [list(r.values()) for r in rows]


def test_excel_cells_as_excel_shows_them(tmp_path):
    folder = write_folder(tmp_path, skip=("prepayments",))
    rows = _rows("prepayments")
    rows[1][4] = 0.1 + 0.2  # a formula's binary noise: Excel shows 0.3
    rows[2][4] = 1000000.0
    rows.append(["Y004", "H1", "dip", "2025-02", 12.5])
    _book(folder / "预付.xlsx", {"prepayments": rows})
    cases = _rows("inpatient_cases")
    cases[1][4] = dt.datetime(2025, 1, 2, 9, 30)  # a real date cell (with a time of day)
    cases[1][5] = 45663  # a date that arrived as a number: 1899-12-30 + 45663 days = 2025-01-06
    (folder / "inpatient_cases.csv").unlink()
    _book(folder / "病例.xlsx", {"inpatient_cases": cases})
    result = load_folder(folder)
    assert result.problems == []
    assert result.tables["prepayments"]["amount"].tolist() == [30, 100000000, -50000, 1250]
    first = result.tables["inpatient_cases"].loc[2]
    assert (first["admission_date"], first["discharge_date"]) == (D("2025-01-02"), D("2025-01-06"))


def test_excel_id_in_scientific_notation_is_rejected(tmp_path):
    folder = write_folder(tmp_path, skip=("chronic_enrollees",))
    rows = _rows("chronic_enrollees")
    rows[1][0] = 440102198001011234  # Excel keeps 15 digits: 4.40102198001011E+17
    _book(folder / "慢病.xlsx", {"chronic_enrollees": [[float(v) if isinstance(v, int) else v for v in r] for r in rows]})
    result = load_folder(folder)
    assert [(p.rule, p.row, p.column) for p in result.problems] == [("id.scientific", 2, "person_id")]


def test_sheet_name_matching_after_trimming_is_used_and_said(tmp_path):
    folder = write_folder(tmp_path, skip=("prepayments",))
    _book(folder / "book.xlsx", {" Prepayments ": _rows("prepayments")})
    result = load_folder(folder)
    assert [(p.rule, p.severity, p.file) for p in result.problems] == [("table.name_loose", "warning", "book.xlsx")]
    assert len(result.tables["prepayments"]) == 3


def test_two_workbooks_offering_one_table_is_an_error_naming_both(tmp_path):
    folder = write_folder(tmp_path, skip=("prepayments",))
    _book(folder / "a.xlsx", {"prepayments": _rows("prepayments")})
    _book(folder / "b.xlsx", {"prepayments": _rows("prepayments")})
    result = load_folder(folder)
    assert [(p.rule, p.table) for p in result.problems] == [("table.ambiguous", "prepayments")]
    assert "a.xlsx" in result.problems[0].message_zh and "b.xlsx" in result.problems[0].message_zh


def test_parquet_types_as_they_are(tmp_path):
    folder = write_folder(tmp_path, skip=("inpatient_cases",))
    rows = tiny_county()["inpatient_cases"]
    columns = {h: [r[h] for r in rows] for h in rows[0]}
    table = pa.table({
        **{h: pa.array(v, type=pa.large_string()) for h, v in columns.items()},
        "community_id": pa.array(columns["community_id"]).dictionary_encode(),
        "admission_date": pa.array([dt.date.fromisoformat(v) for v in columns["admission_date"]]),
        "discharge_date": pa.array([dt.datetime.fromisoformat(v) for v in columns["discharge_date"]]),
        "total_cost": pa.array([float(v) for v in columns["total_cost"]]),
        "referral": pa.array([v == "true" for v in columns["referral"]]),
        "special_points": pa.array([float(v) if v else None for v in columns["special_points"]]),
    })
    pq.write_table(table, folder / "inpatient_cases.parquet")
    result = load_folder(folder)
    assert result.problems == []
    cases = result.tables["inpatient_cases"]
    assert cases.loc[1, "total_cost"] == 352238 and cases.loc[2, "referral"]
    assert cases.loc[6, "special_points"] == 150.5 and cases.loc[3, "discharge_date"] == D("2025-03-09")


def test_parquet_nan_in_a_number_column_is_rejected(tmp_path):
    folder = write_folder(tmp_path, skip=("performance_scores",))
    rows = tiny_county()["performance_scores"]
    scores = [float(r["score"]) for r in rows]
    scores[2] = float("nan")
    pq.write_table(pa.table({"entity_type": [r["entity_type"] for r in rows],
                             "entity_id": [r["entity_id"] for r in rows],
                             "score": pa.array(scores, from_pandas=False)}), folder / "performance_scores.parquet")
    result = load_folder(folder)
    assert [(p.rule, p.row, p.column) for p in result.problems] == [("number.nonfinite", 3, "score")]


def test_symlink_pointing_outside_the_folder_is_refused_unread(tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("root:x:0:0:top secret\n", encoding="utf-8")
    folder = write_folder(tmp_path / "data", skip=("prepayments",))
    os.symlink(secret, folder / "prepayments.csv")
    result = load_folder(folder)
    assert [(p.rule, p.table, p.file) for p in result.problems] == [("file.symlink", "prepayments", "prepayments.csv")]
    assert not any("secret" in p.message_zh + p.value + p.message_en for p in result.problems)


def test_symlink_inside_the_folder_is_fine(tmp_path):
    folder = write_folder(tmp_path, skip=("prepayments",))
    write_csv(folder / "real.txt", tiny_county()["prepayments"])
    os.symlink(folder / "real.txt", folder / "prepayments.csv")
    assert load_folder(folder).problems == []


# ---------------------------------------------------------------- rules across rows and tables
def test_self_and_circular_parents_are_errors(tmp_path):
    tables = tiny_county()
    tables["units"][2]["parent_unit_id"] = "T1"  # T1 (row 4) is its own parent
    tables["units"][3]["parent_unit_id"] = "V2"  # T2 (row 5) → V2 → T2: a loop
    _, problems = validated(write_folder(tmp_path, tables))
    cycles = [(p.row, p.message_zh) for p in problems if p.rule == "unit.parent_cycle"]
    assert cycles == [(4, "上级单位不能是本单位自己"), (5, "上级单位形成了循环：T2 → V2 → T2"),
                      (7, "上级单位形成了循环：V2 → T2 → V2")]


@pytest.mark.parametrize("column, length, limit", [("unit_name", 1_000_000, 100), ("unit_id", 65, 64)])
def test_text_longer_than_the_schema_allows_is_caught_at_validation(tmp_path, column, length, limit):
    tables = tiny_county()
    tables["units"][6][column] = "X" * length  # X1, row 8; its cases and claims are renamed with it
    if column == "unit_id":
        tables["inpatient_cases"][3]["unit_id"] = "X" * length
        tables["outpatient_claims"][3]["unit_id"] = "X" * length
    _, problems = validated(write_folder(tmp_path, tables))
    long = [p for p in problems if p.rule == "text.too_long"]
    referring = [("inpatient_cases", 5, "unit_id"), ("outpatient_claims", 5, "unit_id")] if column == "unit_id" else []
    assert sorted((p.table, p.row, p.column) for p in long) == sorted([("units", 8, column)] + referring)
    assert f"最多 {limit} 个字符" in long[0].message_zh and f"共 {length} 个字符" in long[0].value
    assert len(long[0].value) < 100


def _numeric_unit_ids(tables):
    renamed = {"H1": "01001", "H2": "01002", "T1": "01003", "T2": "01004", "V1": "01005", "V2": "01006", "X1": "09001"}
    for table in tables.values():
        for row in table:
            for key in ("unit_id", "lead_unit_id", "parent_unit_id", "managing_unit_id", "entity_id", "payee_id"):
                if row.get(key) in renamed:
                    row[key] = renamed[row[key]]
    return tables


@pytest.mark.parametrize("rewrite, value", [(lambda v: v.lstrip("0"), "1001 ↔ 01001"),
                                            (lambda v: v + ".0", "01001.0 ↔ 01001")])
def test_unit_ids_rewritten_as_numbers_are_explained_once(tmp_path, rewrite, value):
    tables = _numeric_unit_ids(tiny_county())
    for row in tables["units"]:  # units.csv saved from Excel / pandas with the id column as numbers
        row["unit_id"] = rewrite(row["unit_id"])
        row["parent_unit_id"] = rewrite(row["parent_unit_id"]) if row["parent_unit_id"] else ""
    _, problems = validated(write_folder(tmp_path, tables))
    assert [(p.rule, p.table, p.column, p.value) for p in problems if p.severity == "error"] == [
        ("id.leading_zeros", "units", "unit_id", value)]
    # 6 cases + 4 claims + 2 communities + 2 enrolees + 3 work points + 6 unit scores + 2 payees
    assert "共 25 行引用" in problems[0].message_zh


def test_references_without_their_leading_zeros_name_the_referencing_table(tmp_path):
    tables = _numeric_unit_ids(tiny_county())
    for row in tables["outpatient_claims"]:
        row["unit_id"] = row["unit_id"].lstrip("0")
    _, problems = validated(write_folder(tmp_path, tables))
    assert [(p.rule, p.table, p.column, p.value) for p in problems if p.severity == "error"] == [
        ("id.leading_zeros", "outpatient_claims", "unit_id", "1001 ↔ 01001")]
    assert "丢了前导零" in problems[0].message_zh and "共 4 行引用" in problems[0].message_zh


def test_the_committed_tiny_county_stays_clean(tmp_path):
    loaded, problems = validated(write_folder(tmp_path))
    assert problems == []
    assert np.array_equal(loaded.tables["inpatient_cases"].index, [2, 3, 4, 5, 6, 7])


def test_quoted_line_break_inside_a_cell_keeps_the_rows_and_numbers(tmp_path):
    lines = _csv_text("overrun_adjustments").splitlines()
    lines[1] = lines[1].replace("示医保发〔2025〕12号", '"示医保发\n〔2025〕12号"')
    text = "\n".join(lines + ["A002,C1,epidemic,1.00,x", "A003,C1,epidemic,abc,y"]) + "\n"
    result = load_folder(_replace(write_folder(tmp_path), "overrun_adjustments", text.encode()))
    assert errors(result.problems) == [("money.format", "overrun_adjustments", "overrun_adjustments.csv", 4, "amount", "abc")]
    assert result.tables["overrun_adjustments"].loc[2, "document_ref"] == "示医保发\n〔2025〕12号"


@pytest.mark.parametrize("text, expected", [("2025q1", "2025Q1"), ("2025年第1季度", "2025Q1"), ("2025年1月", "2025-01"),
                                            ("2025/1", "2025-01"), ("202501", "2025-01"), ("２０２５Ｑ１", "2025Q1")])
def test_periods_as_people_write_them(tmp_path, text, expected):
    result = load_folder(county(tmp_path, "prepayments", 0, "period", text))
    assert result.problems == [] and result.tables["prepayments"].loc[2, "period"] == expected


def test_file_name_differing_in_case_is_used_and_said(tmp_path):
    folder = write_folder(tmp_path)
    (folder / "prepayments.csv").rename(folder / "Prepayments.CSV")
    result = load_folder(folder)
    assert [(p.rule, p.severity, p.file) for p in result.problems] == [("table.name_loose", "warning", "Prepayments.CSV")]


def test_unsupported_format_of_a_table_is_named(tmp_path):
    folder = write_folder(tmp_path, skip=("units",))
    (folder / "units.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    result = load_folder(folder)
    assert [(p.rule, p.table) for p in result.problems] == [("file.format", "units")]  # not also "missing"
    assert "另存为 .xlsx" in result.problems[0].message_zh


def test_control_characters_in_text_are_rejected_and_not_echoed(tmp_path):
    result = load_folder(county(tmp_path, "units", 1, "unit_name", "县第二\x1b[31m人民医院"))
    assert [(p.rule, p.row, p.column, p.value) for p in result.problems] == [
        ("text.control", 3, "unit_name", "县第二�[31m人民医院")]


@pytest.mark.parametrize("change", [lambda t: t.replace("\n", "\r\n"), lambda t: t.replace("\n", "\r"),  # Windows, old Mac
                                    lambda t: t.rstrip("\n"), lambda t: "\ufeff" + t],
                         ids=["crlf", "cr", "no-final-newline", "bom"])
def test_line_endings_and_bom_keep_rows_and_values(tmp_path, change):
    folder = write_folder(tmp_path)
    (folder / "prepayments.csv").write_bytes(change(_csv_text("prepayments")).encode())
    result = load_folder(folder)
    assert result.problems == []
    assert result.tables["prepayments"]["amount"].to_dict() == {2: 66890500, 3: 100000000, 4: -50000}


def test_a_control_character_in_an_id_of_a_long_table_is_found_whatever_its_length(tmp_path):
    """The control-character rule looks at every text cell of every table (a byte scan, cheap
    enough for 15 M claims): before, ids of tables of 200 000 rows or more were not looked at,
    so a claim's id with a backspace passed when the file was read whole and failed when it
    was read in batches."""
    from fixtures.tiny_county import tiny_county

    tables = tiny_county()
    claim = tables["outpatient_claims"][0]
    tables["outpatient_claims"] = [{**claim, "claim_id": f"M{i:06d}"} for i in range(200_010)]
    tables["outpatient_claims"][200_003]["claim_id"] = "M2\x08003"
    result = load_folder(write_folder(tmp_path, tables))
    assert [(p.rule, p.row, p.column, p.value) for p in result.problems] == [
        ("text.control", 200_005, "claim_id", "M2�003")]
