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


def load_month(config_path: Path, data_dir: Path, month: str, spill=None,
               months: list[str] | None = None, check=None):
    """(config, resolved, loaded, problems) of a month run: config errors become problems, the
    big tables hold the year to date of ``month`` (see the module docstring), or only the rows
    of ``months`` when given (the months whose figures are not recorded,
    :func:`months_to_read`), a key repeated from a month not read then reported too
    (:func:`repeated_keys`). ``check`` (:class:`.fingerprint.Check`): the tables read whole
    are fingerprinted after the load, and a recorded month whose rows changed joins ``months``
    (in place) before the rows are cut to the months read."""
    from settlement.pipeline import load_and_validate

    folder, found = Path(data_dir), []
    where = year_to_date_where(folder, month, months)
    out = load_and_validate(config_path, data_dir, spill, where=where,
                            prepare=lambda loaded: found.extend(to_date(loaded, month, months, check)),
                            use_gx=False)
    problems = out[3]
    if months is not None and months != month_list(month) and out[1] is not None:
        skipped = [m for m in month_list(month) if m not in months]
        found += repeated_keys(folder, [t for t in DATED if t in where], months, skipped)
        # the months read may hold no row of a big table; the year to date is not empty: a
        # recorded month's run succeeded, so its year to date passed the check
        problems = [p for p in problems if not (p.rule == "table.empty" and p.table in DATED)]
    return out[0], out[1], out[2], [*problems, *found]


def months_to_read(month: str, recorded: dict[str, str], persons: bool) -> list[str]:
    """The months of the year to date whose big-table rows a month run reads: those without
    recorded figures (normally the month itself); every month when 县域内就诊率 counts persons
    (distinct persons do not add up across months)."""
    return month_list(month) if persons else [m for m in month_list(month) if m not in recorded]


def month_list(month: str) -> list[str]:
    from settlement.monthly.month_figures import month_list as months

    return months(month)


def _days(months: list[str]) -> list[str]:
    out = []
    for m in months:
        first, last = month_bounds(m)
        out += [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    return out


def year_to_date_where(folder: Path, month: str,
                       months: list[str] | None = None) -> dict[str, tuple[str, list[str]]]:
    """The loader's ``where`` for the big tables given as Parquet with a ``date32`` date column:
    (date column, every ISO day from 1 January to the month's last day, or of ``months``)."""
    days = _days(months if months is not None else month_list(month))
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


def to_date(loaded: LoadResult, month: str, months: list[str] | None = None, check=None) -> list:
    """Leave the rows dated after ``month`` (or outside ``months``) out of the big tables held
    as frames (rows without a readable date stay: their problem is the month's too); the
    problems of a key repeated from a left-out month of the year to date. Spilled tables were
    filtered while read where that is exact, and are otherwise checked whole. ``check``: the
    fingerprints of the tables read whole, taken first (:func:`.fingerprint.check_frames`)."""
    if check is not None:
        from settlement.monthly.fingerprint import check_frames

        check_frames(check, loaded.tables, months, loaded.file_hashes)
    _, last = month_bounds(month)
    end = pd.Timestamp(last) + pd.Timedelta(days=1)
    problems = []
    for table, column in DATED.items():
        frame = loaded.tables.get(table)
        if isinstance(frame, pd.DataFrame) and column in frame.columns and len(frame):
            dates = frame[column]
            keep = ((dates < end) | dates.isna()).to_numpy(bool, copy=True)
            if months is not None:
                read = _month_code(dates).isin([_code(m) for m in months]).to_numpy(bool) | \
                    dates.isna().to_numpy(bool)
                left = keep & ~read  # in the year to date, not read: a recorded month
                source = loaded.sources.get(table)
                problems += _repeated(table, frame.loc[read], frame.loc[left], column,
                                      source.file if source is not None else "")
                keep = keep & read
            loaded.tables[table] = frame.loc[keep]
    return problems


def _repeated(table: str, read: pd.DataFrame, left: pd.DataFrame, column: str, file: str = "") -> list:
    """One problem per row read whose key a left-out (recorded) month also holds, at the row's
    number in the user's file (the frame's index)."""
    key = KEYS[table]
    if not len(read) or not len(left):
        return []
    again = set(read.loc[read[key].isin(set(left[key].dropna())).to_numpy(bool), key].astype(str))
    if not again:
        return []
    hits = left.loc[left[key].astype(str).isin(again).to_numpy(bool)]
    first = hits.assign(m=_month_code(hits[column])).groupby(hits[key].astype(str))["m"].min()
    rows = read.loc[read[key].astype(str).isin(again).to_numpy(bool), key].astype(str)
    return [repeated_problem(table, k, f"{int(first[k]) // 100:04d}-{int(first[k]) % 100:02d}",
                             file, int(row))
            for row, k in sorted(rows.items(), key=lambda item: (item[1], item[0]))]


def _month_code(dates: pd.Series) -> pd.Series:
    """YYYYMM of each date (an integer: no text made for millions of rows)."""
    return dates.dt.year * 100 + dates.dt.month


def _code(month: str) -> int:
    return int(month[:4]) * 100 + int(month[5:7])


#: the key of each big table (CONTRACT.md)
KEYS = {"inpatient_cases": "case_id", "outpatient_claims": "claim_id"}


def repeated_problem(table: str, key_value: str, month: str, file: str = "", row: int | None = None):
    """``key.duplicate`` at the row read this month (``file``, ``row`` as the user sees them)."""
    from settlement.problems import Problem

    key = KEYS[table]
    return Problem("key.duplicate", "error", table,
                   f"「{key}」重复：{key_value} 已出现在 {month} 的数据中（该月数据取自已记录的月度运行，"
                   "本次未重新读取；每个值只能出现一次）",
                   f"{key} {key_value} repeats a row of {month} (a recorded month, not read again)",
                   file=file, row=row, column=key, value=key_value)


def repeated_keys(folder: Path, tables: list[str], read: list[str], skipped: list[str]) -> list:
    """Problems of the keys of the rows of the months ``read`` that the rows of the months
    ``skipped`` (recorded, not read again) also hold, from the tables' Parquet by DuckDB: the
    key and the date column only, exact (no hashes). Each problem names the row read this month
    (its file, relative to the folder, and row = position + 1, as for a file used in place)."""
    from settlement.scan.limits import connect

    if not skipped or not tables:
        return []
    out = []
    con = connect(":memory:")  # the engine's memory limit and spill folder
    try:
        for table in tables:
            column, key = DATED[table], KEYS[table]
            file = folder / f"{table}.parquet"
            files = [file] if file.is_file() else sorted(p for p in (folder / table).rglob("*.parquet"))
            listed = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
            source = f"read_parquet([{listed}], union_by_name = true)"
            numbered = f"read_parquet([{listed}], union_by_name = true, filename = true, file_row_number = true)"
            low, high = con.execute(f'SELECT min(r."{key}"), max(r."{key}") FROM {source} r '
                                    f'WHERE {_in_months("r", column, read)}').fetchall()[0]
            if low is None:
                continue  # no row read: nothing repeated
            # the bounds as literals let DuckDB skip the row groups whose key statistics lie
            # outside them (keys that grow with the date: most of the months before)
            bounds = f'"{key}" BETWEEN {_text(low)} AND {_text(high)}'
            sql = (f'WITH s AS (SELECT s."{key}" AS k, min(strftime(s."{column}", \'%Y-%m\')) AS m '
                   f'FROM {source} s WHERE s.{bounds} AND {_in_months("s", column, skipped)} GROUP BY 1), '
                   f'r AS (SELECT r."{key}" AS k, r.filename AS f, r.file_row_number AS n FROM {numbered} r '
                   f'WHERE r.{bounds} AND {_in_months("r", column, read)}) '
                   "SELECT r.k::VARCHAR, s.m, r.f, r.n FROM r JOIN s ON r.k = s.k ORDER BY 1, 3, 4")
            out += [repeated_problem(table, k, m, _relative(f, folder), int(n) + 1)
                    for k, m, f, n in con.execute(sql).fetchall()]
    finally:
        con.close()
    return out


def _relative(file: str, folder: Path) -> str:
    """A Parquet file DuckDB read, as the loader names it: relative to the data folder."""
    try:
        return Path(file).relative_to(folder).as_posix()
    except ValueError:
        return Path(file).name


def _text(value) -> str:
    """A SQL string literal of ``value`` (its quotes doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def _in_months(alias: str, column: str, months: list[str]) -> str:
    """SQL: the date column falls in one of ``months`` (half-open ranges, contiguous joined)."""
    ranges: list[list[dt.date]] = []
    for m in months:
        first, last = month_bounds(m)
        if ranges and ranges[-1][1] == first:
            ranges[-1][1] = last + dt.timedelta(days=1)
        else:
            ranges.append([first, last + dt.timedelta(days=1)])
    return "(" + " OR ".join(f"(\"{alias}\".\"{column}\" >= DATE '{a}' AND \"{alias}\".\"{column}\" < DATE '{b}')"
                             for a, b in ranges) + ")"
