"""Dates as exports write them (日期文本) → datetime64[ns], vectorised.

A column of strict ``YYYY-MM-DD`` text (the normal case) is one exact Arrow cast. Otherwise
every cell is matched, after NFKC (full-width digits), against the forms Chinese Excel, WPS and
bureau systems write::

    2025-01-28   2025-1-28   2025/1/28   2025.1.28   2025年1月28日   20250128
    2025-01-28 08:30:00   2025/1/28 8:30        (a time of day is dropped)
    45685        45685.5                        (an Excel serial day number: a date cell
                                                 that arrived as a number; 1900 system)

Day and month are checked (2025-02-30 is not a date); years outside 1678–2261 (what
datetime64[ns] holds) are invalid. Ambiguous orders such as ``01/28/2025`` are not guessed.

>>> parse_dates(pa.chunked_array([["2025/1/28", "2025年2月3日", "45685", "2025-02-30"]])).tolist()
[Timestamp('2025-01-28 00:00:00'), Timestamp('2025-02-03 00:00:00'), Timestamp('2025-01-28 00:00:00'), NaT]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_WRITTEN = (r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
            r"(?:(?:\s+|T)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_COMPACT = r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"
_SERIAL = r"^\d{5}(\.\d+)?$"
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")  # serial 1 = 1900-01-01 (Excel's leap-year bug included)
_MIN_YEAR, _MAX_YEAR = 1678, 2261
_NS_PER_DAY = 86_400 * 10**9
_MIN_DAY = int(np.datetime64("1678-01-01", "D").astype("int64"))
_MAX_DAY = int(np.datetime64("2261-12-31", "D").astype("int64"))
NAT = np.iinfo(np.int64).min


def parse_dates(arr: pa.ChunkedArray, index=None) -> pd.Series:
    """Date text → datetime64[ns]; NaT where empty or not a date."""
    cells = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)
    try:  # strict ISO, all cells or an exception
        days = _day_numbers(pc.cast(cells, pa.date32()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        days = _written_days(cells)
    return _series(days, index if index is not None else pd.RangeIndex(len(arr)))


def _day_numbers(dates) -> np.ndarray:
    number = dates.to_numpy(zero_copy_only=False).astype("datetime64[D]").astype("int64")
    number[(number < _MIN_DAY) | (number > _MAX_DAY)] = NAT
    return number


def _series(days: np.ndarray, index) -> pd.Series:
    ns = np.where(days == NAT, NAT, days * _NS_PER_DAY)
    return pd.Series(ns.view("datetime64[ns]"), index=index)


def _written_days(cells: pa.ChunkedArray) -> np.ndarray:
    text = pc.utf8_trim_whitespace(pc.utf8_normalize(pc.fill_null(cells, ""), "NFKC"))
    written = pc.extract_regex(text, _WRITTEN)
    compact = pc.extract_regex(text, _COMPACT)
    y, m, d = (np.asarray(pc.fill_null(pc.cast(pc.coalesce(pc.struct_field(written, f), pc.struct_field(compact, f)),
                                               pa.int64()), 0).to_numpy(zero_copy_only=False), dtype="int64")
               for f in ("y", "m", "d"))
    valid = (y >= _MIN_YEAR) & (y <= _MAX_YEAR) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= 31)
    month = np.where(valid, (y - 1970) * 12 + m - 1, 0).astype("datetime64[M]")
    day = month.astype("datetime64[D]") + np.where(valid, d - 1, 0)
    valid &= day.astype("datetime64[M]") == month  # 2025-02-30 rolls into March: invalid
    days = np.where(valid, day.astype("int64"), NAT)
    serial = np.asarray(pc.fill_null(pc.match_substring_regex(text, _SERIAL), False)
                        .to_numpy(zero_copy_only=False), dtype=bool)
    if serial.any():
        number = pc.cast(pc.if_else(pa.array(serial), text, "0"), pa.float64()).to_numpy(zero_copy_only=False)
        from_serial = (_EXCEL_EPOCH + np.floor(number).astype("int64")).astype("int64")
        days = np.where(serial, from_serial, days)
    days[(days != NAT) & ((days < _MIN_DAY) | (days > _MAX_DAY))] = NAT
    return days
