"""Excel workbooks: read back to the same fen, net = Σ lines, one unit per statement, text that
looks like a formula stays text, the same inputs give the same bytes, LibreOffice renders them.

The county is the hand-built one of ``test_reconcile`` (units H1, T1, V1 of GA; H2 of GB);
unit V1 is renamed ``=HYPERLINK(...)`` and GB ``-1+2`` to try formula injection.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from settlement.problems import Problem
from settlement.report import ReportContext, statement_path, write_workbooks
from settlement.reconcile import reconcile
from test_reconcile import communities, prepayments, results, units

EVIL_UNIT = '=HYPERLINK("http://example.com/x","点击领取")'
EVIL_COMMUNITY = "-1+2"
EVIL_PROBLEM = "@SUM(A1:A9)"


def evil_units() -> pd.DataFrame:
    u = units()
    u.loc[u["unit_id"] == "V1", "unit_name"] = EVIL_UNIT
    return u


def evil_communities() -> pd.DataFrame:
    c = communities()
    c.loc[c["community_id"] == "GB", "community_name"] = EVIL_COMMUNITY
    return c


def all_results() -> dict[str, pd.DataFrame]:
    tables = results()
    rec = reconcile(tables, evil_units(), evil_communities(), prepayments(),
                    chronic_carve_out=False)
    ledger = pd.DataFrame({"community_id": ["GA", "GA", "GB", "GB"], "section": "settlement",
                           "line": ["package", "expenditure", "package", "expenditure"],
                           "label_zh": ["打包额", "支出", "打包额", "支出"],
                           "amount": [10_000_000, -10_000_000, 5_000_000, -5_000_000]})
    indicators = pd.DataFrame({
        "scope": ["GA", "GA"], "indicator": ["county_visit_rate", "fund_in_county_rate"],
        "label_zh": ["县域内就诊率", "医保基金县域内支出率"], "numerator": [70, 123_456],
        "denominator": [100, 200_000], "value": [0.7, 0.61728], "target": [0.85, 0.6],
        "direction": ["at_least", "at_least"], "met": [False, True], "counted": ["人次", "分"]})
    return {**tables, **rec.tables(), "ledger": ledger, "indicators": indicators}


def context() -> ReportContext:
    return ReportContext(
        county="示例县", year=2025, run_id="20251231-test", units=evil_units(),
        communities=evil_communities(),
        problems=[Problem("units.name", "warning", "units", EVIL_PROBLEM, row=5,
                          column="unit_name", value=EVIL_PROBLEM)],
        param_sources={"dip.quality_withhold_rate": "0.05（ratio，示医保发〔2023〕8号，自 2023-01-01 起）"})


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, list[Path], dict[str, pd.DataFrame]]:
    run_dir = tmp_path_factory.mktemp("run")
    tables = all_results()
    return run_dir, write_workbooks(run_dir, tables, context()), tables


def fen(values) -> list[int]:
    """Cell numbers (yuan) → fen, exactly: Decimal of the shortest repr, × 100."""
    return [int(Decimal(repr(float(v))) * 100) for v in values]


def statement_lines(path: Path) -> pd.DataFrame:
    """The line table of a statement (header on row 7), up to and including the net line."""
    frame = pd.read_excel(path, sheet_name="结算单", header=6)
    end = frame.index[frame["资金"] == "合计"][0]
    return frame.loc[:end]


def test_files_written(written):
    run_dir, paths, _ = written
    names = sorted(p.relative_to(run_dir).as_posix() for p in paths)
    units = [n for n in names if n.startswith("units/")]
    assert units[:2] == ["units/H1_甲县人民医院.xlsx", "units/H2_乙县中医院.xlsx"]
    assert "汇总.xlsx" in names and "医保对账.xlsx" in names and len(units) == 4
    assert [n for n in names if n.startswith("communities/")] == [
        "communities/GA_甲医共体.xlsx", "communities/GB_-1+2.xlsx"]
    assert "results/结果明细.xlsx" in names
    evil = statement_path(run_dir / "units", "V1", EVIL_UNIT)
    assert evil in paths and '"' not in evil.name and "/" not in evil.name[3:]
    book = openpyxl.load_workbook(run_dir / "汇总.xlsx")
    assert book.sheetnames[:8] == ["总览", "图表", "基金预算", "DIP结算", "结余分配", "慢病包干",
                                   "公卫经费", "指标"]
    assert {"对账", "校验", "参数"} <= set(book.sheetnames)


def test_statement_reads_back_to_the_statement_table(written):
    run_dir, _, tables = written
    statement = tables["unit_statement"]
    for unit in ["H1", "T1", "V1", "H2"]:
        path = statement_path(run_dir / "units", unit, evil_units().set_index("unit_id")
                              .loc[unit, "unit_name"])
        lines = statement_lines(path)
        mine = statement[statement["unit_id"] == unit]
        assert fen(lines["金额（元）"]) == mine["amount"].tolist()
        assert lines["项目"].tolist() == mine["label_zh"].tolist()
        *body, net = fen(lines["金额（元）"])
        assert net == sum(body)  # the net line equals the sum of the lines above it


def test_net_line_of_the_lead_hospital(written):
    run_dir, _, _ = written
    lines = statement_lines(run_dir / "units" / "H1_甲县人民医院.xlsx")
    # DIP 480,000 + package 310,000 + public health 40,000 = 830,000 fen = 8,300.00 元
    assert lines.iloc[-1]["金额（元）"] == 8300.0
    assert lines.iloc[-1]["项目"] == "本单位净结算额"


def test_amount_cells_are_numbers_formatted_in_yuan(written):
    run_dir, _, _ = written
    ws = openpyxl.load_workbook(run_dir / "units" / "H1_甲县人民医院.xlsx")["结算单"]
    cell = ws["E8"]  # first line: DIP gross value 5,000,000 fen
    assert cell.data_type == "n" and cell.value == 50000 and cell.number_format == "#,##0.00"
    assert ws.freeze_panes == "A8"
    # printed at a scale that fits the width (so the summary's page break holds), landscape
    assert ws.page_setup.orientation == "landscape" and 10 <= ws.page_setup.scale <= 100


def test_summary_sheets_read_back_to_the_result_tables(written):
    run_dir, _, tables = written
    path = run_dir / "汇总.xlsx"
    dip = pd.read_excel(path, sheet_name="DIP结算", header=3)  # title, identity, blank
    dip = dip[dip["单位编码"] != "合计"]
    assert fen(dip["基金实付"]) == tables["dip_units"]["fund_paid"].tolist()
    assert fen(dip["年度清算差额"]) == tables["dip_units"]["balance"].tolist()
    dist = pd.read_excel(path, sheet_name="结余分配", header=3)
    assert fen(dist["结余留用分配"].iloc[:-1]) == tables["unit_distribution"]["surplus_share"].tolist()
    assert fen(dist["结余留用分配"].iloc[-1:]) == [600_000]  # 合计 row
    ph = pd.read_excel(path, sheet_name="公卫经费", header=3)
    assert fen(ph["清算差额"].iloc[:-1]) == tables["public_health_allocation"]["balance"].tolist()
    recon = pd.read_excel(path, sheet_name="对账", header=3).set_index("单位编码")
    net = tables["unit_statement"].query("line == 'net'").set_index("unit_id")["amount"]
    assert fen(recon.loc[net.index, recon.columns[-1]]) == net.tolist()
    indicators = pd.read_excel(path, sheet_name="指标", header=3)
    # counts as integers, fen shown as yuan in their own column
    assert indicators["分子"].tolist()[:1] == [70] and indicators["分子"].isna().tolist()[1]
    assert indicators["分子（元）"].tolist()[1:] == [1234.56]


def test_bureau_workbook_ties(written):
    run_dir, _, tables = written
    path = run_dir / "医保对账.xlsx"
    units_sheet = pd.read_excel(path, sheet_name="成员单位对账")
    assert fen(units_sheet["付款方：医保基金"].iloc[:-1]) == tables["bureau_units"]["total"].tolist()
    net = tables["unit_statement"].query("line == 'net'").set_index("unit_id")["amount"]
    shown = units_sheet.iloc[:-1].set_index("单位编码")["净结算额（与结算单一致）"]
    assert fen(shown.loc[net.index]) == net.tolist()  # the same net as on each statement
    ws = openpyxl.load_workbook(path)["医共体对账"]
    rows = {ws.cell(r, 1).value: r for r in range(1, ws.max_row + 1)}
    assert ws.cell(rows["差额（应为 0.00）"], 3).value == 0
    # GA: outflow 9,740,000 fen = identity
    assert ws.cell(rows["基金支出（恒等式左边）"], 3).value == 97400
    assert ws.cell(rows["应支出（恒等式右边）"], 3).value == 97400


def workbook_texts(path: Path) -> list[str]:
    book = openpyxl.load_workbook(path)
    return [str(c.value) for ws in book for row in ws.iter_rows() for c in row
            if isinstance(c.value, str)]


def workbook_numbers(path: Path) -> list[float]:
    book = openpyxl.load_workbook(path)
    return [c.value for ws in book for row in ws.iter_rows() for c in row
            if isinstance(c.value, (int, float)) and not isinstance(c.value, bool)]


def test_a_unit_statement_holds_only_that_unit(written):
    run_dir, _, tables = written
    u = evil_units()
    statement = tables["unit_statement"]
    for unit, name in zip(u["unit_id"], u["unit_name"]):
        path = statement_path(run_dir / "units", unit, name)
        if not path.exists():
            continue  # X1, the external hospital, has no statement
        text = " ".join(workbook_texts(path))
        for other, other_name in zip(u["unit_id"], u["unit_name"]):
            if other != unit:
                assert not re.search(rf"(?<![A-Za-z0-9]){other}(?![A-Za-z0-9])", text), (unit, other)
                assert other_name not in text, (unit, other_name)
        own = statement.loc[statement["unit_id"] == unit, "amount"]
        funds = tables["unit_funds"].query("unit_id == @unit")
        payers = statement.loc[(statement["unit_id"] == unit) & (statement["line"] != "net")]
        allowed = (set(own) | set(funds["entitlement"]) | set(funds["prepaid"])
                   | set(payers.groupby("payer")["amount"].sum())
                   | set(funds["balance"]) | {int(funds[c].sum()) for c in
                                              ("entitlement", "prepaid", "balance")})
        numbers = workbook_numbers(path)
        money = [v for v in numbers if not (float(v).is_integer() and 0 < v < 100)]  # not 序号
        assert set(fen(money)) <= allowed, unit


def test_text_that_looks_like_a_formula_stays_text(written):
    run_dir, paths, _ = written
    for path in paths:
        with zipfile.ZipFile(path) as z:
            sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
            assert not any("<f>" in z.read(n).decode() for n in sheets), path
    summary = openpyxl.load_workbook(run_dir / "汇总.xlsx")
    cells = [c for ws in summary for row in ws.iter_rows() for c in row
             if c.value in (EVIL_UNIT, EVIL_COMMUNITY, EVIL_PROBLEM)]
    assert {c.value for c in cells} == {EVIL_UNIT, EVIL_COMMUNITY, EVIL_PROBLEM}
    assert all(c.data_type == "s" for c in cells)
    statement = statement_path(run_dir / "units", "V1", EVIL_UNIT)
    assert any(EVIL_UNIT in t for t in workbook_texts(statement))


def test_same_inputs_same_bytes(tmp_path):
    first = write_workbooks(tmp_path / "a", all_results(), context())
    second = write_workbooks(tmp_path / "b", all_results(), context())
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_missing_tables_leave_a_note(tmp_path):
    statement = all_results()["unit_statement"]
    paths = write_workbooks(tmp_path, {"unit_statement": statement}, context())
    overview = pd.read_excel(paths[0], sheet_name="DIP结算", header=None)
    assert overview.iloc[0, 0].endswith("DIP结算") and overview.iloc[3, 0] == "（本次结算无此项数据）"
    with pytest.raises(KeyError, match="unit_statement"):
        write_workbooks(tmp_path, {}, context())


@pytest.mark.skipif(shutil.which("soffice") is None,
                    reason="LibreOffice (soffice) is not installed: apt-get install libreoffice-calc")
def test_libreoffice_renders_a_statement_to_pdf(written, tmp_path):
    run_dir, _, _ = written
    source = run_dir / "units" / "T1_城关镇卫生院.xlsx"
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(source)],
                   check=True, capture_output=True, timeout=120)
    pdf = tmp_path / "T1_城关镇卫生院.pdf"
    assert pdf.exists() and pdf.stat().st_size > 5_000
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    if shutil.which("pdfinfo") and shutil.which("pdftotext"):
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
        assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) == 1
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                              text=True).stdout
        assert "城关镇卫生院" in text and "本单位净结算额" in text and "1,900.01" in text
    else:  # poppler-utils missing: count page objects in the PDF itself
        assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 1


def test_the_indicator_sheet_shows_each_value_in_its_own_unit():
    """Shares in %, 次均费用 in yuan (the value is exact fen, its numerator money), per-thousand
    rates and days as numbers — never a cost per case printed as a percentage."""
    from settlement.report.summary import _indicators

    frame = pd.DataFrame({
        "scope": ["county"] * 4, "period": ["2025"] * 4,
        "indicator": ["county_visit_rate", "inpatient_cost_per_case", "inpatient_rate",
                      "average_length_of_stay"],
        "label_zh": ["县域内就诊率", "住院次均费用（元）", "区域住院率（每千参保人）", "平均住院日（天）"],
        "numerator": [900, 3_000_001, 5, 20], "denominator": [1_000, 4, 2_000, 5],
        "value": [0.9, 750_000.0, 2.5, 4.0], "target": [0.85, float("nan"), float("nan"), float("nan")],
        "direction": ["at_least", pd.NA, pd.NA, pd.NA], "met": [True, pd.NA, pd.NA, pd.NA],
        "counted": ["人次", "元/人次", "人次/千人", "天/人次"]})
    context = ReportContext(county="示例县", year=2025, run_id="r", units=pd.DataFrame(),
                            communities=pd.DataFrame({"community_id": [], "community_name": []}))
    shown = _indicators(frame, context).set_index("indicator")
    assert shown.loc["county_visit_rate", "value_pct"] == 0.9
    assert pd.isna(shown.loc["inpatient_cost_per_case", "value_pct"])
    assert shown.loc["inpatient_cost_per_case", "value_yuan"] == 750_000  # fen, written as 7,500.00
    assert shown.loc["inpatient_cost_per_case", "numerator_y"] == 3_000_001  # money: 30,000.01 元
    assert pd.isna(shown.loc["inpatient_cost_per_case", "numerator_n"])
    assert shown.loc["inpatient_cost_per_case", "denominator_n"] == 4  # cases
    assert shown.loc["inpatient_rate", "value_num"] == 2.5
    assert shown.loc["average_length_of_stay", "value_num"] == 4.0
