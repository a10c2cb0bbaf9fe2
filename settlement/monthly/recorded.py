"""The monthly pre-settlements recorded in the run store (已记录的月度预结算), an I/O edge.

A month counts when its run is a succeeded ``kind = month`` run of the county-year and
scenario that no later run of the same month superseded (a re-run of a month supersedes the
earlier one: :func:`settlement.store.runs._supersede_same_month`). Both the month run
(paid_to_date) and the year-end run (prepaid, reconciliation) read them through here.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from settlement.store.tables import RESULT_TABLES, runs

COLUMNS = ["unit_id", "month", "paid", "run_id"]


def recorded_presettlements(engine: sa.Engine, county: str, year: int, scenario: str = "base",
                            before: str | None = None) -> pd.DataFrame:
    """unit_id, month, paid (fen), run_id of the months in force; ``before``: months < YYYY-MM."""
    pre = RESULT_TABLES["dip_presettlement"]
    query = (sa.select(pre.c.unit_id, pre.c.month, pre.c.paid, pre.c.run_id)
             .join(runs, runs.c.run_id == pre.c.run_id)
             .where(runs.c.kind == "month", runs.c.county == county, runs.c.year == int(year),
                    runs.c.scenario == scenario, runs.c.status == "succeeded",
                    runs.c.superseded_by.is_(None))
             .order_by(pre.c.month, pre.c.unit_id))
    if before is not None:
        query = query.where(runs.c.month < before)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["unit_id"] = frame["unit_id"].astype(str)
    frame["paid"] = frame["paid"].fillna(0).astype("int64")
    return frame


def paid_by_unit(recorded: pd.DataFrame) -> pd.Series:
    """Σ paid by unit_id (fen)."""
    return recorded.groupby("unit_id")["paid"].sum().astype("int64")
