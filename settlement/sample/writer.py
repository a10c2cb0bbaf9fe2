"""Writing the sample tables as CSV or Parquet, byte-for-byte reproducibly.

CSV: UTF-8 without BOM, a plain header, no quoting (no value contains a comma or a quote),
money as yuan with exactly two decimals made from int64 fen by integer division
(``123456 → "1234.56"``, the same text as :func:`settlement.money.format_yuan`, built with
Arrow so 15 million rows take seconds), dates ISO, booleans ``true``/``false``, empty cells
for missing values.

Parquet: money as ``decimal128(18, 2)`` whose unscaled value is the fen integer itself
(so nothing passes through binary float), dates as ``date32``, ids as strings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .common import Table

MONEY_DECIMAL = pa.decimal128(18, 2)


def yuan_text(fen: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """int64 fen → yuan text with exactly two decimals (integer arithmetic only)."""
    fen = np.asarray(fen, dtype=np.int64)
    absolute = np.abs(fen)
    whole = pc.cast(pa.array(absolute // 100), pa.string())
    cents = pc.utf8_lpad(pc.cast(pa.array(absolute % 100), pa.string()), width=2, padding="0")
    text = pc.binary_join_element_wise(whole, cents, ".")
    if (fen < 0).any():
        text = pc.if_else(pa.array(fen < 0), pc.binary_join_element_wise("-", text, ""), text)
    if null is not None and null.any():
        text = pc.if_else(pa.array(null), pa.scalar(None, pa.string()), text)
    return text


def yuan_decimal(fen: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """int64 fen → decimal128(18, 2) with the fen as unscaled value (exact)."""
    fen = np.asarray(fen, dtype=np.int64)
    words = np.empty((len(fen), 2), dtype="<i8")
    words[:, 0] = fen
    words[:, 1] = fen >> 63  # sign extension of the 128-bit integer
    array = pa.Array.from_buffers(MONEY_DECIMAL, len(fen), [None, pa.py_buffer(words.tobytes())])
    if null is not None and null.any():
        array = pc.if_else(pa.array(null), pa.scalar(None, MONEY_DECIMAL), array)
    return array


def _money(values: object, fmt: str) -> pa.Array:
    if isinstance(values, list):  # small columns with None for missing
        null = np.array([v is None for v in values])
        fen = np.array([0 if v is None else v for v in values], dtype=np.int64)
    else:
        null, fen = None, np.asarray(values, dtype=np.int64)
    return yuan_text(fen, null) if fmt == "csv" else yuan_decimal(fen, null)


def _column(values: object, kind: str, fmt: str) -> pa.Array:
    if kind == "money":
        return _money(values, fmt)
    if isinstance(values, pa.Array):
        return values
    if kind in ("id", "text"):
        return pa.array(values, type=pa.string())
    if kind == "date":
        return pa.array(np.asarray(values, dtype="datetime64[D]"), type=pa.date32(),
                        from_pandas=True)
    if kind == "bool":
        return pa.array(np.asarray(values, dtype=bool), type=pa.bool_())
    if kind == "int":
        return pa.array(np.asarray(values, dtype=np.int64), type=pa.int64())
    if kind == "float":
        if isinstance(values, list):
            return pa.array(values, type=pa.float64())
        return pa.array(np.asarray(values, dtype=np.float64), type=pa.float64(), from_pandas=True)
    raise ValueError(f"unknown column kind {kind!r}")


def to_arrow(table: Table, fmt: str) -> pa.Table:
    return pa.table({name: _column(values, table.kinds[name], fmt)
                     for name, values in table.columns.items()})


def write_table(table: Table, out_dir: Path, fmt: str) -> int:
    """Write one table as ``<name>.csv`` or ``<name>.parquet``; return its row count."""
    arrow = to_arrow(table, fmt)
    if fmt == "csv":
        path = out_dir / f"{table.name}.csv"
        with open(path, "wb") as fh:
            fh.write((",".join(arrow.column_names) + "\n").encode("utf-8"))
            pacsv.write_csv(arrow, fh, pacsv.WriteOptions(include_header=False,
                                                          quoting_style="none"))
    else:
        path = out_dir / f"{table.name}.parquet"
        pq.write_table(arrow, path, compression="zstd")
    return arrow.num_rows
