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
become ``_``, names are cut by bytes and never collide (:mod:`settlement.report.names`).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pandas as pd

from settlement.money import yuan_display as yuan
from settlement.reconcile.lines import FUND_ZH, fund_zh
from settlement.report.context import ReportContext
from settlement.report.layout import (EXPLANATION_WIDTH, Sheet, Styles, fit_width, new_workbook,
                                      put_money, put_text, row_height, shown, wrapped_lines)
from settlement.reconcile.lines import PAYER_ZH
from settlement.report.names import unique_paths
from settlement.report.pages import keep_together, sign_off, width_scale

HEADER_ROW = 6
LINE_HEADERS = ("序号", "资金", "付款方", "项目", "金额（元）", "计算说明")


class Line(NamedTuple):
    fund: str
    line: str
    label_zh: str
    amount: int  # fen
    explanation: str
    payer: str = ""  # fund / community / health_commission

    @property
    def is_net(self) -> bool:
        return self.line == "net"

    @property
    def is_prepaid(self) -> bool:
        return self.line.endswith(".prepaid")


def statement_path(units_dir: Path, unit_id: str, unit_name: str) -> Path:
    """``<unit_id>_<unit_name>.xlsx``, safe and ≤ 255 bytes (:mod:`settlement.report.names`);
    :func:`write_statements` also makes the names of all units unique."""
    return unique_paths(units_dir, [(str(unit_id), str(unit_name or ""))])[0]


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
    payers = (s["payer"].astype(object).where(s["payer"].notna(), "") if "payer" in s
              else pd.Series("", index=s.index))
    records: dict[str, list[Line]] = {}
    for uid, fund, line, label, amount, text, payer in zip(  # ~1,500 lines for a county
            s["unit_id"], s["fund"].astype(str), s["line"].astype(str), s["label_zh"].astype(str),
            s["amount"].astype("int64").tolist(), texts, payers):
        records.setdefault(uid, []).append(Line(fund, line, label, int(amount), str(text), str(payer)))
    return records


def fund_summary(lines: list[Line], drg: bool = False) -> list[tuple[str, int, int, int]]:
    """(fund label, entitlement, prepaid, balance) per fund in FUND_ZH order, then 合计."""
    rows, totals = [], [0, 0, 0]
    for fund in FUND_ZH:
        label = fund_zh(fund, drg)
        mine = [x for x in lines if x.fund == fund and not x.is_net]
        if not mine:
            continue
        paid = -sum(x.amount for x in mine if x.is_prepaid)
        due = sum(x.amount for x in mine if not x.is_prepaid)
        rows.append((label, due, paid, due - paid))
        totals = [totals[0] + due, totals[1] + paid, totals[2] + due - paid]
    return rows + [("合计", *totals)] if rows else []


def payer_summary(lines: list[Line]) -> list[tuple[str, int]]:
    """(payer label, Σ its lines) in PAYER_ZH order; Σ == net."""
    out = []
    for payer, label in PAYER_ZH.items():
        mine = [x.amount for x in lines if x.payer == payer and not x.is_net]
        if mine:
            out.append((label, sum(mine)))
    return out


def statement_jobs(units_dir: Path, statement: pd.DataFrame, ctx: ReportContext,
                   extra=None) -> list[tuple]:
    """One ``(path, unit_id, lines, ctx, extra)`` per unit that has lines in ``statement``:
    the arguments of :func:`write_statement`, file names unique across the units."""
    names = ctx.unit_names()
    records = statement_records(statement)
    paths = unique_paths(units_dir, [(uid, names.get(uid, "")) for uid in records])
    return [(path, unit_id, lines, ctx, extra)
            for (unit_id, lines), path in zip(records.items(), paths)]


def write_statements(units_dir: Path, statement: pd.DataFrame, ctx: ReportContext,
                     extra=None, workers: int | None = 1) -> list[Path]:
    """Write one workbook per unit that has lines in ``statement``; returns the paths.
    ``extra(book, styles, unit_id)`` may add the unit's own further sheets (report/audit.py).
    ``workers`` > 1 writes them in that many processes (:mod:`settlement.report.parallel`):
    the same bytes."""
    from settlement.report.parallel import run_jobs

    jobs = statement_jobs(units_dir, statement, ctx, extra)
    run_jobs([(write_statement, job) for job in jobs], workers)
    return [job[0] for job in jobs]


def write_statement(path: Path, unit_id: str, lines: list[Line] | pd.DataFrame,
                    ctx: ReportContext, extra=None) -> None:
    """The statement of one unit from its lines (records, or its rows of ``unit_statement``)."""
    if isinstance(lines, pd.DataFrame):
        lines = statement_records(lines).get(str(unit_id), [])
    book = new_workbook(path, f"{ctx.year} 年度结算单 {unit_id}", ctx.created_at)
    sheet = Sheet(book, Styles(book), "结算单")
    _header(sheet, header_lines(unit_id, ctx))
    row = _lines(sheet, lines, ctx)
    summary = row + 1
    row = _fund_summary(sheet, fund_summary(lines, ctx.drg), payer_summary(lines), row)
    end = sign_off(sheet, row + 1, len(LINE_HEADERS), "本单位")
    sheet.setup(HEADER_ROW, scale=width_scale(sheet))  # a scale, so the page break holds
    keep_together(sheet, summary, end - 1, HEADER_ROW)  # summary + sign-off on one page
    who = f"{ctx.unit_row(unit_id).get('unit_name') or ''}（{unit_id}）".replace("&", "&&")
    sheet.ws.set_header(f"&L{who}&R{ctx.year} 年度结算单"[:250])  # each printed page says whose
    if extra is not None:
        extra(book, sheet.st, str(unit_id))
    book.close()


def header_lines(unit_id: str, ctx: ReportContext) -> list[str]:
    unit = ctx.unit_row(unit_id)
    community_id = unit.get("community_id")
    return [f"{ctx.county} {ctx.year} 年度医共体结算单",
            f"单位：{unit.get('unit_name', '')}（{unit_id}）",
            f"所属医共体：{ctx.community_name(community_id)}（{community_id or '—'}）",
            f"结算年度：{ctx.year}　　运行编号：{ctx.run_id}",
            "金额单位：元。正数为付款方应拨付本单位，负数为本单位应退回；付款方：医保基金（医保局）、"
            "医共体（牵头医院）、卫健委公卫资金。"]


def _header(sheet: Sheet, texts: list[str]) -> None:
    ws, st = sheet.ws, sheet.st
    formats = [st.title, st.info, st.info, st.info, st.note]
    for r, (text, fmt) in enumerate(zip(texts, formats)):
        ws.merge_range(r, 0, r, len(LINE_HEADERS) - 1, "", fmt)
        ws.write_string(r, 0, text, fmt)  # merged cells too: text is written as text
    ws.set_row(0, 24)


def _lines(sheet: Sheet, lines: list[Line], ctx: ReportContext) -> int:
    """The line table from HEADER_ROW; returns the row after the net line."""
    ws, st = sheet.ws, sheet.st
    for j, head in enumerate(LINE_HEADERS):
        ws.write_string(HEADER_ROW, j, head, st.header)
    funds = ["合计" if x.is_net else fund_zh(x.fund, ctx.drg) for x in lines]
    payers = [PAYER_ZH.get(x.payer, "") for x in lines]
    row = HEADER_ROW
    for i, (x, fund, payer) in enumerate(zip(lines, funds, payers)):
        row = HEADER_ROW + 1 + i
        kind = st.total if x.is_net else st.by_kind
        ws.write_number(row, 0, i + 1, kind["int"])
        put_text(ws, row, 1, fund, kind["text"])
        put_text(ws, row, 2, payer, kind["text"])
        put_text(ws, row, 3, x.label_zh, kind["text"])
        put_money(ws, row, 4, x.amount, kind["money"])
        put_text(ws, row, 5, x.explanation, kind["wrap"])
        n = wrapped_lines(x.explanation, EXPLANATION_WIDTH)
        if n > 1:
            ws.set_row(row, row_height(n))
    sheet.widen(0, 6)
    sheet.widen(1, fit_width(funds, LINE_HEADERS[1]))
    sheet.widen(2, fit_width(payers, LINE_HEADERS[2]))
    sheet.widen(3, fit_width([x.label_zh for x in lines] + ["按付款方：卫健委公卫资金"], LINE_HEADERS[3]))
    sheet.widen(4, fit_width((shown("money", x.amount) for x in lines), LINE_HEADERS[4]) + 2)
    sheet.widen(5, EXPLANATION_WIDTH)
    return row + 1


def _fund_summary(sheet: Sheet, rows: list[tuple[str, int, int, int]],
                  payers: list[tuple[str, int]], first_row: int) -> int:
    """分资金汇总 in the columns of the line table: fund in 资金, its balance in 金额, the
    entitlement and prepaid in 计算说明; then 按付款方 (Σ of each payer's lines). Σ = net."""
    if not rows:
        return first_row
    ws, st = sheet.ws, sheet.st
    row = first_row + 1
    ws.merge_range(row, 0, row, len(LINE_HEADERS) - 1, "", st.section)
    ws.write_string(row, 0, "分资金汇总（结算差额 = 应得金额 − 已预付/预拨；合计 = 本单位净结算额）", st.section)
    for label, due, paid, balance in rows:
        row += 1
        fmt = st.total if label == "合计" else st.by_kind
        ws.write_blank(row, 0, None, fmt["int"])
        put_text(ws, row, 1, label, fmt["text"])
        ws.write_blank(row, 2, None, fmt["text"])
        put_text(ws, row, 3, "结算差额", fmt["text"])
        put_money(ws, row, 4, balance, fmt["money"])
        put_text(ws, row, 5, f"应得 {yuan(due)} − 已预付/预拨 {yuan(paid)} = {yuan(balance)}", fmt["wrap"])
    for label, amount in payers:
        row += 1
        ws.write_blank(row, 0, None, st.by_kind["int"])
        put_text(ws, row, 1, "按付款方", st.by_kind["text"])
        put_text(ws, row, 2, label, st.by_kind["text"])
        put_text(ws, row, 3, f"由{label}结算", st.by_kind["text"])
        put_money(ws, row, 4, amount, st.by_kind["money"])
        put_text(ws, row, 5, f"本单位各行中付款方为{label}的金额合计", st.by_kind["wrap"])
    return row + 1
