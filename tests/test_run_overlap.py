"""The run's files are written while its rows go into the database (issue 13, the write step).

The workbooks and CSVs are written by forked workers while the run's own process inserts the
result rows; the transaction commits only once every file is written. What must hold:

* nobody sees a result row, or the status 成功, before the body of :meth:`RunStore.saving`
  (the files) has ended; a body that fails rolls every row back;
* at the commit every file of the published folder is already there;
* a failed insert stops the writers, stores nothing, fails the run, and no folder looks
  complete; a failed write does the same (``test_run_faults``: a full disk while writing).
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
import sqlalchemy as sa

import settlement.pipeline as pipeline
import settlement.store.runs as runs_module
from fixtures.tiny_county import write_folder
from settlement.store import RunStore
from test_store import db_url, meta, result_row_counts, result_tables, store  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "sample-county.yaml"


def _seen_from_outside(url: str, run_id: str) -> tuple[str, int]:
    """(status, dip_cases rows) as another connection sees them."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            status = conn.execute(sa.text("SELECT status FROM runs WHERE run_id = :r"),
                                  {"r": run_id}).scalar_one()
            rows = conn.execute(sa.text("SELECT count(*) FROM dip_cases WHERE run_id = :r"),
                                {"r": run_id}).scalar_one()
    finally:
        engine.dispose()
    return status, rows


# ------------------------------------------------------------------ the store
def test_rows_and_success_are_seen_only_after_the_body(store):
    run_id = store.begin_run(meta())
    with store.saving(run_id, result_tables()) as counts:
        inside = _seen_from_outside(store.url, run_id)
    assert counts["dip_cases"] == 3 and inside == ("running", 0)
    assert _seen_from_outside(store.url, run_id) == ("succeeded", 3)
    assert store.get_run(run_id).result_rows["dip_cases"] == 3


def test_a_body_that_fails_rolls_every_row_back_and_leaves_the_verdict_to_the_caller(store):
    run_id = store.begin_run(meta())
    with pytest.raises(OSError, match="No space"):
        with store.saving(run_id, result_tables()):
            raise OSError(28, "No space left on device")
    assert set(result_row_counts(store, run_id).values()) == {0}
    assert store.get_run(run_id).status == "running"  # the caller says why: its own failure
    store.fail_run(run_id, "写出失败 writing failed")
    assert store.get_run(run_id).status == "failed"


def test_a_timer_the_body_updates_is_recorded_with_the_inserts(store):
    run_id = store.begin_run(meta())
    timings = {"读取与校验 load and validate": 1.5}
    with store.saving(run_id, result_tables(), timings):
        timings["写出 write"] = 2.25
    recorded = store.get_run(run_id).timings
    assert recorded["读取与校验 load and validate"] == 1.5 and recorded["写出 write"] == 2.25
    assert recorded["persist"] >= 0


# ------------------------------------------------------------------ a whole run
def _run(tmp_path: Path, db: str):
    lines: list[str] = []
    outcome = pipeline.run_settlement(CONFIG, write_folder(tmp_path / "data"), tmp_path / "out", db,
                                      progress=False, echo=lines.append)
    return outcome, "\n".join(lines)


def test_every_file_is_written_before_the_commit(tmp_path, monkeypatch):
    real_succeed = runs_module.RunStore._succeed
    at_commit: list[set[str]] = []

    def succeed(self, conn, run_id, *args):
        folder = tmp_path / "out" / f"{run_id}.partial"
        at_commit.append({str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()})
        return real_succeed(self, conn, run_id, *args)

    monkeypatch.setattr(runs_module.RunStore, "_succeed", succeed)
    outcome, output = _run(tmp_path, f"sqlite:///{tmp_path / 'r.db'}")
    assert outcome.ok, output
    published = {str(p.relative_to(outcome.run_dir)) for p in outcome.run_dir.rglob("*") if p.is_file()}
    (files,) = at_commit
    assert files == published - {"manifest.json"}
    assert {"汇总.xlsx", "医保对账.xlsx", "results/dip_cases.csv", "results/结果明细.xlsx"} <= files
    assert any(name.startswith("units/") for name in files)


def test_a_failed_insert_stops_the_writers_and_stores_nothing(tmp_path, monkeypatch):
    real_insert = runs_module.insert_frame

    def insert_then_fail(conn, run_id, name, frame):
        if name == "unit_distribution":  # some tables are in already
            raise RuntimeError("数据库写入失败 insert failed (injected)")
        return real_insert(conn, run_id, name, frame)

    monkeypatch.setattr(runs_module, "insert_frame", insert_then_fail)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    outcome, output = _run(tmp_path, db)
    assert not outcome.ok and "insert failed (injected)" in output
    assert multiprocessing.active_children() == []  # no writer left behind
    with RunStore.open_existing(db) as store:
        (record,) = store.list_runs()
        assert record.status == "failed" and "insert failed (injected)" in record.failure_reason
        assert set(result_row_counts(store, record.run_id).values()) == {0}
    (folder,) = (tmp_path / "out").iterdir()
    assert json.loads((folder / "manifest.json").read_text("utf-8"))["status"] == "failed"
