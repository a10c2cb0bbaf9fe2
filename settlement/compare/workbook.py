"""The comparison workbook 对比.xlsx (XlsxWriter, the writers' shared layout).

Sheets: 摘要 (the two runs and the Chinese summary), 医共体 (key figures A | B | B−A), 分层
(net per tier, with a column chart of the changes), 成员单位 (every unit, largest change first,
with a bar chart of the largest changes), 参数差异 (the parameters that differ and their
sources). Money cells are exact yuan numbers from fen; the file's bytes depend only on its
contents (``created`` is fixed to 31 December of run A's year).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from settlement.compare import Comparison
from settlement.report.layout import Col, Sheet, Styles, new_workbook, put_text

M = "money"
SIDE = [Col("a", "方案 A", M), Col("b", "方案 B", M), Col("diff", "差额 B−A", M), Col("only_in", "仅见于")]
COMMUNITY_COLS = [Col("community_id", "医共体"), Col("label_zh", "项目"), *SIDE]
TIER_COLS = [Col("community_id", "医共体"), Col("tier_label", "分配层级"), *SIDE]
UNIT_COLS = [Col("unit_id", "单位编码"), Col("unit_name", "单位名称"), Col("community_id", "医共体"),
             Col("tier", "层级"), Col("a", "结算净额 A", M), Col("b", "结算净额 B", M),
             Col("diff", "净额差 B−A", M), Col("surplus_share_a", "结余分配 A", M),
             Col("surplus_share_b", "结余分配 B", M), Col("overrun_share_a", "超支分担 A", M),
             Col("overrun_share_b", "超支分担 B", M), Col("only_in", "仅见于")]
PARAM_COLS = [Col("path", "参数"), Col("label_zh", "名称"), Col("value_a", "方案 A 取值", "wrap"),
              Col("value_b", "方案 B 取值", "wrap"), Col("source_a", "方案 A 来源", "wrap"),
              Col("source_b", "方案 B 来源", "wrap")]
CHART_UNITS = 20


def write_comparison(c: Comparison, path: Path) -> Path:
    """Write 对比.xlsx to ``path``; returns it."""
    path = Path(path)
    created = dt.datetime(int(c.run_a.year), 12, 31)
    book = new_workbook(path, "方案对比", created)
    styles = Styles(book)
    _summary(Sheet(book, styles, "摘要"), c)
    Sheet(book, styles, "医共体").block(c.communities, COMMUNITY_COLS)
    tiers = Sheet(book, styles, "分层")
    tiers.block(c.tiers, TIER_COLS)
    _chart(book, tiers, TIER_COLS, len(c.tiers), "各层级分配净额变化（B−A，元）", "column", (0, 1))
    units = Sheet(book, styles, "成员单位")
    units.block(c.units, UNIT_COLS)
    shown = min(CHART_UNITS, int((c.units["diff"] != 0).sum()))
    _chart(book, units, UNIT_COLS, shown, f"结算净额变化最大的 {shown} 家成员单位（B−A，元）", "bar",
           (1, 1))
    Sheet(book, styles, "参数差异").block(c.parameters, PARAM_COLS)
    book.close()
    return path


def _summary(sheet: Sheet, c: Comparison) -> None:
    ws, st = sheet.ws, sheet.st
    put_text(ws, 0, 0, "方案对比（B 相对 A 的变化）", st.title)
    rows = [("方案 A", c.run_a), ("方案 B", c.run_b)]
    for i, (label, r) in enumerate(rows, start=2):
        put_text(ws, i, 0, label, st.label)
        put_text(ws, i, 1, f"{r.run_id}　{r.county} {r.year} 年度　情景 {r.scenario}", st.info)
    put_text(ws, 5, 0, "摘要", st.section)
    for i, line in enumerate(c.summary, start=6):
        put_text(ws, i, 1, line, st.info)
    put_text(ws, 7 + len(c.summary), 0, "金额单位：元；差额 = 方案 B − 方案 A", st.note)
    sheet.widen(0, 10)
    sheet.widen(1, 120)


def _chart(book, sheet: Sheet, cols: list[Col], rows: int, title: str, kind: str,
           categories: tuple[int, int]) -> None:
    """A chart of the 差额 column of the first ``rows`` data rows (none when nothing changed);
    ``categories`` = the first and last label columns (two columns give two-level labels)."""
    if rows <= 0:
        return
    name = sheet.ws.name
    diff_col = next(j for j, c in enumerate(cols) if c.name == "diff")
    chart = book.add_chart({"type": kind})
    chart.add_series({"name": "差额 B−A", "categories": [name, 1, categories[0], rows, categories[1]],
                      "values": [name, 1, diff_col, rows, diff_col],
                      "fill": {"color": "#2E75B6"}, "invert_if_negative": False})
    chart.set_title({"name": title, "name_font": {"size": 11}})
    chart.set_legend({"none": True})
    chart.set_size({"width": 720, "height": max(320, 18 * rows + 80) if kind == "bar" else 320})
    sheet.ws.insert_chart(1, len(cols) + 1, chart)
