"""Whole columns made ready for cells (列): values, widths and wrapped lines, once per column.

Part of :mod:`settlement.report.layout`. A table of 10,000 rows is 100,000+ cells; deciding
per cell what to write (``put``) and measuring each shown text cost more than XlsxWriter's
own work. Here each column is converted in one pass into the Python values its cells take —
``None`` for a blank cell, ``str`` for text (never interpreted), ``Decimal`` yuan for money,
``float`` for numbers, ``datetime`` for dates — and its width comes from the widest shown
text, measured once per distinct text (money, counts and ratios: the widest is the shown
text of the largest or the smallest value, as the shown width never shrinks with |x|).

Example: ``column_cells("money", pd.Series([123456, None]))`` → ``[Decimal("1234.56"), None]``
and ``column_width("money", [Decimal("1234.56"), None], "金额")`` → 10.0 (``1,234.56`` is 8
wide, padded by 2).
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from functools import lru_cache

import pandas as pd

EXPLANATION_WIDTH = 72
MAX_WIDTH = 60
NUMBER_KINDS = ("int", "float", "points", "ratio", "pct")


@lru_cache(maxsize=65536)
def _wide_text_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def display_width(text: str) -> int:
    """Width of ``text`` in Excel character units: East Asian wide/full-width count 2."""
    return len(text) if text.isascii() else _wide_text_width(text)


def _missing(value) -> bool:
    return (value is None or value is pd.NA or value is pd.NaT
            or (isinstance(value, float) and value != value))


def column_cells(kind: str, values: pd.Series) -> list:
    """What each cell of a column of ``kind`` is written as; None = a blank cell."""
    items = [None if _missing(v) else v for v in values.tolist()]
    if kind in ("text", "wrap"):
        return [None if v is None or v == "" else str(v) for v in items]
    if kind == "money":
        return [None if v is None else Decimal(int(v)).scaleb(-2) for v in items]
    if kind == "bool":
        return [None if v is None else ("是" if bool(v) else "否") for v in items]
    if kind == "exact":  # a Decimal written as text by a stage (point values): exact digits
        return [None if v is None else Decimal(str(v)) for v in items]
    if kind == "date":
        return [None if v is None else pd.Timestamp(v).to_pydatetime() for v in items]
    return [None if v is None else (v if isinstance(v, Decimal) else float(v)) for v in items]


def shown_text(kind: str, value) -> str:
    """The text a cell of ``kind`` displays (for widths only); ``value`` is not missing."""
    if kind == "money":
        sign = "-" if value < 0 else ""
        whole, cents = divmod(abs(int(value)), 100)
        return f"{sign}{whole:,}.{cents:02d}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "float":
        return f"{float(value):,.2f}"
    if kind in ("points", "ratio"):
        return f"{float(value):,.4f}"
    if kind == "pct":
        return f"{float(value) * 100:.2f}%"
    if kind == "bool":
        return "是"
    if kind == "date":
        return "2025-01-01"
    return str(value)  # "exact" and text: as written


def widest_shown(kind: str, cells: list) -> int:
    """The widest shown text of a column's cells (from :func:`column_cells`; 0 when blank)."""
    present = [v for v in cells if v is not None]
    if not present:
        return 0
    if kind in ("text", "wrap", "exact"):
        return max(display_width(t) for t in {str(v) for v in present})
    if kind in ("bool", "date"):
        return len(shown_text(kind, True))
    if kind == "money":  # cells are yuan; shown as the fen they are
        return max(len(shown_text(kind, int(v.scaleb(2)))) for v in (max(present), min(present)))
    return max(len(shown_text(kind, v)) for v in (max(present), min(present)))


def width_of(widest: int, header: str = "", kind: str = "text") -> float:
    """Column width from the widest shown text (header lines count too), padded and capped."""
    head = max((display_width(line) for line in header.split("\n")), default=0)
    cap = EXPLANATION_WIDTH if kind == "wrap" else MAX_WIDTH
    return float(min(max(widest, head, 4) + 2, cap))


def column_width(kind: str, cells: list, header: str = "") -> float:
    return width_of(widest_shown(kind, cells), header, kind)


def wrapped_lines(text, width: float) -> int:
    """Lines a wrapped cell of ``width`` needs for ``text`` (CJK counted double)."""
    if text is None or text is pd.NA or (isinstance(text, float) and text != text):
        return 1
    usable = int(max(width - 3, 8))
    return sum(max(1, -(-display_width(part) // usable)) for part in str(text).split("\n"))
