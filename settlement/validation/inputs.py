"""What the validation rules may look at (待校验数据): the loaded tables minus what is broken.

The loader has already reported missing tables and columns, unreadable files and cells it
could not parse. A rule that looked at those again would only repeat the loader's message
(an empty ``total_cost`` is "不能为空", not also "必须 ≥ 0"). :class:`Inputs` tells each rule

* which tables were read from a file (``has("units", "category")``) — a rule that needs a
  table or column that is absent is skipped, the absence is already an error;
* which cells the loader flagged (``usable("inpatient_cases", "total_cost")``: a boolean
  Series, False on those rows) — masks are and-ed with it;
* the user's file name of each table, for the problem list.

Example: ``inpatient_cases.csv`` row 7 has ``total_cost = "abc"``. The loader reports
money.format on row 7 and stores 0 fen; ``usable(...)`` is False on row 7, so the range and
``self_pay ≤ total_cost`` rules do not report row 7 a second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from settlement.loader import LoadResult
from settlement.problems import Problem
from settlement.schema import TableSchema, contract


@dataclass
class Inputs:
    tables: dict[str, pd.DataFrame]
    files: dict[str, str]  # table → file name, only for tables read from a file
    missing_columns: set[tuple[str, str]] = field(default_factory=set)
    flagged: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    schemas: dict[str, TableSchema] = field(default_factory=contract)
    _unresolved: dict = field(default_factory=dict, repr=False)
    _memo: dict = field(default_factory=dict, repr=False)
    _sql: object = field(default=None, repr=False)

    @property
    def sql(self):
        """The tables in DuckDB (:class:`settlement.validation.sql_checks.Tables`), made on first use."""
        if self._sql is None:
            from settlement.validation.sql_checks import Tables

            self._sql = Tables(self.tables)
        return self._sql

    def close(self) -> None:
        if self._sql is not None:
            self._sql.close()
            self._sql = None

    @classmethod
    def of(cls, loaded: LoadResult) -> "Inputs":
        missing = {(p.table, p.column) for p in loaded.problems if p.rule == "column.missing"}
        unreadable = {p.table for p in loaded.problems if p.rule in ("row.malformed", "file.unreadable")}
        files = {t: s.file for t, s in loaded.sources.items() if t not in unreadable}
        return cls(loaded.tables, files, missing, dict(getattr(loaded, "flagged", {}) or {}))

    def has(self, table: str, *columns: str) -> bool:
        """The table was read and every one of ``columns`` was in its file."""
        return table in self.files and table in self.tables and \
            not any((table, c) in self.missing_columns for c in columns)

    def unresolved(self, table: str, column: str, targets) -> pd.Series:
        """True where ``column`` holds a value found in none of ``targets`` ((table, key) pairs).

        Cached: the leading-zeros check and the foreign-key rule ask the same question of the
        same 15 million claims."""
        key = (table, column, tuple(targets))
        if key not in self._unresolved and self.sql.large(table):  # DuckDB anti-join, failing rows only
            self._unresolved[key] = self.sql.mask(table, self.sql.unresolved(table, column, list(targets)))
        if key not in self._unresolved:
            values = self.tables[table][column]
            known = pd.concat([self.tables[t][k].dropna() for t, k in targets]).unique()
            self._unresolved[key] = values.notna() & ~values.isin(known)
        return self._unresolved[key]

    def cached(self, key: str, compute):
        """``compute()`` once per validation (a value several rules derive from the same columns)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def file(self, table: str) -> str:
        return self.files.get(table, "")

    def usable(self, table: str, *columns: str) -> pd.Series:
        """True on the rows whose ``columns`` the loader did not flag."""
        frame = self.tables[table]
        ok = np.ones(len(frame), dtype=bool)
        for column in columns:
            rows = self.flagged.get((table, column))
            if rows is not None and len(rows):
                ok &= ~frame.index.isin(rows)
        return pd.Series(ok, index=frame.index)


def table_problem(inputs: Inputs, rule: str, table: str, column: str, zh: str, en: str,
                  severity: str = "error", value: str = "") -> Problem:
    """A problem of a whole table or column (no row)."""
    return Problem(rule, severity, table, zh, en, file=inputs.file(table), column=column, value=value)
