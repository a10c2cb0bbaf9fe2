"""Races on the run record, with real parallel processes, on SQLite and on PostgreSQL.

Each test repeats its race on a fresh database (``TRIALS`` times): the processes are forked,
wait at a barrier, and then all do the contested thing at once. Before revision 0003 and the
serialised write transactions: two concurrent ``close`` both succeeded (SQLite 4/8 trials,
PostgreSQL 1/6), two ``--supersede`` both succeeded, and concurrent first runs on a new
database died on the schema creation. PostgreSQL tests skip only when
SETTLEMENT_TEST_PG_URL is unset (CI sets it).
"""

from __future__ import annotations

import multiprocessing
import os
import uuid

import pytest
import sqlalchemy as sa

from settlement.store import RunMeta, RunStore
from settlement.store.db import head_revision
from test_store import meta, result_tables

PG_URL = os.environ.get("SETTLEMENT_TEST_PG_URL")
TRIALS = 6
RACERS = 3
CTX = multiprocessing.get_context("fork")

pytestmark = pytest.mark.skipif(os.name != "posix", reason="forks worker processes")


# ------------------------------------------------------------------ fresh databases
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def new_db(request, tmp_path):
    """A factory of fresh, empty databases (a new SQLite file / a new PostgreSQL schema)."""
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("PostgreSQL not configured: set SETTLEMENT_TEST_PG_URL")
    schemas: list[str] = []

    def make() -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / f'race-{uuid.uuid4().hex[:8]}.db'}"
        schema = f"r_{uuid.uuid4().hex[:12]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        schemas.append(schema)
        url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    admin = sa.create_engine(PG_URL) if request.param == "postgresql" else None
    yield make
    if admin is not None:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def race(target, arguments: list[tuple], timeout: float = 120) -> list[tuple[str, str]]:
    """Run ``target(barrier, *args)`` in one forked process per args; [("ok"|"error", text)]."""
    barrier = CTX.Barrier(len(arguments))
    queue = CTX.Queue()
    workers = [CTX.Process(target=_worker, args=(target, barrier, queue, i, args))
               for i, args in enumerate(arguments)]
    for w in workers:
        w.start()
    results = dict(queue.get(timeout=timeout) for _ in workers)
    for w in workers:
        w.join(timeout)
    return [results[i] for i in range(len(arguments))]


def _worker(target, barrier, queue, index, args) -> None:
    try:
        queue.put((index, ("ok", str(target(barrier, *args)))))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as data
        queue.put((index, ("error", f"{type(exc).__name__}: {exc}")))


def prepared(url: str, closed_first: bool = False, runs: int = 1) -> list[str]:
    """A database at head with ``runs`` succeeded base runs of 示例县 2025 (the first closed)."""
    with RunStore.open(url) as store:
        store.upgrade()
        ids = []
        for _ in range(runs):
            run_id = store.begin_run(meta())
            store.save_results(run_id, {"ledger": result_tables()["ledger"]})
            ids.append(run_id)
        if closed_first:
            store.close_period(ids[0])
    return ids


def closed_in_force(url: str) -> list[str]:
    with RunStore.open(url) as store:
        return [r.run_id for r in store.list_runs() if r.closed and r.superseded_by is None]


# ------------------------------------------------------------------ the racers
def _close(barrier, url: str, run_id: str) -> str:
    with RunStore.open(url) as store:
        barrier.wait(60)
        return store.close_period(run_id).run_id


def _supersede(barrier, url: str) -> str:
    with RunStore.open(url) as store:
        run_id = store.begin_run(meta(), supersede=True)  # every racer starts while `first` is closed
        barrier.wait(60)
        store.save_results(run_id, {"ledger": result_tables()["ledger"]})
        return run_id


def _first_run(barrier, url: str) -> str:
    barrier.wait(60)
    with RunStore.open(url) as store:
        store.upgrade()
        return store.begin_run(RunMeta("示例县", 2025))


def _finish(barrier, url: str, run_id: str) -> str:
    with RunStore.open(url) as store:
        barrier.wait(60)
        store.save_results(run_id, {"ledger": result_tables()["ledger"]})
        return run_id


# ------------------------------------------------------------------ the races
def test_concurrent_closes_of_one_period_close_it_once(new_db):
    for _ in range(TRIALS):
        url = new_db()
        ids = prepared(url, runs=RACERS)
        outcomes = race(_close, [(url, run_id) for run_id in ids])
        winners = [text for status, text in outcomes if status == "ok"]
        assert len(winners) == 1, outcomes
        assert all("already closed" in text for status, text in outcomes if status == "error"), outcomes
        assert closed_in_force(url) == winners


def test_concurrent_supersedes_leave_one_closed_run(new_db):
    for _ in range(TRIALS):
        url = new_db()
        (first,) = prepared(url, closed_first=True)
        outcomes = race(_supersede, [(url,)] * RACERS)
        winners = [text for status, text in outcomes if status == "ok"]
        assert len(winners) == 1, outcomes
        assert all("PeriodRuleBroken" in text for status, text in outcomes if status == "error"), outcomes
        with RunStore.open(url) as store:
            assert store.get_run(first).superseded_by == winners[0]
            losers = [r for r in store.list_runs() if r.supersedes == first and r.run_id != winners[0]]
            assert [r.status for r in losers] == ["failed"] * (RACERS - 1)
        assert closed_in_force(url) == winners


def test_concurrent_first_runs_on_a_new_database_all_start(new_db):
    for _ in range(TRIALS):
        url = new_db()
        outcomes = race(_first_run, [(url,)] * RACERS)
        assert [status for status, _ in outcomes] == ["ok"] * RACERS, outcomes
        with RunStore.open(url) as store:
            assert store.current_revision() == head_revision()
            assert sorted(r.run_id for r in store.list_runs()) == sorted(t for _, t in outcomes)


def test_a_run_finishing_while_the_period_closes_never_succeeds_inside_it(new_db):
    for _ in range(TRIALS):
        url = new_db()
        (done,) = prepared(url)
        with RunStore.open(url) as store:
            working = store.begin_run(meta())  # began before the close
        outcomes = race(_dispatch, [("finish", url, working), ("close", url, done)])
        assert outcomes[1][0] == "ok", outcomes
        with RunStore.open(url) as store:
            run, closer = store.get_run(working), store.get_run(done)
        if run.status == "succeeded":  # it committed first: then the close came after it
            assert run.finished_at <= closer.closed_at, outcomes
        else:
            assert run.status == "failed" and "closed by" in run.failure_reason, outcomes
        assert closed_in_force(url) == [done]


def _dispatch(barrier, what: str, url: str, run_id: str) -> str:
    return {"finish": _finish, "close": _close}[what](barrier, url, run_id)
