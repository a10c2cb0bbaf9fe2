"""A big Parquet table used where it lies (原样使用): no copy into the spill when nothing would change.

The spill (:mod:`settlement.spill`) rewrites a big case or claim table into the contract's
Parquet format, batch by batch through the cell rules. A file that already *is* in that
format — the contract's column names and Arrow types (money ``decimal(18, 2)``, dates
``date32``, text ``string`` …), as ``settlement sample --format parquet`` and most database
exports write it — and whose every cell the cell rules would take unchanged and without a
word, would be copied byte for byte, at the cost of reading and writing 15 M rows. Such a
file is used in place: a :class:`~settlement.spill.SpilledTable` over the user's own file,
without a ``_row`` column (the user's row is the position + 1, as the loader numbers a
Parquet file).

:func:`clean` decides it in one pass over the file's batches (Arrow's threads decode them;
memory holds one batch) that looks for any cell the cell rules would touch, mostly by a look
at the bytes of the text columns. The predicates are *conservative*: a cell they call clean is
one :func:`settlement.cells.typed` takes as it is and reports nothing for; anything else
(even a cell the rules would accept unchanged, such as a text with a tab inside) sends the
whole file down the ordinary stream, which reports it. Per type:

    text (id, enum, codes, period …)  no empty text, no NUL or control character, no white
                                      space (Unicode's, full-width included) at either end;
                                      ids without "+" (Excel's 4.40102E+17); enums one of the
                                      codes as written; periods matching their pattern
    money   |amount| < 10^15 yuan     float   finite     date   1678-01-01 … 2261-12-31
    every column: no empty cell where the rules fill a default or say "不能为空"

Only a single file whose columns are exactly the contract's. Under the loader's ``where`` on a
date column (a month run's days: :mod:`settlement.monthly.month_inputs`) the table is the
file's rows of those days (:func:`kept`, exactly the stream's filter), and only the row groups
that hold one are looked at.
``tests/test_in_place.py`` loads hostile typed files both ways and compares every problem,
value and flagged cell.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from settlement.arrow_text import CONTROL_BYTE, _may_need_trim, cell_bytes
from settlement.headers import resolve_header
from settlement.schema import STRING_TYPES, Column, TableSchema

#: bytes no clean text holds: NUL and the control characters the cell rules report (not TAB/LF/CR)
_BAD_BYTE = CONTROL_BYTE.copy()
_BAD_BYTE[0x00] = True
_PLUS = np.zeros(256, dtype=bool)
_PLUS[[*np.flatnonzero(_BAD_BYTE), ord("+")]] = True
_MIN_DAY, _MAX_DAY = dt.date(1678, 1, 1), dt.date(2261, 12, 31)
_MONEY_LIMIT_YUAN = 10**15
BATCH_ROWS = 1 << 20


def usable(path: Path, schema: TableSchema) -> bool:
    """Whether the file's columns are exactly the contract's, with the contract's Parquet types."""
    from settlement.spill import arrow_schema

    if not path.is_file():
        return False
    found = pq.ParquetFile(path).schema_arrow
    if resolve_header(found.names, schema, path.name, []) != list(found.names):
        return False
    wanted = {f.name: f.type for f in arrow_schema(schema) if f.name != "_row"}
    return len(found.names) == len(wanted) and all(wanted.get(f.name) == f.type for f in found)


@dataclass
class ColumnFacts:
    """What one pass over a file used in place proves about a column, for rules that can then
    be decided without reading it again (:func:`settlement.validation.sql_checks.proved_clean`).

    ``cells`` the rows looked at, ``nulls`` the empty ones (both exact); ``low``/``high`` the least and greatest value (money in yuan, as Parquet
    stores it; None when every cell is empty or the column's text); ``longest`` the most bytes
    of a text cell (never fewer than its characters); ``values`` every distinct text of a
    column read as a dictionary (a dictionary may hold a value no row uses: a superset)."""

    cells: int = 0
    nulls: int = 0
    low: object = None
    high: object = None
    longest: int | None = None
    values: frozenset | None = None

    def add(self, other: "ColumnFacts") -> "ColumnFacts":
        pick = lambda a, b, f: b if a is None else a if b is None else f(a, b)  # noqa: E731
        values = None if self.values is None or other.values is None else self.values | other.values
        return ColumnFacts(self.cells + other.cells, self.nulls + other.nulls, pick(self.low, other.low, min), pick(self.high, other.high, max),
                           pick(self.longest, other.longest, max), values)


def clean(path: Path, schema: TableSchema, groups: list[int] | None = None) -> bool:
    """Whether no cell of the file needs the cell rules (:func:`inspect`)."""
    return inspect(path, schema, groups) is not None


def inspect(path: Path, schema: TableSchema, groups: list[int] | None = None) -> dict[str, ColumnFacts] | None:
    """The facts of every column when no cell of the file needs the cell rules; None at the
    first cell that does (batch by batch; stops there).

    Amounts, dates, integers and booleans are judged by the row groups' statistics where the
    file has them (null count, min, max: exact, written with the data); text and floats are
    read — text of few distinct values as dictionaries, so that each value is looked at once.
    ``groups``: only these row groups (those that hold a row of the loader's ``where``; the
    facts are then those of the groups' rows, a superset of the table's)."""
    from settlement.spill import distinct_columns

    key = distinct_columns(schema)
    text = [c.name for c in schema.columns if c.type in STRING_TYPES]
    reader = pq.ParquetFile(path, read_dictionary=[n for n in text if n not in key])
    groups = list(range(reader.metadata.num_row_groups)) if groups is None else groups
    by_stats = {c.name for c in schema.columns if c.type in _BY_STATISTICS and _stats_hold(reader, c, groups)}
    facts = {c.name: _stats_facts(reader, c, groups) for c in schema.columns if c.name in by_stats}
    if any(_stats_touched(facts[c.name], c) for c in schema.columns if c.name in by_stats):
        return None
    read = [c for c in schema.columns if c.name not in by_stats]
    if not read or not groups:
        return facts | {c.name: ColumnFacts() for c in read}  # no row: nothing to break a rule
    for batch in reader.iter_batches(batch_size=BATCH_ROWS, row_groups=groups, columns=[c.name for c in read],
                                     use_threads=True):
        for col in read:
            arr = batch.column(batch.schema.get_field_index(col.name))
            if _touched(arr, col):
                return None
            found = _facts(arr, col)
            facts[col.name] = facts[col.name].add(found) if col.name in facts else found
    return facts


_BY_STATISTICS = ("money", "date", "int", "bool")


# ---------------------------------------------------------------- the pass, ahead of the load
_AHEAD: list[tuple[Path, TableSchema]] = []  # what the forked process inherits


def _inspect_ahead(index: int):
    from settlement.loader import file_stamp

    path, schema = _AHEAD[index]
    before = file_stamp(path)
    return before, inspect(path, schema), file_stamp(path)


class Ahead:
    """:func:`inspect` of the big Parquet files, begun in a forked process before the run
    imports Great Expectations: the pass is mostly numpy over the text's bytes, which holds
    the interpreter lock, so in a thread it and the import (pure Python) would take turns; in
    a process they take a core each (scale 10: the claims' pass 2.9 s beside the 2 s import).

    :meth:`facts` gives the child's answer for a file whose size and modification time are
    those the loader sees (else :data:`MISSING`: the loader inspects the file itself). The
    child only reads the files; it is never started from a thread or a worker (the web
    console's job, a region's county) or without ``fork`` — there everything runs inline."""

    def __init__(self, files: list[tuple[Path, TableSchema]]):
        global _AHEAD
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.futures: dict[Path, object] = {}
        self.pool = None
        if not files or _AHEAD:
            return
        _AHEAD = list(files)
        self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
        self.futures = {path: self.pool.submit(_inspect_ahead, i) for i, (path, _) in enumerate(files)}

    def facts(self, path: Path, stamp):
        future = self.futures.pop(Path(path), None)
        if future is None:
            return MISSING
        try:
            before, facts, after = future.result()
        except Exception:  # the child failed (killed, out of memory): the loader reads it itself
            return MISSING
        finally:
            if not self.futures:
                self.close()
        return facts if before == after == stamp else MISSING

    def close(self) -> None:
        global _AHEAD
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool, _AHEAD = None, []
        self.futures = {}


MISSING = object()  # Ahead.facts: no answer for this file


def inspect_ahead(folder: Path, policy, where) -> Ahead | None:
    """Begin :func:`inspect` of the big case and claim files of ``folder`` that the loader
    will offer to be used in place (a single ``<table>.parquet`` in the contract's types and
    big enough to be spilled; not under a month's ``where``, whose row groups the loader
    picks), in one forked process. None when nothing qualifies or forking is not possible."""
    from settlement.report.parallel import _can_fork
    from settlement.schema import ContractError, contract
    from settlement.spill import SPILLED_TABLES

    if policy is None or not policy.in_place or not _can_fork() or (os.cpu_count() or 1) < 2:
        return None
    try:
        schemas, files = contract(), []
    except ContractError:  # no table definitions: the loader reports it, nothing to look at
        return None
    for table in SPILLED_TABLES:
        path = Path(folder) / f"{table}.parquet"
        if (where or {}).get(table) is None and usable(path, schemas[table]) \
                and policy.wants_parquet(table, [path]):
            files.append((path, schemas[table]))
    return Ahead(files) if files else None


def _stats_hold(reader: pq.ParquetFile, col: Column, groups: list[int]) -> bool:
    """Whether every row group has this column's null count (and min/max when it has values)."""
    index = reader.schema_arrow.get_field_index(col.name)
    for group in groups:
        chunk = reader.metadata.row_group(group).column(index)
        stats = chunk.statistics
        if stats is None or not stats.has_null_count:
            return False
        if stats.null_count < chunk.num_values and not stats.has_min_max:
            return False
    return True


def _stats_facts(reader: pq.ParquetFile, col: Column, groups: list[int]) -> ColumnFacts:
    """One column's nulls, least and greatest value from its row groups' statistics."""
    index = reader.schema_arrow.get_field_index(col.name)
    facts = ColumnFacts()
    for group in groups:
        chunk = reader.metadata.row_group(group).column(index)
        stats = chunk.statistics
        low = high = None
        if stats.has_min_max:
            low, high = stats.min, stats.max
        facts = facts.add(ColumnFacts(chunk.num_values, stats.null_count, low, high))
    return facts


def _stats_touched(facts: ColumnFacts, col: Column) -> bool:
    """:func:`_touched` of one column from its row groups' statistics."""
    if facts.nulls and (not col.nullable or col.default is not None):
        return True
    low, high = facts.low, facts.high
    if low is None or col.type in ("int", "bool"):
        return False
    if col.type == "money":
        return abs(low) >= _MONEY_LIMIT_YUAN or abs(high) >= _MONEY_LIMIT_YUAN
    return low < _MIN_DAY or high > _MAX_DAY


def _facts(arr: pa.Array, col: Column) -> ColumnFacts:
    """The facts of one batch of a column :func:`_touched` found clean."""
    facts = ColumnFacts(len(arr), arr.null_count)
    if arr.null_count == len(arr):
        return facts
    if col.type in STRING_TYPES:
        if pa.types.is_dictionary(arr.type):
            facts.values = frozenset(arr.dictionary.to_pylist())
            arr = arr.dictionary
        at, _ = cell_bytes(arr)
        facts.longest = int((at[1:] - at[:-1]).max()) if len(arr) else 0
    elif col.type in ("float", "int", "money", "date"):
        low, high = pc.min_max(arr).values()
        facts.low, facts.high = low.as_py(), high.as_py()
    return facts


def kept(path: Path, schema: TableSchema, where: tuple[str, list]) -> tuple[np.ndarray, list[int]] | None:
    """(positions of the rows the loader's ``where`` keeps, row groups holding one), or None when
    the filter is not on one of the table's date columns. The same test as the stream's."""
    from settlement.parquet_reader import _group_may_hold, _in

    column, values = where
    if column not in schema.column_names or schema.column(column).type != "date":
        return None
    reader = pq.ParquetFile(path)
    names = reader.schema_arrow.names
    positions, groups, start = [], [], 0
    for group in range(reader.metadata.num_row_groups):
        size = reader.metadata.row_group(group).num_rows
        if _group_may_hold(reader, group, names, where):
            cells = reader.read_row_group(group, columns=[column]).column(column)
            found = np.flatnonzero(np.asarray(_in(cells, values, size).to_numpy(zero_copy_only=False), dtype=bool))
            if len(found):
                positions.append(found + start)
                groups.append(group)
        start += size
    return (np.concatenate(positions) if positions else np.zeros(0, dtype="int64")), groups


def _touched(arr: pa.Array, col: Column) -> bool:
    """Whether a cell of this column is one the cell rules could change or report."""
    if arr.null_count and (not col.nullable or col.default is not None):
        return True
    if arr.null_count == len(arr):
        return False
    if col.type in STRING_TYPES:
        return _text_touched(arr, col)
    if col.type == "money":
        low, high = pc.min_max(arr).values()
        return abs(low.as_py()) >= _MONEY_LIMIT_YUAN or abs(high.as_py()) >= _MONEY_LIMIT_YUAN
    if col.type == "float":
        return not pc.all(pc.is_finite(arr)).as_py()
    if col.type == "date":
        low, high = pc.min_max(arr).values()
        return low.as_py() < _MIN_DAY or high.as_py() > _MAX_DAY
    return False


def _text_touched(arr: pa.Array, col: Column) -> bool:
    if pa.types.is_dictionary(arr.type):  # nulls were judged on the indices: now each value once
        arr = arr.dictionary
        if not len(arr):
            return False
    at, body = cell_bytes(arr)
    empty = at[1:] == at[:-1]
    if arr.null_count:
        empty &= np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if empty.any():
        return True  # "" becomes an empty cell
    odd = (body < 0x20) | (body == 0x7F)
    if col.type == "id":
        odd |= body == ord("+")
    if odd.any() and (_PLUS if col.type == "id" else _BAD_BYTE)[body[odd]].any():
        return True  # NUL, a control character, or an id in scientific notation (4.40102E+17)
    if _may_need_trim(pa.chunked_array([arr])) and not pc.all(pc.equal(pc.utf8_trim_whitespace(arr), arr)).as_py():
        return True  # white space the trim would remove
    if col.enum and not pc.all(pc.fill_null(pc.is_in(arr, value_set=pa.array(list(col.enum))), True)).as_py():
        return True
    if col.pattern and not pc.all(pc.fill_null(pc.match_substring_regex(arr, col.pattern), True)).as_py():
        return True
    return False
