"""The month's workbooks (月度预结算报表): one statement per hospital and the bureau's list.

- ``units/<unit_id>_<unit_name>.xlsx`` — 月度预结算单, the year-end statement's look (its
  header block, line table and sign-off: :mod:`settlement.report.statements`,
  :mod:`settlement.report.pages`): the lines from the points at the budget point value down
  to 本月拨付 (the ``net`` line, = Σ of the lines above it), then 本年累计 (paid before this
  month, paid to date);
- ``月度预结算拨付清单.xlsx`` — the bureau's list of the month's payments, one row per unit with
  a 合计 row, and the method (说明).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from settlement.money import yuan_display as yuan
from settlement.report.context import ReportContext
from settlement.report.layout import Col, Sheet, Styles, new_workbook, put_money, put_text
from settlement.report.names import unique_paths
from settlement.report.pages import keep_together, sign_off, width_scale
from settlement.report.statements import HEADER_ROW, LINE_HEADERS, Line, _header, _lines

BUREAU_FILE = "月度预结算拨付清单.xlsx"
BUREAU_COLS = [Col("community_id", "医共体"), Col("unit_id", "单位编码"), Col("unit_name", "单位名称"),
               Col("cases", "出院病例数", "int"), Col("points", "分值", "points"),
               Col("budget_point_value", "预算点值（元/分）"), Col("amount", "预结算金额", "money"),
               Col("withheld", "预留质量保证金", "money"), Col("paid", "本月拨付", "money"),
               Col("paid_before", "此前各月已拨付", "money"), Col("paid_to_date", "本年累计拨付", "money")]
# each unit's calculation sentence is on its statement and in results/dip_presettlement.csv


def month_lines(r, ratio) -> list[Line]:
    """One unit's statement lines (fen); Σ of the lines before ``net`` = paid."""
    not_advanced = (r.amount - r.withheld) - r.paid
    rows = [("dip.presettle.gross", "分值 × 预算点值", r.gross_value_budget,
             f"{r.points:,.4f} 分 × {r.budget_point_value} 元/分"),
            ("dip.presettle.at_cost", "未入组病例按实际支付", r.at_cost, ""),
            ("dip.presettle.self_pay", "减：个人负担", -r.self_pay, ""),
            ("dip.presettle.violation", "减：违规扣款", -r.violation_deduction, ""),
            ("dip.presettle.withheld", "减：预留质量保证金", -r.withheld,
             f"预结算金额 {yuan(r.amount)} × 保证金比例（年终按考核返还）"),
            ("dip.presettle.not_advanced", "减：按拨付比例暂不拨付", -not_advanced,
             f"(预结算金额 − 保证金) {yuan(r.amount - r.withheld)} × (1 − {ratio})，年终清算时结算")]
    lines = [Line("dip", line, label, int(amount), text, "fund") for line, label, amount, text in rows]
    return lines + [Line("dip", "net", "本月拨付", int(r.paid), r.explanation, "")]


def write_month_statements(units_dir: Path, table: pd.DataFrame, ctx: ReportContext, month: str,
                           ratio) -> list[Path]:
    """One 月度预结算单 per unit row of ``table`` (dip_presettlement with its detail columns)."""
    names = ctx.unit_names()
    paths = unique_paths(units_dir, [(u, names.get(u, "")) for u in table["unit_id"]])
    for r, path in zip(table.itertuples(index=False), paths):
        _statement(path, r, month_lines(r, ratio), ctx, month)
    return paths


def _statement(path: Path, r, lines: list[Line], ctx: ReportContext, month: str) -> None:
    book = new_workbook(path, f"{month} 月度预结算单 {r.unit_id}", ctx.created_at)
    sheet = Sheet(book, Styles(book), "预结算单")
    _header(sheet, [f"{ctx.county} {month} DIP 月度预结算单",
                    f"单位：{r.unit_name or ''}（{r.unit_id}）",
                    f"所属医共体：{ctx.community_name(r.community_id)}（{r.community_id or '—'}）",
                    f"预结算月份：{month}（按出院日期）　　运行编号：{ctx.run_id}",
                    "金额单位：元。付款方：医保基金（医保局）。月度预结算按预算点值计算，年终按结算点值清算。"])
    row = _lines(sheet, lines, ctx)
    summary = row + 1
    ws, st = sheet.ws, sheet.st
    put_text(ws, summary, 0, f"{ctx.year} 年累计（截至 {month}）", st.section)
    for i, (label, fen) in enumerate([("此前各月已拨付", r.paid_before), ("本月拨付", r.paid),
                                      ("本年累计拨付", r.paid_to_date)]):
        fmt = st.total if i == 2 else st.by_kind
        put_text(ws, summary + 1 + i, 3, label, fmt["text"])
        put_money(ws, summary + 1 + i, 4, int(fen), fmt["money"])
    end = sign_off(sheet, summary + 5, len(LINE_HEADERS), "本单位")
    sheet.setup(HEADER_ROW, scale=width_scale(sheet))
    keep_together(sheet, summary, end - 1, HEADER_ROW)
    who = f"{r.unit_name or ''}（{r.unit_id}）".replace("&", "&&")
    sheet.ws.set_header(f"&L{who}&R{month} 月度预结算单"[:250])  # each printed page says whose
    book.close()


def write_bureau_list(path: Path, table: pd.DataFrame, ctx: ReportContext, month: str,
                      method: str) -> Path:
    """医保局的本月拨付清单: one row per unit, a 合计 row; sheet 说明 states the method."""
    book = new_workbook(path, f"{month} DIP 月度预结算拨付清单", ctx.created_at)
    styles = Styles(book)
    sheet = Sheet(book, styles, "拨付清单")
    frame = table.sort_values(["community_id", "unit_id"], na_position="last")
    sheet.block(frame, BUREAU_COLS, 0, total_label="合计")
    about = Sheet(book, styles, "说明")
    texts = [f"{ctx.county} {month} DIP 月度预结算拨付清单（运行编号 {ctx.run_id}）", method,
             "本月拨付合计 = 各单位本月拨付之和；本年累计拨付 = 本月 + 本年此前各月（本系统记录的月度预结算，"
             "同月重算以最后一次为准）。月度预结算不关账；年终清算时，预付款表无 DIP 记录则以这些月度预结算为已预结算金额，"
             "有记录则逐单位逐月核对，差异列入汇总.xlsx 校验。"]
    for i, text in enumerate(texts):
        put_text(about.ws, i, 0, text, styles.title if i == 0 else styles.info)
    about.widen(0, 120)
    book.close()
    return path
