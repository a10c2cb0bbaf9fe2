"""Reading the run record (读取结算记录): runs, one run, its results, headline totals.

:class:`RunReader` is the read half of :class:`~settlement.store.runs.RunStore` (which adds
the writes); the console and the CLI read through it.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from settlement.store.db import StoreError, read_frame
from settlement.store.records import RunRecord, to_record
from settlement.store.tables import RESULT_SPECS, RESULT_TABLES, run_inputs, runs


class RunNotFound(StoreError):
    def __init__(self, run_id: str):
        super().__init__(f"找不到结算记录 no such run: {run_id}")


class RunReader:
    """Read access to the run record of ``self.engine``."""

    engine: sa.Engine

    def get_run(self, run_id: str) -> RunRecord:
        with self.engine.connect() as conn:
            return self._require(conn, run_id)

    def list_runs(self, county: str | None = None, year: int | None = None) -> list[RunRecord]:
        query = sa.select(runs).order_by(runs.c.started_at, runs.c.run_id)
        if county is not None:
            query = query.where(runs.c.county == county)
        if year is not None:
            query = query.where(runs.c.year == year)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            hashes: dict[str, dict[str, str]] = {}
            for r in conn.execute(sa.select(run_inputs).order_by(run_inputs.c.run_id, run_inputs.c.file)):
                hashes.setdefault(r.run_id, {})[r.file] = r.sha256
        return [to_record(row, hashes.get(row["run_id"], {})) for row in rows]

    def load_results(self, run_id: str, table: str) -> pd.DataFrame:
        """A result table of a run, as it was saved (contract columns, row order, fen int64)."""
        if table not in RESULT_SPECS:
            raise StoreError(f"未知结果表 unknown result table `{table}`")
        with self.engine.connect() as conn:
            record = self._require(conn, run_id)
            stored = record.result_columns.get(table, {}).get("stored")
            return read_frame(conn, run_id, table, stored or [c for c, _ in RESULT_SPECS[table].required])

    def key_totals(self, run_id: str) -> dict[str, int]:
        """Headline sums in fen for ``settlement show`` (only of tables the run has rows in)."""
        sums = {"community_settlement": ["financing", "package", "expenditure", "balance",
                                         "surplus_retained", "surplus_returned", "overrun_fund_share",
                                         "overrun_community_share"],
                "dip_units": ["fund_due", "prepaid", "balance"],
                "public_health_allocation": ["allocation"],
                "chronic_settlement": ["budget", "spend"],
                "ledger": ["amount"],
                "dip_presettlement": ["amount", "withheld", "paid", "paid_to_date"]}  # month runs
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            for name, cols in sums.items():
                t = RESULT_TABLES[name]
                row = conn.execute(sa.select(sa.func.count(), *[sa.func.sum(t.c[c]) for c in cols])
                                   .where(t.c.run_id == run_id)).one()
                if row[0]:
                    out.update({f"{name}.{c}": int(v or 0) for c, v in zip(cols, row[1:])})
            t = RESULT_TABLES["unit_statement"]
            net = conn.execute(sa.select(sa.func.count(), sa.func.sum(t.c.amount))
                               .where(t.c.run_id == run_id, t.c.line == "net")).one()
            if net[0]:
                out["unit_statement.net"] = int(net[1] or 0)
        return out

    def _require(self, conn: sa.Connection, run_id: str) -> RunRecord:
        row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).mappings().first()
        if row is None:
            raise RunNotFound(run_id)
        hashes = {r.file: r.sha256 for r in conn.execute(
            sa.select(run_inputs).where(run_inputs.c.run_id == run_id).order_by(run_inputs.c.file))}
        return to_record(row, hashes)
