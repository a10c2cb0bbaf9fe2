"""A run that meets a fault: killed, disk full, its own checks failing — on the tiny county.

What must hold each time: the run record does not stay 运行中, the user gets one Chinese
message and no traceback, nothing of the results is kept, and no folder looks complete
without a manifest (a run folder is ``<run_id>.partial`` until its manifest is written).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import settlement.pipeline as pipeline
import settlement.store.runs as runs_module
from fixtures.tiny_county import write_folder
from settlement.cli import main
from settlement.problems import Problem
from settlement.store import RunStore, write_manifest
from settlement.store.faults import DISK_FULL
from test_store import db_url  # noqa: F401  (fixture: a SQLite file, or a PostgreSQL schema)

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "sample-county.yaml"
DATA = ROOT / "sample_data"
PG_URL = os.environ.get("SETTLEMENT_TEST_PG_URL")


def run(data: Path, out: Path, db: str) -> tuple[pipeline.Outcome, str]:
    lines: list[str] = []
    outcome = pipeline.run_settlement(CONFIG, data, out, db, progress=False, echo=lines.append)
    return outcome, "\n".join(lines)


def only_run(db: str):
    with RunStore.open_existing(db) as store:
        (record,) = store.list_runs()
        counts = {name: len(store.load_results(record.run_id, name)) for name in ("dip_cases", "ledger")}
    return record, counts


# ------------------------------------------------------------------ the run folder
def test_the_folder_is_partial_until_its_manifest_is_written(tmp_path, monkeypatch):
    import settlement.report as report

    seen = []
    real = report.start_writing

    def watching(run_dir, tables, context, **kw):
        seen.append((Path(run_dir).name, sorted(p.name for p in Path(run_dir).parent.iterdir())))
        return real(run_dir, tables, context, **kw)

    monkeypatch.setattr(report, "start_writing", watching)
    outcome, _ = run(write_folder(tmp_path / "data"), tmp_path / "out", f"sqlite:///{tmp_path / 'r.db'}")
    assert outcome.ok
    assert seen == [(f"{outcome.run_id}.partial", [f"{outcome.run_id}.partial"])]  # final name absent
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [outcome.run_id]
    manifest = json.loads((tmp_path / "out" / outcome.run_id / "manifest.json").read_text("utf-8"))
    assert manifest["status"] == "succeeded"


def test_manifest_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    path = write_manifest(tmp_path, {"run_id": "R1", "status": "running"})
    before = path.read_bytes()

    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        write_manifest(tmp_path, {"run_id": "R1", "status": "succeeded"})
    assert path.read_bytes() == before  # the old manifest, whole
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temporary left behind


def test_a_killed_run_is_marked_interrupted_and_leaves_no_complete_folder(tmp_path):
    out, db_file = tmp_path / "out", tmp_path / "runs.db"
    command = [sys.executable, "-c", "from settlement.cli import main; main()", "run", "--config",
               str(CONFIG), "--data", str(DATA), "--out", str(out), "--db", f"sqlite:///{db_file}", "--quiet"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_id = _wait_for_running_run(db_file, child)
    child.send_signal(signal.SIGKILL)  # mid-run: while it loads and validates the sample county
    child.wait(30)
    listing = CliRunner().invoke(main, ["runs", "--db", f"sqlite:///{db_file}"])
    assert listing.exit_code == 0, listing.output
    (line,) = [row for row in listing.output.splitlines() if row.startswith(run_id)]
    assert "中断 interrupted" in line and "运行中" not in line
    with RunStore.open_existing(f"sqlite:///{db_file}") as store:
        record = store.get_run(run_id)
    assert record.status == "failed" and record.interrupted and "process is gone" in record.failure_reason
    leftovers = [p.name for p in out.iterdir()] if out.exists() else []
    assert run_id not in leftovers and set(leftovers) <= {f"{run_id}.partial"}


def _wait_for_running_run(db_file: Path, child: subprocess.Popen, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert child.poll() is None, "the run ended before it could be killed"
        if db_file.exists():
            try:
                with sqlite3.connect(db_file, timeout=1) as conn:
                    row = conn.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchone()
            except sqlite3.OperationalError:  # tables not created yet
                row = None
            if row:
                return row[0]
        time.sleep(0.02)
    raise AssertionError("no running run appeared")


# ------------------------------------------------------------------ a full disk
def test_a_full_disk_while_writing_reports_fails_with_one_message(tmp_path, monkeypatch, db_url):
    import settlement.report.results_csv as results_csv

    def full(directory, *_args, **_kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(directory) / "dip_cases.csv"))

    monkeypatch.setattr(results_csv, "write_results", full)
    outcome, output = run(write_folder(tmp_path / "data"), tmp_path / "out", db_url)
    assert not outcome.ok
    assert output.count(DISK_FULL) == 1 and "Traceback" not in output and "dip_cases.csv" in output
    record, counts = only_run(db_url)
    assert record.status == "failed" and DISK_FULL in record.failure_reason
    assert counts == {"dip_cases": 0, "ledger": 0}


def test_sqlite_really_full_while_saving_fails_with_the_same_message(tmp_path, monkeypatch):
    """SQLite's own SQLITE_FULL: the database may not grow by one page while the results go in."""
    real_finish = runs_module.RunStore._finish

    def finish_on_a_full_disk(self, conn, *args):
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")
        try:
            return real_finish(self, conn, *args)
        finally:
            conn.exec_driver_sql("PRAGMA max_page_count = 1073741823")

    monkeypatch.setattr(runs_module.RunStore, "_finish", finish_on_a_full_disk)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    outcome, output = run(write_folder(tmp_path / "data"), tmp_path / "out", db)
    assert not outcome.ok and output.count(DISK_FULL) == 1 and "Traceback" not in output
    record, counts = only_run(db)
    assert record.status == "failed" and DISK_FULL in record.failure_reason
    assert counts == {"dip_cases": 0, "ledger": 0}


def test_postgresql_disk_full_while_saving_fails_with_the_same_message(tmp_path, monkeypatch, db_url):
    psycopg = pytest.importorskip("psycopg")

    def disk_full(*_args):
        raise sa.exc.OperationalError("COPY dip_cases …", {}, psycopg.errors.DiskFull(
            'could not extend file "base/16384/24576": No space left on device'))

    monkeypatch.setattr(runs_module, "insert_frame", disk_full)
    outcome, output = run(write_folder(tmp_path / "data"), tmp_path / "out", db_url)
    assert not outcome.ok and output.count(DISK_FULL) == 1 and "Traceback" not in output
    record, counts = only_run(db_url)
    assert record.status == "failed" and DISK_FULL in record.failure_reason
    assert counts == {"dip_cases": 0, "ledger": 0}


# ------------------------------------------------------------------ the run's own checks
def test_a_run_whose_own_checks_hold_an_error_never_succeeds(tmp_path, monkeypatch):
    real_settle = pipeline.settle

    def settle_with_an_error(*args, **kw):
        result = real_settle(*args, **kw)
        result.problems.append(Problem("dip.not_finite", "error", "dip_units",
                                       "点值不是有限数 point value is not finite", column="point_value"))
        return result

    monkeypatch.setattr(pipeline, "settle", settle_with_an_error)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    result = CliRunner().invoke(main, ["run", "--config", str(CONFIG), "--data", str(write_folder(
        tmp_path / "data")), "--out", str(tmp_path / "out"), "--db", db, "--quiet"])
    assert result.exit_code == 1 and "点值不是有限数" in result.output and "Traceback" not in result.output
    record, counts = only_run(db)
    assert record.status == "failed" and "点值不是有限数" in record.failure_reason
    assert counts == {"dip_cases": 0, "ledger": 0}
    (folder,) = (tmp_path / "out").iterdir()
    assert (folder / "validation" / "问题清单.xlsx").exists() and not (folder / "units").exists()
    assert json.loads((folder / "manifest.json").read_text("utf-8"))["status"] == "failed"


def test_own_checks_find_a_failed_identity_and_an_unbalanced_ledger():
    checks = pd.DataFrame({"check": ["fund.total", "unit.net"], "scope": ["C1", "H1"],
                           "label_zh": ["基金应付 = Σ 单位", "净额 = Σ 各行"], "left": [100, 5],
                           "right": [100, 6], "ok": [True, False]})
    ledger = pd.DataFrame({"community_id": ["C1", "C1", "C2"], "line": ["package", "total", "total"],
                           "label_zh": ["打包额", "合计", "合计"], "amount": [1_000, 0, -1]})
    found = pipeline.own_check_problems(pipeline.Settlement(
        {"reconciliation_checks": checks, "ledger": ledger}, [], {}))
    assert [(p.rule, p.severity) for p in found] == [("run.reconciliation", "error"), ("run.ledger", "error")]
    assert "H1" in found[0].message_zh and "C2" in found[1].message_zh and "-0.01" in found[1].message_zh
