"""A month's rows of the big tables in a few exact numbers (月度数据指纹): did a recorded month change?

A finance office re-exports the year to date every month, and corrections of earlier months are
normal (a claim re-adjudicated, a late case). A month run records, beside its month's figures
(:mod:`.month_figures`), the *fingerprint* of its month's rows of each big table:

* ``rows`` — how many rows are dated in the month;
* ``hash`` — Σ over the rows of DuckDB's 64-bit ``hash()`` of the row's every contract column
  (key, person, units, dates, group, type, flags, money), mod 2**64: independent of the rows'
  order, and a sum (not a XOR), so a row given twice does not cancel out;
* ``money`` — Σ of each money column in fen (as a check a person can read; the hash decides).

The next month run computes the same numbers for every recorded month of the year to date
whose files are not byte for byte those its run read (:mod:`.unchanged`; one DuckDB pass over
the Parquet's columns of the contract, before choosing the months to read; for CSV from the
frames in memory after the load) and reads again, like an unrecorded month, every recorded
month whose numbers differ.

What it misses: two different sets of rows whose hashes sum to the same 64-bit value with the
same row count and money sums (by chance about 1 in 2**64 per change). Columns outside the
contract are not part of it (the engine does not read them). The numbers depend on the types
the rows are held in (Parquet as written, or the loader's frames from CSV): a folder switched
from CSV to Parquet reads its recorded months again once (never the other way round: a
difference is only ever a re-read).

Example: February's run recorded outpatient_claims 2025-02 as (1 062 072 rows, hash h, …); in
April a claim of February had its fund_paid corrected → h changes → April's run reads
February and April, and says so in 问题清单 and the bulletin's 口径说明.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd

from settlement.monthly.presettle import month_bounds

#: the big tables: the date that puts a row in a month
DATED = {"inpatient_cases": "discharge_date", "outpatient_claims": "service_date"}
WIDTH = 8  # rows, hash, up to six money sums (inpatient_cases has six money columns)


def money_columns(table: str) -> list[str]:
    from settlement.schema import contract

    return [c.name for c in contract()[table].columns if c.type == "money"]


def contract_columns(table: str) -> list[str]:
    from settlement.schema import contract

    return [c.name for c in contract()[table].columns]


def of_parquet(folder: Path, tables: list[str], months: list[str] | dict[str, list[str]]
               ) -> dict[tuple[str, str], tuple]:
    """(month, table) → fingerprint of the tables' Parquet (a file or a folder of parts), one
    DuckDB pass per table over the contract's columns and the rows dated in ``months`` (or in
    ``months[table]``: each table its own months; none, no pass)."""
    out: dict[tuple[str, str], tuple] = {}
    for table in tables:
        wanted = months[table] if isinstance(months, dict) else months
        if not wanted:
            continue
        file = Path(folder) / f"{table}.parquet"
        files = [file] if file.is_file() else sorted(p for p in (Path(folder) / table).rglob("*.parquet"))
        source = "read_parquet([" + ", ".join(_text(str(f)) for f in files) + "], union_by_name = true)"
        out.update(_query(source, table, wanted, fen=False))
    return out


def of_frame(table: str, frame, months: list[str]) -> dict[tuple[str, str], tuple]:
    """The same from the loader's table: a frame (money already fen) or a spilled table."""
    path = getattr(frame, "path", None)
    if path is not None and not isinstance(frame, pd.DataFrame):
        return _query(f"read_parquet({_text(str(path))})", table, months, fen=True)
    return _query("frame", table, months, fen=True, frame=frame)


def _query(source: str, table: str, months: list[str], *, fen: bool, frame=None) -> dict:
    import duckdb

    if not months:
        return {}
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET enable_progress_bar = false")
        if frame is not None:
            con.register("frame", frame)
        types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {source})")
                     .fetchall())
        date = DATED[table]
        columns = [c for c in contract_columns(table) if c in types]
        money = money_columns(table)
        sums = [_fen_sum(c, types.get(c, ""), fen) for c in money]
        row_hash = "hash(" + ", ".join(f'"{c}"' for c in columns) + ")"
        first, _ = month_bounds(months[0])
        _, last = month_bounds(months[-1])
        # the month as an integer YYYYMM (no text made per row: 0.20 → 0.15 s a month of claims)
        sql = (f'SELECT year("{date}") * 100 + month("{date}") AS m, count(*) AS n, '
               f"sum({row_hash}::HUGEINT) % 18446744073709551616 AS h"
               + "".join(f", {s}" for s in sums)
               + f' FROM {source} WHERE "{date}" >= DATE \'{first}\' AND "{date}" < DATE '
               f"'{last + dt.timedelta(days=1)}' GROUP BY 1")
        rows = con.execute(sql).fetchall()
    finally:
        con.close()
    wanted = set(months)
    named = {(f"{r[0] // 100:04d}-{r[0] % 100:02d}", table): tuple(int(x) for x in r[1:]) for r in rows}
    return {k: v for k, v in named.items() if k[0] in wanted}


def _fen_sum(column: str, kind: str, fen: bool) -> str:
    """SQL: Σ of a money column in fen, exact. Yuan as DECIMAL of at most two places: the
    decimal sum (exact) × 100 — the same integer as Σ of each cell × 100, without a rounding
    per row; other yuan (DOUBLE, more places) rounded to the fen cell by cell, as before; a
    frame's int64 fen summed as they are."""
    if not _numeric(kind):
        return "0"
    places = re.fullmatch(r"DECIMAL\(\d+,\s*(\d+)\)", kind.strip().upper())
    if places and int(places.group(1)) <= 2:
        return f'coalesce((sum("{column}") * 100)::HUGEINT, 0)'
    scale = "" if fen and "DECIMAL" not in kind and "DOUBLE" not in kind else " * 100"
    return f'coalesce(sum(round("{column}"{scale})::HUGEINT), 0)'


def _numeric(kind: str) -> bool:
    return any(k in kind.upper() for k in ("INT", "DECIMAL", "DOUBLE", "FLOAT", "REAL", "NUMERIC"))


def _text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def empty(table: str) -> tuple:
    """The fingerprint of a month without a row of ``table``."""
    return (0, 0, *[0] * len(money_columns(table)))


def stored(values: tuple) -> list[int]:
    """The fingerprint as the run store's int8 values: the hash (0 … 2**64 − 1) as signed."""
    rows, h, *money = values
    return [rows, h - (1 << 64) if h >= (1 << 63) else h, *money]


def changed_months(current: dict[tuple[str, str], tuple], recorded: dict[tuple[str, str], tuple],
                   months: list[str], tables: list[str],
                   proven: set[tuple[str, str]] = frozenset()) -> dict[str, list[str]]:
    """month → the tables whose rows of the month differ from what its run recorded (a month
    recorded without a table's fingerprint is read again too, with no table named: it cannot
    be checked, nothing is said to have changed). ``proven``: (month, table) whose files are
    those the month's run read (:mod:`.unchanged`): not compared, unchanged."""
    out: dict[str, list[str]] = {}
    for month in months:
        for table in tables:
            if (month, table) in proven:
                continue
            now = current.get((month, table), empty(table))
            then = recorded.get((month, table))
            if then is None:
                out.setdefault(month, [])  # not recorded: read again, no change to name
            elif stored(now) != list(then):
                out.setdefault(month, []).append(table)
    return out


def changed_problem(month: str, tables: list[str], run_id: str):
    """The warning of 问题清单: the month was read again from the data."""
    from settlement.problems import Problem
    from settlement.schema import contract

    names = "、".join(contract()[t].label_zh if getattr(contract()[t], "label_zh", None) else t
                      for t in tables)
    return Problem("month.data_changed", "warning", tables[0],
                   f"{month} 的数据（{names}）在 {month} 月度运行（{run_id}）之后有变化："
                   f"已按现数据重新计算 {month}（不再使用该次运行记录的分月汇总数）",
                   f"the rows of {month} ({', '.join(tables)}) changed since its month run {run_id}: "
                   f"{month} recomputed from the data")


class Check:
    """The fingerprints of a month run: those of the Parquet tables computed before the load,
    those of the tables read whole (CSV, …) from the loader's frames (:func:`check_frames`),
    the months found changed (month → tables)."""

    def __init__(self, recorded, months: list[str], frame_tables: list[str], checking: bool = True,
                 folder: Path | None = None):
        self.recorded = recorded  # month_figures.Recorded: its runs and prints
        self.folder = folder  # the data folder
        self.months = months  # the months whose fingerprints are computed
        self.checking = checking  # False: the month's own only, to record (nothing recorded is used)
        self.frame_tables = frame_tables
        self.prints: dict[tuple[str, str], tuple] = {}
        self.changed: dict[str, list[str]] = {}
        self.ok = True
        self.unverified: list[str] = []  # recorded months that could not be checked: read again
        #: run_id → {file: SHA-256} read by the runs of the recorded months (``run_inputs``)
        self.inputs: dict[str, dict[str, str]] = {}
        self.proven: set[tuple[str, str]] = set()  # (month, table) whose files are unchanged

    def months_of(self, table: str, month: str) -> list[str]:
        """The months whose fingerprint of ``table`` is computed: ``month`` (its own, to record)
        and, when checking, the recorded months not proven unchanged (:mod:`.unchanged`)."""
        if not self.checking:
            return [month]
        return sorted({month} | {m for m in self.recorded.runs if (m, table) not in self.proven})


def check_frames(check: Check, tables: dict, read: list[str] | None,
                 hashes: dict[str, str] | None = None) -> None:
    """Fingerprint the frame tables (the month's own and the recorded months whose files are
    not those their run read: ``hashes``, the loader's file → SHA-256, :mod:`.unchanged`), and
    add the recorded months whose rows changed to ``read`` (the months the run reads, in place,
    in order)."""
    from settlement.monthly.unchanged import of_table, unchanged_months

    month = check.months[-1]
    try:
        for table in check.frame_tables:
            if table in tables and tables[table] is not None:
                if check.checking and hashes is not None:
                    check.proven |= {(m, table) for m in unchanged_months(
                        check.folder, table, DATED[table], of_table(hashes, table), check.inputs,
                        check.recorded.runs)}
                check.prints.update(of_frame(table, tables[table], check.months_of(table, month)))
                check.prints.setdefault((month, table), empty(table))  # no row in the month
    except Exception:  # noqa: BLE001 — rows DuckDB cannot take: every recorded month read again
        check.prints.clear()
        check.ok = False  # nothing recorded for the month: the next month reads it again
        check.unverified = sorted(check.recorded.runs) if check.checking else []
        if read is not None:
            read[:] = sorted(set(read) | set(check.unverified))
        return
    if not check.checking:
        return
    changed = changed_months(check.prints, check.recorded.prints, list(check.recorded.runs),
                             check.frame_tables, check.proven)
    check.changed.update(changed)
    if read is not None and changed:
        read[:] = sorted(set(read) | set(changed))
