"""A region's results saved county by county in ONE transaction (issue 13, the province target).

The store takes a result table in parts (:class:`settlement.store.parts.TableParts`): the parts
are read inside the save transaction one at a time, ``row_no`` runs on across them, and a
failure while they are read or inserted — a part that does not fit, a fault in the middle —
leaves no row of the run and the run failed. On SQLite and (with SETTLEMENT_TEST_PG_URL) on
PostgreSQL, through the fixtures of tests/test_store.py.
"""

from __future__ import annotations

import pandas as pd
import pytest
from test_store import db_url, meta, result_row_counts, result_tables, store  # noqa: F401 - fixtures

from settlement.store.parts import TableParts
from settlement.store.runs import StoreError


def _in_parts(frame: pd.DataFrame, sizes: list[int], read=None) -> TableParts:
    """``frame`` cut into parts of ``sizes`` rows (as counties would give it)."""
    bounds = [0, *pd.Series(sizes).cumsum().tolist()]
    parts = [frame.iloc[a:b].reset_index(drop=True) for a, b in zip(bounds, bounds[1:])]
    return TableParts(frame.iloc[:0], read or (lambda: iter(parts)))


def test_a_table_in_parts_is_stored_as_the_parts_concatenated(store):
    tables = result_tables()
    whole = tables["dip_cases"]
    tables["dip_cases"] = _in_parts(whole, [2, 0, 1])
    run_id = store.begin_run(meta())
    counts = store.save_results(run_id, tables)
    assert counts["dip_cases"] == 3
    stored = store.load_results(run_id, "dip_cases")
    assert stored["case_id"].tolist() == whole["case_id"].tolist()  # row_no runs on: C2, C1, C3
    assert stored["fund_due"].tolist() == [900_000, 100_000, -5]
    record = store.get_run(run_id)
    assert record.status == "succeeded" and record.result_rows["dip_cases"] == 3


def test_a_fault_while_the_parts_are_read_leaves_nothing_and_fails_the_run(store):
    tables = result_tables()
    first = tables["dip_cases"].iloc[:2]

    def county_by_county():
        yield first  # the first county's part is inserted …
        raise OSError("读取县（区）结果失败 (injected)")  # … then the second cannot be read

    tables["dip_cases"] = TableParts(first.iloc[:0], county_by_county)
    run_id = store.begin_run(meta())
    with pytest.raises(OSError, match="injected"):
        store.save_results(run_id, tables)
    assert set(result_row_counts(store, run_id).values()) == {0}
    record = store.get_run(run_id)
    assert record.status == "failed" and "injected" in record.failure_reason


def test_a_part_that_does_not_fit_rolls_the_whole_save_back(store):
    tables = result_tables()
    bad = tables["dip_cases"].iloc[2:].assign(gross_value=[1.5])  # money must be integer fen
    good = tables["dip_cases"].iloc[:2]
    tables["dip_cases"] = TableParts(good.iloc[:0], lambda: iter([good, bad]))
    run_id = store.begin_run(meta())
    with pytest.raises(StoreError, match="gross_value"):
        store.save_results(run_id, tables)
    assert set(result_row_counts(store, run_id).values()) == {0}
    assert store.get_run(run_id).status == "failed"
