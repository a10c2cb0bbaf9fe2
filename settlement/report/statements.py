"""One statement workbook per member unit (成员单位结算单): ``units/<unit_id>_<unit_name>.xlsx``.

A statement holds only its own unit's rows of ``unit_statement`` (no other unit's patients
or amounts): a header block (county, year, community, unit, run id), then one line per
amount — seq, fund, Chinese label, amount (yuan, ``#,##0.00``), how it was computed — ending
with the ``net`` line, which equals the sum of the lines above it; then a small summary per
fund (entitlement, prepaid, balance). Sheet ``结算单``, A4 landscape, fit to width, the line
header repeated on every printed page.

The statement table is split into plain Python records once (:func:`statement_records`), so
writing ~250 workbooks costs little beyond the XlsxWriter calls themselves.

Example file name: ``units/01001_张庄村卫生室.xlsx``; characters Windows forbids in names
(``<>:"/\\|?*``) become ``_``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from settlement.reconcile import FUND_ZH
from settlement.report.context import ReportContext
from settlement.report.layout import (EXPLANATION_WIDTH, Sheet, Styles, fit_width, new_workbook,
                                      put_money, put_text, row_height, shown, wrapped_lines)

HEADER_ROW = 6
LINE_HEADERS = ("序号", "资金", "项目", "金额（元）", "计算说明")
FUND_HEADERS = ("资金", "应得金额", "已预付/预拨", "结算差额（+应拨/−应退）")
_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


class Line(NamedTuple):
    fund: str
    line: str
    label_zh: str
    amount: int  # fen
    explanation: str

    @property
    def is_net(self) -> bool:
        return self.line == "net"

    @property
    def is_prepaid(self) -> bool:
        return self.line.endswith(".prepaid")


def statement_path(units_dir: Path, unit_id: str, unit_name: str) -> Path:
    """``<unit_id>_<unit_name>.xlsx`` with characters illegal in file names replaced."""
    stem = _FORBIDDEN.sub("_", f"{unit_id}_{unit_name}").strip(" .")[:120]
    return units_dir / f"{stem}.xlsx"


def statement_records(statement: pd.DataFrame) -> dict[str, list[Line]]:
    """unit_id → its lines in statement order (by ``seq`` then line; ``net`` last)."""
    s = statement.copy()
    if "seq" not in s:
        s["seq"] = s["line"].eq("net").map({True: 99, False: 50})
    if "fund" not in s:
        s["fund"] = s["line"].astype(str).str.split(".").str[0]
    s = s.assign(unit_id=s["unit_id"].astype(str)).sort_values(
        ["unit_id", "seq", "line"], kind="stable")
    texts = s["explanation"].astype(object).where(s["explanation"].notna(), "")
    records: dict[str, list[Line]] = {}
    for uid, fund, line, label, amount, text in zip(  # ~1,500 lines for a county
            s["unit_id"], s["fund"].astype(str), s["line"].astype(str), s["label_zh"].astype(str),
            s["amount"].astype("int64").tolist(), texts):
        records.setdefault(uid, []).append(Line(fund, line, label, int(amount), str(text)))
    return records


def fund_summary(lines: list[Line]) -> list[tuple[str, int, int, int]]:
    """(fund label, entitlement, prepaid, balance) per fund in FUND_ZH order, then 合计."""
    rows, totals = [], [0, 0, 0]
    for fund, label in FUND_ZH.items():
        mine = [x for x in lines if x.fund == fund and not x.is_net]
        if not mine:
            continue
        paid = -sum(x.amount for x in mine if x.is_prepaid)
        due = sum(x.amount for x in mine if not x.is_prepaid)
        rows.append((label, due, paid, due - paid))
        totals = [totals[0] + due, totals[1] + paid, totals[2] + due - paid]
    return rows + [("合计", *totals)] if rows else []


def write_statements(units_dir: Path, statement: pd.DataFrame, ctx: ReportContext) -> list[Path]:
    """Write one workbook per unit that has lines in ``statement``; returns the paths."""
    names = ctx.unit_names()
    paths = []
    for unit_id, lines in statement_records(statement).items():
        path = statement_path(units_dir, unit_id, names.get(unit_id, ""))
        write_statement(path, unit_id, lines, ctx)
        paths.append(path)
    return paths


def write_statement(path: Path, unit_id: str, lines: list[Line] | pd.DataFrame,
                    ctx: ReportContext) -> None:
    """The statement of one unit from its lines (records, or its rows of ``unit_statement``)."""
    if isinstance(lines, pd.DataFrame):
        lines = statement_records(lines).get(str(unit_id), [])
    book = new_workbook(path, f"{ctx.year} 年度结算单 {unit_id}", ctx.created_at)
    sheet = Sheet(book, Styles(book), "结算单")
    _header(sheet, header_lines(unit_id, ctx))
    row = _lines(sheet, lines)
    _fund_summary(sheet, fund_summary(lines), row + 1)
    sheet.setup(HEADER_ROW)
    book.close()


def header_lines(unit_id: str, ctx: ReportContext) -> list[str]:
    unit = ctx.unit_row(unit_id)
    community_id = unit.get("community_id")
    return [f"{ctx.county} {ctx.year} 年度医共体结算单",
            f"单位：{unit.get('unit_name', '')}（{unit_id}）",
            f"所属医共体：{ctx.community_name(community_id)}（{community_id or '—'}）",
            f"结算年度：{ctx.year}　　运行编号：{ctx.run_id}",
            "金额单位：元。正数为医共体/医保基金应拨付本单位，负数为本单位应退回。"]


def _header(sheet: Sheet, texts: list[str]) -> None:
    ws, st = sheet.ws, sheet.st
    formats = [st.title, st.info, st.info, st.info, st.note]
    for r, (text, fmt) in enumerate(zip(texts, formats)):
        ws.merge_range(r, 0, r, len(LINE_HEADERS) - 1, "", fmt)
        ws.write_string(r, 0, text, fmt)  # merged cells too: text is written as text
    ws.set_row(0, 24)


def _lines(sheet: Sheet, lines: list[Line]) -> int:
    """The line table from HEADER_ROW; returns the row after the net line."""
    ws, st = sheet.ws, sheet.st
    for j, head in enumerate(LINE_HEADERS):
        ws.write_string(HEADER_ROW, j, head, st.header)
    funds = ["合计" if x.is_net else FUND_ZH.get(x.fund, x.fund) for x in lines]
    row = HEADER_ROW
    for i, (x, fund) in enumerate(zip(lines, funds)):
        row = HEADER_ROW + 1 + i
        kind = st.total if x.is_net else st.by_kind
        ws.write_number(row, 0, i + 1, kind["int"])
        put_text(ws, row, 1, fund, kind["text"])
        put_text(ws, row, 2, x.label_zh, kind["text"])
        put_money(ws, row, 3, x.amount, kind["money"])
        put_text(ws, row, 4, x.explanation, kind["wrap"])
        n = wrapped_lines(x.explanation, EXPLANATION_WIDTH)
        if n > 1:
            ws.set_row(row, row_height(n))
    sheet.widen(0, 6)
    sheet.widen(1, fit_width(funds, LINE_HEADERS[1]))
    sheet.widen(2, fit_width((x.label_zh for x in lines), LINE_HEADERS[2]))
    sheet.widen(3, fit_width((shown("money", x.amount) for x in lines), LINE_HEADERS[3]) + 2)
    sheet.widen(4, EXPLANATION_WIDTH)
    return row + 1


def _fund_summary(sheet: Sheet, rows: list[tuple[str, int, int, int]], first_row: int) -> None:
    """Per fund: entitlement, prepaid, balance (from the same lines; Σ balance = net)."""
    if not rows:
        return
    ws, st = sheet.ws, sheet.st
    put_text(ws, first_row, 0, "分资金汇总", st.section)
    head = first_row + 1
    ws.merge_range(head, 0, head, 1, "", st.header)
    ws.write_string(head, 0, FUND_HEADERS[0], st.header)
    for j, h in enumerate(FUND_HEADERS[1:], start=2):
        ws.write_string(head, j, h, st.header)
    for i, (label, *values) in enumerate(rows):
        r = head + 1 + i
        fmt = st.total if label == "合计" else st.by_kind
        ws.merge_range(r, 0, r, 1, "", fmt["text"])
        ws.write_string(r, 0, label, fmt["text"])
        for j, v in enumerate(values, start=2):
            put_money(ws, r, j, v, fmt["money"])
    for j, h in enumerate(FUND_HEADERS[1:], start=2):
        sheet.widen(j, fit_width([], h))
