"""The run store (结算记录库): SQLAlchemy 2.x tables, Alembic migrations, the run record.

- :mod:`.tables` — ``runs``, ``run_inputs`` and one table per contract result table;
- :mod:`.db` — engines, serialised write transactions and locks, Alembic from code, frames ↔
  rows (fast bulk insert);
- :mod:`.runs` — :class:`RunStore`: begin a run, save all results in one transaction, fail,
  close a period, supersede, reap dead runs, list, show, load back;
- :mod:`.periods` — the period rules (county + year; what may run, close, supersede);
- :mod:`.owner` — a run's owner process and lease; is it dead?
- :mod:`.records` — :class:`RunMeta`, :class:`RunRecord`, run ids;
- :mod:`.location` — the default database (:func:`default_db_url`), one documented place;
- :mod:`.rundir`, :mod:`.manifest` — the run folder (``.partial`` until complete) and its
  ``manifest.json`` (written atomically);
- :mod:`.faults` — known faults (full disk, busy database) said in one Chinese sentence.
"""

from settlement.store.db import StoreError
from settlement.store.location import default_db_url, describe_db_url
from settlement.store.manifest import code_version, write_manifest
from settlement.store.periods import PeriodClosed, PeriodRuleBroken
from settlement.store.records import RunMeta, RunRecord, new_run_id
from settlement.store.runs import NoDatabase, RunNotFound, RunStore
from settlement.store.tables import RESULT_SPECS, RESULT_TABLES

__all__ = ["RESULT_SPECS", "RESULT_TABLES", "NoDatabase", "PeriodClosed", "PeriodRuleBroken", "RunMeta",
           "RunNotFound", "RunRecord", "RunStore", "StoreError", "code_version", "default_db_url",
           "describe_db_url", "new_run_id", "write_manifest"]
