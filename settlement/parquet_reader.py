"""Parquet tables (Parquet 文件): one file, or a directory of part files, read as they are typed.

A table is ``<name>.parquet`` or a directory ``<name>/`` holding Parquet files at any depth,
hive partitions allowed (``inpatient_cases/county_id=C01/part-0.parquet``). Part files are read
in sorted path order; a partition value (``county_id=C01``) becomes a text column when the
schema has that column and the file does not, and is dropped otherwise.

Columns keep their Arrow types (:mod:`settlement.cells` takes a column of the right type as it
is, and only turns the others into text). Row numbers: in one file, row ``n`` is the ``n``-th
data row (there is no header row). Across part files the frame's index runs on (the first row
of the second part is ``rows of part 1 + 1``) so that it stays unique; :meth:`Parts.locate` maps
it back to (part file, row in that part) for every problem (:func:`localise`).

``where = (column, values)`` keeps only the rows whose column holds one of ``values``: part
files whose partition value is not among them are not opened; the others are streamed batch
by batch and filtered, so memory holds the kept rows only. Row numbers stay the user's.

Example: ``inpatient_cases/county_id=C02/part-0.parquet`` (3 rows) after ``…/county_id=C01/
part-0.parquet`` (5 rows): its second row is index 7, reported as that file, row 2.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from settlement.arrow_text import as_text
from settlement.cells import RawTable
from settlement.headers import resolve_header
from settlement.problems import Problem
from settlement.schema import TableSchema

BATCH_ROWS = 1 << 20
#: rows per batch of a table streamed into the spill (settlement.spill): memory holds one batch
STREAM_ROWS = 1 << 18


@dataclass(frozen=True)
class Parts:
    """The part files of a directory table: relative paths, first index of each, row counts."""

    files: tuple[str, ...]
    offsets: tuple[int, ...]  # index of the row before each part's first row (0, rows of part 1, …)

    def locate(self, row: int) -> tuple[str, int]:
        k = bisect.bisect_left(self.offsets, row) - 1
        return self.files[k], row - self.offsets[k]


def part_files(directory: Path) -> list[Path]:
    """Every ``*.parquet`` file under ``directory`` (any depth, hidden and ``_`` files skipped)."""
    return sorted(p for p in directory.rglob("*.parquet")
                  if not any(s.startswith((".", "_")) for s in p.relative_to(directory).parts))


def partition_values(relative: Path) -> dict[str, str]:
    """``county_id=C01/part-0.parquet`` → {"county_id": "C01"}."""
    return dict(s.split("=", 1) for s in relative.parts[:-1] if "=" in s)


def read_parquet(path: Path, root: Path, schema: TableSchema, problems: list[Problem],
                 where: tuple[str, list] | None = None) -> tuple[RawTable, Parts | None, list[Path]]:
    """A Parquet file or directory → (typed raw table, parts or None, files read)."""
    files = part_files(path) if path.is_dir() else [path]
    names, first = None, None
    columns: dict[str, list[pa.ChunkedArray]] = {}
    indexes, offsets, offset = [], [], 0
    read: list[Path] = []
    for file in files:
        rel = file.relative_to(path) if path.is_dir() else Path(file.name)
        partition = partition_values(rel)
        if where is not None and not may_hold(partition, where):
            continue  # another partition's rows: the file is not opened
        meta = pq.ParquetFile(file)
        file_names = resolve_header(meta.schema_arrow.names, schema, _relative(file, root),
                                    problems if names is None else [])
        if names is None:
            names, first = file_names, meta
        elif file_names != names:
            problems.append(Problem("table.parts_differ", "error", schema.table,
                                    f"该目录中的 Parquet 文件列不一致：{_relative(file, root)} 与第一个文件的列不同",
                                    "part files of the table have different columns", file=_relative(file, root)))
            continue
        extra = {k: v for k, v in partition.items() if k in schema.column_names and k not in names}
        table, rows = _read_part(meta, names, extra, where)
        for name, column in zip(table.column_names, table.columns):
            columns.setdefault(name, []).append(column)
        indexes.append(rows + offset)
        offsets.append(offset)
        read.append(file)
        offset += meta.metadata.num_rows
    if not columns and first is not None:  # every row filtered out: the columns, no rows
        empty, _ = _read_part(first, names, {}, None, rows=0)
        columns = {n: [c] for n, c in zip(empty.column_names, empty.columns)}
    index = np.concatenate(indexes) if indexes else np.zeros(0, dtype="int64")
    raw = RawTable({k: pa.chunked_array([c for col in v for c in col.chunks], type=v[0].type)
                    for k, v in _unified(columns).items()}, index)
    parts = Parts(tuple(_relative(f, path) for f in read), tuple(offsets)) if path.is_dir() else None
    return raw, parts, read


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def may_hold(partition: dict[str, str], where) -> bool:
    """Whether a part file of this partition may hold rows of the filter (None: every file)."""
    if where is None:
        return True
    column, values = where
    return column not in partition or partition[column] in {str(v) for v in values}


def _read_part(meta: pq.ParquetFile, names: list[str], extra: dict[str, str], where, rows=None):
    """One part: its columns under the schema's names (+ partition columns), the kept rows."""
    if rows == 0:
        table, rows = meta.schema_arrow.empty_table(), np.zeros(0, dtype="int64")
    elif where is None or where[0] in extra:
        table = meta.read()
        rows = np.arange(1, table.num_rows + 1, dtype="int64")
    else:
        kept, rows, start = [], [], 0
        for batch in meta.iter_batches(batch_size=BATCH_ROWS):
            mask = _in(batch.column(names.index(where[0])) if where[0] in names else None, where[1], batch.num_rows)
            kept.append(batch.filter(mask))
            rows.append(np.flatnonzero(np.asarray(mask)) + start + 1)
            start += batch.num_rows
        table = pa.Table.from_batches(kept, schema=meta.schema_arrow)
        rows = np.concatenate(rows) if rows else np.zeros(0, dtype="int64")
    table = table.rename_columns(names)
    for name, value in extra.items():
        table = table.append_column(name, pa.array([value] * table.num_rows, type=pa.string()))
    return table, rows


def _in(column, values, length: int) -> pa.Array:
    """Mask of the cells (as trimmed text) that are among ``values``; all False without the column."""
    if column is None:
        return pa.array(np.zeros(length, dtype=bool))
    text = column if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) \
        else column.cast(pa.string())
    found = pc.is_in(pc.utf8_trim_whitespace(text), value_set=pa.array([str(v) for v in values], type=text.type))
    return pc.fill_null(found, False)


def _group_may_hold(meta: pq.ParquetFile, group: int, names, where) -> bool:
    """False only when the row group's statistics prove that none of its ``where`` column's
    cells is among the values: a ``date32`` column whose [min, max] holds no value's day (the
    values as ISO text, e.g. a month run's days; H4 monthly). Anything else may hold one."""
    column, values = where
    if column not in names:
        return True
    index = names.index(column)
    if not pa.types.is_date32(meta.schema_arrow.field(index).type):
        return True
    stats = meta.metadata.row_group(group).column(index).statistics
    if stats is None or not stats.has_min_max:
        return True
    low, high = stats.min.isoformat(), stats.max.isoformat()
    return any(low <= str(v).strip() <= high for v in values)


def _unified(columns: dict[str, list[pa.ChunkedArray]]) -> dict[str, list[pa.ChunkedArray]]:
    """Parts that wrote one column with different types (int32 here, int64 there): as text."""
    out = {}
    for name, parts in columns.items():
        kinds = {p.type for p in parts}
        if len(kinds) > 1:
            parts = [as_text(p) for p in parts]
        out[name] = parts
    return out


def localise(problems: list[Problem], parts: dict[str, Parts]) -> list[Problem]:
    """Problems of directory tables at (part file, row in that part) instead of the running index."""
    if not parts:
        return problems
    out = []
    for p in problems:
        where = parts.get(p.table)
        if where is None or p.row is None or not p.file or not where.files:
            out.append(p)
            continue
        file, row = where.locate(p.row)
        out.append(replace(p, file=f"{p.file.rstrip('/')}/{file}", row=row))
    return out


class ParquetStream:
    """A Parquet table batch by batch (:data:`BATCH_ROWS` rows): iterate for RawTable batches,
    rows numbered as :func:`read_parquet` numbers them; then ``parts`` and ``files`` say what
    was read. Part files whose columns differ from the first are an error, as there."""

    def __init__(self, path: Path, root: Path, schema: TableSchema, problems: list[Problem],
                 where: tuple[str, list] | None = None):
        self.path, self.root, self.schema, self.problems, self.where = path, root, schema, problems, where
        self.files: list[Path] = []
        self.offsets: list[int] = []
        self.parts: Parts | None = None

    def __iter__(self):
        path, names, offset = self.path, None, 0
        for file in part_files(path) if path.is_dir() else [path]:
            rel = file.relative_to(path) if path.is_dir() else Path(file.name)
            partition = partition_values(rel)
            if self.where is not None and not may_hold(partition, self.where):
                continue
            meta = pq.ParquetFile(file)
            file_names = resolve_header(meta.schema_arrow.names, self.schema, _relative(file, self.root),
                                        self.problems if names is None else [])
            if names is None:
                names = file_names
            elif file_names != names:
                self.problems.append(Problem(
                    "table.parts_differ", "error", self.schema.table,
                    f"该目录中的 Parquet 文件列不一致：{_relative(file, self.root)} 与第一个文件的列不同",
                    "part files of the table have different columns", file=_relative(file, self.root)))
                continue
            extra = {k: v for k, v in partition.items() if k in self.schema.column_names and k not in names}
            self.files.append(file)
            self.offsets.append(offset)
            yield from self._batches(meta, names, extra, offset)
            offset += meta.metadata.num_rows
        if path.is_dir():
            self.parts = Parts(tuple(_relative(f, path) for f in self.files), tuple(self.offsets))

    def _batches(self, meta: pq.ParquetFile, names, extra, offset: int):
        start = 0
        keep_all = self.where is None or self.where[0] in extra
        for group in range(meta.metadata.num_row_groups):
            if not keep_all and not _group_may_hold(meta, group, names, self.where):
                start += meta.metadata.row_group(group).num_rows  # no row of it can be kept
                continue
            for batch in meta.iter_batches(batch_size=STREAM_ROWS, row_groups=[group]):
                yield from self._kept(batch, names, extra, offset, start, keep_all)
                start += batch.num_rows

    def _kept(self, batch, names, extra, offset: int, start: int, keep_all: bool):
        """One batch as a RawTable of its ``where`` rows, numbered as the user's file numbers them."""
        rows = np.arange(start + 1, start + 1 + batch.num_rows, dtype="int64") + offset
        if not keep_all:
            column = batch.column(names.index(self.where[0])) if self.where[0] in names else None
            mask = _in(column, self.where[1], batch.num_rows)
            batch, rows = batch.filter(mask), rows[np.asarray(mask)]
        table = pa.Table.from_batches([batch]).rename_columns(names)
        for name, value in extra.items():
            table = table.append_column(name, pa.array([value] * table.num_rows, type=pa.string()))
        yield RawTable(dict(zip(table.column_names, table.columns)), rows)
