"""A county's working folder (``settlement init DIR``): config, data templates, scenarios.

    DIR/
      config.yaml            the sample county's parameters, each explained in Chinese comments
      scenarios/             what-if overlays (base_config: ../config.yaml), e.g. village floor 15 %
      data/<table>.xlsx      one template per input table: Chinese headers (label_zh), drop-down
                             lists for enum and yes/no columns, text cells for ids (leading
                             zeros stay), a 说明 sheet from the data dictionary
      使用说明.txt            the next steps (fill in, validate, serve)

The templates are written with XlsxWriter like every workbook of the engine; the loader reads
them back by their Chinese headers (label_zh is an alias of each column name). The config is the
sample county's (shipped inside the package as ``settlement/sample/sample-county.yaml``, kept
identical to ``configs/sample-county.yaml`` by a test).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import yaml

from settlement.datadict import constraints
from settlement.report.layout import display_width, new_workbook
from settlement.schema import TYPE_LABEL_ZH, Column, TableSchema, contract

SAMPLE_CONFIG = Path(__file__).resolve().parent / "sample" / "sample-county.yaml"
TEMPLATE_ROWS = 5000  # rows that get the drop-down lists and formats
UNIT_ZH = {
    "ratio": "比例（小数：0.05 即 5%）", "yuan": "元", "yuan_per_capita": "元/人",
    "yuan_per_person_year": "元/人·年", "yuan_per_point": "元/分", "points": "分值",
    "coefficient": "系数", "bool": "是否（true 是 / false 否）", "enum": "选项（可选值见参数名称中的括注）",
    "rule": "得分折算规则", "bands": "分段比例", "tiers": "分配层级", "codes": "编码列表",
    "targets": "指标目标值", "decimals": "小数位数", "name": "名称", "rank": "排序", "scale": "倍数",
}


def annotated_config(text: str) -> str:
    """The config text with a Chinese comment block above every parameter (leaf)."""
    tree = yaml.safe_load(text)
    leaves = _leaves(tree.get("parameters") or {}, "parameters")
    out, stack = [], []
    for line in text.splitlines():
        match = re.match(r"^(\s*)([A-Za-z_][\w]*):", line)
        if match and not line.lstrip().startswith("#"):
            indent, key = len(match.group(1)), match.group(2)
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, key))
            path = ".".join(k for _, k in stack)
            if path in leaves:
                out += [" " * indent + c for c in _comment(path.removeprefix("parameters."), leaves[path])]
        out.append(line)
    return "\n".join(out) + "\n"


def _leaves(tree: dict, prefix: str) -> dict[str, dict]:
    found = {}
    for key, node in tree.items():
        path = f"{prefix}.{key}"
        if isinstance(node, dict) and "values" in node:
            found[path] = node
        elif isinstance(node, dict):
            found.update(_leaves(node, path))
    return found


def _comment(path: str, leaf: dict) -> list[str]:
    unit = str(leaf.get("unit", ""))
    dates = "、".join(str(d) for d in (leaf.get("values") or {}))
    return [f"# ── 参数 {path}：{leaf.get('label_zh', '')}",
            f"#    单位 {unit}：{UNIT_ZH.get(unit, unit)}；依据文件：{leaf.get('reference', '')}",
            f"#    values 下按生效日期填写取值（现有生效日期：{dates}）；一个取值自其日期起生效，直到下一个日期；"
            "null 表示自该日起失效"]


# ------------------------------------------------------------------ data templates
def write_template(schema: TableSchema, path: Path) -> Path:
    """One input table as an empty xlsx: headers, formats, drop-downs, and its 说明 sheet."""
    book = new_workbook(path, f"{schema.label_zh}（{schema.table}）填报模板", dt.datetime(2025, 1, 1))
    ws = book.add_worksheet(schema.table)
    head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    optional = book.add_format({"bold": True, "bg_color": "#F2F2F2", "border": 1, "text_wrap": True})
    text = book.add_format({"num_format": "@"})
    money = book.add_format({"num_format": "0.00"})
    for j, col in enumerate(schema.columns):
        ws.write_string(0, j, col.label_zh, head if col.required else optional)
        ws.write_comment(0, j, f"{col.name}：{TYPE_LABEL_ZH[col.type]}\n{col.description}",
                         {"x_scale": 2.5, "y_scale": 1.6})
        width = max(display_width(col.label_zh) + 4, 12)
        fmt = text if col.type in ("id", "text", "codes", "enum", "period", "quarter", "date") else (
            money if col.type == "money" else None)
        ws.set_column(j, j, width, fmt)
        choices = _choices(col)
        if choices:
            ws.data_validation(1, j, TEMPLATE_ROWS, j, {
                "validate": "list", "source": choices, "error_title": col.label_zh,
                "error_message": f"请从下拉列表中选择：{'、'.join(choices)}"})
    ws.freeze_panes(1, 0)
    _explanation_sheet(book, schema)
    book.close()
    return path


def _choices(col: Column) -> list[str] | None:
    if col.type == "enum" and col.enum:
        return list(col.enum)
    if col.type == "bool":
        return ["是", "否"]
    return None


def _explanation_sheet(book, schema: TableSchema) -> None:
    ws = book.add_worksheet("说明")
    bold = book.add_format({"bold": True, "font_size": 12})
    head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    wrap = book.add_format({"text_wrap": True, "valign": "top", "border": 1})
    ws.write_string(0, 0, f"{schema.label_zh}（{schema.table}）", bold)
    ws.write_string(1, 0, schema.description)
    ws.write_string(2, 0, f"{'必需的表' if schema.required else '可选的表'}；主键：{'、'.join(schema.primary_key)}；"
                          f"在工作表「{schema.table}」中从第 2 行起每行填一条记录，表头请勿修改。")
    headers = ["表头（中文）", "字段名", "类型", "必填列", "可为空", "取值要求", "说明"]
    for j, h in enumerate(headers):
        ws.write_string(4, j, h, head)
    for i, col in enumerate(schema.columns, start=5):
        cells = [col.label_zh, col.name, TYPE_LABEL_ZH[col.type], "是" if col.required else "否",
                 "是" if col.nullable else "否", constraints(col), col.description]
        for j, value in enumerate(cells):
            ws.write_string(i, j, value or "", wrap)
    for j, width in enumerate([20, 26, 22, 8, 8, 36, 60]):
        ws.set_column(j, j, width)


# ------------------------------------------------------------------ the folder
NEXT_STEPS = """医共体结算工作目录 — 下一步

1. 在 data\\ 文件夹中用 Excel 填写各数据表模板（每个文件的「说明」工作表解释每一列）。
   可选表没有数据时可以删除该文件。
2. 检查 config.yaml 中的参数（每个参数上方的中文注释说明其含义、单位与依据文件）。
3. 校验：  settlement validate --config config.yaml --data data
4. 结算：  settlement run --config config.yaml --data data
   情景对比：settlement run --config config.yaml --data data --scenario scenarios/village-floor-15.yaml
5. 网页控制台：先添加用户  settlement users add 用户名 --role 财务管理员
   再启动  settlement serve  ，浏览器打开 http://127.0.0.1:8700/
"""

SCENARIO = """# 情景：村卫生室保底由 10% 提高到 15%（只列出改变的参数，其余取自 config.yaml）
scenario: village-floor-15
base_config: ../config.yaml

parameters:
  distribution:
    tiers:
      label_zh: 结余分配层级比例与保底（村卫生室保底 15%）
      unit: tiers
      reference: 测算情景
      values:
        2023-01-01:
          - {tier: county, label_zh: 县级医院, categories: [lead_hospital, county_hospital], ratio: 6}
          - {tier: township, label_zh: 乡镇卫生院, categories: [township_center], ratio: 3}
          - {tier: village, label_zh: 村卫生室, categories: [village_clinic], ratio: 1, floor_share: 0.15}
"""


def init_folder(target: Path) -> list[Path]:
    """Create the working folder; refuses to overwrite an existing config. Returns the files."""
    target = Path(target)
    if (target / "config.yaml").exists():
        raise FileExistsError(f"{target / 'config.yaml'} 已存在，未做任何修改 / already exists: nothing changed")
    (target / "data").mkdir(parents=True, exist_ok=True)
    (target / "scenarios").mkdir(exist_ok=True)
    written = [target / "config.yaml", target / "scenarios" / "village-floor-15.yaml", target / "使用说明.txt"]
    written[0].write_text(annotated_config(SAMPLE_CONFIG.read_text(encoding="utf-8")), encoding="utf-8")
    written[1].write_text(SCENARIO, encoding="utf-8")
    written[2].write_text(NEXT_STEPS.replace("\n", "\r\n"), encoding="utf-8-sig", newline="")  # Notepad
    for name, schema in contract().items():
        written.append(write_template(schema, target / "data" / f"{name}.xlsx"))
    return written
