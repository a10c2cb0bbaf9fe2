"""Every scan gives the same frame on every engine (issue 13 §2, §4).

The pandas engine is the reference; the DuckDB engine must return the same columns, dtypes,
row order and values — to the fen — on the sample county, on hypothesis-generated small tables
(money at the edges, empty tables, units without cases, missing values, unknown units), and
with the big tables given as Parquet files instead of frames. Then the whole sample county is
settled with SETTLEMENT_SCAN_ENGINE=pandas and =duckdb, from frames and from Parquet, and the
result tables compared.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from settlement.scan import ENGINES, Window, get_engine, register_engine
from settlement.scan.frames import money_columns
from settlement.scan.pandas_engine import PandasEngine

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "sample-county.yaml"
DATA = ROOT / "sample_data"
ENGINE_NAMES = ["pandas", "duckdb"]
MARCH_TO_MAY = Window(pd.Timestamp("2025-03-01"), pd.Timestamp("2025-06-01"))


@pytest.fixture(scope="module")
def engines():
    return {name: get_engine(name) for name in ENGINE_NAMES}


# ------------------------------------------------------------------ registry
def test_registry_names_the_engines_and_the_environment_picks_the_default(monkeypatch):
    monkeypatch.setenv("SETTLEMENT_SCAN_ENGINE", "pandas")
    assert isinstance(get_engine(), PandasEngine)
    monkeypatch.delenv("SETTLEMENT_SCAN_ENGINE")
    assert get_engine().name == "duckdb"  # the default: DuckDB (benchmarks/bench_scans.py)
    assert {"pandas", "duckdb"} <= set(ENGINES)
    with pytest.raises(KeyError, match="未知的扫描引擎"):
        get_engine("no-such-engine")


def test_a_registered_class_is_what_get_engine_builds():
    @register_engine("pandas-test-copy")
    class Copy(PandasEngine):
        pass

    try:
        assert isinstance(get_engine("pandas-test-copy"), Copy) and Copy.name == "pandas-test-copy"
    finally:
        ENGINES.pop("pandas-test-copy")


def test_duckdb_options_reach_the_connection(tmp_path):
    engine = get_engine("duckdb", memory_limit="512MB", threads=1, temp_directory=tmp_path)
    settings_ = dict(engine.con.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN ('threads', 'memory_limit', "
        "'temp_directory')").fetchall())
    assert settings_["threads"] == "1" and settings_["temp_directory"] == str(tmp_path)
    assert settings_["memory_limit"].startswith(("488", "512"))  # 512 MB shown as MiB


# ------------------------------------------------------------------ the sample county
@pytest.fixture(scope="module")
def county():
    """The sample county's frames, its DIP cases and chronic cohort (pandas reference run)."""
    from settlement.config import load_config, resolve
    from settlement.loader import load_folder

    resolved = resolve(load_config(CONFIG))
    t = load_folder(DATA).tables
    return t, resolved, _settle_with(t, resolved, "pandas")


def _settle_with(t, resolved, engine: str):
    import os

    from settlement.pipeline import settle

    before = os.environ.get("SETTLEMENT_SCAN_ENGINE")
    os.environ["SETTLEMENT_SCAN_ENGINE"] = engine
    try:
        return settle(t, resolved)
    finally:
        if before is None:
            os.environ.pop("SETTLEMENT_SCAN_ENGINE")
        else:
            os.environ["SETTLEMENT_SCAN_ENGINE"] = before


def _cohort(county):
    from settlement.stages.chronic import enrolment

    t, resolved, _ = county
    roster = enrolment(t["chronic_enrollees"], resolved.params.chronic, resolved.year)
    return roster[roster["status"] == "enrolled"]


def contract_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write a frame as the generator writes Parquet: money in yuan (decimal(18, 2)), dates as
    dates — what the loader and the scan engines read back as fen and datetime64."""
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    for name in set(table.column_names) & money_columns():
        yuan = pc.multiply(table[name].cast(pa.decimal128(19, 0)),
                           pa.scalar(Decimal("0.01"), pa.decimal128(3, 2))).cast(pa.decimal128(18, 2))
        table = table.set_column(table.schema.get_field_index(name), name, yuan)
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(i, field.name, table[field.name].cast(pa.date32()))
    pq.write_table(table, path)


@pytest.fixture(scope="module")
def parquet_county(county, tmp_path_factory):
    """The big tables as Parquet: a folder of two hive-style parts each (row order kept)."""
    t, _, result = county
    base = tmp_path_factory.mktemp("parquet")
    paths = {}
    for name in ("inpatient_cases", "outpatient_claims"):
        frame = t[name].reset_index(drop=True)
        half = len(frame) // 2
        for i, part in enumerate((frame.iloc[:half], frame.iloc[half:])):
            folder = base / name / f"part={i}"
            folder.mkdir(parents=True)
            contract_parquet(part, folder / "part-0.parquet")
        paths[name] = base / name
    result.tables["dip_cases"].to_parquet(base / "dip_cases.parquet", index=False)
    paths["dip_cases"] = base / "dip_cases.parquet"
    return paths


def _scans(t: dict, dip_cases, cohort, window=None):
    """(name, call(engine)) of every scan method on these inputs."""
    ip, op, units, ref = t["inpatient_cases"], t["outpatient_claims"], t["units"], \
        t.get("dip_reference_costs")
    return {
        "expenditure_lines": lambda e: e.expenditure_lines(dip_cases, ip, op, units, window=window),
        "indicator_counts": lambda e: e.indicator_counts(ip, op, units, ref, window=window),
        "indicator_counts_no_persons": lambda e: e.indicator_counts(ip, op, units, ref, window=window,
                                                                    persons=False),
        "outpatient_at_home": lambda e: e.outpatient_at_home(op, units, window=window),
        "cohort_items": lambda e: e.cohort_items(cohort, ip, op, units, dip_cases),
        "cohort_items_no_dip": lambda e: e.cohort_items(cohort, ip, None, units),
        # the reference reduces cohort_items; DuckDB answers with one aggregate query
        "cohort_totals": lambda e: e.cohort_totals(cohort, ip, op, units, dip_cases),
        "cohort_totals_no_dip": lambda e: e.cohort_totals(cohort, ip, None, units),
    }


@pytest.mark.parametrize("window", [None, MARCH_TO_MAY], ids=["year", "window"])
def test_every_scan_is_the_same_on_the_sample_county(engines, county, window):
    t, _, result = county
    for name, scan in _scans(t, result.tables["dip_cases"], _cohort(county), window).items():
        reference = scan(engines["pandas"])
        assert len(reference), name  # the sample county has rows for every scan
        assert_frame_equal(scan(engines["duckdb"]), reference, check_dtype=True, obj=name)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_parquet_inputs_give_the_frames_results(engines, county, parquet_county, engine):
    t, _, result = county
    on_disk = {**t, **{k: v for k, v in parquet_county.items() if k != "dip_cases"}}
    cohort = _cohort(county)
    expected = _scans(t, result.tables["dip_cases"], cohort)
    for window in (None, MARCH_TO_MAY):
        got = _scans(on_disk, parquet_county["dip_cases"], cohort, window)
        want = _scans(t, result.tables["dip_cases"], cohort, window) if window else expected
        for name, scan in got.items():
            assert_frame_equal(scan(engines[engine]), want[name](engines["pandas"]),
                               check_dtype=True, obj=f"{engine} {name}")


def test_audit_batches_give_the_one_pass_listing(county, parquet_county):
    """The audit per batch of 1,000 rows (DuckDB, frames and Parquet) = the whole table at once."""
    from settlement.stages.audit import audit_claims

    t, resolved, _ = county
    params = resolved.params.reimbursement
    whole = audit_claims(t["inpatient_cases"], t["outpatient_claims"], t["units"], params,
                         engine="pandas")
    small = get_engine("duckdb", batch_rows=1_000)
    assert len(whole.claims) > 0
    for ip, op in ((t["inpatient_cases"], t["outpatient_claims"]),
                   (parquet_county["inpatient_cases"], parquet_county["outpatient_claims"])):
        batched = audit_claims(ip, op, t["units"], params, engine=small)
        assert batched.audited == whole.audited
        assert_frame_equal(batched.claims, whole.claims, check_dtype=True)
        assert_frame_equal(batched.totals, whole.totals, check_dtype=True)


def test_parquet_money_is_yuan_and_becomes_exact_fen(engines, tmp_path):
    """A claim of 1,632.01 元 in Parquet (decimal) is 163,201 fen on every engine; a float
    column of 0.29 元 (0.29 × 100 = 28.999… in binary) still gives 29 fen."""
    claims = pd.DataFrame({"claim_id": ["O1", "O2"], "community_id": ["C1", "C1"],
                           "claim_type": ["general", "general"], "unit_id": ["L1", "L1"]})
    table = pa.Table.from_pandas(claims, preserve_index=False).append_column(
        "fund_paid", pa.array([Decimal("1632.01"), Decimal("0.29")], pa.decimal128(18, 2)))
    pq.write_table(table, tmp_path / "decimal.parquet")
    pq.write_table(table.set_column(4, "fund_paid", pa.array([1632.01, 0.29])),
                   tmp_path / "float.parquet")
    for name in ("decimal", "float"):
        for engine in engines.values():
            lines = engine.expenditure_lines(NO_DIP, NO_CASES, tmp_path / f"{name}.parquet", UNITS)
            assert lines["expenditure_outpatient_general"].tolist() == [163_201 + 29], (name, engine)


def test_parquet_float_money_that_is_not_whole_fen_is_refused(engines, tmp_path):
    """A float money column is taken only when each value is exactly a whole number of fen
    (the loader's rule): 0.125 元 is refused by every engine, never rounded to 13 fen."""
    claims = pd.DataFrame({"claim_id": ["O1"], "community_id": ["C1"],
                           "claim_type": ["general"], "unit_id": ["L1"], "fund_paid": [0.125]})
    pq.write_table(pa.Table.from_pandas(claims, preserve_index=False), tmp_path / "sub_fen.parquet")
    for engine in engines.values():
        with pytest.raises(Exception, match="整分"):
            engine.expenditure_lines(NO_DIP, NO_CASES, tmp_path / "sub_fen.parquet", UNITS)


# ------------------------------------------------------------------ whole settlement
def _same_tables(a, b):
    assert list(a.tables) == list(b.tables)
    for name in a.tables:
        assert_frame_equal(a.tables[name].reset_index(drop=True),
                           b.tables[name].reset_index(drop=True), check_dtype=True, obj=name)
    assert [p.as_dict() for p in a.problems] == [p.as_dict() for p in b.problems]


def test_sample_county_settles_identically_on_pandas_and_duckdb(county):
    t, resolved, _ = county
    _same_tables(_settle_with(t, resolved, "duckdb"), _settle_with(t, resolved, "pandas"))


def test_sample_county_settles_identically_from_parquet(county, parquet_county):
    t, resolved, _ = county
    reference = _settle_with(t, resolved, "pandas")
    on_disk = {**t, "inpatient_cases": parquet_county["inpatient_cases"],
               "outpatient_claims": parquet_county["outpatient_claims"]}
    for engine in ENGINE_NAMES:
        _same_tables(_settle_with(on_disk, resolved, engine), reference)


# ------------------------------------------------------------------ generated tables
UNITS = pd.DataFrame({
    "unit_id": pd.array(["L1", "T1", "V1", "L2", "H9", "X1", "X2", "X3", "N1"], dtype="string"),
    "community_id": pd.array(["C1", "C1", "C1", "C2", None, None, None, None, "C2"], dtype="string"),
    "category": pd.array(["lead_hospital", "township_center", "village_clinic", "lead_hospital",
                          "county_hospital", "external", "external", "external", "private"],
                         dtype="string"),
    "level": pd.array(["secondary", "primary", "unrated", "tertiary", "secondary", "tertiary",
                       None, "secondary", "unrated"], dtype="string"),
    "scope": pd.array(["county", "county", "county", "county", "county", "city", "province",
                       None, "national"], dtype="string"),
})  # N1: a member with no case in most examples; X3: an outside unit without a scope
UNIT_IDS = [*UNITS["unit_id"], "ZZ", None]  # ZZ: not in units
COMMUNITIES = ["C1", "C2", "C3", None]
PERSONS = ["P1", "P2", "P3", "P4", None]
MONEY = st.one_of(st.integers(-10**6, 10**6), st.sampled_from([0, 1, -1, 10**15, 9 * 10**14]))
DAYS = pd.date_range("2024-12-20", "2026-01-10", freq="D")
REFERENCE = pd.DataFrame({"group_code": pd.array(["G1", "G1", "G2", "G2"], dtype="string"),
                          "level": pd.array(["secondary", "tertiary", "secondary", "primary"],
                                            dtype="string"),
                          "avg_cost": np.array([500_000, 800_000, 0, 120_000], dtype="int64")})


@st.composite
def tables(draw):
    n_ip, n_op = draw(st.integers(0, 25)), draw(st.integers(0, 25))

    def col(strategy, n):
        return [draw(strategy) for _ in range(n)]

    discharge = [None if d is None else DAYS[d] for d in col(st.none() | st.integers(0, len(DAYS) - 1), n_ip)]
    stay = col(st.none() | st.integers(-2, 40), n_ip)
    admission = [None if d is None or s is None else d - pd.Timedelta(days=s)
                 for d, s in zip(discharge, stay)]
    ip = pd.DataFrame({
        "case_id": pd.array([f"I{i}" for i in range(n_ip)], dtype="string"),
        "person_id": pd.array(col(st.sampled_from(PERSONS), n_ip), dtype="string"),
        "community_id": pd.array(col(st.sampled_from(COMMUNITIES), n_ip), dtype="string"),
        "unit_id": pd.array(col(st.sampled_from(UNIT_IDS), n_ip), dtype="string"),
        "admission_date": pd.to_datetime(pd.Series(admission, dtype="object")).astype("datetime64[ns]"),
        "discharge_date": pd.to_datetime(pd.Series(discharge, dtype="object")).astype("datetime64[ns]"),
        "dip_group": pd.array(col(st.sampled_from(["G1", "G2", "G3", None]), n_ip), dtype="string"),
        "total_cost": np.array(col(MONEY, n_ip), dtype="int64"),
        "fund_paid": np.array(col(MONEY, n_ip), dtype="int64"),
        "referral": np.array(col(st.booleans(), n_ip), dtype=bool),
        "childbirth": np.array(col(st.booleans(), n_ip), dtype=bool),
        "referral_from_unit_id": pd.array(col(st.sampled_from(UNIT_IDS), n_ip), dtype="string"),
    })
    op = pd.DataFrame({
        "claim_id": pd.array([f"O{i}" for i in range(n_op)], dtype="string"),
        "person_id": pd.array(col(st.sampled_from(PERSONS), n_op), dtype="string"),
        "community_id": pd.array(col(st.sampled_from(COMMUNITIES), n_op), dtype="string"),
        "unit_id": pd.array(col(st.sampled_from(UNIT_IDS), n_op), dtype="string"),
        "service_date": pd.Series([DAYS[d] for d in col(st.integers(0, len(DAYS) - 1), n_op)],
                                  dtype="datetime64[ns]"),
        "claim_type": pd.array(col(st.sampled_from(["general", "chronic_special", "two_diseases",
                                                    "other", None]), n_op), dtype="string"),
        "total_cost": np.array(col(MONEY, n_op), dtype="int64"),
        "fund_paid": np.array(col(MONEY, n_op), dtype="int64"),
    })
    settled = [i for i in range(n_ip) if draw(st.booleans())]  # DIP rows for some cases only
    dip = pd.DataFrame({
        "case_id": ip["case_id"].iloc[settled].reset_index(drop=True),
        "unit_id": pd.Categorical(ip["unit_id"].iloc[settled].to_numpy(dtype=object, na_value=None)),
        "community_id": pd.Categorical(ip["community_id"].iloc[settled].to_numpy(dtype=object,
                                                                                  na_value=None)),
        "fund_due": np.array(col(MONEY, len(settled)), dtype="int64"),
    })
    n_k = draw(st.integers(0, 4))
    start = [DAYS[draw(st.integers(0, 300))] for _ in range(n_k)]
    cohort = pd.DataFrame({
        "person_id": pd.array(col(st.sampled_from(PERSONS[:-1]), n_k), dtype="string"),
        "community_id": pd.array(col(st.sampled_from(COMMUNITIES[:-1]), n_k), dtype="string"),
        "period_start": pd.Series(start, dtype="datetime64[ns]"),
        "period_end": pd.Series([s + pd.Timedelta(days=draw(st.integers(0, 200))) for s in start],
                                dtype="datetime64[ns]"),
    })
    return {"inpatient_cases": ip, "outpatient_claims": op, "units": UNITS,
            "dip_reference_costs": REFERENCE}, dip, cohort


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.sampled_from([None, MARCH_TO_MAY]))
def test_generated_tables_scan_the_same(engines, generated, window):
    t, dip, cohort = generated
    for name, scan in _scans(t, dip, cohort, window).items():
        assert_frame_equal(scan(engines["duckdb"]), scan(engines["pandas"]), check_dtype=True,
                           obj=name)


IP_DTYPES = {"case_id": "string", "person_id": "string", "community_id": "string",
             "unit_id": "string", "admission_date": "datetime64[ns]",
             "discharge_date": "datetime64[ns]", "dip_group": "string", "total_cost": "int64",
             "fund_paid": "int64", "referral": "bool", "childbirth": "bool",
             "referral_from_unit_id": "string"}
NO_CASES = pd.DataFrame({c: pd.Series(dtype=d) for c, d in IP_DTYPES.items()})
NO_DIP = pd.DataFrame({"case_id": pd.array([], dtype="string"), "unit_id": pd.Categorical([]),
                       "community_id": pd.Categorical([]), "fund_due": np.array([], "int64")})


def test_empty_tables_give_empty_frames_of_the_same_shape(engines):
    op = pd.DataFrame({c: pd.Series(dtype=d) for c, d in {
        "claim_id": "string", "person_id": "string", "community_id": "string", "unit_id": "string",
        "service_date": "datetime64[ns]", "claim_type": "string", "total_cost": "int64",
        "fund_paid": "int64"}.items()})
    t = {"inpatient_cases": NO_CASES, "outpatient_claims": op, "units": UNITS,
         "dip_reference_costs": REFERENCE}
    dip = NO_DIP
    cohort = pd.DataFrame({"person_id": pd.array(["P1"], dtype="string"),
                           "community_id": pd.array(["C1"], dtype="string"),
                           "period_start": pd.Series([pd.Timestamp("2025-01-01")], dtype="datetime64[ns]"),
                           "period_end": pd.Series([pd.Timestamp("2025-12-31")], dtype="datetime64[ns]")})
    for name, scan in _scans(t, dip, cohort).items():
        reference = scan(engines["pandas"])
        assert len(reference) == (1 if name.startswith("indicator_counts") else 0), name  # county row only
        assert_frame_equal(scan(engines["duckdb"]), reference, check_dtype=True, obj=name)


def test_money_sums_stay_exact_beyond_float_precision(engines):
    """Two claims of 2⁵³ + 1 fen each: a float sum would lose the odd fen; both engines keep it."""
    big = 2**53 + 1
    op = pd.DataFrame({"claim_id": pd.array(["O1", "O2"], dtype="string"),
                       "person_id": pd.array(["P1", "P2"], dtype="string"),
                       "community_id": pd.array(["C1", "C1"], dtype="string"),
                       "unit_id": pd.array(["L1", "X1"], dtype="string"),
                       "service_date": pd.Series(pd.to_datetime(["2025-01-02"] * 2), dtype="datetime64[ns]"),
                       "claim_type": pd.array(["general", "general"], dtype="string"),
                       "total_cost": np.array([big, big], "int64"),
                       "fund_paid": np.array([big, big], "int64")})
    ip, dip = NO_CASES, NO_DIP
    for engine in engines.values():
        lines = engine.expenditure_lines(dip, ip, op, UNITS).set_index("community_id")
        assert lines.loc["C1", "expenditure_outpatient_general"] == 2 * big  # 18014398509481986
        counts = engine.indicator_counts(ip, op, UNITS).set_index("scope")
        assert counts.loc["C1", "fund_in"] == big and counts.loc["county", "fund_all"] == 2 * big
        home = engine.outpatient_at_home(op, UNITS).set_index("community_id")
        assert (home.loc["C1", "fund_at_own_units"], home.loc["C1", "fund_elsewhere"]) == (big, big)


def test_every_duckdb_connection_has_a_memory_limit_and_a_spill_folder(monkeypatch, tmp_path):
    """DuckDB's own default (80 % of the machine) would let a key check over millions of
    claims take gigabytes: the engine and the validation's checks are both capped."""
    from settlement.validation.sql_checks import Tables

    monkeypatch.setenv("SETTLEMENT_DUCKDB_MEMORY_LIMIT", "300MB")
    for con in (get_engine("duckdb", threads=1, batch_rows=777).con, Tables({}).con):
        found = dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name IN "
                                 "('memory_limit', 'temp_directory')").fetchall())
        assert found["memory_limit"].startswith(("286", "300")), found  # 300 MB shown as MiB
        assert found["temp_directory"].endswith("settlement-duckdb")
