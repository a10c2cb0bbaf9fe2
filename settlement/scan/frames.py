"""Scan inputs: a frame with the loader's dtypes, or Parquet on disk (a file or a folder).

The engines read only the columns a scan needs. A column the scan needs but the table does
not have (an optional column a test or an older file leaves out) takes the loader's default
(:data:`DEFAULTS`): money 0, flags false, text and dates missing, floats NaN.

Parquet is read as the loader types it: strings ``string`` (Arrow-backed), int64 ``int64``
(``Int64`` where the file has a missing value), timestamps ``datetime64[ns]``, booleans
``bool`` (``boolean`` with a missing value). A money column of the contract (type ``money``)
holds **yuan** in Parquet, as the loader reads it (the generator writes ``decimal(18,2)``);
the scans take it as int64 fen: decimal × 100 exactly (a sub-fen digit is an error, never
rounded away), integer × 100, a float only when it is exactly the double of a whole number of
fen (``round(x × 100) / 100 == x``, the loader's rule too), else an error — never rounded::

    fund_paid decimal 1632.01  →  163201 fen The files of a folder are read in the order of
their paths (``sorted``), so a row's position is the same for every engine::

    inpatient_cases/county_id=C01/part-0.parquet   rows 0 … n₁−1
    inpatient_cases/county_id=C02/part-0.parquet   rows n₁ … n₁+n₂−1
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

#: column → default of an optional column missing from a table (the loader's defaults)
DEFAULTS: dict[str, object] = {
    "violation_deduction": 0, "total_cost": 0, "self_pay": 0, "fund_paid": 0,
    "referral": False, "childbirth": False, "emergency": False,
    "registered_residence_elsewhere": False,
    "referral_from_unit_id": None, "dip_group": None, "person_id": None, "claim_type": None,
    "admission_date": None, "discharge_date": None, "service_date": None,
    "policy_cost": None, "deductible": None, "reimbursement_ratio": np.nan,
}
#: DuckDB type of a defaulted column
SQL_TYPES = {"referral_from_unit_id": "VARCHAR", "dip_group": "VARCHAR", "person_id": "VARCHAR",
             "claim_type": "VARCHAR", "admission_date": "TIMESTAMP", "discharge_date": "TIMESTAMP",
             "service_date": "TIMESTAMP", "policy_cost": "BIGINT", "deductible": "BIGINT",
             "reimbursement_ratio": "DOUBLE"}


@lru_cache(maxsize=1)
def money_columns() -> frozenset[str]:
    """Names of the contract's money columns (yuan in Parquet, fen in the frames)."""
    from settlement.schema import contract

    return frozenset(c.name for schema in contract().values() for c in schema.columns_of_type("money"))


def parquet_type(table: Path, column: str) -> pa.DataType | None:
    """The Arrow type of ``column`` in the first file of ``table`` that has it."""
    for f in parquet_files(table):
        schema = pq.read_schema(f)
        if column in schema.names:
            return schema.field(column).type
    return None


def fen_of_yuan(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A Parquet money column (yuan) as int64 fen, exactly (a sub-fen decimal raises)."""
    kind = column.type
    if pa.types.is_decimal(kind):
        return pc.cast(pc.multiply(column, pa.scalar(Decimal(100), pa.decimal128(3, 0))), pa.int64())
    if pa.types.is_integer(kind):
        return pc.multiply_checked(pc.cast(column, pa.int64()), 100)
    if pa.types.is_floating(kind):  # exact or refused: the double must be a whole number of fen
        values = pc.cast(column, pa.float64())  # (NaN and ±inf are no amount: refused too)
        fen = pc.round(pc.multiply(values, 100.0))
        exact = pc.and_(pc.is_finite(values), pc.equal(pc.divide(fen, 100.0), values))
        if not pc.all(pc.or_kleene(exact, pc.is_null(values))).as_py():
            raise ValueError("Parquet 金额列为浮点数且含不是整分的金额或 NaN/无穷大（请导出为 decimal(18,2) 或文本）"
                             " / a floating money column holds an amount that is not a whole number of fen"
                             " (or NaN / inf)")
        return pc.cast(fen, pa.int64())
    raise TypeError(f"Parquet 金额列类型 {kind} 无法换算为分 / money column of type {kind}")


def parquet_files(path: Path) -> list[Path]:
    """The Parquet files of a table: the file itself, or every ``*.parquet`` under a folder."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*.parquet") if p.is_file())
    return [path]


@lru_cache(maxsize=64)
def _schema_names(files: tuple[tuple[str, float], ...]) -> frozenset[str]:
    names: set[str] = set()
    for f, _mtime in files:  # the modification time keys the cache: a rewritten file is reread
        names |= set(pq.read_schema(f).names)
    return frozenset(names)


def columns_of(table: pd.DataFrame | Path) -> frozenset[str]:
    """The column names a table holds (every file's, for a folder)."""
    if isinstance(table, pd.DataFrame):
        return frozenset(table.columns)
    return _schema_names(tuple((str(f), f.stat().st_mtime) for f in parquet_files(table)))


def row_offsets(table: Path) -> list[tuple[str, int]]:
    """(file, position of its first row) for each file of a Parquet table, in read order."""
    out, at = [], 0
    for f in parquet_files(table):
        out.append((str(f), at))
        at += pq.ParquetFile(f).metadata.num_rows
    return out


def _pandas_type(arrow_type: pa.DataType, nulls: bool):
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.StringDtype("pyarrow")
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype() if nulls else np.dtype("int64")
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype() if nulls else np.dtype("bool")
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return np.dtype("datetime64[ns]")
    if pa.types.is_floating(arrow_type):
        return np.dtype("float64")
    return None


def arrow_to_frame(table: pa.Table | pa.RecordBatch) -> pd.DataFrame:
    """An Arrow table (or batch) as a frame with the loader's dtypes (strings stay in Arrow)."""
    data = {}
    for name, column in zip(table.column_names, table.columns):
        arrow_type = column.type
        if pa.types.is_dictionary(arrow_type):
            column, arrow_type = column.cast(arrow_type.value_type), arrow_type.value_type
        dtype = _pandas_type(arrow_type, column.null_count > 0)
        if isinstance(dtype, pd.StringDtype):
            chunked = column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])
            data[name] = pd.Series(pd.arrays.ArrowStringArray(chunked.cast(pa.large_string())))
        elif dtype is not None and dtype.kind == "M":
            data[name] = pd.Series(column.cast(pa.timestamp("ns")).to_pandas()).astype(dtype)
        else:
            series = pd.Series(column.to_pandas())
            data[name] = series.astype(dtype) if dtype is not None else series
    return pd.DataFrame(data, copy=False)


def with_defaults(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame[columns]``, a missing optional column filled with its default."""
    n = len(frame)
    out = {}
    for c in columns:
        if c in frame.columns:
            out[c] = frame[c]
        elif c not in DEFAULTS:
            raise KeyError(f"scan input lacks the column `{c}`")
        elif DEFAULTS[c] is None:
            kind = SQL_TYPES.get(c, "VARCHAR")
            out[c] = (pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]") if kind == "TIMESTAMP"
                      else pd.Series(pd.NA, index=frame.index,
                                     dtype="Int64" if kind == "BIGINT" else "string"))
        else:
            value = DEFAULTS[c]
            out[c] = pd.Series(np.full(n, value), index=frame.index)
    return pd.DataFrame(out, index=frame.index, copy=False)


def read(table: pd.DataFrame | Path, columns: list[str], *, window=None,
         date_column: str | None = None) -> pd.DataFrame:
    """``columns`` of a table (rows in ``window`` of ``date_column`` when given), loader dtypes.

    A frame keeps its index; a Parquet table gets positions 0 … n−1 (before the window)."""
    if isinstance(table, pd.DataFrame):
        frame = with_defaults(table, columns)
    else:
        present = [c for c in columns if c in columns_of(table)]
        files = [str(f) for f in parquet_files(table)]
        dataset = ds.dataset(files, format="parquet")  # the first file's schema
        if not set(present) <= set(dataset.schema.names):  # a column only later files hold:
            dataset = ds.dataset(files, format="parquet", schema=pa.unify_schemas(  # null
                [pq.read_schema(f) for f in files], promote_options="permissive"))  # elsewhere
        arrow = dataset.to_table(columns=present)
        for name in set(present) & money_columns():
            arrow = arrow.set_column(arrow.schema.get_field_index(name), name,
                                     fen_of_yuan(arrow[name]))
        frame = with_defaults(arrow_to_frame(arrow), columns)
    if window is not None:
        dates = frame[date_column]
        frame = frame.loc[((dates >= window.start) & (dates < window.end)).to_numpy(bool)]
    return frame
