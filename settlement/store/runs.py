"""The run store (结算记录库): every run recorded, its results saved in one transaction.

A run's life in the database::

    check_period_open("示例县", 2025)        closed period?  → PeriodClosed unless supersede
    run_id = begin_run(meta)                 runs: status = running        (committed at once)
    save_results(run_id, {table: frame})     ONE transaction: all result rows + status = succeeded
      └─ any failure                         rolled back: no result row; status = failed + reason
    close_period(run_id)                     closed = true; the county-year now refuses new runs
    begin_run(meta, supersede=True)          new run records supersedes = the closed run;
                                             on success the old run gets superseded_by (kept)

A period is one (county, year, scenario); the normal scenario is ``base``, so "the 2025
settlement of 示例县" is closed once, and a what-if scenario is never blocked by it. The period
is closed while it has a closed run that no later run has superseded.

Results are stored by their contract columns (money int64 fen → BigInteger) plus the optional
``explanation``; working columns a stage adds stay in the CSVs and are listed on the run.

Run ids sort by time and are unique: ``20251231T120000Z-1a2b3c4d`` (UTC start, then 8 hex of
a hash of the config and input fingerprints, the exact start time and a random nonce). The
id is the database's business only: result tables written to CSV carry no run id and no time,
so the same inputs and config give identical result files whatever the run id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Literal, Mapping

import pandas as pd
import sqlalchemy as sa

from settlement.store import db
from settlement.store.db import (StoreError, check_frame, insert_frame, read_frame, stored_columns,
                                 unstored_columns)
from settlement.store.manifest import code_version
from settlement.store.tables import RESULT_SPECS, RESULT_TABLES, run_inputs, runs


class PeriodClosed(StoreError):
    """The county-year is closed; rerunning needs ``--supersede``."""

    def __init__(self, closed_run: "RunRecord"):
        self.closed_run = closed_run
        super().__init__(
            f"{closed_run.county} {closed_run.year} 年度（{closed_run.scenario}）已关账，关账结算为 "
            f"{closed_run.run_id}；如需更正请加 --supersede / period {closed_run.county} "
            f"{closed_run.year} ({closed_run.scenario}) is closed by run {closed_run.run_id}; "
            "use --supersede to record a run that supersedes it")


class NoDatabase(StoreError):
    """The database file does not exist (read commands never create one)."""


class RunNotFound(StoreError):
    def __init__(self, run_id: str):
        super().__init__(f"找不到结算记录 no such run: {run_id}")


@dataclass
class RunMeta:
    """What a run is, as known when it starts (the pipeline fills it)."""

    county: str
    year: int
    scenario: str = "base"
    config_sha256: str | None = None
    input_hashes: dict[str, str] = field(default_factory=dict)  # file (relative) → SHA-256
    input_rows: dict[str, int] = field(default_factory=dict)
    config_path: str | None = None
    data_dir: str | None = None
    code_version: str = field(default_factory=code_version)


@dataclass
class RunRecord:
    """One row of ``runs`` with its input fingerprints, as the store reads it back."""

    run_id: str
    county: str
    year: int
    scenario: str
    status: str
    failure_reason: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    config_path: str | None
    config_sha256: str | None
    data_dir: str | None
    code_version: str | None
    timings: dict
    input_rows: dict
    result_rows: dict
    result_columns: dict  # table → {"stored": [...], "not_stored": [...]}
    supersedes: str | None
    superseded_by: str | None
    closed: bool
    closed_at: dt.datetime | None
    input_hashes: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON-ready (times as ISO 8601 UTC)."""
        out = asdict(self)
        for key in ("started_at", "finished_at", "closed_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


def new_run_id(meta: RunMeta, now: dt.datetime) -> str:
    """``20251231T120000Z-1a2b3c4d``: sortable by start time, unique by hash and nonce."""
    seed = json.dumps([meta.config_sha256, sorted(meta.input_hashes.items()), now.isoformat(),
                       secrets.token_hex(8)])
    return f"{now:%Y%m%dT%H%M%SZ}-{hashlib.sha256(seed.encode()).hexdigest()[:8]}"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives naive datetimes (stored as UTC), PostgreSQL aware ones: both → aware UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


class RunStore:
    """The run record and the result tables in one database (any SQLAlchemy URL)."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], dt.datetime] = _utc_now):
        self.engine = engine
        self.clock = clock

    @classmethod
    def open(cls, url: str) -> "RunStore":
        """A store on ``url``; a new SQLite file is created on first write (see :meth:`upgrade`)."""
        return cls(db.make_engine(url))

    @classmethod
    def open_existing(cls, url: str) -> "RunStore":
        """For the read and close commands: the database must exist and be at the head revision."""
        parsed = sa.engine.make_url(url)
        path = parsed.database
        if parsed.get_backend_name() == "sqlite" and path and path != ":memory:" and not Path(path).exists():
            raise NoDatabase(f"找不到数据库，尚无结算记录 / database not found, no runs yet: {path}")
        store = cls.open(url)
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
        """Alembic upgrade (creates a new database); returns (revision before, after)."""
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
        """None if the period is open; the closed run's id if ``supersede``; else PeriodClosed."""
        with self.engine.connect() as conn:
            closed = self._closed_run(conn, county, year, scenario)
        if closed is None:
            return None
        if not supersede:
            raise PeriodClosed(closed)
        return closed.run_id

    def begin_run(self, meta: RunMeta, supersede: bool = False) -> str:
        """Record a new run as ``running`` (committed) and return its id."""
        supersedes = self.check_period_open(meta.county, meta.year, supersede, meta.scenario)
        now = self.clock()
        run_id = new_run_id(meta, now)
        with self.engine.begin() as conn:
            conn.execute(runs.insert().values(
                run_id=run_id, county=meta.county, year=int(meta.year), scenario=meta.scenario,
                status="running", started_at=now, config_path=meta.config_path,
                config_sha256=meta.config_sha256, data_dir=meta.data_dir,
                code_version=meta.code_version, timings={}, input_rows=dict(meta.input_rows),
                result_rows={}, result_columns={}, supersedes=supersedes, closed=False))
            self._write_inputs(conn, run_id, meta.input_hashes)
        return run_id

    def update_run(self, run_id: str, *, input_hashes: Mapping[str, str] | None = None,
                   input_rows: Mapping[str, int] | None = None,
                   timings: Mapping[str, float] | None = None) -> None:
        """Add what became known after :meth:`begin_run` (input fingerprints, rows, timings)."""
        with self.engine.begin() as conn:
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

    def save_results(self, run_id: str, tables: Mapping[str, pd.DataFrame],
                     timings: Mapping[str, float] | None = None,
                     working_columns: Literal["skip", "error"] = "skip") -> dict[str, int]:
        """All result tables and status ``succeeded`` in ONE transaction; rows per table.

        Each frame needs its table's contract columns; ``explanation`` is stored when present.
        Working columns a stage added are skipped and listed in the run's ``result_columns``
        (``working_columns="error"`` refuses them instead). On any failure nothing of the results
        stays, the run is marked ``failed`` with the reason (in its own transaction) and the
        exception is raised again.
        """
        record = self.get_run(run_id)
        if record.status != "running":
            raise StoreError(f"结算 {run_id} 状态为 {record.status}，不能再保存结果 / run is "
                             f"{record.status}, not running")
        problems = [p for name, frame in tables.items() for p in check_frame(name, frame)]
        if not problems:
            columns = {name: {"stored": stored_columns(name, tables[name]),
                              "not_stored": unstored_columns(name, tables[name])}
                       for name in RESULT_SPECS if name in tables}
            if working_columns == "error":
                problems = [f"结果表 {name} 有数据库中没有的列 columns without a database column: "
                            f"{', '.join(c['not_stored'])}" for name, c in columns.items() if c["not_stored"]]
        if problems:
            reason = "结果表与数据库结构不符 results do not fit the database: " + "; ".join(problems)
            self.fail_run(run_id, reason, timings)
            raise StoreError(reason)
        started = time.perf_counter()
        try:
            with self.engine.begin() as conn:
                counts = {name: insert_frame(conn, run_id, name, tables[name])
                          for name in RESULT_SPECS if name in tables}
                all_timings = {**record.timings, **(timings or {}),
                               "persist": round(time.perf_counter() - started, 3)}
                conn.execute(runs.update().where(runs.c.run_id == run_id).values(
                    status="succeeded", finished_at=self.clock(), result_rows=counts,
                    result_columns=columns, timings=all_timings))
                if record.supersedes:
                    conn.execute(runs.update().where(runs.c.run_id == record.supersedes)
                                 .values(superseded_by=run_id))
        except BaseException as exc:  # Ctrl-C too: the run must not stay "running"
            self.fail_run(run_id, f"保存结果失败 saving results failed: {_reason(exc)}", timings)
            raise
        return counts

    def fail_run(self, run_id: str, reason: str, timings: Mapping[str, float] | None = None) -> None:
        """Mark a running run failed with its reason (own transaction; results never kept).

        Calling it again on a failed run changes nothing: the first reason is the one kept.
        """
        with self.engine.begin() as conn:
            record = self._require(conn, run_id)
            if record.status == "failed":
                return
            if record.status == "succeeded":
                raise StoreError(f"结算 {run_id} 已成功保存，不能再标记为失败 / run already succeeded")
            conn.execute(runs.update().where(runs.c.run_id == run_id).values(
                status="failed", failure_reason=reason[:8000], finished_at=self.clock(),
                timings={**record.timings, **(timings or {})}))

    def close_period(self, run_id: str) -> RunRecord:
        """Close the run's county-year: later runs refuse unless they supersede it."""
        with self.engine.begin() as conn:
            record = self._require(conn, run_id)
            if record.status != "succeeded":
                raise StoreError(f"只能对成功的结算关账 only a succeeded run can be closed "
                                 f"({run_id} is {record.status})")
            if record.superseded_by:
                raise StoreError(f"结算 {run_id} 已被 {record.superseded_by} 替代 / run was superseded "
                                 f"by {record.superseded_by}")
            if record.closed:
                return record
            other = self._closed_run(conn, record.county, record.year, record.scenario)
            if other is not None:
                raise StoreError(f"该期间已由 {other.run_id} 关账 period already closed by {other.run_id}")
            conn.execute(runs.update().where(runs.c.run_id == run_id)
                         .values(closed=True, closed_at=self.clock()))
            return self._require(conn, run_id)

    # ------------------------------------------------------------ reading
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
        return [_record(row, hashes.get(row["run_id"], {})) for row in rows]

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
                "ledger": ["amount"]}
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

    # ------------------------------------------------------------ helpers
    def _require(self, conn: sa.Connection, run_id: str) -> RunRecord:
        row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).mappings().first()
        if row is None:
            raise RunNotFound(run_id)
        hashes = {r.file: r.sha256 for r in conn.execute(
            sa.select(run_inputs).where(run_inputs.c.run_id == run_id).order_by(run_inputs.c.file))}
        return _record(row, hashes)

    def _closed_run(self, conn: sa.Connection, county: str, year: int, scenario: str) -> RunRecord | None:
        row = conn.execute(sa.select(runs.c.run_id).where(
            runs.c.county == county, runs.c.year == int(year), runs.c.scenario == scenario,
            runs.c.closed.is_(True), runs.c.superseded_by.is_(None))).first()
        return self._require(conn, row.run_id) if row else None

    @staticmethod
    def _write_inputs(conn: sa.Connection, run_id: str, hashes: Mapping[str, str]) -> None:
        if hashes:
            conn.execute(run_inputs.insert(), [{"run_id": run_id, "file": f, "sha256": h}
                                               for f, h in sorted(hashes.items())])


def _record(row: Mapping, hashes: dict[str, str]) -> RunRecord:
    values = {k: row[k] for k in runs.c.keys()}
    for key in ("started_at", "finished_at", "closed_at"):
        values[key] = _utc(values[key])
    for key in ("timings", "input_rows", "result_rows", "result_columns"):
        values[key] = dict(values[key] or {})
    values["closed"] = bool(values["closed"])
    return RunRecord(**values, input_hashes=hashes)


def _reason(exc: BaseException) -> str:
    """The database's own message, without SQLAlchemy's echo of the SQL and its parameters."""
    if isinstance(exc, KeyboardInterrupt):
        return "被中断 interrupted (KeyboardInterrupt)"
    inner = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    return f"{type(inner).__name__}: {str(inner).strip()[:2000]}"
