"""What a month run reads and checks: the small tables whole, the big tables' year to date.

A month run (``settlement run --month YYYY-MM``) uses the inpatient cases discharged and the
outpatient claims served from 1 January to the end of the month — the month's pre-settlement
takes the month's cases, the bulletin the year to date — so it reads and validates only those
rows of the two big tables:

* **Parquet** whose date column is a true date (``date32``, as the generator and the spill
  write it): the loader's ``where`` keeps only the rows dated 1 January … the month's last day
  while it streams the file (a date cell's text is then always ISO, so the filter is exact);
  a row without a date is not read (the year-end run checks every row);
* **CSV** (and anything else): read whole (a date written ``2025/3/1`` must be typed before it
  can be compared), then the rows dated after the month are left out of the validation and
  the month's work (rows without a readable date stay, so their problem is reported).

The checks are the validation's own (:func:`settlement.validation.validate_dataset`) without
Great Expectations' Data Docs (``use_gx=False``: the same problems from the same masks; the
import alone takes seconds, twelve times a year) — the year-end run keeps them.

Example: ``--month 2025-03`` on a Parquet folder of the year's 15 M claims sorted by date reads
the 3.75 M claims of January–March; on CSV it reads all and checks January–March.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from settlement.loader import LoadResult
from settlement.monthly.presettle import month_bounds

#: the big tables and the date that puts a row in a month
DATED = {"inpatient_cases": "discharge_date", "outpatient_claims": "service_date"}


def load_month(config_path: Path, data_dir: Path, month: str, spill=None):
    """(config, resolved, loaded, problems) of a month run: config errors become problems, the
    big tables hold the year to date of ``month`` (see the module docstring)."""
    from settlement.pipeline import load_and_validate

    return load_and_validate(config_path, data_dir, spill, where=year_to_date_where(Path(data_dir), month),
                             prepare=lambda loaded: to_date(loaded, month), use_gx=False)


def year_to_date_where(folder: Path, month: str) -> dict[str, tuple[str, list[str]]]:
    """The loader's ``where`` for the big tables given as Parquet with a ``date32`` date column:
    (date column, every ISO day from 1 January to the month's last day)."""
    first, last = month_bounds(month)
    days = [(dt.date(first.year, 1, 1) + dt.timedelta(days=i)).isoformat()
            for i in range((last - dt.date(first.year, 1, 1)).days + 1)]
    return {table: (column, days) for table, column in DATED.items()
            if _dated_parquet(folder / f"{table}.parquet", folder / table, column)}


def _dated_parquet(file: Path, directory: Path, column: str) -> bool:
    """True when the table is Parquet (a file, or a folder of part files) whose every part holds
    ``column`` as date32 (not text: a text date may not be ISO)."""
    if file.is_file():
        parts = [file]
    elif directory.is_dir():
        parts = sorted(p for p in directory.rglob("*.parquet") if p.is_file())
    else:
        return False
    try:
        schemas = [pq.read_schema(p) for p in parts]
    except (OSError, pa.ArrowInvalid):
        return False  # the loader names an unreadable file
    return bool(parts) and all(column in s.names and pa.types.is_date32(s.field(column).type)
                               for s in schemas)


def to_date(loaded: LoadResult, month: str) -> None:
    """Leave the rows dated after ``month`` out of the big tables held as frames (rows without
    a readable date stay: their problem is the month's too). Spilled tables were filtered while
    read where that is exact, and are otherwise checked whole."""
    _, last = month_bounds(month)
    end = pd.Timestamp(last) + pd.Timedelta(days=1)
    for table, column in DATED.items():
        frame = loaded.tables.get(table)
        if isinstance(frame, pd.DataFrame) and column in frame.columns and len(frame):
            dates = frame[column]
            loaded.tables[table] = frame.loc[((dates < end) | dates.isna()).to_numpy(bool)]
