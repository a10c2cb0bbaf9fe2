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
plus padding; e.g. ``display_width("DIP结算") == 7``. A table is written a column at a time:
:mod:`settlement.report.columns` turns each column into its cells' values and its width in
one pass (the same cells, formats and widths as cell by cell, at a fraction of the cost).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Literal

import numpy as np
import pandas as pd
import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from settlement.money import to_decimal_yuan, yuan_display
from settlement.report.columns import (EXPLANATION_WIDTH, MAX_WIDTH,  # noqa: F401 (re-exported)
                                       column_cells, column_width, display_width, shown_text,
                                       wrapped_lines, width_of)

FONT = "等线"  # DengXian: Office's CJK default; renderers fall back to Noto Sans CJK SC / YaHei
FONT_SIZE = 10
MONEY_FORMAT = "#,##0.00"

Kind = Literal["text", "wrap", "money", "int", "float", "points", "ratio", "pct", "bool", "date",
               "exact"]


@dataclass(frozen=True)
class Col:
    """One column of a written table: source column, Chinese header, how to write it."""

    name: str
    header: str
    kind: Kind = "text"


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
    return "" if _missing(value) else shown_text(kind, value)


def fit_width(texts: Iterable[str], header: str = "", kind: Kind = "text") -> float:
    """Column width from the widest shown text (header lines count too), padded and capped."""
    return width_of(max((display_width(t) for t in texts), default=0), header, kind)


def row_height(lines: int) -> float:
    """Points for ``lines`` lines of the body font (CJK glyphs need ~14 pt at 10 pt size)."""
    return 14.0 * lines + 3


def _write_column(ws: Worksheet, top: int, col: int, kind: Kind, cells: list, fmt) -> None:
    """Cells made by :func:`settlement.report.columns.column_cells`, from row ``top`` down."""
    if kind in ("text", "wrap", "bool"):
        write = ws.write_string
    elif kind == "date":
        write = ws.write_datetime
    else:
        write = ws.write_number
    blank = ws.write_blank
    for i, value in enumerate(cells, start=top):
        if value is None:
            blank(i, col, None, fmt)
        else:
            write(i, col, value, fmt)


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
        """Header + rows (+ a 合计 row summing the money columns); returns the next free row.
        Each column is converted once (:mod:`settlement.report.columns`) and written down."""
        ws, st = self.ws, self.st
        cols = [c for c in cols if c.name in frame.columns]
        for j, c in enumerate(cols):
            ws.write_string(first_row, j, c.header, st.header)
        lines = max((c.header.count("\n") + 1 for c in cols), default=1)
        if lines > 1:
            ws.set_row(first_row, 14 * lines + 4)
        top = first_row + 1
        cells = [column_cells(c.kind, frame[c.name]) for c in cols]
        for j, (c, column) in enumerate(zip(cols, cells)):
            _write_column(ws, top, j, c.kind, column, st.by_kind[c.kind])
        row = top + len(frame)
        if total_label is not None and cols:
            self._total_row(cols, cells, row, total_label)
            row += 1
        for j, (c, column) in enumerate(zip(cols, cells)):
            self.widen(j, column_width(c.kind, column, c.header))
        self._wrapped_heights(cols, cells, top)
        return row

    def _total_row(self, cols: list[Col], cells: list[list], row: int, label: str) -> None:
        ws, st = self.ws, self.st
        put_text(ws, row, 0, label, st.total["text"])
        for j, (c, column) in enumerate(zip(cols[1:], cells[1:]), start=1):
            if c.kind == "money":  # Σ in fen of the yuan cells: exact
                fen = sum(int(v.scaleb(2)) for v in column if v is not None)
                put_money(ws, row, j, fen, st.total["money"])
            else:
                ws.write_blank(row, j, None, st.total["text"])

    def _wrapped_heights(self, cols: list[Col], cells: list[list], top: int) -> None:
        """Rows whose wrapped text needs more than one line get the height of their lines."""
        wrapped = [(self.widths[j], column) for j, (c, column) in enumerate(zip(cols, cells))
                   if c.kind == "wrap"]
        if not wrapped:
            return
        for i in range(len(wrapped[0][1])):
            n = max(wrapped_lines(column[i], width) for width, column in wrapped)
            if n > 1:
                self.ws.set_row(top + i, row_height(n))

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

