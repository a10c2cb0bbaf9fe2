"""Columns that arrive typed (已类型化的列) → the contract's dtypes, without a detour through text.

A typed CSV read (:mod:`settlement.csv_reader`) and a Parquet file hand over Arrow columns
that already hold numbers, dates or booleans. :func:`as_contract` takes such a column as it
is when it is of the right kind *and* every value is one the text path would accept unchanged;
otherwise it returns ``None`` and :mod:`settlement.cells` turns the column into text and takes
the slow path, so every problem is reported exactly as for a text file::

    money  decimal(p, s ≤ 2) → int64 fen (the unscaled integer), integers ×100;
           more decimals, |amount| ≥ 10^15 yuan, floats              → text path
    int    any integer type within int64                             → int64
    float  any float or integer type, every value finite             → float64
    date   date32/date64/timestamp (no time zone), year 1678–2261    → datetime64[ns] (the day)
    bool   bool                                                      → bool

An empty cell (null) is what an empty text cell is: the default when the column has one, an
error "不能为空" when the column may not be empty, else <NA>/NaN/NaT.

Example: a Parquet ``total_cost`` of type ``decimal128(12, 2)`` holding 3522.38 becomes
352238 fen; a ``float64`` column ``special_points`` holding ``inf`` is returned as ``None``
and reported by the text path as ``number.nonfinite`` with the text ``inf``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from settlement.schema import Column

MONEY_LIMIT_FEN = 10**17  # 10^15 yuan (settlement.number_text.MONEY_LIMIT_YUAN)
_NS_PER_DAY = 86_400 * 10**9
_MIN_DAY = int(np.datetime64("1678-01-01", "D").astype("int64"))
_MAX_DAY = int(np.datetime64("2261-12-31", "D").astype("int64"))


def as_contract(arr: pa.ChunkedArray, index: pd.Index, col: Column, report, default=None) -> pd.Series | None:
    """The column as its contract dtype, or None when it must take the text path.

    ``default``: the column's default as its typed value (cells.convert of the default text).
    """
    handler = HANDLERS.get(col.type)
    if handler is None:
        return None
    values = handler(arr)
    if values is None:
        return None
    empty = _np(pc.is_null(arr)) if arr.null_count else None
    return _with_empties(values, empty, index, col, report, default)


def fits(arr: pa.ChunkedArray, col: Column) -> bool:
    """Whether :func:`as_contract` will take this column of a typed CSV read as it is, by cheap
    aggregates (min/max, all finite). When it is False the file is read again as text, so that
    the problem shows the cell as the user wrote it (``1e400``, not ``inf``)."""
    if not arr.length() - arr.null_count:
        return True
    if col.type in ("money", "date"):
        low, high = pc.min_max(arr).values()
        if col.type == "money":
            return abs(low.as_py()) < MONEY_LIMIT_FEN // 100 and abs(high.as_py()) < MONEY_LIMIT_FEN // 100
        days = pc.cast(pa.array([low.as_py(), high.as_py()], type=arr.type), pa.int32()).to_pylist()
        return _MIN_DAY <= days[0] and days[1] <= _MAX_DAY
    if col.type == "float":
        return bool(pc.all(pc.is_finite(arr)).as_py())
    return True


def _np(array) -> np.ndarray:
    return np.array(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _with_empties(values: np.ndarray, empty, index, col: Column, report, default) -> pd.Series:
    """Nulls: the default, or "不能为空" (required), or <NA>/NaN/NaT (nullable)."""
    if empty is not None and default is not None:
        values[empty] = default
        empty = None
    if empty is not None and not col.nullable:
        report.rows("value.required", col, empty, pd.Series("", index=index),
                    f"「{col.label_zh}」不能为空", f"{col.name} must not be empty")
    if col.type in ("money", "int") and col.nullable and col.default is None:
        series = pd.Series(values, index=index).astype("Int64")
        return series.mask(empty, pd.NA) if empty is not None else series
    if empty is not None and col.type in ("money", "int"):
        values[empty] = 0
    if empty is not None and col.type == "float":
        values[empty] = np.nan
    if empty is not None and col.type == "bool":
        values[empty] = False
    if col.type == "date":
        if empty is not None:
            values[empty] = np.iinfo(np.int64).min
        return pd.Series(values.view("datetime64[ns]"), index=index)
    return pd.Series(values, index=index, copy=False)


def _money(arr: pa.ChunkedArray) -> np.ndarray | None:
    kind = arr.type
    if pa.types.is_integer(kind):
        values = _integers(arr)
        if values is None or (np.abs(values) >= MONEY_LIMIT_FEN // 100).any():
            return None
        return values * 100
    if not pa.types.is_decimal(kind) or kind.scale > 2:
        return None
    try:  # exact: as many or more digits, two decimals (a no-op for decimal128(p, 2))
        scaled = arr if kind == pa.decimal128(kind.precision, 2) else pc.cast(arr, pa.decimal128(38, 2))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    fen = _unscaled(scaled)
    return None if fen is None or (np.abs(fen) >= MONEY_LIMIT_FEN).any() else fen


def _unscaled(decimals: pa.ChunkedArray) -> np.ndarray | None:
    """decimal128 → its unscaled integer as int64, or None when one does not fit int64.

    decimal128 stores a little-endian two's-complement 128-bit integer per value: it fits
    int64 when the high word only extends the sign of the low one (null slots: 0)."""
    out = np.zeros(len(decimals), dtype="int64")
    at = 0
    for chunk in decimals.chunks:
        words = np.frombuffer(chunk.buffers()[1], dtype="<i8")[2 * chunk.offset: 2 * (chunk.offset + len(chunk))]
        part = out[at:at + len(chunk)]
        part[:] = words[0::2]
        if chunk.null_count:
            valid = np.asarray(chunk.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
            part[~valid] = 0
            if not np.array_equal(words[1::2][valid], part[valid] >> 63):
                return None
        elif not np.array_equal(words[1::2], part >> 63):
            return None
        at += len(chunk)
    return out


def _integers(arr: pa.ChunkedArray) -> np.ndarray | None:
    if not pa.types.is_integer(arr.type):
        return None
    if arr.type == pa.uint64() and pc.max(arr).as_py() is not None and pc.max(arr).as_py() > 2**63 - 1:
        return None
    return np.array(pc.fill_null(arr.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), dtype="int64")


def _floats(arr: pa.ChunkedArray) -> np.ndarray | None:
    if not (pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type)):
        return None
    values = np.array(pc.fill_null(arr.cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False), dtype="float64")
    return values if np.isfinite(values).all() else None


def _dates(arr: pa.ChunkedArray) -> np.ndarray | None:
    kind = arr.type
    if pa.types.is_timestamp(kind) and kind.tz is None:
        days = pc.cast(pc.floor_temporal(arr, unit="day"), pa.timestamp("s"))
        number = np.array(pc.fill_null(days.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)) // 86_400
    elif pa.types.is_date(kind):
        number = np.array(pc.fill_null(arr.cast(pa.date32()).cast(pa.int32()), 0).to_numpy(zero_copy_only=False),
                          dtype="int64")
    else:
        return None
    valid = _np(pc.is_valid(arr)) if arr.null_count else np.ones(len(number), dtype=bool)
    if ((number[valid] < _MIN_DAY) | (number[valid] > _MAX_DAY)).any():
        return None
    return number.astype("int64") * _NS_PER_DAY


def _booleans(arr: pa.ChunkedArray) -> np.ndarray | None:
    if not pa.types.is_boolean(arr.type):
        return None
    return np.array(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


HANDLERS = {"money": _money, "int": _integers, "float": _floats, "date": _dates, "bool": _booleans}
