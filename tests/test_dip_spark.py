"""settle_dip over a spilled case table on Spark: the one DIP query (scan/dip_query.py) read
by Spark's executors gives the pandas engine's settlement, with the user's row numbers.

A spilled table (settlement.spill) is Parquet with money in decimal yuan and ``_row``, the
user's row number. One case of the three has approved points of 1e308 (its points overflow:
an error naming row 7, the user's row); the EXT case is at a unit outside the communities.
Skips without pyspark or Java, as tests/test_scan_spark.py does (whose session it shares).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from test_dip import GROUPS, SCORES, UNITS, cases_frame, params, refs_frame
from test_dip_engines import as_parquet, assert_same_tables
from test_scan_spark import pytestmark, spark  # noqa: F401 (the marks and the session fixture)

from settlement.dip.stage import settle_dip
from settlement.scan import get_engine


def test_spilled_cases_settle_on_spark_as_on_pandas(spark, tmp_path):  # noqa: F811
    cases = cases_frame([{"total_cost": 4_000}, {"total_cost": 10_000, "special_points": 1e308},
                         {"total_cost": 25_000}, {"total_cost": 9_000, "unit_id": "EXT"}])
    cases.index = [2, 7, 8, 9]
    path = tmp_path / "inpatient_cases.parquet"
    pq.write_table(as_parquet(cases).append_column("_row", pa.array(cases.index, pa.int64())), path)
    refs = refs_frame([("G500", "tertiary", 10_000)])
    run = lambda table, engine: settle_dip(table, UNITS, GROUPS, refs, SCORES, None,  # noqa: E731
                                           params(), explain="full", engine=engine)
    expected, got = run(cases, get_engine("pandas")), run(path, spark)
    assert_same_tables(expected, got)
    assert got.summary == expected.summary and got.problems == expected.problems
    assert [p.row for p in got.problems if p.rule == "dip.points_not_finite"] == [7]
    # 4,000 / 10,000 → r 0.4 → 500 × 0.4 = 200; r 2.5 → 500 × (2.5 − 2 + 1) = 750
    assert got.cases["points"].tolist() == [200.0, 0.0, 750.0]
