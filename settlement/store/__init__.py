"""The run store (结算记录库): SQLAlchemy 2.x tables, Alembic migrations, the run record.

- :mod:`.tables` — ``runs``, ``run_inputs`` and one table per contract result table;
- :mod:`.db` — engines, Alembic from code, frames ↔ rows (fast bulk insert);
- :mod:`.runs` — :class:`RunStore`: begin a run, save all results in one transaction, fail,
  close a period, supersede, list, show, load back;
- :mod:`.manifest` — ``manifest.json`` of a run folder and the code version.
"""

from settlement.store.db import StoreError
from settlement.store.manifest import code_version, write_manifest
from settlement.store.runs import (NoDatabase, PeriodClosed, RunMeta, RunNotFound, RunRecord, RunStore,
                                   new_run_id)
from settlement.store.tables import RESULT_SPECS, RESULT_TABLES

__all__ = ["RESULT_SPECS", "RESULT_TABLES", "NoDatabase", "PeriodClosed", "RunMeta", "RunNotFound", "RunRecord",
           "RunStore", "StoreError", "code_version", "new_run_id", "write_manifest"]
