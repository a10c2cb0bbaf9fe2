"""The Spark engine (issue 13 §6, the cluster path) gives the pandas reference's frames exactly.

Every scan of :class:`settlement.scan.Engine` runs on Spark (local mode, one session for the
whole test session) and is compared with the pandas engine by ``assert_frame_equal`` with
dtypes: on the sample county (frames, and the big tables as hive-partitioned Parquet, the
way a cluster reads them), on small generated tables with the awkward cases (no community,
unknown units, claims without a type, money beyond 2^53 fen, which a double would round,
empty tables, dates on the window's bounds), and the whole sample county settled with
``SETTLEMENT_SCAN_ENGINE=spark`` gives the default's result tables.

The tests need pyspark (the ``spark`` extra) and a Java runtime; without them they skip and
say which is missing — except in CI (``SETTLEMENT_REQUIRE_SPARK=1``, set by ``.ci/run``),
where a missing one is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal

from settlement.scan import Window, get_engine

ROOT = Path(__file__).resolve().parent.parent


def _missing() -> str:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark 未安装（pip install -e '.[spark]'） / pyspark is not installed"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "没有 Java 运行环境（apt-get install default-jre-headless） / no Java runtime"
    return ""


MISSING = _missing()
if MISSING and os.environ.get("SETTLEMENT_REQUIRE_SPARK") == "1":
    raise RuntimeError(f"SETTLEMENT_REQUIRE_SPARK=1 but {MISSING}")
pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark"),  # one worker, one JVM
              pytest.mark.skipif(bool(MISSING), reason=MISSING),
              pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")]


@pytest.fixture(scope="session")
def spark():
    from settlement.scan.spark_session import stop_session

    engine = get_engine("spark", shuffle_partitions=2)
    yield engine
    stop_session()


@pytest.fixture(scope="module")
def pandas_engine():
    return get_engine("pandas")


@pytest.fixture(scope="module")
def county():
    from settlement.config import load_config, resolve
    from settlement.loader import load_folder
    from settlement.pipeline import settle

    tables = load_folder(ROOT / "sample_data").tables
    resolved = resolve(load_config(ROOT / "configs" / "sample-county.yaml"))
    settled = settle(tables, resolved).tables  # the default engine
    return tables, resolved, settled


def _cohort(enrollees: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"person_id": enrollees["person_id"], "community_id": enrollees["community_id"],
                         "period_start": enrollees["enroll_start"],
                         "period_end": enrollees["enroll_end"].fillna(pd.Timestamp("2025-12-31"))})


def _all_scans(engine, t: dict, dip_cases, window=None) -> dict[str, pd.DataFrame]:
    ip, op, units = t["inpatient_cases"], t["outpatient_claims"], t["units"]
    return {
        "expenditure_lines": engine.expenditure_lines(dip_cases, ip, op, units, window=window),
        "indicator_counts": engine.indicator_counts(ip, op, units, t["dip_reference_costs"],
                                                    window=window),
        "outpatient_at_home": engine.outpatient_at_home(op, units, window=window),
    }


def _equal(a: dict, b: dict) -> None:
    for name in a:
        assert_frame_equal(a[name], b[name], check_dtype=True, obj=name)


MARCH_TO_JUNE = Window(pd.Timestamp("2025-03-01"), pd.Timestamp("2025-07-01"))


@pytest.mark.parametrize("window", [None, MARCH_TO_JUNE], ids=["year", "march-june"])
def test_sample_county_scans_equal_pandas(spark, pandas_engine, county, window):
    tables, _, settled = county
    dip_cases = settled["dip_cases"]
    expected = _all_scans(pandas_engine, tables, dip_cases, window)
    assert expected["expenditure_lines"]["claims_outpatient"].sum() > 0  # the scans saw data
    _equal(expected, _all_scans(spark, tables, dip_cases, window))


def test_sample_county_cohort_items_equal_pandas(spark, pandas_engine, county):
    tables, _, settled = county
    cohort = _cohort(tables["chronic_enrollees"])
    args = (cohort, tables["inpatient_cases"], tables["outpatient_claims"], tables["units"],
            settled["dip_cases"])
    expected = pandas_engine.cohort_items(*args)
    assert len(expected) > 1000 and set(expected["line"]) == {"dip", "external", "outpatient"}
    assert_frame_equal(expected, spark.cohort_items(*args), check_dtype=True)
    only_cases = (cohort, tables["inpatient_cases"], None, tables["units"])
    assert_frame_equal(pandas_engine.cohort_items(*only_cases), spark.cohort_items(*only_cases),
                       check_dtype=True)


def _yuan(frame: pd.DataFrame) -> pa.Table:
    """A loader frame as a user's Parquet holds it: money (fen) as DECIMAL(18, 2) yuan."""
    from settlement.scan.frames import money_columns

    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    for name in set(table.column_names) & money_columns():
        values = [None if v is None else Decimal(v).scaleb(-2) for v in table[name].to_pylist()]
        table = table.set_column(table.column_names.index(name), name,
                                 pa.array(values, pa.decimal128(18, 2)))
    return table


def _partitioned(frame: pd.DataFrame, folder: Path, parts: int) -> Path:
    """The frame as hive partitions ``county_id=Pk/part-0.parquet`` in row order (yuan)."""
    for k, chunk in enumerate(np.array_split(np.arange(len(frame)), parts)):
        target = folder / f"county_id=P{k}"
        target.mkdir(parents=True)
        pq.write_table(_yuan(frame.iloc[chunk]), target / "part-0.parquet")
    return folder


def test_sample_county_from_parquet_equals_frames(spark, pandas_engine, county, tmp_path):
    """The cluster path: Spark reads the partitioned Parquet itself; same frames as pandas."""
    tables, _, settled = county
    on_disk = {**tables,
               "inpatient_cases": _partitioned(tables["inpatient_cases"], tmp_path / "ip", 3),
               "outpatient_claims": _partitioned(tables["outpatient_claims"], tmp_path / "op", 2)}
    dip_path = tmp_path / "dip_cases.parquet"
    settled["dip_cases"].to_parquet(dip_path, index=False)
    _equal(_all_scans(pandas_engine, tables, settled["dip_cases"], MARCH_TO_JUNE),
           _all_scans(spark, on_disk, dip_path, MARCH_TO_JUNE))
    cohort = _cohort(tables["chronic_enrollees"])
    expected = pandas_engine.cohort_items(cohort, tables["inpatient_cases"],
                                          tables["outpatient_claims"], tables["units"],
                                          settled["dip_cases"])
    got = spark.cohort_items(cohort, on_disk["inpatient_cases"], on_disk["outpatient_claims"],
                             tables["units"], dip_path)
    assert_frame_equal(expected, got, check_dtype=True)  # rows: positions across the parts


# ------------------------------------------------------------------ generated tables
BIG = 2 ** 53 + 1  # fen: a double cannot hold it (it rounds to 2^53)


def generated(seed: int, n_cases: int = 60, n_claims: int = 90) -> dict[str, pd.DataFrame]:
    """Small tables with the awkward rows a real county has, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    units = pd.DataFrame({
        "unit_id": pd.array(["L1", "T1", "V1", "L2", "X1", "X2", "N1"], dtype="string"),
        "community_id": pd.array(["A", "A", "A", "B", None, None, "B"], dtype="string"),
        "category": pd.array(["lead_hospital", "township_center", "village_clinic", "lead_hospital",
                              "external", "county_hospital", "external"], dtype="string"),
        "level": pd.array(["secondary", "primary", "unrated", "secondary", "tertiary", "secondary",
                           None], dtype="string"),
        "scope": pd.array(["county", "county", "county", "county", "province", "city", None],
                          dtype="string")})
    unit_pool = ["L1", "T1", "V1", "L2", "X1", "X2", "N1", "GHOST", None]
    communities = ["A", "B", "C", None]

    def text(values):
        return pd.array(values, dtype="string")

    def pick(pool, n, p_none=0.0):
        return [None if rng.random() < p_none else pool[rng.integers(len(pool))] for _ in range(n)]

    day = pd.Timestamp("2025-01-01")
    admit = [day + pd.Timedelta(days=int(d)) for d in rng.integers(0, 330, n_cases)]
    stay = rng.integers(0, 20, n_cases)
    money = rng.integers(0, 5_000_00, n_cases)
    money[rng.random(n_cases) < 0.05] = BIG
    cases = pd.DataFrame({
        "case_id": text([f"I{i}" for i in range(n_cases)]),
        "person_id": text(pick([f"P{i}" for i in range(15)], n_cases, 0.05)),
        "community_id": text(pick(communities, n_cases)),
        "unit_id": text(pick(unit_pool, n_cases)),
        "admission_date": pd.to_datetime(admit).astype("datetime64[ns]"),
        "discharge_date": (pd.to_datetime(admit) + pd.to_timedelta(stay, unit="D")).astype("datetime64[ns]"),
        "dip_group": text(pick(["G1", "G2", "G9"], n_cases, 0.2)),
        "total_cost": money * 2, "fund_paid": money,
        "referral": rng.random(n_cases) < 0.4,
        "referral_from_unit_id": text(pick(unit_pool, n_cases, 0.3)),
        "childbirth": rng.random(n_cases) < 0.1})
    if n_cases > 3:  # community A's case at a provincial hospital of 2^53 + 1 fen
        cases.loc[cases.index[3], ["community_id", "unit_id", "fund_paid"]] = ["A", "X1", BIG]
        cases.loc[cases.index[3], ["admission_date", "discharge_date"]] = [
            pd.Timestamp("2025-04-10"), pd.Timestamp("2025-04-15")]
        cases.loc[cases.index[:2], "admission_date"] = pd.NaT  # a stay without dates
        cases.loc[cases.index[2], "discharge_date"] = pd.Timestamp("2025-03-01")  # a window bound
    claim_day = [day + pd.Timedelta(days=int(d)) for d in rng.integers(0, 365, n_claims)]
    paid = rng.integers(0, 200_00, n_claims)
    paid[rng.random(n_claims) < 0.05] = BIG
    claims = pd.DataFrame({
        "claim_id": text([f"O{i}" for i in range(n_claims)]),
        "person_id": text(pick([f"P{i}" for i in range(15)], n_claims, 0.05)),
        "community_id": text(pick(communities, n_claims)),
        "unit_id": text(pick(unit_pool, n_claims)),
        "service_date": pd.to_datetime(claim_day).astype("datetime64[ns]"),
        "claim_type": text(pick(["general", "chronic_special", "two_diseases", "other", None], n_claims)),
        "total_cost": paid + 100, "fund_paid": paid})
    refs = pd.DataFrame({"group_code": text(["G1", "G1", "G2", "G2"]),
                         "level": text(["secondary", "primary", "secondary", "secondary"]),
                         "avg_cost": [300_00, 0, 100_00, 400_00]})  # G2 twice: the last counts
    dip_cases = cases.loc[cases.index % 3 != 0, ["case_id", "unit_id", "community_id"]].assign(
        fund_due=lambda f: np.arange(len(f), dtype="int64") * 1_000 + 7)
    cohort = pd.DataFrame({"person_id": text(["P1", "P2", "P2", "P3"]),
                           "community_id": text(["A", "B", "B", "C"]),
                           "period_start": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-07-01",
                                                           "2025-03-01"]),
                           "period_end": pd.to_datetime(["2025-12-31", "2025-06-30", "2025-12-31",
                                                         "2025-03-31"])})
    return {"units": units, "inpatient_cases": cases, "outpatient_claims": claims,
            "dip_reference_costs": refs, "dip_cases": dip_cases, "cohort": cohort}


@pytest.mark.parametrize("seed", [1, 2])
def test_generated_tables_equal_pandas(spark, pandas_engine, seed):
    t = generated(seed)
    for window in (None, MARCH_TO_JUNE):
        expected = _all_scans(pandas_engine, t, t["dip_cases"], window)
        _equal(expected, _all_scans(spark, t, t["dip_cases"], window))
        lines = expected["expenditure_lines"].set_index("community_id")
        assert lines.loc["A", "expenditure_external_province"] >= BIG  # 2^53 + 1 fen summed
    for args in [(t["cohort"], t["inpatient_cases"], t["outpatient_claims"], t["units"], t["dip_cases"]),
                 (t["cohort"], t["inpatient_cases"], t["outpatient_claims"], t["units"])]:
        assert_frame_equal(pandas_engine.cohort_items(*args), spark.cohort_items(*args),
                           check_dtype=True)


def test_money_beyond_two_to_the_53_is_exact(spark):
    """Three claims of 2^53 + 1 fen: 3 × 2^53 + 3 exactly (a double would give 3 × 2^53 + 4
    or drop the odd fen); the expected value is written out, not taken from an engine."""
    t = generated(7, n_cases=0, n_claims=0)
    claims = pd.DataFrame({"claim_id": pd.array(["O1", "O2", "O3"], dtype="string"),
                           "person_id": pd.array(["P1", "P2", "P3"], dtype="string"),
                           "community_id": pd.array(["A"] * 3, dtype="string"),
                           "unit_id": pd.array(["L1"] * 3, dtype="string"),
                           "service_date": pd.to_datetime(["2025-05-01"] * 3),
                           "claim_type": pd.array(["general"] * 3, dtype="string"),
                           "total_cost": [BIG] * 3, "fund_paid": [BIG] * 3})
    out = spark.expenditure_lines(t["dip_cases"], t["inpatient_cases"], claims, t["units"])
    assert out.loc[0, "expenditure_outpatient_general"] == 3 * 2 ** 53 + 3
    home = spark.outpatient_at_home(claims, t["units"])
    assert home.loc[0, "fund_at_own_units"] == 3 * 2 ** 53 + 3 and home.loc[0, "fund_elsewhere"] == 0


def test_parquet_money_in_yuan_becomes_fen_exactly(spark, pandas_engine, tmp_path):
    """A user's Parquet holds yuan: DECIMAL 12.34 → 1,234 fen, an integer 5 → 500 fen, a
    double 0.29 → 29 fen (rounded once; 0.29 × 100 is 28.999… in binary); both engines."""
    t = generated(8, n_cases=0, n_claims=0)
    base = {"claim_id": ["O1"], "person_id": ["P1"], "community_id": ["A"], "unit_id": ["L1"],
            "service_date": pa.array([pd.Timestamp("2025-05-01").date()], pa.date32()),
            "claim_type": ["general"]}
    for money, fen in ((pa.array([Decimal("12.34")], pa.decimal128(18, 2)), 1_234),
                       (pa.array([5], pa.int64()), 500), (pa.array([0.29], pa.float64()), 29)):
        path = tmp_path / f"op-{money.type}.parquet"
        pq.write_table(pa.table({**base, "total_cost": money, "fund_paid": money}), path)
        got = spark.expenditure_lines(t["dip_cases"], t["inpatient_cases"], path, t["units"])
        assert got.loc[0, "expenditure_outpatient_general"] == fen, money.type
        assert_frame_equal(pandas_engine.expenditure_lines(t["dip_cases"], t["inpatient_cases"],
                                                           path, t["units"]), got, check_dtype=True)
    sub_fen = tmp_path / "op-sub-fen.parquet"  # 0.125 元 is not a whole number of fen: refused
    money = pa.array([0.125], pa.float64())
    pq.write_table(pa.table({**base, "total_cost": money, "fund_paid": money}), sub_fen)
    with pytest.raises(Exception, match="整分"):
        spark.expenditure_lines(t["dip_cases"], t["inpatient_cases"], sub_fen, t["units"])


def test_parquet_money_nan_or_inf_is_refused_with_the_engines_message(spark, pandas_engine, tmp_path):
    """NaN and ±inf in a float money column (yuan) are no amount: Spark refuses them with the
    message DuckDB and the pandas reference give (Spark took NaN = NaN as a whole number of fen,
    then failed on CAST(NaN AS BIGINT) with its own overflow error). A missing amount (null)
    next to a whole one still sums: 0.29 + null → 29 fen."""
    t = generated(8, n_cases=0, n_claims=0)
    base = {"claim_id": ["O1", "O2"], "person_id": ["P1", "P2"], "community_id": ["A", "A"],
            "unit_id": ["L1", "L1"], "claim_type": ["general", "general"],
            "service_date": pa.array([pd.Timestamp("2025-05-01").date()] * 2, pa.date32())}
    message = r"金额列.*整分.*NaN/无穷大"  # the words all three engines say
    for i, (bad, kind) in enumerate(((float("nan"), pa.float64()), (float("inf"), pa.float64()),
                                     (float("-inf"), pa.float32()))):
        path = tmp_path / f"op-bad-{i}.parquet"
        money = pa.array([0.29, bad], kind)
        pq.write_table(pa.table({**base, "total_cost": money, "fund_paid": money}), path)
        for engine in (spark, pandas_engine, get_engine("duckdb")):
            with pytest.raises(Exception, match=message):
                engine.expenditure_lines(t["dip_cases"], t["inpatient_cases"], path, t["units"])
    path = tmp_path / "op-null.parquet"
    money = pa.array([0.29, None], pa.float64())
    pq.write_table(pa.table({**base, "total_cost": money, "fund_paid": money}), path)
    got = spark.expenditure_lines(t["dip_cases"], t["inpatient_cases"], path, t["units"])
    assert got.loc[0, "expenditure_outpatient_general"] == 29


def test_empty_tables_equal_pandas(spark, pandas_engine):
    t = generated(5, n_cases=0, n_claims=0)
    expected = _all_scans(pandas_engine, t, t["dip_cases"])
    assert list(expected["indicator_counts"]["scope"]) == ["county"]
    _equal(expected, _all_scans(spark, t, t["dip_cases"]))


def test_batches_cover_the_table_in_order(spark, pandas_engine, tmp_path):
    t = generated(4, n_claims=25)
    path = _partitioned(t["outpatient_claims"], tmp_path / "op", 3)
    columns = ["claim_id", "fund_paid", "referral"]  # referral: absent, its default false
    small = get_engine("spark", batch_rows=4)
    pieces = list(small.batches(path, columns))
    assert max(len(p) for p in pieces) <= 4 and len(pieces) >= 7
    assert_frame_equal(pd.concat(pieces), next(pandas_engine.batches(path, columns)))
    frames = list(small.batches(t["outpatient_claims"], columns))
    assert_frame_equal(pd.concat(frames), next(pandas_engine.batches(t["outpatient_claims"], columns)))


def test_whole_sample_county_settles_the_same_on_spark(spark, county, monkeypatch):
    from settlement.pipeline import settle

    tables, resolved, expected = county
    monkeypatch.setenv("SETTLEMENT_SCAN_ENGINE", "spark")
    got = settle(tables, resolved).tables
    assert set(got) == set(expected)
    for name in expected:
        assert_frame_equal(expected[name], got[name], check_dtype=True, obj=name)


# ------------------------------------------------------------------ DIP scoring on Spark
def test_sample_county_dip_scores_and_unit_points_equal_pandas(spark, pandas_engine, county, tmp_path):
    from test_dip_engines import assert_same_scores

    tables, resolved, settled = county
    args = (tables["inpatient_cases"], tables["units"], tables["dip_groups"],
            tables["dip_reference_costs"], resolved.params.dip)
    dated = resolved.section_segments("dip")
    assert_same_scores(pandas_engine.dip_case_scores(*args, dated=dated),
                       spark.dip_case_scores(*args, dated=dated))
    on_disk = _partitioned(tables["inpatient_cases"], tmp_path / "ip", 2)
    for by in (("unit_id",), ("unit_id", "community_id")):
        expected = pandas_engine.dip_unit_points(*args, dated=dated, by=by)
        for cases in (tables["inpatient_cases"], on_disk):  # a frame, and the cluster path
            got = spark.dip_unit_points(cases, *args[1:], dated=dated, by=by)
            assert_frame_equal(expected.table, got.table, check_dtype=True)
            assert got.problems == expected.problems and got.decimals == expected.decimals
    # Σ of the settled case list, written out: points × 10^4 per unit
    points = settled["dip_cases"].groupby("unit_id", observed=True)["points"].sum()
    table = expected.table.groupby("unit_id", observed=True)["point_units"].sum()
    assert np.array_equal(np.rint(points.reindex(table.index) * 10_000).astype("int64"), table)


def _dip_generated():
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from test_dip_engines import (GENERATED_GROUPS, GENERATED_REFS, UNITS, assert_same_scores,
                                  case_lists, later, params, variants)

    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case_lists(), variants, st.one_of(st.none(), later))
    def check(spark, pandas_engine, cases, variant, mid_year):
        import datetime as dt

        p = params(**variant)
        dated = None if mid_year is None else [
            (dt.date(2025, 1, 1), dt.date(2025, 6, 30), p),
            (dt.date(2025, 7, 1), dt.date(2025, 12, 31), params(**(variant | mid_year)))]
        args = (cases, UNITS, GENERATED_GROUPS, GENERATED_REFS, p)
        assert_same_scores(pandas_engine.dip_case_scores(*args, dated=dated),
                           spark.dip_case_scores(*args, dated=dated))
        a = pandas_engine.dip_unit_points(*args, dated=dated, by=("unit_id", "community_id"))
        b = spark.dip_unit_points(*args, dated=dated, by=("unit_id", "community_id"))
        assert_frame_equal(a.table, b.table, check_dtype=True)
        assert a.problems == b.problems

    return check


def test_generated_dip_cases_score_the_same_on_spark(spark, pandas_engine):
    """Bounds exactly at 0.5 / 2.0 (either inclusivity), unmatched, unknown and zero-reference
    groups, special cases, basic groups, DRG, 0–12 decimals, parameters changing on 1 July:
    the generator of tests/test_dip_engines.py, fewer examples (each is a Spark job)."""
    _dip_generated()(spark, pandas_engine)
