"""Statements people sign and file (issue 12; issue 9 items 5, 16, 17): file names, prose,
payer columns, sign-off, the results workbook, CSV escaping, PDF, parameters as people write
them — on the committed sample county and on hand-made inputs."""

from __future__ import annotations

import re
import shutil
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from settlement.pipeline import CONTRACT_RESULTS, SUPPORTING_RESULTS, load_and_validate, settle
from settlement.report import ReportContext, write_workbooks
from settlement.report import pdf as pdf_module
from settlement.report.community import community_lines
from settlement.report.names import MAX_BYTES, safe_stem, unique_stems
from settlement.report.overview import _claims_by_kind
from settlement.report.results_csv import csv_frame, write_results
from settlement.wording import human_value, quarter_zh

ROOT = Path(__file__).resolve().parents[1]
ALLOWED_ASCII = {"DIP", "DRG", "CMI"}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    config, resolved, loaded, problems = load_and_validate(ROOT / "configs" / "sample-county.yaml",
                                                           ROOT / "sample_data")
    result = settle(loaded.tables, resolved)
    ctx = ReportContext.of_run(config, resolved, "RUN-1", loaded.tables,
                               problems + result.problems)
    out = tmp_path_factory.mktemp("sample")
    paths = write_workbooks(out, result.tables, ctx)
    write_results(out / "results", result.tables, CONTRACT_RESULTS + SUPPORTING_RESULTS)
    return out, paths, result.tables, loaded.tables, ctx


# ------------------------------------------------------------------ item 16: file names
def test_names_that_sanitise_alike_do_not_collide():
    stems = unique_stems([("V/1", "卫生室"), ("V:1", "卫生室"), ("01001", "张庄村卫生室")])
    assert stems[0] != stems[1] and stems[0].startswith("V_1_卫生室_")
    assert stems[2] == "01001_张庄村卫生室"  # no collision, no tag
    assert unique_stems([("A", "x"), ("a", "X")])[0] != unique_stems([("A", "x"), ("a", "X")])[1]


def test_names_are_cut_by_bytes_not_characters():
    stem = safe_stem("U1", "医" * 90)  # 3 + 270 bytes: over the limit in bytes, not in characters
    name = f"{stem}.xlsx".encode("utf-8")
    assert len(name) <= MAX_BYTES and len(stem) < 3 + 90
    assert len((f"{stem}医.xlsx").encode("utf-8")) > MAX_BYTES  # the longest that fits
    tagged = unique_stems([("U/1", "医" * 90), ("U:1", "医" * 90)])
    assert all(len(f"{s}.xlsx".encode()) <= MAX_BYTES for s in tagged) and tagged[0] != tagged[1]


# ------------------------------------------------------------------ item 17: CSV injection
def test_csv_cells_that_could_run_are_escaped_amounts_stay_numbers():
    frame = pd.DataFrame({"unit_id": ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tx", "ok"],
                          "unit_name": ["a", "b", "c", "d", "e", "-f"],
                          "dip": [-1250, 0, 1, 2, 3, 4]})
    out = csv_frame("bureau_units", frame)
    assert out["unit_id"].tolist() == ["'=HYPERLINK(\"x\")", "'+1", "'-2", "'@SUM(A1)", "'\tx", "ok"]
    assert out["unit_name"].tolist()[-1] == "'-f"
    assert out["dip"].tolist()[0] == "-12.50"  # money: a plain negative number, not escaped


# ------------------------------------------------------------------ prose (item 4)
def _texts(sample) -> list[tuple[str, str]]:
    _, _, tables, _, ctx = sample
    out = []
    for name, frame in tables.items():
        for col in ("label_zh", "explanation", "package_explanation", "expenditure_explanation"):
            if isinstance(frame, pd.DataFrame) and col in frame:
                out += [(f"{name}.{col}", t) for t in frame[col].dropna().astype(str).unique()]
    for cid in tables["community_settlement"]["community_id"].astype(str):
        out += [(f"community {cid}", x) for line in community_lines(cid, tables, ctx)
                for x in (line[1], line[4])]
    return out


def test_labels_and_explanations_are_chinese_prose(sample):
    _, _, _, inputs, _ = sample
    ids = (set(inputs["units"]["unit_id"].astype(str))
           | set(inputs["communities"]["community_id"].astype(str))
           | set(inputs["inpatient_cases"]["case_id"].astype(str)))
    texts = _texts(sample)
    assert len(texts) > 1000
    # single letters are the formula symbols each statement defines (P, E, T …): not words
    words = {(where, w) for where, t in texts for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]+", t)
             if w not in ALLOWED_ASCII and w not in ids}
    assert not words, sorted(words)[:20]
    bare = re.compile(r"(?<![\d,.〔\w])\d{5,}(?:\.\d+)?(?![\d〕号年\w])")  # 27127.925, not 27,127.925
    no_separator = [(w, t[:60]) for w, t in texts if set(bare.findall(t)) - ids]
    assert not no_separator, no_separator[:5]
    assert not [t for _, t in texts if re.search(r"人月数\s*[\d,]+\.0000", t)]
    assert not [t for _, t in texts if "\n" in t]
    unbalanced = [t for _, t in texts if t.count("（") != t.count("）") or t.count("(") != t.count(")")]
    assert not unbalanced, unbalanced[:3]
    assert not [t for _, t in texts if t.strip() in (")", "）", "元")]


def test_quarters_read_as_chinese():
    assert quarter_zh("2025Q3") == "2025 年第 3 季度" and quarter_zh("2025-07") == "2025 年 7 月"


# ------------------------------------------------------------------ the statements (1, 2, 3)
def test_every_community_has_its_statement_with_the_flow_identity(sample):
    out, paths, tables, _, _ = sample
    books = sorted((out / "communities").glob("*.xlsx"))
    assert [p.name for p in books] == ["GT01_示例县第一医共体.xlsx", "GT02_示例县第二医共体.xlsx"]
    text = [c for row in openpyxl.load_workbook(books[0])["结算单"].iter_rows(values_only=True)
            for c in row if c is not None]
    for part in ("一、打包额", "二、打包支出", "三、结余留用与超支分担", "四、慢性病包干",
                 "五、资金流向与年终清算", "编制单位（盖章）：", "单位负责人：", "审核人："):
        assert part in text, part
    flows = tables["community_flows"].set_index("community_id")
    for cid in ("GT01", "GT02"):  # Σ paid to the community and its units == T − O − W
        f = flows.loc[cid]
        assert f["paid_to_units"] + f["paid_to_community"] == f["entitlement"] - f["paid_outside"] - f["kept"]
    checks = tables["reconciliation_checks"]
    assert checks.loc[checks["check"].str.startswith("flow."), "ok"].all()


def test_a_village_clinic_shows_the_same_net_with_its_payers(sample):
    out, _, tables, _, _ = sample
    statement = tables["unit_statement"]
    net = int(statement.query("unit_id == '01001' and line == 'net'")["amount"].iloc[0])
    mine = statement.query("unit_id == '01001' and line != 'net'")
    assert set(mine["payer"]) == {"community", "health_commission"}  # no DIP: no fund line
    bureau = tables["bureau_units"].set_index("unit_id").loc["01001"]
    assert bureau["net"] == net
    assert bureau["paid_by_health_commission"] == int(mine.loc[mine["payer"] == "health_commission", "amount"].sum())
    sheet = pd.read_excel(out / "医保对账.xlsx", sheet_name="成员单位对账", dtype={"单位编码": str})
    row = sheet.loc[sheet["单位编码"] == "01001"].iloc[0]
    assert round(row["净结算额（与结算单一致）"] * 100) == net
    ws = openpyxl.load_workbook(next((out / "units").glob("01001_*.xlsx")))["结算单"]
    cells = [c for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    assert "付款方" in cells and "卫健委公卫资金" in cells and "医共体" in cells
    assert any(str(c).startswith("确认：本单位") for c in cells)
    assert ws.print_title_rows == "$7:$7"  # the line header, which the summary rows share


def test_summary_detail_sheets_carry_identity_params_read_as_written(sample):
    out, _, _, _, _ = sample
    book = openpyxl.load_workbook(out / "汇总.xlsx")
    for name in ("基金预算", "DIP结算", "结余分配", "公卫经费", "指标", "校验", "参数"):
        ws = book[name]
        assert "示例县" in ws["A1"].value and "运行编号：RUN-1" in ws["A2"].value, name
        assert "2025" in ws["A2"].value and "基准方案" in ws["A2"].value
    params = pd.read_excel(out / "汇总.xlsx", sheet_name="参数", header=3)
    assert "风险金提取比例" in params["参数"].tolist()
    assert params.set_index("参数").loc["风险金提取比例", "取值"] == "5%"
    assert not params["取值"].astype(str).str.contains(r"\{'|True|False|（bool）").any()
    indicators = pd.read_excel(out / "汇总.xlsx", sheet_name="指标", header=3)
    assert set(indicators["范围"]) <= {"全县", "示例县第一医共体", "示例县第二医共体"}
    checks = pd.read_excel(out / "汇总.xlsx", sheet_name="校验", header=3)
    extreme = checks.loc[checks["规则编号"] == "dip.extreme_ratio", "涉及单位/病例"]
    assert len(extreme) and extreme.str.contains("病例 ").all()


def test_human_values():
    assert human_value(Decimal("0.05"), "ratio") == "5%" and human_value(True, "bool") == "是"
    bands = {"bands": [{"upper": Decimal("0.1"), "rate": Decimal("1")},
                       {"upper": None, "rate": Decimal("0.5")}], "mode": "marginal"}
    assert human_value(bands, "bands").splitlines()[:2] == ["0% – 10%：100%", "10% 以上：50%"]


def test_expenditure_chart_parts_add_up_to_the_total_beside_them(sample):
    _, _, tables, _, ctx = sample
    cs, chronic = tables["community_settlement"], tables["chronic_settlement"]
    parts = _claims_by_kind(cs, chronic, ctx)
    assert "慢病包干人员费用" in parts.columns  # the carved-out cohort is a named part
    # parts = E + S − K for each community (all fund spending for its insured)
    expected = cs["expenditure"].to_numpy() + chronic["spend"].to_numpy()
    assert (parts.sum(axis=1).to_numpy() == expected).all()


def test_results_workbook_keeps_ids_as_text(sample):
    out, _, _, _, _ = sample
    ws = openpyxl.load_workbook(out / "results" / "结果明细.xlsx")["结算单明细"]
    header = [c.value for c in ws[1]]
    assert header[:2] == ["单位编码", "行代码"] and "计算说明" in header
    first = ws.cell(2, 1)
    assert first.data_type == "s" and first.value.startswith("0")  # 01001 keeps its zero


def test_problem_list_prints_landscape_and_data_docs_only_on_request(tmp_path):
    from settlement.loader import load_folder
    from settlement.validation.report import write_report

    loaded = load_folder(ROOT / "sample_data")
    paths = write_report([], loaded, tmp_path)
    assert "data_docs" not in paths and not (tmp_path / "gx_data_docs").exists()
    ws = openpyxl.load_workbook(paths["workbook"])["问题清单"]
    assert ws.page_setup.orientation == "landscape" and ws.sheet_properties.pageSetUpPr.fitToPage
    html = paths["html"].read_text(encoding="utf-8")
    assert "<style>" in html and "http" not in html  # self-contained, readable offline


def test_pdf_without_libreoffice_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(pdf_module.shutil, "which", lambda name: None)
    done, message = pdf_module.convert_to_pdf([tmp_path / "a.xlsx"])
    assert done == [] and "LibreOffice" in message and "未生成 PDF" in message


@pytest.mark.skipif(shutil.which("soffice") is None or shutil.which("pdftotext") is None,
                    reason="LibreOffice and poppler-utils needed")
def test_statements_convert_to_pdf_with_sign_off(sample, tmp_path):
    import subprocess

    out, _, _, _, _ = sample
    book = tmp_path / "v.xlsx"
    shutil.copy(next((out / "units").glob("01001_*.xlsx")), book)
    done, message = pdf_module.convert_to_pdf([book])
    assert message is None and done == [book.with_suffix(".pdf")]
    text = subprocess.run(["pdftotext", str(done[0]), "-"], capture_output=True, text=True).stdout
    assert "编制单位（盖章）" in text and "本单位净结算额" in text and "付款方" in text


# ------------------------------------------------------------------ item 7: DRG says DRG
def test_a_drg_county_says_drg_everywhere(tmp_path):
    from settlement.report.bureau import write_bureau
    from settlement.report.community import write_community
    from settlement.report.statements import write_statement
    from settlement.report.summary import write_summary

    overlay = tmp_path / "drg.yaml"
    overlay.write_text(
        f"base_config: {ROOT / 'configs' / 'sample-county.yaml'}\nscenario: drg\nparameters:\n"
        "  dip:\n    payment_method:\n      label_zh: 住院付费方式\n      unit: enum\n"
        "      reference: 测试文号\n      values: {2023-01-01: drg}\n", encoding="utf-8")
    config, resolved, loaded, problems = load_and_validate(overlay, ROOT / "sample_data")
    result = settle(loaded.tables, resolved)
    ctx = ReportContext(config.county, resolved.year, "RUN-DRG", loaded.tables["units"],
                        loaded.tables["communities"], payment_method="drg",
                        param_trace=resolved.trace, chronic_carved=resolved.params.chronic.carve_out)
    t = result.tables
    books = [write_summary(tmp_path / "s.xlsx", t, ctx), write_bureau(tmp_path / "b.xlsx", t, ctx)]
    write_community(tmp_path / "c.xlsx", "GT01", t, ctx)
    write_statement(tmp_path / "h.xlsx", "H0001", t["unit_statement"], ctx)
    assert "DRG结算" in openpyxl.load_workbook(books[0]).sheetnames
    assert "DRG 点数金额" in set(t["unit_statement"]["label_zh"])
    for name, sheets in (("h.xlsx", ["结算单"]), ("c.xlsx", ["结算单"]), ("b.xlsx", ["医共体对账"]),
                         ("s.xlsx", ["DRG结算", "对账"])):
        book = openpyxl.load_workbook(tmp_path / name)
        text = [str(c) for s in sheets for row in book[s].iter_rows(values_only=True) for c in row
                if isinstance(c, str)]
        assert not [x for x in text if "DIP" in x], (name, [x for x in text if "DIP" in x][:3])


def test_summary_and_sign_off_start_a_page_rather_than_split(sample):
    out, _, _, _, _ = sample
    ws = openpyxl.load_workbook(next((out / "units").glob("H0001_*.xlsx")))["结算单"]
    breaks = [b.id for b in ws.row_breaks.brk]
    summary = next(r for r in range(1, ws.max_row + 1)
                   if str(ws.cell(r, 1).value or "").startswith("分资金汇总"))
    # the lead hospital's lines fill page 1: its summary and sign-off go to page 2 together,
    # under the repeated line header (their columns are the line table's)
    assert breaks == [summary - 1]  # openpyxl: break after row id (1-based)
    assert ws.print_title_rows == "$7:$7" and ws.page_setup.scale and not ws.sheet_properties.pageSetUpPr.fitToPage


def test_bureau_workbook_labels_are_prose(sample):
    out, _, _, _, _ = sample
    ws = openpyxl.load_workbook(out / "医保对账.xlsx")["医共体对账"]
    text = [str(c) for row in ws.iter_rows(min_col=1, max_col=2, values_only=True) for c in row
            if isinstance(c, str)]
    words = {w for t in text for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]+", t)} - ALLOWED_ASCII
    assert words <= {"RUN", "communities"}, words  # the run id RUN-1 and the folder name
    assert "三、资金流向（详见各医共体结算单 communities/）" in text  # the one folder name shown


def test_a_huge_table_is_a_note_in_the_results_workbook(sample, tmp_path, monkeypatch):
    from settlement.report import results_book

    _, _, tables, _, ctx = sample
    monkeypatch.setattr(results_book, "MAX_ROWS", 10)
    path = results_book.write_results_book(tmp_path / "r.xlsx", tables, ["dip_cases", "ledger"], ctx)
    book = openpyxl.load_workbook(path)
    assert "results/dip_cases.csv" in book["DIP病例"]["A1"].value
    assert book["医共体台账"]["A1"].value == "医共体编码" or len(tables["ledger"]) > 10
