"""Big input tables on disk (大表落盘): streamed once into typed Parquet, never held whole.

A county's ``outpatient_claims`` (15 M rows in a city) and ``inpatient_cases`` are the only
tables that grow with the data. With a :class:`SpillPolicy` the loader reads such a table
batch by batch (a typed CSV read or the Parquet row groups), types each batch with the same
cell rules as every other table (:func:`settlement.cells.typed`: the same problems at the same
user rows), and appends it to ``<folder>/<table>.parquet`` in the contract's Parquet format —
money ``decimal(18, 2)`` yuan, dates ``date32``, text as text — plus a column ``_row``, the
user's row number. Memory holds one batch, whatever the size of the file.

The table is then a :class:`SpilledTable`: its length, columns and path; the validation reads
it through DuckDB (:mod:`settlement.validation.sql_checks`) and asks for single columns or the
failing rows only; the stages get its path (:meth:`settlement.loader.LoadResult.stage_tables`)
and the scan engines read it out of core.

Example: a 1.1 GB ``outpatient_claims.csv`` becomes ``<run>/.spill/outpatient_claims.parquet``
(≈ 150 MB); a bad amount at line 4 711 is reported as ``outpatient_claims.csv`` row 4711
exactly as without the spill.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import re
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from settlement import native
from settlement.cells import MAX_ROWS_LISTED
from settlement.problems import Problem
from settlement.schema import STRING_TYPES, Column, TableSchema

#: the tables that grow with the data (all others are a few thousand rows at most)
SPILLED_TABLES = ("inpatient_cases", "outpatient_claims")
ROW = "_row"
ARROW = {"int": pa.int64(), "float": pa.float64(), "money": pa.decimal128(18, 2), "date": pa.date32(),
         "bool": pa.bool_()}
_CENT = pa.scalar(Decimal("0.01"), pa.decimal128(3, 2))
_MORE = re.compile(r"\((\d+) more rows not listed\)$")


@dataclass(frozen=True)
class SpillPolicy:
    """Where big tables go and what is big: a CSV of ``min_bytes`` or more, a Parquet table of
    ``min_rows`` or more (defaults: 48 MB ≈ 650 k claims; 500 k rows).

    ``cache``: a folder where a spilled table is kept under the SHA-256 of its file(s), with its
    problems, so that the next run on the same file (the next month, a what-if scenario) reads
    the Parquet instead of typing the file again (:class:`SpillCache`)."""

    folder: Path
    min_bytes: int = int(os.environ.get("SETTLEMENT_SPILL_MIN_BYTES", 48 * 1024 * 1024))
    min_rows: int = int(os.environ.get("SETTLEMENT_SPILL_MIN_ROWS", 500_000))
    cache: Path | None = None
    #: a Parquet file already in the spill's format is used where it lies (:mod:`settlement.in_place`)
    in_place: bool = True
    #: the pass over such files begun ahead of the load (:class:`settlement.in_place.Ahead`)
    ahead: object = field(default=None, compare=False, repr=False)
    #: the SHA-256 of files already hashed in the run (:class:`settlement.loader.Digests`)
    digests: object = field(default=None, compare=False, repr=False)

    def wants_csv(self, table: str, path: Path) -> bool:
        return table in SPILLED_TABLES and path.stat().st_size >= self.min_bytes

    def wants_parquet(self, table: str, files: list[Path]) -> bool:
        return table in SPILLED_TABLES and \
            sum(pq.ParquetFile(f).metadata.num_rows for f in files) >= self.min_rows

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def distinct_columns(schema: TableSchema) -> set[str]:
    """The columns of (nearly) one value per row — the key, the insured person — for which a
    Parquet dictionary only costs time; every other text column repeats a few values."""
    return set(schema.primary_key or ()) | ({"person_id"} & set(schema.column_names))


def arrow_schema(schema: TableSchema) -> pa.Schema:
    """The spill's Parquet schema of a table: the contract's Parquet types, then ``_row``."""
    return pa.schema([pa.field(c.name, ARROW.get(c.type, pa.string())) for c in schema.columns]
                     + [pa.field(ROW, pa.int64(), nullable=False)])


def to_arrow(frame: pd.DataFrame, schema: TableSchema, target: pa.Schema) -> pa.Table:
    """A typed frame of the loader (money int64 fen, datetime64) in the spill's format."""
    arrays = []
    for col in schema.columns:
        series = frame[col.name]
        if col.type == "money":
            fen = pa.array(series.to_numpy(dtype="int64", na_value=0),
                           mask=series.isna().to_numpy() if series.hasnans else None)
            arrays.append(pc.multiply(fen.cast(pa.decimal128(19, 0)), _CENT).cast(ARROW["money"]))
        elif col.type == "date":
            arrays.append(pa.array(series.to_numpy(dtype="datetime64[ns]"), from_pandas=True).cast(pa.date32()))
        else:
            arrays.append(pa.array(series, type=ARROW.get(col.type, pa.string()), from_pandas=True))
    arrays.append(pa.array(frame.index.to_numpy(dtype="int64")))
    return pa.Table.from_arrays(arrays, schema=target)


class SpillWriter:
    """Appends typed batches of one table to its Parquet file; :meth:`close` gives the table.

    Each batch is converted to Arrow here (pandas → Arrow holds the interpreter lock) and
    written by one thread of its own, in order, while the caller types the next batch: Arrow's
    Parquet writer (LZ4, dictionaries) runs without the lock, beside the CSV parse of
    :func:`settlement.csv_reader.read_ahead`, so on two cores the write no longer adds to the
    read (scale 10, 15 M claims from CSV: the write was ≈ 40 % of the caller's time). At most
    :attr:`AHEAD` batches wait, so memory stays bounded; a failed write is raised by the next
    :meth:`write` or by :meth:`close` (which then removes the file)."""

    AHEAD = 1  # converted batches handed to the writing thread and not written yet

    def __init__(self, policy: SpillPolicy, schema: TableSchema):
        from concurrent.futures import ThreadPoolExecutor

        policy.folder.mkdir(parents=True, exist_ok=True)
        self.path = policy.folder / f"{schema.table}.parquet"
        self.schema, self.target = schema, arrow_schema(schema)
        # LZ4, and dictionaries only for columns of few values: 15 M claims written in 4.3 s and read
        # back (by the validation and every scan) in 3.2 s, against 7.0 s / 7.8 s with zstd and a
        # dictionary for every column (the key's dictionary only overflows); 1.4× the size
        self.writer = pq.ParquetWriter(self.path, self.target, compression="lz4",
                                       use_dictionary=[n for n in self.target.names
                                                       if n not in distinct_columns(schema) | {ROW}])
        self.rows = 0
        self.facts = SpillFacts(schema)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"spill-{schema.table}")
        self._pending: list = []

    def write(self, frame: pd.DataFrame) -> None:
        table = to_arrow(frame, self.schema, self.target)
        while len(self._pending) >= self.AHEAD:
            self._pending.pop(0).result()
        self._pending.append(self._thread.submit(self._write, table))
        self.rows += len(frame)

    def _write(self, table: pa.Table) -> None:
        self.writer.write_table(table, row_group_size=1 << 20)
        self.facts.add(table)

    def _drain(self) -> None:
        """Wait for every batch handed over; the first failure is raised after all have ended."""
        pending, self._pending = self._pending, []
        failure = None
        for future in pending:
            try:
                future.result()
            except BaseException as exc:  # noqa: BLE001 - re-raised below, once all are done
                failure = failure or exc
        self._thread.shutdown(wait=True)
        if failure is not None:
            raise failure

    def close(self) -> "SpilledTable":
        try:
            self._drain()
        except BaseException:
            self.discard()
            raise
        self.writer.close()
        table = SpilledTable(self.path, self.schema, self.rows)
        table.facts = self.facts.result()
        return table

    def discard(self) -> None:
        try:
            self._drain()
        except BaseException:  # noqa: BLE001 - the file is dropped either way
            pass
        self.writer.close()
        self.path.unlink(missing_ok=True)


class SpillFacts:
    """What the rows written to a spill prove about each column (the facts of
    :class:`settlement.in_place.ColumnFacts`), gathered batch by batch by the writing thread from
    the very Arrow tables it writes: the validation then decides the column rules they settle
    without counting them again over the file (:func:`settlement.validation.sql_checks.proved_clean`),
    as it does for a typed Parquet file used in place. Text columns with an enum or a pattern
    keep their distinct values while there are at most :attr:`MAX_VALUES` (more: not kept, the
    rule is counted by DuckDB as before). The facts are those of every row written: a table cut
    afterwards (a month's rows of it) has facts of a superset of its rows, which proves no less."""

    MAX_VALUES = 4096

    def __init__(self, schema: TableSchema):
        self.schema, self.columns = schema, {}
        self.values_for = {c.name for c in schema.columns if c.type in STRING_TYPES and (c.enum or c.pattern)}

    def add(self, table: pa.Table) -> None:
        from settlement.in_place import _facts

        for col in self.schema.columns:
            arr = table.column(col.name).combine_chunks()
            found = _facts(arr, col)
            kept = self.columns.get(col.name)
            if col.name in self.values_for and (kept is None or kept.values is not None):
                distinct = pc.unique(arr.drop_null())
                found.values = frozenset(distinct.to_pylist()) if len(distinct) <= self.MAX_VALUES else None
            merged = found if kept is None else kept.add(found)
            if merged.values is not None and len(merged.values) > self.MAX_VALUES:
                merged.values = None
            self.columns[col.name] = merged

    def result(self) -> dict | None:
        """The facts per column, or None when no row was written (nothing proved, nothing lost)."""
        return dict(self.columns) if self.columns else None


def facts_to_json(facts: dict | None):
    """A spill's column facts as JSON values for its cache entry: each bound tagged with its
    type (a Decimal, a date, an int or a float), so that the entry gives back exactly what the
    writing proved; None stays None (nothing proved: the rules are counted)."""
    if not facts:
        return None

    def bound(value):
        if value is None:
            return None
        for tag, kind in (("decimal", Decimal), ("date", dt.date), ("bool", bool), ("int", int), ("float", float)):
            if isinstance(value, kind):
                return [tag, str(value) if tag in ("decimal", "date") else value]
        raise TypeError(f"unexpected bound {value!r}")

    return {name: {"cells": f.cells, "nulls": f.nulls, "low": bound(f.low), "high": bound(f.high),
                   "longest": f.longest, "values": None if f.values is None else sorted(f.values)}
            for name, f in facts.items()}


def facts_from_json(saved) -> dict | None:
    """:func:`facts_to_json` read back; an entry without facts (or unreadable ones) gives None."""
    from settlement.in_place import ColumnFacts

    if not saved:
        return None
    read = {"decimal": Decimal, "date": dt.date.fromisoformat, "bool": bool, "int": int, "float": float}
    try:
        return {name: ColumnFacts(int(f["cells"]), int(f["nulls"]),
                                  None if f["low"] is None else read[f["low"][0]](f["low"][1]),
                                  None if f["high"] is None else read[f["high"][0]](f["high"][1]),
                                  f["longest"], None if f["values"] is None else frozenset(f["values"]))
                for name, f in saved.items()}
    except (KeyError, TypeError, ValueError, IndexError):
        return None  # an entry of another shape: nothing proved, every rule counted


class _Quiet:
    """A reporter for reading back: every cell was checked (and reported) when it was spilled."""

    def rows(self, *args, **kwargs) -> None:
        pass


class SpilledTable:
    """A table on disk that reads like a frame where the validation needs it to: ``len``,
    ``columns``, ``index`` (the user's rows), ``t[column]`` (one column, typed as the loader
    types it), ``t.loc[mask, column]`` (those rows only) and ``head(n)``.

    ``row_column``: the file holds ``_row``, the user's row of each row (a spilled file); False
    for the user's own file used in place (:mod:`settlement.in_place`): row = position + 1.
    Such a file is the user's: nothing may write, move or delete it (:attr:`owned`).
    ``kept``: for a file used in place under the loader's ``where`` (a month run's days), the
    positions (0-based, ascending) of the rows the table holds; the other rows are not part of
    it (``window`` says which filter: (column, values)). Readers of :attr:`path` itself must
    apply it: the validation's views do (:mod:`settlement.validation.sql_checks`)."""

    def __init__(self, path: Path, schema: TableSchema, rows: int, row_column: bool = True,
                 kept: np.ndarray | None = None, window: tuple[str, list] | None = None):
        self.path, self.schema, self.row_column = Path(path), schema, row_column
        self.kept, self.window = kept, window
        #: (size, mtime) of a file used in place when it was loaded (LoadResult.changed_inputs)
        self.stamp: tuple[int, int] | None = None
        #: a file used in place: what its one pass proved per column (in_place.ColumnFacts)
        self.facts: dict | None = None
        self.rows = rows if kept is None else len(kept)
        self._index: pd.Index | None = None

    @property
    def owned(self) -> bool:
        """Whether the file is the engine's own (a spill or cache file), not the user's input."""
        return self.row_column

    def __len__(self) -> int:
        return self.rows

    def __repr__(self) -> str:
        return f"SpilledTable({self.schema.table}, {self.rows} rows, {self.path})"

    @property
    def columns(self) -> pd.Index:
        return pd.Index(self.schema.column_names)

    @property
    def empty(self) -> bool:
        return self.rows == 0

    @property
    def index(self) -> pd.Index:
        if self._index is None:
            if self.kept is not None:
                self._index = pd.Index(self.kept + 1, name="row")
            elif not self.row_column:
                self._index = pd.RangeIndex(1, self.rows + 1, name="row")
            elif (span := self._row_span()) is not None:  # rows first … last, none left out
                self._index = pd.RangeIndex(span[0], span[1] + 1, name="row")
            else:
                rows = pq.read_table(self.path, columns=[ROW]).column(ROW)
                self._index = pd.Index(rows.to_numpy(), name="row")
        return self._index

    def _row_span(self) -> tuple[int, int] | None:
        """(first, last) user row when the spill holds every row between them: ``_row`` is
        written ascending (the file's order) without repeats, so min/max of its row-group
        statistics and the row count prove it; None otherwise (blank lines, a filter …)."""
        meta = pq.ParquetFile(self.path).metadata
        at = meta.schema.to_arrow_schema().get_field_index(ROW)
        low = high = None
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(at).statistics
            if stats is None or not stats.has_min_max:
                return None
            low = stats.min if low is None else min(low, stats.min)
            high = stats.max if high is None else max(high, stats.max)
        return (low, high) if low is not None and high - low + 1 == self.rows else None

    def __getitem__(self, key):
        if isinstance(key, str):
            column = pq.read_table(self.path, columns=[key]).column(key)
            if self.kept is not None:
                column = column.take(pa.array(self.kept))
            return self._column(key, column, self.index)
        return pd.DataFrame({k: self[k] for k in key}, index=self.index)

    @property
    def loc(self) -> "_Rows":
        return _Rows(self)

    def head(self, n: int) -> pd.DataFrame:
        if self.kept is not None:
            return self.rows_where(self.kept[:n] + 1, self.schema.column_names)
        reader = pq.ParquetFile(self.path)
        table = next(reader.iter_batches(batch_size=max(n, 1)), None)
        table = pa.Table.from_batches([table]).slice(0, n) if table is not None else self.target_empty()
        index = pd.Index(table.column(ROW).to_numpy() if self.row_column else
                         np.arange(1, table.num_rows + 1, dtype="int64"), name="row")
        return pd.DataFrame({c.name: self._column(c.name, table.column(c.name), index)
                             for c in self.schema.columns}, index=index)

    def target_empty(self) -> pa.Table:
        return arrow_schema(self.schema).empty_table()

    def rows_where(self, rows: np.ndarray, columns: list[str]) -> pd.DataFrame:
        """Only the given user rows of ``columns`` (streamed by row group, rows in file order)."""
        if not self.row_column:
            return self._positions(np.asarray(rows, dtype="int64"), columns)
        wanted = pa.array(np.asarray(rows, dtype="int64"))
        parts = []
        for batch in pq.ParquetFile(self.path).iter_batches(columns=[*columns, ROW], batch_size=1 << 20):
            keep = pc.is_in(batch.column(ROW), value_set=wanted)
            if pc.any(keep).as_py():
                parts.append(batch.filter(keep))
        table = pa.Table.from_batches(parts) if parts else \
            arrow_schema(self.schema).empty_table().select([*columns, ROW])
        index = pd.Index(table.column(ROW).to_numpy(), name="row")
        return pd.DataFrame({c: self._column(c, table.column(c), index) for c in columns}, index=index)

    def _positions(self, rows: np.ndarray, columns: list[str]) -> pd.DataFrame:
        """The rows of a file used in place (row = position + 1), in file order: only the row
        groups that hold one are read."""
        rows = np.unique(np.asarray(rows, dtype="int64"))
        if self.kept is not None:  # only rows the table holds (kept is ascending)
            at = np.searchsorted(self.kept, rows - 1)
            held = at < len(self.kept)
            held[held] = self.kept[at[held]] == rows[held] - 1
            rows = rows[held]
        else:
            rows = rows[(rows >= 1) & (rows <= self.rows)]
        reader = pq.ParquetFile(self.path)
        parts, start = [], 0
        for group in range(reader.metadata.num_row_groups):
            size = reader.metadata.row_group(group).num_rows
            first, last = np.searchsorted(rows, start + 1), np.searchsorted(rows, start + size, side="right")
            if last > first:
                part = reader.read_row_group(group, columns=columns)
                parts.append(part.take(pa.array(rows[first:last] - start - 1)))
            start += size
            if len(rows) == 0 or start >= rows[-1]:
                break
        table = pa.concat_tables(parts) if parts else \
            arrow_schema(self.schema).empty_table().select(columns)
        index = pd.Index(rows, name="row")
        return pd.DataFrame({c: self._column(c, table.column(c), index) for c in columns}, index=index)

    def _column(self, name: str, arr: pa.ChunkedArray, index: pd.Index) -> pd.Series:
        col: Column = self.schema.column(name)
        if col.type in STRING_TYPES:
            return pd.Series(pd.arrays.ArrowStringArray(arr.cast(pa.large_string())), index=index, name=name)
        series = native.as_contract(arr, index, col, _Quiet())
        return series.rename(name)


class _Rows:
    """``t.loc[mask, column]`` of a :class:`SpilledTable`: the rows where ``mask`` holds."""

    def __init__(self, table: SpilledTable):
        self.table = table

    def __getitem__(self, key):
        mask, column = key
        mask = pd.Series(mask)
        rows = mask.index[mask.fillna(False).astype(bool).to_numpy()].to_numpy()
        columns = [column] if isinstance(column, str) else list(column)
        found = self.table.rows_where(rows, columns)
        return found[column] if isinstance(column, str) else found


def merge_problems(chunks: list[list[Problem]]) -> list[Problem]:
    """The problems of a table typed batch by batch, as if it had been typed whole: table-level
    problems once, at most MAX_ROWS_LISTED rows per (rule, column), one summary for the rest."""
    out: list[Problem] = []
    seen: set[Problem] = set()
    listed: Counter = Counter()
    unlisted: Counter = Counter()
    first: dict[tuple, Problem] = {}
    for chunk in chunks:
        for p in chunk:
            key = (p.rule, p.severity, p.table, p.file, p.column)
            more = _MORE.search(p.message_en) if p.row is None else None
            if more:
                unlisted[key] += int(more.group(1))
            elif p.row is None:
                if p not in seen:
                    seen.add(p)
                    out.append(p)
            elif listed[key] < MAX_ROWS_LISTED:
                listed[key] += 1
                first.setdefault(key, p)
                out.append(p)
            else:
                unlisted[key] += 1
    for key, count in unlisted.items():
        p = first[key]
        out.append(replace(p, row=None, value="", message_zh=f"{p.message_zh}（另有 {count} 行同类问题未逐行列出）",
                           message_en=f"{p.message_en} ({count} more rows not listed)"))
    return out


# ---------------------------------------------------------------- the cache of spilled tables
#: the modules whose code decides what a spilled table holds: a change to any of them is a new key
_TYPING_MODULES = ("cells", "native", "csv_reader", "parquet_reader", "arrow_text", "dates", "money",
                   "number_text", "headers", "spill", "loader")
KEEP_PER_TABLE = 4


@functools.cache
def _code_digest() -> str:
    digest = hashlib.sha256()
    for name in _TYPING_MODULES:
        digest.update((Path(__file__).parent / f"{name}.py").read_bytes())
    return digest.hexdigest()


class SpillCache:
    """Spilled tables kept between runs, keyed by the SHA-256 of the input file(s), the table's
    definition, the typing code and the row filter; entries are written under a temporary name
    and renamed (two runs at once never see half an entry); the newest ``KEEP_PER_TABLE``
    entries of a table are kept."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def key(self, schema: TableSchema, hashes: list[str], where) -> str:
        digest = hashlib.sha256(_code_digest().encode())
        digest.update(schema.model_dump_json().encode())
        digest.update(json.dumps([hashes, where], sort_keys=True, default=str).encode())
        return f"{schema.table}-{digest.hexdigest()[:32]}"

    def get(self, key: str, schema: TableSchema):
        """(SpilledTable, problems, flagged, source fields) of a cached entry, or None."""
        meta, data = self.folder / f"{key}.json", self.folder / f"{key}.parquet"
        if not (meta.is_file() and data.is_file()):
            return None
        try:
            saved = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        os.utime(meta)  # recently used: kept by the pruning
        problems = [Problem(**p) for p in saved["problems"]]
        flagged = {tuple(k.split("\t")): np.asarray(v, dtype="int64") for k, v in saved["flagged"].items()}
        table = SpilledTable(data, schema, saved["rows"])
        table.facts = facts_from_json(saved.get("facts"))
        return table, problems, flagged, saved["source"]

    def put(self, key: str, table: SpilledTable, problems: list[Problem], flagged: dict,
            source: dict) -> SpilledTable:
        """Move the spilled file into the cache with its problems; the table at its new place."""
        self.folder.mkdir(parents=True, exist_ok=True)
        data, meta = self.folder / f"{key}.parquet", self.folder / f"{key}.json"
        staging = self.folder / f".{key}.{os.getpid()}"
        shutil.move(str(table.path), str(staging.with_suffix(".parquet")))
        os.replace(staging.with_suffix(".parquet"), data)
        saved = {"rows": table.rows, "problems": [asdict(p) for p in problems], "source": source,
                 "flagged": {"\t".join(k): [int(r) for r in v] for k, v in flagged.items()},
                 "facts": facts_to_json(table.facts)}
        staging.with_suffix(".json").write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")
        os.replace(staging.with_suffix(".json"), meta)
        self._prune(table.schema.table)
        moved = SpilledTable(data, table.schema, table.rows)
        moved.facts = table.facts  # what the writing proved (kept in the entry too)
        return moved

    def _prune(self, table: str) -> None:
        entries = sorted(self.folder.glob(f"{table}-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP_PER_TABLE:]:
            old.unlink(missing_ok=True)
            old.with_suffix(".parquet").unlink(missing_ok=True)
