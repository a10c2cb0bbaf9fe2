"""The DIP scans on DuckDB (病例分值计算的 DuckDB 实现): the numbers of scoring.py, bit for bit.

The computation — one scoring query, the Σ per unit (and insured community), the per-case
fetch and the problems — is written once (:mod:`~settlement.scan.dip_query`,
:mod:`~settlement.scan.dip_flow`) and shared with Spark SQL; this module only says how DuckDB
holds the views: the small tables as registered Arrow tables, a case frame as an Arrow view,
a Parquet table read by ``read_parquet`` (money yuan → fen), results fetched as Arrow.
``dip_unit_points`` is out of core: a Parquet folder of a whole region is read by DuckDB,
never as a pandas frame.

Example: score 500, reference 10,000 元, coefficient 1, cost 25,000 元 → ratio 2.5 → high →
500 × ((2.5 − 2) + 1) × 1 = 750 points → 7,500,000 units at 4 decimals.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager

from settlement.scan.dip_flow import Session, SqlDipScan
from settlement.scan.dip_query import Lookups

_names = itertools.count()


class DuckDBDipScan(SqlDipScan):
    """The DIP scans in DuckDB (a mixin of the DuckDB engine: ``con``, ``relation``, ``scope``)."""

    @contextmanager
    def _dip_session(self, look: Lookups):
        """The lookups registered for the query (and dropped after it, with its views)."""
        names = {key: f"dip_{key}_{next(_names)}" for key in ("units", "groups", "refs")}
        with self.scope():
            try:
                for key, name in names.items():
                    self.con.register(name, getattr(look, key))
                yield Session(names, "__row", self.relation,
                              lambda sql: self.con.sql(sql).to_arrow_table())
            finally:
                for name in names.values():
                    self.con.unregister(name)


#: the name the scan interface gave the mixin
DipSql = DuckDBDipScan
