"""Sheet layout shared by every workbook (版式): fonts, number formats, widths, print setup.

All workbooks are written with XlsxWriter (see ARCHITECTURE.md, "Excel writing"). This module
is the only place that turns values into cells, so three rules hold everywhere:

* **Money** is int64 fen in the frames; a cell gets ``Decimal(fen) / 100`` (exact: XlsxWriter
  writes the Decimal's own digits, ``-0.07`` stays ``-0.07``, whereas the float ``-7 / 100``
  would be written ``-0.07000000000000001``) with the number format ``#,##0.00``.
* **Text is text.** Every string goes through ``write_string`` (never ``write`` or
  ``write_formula``), and the workbook is opened with ``strings_to_formulas`` /
  ``strings_to_urls`` / ``strings_to_numbers`` off, so a unit named ``=HYPERLINK(...)`` is shown
  as those characters and never evaluated.
* **Deterministic bytes.** The ``created`` property is fixed by the caller (the settlement
  year's last day) and XlsxWriter stamps zip members with 1980-01-01, so the same inputs give
  the same bytes.

Column widths are computed here: a CJK (East Asian wide) character counts 2, any other 1,
plus padding; e.g. ``display_width("DIP结算") == 7``.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Literal

import numpy as np
import pandas as pd
import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from settlement.money import to_decimal_yuan, yuan_display

FONT = "等线"  # DengXian: Office's CJK default; renderers fall back to Noto Sans CJK SC / YaHei
FONT_SIZE = 10
MONEY_FORMAT = "#,##0.00"
MAX_WIDTH = 60
EXPLANATION_WIDTH = 72

Kind = Literal["text", "wrap", "money", "int", "float", "points", "ratio", "pct", "bool", "date",
               "exact"]


@dataclass(frozen=True)
class Col:
    """One column of a written table: source column, Chinese header, how to write it."""

    name: str
    header: str
    kind: Kind = "text"


def display_width(text: str) -> int:
    """Width of ``text`` in Excel character units: East Asian wide/full-width count 2."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def new_workbook(path: Path, title: str, created: dt.datetime) -> xlsxwriter.Workbook:
    """An XlsxWriter workbook with our defaults (font, safety switches, fixed metadata)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path), {
        "in_memory": True,
        "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
        "default_format_properties": {"font_name": FONT, "font_size": FONT_SIZE},
    })
    book.set_properties({"title": title, "author": "医共体结算引擎", "created": created,
                         "comments": "金额单位：元（由整数分换算，精确到分）"})
    return book


class Styles:
    """The formats of one workbook, created once (XlsxWriter formats belong to a workbook)."""

    def __init__(self, book: xlsxwriter.Workbook):
        base = {"font_name": FONT, "font_size": FONT_SIZE, "valign": "top"}
        cell = {**base, "border": 1, "border_color": "#BFBFBF"}

        def fmt(**kw):
            return book.add_format({**cell, **kw})

        self.title = book.add_format({**base, "bold": True, "font_size": 14, "valign": "vcenter"})
        self.label = book.add_format({**base, "bold": True, "font_color": "#404040"})
        self.info = book.add_format({**base})
        self.header = fmt(bold=True, bg_color="#DDEBF7", text_wrap=True, align="center",
                          valign="vcenter")
        self.section = book.add_format({**base, "bold": True, "font_size": 11,
                                        "font_color": "#1F4E79"})
        self.note = book.add_format({**base, "italic": True, "font_color": "#595959"})
        kinds = {
            "text": {}, "wrap": {"text_wrap": True}, "money": {"num_format": MONEY_FORMAT},
            "int": {"num_format": "#,##0"}, "float": {"num_format": "#,##0.00"},
            "points": {"num_format": "#,##0.0000"}, "ratio": {"num_format": "0.0000"},
            "pct": {"num_format": "0.00%"}, "bool": {"align": "center"},
            "date": {"num_format": "yyyy-mm-dd"}, "exact": {"num_format": "0.0000######"},
        }
        self.by_kind = {k: fmt(**props) for k, props in kinds.items()}
        self.total = {k: fmt(**props, bold=True, top=2) for k, props in kinds.items()}


# ------------------------------------------------------------------ cell writers
def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def put_text(ws: Worksheet, row: int, col: int, value, fmt=None) -> None:
    """Text cell; never interpreted (``=...`` stays text)."""
    if _missing(value) or value == "":
        ws.write_blank(row, col, None, fmt)
    else:
        ws.write_string(row, col, str(value), fmt)


def put_money(ws: Worksheet, row: int, col: int, fen, fmt=None) -> None:
    """fen → exact Decimal yuan number cell."""
    if _missing(fen):
        ws.write_blank(row, col, None, fmt)
    else:
        ws.write_number(row, col, to_decimal_yuan(int(fen)), fmt)


def put_number(ws: Worksheet, row: int, col: int, value, fmt=None) -> None:
    if _missing(value):
        ws.write_blank(row, col, None, fmt)
    else:
        ws.write_number(row, col, value if isinstance(value, Decimal) else float(value), fmt)


def put(ws: Worksheet, row: int, col: int, kind: Kind, value, fmt=None) -> None:
    if kind in ("text", "wrap"):
        put_text(ws, row, col, value, fmt)
    elif kind == "money":
        put_money(ws, row, col, value, fmt)
    elif kind == "bool":
        put_text(ws, row, col, None if _missing(value) else ("是" if bool(value) else "否"), fmt)
    elif kind == "exact":  # a Decimal written as text by a stage (point values): exact digits
        put_number(ws, row, col, None if _missing(value) else Decimal(str(value)), fmt)
    elif kind == "date":
        if _missing(value) or value is pd.NaT:
            ws.write_blank(row, col, None, fmt)
        else:
            ws.write_datetime(row, col, pd.Timestamp(value).to_pydatetime(), fmt)
    else:
        put_number(ws, row, col, value, fmt)


def shown(kind: Kind, value) -> str:
    """The text a cell displays (for width computation only)."""
    if _missing(value):
        return ""
    if kind == "money":
        return yuan_display(int(value))
    if kind == "int":
        return f"{int(value):,}"
    if kind in ("float",):
        return f"{float(value):,.2f}"
    if kind in ("points", "ratio"):
        return f"{float(value):,.4f}"
    if kind == "exact":
        return str(value)
    if kind == "pct":
        return f"{float(value) * 100:.2f}%"
    if kind == "bool":
        return "是"
    if kind == "date":
        return "2025-01-01"
    return str(value)


def fit_width(texts: Iterable[str], header: str = "", kind: Kind = "text") -> float:
    """Column width from the widest shown text (header lines count too), padded and capped."""
    widest = max([display_width(t) for t in texts] + [0])
    head = max((display_width(line) for line in header.split("\n")), default=0)
    cap = EXPLANATION_WIDTH if kind == "wrap" else MAX_WIDTH
    return float(min(max(widest, head, 4) + 2, cap))


def wrapped_lines(text, width: float) -> int:
    """Lines a wrapped cell of ``width`` needs for ``text`` (CJK counted double)."""
    if _missing(text):
        return 1
    usable = max(width - 3, 8)
    return sum(max(1, -(-display_width(part) // int(usable))) for part in str(text).split("\n"))


def row_height(lines: int) -> float:
    """Points for ``lines`` lines of the body font (CJK glyphs need ~14 pt at 10 pt size)."""
    return 14.0 * lines + 3


# ------------------------------------------------------------------ sheets
class Sheet:
    """A worksheet with its workbook's styles and the widths fitted so far."""

    def __init__(self, book: xlsxwriter.Workbook, styles: Styles, name: str):
        self.book = book
        self.ws: Worksheet = book.add_worksheet(name)
        self.st = styles
        self.widths: dict[int, float] = {}

    def widen(self, col: int, width: float) -> None:
        """Make column ``col`` at least ``width`` wide."""
        self.widths[col] = max(self.widths.get(col, 0.0), width)
        self.ws.set_column(col, col, self.widths[col])

    def table(self, frame: pd.DataFrame, cols: list[Col], first_row: int = 0,
              total_label: str | None = None) -> int:
        """Header + rows (+ a 合计 row summing the money columns); returns the next free row."""
        ws, st = self.ws, self.st
        cols = [c for c in cols if c.name in frame.columns]
        for j, c in enumerate(cols):
            ws.write_string(first_row, j, c.header, st.header)
        lines = max((c.header.count("\n") + 1 for c in cols), default=1)
        if lines > 1:
            ws.set_row(first_row, 14 * lines + 4)
        values = {c.name: frame[c.name].tolist() for c in cols}
        for i in range(len(frame)):
            for j, c in enumerate(cols):
                put(ws, first_row + 1 + i, j, c.kind, values[c.name][i], st.by_kind[c.kind])
        row = first_row + 1 + len(frame)
        if total_label is not None and cols:
            put_text(ws, row, 0, total_label, st.total["text"])
            for j, c in enumerate(cols[1:], start=1):
                if c.kind == "money":
                    put_money(ws, row, j, sum(int(v) for v in values[c.name] if not _missing(v)),
                              st.total["money"])
                else:
                    ws.write_blank(row, j, None, st.total["text"])
            row += 1
        for j, c in enumerate(cols):
            self.widen(j, fit_width((shown(c.kind, v) for v in values[c.name]), c.header, c.kind))
        wrapped = [(j, c.name) for j, c in enumerate(cols) if c.kind == "wrap"]
        for i in range(len(frame)) if wrapped else ():
            n = max(wrapped_lines(values[name][i], self.widths[j]) for j, name in wrapped)
            if n > 1:
                ws.set_row(first_row + 1 + i, row_height(n))
        return row

    def block(self, frame: pd.DataFrame | None, cols: list[Col], first_row: int = 0,
              total_label: str | None = None, title: str | None = None) -> int:
        """A titled table at ``first_row`` (or a note when there is no data); the first table
        of a sheet (row 0) gets the frozen, filterable, repeated header. Returns the next row."""
        if title:
            put_text(self.ws, first_row, 0, title, self.st.section)
            first_row += 1
        if frame is None or frame.empty:
            put_text(self.ws, first_row, 0, "（本次结算无此项数据）", self.st.note)
            self.widen(0, 24)
            if first_row == 0:
                self.setup(0)
            return first_row + 1
        present = [c for c in cols if c.name in frame.columns]
        end = self.table(frame, present, first_row, total_label)
        if first_row == 0:
            self.setup(0, len(present), filter_rows=len(frame))
        return end

    def setup(self, header_row: int, n_cols: int = 0, landscape: bool = True,
              filter_rows: int | None = None, repeat: bool = True, scale: int | None = None) -> None:
        """Frozen header; print A4, landscape, fit to width, header repeated, page numbers.
        ``scale`` (percent) prints at that scale instead of fit to width, so that manual page
        breaks hold (Excel and LibreOffice ignore them under fit to page)."""
        ws = self.ws
        ws.freeze_panes(header_row + 1, 0)
        if landscape:
            ws.set_landscape()
        ws.set_paper(9)
        if scale is None:
            ws.fit_to_pages(1, 0)
        else:
            ws.set_print_scale(scale)
        if repeat:
            ws.repeat_rows(header_row)
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        ws.set_footer("&C第 &P 页，共 &N 页")
        if n_cols and filter_rows:
            ws.autofilter(header_row, 0, header_row + filter_rows, n_cols - 1)

