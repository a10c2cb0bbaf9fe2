"""The run store (结算记录库): every run recorded, its results saved in one transaction.

A run's life in the database::

    run_id = begin_run(meta)                 period rules checked (store/periods.py), then
                                             runs: status = running, owner + lease (committed)
    heartbeat(run_id)                        renews the lease while the run works
    save_results(run_id, {table: frame})     ONE transaction: period re-checked, all result
                                             rows, status = succeeded (and, for a superseding
                                             run, the closure passes to it)
      └─ any failure                         rolled back: no result row; status = failed + reason
    close_period(run_id)                     closed = true; the county-year refuses new base runs
    reap_dead_runs()                         running runs whose owner died → failed, interrupted

A period is one county-year (the scenario is not part of it): see :mod:`.periods`. Every
write runs in :func:`~settlement.store.db.write_transaction` (SQLite ``BEGIN IMMEDIATE``) and
the period checks hold the period's PostgreSQL advisory lock, so concurrent ``close``,
``--supersede`` and finishing runs are serialised; the partial unique index
``uq_runs_closed_period`` is the last guard.

Results are stored by their contract columns (money int64 fen → BigInteger) plus the optional
``explanation``; working columns a stage adds stay in the CSVs and are listed on the run.

Run ids sort by time and are unique: ``20251231T120000Z-1a2b3c4d`` (UTC start, then 8 hex of
a hash of the config and input fingerprints, the exact start time and a random nonce). The
id is the database's business only: result tables written to CSV carry no run id and no time,
so the same inputs and config give identical result files whatever the run id.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from pathlib import Path
from typing import Callable, Literal, Mapping

import pandas as pd
import sqlalchemy as sa

from settlement.store import db, faults, periods
from settlement.store.db import (StoreError, check_frame, insert_frame, stored_columns, unstored_columns,
                                 write_transaction)
from settlement.store.location import ensure_sqlite_folder, sqlite_path
from settlement.store.parts import TableParts, shape_of
from settlement.store.owner import LEASE_SECONDS, Heartbeat, Owner, death, this_process
from settlement.store.periods import PeriodClosed, PeriodRuleBroken
from settlement.store.rundir import partial_dir
from settlement.store.reading import RunNotFound, RunReader
from settlement.store.records import RunMeta, RunRecord, new_run_id, to_record, utc_now
from settlement.store.tables import RESULT_SPECS, run_inputs, runs

__all__ = ["NoDatabase", "PeriodClosed", "PeriodRuleBroken", "RunMeta", "RunNotFound", "RunRecord",
           "RunStore", "new_run_id"]


class NoDatabase(StoreError):
    """The database file does not exist (read commands never create one)."""


class RunStore(RunReader):
    """The run record and the result tables in one database (any SQLAlchemy URL)."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], dt.datetime] = utc_now,
                 url: str | None = None):
        self.engine = engine
        self.clock = clock
        self.url = url or engine.url.render_as_string(hide_password=False)
        self.lease_seconds = LEASE_SECONDS

    @classmethod
    def open(cls, url: str) -> "RunStore":
        """A store on ``url``; a new SQLite file (and its folder) is created on first write."""
        ensure_sqlite_folder(url)
        return cls(db.make_engine(url), url=url)

    @classmethod
    def open_existing(cls, url: str) -> "RunStore":
        """For the read and close commands: the database must exist and be at the head revision."""
        path = sqlite_path(url)
        if path is not None and not path.exists():
            raise NoDatabase(f"找不到数据库，尚无结算记录 / database not found, no runs yet: {path}")
        store = cls(db.make_engine(url), url=url)
        try:
            store.require_current()
        except Exception:
            store.dispose()
            raise
        return store

    def dispose(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc) -> None:
        self.dispose()

    # ------------------------------------------------------------ schema
    def upgrade(self, revision: str = "head") -> tuple[str | None, str | None]:
        """Alembic upgrade under a lock (creates a new database); returns (before, after)."""
        return db.upgrade(self.engine, revision)

    def current_revision(self) -> str | None:
        return db.current_revision(self.engine)

    def require_current(self) -> None:
        """Raise a user-facing error unless the database is at the code's head revision."""
        current, head = self.current_revision(), db.head_revision()
        if current is None:
            raise StoreError("数据库尚未初始化，没有结算记录 / database not initialised (no runs yet); "
                             "run `settlement db upgrade`")
        if current != head:
            raise StoreError(f"数据库结构版本 {current} 落后于程序版本 {head}，请先执行 settlement db "
                             f"upgrade / database schema at {current}, code expects {head}: "
                             "run `settlement db upgrade`")

    # ------------------------------------------------------------ a run's life
    def check_period_open(self, county: str, year: int, supersede: bool = False,
                          scenario: str = "base") -> str | None:
        """None if a run may start and supersedes nothing; the closed run's id if it supersedes
        it; else :class:`PeriodClosed` / :class:`PeriodRuleBroken` (see :mod:`.periods`)."""
        with self.engine.connect() as conn:
            return periods.may_start(conn, county, year, scenario, supersede)

    def begin_run(self, meta: RunMeta, supersede: bool = False, owner: Owner | None = None) -> str:
        """Record a new run as ``running`` with its owner and lease (committed); its id."""
        owner = owner or this_process()
        now = self.clock()
        run_id = new_run_id(meta, now)
        with write_transaction(self.engine) as conn:
            periods.lock_period(conn, meta.county, meta.year)
            supersedes = (None if meta.kind == "month"  # period closing is for year runs only
                          else periods.may_start(conn, meta.county, meta.year, meta.scenario, supersede))
            conn.execute(runs.insert().values(
                run_id=run_id, county=meta.county, year=int(meta.year), scenario=meta.scenario,
                status="running", started_at=now, config_path=meta.config_path,
                config_sha256=meta.config_sha256, data_dir=meta.data_dir,
                code_version=meta.code_version, timings={}, input_rows=dict(meta.input_rows),
                result_rows={}, result_columns={}, supersedes=supersedes, closed=False,
                owner_host=owner.host, owner_pid=owner.pid, owner_started_at=owner.started_at,
                heartbeat_at=now, interrupted=False, kind=meta.kind, month=meta.month,
                report_dir=str(Path(meta.report_root) / run_id) if meta.report_root else None))
            self._write_inputs(conn, run_id, meta.input_hashes)
        return run_id

    def heartbeat(self, run_id: str, seconds: float | None = None) -> Heartbeat:
        """A context manager renewing the run's lease every ``seconds`` (own engine, own thread)."""
        engine = db.make_engine(self.url)

        def beat() -> None:
            with write_transaction(engine) as conn:
                conn.execute(runs.update().where(runs.c.run_id == run_id, runs.c.status == "running")
                             .values(heartbeat_at=self.clock()))

        beat_every = seconds if seconds is not None else min(20.0, self.lease_seconds / 4)
        return _DisposingHeartbeat(beat, beat_every, engine)

    def update_run(self, run_id: str, *, input_hashes: Mapping[str, str] | None = None,
                   input_rows: Mapping[str, int] | None = None,
                   timings: Mapping[str, float] | None = None) -> None:
        """Add what became known after :meth:`begin_run` (input fingerprints, rows, timings)."""
        with write_transaction(self.engine) as conn:
            record = self._require(conn, run_id)
            values = {}
            if input_rows is not None:
                values["input_rows"] = {**record.input_rows, **input_rows}
            if timings is not None:
                values["timings"] = {**record.timings, **timings}
            if values:
                conn.execute(runs.update().where(runs.c.run_id == run_id).values(**values))
            if input_hashes:
                conn.execute(run_inputs.delete().where(run_inputs.c.run_id == run_id,
                                                       run_inputs.c.file.in_(list(input_hashes))))
                self._write_inputs(conn, run_id, input_hashes)

    def save_results(self, run_id: str, tables: Mapping[str, pd.DataFrame | TableParts],
                     timings: Mapping[str, float] | None = None,
                     working_columns: Literal["skip", "error"] = "skip") -> dict[str, int]:
        """All result tables and status ``succeeded`` in ONE transaction; rows per table.

        Each frame needs its table's contract columns; ``explanation`` is stored when present.
        A table may be given in parts (:class:`.parts.TableParts`, read inside the transaction).
        Working columns a stage added are skipped and listed in the run's ``result_columns``
        (``working_columns="error"`` refuses them instead). The period rules are checked again
        inside the transaction (:func:`.periods.may_finish`). On any failure nothing of the
        results stays, the run is marked ``failed`` with the reason (in its own transaction)
        and the exception is raised again.
        """
        with self.saving(run_id, tables, timings, working_columns) as counts:
            pass
        return counts

    @contextlib.contextmanager
    def saving(self, run_id: str, tables: Mapping[str, pd.DataFrame | TableParts],
               timings: Mapping[str, float] | None = None,
               working_columns: Literal["skip", "error"] = "skip"):
        """:meth:`save_results` with the caller's own work between the inserts and the commit::

            with store.saving(run_id, tables, steps.timings) as counts:
                writing.finish()      # the run's files, written while the rows went in

        The rows are inserted (as :meth:`save_results` does, a failure there marks the run
        failed) and the body runs inside the still open transaction; only when it ends without
        an exception is the run marked ``succeeded`` and committed. An exception of the body
        rolls every row back and is raised as it is (the caller says why the run failed).
        ``timings`` is read after the body, so a timer the body updates is recorded whole;
        ``persist`` is the time of the re-check and the inserts.
        """
        record = self.get_run(run_id)
        if record.status != "running":
            raise StoreError(f"结算 {run_id} 状态为 {record.status}，不能再保存结果 / run is "
                             f"{record.status}, not running")
        columns, problems = _fit(tables, working_columns)
        if problems:
            reason = "结果表与数据库结构不符 results do not fit the database: " + "; ".join(problems)
            self.fail_run(run_id, reason, timings)
            raise StoreError(reason)
        in_body = False
        try:
            with write_transaction(self.engine) as conn:
                started = time.perf_counter()
                row, counts = self._finish(conn, run_id, tables)
                persist = round(time.perf_counter() - started, 3)
                in_body = True
                yield counts
                in_body = False
                self._succeed(conn, run_id, row, counts, columns,
                              {**(timings or {}), "persist": persist})
        except BaseException as exc:
            if in_body:  # the caller's own failure: rolled back, reported by the caller
                raise
            self._saving_failed(run_id, exc, timings)
            raise

    def _saving_failed(self, run_id: str, exc: BaseException, timings) -> None:
        """Mark the run failed with why its results could not be saved (then re-raised)."""
        if isinstance(exc, PeriodRuleBroken):
            self.fail_run(run_id, str(exc), timings)
        elif isinstance(exc, sa.exc.IntegrityError):
            guard = periods.unique_violation(exc)
            self.fail_run(run_id, guard or f"保存结果失败 saving results failed: {_reason(exc)}", timings)
            if guard:
                raise PeriodRuleBroken(guard) from None
        else:  # Ctrl-C too: the run must not stay "running"
            self.fail_run(run_id, f"保存结果失败 saving results failed: {_reason(exc)}", timings)

    def _finish(self, conn: sa.Connection, run_id: str,
                tables: Mapping[str, pd.DataFrame]) -> tuple[dict, dict[str, int]]:
        """Inside the final transaction: (the run's row, rows per table) — re-checked, inserted."""
        row = self._locked_row(conn, run_id)
        if row["status"] != "running":
            raise StoreError(f"结算 {run_id} 已被标记为 {row['status']}（{row['failure_reason']}），"
                             f"结果不予保存 / run is {row['status']}, results not saved")
        if row["kind"] == "month":
            _supersede_same_month(conn, row, run_id)
        else:
            periods.may_finish(conn, row)
        counts = {name: _insert(conn, run_id, name, tables[name])
                  for name in RESULT_SPECS if name in tables}
        return row, counts

    def _succeed(self, conn: sa.Connection, run_id: str, row: dict, counts: dict[str, int],
                 columns: dict, timings: Mapping[str, float]) -> None:
        """Still inside it: status succeeded (and, superseding, the closure taken over)."""
        now = self.clock()
        values = dict(status="succeeded", finished_at=now, result_rows=counts, result_columns=columns,
                      timings={**(row["timings"] or {}), **timings})
        if row["supersedes"]:
            taken = conn.execute(runs.update().where(runs.c.run_id == row["supersedes"],
                                                     runs.c.superseded_by.is_(None))
                                 .values(superseded_by=run_id)).rowcount
            if taken != 1:
                raise PeriodRuleBroken(f"{row['supersedes']} 已被另一结算替代 / already superseded "
                                       "by another run; results not saved")
            values.update(closed=True, closed_at=now)  # the closure passes to the new run
        conn.execute(runs.update().where(runs.c.run_id == run_id).values(**values))

    def fail_run(self, run_id: str, reason: str, timings: Mapping[str, float] | None = None,
                 interrupted: bool = False) -> None:
        """Mark a running run failed with its reason (own transaction; results never kept).

        Calling it again on a failed run changes nothing: the first reason is the one kept.
        """
        with write_transaction(self.engine) as conn:
            record = self._require(conn, run_id)
            if record.status == "failed":
                return
            if record.status == "succeeded":
                raise StoreError(f"结算 {run_id} 已成功保存，不能再标记为失败 / run already succeeded")
            conn.execute(runs.update().where(runs.c.run_id == run_id, runs.c.status == "running").values(
                status="failed", failure_reason=reason[:8000], finished_at=self.clock(),
                interrupted=interrupted, timings={**record.timings, **(timings or {})}))

    def close_period(self, run_id: str) -> RunRecord:
        """Close the run's county-year: later base runs refuse unless they supersede it."""
        try:
            with write_transaction(self.engine) as conn:
                row = self._locked_row(conn, run_id)
                if not (row["closed"] and row["superseded_by"] is None):
                    periods.may_close(conn, row)
                    conn.execute(runs.update().where(runs.c.run_id == run_id)
                                 .values(closed=True, closed_at=self.clock()))
                return self._require(conn, run_id)
        except sa.exc.IntegrityError as exc:
            guard = periods.unique_violation(exc)
            if guard:
                raise PeriodRuleBroken(guard) from None
            raise

    def reap_dead_runs(self) -> list[RunRecord]:
        """Mark every ``running`` run whose owner is dead as failed + interrupted (中断).

        Called by every command (run, runs, show, close) before it reads; returns the runs
        marked now. See :mod:`.owner` for when an owner counts as dead.
        """
        with self.engine.connect() as conn:
            running = [to_record(r, {}) for r in conn.execute(
                sa.select(runs).where(runs.c.status == "running")).mappings()]
        now, reaped = self.clock(), []
        for record in running:
            why = death(record.owner, record.heartbeat_at or record.started_at, now, self.lease_seconds)
            if why is None:
                continue
            reason = f"中断 interrupted：{why}"
            if record.report_dir:
                reason += f"；未完成的报表目录 unfinished folder: {partial_dir(Path(record.report_dir))}"
            with write_transaction(self.engine) as conn:
                marked = conn.execute(runs.update().where(
                    runs.c.run_id == record.run_id, runs.c.status == "running").values(
                    status="failed", interrupted=True, failure_reason=reason, finished_at=now)).rowcount
            if marked:
                reaped.append(self.get_run(record.run_id))
        return reaped

    # ------------------------------------------------------------ helpers
    def _locked_row(self, conn: sa.Connection, run_id: str) -> dict:
        """The run's row, read again after taking its period's lock (fresh under READ COMMITTED)."""
        first = conn.execute(sa.select(runs.c.county, runs.c.year).where(runs.c.run_id == run_id)).first()
        if first is None:
            raise RunNotFound(run_id)
        periods.lock_period(conn, first.county, first.year)
        return dict(conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).mappings().one())

    @staticmethod
    def _write_inputs(conn: sa.Connection, run_id: str, hashes: Mapping[str, str]) -> None:
        if hashes:
            conn.execute(run_inputs.insert(), [{"run_id": run_id, "file": f, "sha256": h}
                                               for f, h in sorted(hashes.items())])


def _supersede_same_month(conn: sa.Connection, row: dict, run_id: str) -> None:
    """A month run re-run: the earlier succeeded runs of the same county, year, scenario and
    month are superseded by this one (only the latest counts towards paid_to_date)."""
    conn.execute(runs.update().where(
        runs.c.kind == "month", runs.c.county == row["county"], runs.c.year == row["year"],
        runs.c.scenario == row["scenario"], runs.c.month == row["month"],
        runs.c.status == "succeeded", runs.c.superseded_by.is_(None), runs.c.run_id != run_id,
    ).values(superseded_by=run_id))


class _DisposingHeartbeat(Heartbeat):
    """The heartbeat thread of :meth:`RunStore.heartbeat`; disposes of its engine at the end."""

    def __init__(self, beat, seconds: float, engine: sa.Engine):
        super().__init__(beat, seconds)
        self._engine = engine

    def __exit__(self, *exc) -> None:
        super().__exit__(*exc)
        self._engine.dispose()


def _insert(conn: sa.Connection, run_id: str, name: str, table: pd.DataFrame | TableParts) -> int:
    """A frame, or every part in order with ``row_no`` running on; the rows inserted."""
    if not isinstance(table, TableParts):
        return insert_frame(conn, run_id, name, table)
    count = 0
    for part in table.read():
        count += insert_frame(conn, run_id, name, part, start=count)
    return count


def _fit(tables: Mapping[str, pd.DataFrame | TableParts], working_columns: str) -> tuple[dict, list[str]]:
    """(stored/not-stored columns per table, problems that stop the frames being stored)."""
    tables = {name: shape_of(table) for name, table in tables.items()}
    problems = [p for name, frame in tables.items() for p in check_frame(name, frame)]
    if problems:
        return {}, problems
    columns = {name: {"stored": stored_columns(name, tables[name]),
                      "not_stored": unstored_columns(name, tables[name])}
               for name in RESULT_SPECS if name in tables}
    if working_columns == "error":
        problems = [f"结果表 {name} 有数据库中没有的列 columns without a database column: "
                    f"{', '.join(c['not_stored'])}" for name, c in columns.items() if c["not_stored"]]
    return columns, problems


def _reason(exc: BaseException) -> str:
    """The database's own message, without SQLAlchemy's echo of the SQL and its parameters."""
    if isinstance(exc, KeyboardInterrupt):
        return "被中断 interrupted (KeyboardInterrupt)"
    known = faults.known_fault(exc)  # a full disk: the same words on every engine
    if known:
        return known
    inner = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    return f"{type(inner).__name__}: {str(inner).strip()[:2000]}"
