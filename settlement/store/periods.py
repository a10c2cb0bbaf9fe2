"""Period rules (期间规则): what may run, close and supersede in a county-year.

The period is **county + year** — the scenario is not part of it::

    base run, period open                 runs; may be closed later (settlement close)
    base run, period closed               refused (PeriodClosed) unless --supersede
    base run --supersede, period closed   runs; on success it supersedes the closed run and
                                          becomes the closed run itself: the period stays closed
    what-if scenario (not "base")         always runs, never closes, never supersedes
    any run finishing                     re-checks, in the same transaction as "succeeded":
                                          a base run whose period was closed (or superseded by
                                          another run) while it worked ends failed

The closed run in force (``closed AND superseded_by IS NULL``) is the final settlement of
its county-year. Each check runs inside a write transaction holding :func:`lock_period`; the
partial unique index ``uq_runs_closed_period`` stops a second closed run even if a writer
forgot the lock.
"""

from __future__ import annotations

import sqlalchemy as sa

from settlement.store.db import StoreError, lock
from settlement.store.tables import BASE_SCENARIO, runs


class PeriodClosed(StoreError):
    """The county-year is closed; rerunning it needs ``--supersede``."""

    def __init__(self, county: str, year: int, closed_run_id: str):
        self.closed_run_id = closed_run_id
        super().__init__(
            f"{county} {year} 年度已关账，关账结算为 {closed_run_id}；如需更正请加 --supersede / "
            f"period {county} {year} is closed by run {closed_run_id}; use --supersede to record "
            "a run that supersedes it")


class PeriodRuleBroken(StoreError):
    """A run, close or supersede the period rules do not allow."""


def lock_period(conn: sa.Connection, county: str, year: int) -> None:
    lock(conn, f"settlement:period:{county}:{int(year)}")


def is_base(scenario: str) -> bool:
    return scenario == BASE_SCENARIO


def closed_in_force(conn: sa.Connection, county: str, year: int) -> str | None:
    """The run id that closes (county, year) now, or None."""
    row = conn.execute(sa.select(runs.c.run_id).where(
        runs.c.county == county, runs.c.year == int(year), runs.c.closed.is_(True),
        runs.c.superseded_by.is_(None))).first()
    return row.run_id if row else None


def may_start(conn: sa.Connection, county: str, year: int, scenario: str, supersede: bool) -> str | None:
    """The run a new run supersedes (None: it supersedes nothing), or raise why it may not start."""
    if not is_base(scenario):
        if supersede:
            raise PeriodRuleBroken(
                f"方案 {scenario} 是测算方案，不能替代关账结算（只有 base 方案可以）/ a what-if "
                f"scenario ({scenario}) never supersedes; only the base scenario settles a period")
        return None
    closed = closed_in_force(conn, county, year)
    if closed is not None and not supersede:
        raise PeriodClosed(county, year, closed)
    return closed


def may_finish(conn: sa.Connection, run: dict) -> None:
    """Raise if the run may no longer end ``succeeded`` (checked inside the final transaction)."""
    if not is_base(run["scenario"]):
        return
    closed = closed_in_force(conn, run["county"], run["year"])
    if run["supersedes"] is None and closed is not None:
        raise PeriodRuleBroken(
            f"本结算运行期间，{run['county']} {run['year']} 年度已由 {closed} 关账，结果不予保存；"
            f"如需更正请加 --supersede 重新结算 / the period was closed by {closed} while this run "
            "worked; its results are not saved")
    if run["supersedes"] is not None and closed != run["supersedes"]:
        now = closed or "（无 none）"
        raise PeriodRuleBroken(
            f"本结算要替代的 {run['supersedes']} 已不是现行关账结算（现为 {now}，可能已被另一结算替代），"
            f"结果不予保存 / the run this one supersedes is no longer the closed run in force "
            f"(now {now}); its results are not saved")


def may_close(conn: sa.Connection, run: dict) -> None:
    """Raise unless ``run`` may become the closed run of its county-year."""
    if run["status"] != "succeeded":
        raise PeriodRuleBroken(f"只能对成功的结算关账 only a succeeded run can be closed "
                               f"({run['run_id']} is {run['status']})")
    if run.get("kind") == "month":  # issue 10: a month is a pre-settlement, never a period
        raise PeriodRuleBroken(f"{run['run_id']} 是 {run.get('month')} 月度预结算，月度预结算不关账（关账只针对"
                               f"年度结算）/ a month run never closes a period")
    if not is_base(run["scenario"]):
        raise PeriodRuleBroken(
            f"方案 {run['scenario']} 是测算方案，不能关账（只有 base 方案可以）/ a what-if scenario "
            f"({run['scenario']}) never closes a period")
    if run["superseded_by"]:
        raise PeriodRuleBroken(f"结算 {run['run_id']} 已被 {run['superseded_by']} 替代 / run was "
                               f"superseded by {run['superseded_by']}")
    other = closed_in_force(conn, run["county"], run["year"])
    if other is not None and other != run["run_id"]:
        raise PeriodRuleBroken(f"该期间已由 {other} 关账 period already closed by {other}")


def unique_violation(exc: sa.exc.IntegrityError) -> str | None:
    """The period message when the database's own guard refused a second closed run."""
    text = str(exc.orig)
    if "uq_runs_closed_period" in text or "runs.county, runs.year" in text:
        return "该期间已由另一结算关账 period already closed by another run (database constraint)"
    if "uq_runs_supersedes_succeeded" in text or "runs.supersedes" in text:
        return ("该关账结算已被另一结算替代 the closed run was already superseded by another run "
                "(database constraint)")
    return None
