"""The region's big tables read once and split by county (大表一次读入、按县拆分).

Without this every county task would read the region's whole case and claim tables and keep
its own rows: a province of 50 counties would read its 150 M claims 100 times (two passes).
Instead the region step reads each big table ONCE with the loader's spill
(:mod:`settlement.spill`: streamed batch by batch through the same cell checks, the user's row
number kept in ``_row``), then streams that spill into one Parquet file per county
(``<work>/.split/<table>/<county_id>.parquet``, the spill's format, rows in the file's order):
a case or claim belongs to the county of its insured's community. Each county then reads its
own part only (:meth:`SplitTables.add_to`), as a :class:`~settlement.spill.SpilledTable`
whose ``_row`` still names the user's file and row — so every problem a county finds names the
row of the user's CSV or Parquet part file, exactly as without the split.

The same path serves CSV and Parquet input. A table the spill does not take (a CSV whose bytes
or cells need the loader's text read, an Excel sheet) is not split: the counties read it as
before, each its own rows (``load_folder(where=...)``), and the text read names each bad cell.

Example: ``outpatient_claims.csv`` (3 counties) → ``.split/outpatient_claims/C01.parquet``,
``C02.parquet``, ``C03.parquet``; a bad amount of C02 at line 4 711 is still reported as
``outpatient_claims.csv`` row 4711.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from settlement.problems import Problem

SPLIT_DIR = ".split"
#: rows of one county buffered before they are written (bounds memory: Σ over the counties)
FLUSH_ROWS = 1 << 16


@dataclass
class SplitTables:
    """The big tables split by county: ``files[table][county_id]`` = (Parquet file, rows)."""

    files: dict[str, dict[str, tuple[Path, int]]] = field(default_factory=dict)
    sources: dict = field(default_factory=dict)  # table → loader Source of the user's file
    problems: list[Problem] = field(default_factory=list)  # the loader's, for the split tables
    file_hashes: dict[str, str] = field(default_factory=dict)
    flagged: dict = field(default_factory=dict)
    #: table → (rows of no county: count, the first LISTED as (user row, community_id))
    unassigned: dict[str, tuple[int, list[tuple[int, str | None]]]] = field(default_factory=dict)

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(self.files)

    def add_to(self, loaded, county_id: str) -> None:
        """Put the county's part of every split table into ``loaded`` (a county's load)."""
        from settlement.schema import contract
        from settlement.spill import SpilledTable

        schemas = contract()
        for name, by_county in self.files.items():
            path, rows = by_county[county_id]
            loaded.tables[name] = SpilledTable(path, schemas[name], rows)
            loaded.sources[name] = dataclasses.replace(self.sources[name], rows=rows)
            loaded.flagged.update({k: v for k, v in self.flagged.items() if k[0] == name})
        loaded.file_hashes.update(self.file_hashes)


def split_big_tables(data_dir: Path, communities: pd.DataFrame, county_ids: list[str],
                     work: Path) -> SplitTables:
    """Read the spilled tables once and split them into one Parquet file per county."""
    from settlement.loader import load_folder
    from settlement.spill import SPILLED_TABLES, SpillPolicy, SpilledTable

    folder = work / SPLIT_DIR
    whole = load_folder(data_dir, tables=list(SPILLED_TABLES),
                        spill=SpillPolicy(folder / "whole", min_bytes=0, min_rows=0, in_place=False))
    home = _home(communities)
    out = SplitTables()
    for name, table in whole.tables.items():
        if not isinstance(table, SpilledTable):
            continue  # not spilled (text read, Excel, missing): the counties read it as before
        out.files[name], out.unassigned[name] = split_file(table.path, home, county_ids, folder / name)
        out.sources[name] = whole.sources[name]
        out.problems += [p for p in whole.problems if p.table == name]
        out.file_hashes.update(_hashes_of(whole, name))
        out.flagged.update({k: v for k, v in whole.flagged.items() if k[0] == name})
        if table.owned:  # never the user's own file
            table.path.unlink()
    pa.default_memory_pool().release_unused()
    return out


def located(source, row: int) -> tuple[str, int]:
    """(file, row) as the user sees them: a part file of a Parquet folder and its own row."""
    if source.parts is None:
        return source.file, row
    part, at = source.parts.locate(row)
    return f"{source.file.rstrip('/')}/{part}", at


def _hashes_of(whole, name: str) -> dict[str, str]:
    source = whole.sources[name]
    prefix = source.file.rstrip("/")
    return {f: h for f, h in whole.file_hashes.items() if f == prefix or f.startswith(prefix + "/")}


def _home(communities: pd.DataFrame) -> dict[str, str]:
    """community_id → county_id (communities without a county belong to none)."""
    known = communities.loc[communities["county_id"].notna() & communities["community_id"].notna()]
    return dict(zip(known["community_id"].astype(str), known["county_id"].astype(str)))


def split_file(path: Path, home: dict[str, str], county_ids: list[str], folder: Path):
    """Stream ``path`` into ``folder/<county_id>.parquet`` by the county of each row's community;
    rows keep their order. Rows of no county are left out and counted (the first ``LISTED``
    kept for :mod:`.unassigned` to report). Returns ({county: (file, rows)}, (count, rows))."""
    from settlement.region.unassigned import LISTED

    folder.mkdir(parents=True, exist_ok=True)
    source = pq.ParquetFile(path)
    codes = {c: i for i, c in enumerate(county_ids)}
    keys = sorted(k for k, v in home.items() if v in codes)
    key_set = pa.array(keys, type=pa.string())
    key_code = pa.array([codes[home[k]] for k in keys], type=pa.int32())
    writers = [_Buffered(folder / f"{c}.parquet", source.schema_arrow) for c in county_ids]
    count, first = 0, []
    try:
        for batch in source.iter_batches(batch_size=1 << 20):
            code = _county_codes(batch.column("community_id"), key_set, key_code)
            order = np.argsort(code, kind="stable")  # by county, each county's rows in file order
            counties, starts, sizes = np.unique(code[order], return_index=True, return_counts=True)
            for i, start, size in zip(counties, starts, sizes):
                if i >= 0:  # a copy of the county's rows only (a slice would keep the batch alive)
                    writers[int(i)].add(batch.take(pa.array(order[start:start + size])))
            outside = np.flatnonzero(code < 0)
            count += len(outside)
            taken = pa.array(outside[:max(LISTED - len(first), 0)])
            first += zip(batch.column("_row").take(taken).to_pylist(),
                         batch.column("community_id").take(taken).to_pylist())
    finally:
        for writer in writers:
            writer.close()
    return {c: (w.path, w.rows) for c, w in zip(county_ids, writers)}, (count, first)


def _county_codes(community: pa.Array, key_set: pa.Array, key_code: pa.Array) -> np.ndarray:
    """Each row's county code (−1: its community is of no county), community ids trimmed as the
    loader's ``where`` trims them."""
    text = community.cast(pa.string()) if not pa.types.is_string(community.type) else community
    at = pc.index_in(pc.utf8_trim_whitespace(text), value_set=key_set)
    return pc.fill_null(pc.take(key_code, at), -1).to_numpy(zero_copy_only=False)


class _Buffered:
    """One county's Parquet file, written in row groups of ≥ FLUSH_ROWS rows."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path, self.rows, self._held, self._count = path, 0, [], 0
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")

    def add(self, batch: pa.RecordBatch) -> None:
        self._held.append(batch)
        self._count += batch.num_rows
        if self._count >= FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._held:
            self._writer.write_table(pa.Table.from_batches(self._held))
            self.rows += self._count
            self._held, self._count = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
