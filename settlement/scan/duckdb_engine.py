"""The DuckDB engine: the scans as SQL over Arrow-registered frames or Parquet files.

One in-process DuckDB connection per engine, with the options ``memory_limit`` ("2GB"),
``temp_directory`` (where a query spills when it outgrows the limit) and ``threads``. A
frame is registered as an Arrow view of only the columns a scan needs (zero-copy for the
loader's Arrow-backed strings and numpy numbers) and unregistered after the scan; a Parquet
table is read by ``read_parquet`` with only those columns, so the big tables never have to be
in memory. Money is summed as DuckDB's exact HUGEINT and cast back to BIGINT (an overflow
is an error, never a float); counts are exact; distinct persons are ``COUNT(DISTINCT …)``.
The queries are in :mod:`duckdb_sql`; :mod:`shape` lays the long results out as the
pandas engine's frames.

The claims audit's reduction is one filtering query (:meth:`DuckDBEngine.claims_to_audit`,
:func:`settlement.scan.claims_audit.audit_sql`: the numpy terms' arithmetic in SQL); only the
rows that differ leave DuckDB, and the stage prices them with the one numpy implementation.
:meth:`DuckDBEngine.batches` (frames sliced, Parquet through ``to_arrow_reader``) streams a
table batch by batch for any reader that wants the rows themselves.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from settlement.scan import (EXPENDITURE_SCAN_COLUMNS, INDICATOR_SCAN_COLUMNS, Engine, Table,
                             Window, _by_period, register_engine)
from settlement.scan import duckdb_sql as q
from settlement.scan.limits import connect
from settlement.scan import shape
from settlement.scan.frames import (DEFAULTS, SQL_TYPES, arrow_to_frame, columns_of,
                                    money_columns, parquet_files, parquet_type, row_offsets,
                                    with_defaults)

try:  # the DIP scans (helper "dipscan")
    from settlement.scan.dip_sql import DuckDBDipScan
except ImportError:  # pragma: no cover - until the DIP scan exists
    class DuckDBDipScan:  # type: ignore[no-redef]
        pass

#: rows per frame of :meth:`DuckDBEngine.batches` (the claims audit's only reader). Measured on the
#: scale-10 claims (15.9 M rows): 1,048,576 rows raised the process by 618–671 MB, 262,144 rows by
#: 318–337 MB, for the same CPU (3.2–3.6 s)
BATCH_ROWS = 1 << 18
_names = itertools.count()


@register_engine("duckdb")
class DuckDBEngine(DuckDBDipScan, Engine):
    """Scans as DuckDB SQL; options memory_limit, temp_directory, threads, batch_rows."""

    def __init__(self, memory_limit: str | None = None, temp_directory: str | Path | None = None,
                 threads: int | None = None, batch_rows: int = BATCH_ROWS, **options):
        super().__init__(memory_limit=memory_limit, temp_directory=temp_directory,
                         threads=threads, batch_rows=batch_rows, **options)
        self.con = connect(":memory:", memory_limit=memory_limit, temp_directory=temp_directory, threads=threads)
        self.batch_rows = int(batch_rows)
        self._views: list[str] = []

    # ------------------------------------------------------------ helpers (also for mixins)
    @contextmanager
    def scope(self):
        """Views registered inside are unregistered on the way out."""
        mark = len(self._views)
        try:
            yield self
        finally:
            while len(self._views) > mark:
                self.con.unregister(self._views.pop())

    def small(self, frame: pd.DataFrame, name: str = "t") -> str:
        """Register a (small) frame as a view; its name."""
        view = f"{name}_{next(_names)}"
        self.con.register(view, pa.Table.from_pandas(frame, preserve_index=False))
        self._views.append(view)
        return view

    def relation(self, table: Table, columns: list[str], *, row: bool = False) -> str:
        """SQL for FROM: ``columns`` of a frame (an Arrow view) or of Parquet files; a missing
        optional column takes its default; ``row`` adds ``__row`` (the row's position)."""
        if isinstance(table, pd.DataFrame):
            arrow = pa.Table.from_pandas(with_defaults(table, columns), preserve_index=False)
            if row:
                arrow = arrow.append_column("__row", pa.array(np.arange(len(table), dtype=np.int64)))
            view = f"scan_{next(_names)}"
            self.con.register(view, arrow)
            self._views.append(view)
            return view
        present = columns_of(table)
        select = [(_fen(table, c) if c in money_columns() else f'"{c}"') if c in present
                  else f'{_default(c)} AS "{c}"' for c in columns]
        files = [str(f) for f in parquet_files(Path(table))]
        if row:
            offsets = " ".join(f"WHEN {_quote(f)} THEN {o}" for f, o in row_offsets(Path(table)))
            select.append(f"(CASE filename {offsets} END) + file_row_number AS __row")
        options = ", filename = true, file_row_number = true" if row else ""
        source = f"read_parquet([{', '.join(_quote(f) for f in files)}], union_by_name = true{options})"
        return f"(SELECT {', '.join(select)} FROM {source})"

    def frame(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run a query; the result as a frame with the loader's dtypes."""
        return arrow_to_frame(self.con.sql(sql, params=params or None).to_arrow_table())

    def _units(self, units: pd.DataFrame) -> str:
        return self.small(q.unit_attributes(units), "units")

    def _spend_inputs(self, dip_cases: Table, inpatient_cases: Table, outpatient_claims: Table):
        """(dip, ip, op) relations of the expenditure scan: only the columns it reads."""
        ip = self.relation(inpatient_cases, ["case_id", "community_id", "unit_id", "fund_paid", "discharge_date"])
        op = self.relation(outpatient_claims, ["community_id", "claim_type", "fund_paid", "service_date"])
        dip = self.relation(dip_cases, ["case_id", "unit_id", "community_id", "fund_due"])
        return dip, ip, op

    # ------------------------------------------------------------ the scans
    def expenditure_lines(self, dip_cases: Table, inpatient_cases: Table,
                          outpatient_claims: Table, units: pd.DataFrame, *,
                          window: Window | None = None) -> pd.DataFrame:
        with self.scope():
            sql, params = q.expenditure(*self._spend_inputs(dip_cases, inpatient_cases, outpatient_claims),
                                        self._units(units), window)
            long = self.frame(sql, params)
        return shape.expenditure_frame(long)

    def cohort_items(self, cohort: pd.DataFrame, inpatient_cases: Table,
                     outpatient_claims: Table | None, units: pd.DataFrame,
                     dip_cases: Table | None = None) -> pd.DataFrame:
        with self.scope():
            k, u = self.small(_periods_of(cohort), "cohort"), self._units(units)
            ip = self.relation(inpatient_cases, q.COHORT_CASE_COLUMNS, row=True)
            dip = (self.relation(dip_cases, ["case_id", "fund_due"]) if dip_cases is not None
                   else None)
            frames = [shape.cohort_frame("inpatient_cases", self.frame(q.cohort_cases(ip, k, u, dip)))]
            if outpatient_claims is not None:
                op = self.relation(outpatient_claims, q.COHORT_CLAIM_COLUMNS, row=True)
                frames.append(shape.cohort_frame("outpatient_claims",
                                                 self.frame(q.cohort_claims(op, k))))
        return pd.concat(frames, ignore_index=True)

    def cohort_totals(self, cohort: pd.DataFrame, inpatient_cases: Table,
                      outpatient_claims: Table | None, units: pd.DataFrame,
                      dip_cases: Table | None = None) -> pd.DataFrame:
        """One aggregate query: the items never leave DuckDB."""
        with self.scope():
            k, u = self.small(_periods_of(cohort), "cohort"), self._units(units)
            ip = self.relation(inpatient_cases, q.COHORT_CASE_COLUMNS)
            op = (self.relation(outpatient_claims, q.COHORT_CLAIM_COLUMNS)
                  if outpatient_claims is not None else None)
            dip = (self.relation(dip_cases, ["case_id", "fund_due"]) if dip_cases is not None
                   else None)
            return shape.cohort_totals_frame(self.frame(q.cohort_totals(ip, op, k, u, dip)))

    def indicator_counts(self, inpatient_cases: Table, outpatient_claims: Table,
                         units: pd.DataFrame, reference_costs: pd.DataFrame | None = None, *,
                         window: Window | None = None, persons: bool = True) -> pd.DataFrame:
        with self.scope():
            u = self._units(units)
            ref = self.small(q.reference_table(reference_costs), "reference")
            ip = self.relation(inpatient_cases, q.IP_COLUMNS)
            op = self.relation(outpatient_claims, q.OP_COLUMNS)
            ip_sums = self.frame(*q.inpatient_counts(ip, u, ref, window)).set_index("community_id")
            op_sums = self.frame(*q.outpatient_counts(op, u, window)).set_index("community_id")
            people = (self.frame(*q.persons(ip, op, u, window)).set_index("scope") if persons
                      else pd.DataFrame(columns=["persons_all", "persons_in"]))
        return shape.indicator_frame(ip_sums, op_sums, people)

    def indicator_counts_by_period(self, inpatient_cases: Table, outpatient_claims: Table,
                                   units: pd.DataFrame,
                                   reference_costs: pd.DataFrame | None = None, *,
                                   windows: Mapping[str, Window],
                                   persons: bool = True) -> pd.DataFrame:
        """One pass over each table for every window's sums and counts (the period is one more
        GROUP BY key); the distinct persons one query per window (none when ``persons=False``)."""
        with self.scope():
            u, pw = self._units(units), self._periods(windows)
            ref = self.small(q.reference_table(reference_costs), "reference")
            ip = self.relation(inpatient_cases, q.IP_COLUMNS)
            op = self.relation(outpatient_claims, q.OP_COLUMNS)
            ip_sums = self.frame(*q.inpatient_counts(ip, u, ref, None, pw))
            op_sums = self.frame(*q.outpatient_counts(op, u, None, pw))
            # distinct persons are not additive over periods: one bounded query per window
            # (a period key would hold every period's (community, person) pairs at once)
            people = {p: (self.frame(*q.persons(ip, op, u, w)).set_index("scope") if persons
                          else pd.DataFrame(columns=["persons_all", "persons_in"]))
                      for p, w in windows.items()}
        return _by_period({p: shape.indicator_frame(
            _of(ip_sums, p, "community_id"), _of(op_sums, p, "community_id"), people[p])
            for p in windows}, INDICATOR_SCAN_COLUMNS)

    def expenditure_lines_by_period(self, dip_cases: Table, inpatient_cases: Table,
                                    outpatient_claims: Table, units: pd.DataFrame, *,
                                    windows: Mapping[str, Window]) -> pd.DataFrame:
        with self.scope():
            sql, params = q.expenditure(*self._spend_inputs(dip_cases, inpatient_cases, outpatient_claims),
                                        self._units(units), None, self._periods(windows))
            long = self.frame(sql, params)
        return _by_period({p: shape.expenditure_frame(long.loc[long["period"] == p].drop(columns="period"))
                           for p in windows}, EXPENDITURE_SCAN_COLUMNS)

    def case_flows(self, inpatient_cases: Table, *, window: Window | None = None) -> pd.DataFrame:
        with self.scope():
            ip = self.relation(inpatient_cases, ["unit_id", "dip_group", "fund_paid", "discharge_date"])
            flows = self.frame(*q.case_flows(ip, window))
        return shape.case_flow_frame(flows)

    def _periods(self, windows: Mapping[str, Window]) -> str:
        """The windows as a small view of (period, day): every whole day in [start, end) — the
        days on or after each bound, as a date compares with the window's timestamps — so a
        row joins its periods by an equality on its date (a hash join that streams and spills;
        a range join would sort the 15 M claims in memory)."""
        days = {p: pd.date_range(pd.Timestamp(w.start).ceil("D"), pd.Timestamp(w.end).ceil("D"),
                                 inclusive="left") for p, w in windows.items()}
        return self.small(pd.DataFrame({
            "period": pd.array([p for p, d in days.items() for _ in range(len(d))], dtype="string"),
            "day": np.concatenate([d.to_numpy("datetime64[D]") for d in days.values()]
                                  or [np.array([], "datetime64[D]")]).astype("datetime64[ns]")}),
            "periods")

    def outpatient_at_home(self, outpatient_claims: Table, units: pd.DataFrame, *,
                           window: Window | None = None) -> pd.DataFrame:
        with self.scope():
            op = self.relation(outpatient_claims, ["community_id", "unit_id", "fund_paid",
                                                   "service_date"])
            sums = self.frame(*q.outpatient_home(op, self._units(units), window))
        return shape.outpatient_home_frame(sums)

    def batches(self, table: Table, columns: list[str]) -> Iterator[pd.DataFrame]:
        if isinstance(table, pd.DataFrame):
            frame = with_defaults(table, columns)
            for start in range(0, max(len(frame), 1), self.batch_rows):
                yield frame.iloc[start:start + self.batch_rows]
            return
        with self.scope():
            reader = self.con.sql(f"SELECT * FROM {self.relation(table, columns)}").to_arrow_reader(
                self.batch_rows)
            for batch in reader:
                yield arrow_to_frame(batch)

    def claims_to_audit(self, table: Table, kind: str, columns: list[str],
                        rules) -> tuple[pd.DataFrame, int]:
        """One filtering query: the claims' ids and text never leave DuckDB, only the rows
        that differ (:func:`settlement.scan.claims_audit.audit_sql`)."""
        from settlement.scan.claims_audit import audit_sql

        with self.scope():
            claims = self.relation(table, columns, row=True)
            rows, count = audit_sql(claims, self.small(rules.unit_frame(), "audit_units"), kind,
                                    rules, columns)
            audited = int(self.con.sql(count).fetchall()[0][0])
            return self.frame(rows), audited

    def close(self) -> None:
        self.con.close()


def _periods_of(cohort: pd.DataFrame) -> pd.DataFrame:
    """The cohort's enrolment periods with their position ``pos`` (ties keep cohort order)."""
    periods = cohort[["person_id", "community_id", "period_start", "period_end"]].reset_index(drop=True)
    return periods.assign(pos=np.arange(len(periods), dtype=np.int64),
                          period_start=periods["period_start"].astype("datetime64[ns]"),
                          period_end=periods["period_end"].astype("datetime64[ns]"))


def _of(long: pd.DataFrame, period: str, key: str) -> pd.DataFrame:
    """The rows of one period of a long by-period result, indexed by ``key``."""
    return long.loc[long["period"] == period].drop(columns="period").set_index(key)


def _fen(table: Path, column: str) -> str:
    """A Parquet money column (yuan, :mod:`frames`) as BIGINT fen, exactly."""
    kind = parquet_type(table, column)
    if pa.types.is_decimal(kind):
        if kind.scale <= 2:
            return f'CAST("{column}" * 100 AS BIGINT) AS "{column}"'
        exact = f'("{column}" * 100 = trunc("{column}" * 100))'  # sub-fen digits: refused
        return (f"CASE WHEN {exact} IS NOT FALSE THEN CAST(\"{column}\" * 100 AS BIGINT) ELSE "
                f"error('金额列 {column} 含分以下的位数 / sub-fen digits') END AS \"{column}\"")
    if pa.types.is_integer(kind):
        return f'(CAST("{column}" AS BIGINT) * 100) AS "{column}"'
    if pa.types.is_floating(kind):  # exact or refused: the double must be a whole number of fen
        fen = f'round("{column}" * 100)'  # NaN = NaN in DuckDB: isfinite refuses NaN and ±inf
        exact = f'(isfinite("{column}") AND {fen} / 100 = "{column}")'
        return (f"CASE WHEN {exact} IS NOT FALSE THEN CAST({fen} AS BIGINT) ELSE "
                f"error('金额列 {column} 为浮点数且不是整分金额或为 NaN/无穷大 / not a whole number of fen "
                f"(or NaN / inf)') END AS \"{column}\"")
    raise TypeError(f"Parquet 金额列类型 {kind} 无法换算为分 / money column of type {kind}")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _default(column: str) -> str:
    value = DEFAULTS[column]
    if value is None:
        return f"CAST(NULL AS {SQL_TYPES.get(column, 'VARCHAR')})"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "CAST('NaN' AS DOUBLE)"
    return f"CAST({value} AS BIGINT)"
