"""The month is one more grouping key of the same scans (issue 10, "do not write a second scan
layer"): ``indicator_counts_by_period`` / ``expenditure_lines_by_period`` give, per period,
exactly the single-window scan's rows, on every engine, and ``case_flows`` (cases and fund paid
per treating unit × DIP group, the bulletin's 外转去向 and 外转病种) is the same everywhere.

Hand-built inputs (below) state the expected numbers; the sample county and its big tables as
Parquet check the engines against the pandas reference, to the fen.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from settlement.scan import (CASE_FLOW_COLUMNS, EXPENDITURE_SCAN_COLUMNS, INDICATOR_SCAN_COLUMNS,
                             Window, get_engine)
from test_scan_engines import contract_parquet

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ["pandas", "duckdb"]
T = pd.Timestamp
#: overlapping periods as the bulletin asks for them, one of them empty
PERIODS = {"month": Window(T("2025-03-01"), T("2025-04-01")),
           "quarter": Window(T("2025-01-01"), T("2025-04-01")),
           "last_month": Window(T("2025-02-01"), T("2025-03-01")),
           "nothing": Window(T("2026-01-01"), T("2026-02-01"))}

UNITS = pd.DataFrame({
    "unit_id": pd.array(["U1", "X1", "X2"], dtype="string"),
    "unit_name": ["乡镇卫生院", "省医院", "县民营医院"],
    "community_id": pd.array(["C1", pd.NA, pd.NA], dtype="string"),
    "category": pd.array(["township_center", "external", "private"], dtype="string"),
    "scope": pd.array(["county", "province", "county"], dtype="string"),
    "level": pd.array(["primary", "tertiary", "secondary"], dtype="string"),
    "member": [True, False, False]})


def hand_cases() -> pd.DataFrame:
    """Five cases of community C1: two at the member U1 (G1), one at the provincial X1 (G1),
    one at X1 without a group, one at an unknown unit ZZ (G2); dates on the windows' bounds."""
    return pd.DataFrame({
        "case_id": pd.array(["K1", "K2", "K3", "K4", "K5"], dtype="string"),
        "person_id": pd.array(["P1", "P2", "P1", "P3", "P2"], dtype="string"),
        "community_id": pd.array(["C1"] * 5, dtype="string"),
        "unit_id": pd.array(["U1", "U1", "X1", "X1", "ZZ"], dtype="string"),
        "admission_date": pd.to_datetime(["2025-02-25", "2025-03-28", "2025-03-01", "2025-01-30",
                                          "2025-03-20"]),
        "discharge_date": pd.to_datetime(["2025-03-01", "2025-04-01", "2025-03-31", "2025-02-28",
                                          "2025-03-25"]),
        "dip_group": pd.array(["G1", "G1", "G1", pd.NA, "G2"], dtype="string"),
        "total_cost": np.array([20_000, 30_000, 90_000, 50_000, 8_000], dtype="int64"),
        "fund_paid": np.array([10_000, 20_000, 60_000, 40_000, 5_000], dtype="int64"),
        "referral": [False] * 5, "childbirth": [False] * 5,
        "referral_from_unit_id": pd.array([pd.NA] * 5, dtype="string")})


def hand_claims() -> pd.DataFrame:
    return pd.DataFrame({
        "claim_id": pd.array(["O1", "O2", "O3"], dtype="string"),
        "person_id": pd.array(["P1", "P4", "P4"], dtype="string"),
        "community_id": pd.array(["C1", "C1", "C1"], dtype="string"),
        "unit_id": pd.array(["U1", "U1", "X2"], dtype="string"),
        "service_date": pd.to_datetime(["2025-03-31", "2025-02-01", "2025-03-15"]),
        "claim_type": pd.array(["general", "general", "chronic_special"], dtype="string"),
        "total_cost": np.array([3_000, 2_000, 9_000], dtype="int64"),
        "fund_paid": np.array([2_000, 1_500, 7_000], dtype="int64")})


def hand_dip() -> pd.DataFrame:
    return pd.DataFrame({"case_id": pd.array(["K1", "K2"], dtype="string"),
                         "unit_id": pd.array(["U1", "U1"], dtype="string"),
                         "community_id": pd.array(["C1", "C1"], dtype="string"),
                         "fund_due": np.array([12_345, 6_789], dtype="int64")})


@pytest.fixture(scope="module")
def county():
    from settlement.config import load_config, resolve
    from settlement.loader import load_folder
    from settlement.pipeline import settle

    t = load_folder(ROOT / "sample_data").tables
    resolved = resolve(load_config(ROOT / "configs" / "sample-county.yaml"))
    return t, settle(t, resolved).tables["dip_cases"]


def _each_window(engine, ip, op, units, dip, periods):
    """The reference: the single-window scans, one per period, stacked with their period."""
    ind = pd.concat([engine.indicator_counts(ip, op, units, window=w).assign(period=p)
                     for p, w in periods.items()], ignore_index=True)
    exp = pd.concat([engine.expenditure_lines(dip, ip, op, units, window=w).assign(period=p)
                     for p, w in periods.items()], ignore_index=True)
    return (ind[["period", *INDICATOR_SCAN_COLUMNS]].astype({"period": "string"}),
            exp[["period", *EXPENDITURE_SCAN_COLUMNS]].astype({"period": "string"}))


def _by_period(engine, ip, op, units, dip, periods):
    return (engine.indicator_counts_by_period(ip, op, units, windows=periods),
            engine.expenditure_lines_by_period(dip, ip, op, units, windows=periods))


@pytest.mark.parametrize("name", ENGINES)
def test_hand_built_periods_are_the_windows_scans(name):
    engine = get_engine(name)
    args = (hand_cases(), hand_claims(), UNITS, hand_dip(), PERIODS)
    ind, exp = _by_period(engine, *args)
    ref_ind, ref_exp = _each_window(get_engine("pandas"), *args)
    assert_frame_equal(ind, ref_ind, check_dtype=True)
    assert_frame_equal(exp, ref_exp, check_dtype=True)
    county = ind.loc[ind["scope"] == "county"].set_index("period")
    # March: K1 (1 Mar) and K3 (31 Mar) and K5; K2 left on 1 April (the bound is exclusive)
    assert county.loc["month", "ip_all"] == 3 and county.loc["quarter", "ip_all"] == 4
    # persons in March: P1 (K1, K3, O1), P2 (K5), P4 (O3) = 3; in the quarter P3 too = 4
    assert county.loc["month", "persons_all"] == 3 and county.loc["quarter", "persons_all"] == 4
    assert county.drop(columns="scope").loc["nothing"].sum() == 0
    lines = exp.set_index("period")
    # DIP fund due by the case's discharge date: K1 in March (123.45), K2 in April (none)
    assert lines.loc["month", "expenditure_dip"] == 12_345
    assert lines.loc["month", "expenditure_external_province"] == 60_000  # K3 at X1
    assert lines.loc["month", "expenditure_external_national"] == 5_000  # K5 at unknown ZZ
    assert "nothing" not in set(lines.index)  # no row in an empty window, as its own scan


@pytest.mark.parametrize("name", ENGINES)
def test_case_flows_of_hand_built_cases(name):
    flows = get_engine(name).case_flows(hand_cases(), window=PERIODS["quarter"])
    # Q1 (1 Jan – 31 Mar): K1 U1/G1 100.00, K3 X1/G1 600.00, K4 X1/<NA> 400.00, K5 ZZ/G2 50.00
    expected = pd.DataFrame({"unit_id": pd.array(["U1", "X1", "X1", "ZZ"], dtype="string"),
                             "dip_group": pd.array(["G1", "G1", pd.NA, "G2"], dtype="string"),
                             "cases": np.array([1, 1, 1, 1], dtype="int64"),
                             "fund_paid": np.array([10_000, 60_000, 40_000, 5_000], dtype="int64")})
    assert_frame_equal(flows, expected[CASE_FLOW_COLUMNS], check_dtype=True)
    whole = get_engine(name).case_flows(hand_cases())
    assert whole.loc[0, "cases"] == 2 and whole.loc[0, "fund_paid"] == 30_000  # K1 + K2 at U1/G1


def test_sample_county_periods_on_every_engine(county):
    from settlement.monthly.bulletin_tables import scan_windows, windows

    t, dip = county
    periods = scan_windows(windows("2025-06"))
    args = (t["inpatient_cases"], t["outpatient_claims"], t["units"], dip, periods)
    ref = _each_window(get_engine("pandas"), *args)
    assert len(ref[0]) > len(periods)  # rows in every period of the sample year
    for name in ENGINES:
        for got, want in zip(_by_period(get_engine(name), *args), ref):
            assert_frame_equal(got, want, check_dtype=True, obj=name)
        assert_frame_equal(get_engine(name).case_flows(t["inpatient_cases"], window=periods["ytd"]),
                           get_engine("pandas").case_flows(t["inpatient_cases"], window=periods["ytd"]))


def test_parquet_paths_give_the_frames_periods(county, tmp_path):
    t, dip = county
    ip, op = tmp_path / "inpatient_cases.parquet", tmp_path / "outpatient_claims.parquet"
    contract_parquet(t["inpatient_cases"], ip)
    contract_parquet(t["outpatient_claims"], op)
    for name in ENGINES:
        engine = get_engine(name)
        for got, want in zip(_by_period(engine, ip, op, t["units"], dip, PERIODS),
                             _by_period(engine, t["inpatient_cases"], t["outpatient_claims"],
                                        t["units"], dip, PERIODS)):
            assert_frame_equal(got, want, check_dtype=True, obj=name)
        assert_frame_equal(engine.case_flows(ip, window=PERIODS["month"]),
                           engine.case_flows(t["inpatient_cases"], window=PERIODS["month"]))


# ------------------------------------------------------------------ Spark (the cluster path)
def _spark_missing() -> str:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark 未安装 / pyspark is not installed"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "没有 Java 运行环境 / no Java runtime"
    return ""


SPARK_MISSING = _spark_missing()
if SPARK_MISSING and os.environ.get("SETTLEMENT_REQUIRE_SPARK") == "1":
    raise RuntimeError(f"SETTLEMENT_REQUIRE_SPARK=1 but {SPARK_MISSING}")


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
@pytest.mark.skipif(bool(SPARK_MISSING), reason=SPARK_MISSING)
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")
def test_spark_periods_and_case_flows_equal_pandas():
    spark, reference = get_engine("spark", shuffle_partitions=2), get_engine("pandas")
    args = (hand_cases(), hand_claims(), UNITS, hand_dip(), PERIODS)
    for got, want in zip(_by_period(spark, *args), _by_period(reference, *args)):
        assert_frame_equal(got, want, check_dtype=True)
    for window in (None, PERIODS["quarter"], PERIODS["nothing"]):
        assert_frame_equal(spark.case_flows(hand_cases(), window=window),
                           reference.case_flows(hand_cases(), window=window), check_dtype=True)


def test_periods_scan_stays_within_duckdbs_memory_limit(tmp_path):
    """Regression (scale-10 CSV month run: "Out of Memory 486.8/488.2 MiB"): the distinct persons
    of several periods are counted one bounded query per window, not with a period key that
    holds every period's (community, person) pairs at once. 1 M claims of 333 k persons under a
    48 MB limit: the old one-query form failed here; the counts equal the single-window scan's."""
    n, rng = 1_000_000, np.random.default_rng(7)
    claims = pd.DataFrame({
        "claim_id": pd.array([f"O{i}" for i in range(n)], dtype="string"),
        "person_id": pd.array([f"P{i}" for i in rng.integers(0, n // 3, n)], dtype="string"),
        "community_id": pd.array(["C1"] * n, dtype="string"),
        "unit_id": pd.array(np.where(rng.random(n) < 0.5, "U1", "X2"), dtype="string"),
        "service_date": T("2025-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
        "claim_type": pd.array(["general"] * n, dtype="string"),
        "total_cost": rng.integers(100, 10_000, n), "fund_paid": rng.integers(50, 5_000, n)})
    contract_parquet(claims, tmp_path / "claims.parquet")
    periods = {**PERIODS, "ytd": Window(T("2025-01-01"), T("2026-01-01"))}
    small = get_engine("duckdb", memory_limit="48MB", temp_directory=str(tmp_path / "spill"), threads=1)
    got = small.indicator_counts_by_period(hand_cases(), tmp_path / "claims.parquet", UNITS,
                                           windows=periods)
    ytd = got.loc[(got["period"] == "ytd") & (got["scope"] == "county")].iloc[0]
    persons = set(claims["person_id"]) | set(hand_cases()["person_id"])  # all dated in 2025
    assert ytd["op_all"] == n and ytd["persons_all"] == len(persons)
    single = get_engine("duckdb").indicator_counts(hand_cases(), tmp_path / "claims.parquet", UNITS,
                                                   window=periods["month"])
    assert_frame_equal(got.loc[got["period"] == "month"].drop(columns="period").reset_index(drop=True),
                       single)
