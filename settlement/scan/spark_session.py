"""The Spark side of the Spark engine: one session, scan inputs as Spark tables, results back.

**Session.** One local (or cluster) ``SparkSession`` per process, built on first use and
shared by every :class:`~settlement.scan.spark_engine.SparkEngine`: starting a JVM takes
seconds, so a run (or a test session) starts it once. ``master`` defaults to the environment
variable ``SETTLEMENT_SPARK_MASTER``, else ``local[2]``; the web UI and the console progress
bar are off; the session time zone is UTC (dates have no zone); ANSI SQL mode is on, so an
integer sum that leaves BIGINT raises instead of wrapping.

**Inputs.** A frame travels to Spark through Arrow (``pyarrow.Table`` → ``createDataFrame``),
only the columns a scan needs, dates as ``DATE``; a Parquet path is read by Spark itself
(the cluster path: executors read the files, nothing passes through the driver), every file
:func:`~settlement.scan.frames.parquet_files` lists, in that order. A column the table lacks
takes the loader's default (:data:`~settlement.scan.frames.DEFAULTS`). Money stays BIGINT fen
(``LongType``) all the way; it is never a double. A Parquet money column of the contract
holds yuan (``DECIMAL(p, 2)`` as ``settlement sample --format parquet`` writes it) and becomes
fen as :func:`settlement.scan.frames.fen_of_yuan` makes it: exactly.

**Results** come back as Arrow (``toArrow``) and are typed by the engine to the pandas
reference's dtypes.

Example::

    spark = session()                       # local[2], started once
    view = SparkTables(spark).register(claims_frame, ["community_id", "fund_paid"])
    spark.sql(f"SELECT community_id, SUM(fund_paid) FROM {view} GROUP BY 1").toArrow()
"""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pyarrow as pa

from settlement.scan.frames import DEFAULTS, SQL_TYPES, money_columns, parquet_files, row_offsets

MASTER_VARIABLE = "SETTLEMENT_SPARK_MASTER"
#: the session settings a scan relies on (time zone, exact integers) and what keeps it small
SETTINGS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # pandas writes datetime64[ns] as Parquet TIMESTAMP(NANOS): read it as its integer
    "spark.sql.legacy.parquet.nanosAsLong": "true",
}
#: Spark SQL type of an optional column given by its default (frames.SQL_TYPES names DuckDB's)
SPARK_TYPES = {"VARCHAR": "STRING", "TIMESTAMP": "DATE", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE"}
DATE_COLUMNS = ("admission_date", "discharge_date", "service_date", "period_start", "period_end")

_lock = threading.Lock()
_names = itertools.count()


def session(master: str | None = None, shuffle_partitions: int = 4, driver_memory: str | None = None):
    """The process's SparkSession (started on first call; later calls return the same one)."""
    from pyspark.sql import SparkSession

    with _lock:
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        builder = SparkSession.builder.master(master or os.environ.get(MASTER_VARIABLE, "local[2]"))
        builder = builder.appName("settlement-scan")
        settings = {**SETTINGS, "spark.sql.shuffle.partitions": str(shuffle_partitions)}
        if driver_memory:
            settings["spark.driver.memory"] = driver_memory
        for key, value in settings.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        return spark


def stop_session() -> None:
    """Stop the process's session (tests and benchmarks at their end)."""
    from pyspark.sql import SparkSession

    with _lock:
        active = SparkSession.getActiveSession()
        if active is not None:
            active.stop()


def arrow_of(frame: pd.DataFrame, columns: list[str]) -> pa.Table:
    """``columns`` of a frame as Arrow; dates as date32, a missing optional column its default."""
    arrays, n = {}, len(frame)
    for c in columns:
        if c in frame.columns:
            arr = pa.array(frame[c].array if hasattr(frame[c], "array") else frame[c], from_pandas=True)
            if pa.types.is_timestamp(arr.type):
                arr = arr.cast(pa.timestamp("s")).cast(pa.date32())
            elif pa.types.is_large_string(arr.type):
                arr = arr.cast(pa.string())
        elif c == "row":
            arr = pa.array(range(n), pa.int64())
        else:
            arr = _default_array(c, n)
        arrays[c] = arr
    return pa.table(arrays)


def _default_array(column: str, n: int) -> pa.Array:
    if column not in DEFAULTS:
        raise KeyError(f"scan input lacks the column `{column}`")
    value, kind = DEFAULTS[column], SQL_TYPES.get(column, "VARCHAR")
    arrow = {"VARCHAR": pa.string(), "TIMESTAMP": pa.date32(), "BIGINT": pa.int64(),
             "DOUBLE": pa.float64()}[kind] if value is None else None
    if value is None:
        return pa.nulls(n, arrow)
    return pa.array([value] * n)


class SparkTables:
    """Scan inputs registered as temporary views of one session, dropped by :meth:`drop`."""

    def __init__(self, spark):
        self.spark = spark
        self.views: list[str] = []

    def register(self, table: pd.DataFrame | Path, columns: list[str], *, row: bool = False) -> str:
        """A view of ``columns`` of a frame or a Parquet table (``row``: its position too)."""
        wanted = columns + (["row"] if row else [])
        if isinstance(table, pd.DataFrame):
            data = self.spark.createDataFrame(arrow_of(table, wanted))
        else:
            data = self._parquet(Path(table), columns, row)
        name = f"scan_{next(_names)}"
        data.createOrReplaceTempView(name)
        self.views.append(name)
        return name

    def _parquet(self, path: Path, columns: list[str], row: bool):
        files = parquet_files(path)
        hidden = [f for f in files if f.name.startswith(("_", "."))]
        if hidden:  # Spark's file index skips them silently: refuse rather than read less
            raise ValueError(f"Spark 不读取以 _ 或 . 开头的文件：{hidden[0]} / Spark skips the "
                             f"hidden file {hidden[0]}; rename it")
        data = self.spark.read.parquet(*[str(f) for f in files])
        present = set(data.columns)
        exprs = [_column_expr(c, present, data.schema) for c in columns]
        if row:
            exprs.append("_metadata.file_path AS _file")
            exprs.append("_metadata.row_index AS _row_index")  # not _row: a spilled table's column
        data = data.selectExpr(*exprs)
        if not row:
            return data
        first = {str(Path(f).resolve()): at for f, at in row_offsets(path)}  # file → position of its first row (footers only)
        paths = [r[0] for r in data.select("_file").distinct().collect()]
        uris = self.spark.createDataFrame(pa.table({
            "_file": paths, "_first": [first[str(Path(unquote(urlparse(p).path)).resolve())] for p in paths]}))
        keyed = data.join(uris.hint("broadcast"), "_file")
        return keyed.selectExpr(*columns, "_first + _row_index AS row")

    def drop(self) -> None:
        for name in self.views:
            self.spark.catalog.dropTempView(name)
        self.views.clear()


def _fen(column: str, kind) -> str:
    """A Parquet money column (yuan) as BIGINT fen: DECIMAL × 100 exactly (a sub-fen digit is
    an error, never rounded away), an integer × 100, a double rounded once (half away from 0) and
    refused unless it is a whole number of fen (NaN and ±inf refused: no amount)."""
    name, sort = f"`{column}`", kind.typeName()
    if sort == "decimal":
        if kind.scale <= 2:
            return f"CAST({name} * 100 AS BIGINT)"
        return (f"IF({name} * 100 = floor({name} * 100) OR {name} IS NULL, CAST({name} * 100 AS BIGINT), "
                f"CAST(raise_error('金额列 {column} 含分以下的位数 / sub-fen digits') AS BIGINT))")
    if sort in ("long", "integer", "short", "byte"):
        return f"CAST({name} AS BIGINT) * 100"
    if sort in ("double", "float"):  # exact or refused: the double must be a whole number of fen
        value = f"CAST({name} AS DOUBLE)"
        fen = f"round({value} * 100)"
        # NaN = NaN is true in Spark (and CAST(NaN AS BIGINT) fails in ANSI mode with its own
        # message): NaN and ±inf are refused first, as DuckDB and frames.fen_of_yuan refuse them
        finite = f"(NOT isnan({value}) AND abs({value}) < CAST('Infinity' AS DOUBLE))"
        return (f"IF(({finite} AND {fen} / 100 = {value}) OR {name} IS NULL, CAST({fen} AS BIGINT), "
                f"CAST(raise_error('金额列 {column} 为浮点数且不是整分金额或为 NaN/无穷大 / not a whole "
                f"number of fen (or NaN / inf)') AS BIGINT))")
    raise TypeError(f"Parquet 金额列类型 {sort} 无法换算为分 / money column of type {sort}")


def _column_expr(column: str, present: set[str], schema) -> str:
    """A Parquet column as the scans see it: dates DATE (from a timestamp or nanoseconds),
    money BIGINT fen (:func:`_fen`)."""
    if column not in present:
        if column not in DEFAULTS:
            raise KeyError(f"scan input lacks the column `{column}`")
        value = DEFAULTS[column]
        if value is None:
            return f"CAST(NULL AS {SPARK_TYPES[SQL_TYPES.get(column, 'VARCHAR')]}) AS {column}"
        return f"{str(value).upper() if isinstance(value, bool) else value} AS {column}"
    kind = schema[column].dataType.typeName()
    if column in money_columns():  # yuan in Parquet (frames.fen_of_yuan), fen for the scans
        return f"{_fen(column, schema[column].dataType)} AS {column}"
    if column in DATE_COLUMNS:
        if kind == "long":  # TIMESTAMP(NANOS) read as its integer (nanosAsLong)
            return f"CAST(timestamp_micros(`{column}` DIV 1000) AS DATE) AS {column}"
        if kind != "date":
            return f"CAST(`{column}` AS DATE) AS {column}"
    return f"`{column}`"
