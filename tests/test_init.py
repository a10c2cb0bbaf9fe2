"""``settlement init DIR``: an annotated config, one xlsx template per input table that the
loader reads back by its Chinese headers, and the folder works end to end (validate → run)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from fixtures.tiny_county import tiny_county, write_folder
from settlement.cli import main
from settlement.config import load_config, resolve
from settlement.init_folder import SAMPLE_CONFIG, annotated_config
from settlement.loader import load_folder
from settlement.schema import contract

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("county") / "示例县工作目录"
    result = CliRunner().invoke(main, ["init", str(target)])
    assert result.exit_code == 0, result.output
    return target


def test_packaged_sample_config_is_the_projects_sample_config():
    # the installed package has no configs/ folder, so `settlement init` ships its own copy
    assert SAMPLE_CONFIG.read_bytes() == (ROOT / "configs/sample-county.yaml").read_bytes(), (
        "configs/sample-county.yaml changed: copy it to settlement/sample/sample-county.yaml")


def test_config_comments_explain_every_parameter_and_change_no_value(folder):
    text = (folder / "config.yaml").read_text(encoding="utf-8")
    original, annotated = resolve(load_config(SAMPLE_CONFIG)), resolve(load_config(folder / "config.yaml"))
    assert {p: t.value for p, t in annotated.trace.items()} == {p: t.value for p, t in original.trace.items()}
    for path, trace in original.trace.items():
        assert f"# ── 参数 {path}：{trace.label_zh}" in text
    assert "单位 ratio：比例（小数：0.05 即 5%）；依据文件：示医保发〔2024〕3号 第五条" in text


def test_annotation_is_placed_above_the_parameter_it_explains():
    text = "parameters:\n  a:\n    b:\n      label_zh: 乙\n      unit: yuan\n      reference: 文件\n      values: {2025-01-01: 1}\n"
    lines = annotated_config(text).splitlines()
    at = lines.index("    b:")
    assert lines[at - 3] == "    # ── 参数 a.b：乙" and lines[at - 2].startswith("    #    单位 yuan：元")


def test_init_refuses_to_overwrite(folder):
    result = CliRunner().invoke(main, ["init", str(folder)])
    assert result.exit_code == 1 and "已存在" in result.output


def test_one_template_per_table_with_chinese_headers_dropdowns_and_explanations(folder):
    for name, schema in contract().items():
        book = openpyxl.load_workbook(folder / "data" / f"{name}.xlsx")
        assert book.sheetnames == [name, "说明"]
        sheet = book[name]
        assert [c.value for c in sheet[1]] == [c.label_zh for c in schema.columns]
        lists = {str(v.sqref).split(":")[0]: v.formula1 for v in sheet.data_validations.dataValidation}
        for j, col in enumerate(schema.columns):
            cell = openpyxl.utils.get_column_letter(j + 1) + "2"
            if col.type == "enum":
                assert lists[cell] == '"' + ",".join(col.enum) + '"'
            elif col.type == "bool":
                assert lists[cell] == '"是,否"'
            else:
                assert cell not in lists
        rows = list(book["说明"].iter_rows(min_row=6, values_only=True))
        assert [r[1] for r in rows] == schema.column_names


def fill(template: Path, schema, rows: list[dict]) -> None:
    """Type the rows into the template as a finance officer would in Excel."""
    book = openpyxl.load_workbook(template)
    sheet = book[schema.table]
    for i, row in enumerate(rows, start=2):
        for j, col in enumerate(schema.columns, start=1):
            text = row.get(col.name, "")
            if text == "":
                continue
            if col.type in ("money", "float"):
                value = float(text)
            elif col.type == "int":
                value = int(text)
            elif col.type == "date":
                value = dt.datetime.fromisoformat(text)
            elif col.type == "bool":
                value = "是" if text in ("true", "1") else "否"
            else:
                value = text
            sheet.cell(row=i, column=j, value=value)
    book.save(template)


def test_filled_templates_load_like_the_csv_folder_and_the_folder_runs(folder, tmp_path):
    tables, schemas = tiny_county(), contract()
    for name in schemas:
        if name in tables:
            fill(folder / "data" / f"{name}.xlsx", schemas[name], tables[name])
        else:  # an optional table with no data: the officer deletes its template
            (folder / "data" / f"{name}.xlsx").unlink()
    from_xlsx = load_folder(folder / "data")
    from_csv = load_folder(write_folder(tmp_path / "csv"))
    assert not [p for p in from_xlsx.problems if p.severity == "error"], from_xlsx.problems[:5]
    for name in tables:
        pd.testing.assert_frame_equal(from_xlsx.tables[name], from_csv.tables[name], check_index_type=False)
    runner = CliRunner()
    checked = runner.invoke(main, ["validate", "--config", str(folder / "config.yaml"), "--data", str(folder / "data")])
    assert checked.exit_code == 0, checked.output
    ran = runner.invoke(main, ["run", "--config", str(folder / "config.yaml"), "--data", str(folder / "data"),
                               "--out", str(tmp_path / "reports"), "--db", f"sqlite:///{tmp_path / 'r.db'}",
                               "--scenario", str(folder / "scenarios" / "village-floor-15.yaml"), "--quiet"])
    assert ran.exit_code == 0, ran.output[-3000:]
    assert "方案对比 comparison" in ran.output
