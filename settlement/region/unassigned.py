"""Rows no county reads (不属于任何县的记录): the big tables' rows outside every county.

Each county loads the big tables with its own communities' rows only, so a case, claim or
enrolment whose ``community_id`` is empty or names no community of the region would be read
by no county and silently left out. :func:`unassigned_problems` finds them, one error per row
(the first :data:`LISTED` of each table, then one line with the count), reading only the
``community_id`` column: a Parquet file or folder part by part (out of core), a CSV or Excel
table through the loader (a CSV is read whole by every county anyway).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from settlement.problems import Problem

LISTED = 20


def unassigned_problems(data_dir: Path, sources: dict, tables: tuple[str, ...],
                        communities: set[str]) -> list[Problem]:
    """An error for each row of ``tables`` whose community is not one of ``communities``."""
    out = []
    for name in tables:
        source = sources.get(name)
        if source is None:
            continue
        rows = (_parquet_rows(Path(data_dir), name, source.file, communities)
                if source.kind == "parquet" else _loaded_rows(Path(data_dir), name, communities))
        out += _problems(name, rows)
    return out


def _parquet_rows(data_dir: Path, table: str, file: str, known: set[str]):
    """(part file, row number, value) of the rows outside ``known``: one column at a time."""
    from settlement.headers import resolve_header
    from settlement.parquet_reader import part_files
    from settlement.schema import contract

    path = data_dir / file
    schema = contract()[table]
    found = []
    for part in (part_files(path) if path.is_dir() else [path]):
        meta = pq.ParquetFile(part)
        names = resolve_header(meta.schema_arrow.names, schema, part.name, [])
        if "community_id" not in names:
            continue
        column = meta.read(columns=[meta.schema_arrow.names[names.index("community_id")]]).column(0)
        values = column.cast("string")
        outside = pc.or_kleene(pc.is_null(values), pc.invert(pc.is_in(values, value_set=_set(known))))
        rows = np.flatnonzero(outside.to_numpy(zero_copy_only=False))
        label = part.relative_to(data_dir).as_posix()
        found += [(label, int(r) + 1, values[int(r)].as_py()) for r in rows]
    return found


def _set(known: set[str]):
    import pyarrow as pa

    return pa.array(sorted(known), type=pa.string())


def _loaded_rows(data_dir: Path, table: str, known: set[str]):
    from settlement.loader import load_folder

    loaded = load_folder(data_dir, tables=[table])
    frame, source = loaded.tables[table], loaded.sources.get(table)
    values = frame["community_id"]
    outside = (values.isna() | ~values.astype(str).isin(known)).to_numpy(bool)
    file = source.file if source is not None else ""
    return [(file, int(row), None if v is None or v != v else str(v))
            for row, v in zip(frame.index[outside], values[outside].astype(object))]


def split_problems(split) -> list[Problem]:
    """The rows of no county that :func:`settlement.region.inputs.split_file` counted."""
    from settlement.region.inputs import located

    out = []
    for name, (count, first) in split.unassigned.items():
        source = split.sources[name]
        out += _problems(name, [(*located(source, row), value) for row, value in first], count)
    return out


def _problems(table: str, rows: list, total: int | None = None) -> list[Problem]:
    total = len(rows) if total is None else total
    out = [Problem("region.community_unassigned", "error", table,
                   f"所属医共体 {value or '（空）'} 不是区域内任何县（区）的医共体，该记录不属于任何县，无法结算",
                   f"community {value} belongs to no county of the region", file=file, row=row,
                   column="community_id", value=value or "")
           for file, row, value in rows[:LISTED]]
    if total > LISTED:
        out.append(Problem("region.community_unassigned", "error", table,
                           f"另有 {total - LISTED} 行的所属医共体不属于区域内任何县（区）（共 {total} 行）",
                           f"{total - LISTED} more rows belong to no county", column="community_id"))
    return out
