"""Printed pages of a statement (打印页面): the sign-off block and where a page may break.

Part of :mod:`settlement.report.layout`. A statement ends with its sign-off block; its fund
summary and sign-off are kept on one printed page (:func:`keep_together`): when they would be
split, the page breaks before the summary, so page 2 starts with the repeated line header
whose columns the summary shares — never a lone sign-off under it. Manual breaks only hold
when the sheet prints at a scale, so statements print at :func:`width_scale` (the columns fit
one page wide) instead of "fit to page".
"""

from __future__ import annotations

from settlement.report.layout import Sheet, put_text


def sign_off(sheet: Sheet, first_row: int, n_cols: int, receiver: str) -> int:
    """The sign-off block a statement ends with (签章栏); returns the next free row.

    编制单位（盖章）, 编制人, 审核人, 单位负责人, 日期 for the issuer, then a 确认 line for the
    receiving unit (``receiver``).     """
    ws, st = sheet.ws, sheet.st
    rows = [("编制单位（盖章）：", "编制人：", "审核人："),
            ("单位负责人：", "日期：　　年　　月　　日", ""),
            (f"确认：{receiver}已核对上述结算金额无误。", "确认单位（盖章）：", "经办人、日期："),
            ]
    spans = _thirds(n_cols)
    for i, texts in enumerate(rows):
        r = first_row + i
        for (a, b), text in zip(spans, texts):
            if b > a:
                ws.merge_range(r, a, r, b, "", st.info)
            put_text(ws, r, a, text, st.info)
        ws.set_row(r, 26)
    return first_row + len(rows)


def _thirds(n_cols: int) -> list[tuple[int, int]]:
    """Three column spans covering 0..n_cols−1 (the last takes the wide explanation column)."""
    if n_cols <= 3:
        return [(j, j) for j in range(n_cols)] + [(n_cols - 1, n_cols - 1)] * (3 - n_cols)
    return [(0, 1), (2, n_cols - 2), (n_cols - 1, n_cols - 1)]


# A4 landscape in points, less our margins (0.6 in top and bottom, 0.4 in each side) and room
# for the page header/footer; a column width unit prints ~6.8 pt in LibreOffice (less in Excel)
# with 10 pt 等线, so 7.0 keeps every column on the page. Estimates, used
# only to decide where a page may break; rows of CJK text print ~16 pt tall in LibreOffice.
PAGE_HEIGHT_PT, PAGE_WIDTH_PT, WIDTH_UNIT_PT, DEFAULT_ROW_PT = 595 - 86 - 14, 842 - 58, 7.0, 16.0


def width_scale(sheet: Sheet) -> int:
    """The print scale (percent, ≤ 100) at which the sheet's columns fit one page wide."""
    width = sum(sheet.widths.values()) * WIDTH_UNIT_PT
    return max(10, min(100, int(PAGE_WIDTH_PT / width * 100))) if width else 100


def keep_together(sheet: Sheet, first: int, last: int, header_row: int) -> int | None:
    """Break the page before row ``first`` when rows ``first``..``last`` would otherwise be
    split over two printed pages (fit to width scales rows too). Returns the break row or None.

    Used for a statement's summary and sign-off: they then start a page under the repeated
    line header, whose columns they share, instead of leaving the sign-off alone on page 2.
    The sheet must print at :func:`width_scale` (``Sheet.setup(scale=…)``), not fit to page.
    """
    scale = width_scale(sheet) / 100

    def height(r: int) -> float:
        info = sheet.ws.row_info.get(r)  # XlsxWriter's RowInfo holds pixels (older: a tuple, points)
        if isinstance(info, tuple):
            value = info[0]
        else:
            value = getattr(info, "height", None)
            value = value * 0.75 if value is not None else None  # 96 dpi pixels → points
        return (value or DEFAULT_ROW_PT) * scale

    breaks, fill = [], 0.0
    for r in range(last + 1):
        if fill + height(r) > PAGE_HEIGHT_PT and r > header_row:
            breaks.append(r)
            fill = height(header_row)  # a new page starts with the repeated header row
        fill += height(r)
    page = lambda r: sum(1 for b in breaks if b <= r)  # noqa: E731
    if page(first) == page(last) or first <= header_row + 1:
        return None
    sheet.ws.set_h_pagebreaks([first])
    return first
