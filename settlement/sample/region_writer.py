"""Streaming the region's tables to one data folder, one county at a time (分县写出).

Each call of :meth:`RegionWriter.write` adds one county's rows of a table and lets them go,
so memory holds one county, never the region:

* Parquet: the big tables (``inpatient_cases``, ``outpatient_claims``) as hive partitions,
  ``inpatient_cases/county_id=C01/part-0.parquet`` (the partition column is only in the
  path); every other table one file ``<name>.parquet`` with a row group per write;
* CSV: one file ``<name>.csv`` per table, the header once, the counties' rows appended.

Column types and encodings are those of :mod:`writer` (money as decimal128(18, 2) or yuan
text), so a region folder reads like the sample county's. Same tables in, same bytes out.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .common import Table
from .writer import to_arrow

PARTITIONED = ("inpatient_cases", "outpatient_claims")
COMPRESSION = "zstd"


class RegionWriter:
    """Appends tables to ``out_dir`` in ``fmt`` (``csv`` or ``parquet``); :meth:`close` ends."""

    def __init__(self, out_dir: Path, fmt: str):
        self.out_dir, self.fmt = Path(out_dir), fmt
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.rows: dict[str, int] = {}
        self._parquet: dict[str, pq.ParquetWriter] = {}
        for name in PARTITIONED:  # a previous region's partitions must not linger
            if (self.out_dir / name).is_dir():
                shutil.rmtree(self.out_dir / name)

    def write(self, table: Table, county_id: str | None = None) -> None:
        """Add the rows of ``table`` (one county's, where ``county_id`` is given)."""
        arrow = to_arrow(table, self.fmt)
        if self.fmt == "csv":
            self._csv(table.name, arrow)
        elif table.name in PARTITIONED:
            if county_id is None:
                raise ValueError(f"{table.name} is written per county: county_id is required")
            folder = self.out_dir / table.name / f"county_id={county_id}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(arrow, folder / "part-0.parquet", compression=COMPRESSION)
        else:
            self._single_parquet(table.name, arrow)
        self.rows[table.name] = self.rows.get(table.name, 0) + arrow.num_rows

    def close(self) -> dict[str, int]:
        """Finish every open file; the rows written per table."""
        for writer in self._parquet.values():
            writer.close()
        self._parquet.clear()
        return dict(self.rows)

    def _csv(self, name: str, arrow: pa.Table) -> None:
        path = self.out_dir / f"{name}.csv"
        first = name not in self.rows
        with open(path, "wb" if first else "ab") as fh:
            if first:
                fh.write((",".join(arrow.column_names) + "\n").encode("utf-8"))
            pacsv.write_csv(arrow, fh, pacsv.WriteOptions(include_header=False,
                                                          quoting_style="none"))

    def _single_parquet(self, name: str, arrow: pa.Table) -> None:
        writer = self._parquet.get(name)
        if writer is None:
            writer = pq.ParquetWriter(self.out_dir / f"{name}.parquet", arrow.schema,
                                      compression=COMPRESSION)
            self._parquet[name] = writer
        writer.write_table(arrow)
