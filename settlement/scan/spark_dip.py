"""The DIP scans on Spark (病例分值计算的 Spark 实现): scoring.py's numbers, bit for bit.

The same query text as DuckDB (:mod:`~settlement.scan.dip_query`, written in the SQL both
dialects read alike) and the same flow (:mod:`~settlement.scan.dip_flow`); this module only
says how Spark holds the views: the small tables and case frames through Arrow
(``createDataFrame``), Parquet read by Spark's executors
(:class:`~settlement.scan.spark_session.SparkTables`), results back with ``toArrow``.
``dip_unit_points`` is the cluster path of the region's point value: only the sums per unit
(and insured community) come back. IEEE 754 doubles in the JVM as in numpy, the operations in
the same order, so the floats are identical.

Example: score 500, reference 10,000 元, coefficient 1, cost 25,000 元 → ratio 2.5 → high →
500 × ((2.5 − 2) + 1) × 1 = 750 points → 7,500,000 units at 4 decimals.
"""

from __future__ import annotations

from contextlib import contextmanager

from settlement.scan.dip_flow import Session, SqlDipScan
from settlement.scan.dip_query import Lookups
from settlement.scan.spark_session import SparkTables


class SparkDipScan(SqlDipScan):
    """The DIP scans in Spark SQL (a mixin of :class:`~settlement.scan.spark_engine.SparkEngine`)."""

    @contextmanager
    def _dip_session(self, look: Lookups):
        """The lookups as temporary views (dropped after the query, with the case views)."""
        t = SparkTables(self.spark)
        try:
            names = {}
            for key in ("units", "groups", "refs"):
                view = f"dip_{key}_{len(t.views)}"
                self.spark.createDataFrame(getattr(look, key)).createOrReplaceTempView(view)
                t.views.append(view)
                names[key] = view
            yield Session(names, "row", t.register, lambda sql: self.spark.sql(sql).toArrow())
        finally:
            t.drop()
