"""The run store: migrations, one-transaction results, exact fen, closing and superseding periods.

Every test runs on SQLite (a file in tmp_path) and on PostgreSQL when SETTLEMENT_TEST_PG_URL
is set (``.ci/run`` starts one on loopback); each PostgreSQL test gets its own schema, so the
suite can run in parallel workers.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import settlement.store.runs as runs_module
from settlement.cli import main
from settlement.store import (RESULT_SPECS, PeriodClosed, RunMeta, RunNotFound, RunStore, StoreError,
                              write_manifest)
from settlement.store.db import head_revision
from settlement.store.tables import metadata

PG_URL = os.environ.get("SETTLEMENT_TEST_PG_URL")
RESULT_NAMES = set(RESULT_SPECS)


# ------------------------------------------------------------------ fixtures
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'settlement.db'}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set SETTLEMENT_TEST_PG_URL "
                    "(.ci/run starts a local server and sets it)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def store(db_url):
    with RunStore.open(db_url) as s:
        s.upgrade()
        yield s


def meta(county="示例县", year=2025, scenario="base") -> RunMeta:
    return RunMeta(county=county, year=year, scenario=scenario, config_sha256="c" * 64,
                   input_hashes={"communities.csv": "a" * 64, "units.csv": "b" * 64},
                   input_rows={"communities": 2, "units": 3}, config_path="configs/sample-county.yaml",
                   data_dir="sample_data")


def s(*values) -> pd.Series:
    return pd.Series(values, dtype="string")


def result_tables() -> dict[str, pd.DataFrame]:
    """One small frame per result table; rows deliberately not in key order."""
    return {
        "dip_cases": pd.DataFrame({
            "case_id": s("C2", "C1", "C3"), "unit_id": s("U1", "U1", "U2"), "community_id": s("G1", "G1", "G1"),
            "dip_group": s("A01", "A02", None), "ratio": [1.0, 0.3, np.nan],
            "case_class": s("normal", "low", "unmatched"), "base_score": [100.0, 50.5, np.nan],
            "coefficient": [1.05, 1.05, 0.95], "points": [105.0, 15.9075, 12.5],
            "gross_value": np.array([1_037_033, 157_110, 123_456], dtype="int64"),
            "fund_due": np.array([900_000, 100_000, -5], dtype="int64")}),
        "dip_units": pd.DataFrame({
            "unit_id": s("U1"), "cases": [2], "points": [120.9075], "point_value": s("9.8765"),  # exact text
            "gross_value": [1_194_143], "self_pay": [100_000], "violation_deduction": [0], "fund_due": [1_094_143],
            "withheld": [54_707], "returned": [54_707], "fund_paid": [1_000_000], "prepaid": [900_000],
            "balance": [194_143], "at_cost": [0]}),
        "community_settlement": pd.DataFrame({
            "community_id": s("G1"), **{c: [i * 1_000_001] for i, c in enumerate(
                ["financing", "available", "reserve", "package", "expenditure_dip",
                 "expenditure_dip_rounding", "expenditure_external",
                 "expenditure_outpatient", "expenditure_other", "expenditure", "balance", "surplus_retained",
                 "surplus_returned", "overrun_fund_share", "overrun_community_share"])},
            "community_score": [92.5], "community_coefficient": [1.0]}),
        "unit_distribution": pd.DataFrame({
            "unit_id": s("U2", "U1"), "community_id": s("G1", "G1"), "tier": s("乡镇卫生院", "牵头医院"),
            "weight": [0.25, 0.75], "performance_coefficient": [0.9, 1.0],
            "surplus_share": [250, 750], "overrun_share": [0, 0]}),
        "chronic_settlement": pd.DataFrame({
            "community_id": s("G1"), "enrollees": [120], "person_months": [1_380], "budget": [4_140_000],
            "spend": [3_900_000], "balance": [240_000], "retained": [240_000], "fund_share": [0],
            "community_share": [0], "surplus_returned": [0], "spend_dip": [3_000_000],
            "spend_external": [400_000], "spend_outpatient": [500_000]}),
        "public_health_allocation": pd.DataFrame({
            "pool": s("basic", "basic", "two_diseases"), "unit_id": s("V1", "T1", "T1"),
            "tier": s("村卫生室", "乡镇卫生院", "乡镇卫生院"), "work_points": [10.5, 30.0, 5.0],
            "quality_coefficient": [1.0, 0.9, 0.9], "weight": [10.5, 27.0, 4.5],
            "allocation": [280_000, 720_000, 50_000], "prepaid": [200_000, 700_000, 0],
            "balance": [80_000, 20_000, 50_000]}),
        "indicators": pd.DataFrame({  # one scope and indicator in two periods (revision 0008)
            "scope": s("county", "G1", "G1"), "period": s("2025", "2025", "2025-03"),
            "indicator": s("in_county_visit_rate", "in_county_visit_rate", "in_county_visit_rate"),
            "label_zh": s("县域内就诊率", "县域内就诊率", "县域内就诊率"), "numerator": [880.0, 440.0, 40.0],
            "denominator": [1000.0, 500.0, 50.0], "value": [0.88, 0.88, 0.8], "target": [0.85, np.nan, 0.85],
            "met": pd.array([True, None, False], dtype="boolean")}),
        "public_health_plan": pd.DataFrame({  # a unit's two quarters and a payment naming none
            "pool": s("basic", "basic", "basic"), "community_id": s("G1", "G1", "G1"),
            "unit_id": s("V1", "V1", "V1"), "tier": s("village", "village", None),
            "quarter": s("2025Q1", "2025Q2", ""), "quarter_pool": [250_001, 250_000, 0],
            "planned": [100_001, 100_000, 0], "prepaid": [100_001, 90_000, 5_000],
            "difference": [0, -10_000, 5_000], "basis": s("上年度考核加权工分", "2025 年第 1 季度考核加权工分", "无预拨方案"),
            "explanation": s("按方案计为已预拨", "实际预拨 900.00 元", "无预拨方案，实际预拨 50.00 元")}),
        "unit_statement": pd.DataFrame({
            "unit_id": s("U1", "U1", "U1"), "line": s("dip_balance", "surplus_share", "net"),
            "label_zh": s("DIP 清算差额", "结余分配", "净额"), "amount": [194_143, 750, 194_893],
            "explanation": s("1,094,143 分 − 900,000 分", "=公式不是公式", None),
            "payer": s("fund", "community", "")}),  # the net line has no payer of its own
        "ledger": pd.DataFrame({
            "community_id": s("G1", "G1", "G1"), "line": s("package", "expenditure", "surplus_retained"),
            "label_zh": s("打包额", "支出", "结余留用"), "amount": [1_000, -900, -100]}),
        "claims_audit": claims_audit_frame(),
    }


def claims_audit_frame() -> pd.DataFrame:
    """Three flagged rows: claim C1 breaks two rules (its rows add up to its difference), and
    an outpatient claim shares the id C1 of an inpatient case (separate id spaces)."""
    # C1: policy 8,000.00, expected deductible 200.00 at 85 % → 6,630.00; applied 300.00 at 80 %
    # → 6,160.00: −470.00, split: deductible part (300 − 200) × 85 % = −85.00, ratio part −385.00
    return pd.DataFrame({
        "claim_id": s("C1", "C1", "C1"), "unit_id": s("U1", "U1", "V1"),
        "community_id": s("G1", "G1", None), "rule": s("ratio_table", "referral_up_deductible", "ratio_table"),
        "rule_zh": s("报销比例与比例表不符（按机构范围和等级）", "医共体内上转，起付线应只补交差额（合并计算起付线）",
                     "报销比例与比例表不符（按机构范围和等级）"),
        "applied_ratio": [0.80, 0.80, 0.70], "expected_ratio": [0.85, 0.85, 0.60],
        "applied_deductible": np.array([30_000, 30_000, 0], dtype="int64"),
        "expected_deductible": np.array([20_000, 20_000, 0], dtype="int64"),
        "fund_paid": np.array([616_000, 616_000, 7_000], dtype="int64"),
        "expected_fund_paid": np.array([663_000, 663_000, 6_000], dtype="int64"),
        "difference": np.array([-38_500, -8_500, 1_000], dtype="int64"),  # 100.00 × 10 points
        "claim_kind": s("inpatient", "inpatient", "outpatient"),
        "policy_cost": np.array([800_000, 800_000, 10_000], dtype="int64")})


def result_row_counts(store: RunStore, run_id: str) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {name: conn.execute(sa.text(f"SELECT count(*) FROM {name} WHERE run_id = :r"),
                                   {"r": run_id}).scalar_one() for name in RESULT_SPECS}


# ------------------------------------------------------------------ migrations
def test_upgrade_from_empty_creates_every_table(db_url):
    with RunStore.open(db_url) as store:
        assert store.current_revision() is None
        assert store.upgrade() == (None, head_revision())
        names = set(sa.inspect(store.engine).get_table_names())
    assert names == {"alembic_version", "runs", "run_inputs", "users", "audit_log",
                     "month_figures"} | RESULT_NAMES


def test_cli_upgrades_a_database_left_at_the_first_revision(db_url):
    with RunStore.open(db_url) as store:
        store.upgrade("0001")  # the database of issue 2: the run record only
        assert set(sa.inspect(store.engine).get_table_names()) == {"alembic_version", "runs", "run_inputs"}
        old_run = insert_old_run(store, "R-0001")  # written by the code of revision 0001
    result = CliRunner().invoke(main, ["db", "upgrade", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert f"0001 → {head_revision()}" in result.output
    with RunStore.open(db_url) as store:
        assert store.current_revision() == head_revision()
        assert RESULT_NAMES <= set(sa.inspect(store.engine).get_table_names())
        assert store.get_run(old_run).status == "running"  # history survives the upgrade
    again = CliRunner().invoke(main, ["db", "upgrade", "--db", db_url])
    assert again.exit_code == 0 and "已是最新" in again.output


def insert_old_run(store: RunStore, run_id: str, county="示例县", year=2025, scenario="base",
                   status="running", closed=False, started=None) -> str:
    """A run as the code before revision 0003 wrote it (no owner, no lease)."""
    started = started or dt.datetime.now(dt.timezone.utc)
    with store.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO runs (run_id, county, year, scenario, status, started_at, timings, input_rows, "
            "result_rows, result_columns, closed, closed_at) VALUES (:r, :c, :y, :s, :st, :t, '{}', '{}', "
            "'{}', '{}', :closed, :closed_at)"),
            {"r": run_id, "c": county, "y": year, "s": scenario, "st": status, "t": started,
             "closed": closed, "closed_at": started if closed else None})
    return run_id


def test_upgrade_keeps_one_closed_run_per_county_year_of_an_old_database(db_url):
    t0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.timezone.utc)
    with RunStore.open(db_url) as store:
        store.upgrade("0002")  # the old period key had the scenario: several closures per county-year
        first = insert_old_run(store, "R-A", status="succeeded", closed=True, started=t0)
        insert_old_run(store, "R-B", scenario="what_if", status="succeeded", closed=True, started=t0)
        insert_old_run(store, "R-C", status="succeeded", closed=True, started=t0 + dt.timedelta(hours=1))
        other_year = insert_old_run(store, "R-D", year=2024, status="succeeded", closed=True, started=t0)
        store.upgrade()
        closed = {r.run_id for r in store.list_runs() if r.closed}
    assert closed == {first, other_year}  # the earliest base closure stays; the others reopen


def test_migrated_schema_matches_the_table_definitions(store):
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diffs == []


def test_cli_upgrades_a_database_at_0005_keeping_its_statements(db_url):
    with RunStore.open(db_url) as store:
        store.upgrade("0005")  # before the claims audit was stored and statement lines had a payer
        assert "claims_audit" not in sa.inspect(store.engine).get_table_names()
        old_run = insert_old_run(store, "R-0005", status="succeeded")
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE runs SET result_columns = :c WHERE run_id = :r"), {
                "r": old_run, "c": json.dumps({"unit_statement": {
                    "stored": ["unit_id", "line", "label_zh", "amount", "explanation"], "not_stored": []}})})
            conn.execute(sa.text("INSERT INTO unit_statement (run_id, unit_id, line, label_zh, amount, "
                                 "explanation, row_no) VALUES (:r, 'U1', 'net', '净额', 123456, NULL, 0)"),
                         {"r": old_run})
    result = CliRunner().invoke(main, ["db", "upgrade", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert f"0005 → {head_revision()}" in result.output
    with RunStore.open(db_url) as store:
        inspector = sa.inspect(store.engine)
        assert "claims_audit" in inspector.get_table_names()
        assert "payer" in {c["name"] for c in inspector.get_columns("unit_statement")}
        old = store.load_results(old_run, "unit_statement")  # read as it was stored, no payer
        assert old.columns.tolist() == ["unit_id", "line", "label_zh", "amount", "explanation"]
        assert old["amount"].tolist() == [123456]
        assert len(store.load_results(old_run, "claims_audit")) == 0  # the old run audited nothing
        new_run = store.begin_run(meta(year=2026))
        store.save_results(new_run, {n: result_tables()[n] for n in ("unit_statement", "claims_audit")})
        assert store.load_results(new_run, "unit_statement")["payer"].tolist() == ["fund", "community", ""]
        assert store.load_results(new_run, "claims_audit")["difference"].sum() == -47_000 + 1_000


def test_upgrade_to_0008_gives_old_indicators_their_run_year_and_keys_them_by_period(db_url):
    with RunStore.open(db_url) as store:
        store.upgrade("0007")  # indicators keyed (run_id, scope, indicator); no plan table
        assert "public_health_plan" not in sa.inspect(store.engine).get_table_names()
        old_run = insert_old_run(store, "R-0007", year=2024, status="succeeded")
        with store.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO indicators (run_id, scope, indicator, label_zh, numerator, "
                                 "denominator, value, target, met, explanation, row_no) VALUES (:r, "
                                 "'county', 'county_visit_rate', '县域内就诊率', 9.0, 10.0, 0.9, 0.85, "
                                 ":met, NULL, 0)"), {"r": old_run, "met": True})
        store.upgrade()
        with store.engine.connect() as conn:
            period = conn.execute(sa.text("SELECT period FROM indicators WHERE run_id = :r"),
                                  {"r": old_run}).scalar_one()
        assert period == "2024"  # the year of the run that stored it
        pk = sa.inspect(store.engine).get_pk_constraint("indicators")["constrained_columns"]
        assert pk == ["run_id", "scope", "period", "indicator"]
        run_id = store.begin_run(meta())  # the same scope and indicator in two periods of one run
        store.save_results(run_id, {n: result_tables()[n] for n in ("indicators", "public_health_plan")})
        back = store.load_results(run_id, "indicators")
        assert back["period"].tolist() == ["2025", "2025", "2025-03"]
        assert store.load_results(run_id, "public_health_plan")["difference"].tolist() == [0, -10_000, 5_000]
        from alembic import command

        from settlement.store import db
        with store.engine.begin() as conn:  # down again: each run keeps its own year's rows
            command.downgrade(db.alembic_config(conn), "0007")
        inspector = sa.inspect(store.engine)
        assert inspector.get_pk_constraint("indicators")["constrained_columns"] == ["run_id", "scope", "indicator"]
        assert not inspector.has_table("public_health_plan")
        with store.engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT run_id, scope FROM indicators ORDER BY run_id, scope")).all()
        assert sorted(map(tuple, kept)) == sorted([("R-0007", "county"), (run_id, "county"), (run_id, "G1")])


def test_read_commands_ask_for_an_upgrade_of_an_old_database(db_url):
    with RunStore.open(db_url) as store:
        store.upgrade("0001")
    result = CliRunner().invoke(main, ["runs", "--db", db_url])
    assert result.exit_code == 1
    assert "settlement db upgrade" in result.output


# ------------------------------------------------------------------ results: exact and whole
def test_every_result_table_round_trips_in_its_row_order(store):
    tables = result_tables()
    run_id = store.begin_run(meta())
    counts = store.save_results(run_id, tables, timings={"dip": 0.5})
    assert counts == {name: len(frame) for name, frame in tables.items()}
    for name, frame in tables.items():
        back = store.load_results(run_id, name)
        assert "run_id" not in back.columns  # results (and their CSVs) carry no run id
        pd.testing.assert_frame_equal(back, frame, check_dtype=False)
        money = [c for c, kind in RESULT_SPECS[name].columns if kind == "money"]
        assert all(back[c].dtype == "int64" for c in money)
    record = store.get_run(run_id)
    assert record.status == "succeeded" and record.finished_at >= record.started_at
    assert record.result_rows == counts
    assert record.timings["dip"] == 0.5 and "persist" in record.timings


def test_categorical_text_is_stored_as_the_same_rows_as_its_strings(store):
    """The DIP stage hands ``dip_cases`` over with categorical ids and explanations; the bulk
    insert takes each category's text once — the rows read back are those of the same frame
    with plain strings, a missing category included (SQLite and PostgreSQL)."""
    strings = result_tables()["dip_cases"].assign(
        explanation=s("正常病例：分值 × 系数", "低倍率病例", "正常病例：分值 × 系数"))
    categorical = strings.astype({c: "category" for c in ("unit_id", "community_id", "dip_group",
                                                          "case_class", "explanation")})
    categorical["community_id"] = categorical["community_id"].cat.add_categories(["C9"])
    categorical.loc[categorical.index[-1], "community_id"] = None  # a missing value
    expected = strings.copy()
    expected.loc[expected.index[-1], "community_id"] = pd.NA
    run_id = store.begin_run(meta())
    store.save_results(run_id, {"dip_cases": categorical})
    pd.testing.assert_frame_equal(store.load_results(run_id, "dip_cases"), expected, check_dtype=False)


def test_an_empty_claims_audit_is_stored_as_no_rows_with_the_same_columns(store):
    from settlement.stages.audit import AUDIT_COLUMNS, empty_audit

    run_id = store.begin_run(meta())
    counts = store.save_results(run_id, {"claims_audit": empty_audit()})  # no audit columns in the data
    assert counts == {"claims_audit": 0}
    back = store.load_results(run_id, "claims_audit")
    assert back.columns.tolist() == AUDIT_COLUMNS and len(back) == 0
    assert store.get_run(run_id).result_columns["claims_audit"] == {"stored": AUDIT_COLUMNS,
                                                                     "not_stored": []}


def test_claims_audit_keys_claims_by_kind_and_rule(store):
    audit = claims_audit_frame()
    run_id = store.begin_run(meta())
    store.save_results(run_id, {"claims_audit": audit})  # C1 twice inpatient, once outpatient: fine
    back = store.load_results(run_id, "claims_audit")
    assert back[["claim_kind", "claim_id", "rule"]].values.tolist() == [
        ["inpatient", "C1", "ratio_table"], ["inpatient", "C1", "referral_up_deductible"],
        ["outpatient", "C1", "ratio_table"]]
    assert back["difference"].dtype == "int64" and back["difference"].tolist() == [-38_500, -8_500, 1_000]
    twice = store.begin_run(meta())
    with pytest.raises(Exception):  # the same claim and rule listed twice (COPY's own error on PG)
        store.save_results(twice, {"claims_audit": pd.concat([audit, audit.iloc[[0]]], ignore_index=True)})
    record = store.get_run(twice)
    assert record.status == "failed"
    assert "unique" in record.failure_reason.lower() or "duplicate" in record.failure_reason.lower()


def test_a_statement_without_payer_is_stored_without_it(store):
    statement = result_tables()["unit_statement"].drop(columns="payer")
    run_id = store.begin_run(meta())
    store.save_results(run_id, {"unit_statement": statement})
    assert "payer" not in store.get_run(run_id).result_columns["unit_statement"]["stored"]
    pd.testing.assert_frame_equal(store.load_results(run_id, "unit_statement"), statement, check_dtype=False)


def test_money_is_exact_beyond_float_precision(store):
    # 2**53 + 1 fen has no float64 of its own: it survives only if nothing goes through float
    amounts = [1_234_567_890_123, -1_234_567_890_123, 2**53 + 1, -(2**62), 0, -1]
    frame = pd.DataFrame({"community_id": s(*[f"G{i}" for i in range(6)]), "line": s(*["x"] * 6),
                          "label_zh": s(*["金额"] * 6), "amount": np.array(amounts, dtype="int64")})
    run_id = store.begin_run(meta())
    store.save_results(run_id, {"ledger": frame})
    back = store.load_results(run_id, "ledger")["amount"]
    assert back.dtype == "int64" and back.tolist() == amounts
    assert store.key_totals(run_id)["ledger.amount"] == sum(amounts)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=1, max_size=20))
def test_any_bigint_fen_round_trips(store, amounts):
    frame = pd.DataFrame({"unit_id": s(*[f"U{i:03d}" for i in range(len(amounts))]),
                          "line": s(*["net"] * len(amounts)), "label_zh": s(*["净额"] * len(amounts)),
                          "amount": np.array(amounts, dtype="int64"), "explanation": s(*[None] * len(amounts))})
    run_id = store.begin_run(meta())
    store.save_results(run_id, {"unit_statement": frame})
    assert store.load_results(run_id, "unit_statement")["amount"].tolist() == amounts


def test_failure_in_the_middle_leaves_no_result_and_marks_the_run_failed(store, monkeypatch):
    real_insert = runs_module.insert_frame
    written = []

    def insert_then_fail(conn, run_id, name, frame):
        if len(written) == 3:  # three tables already inserted in this transaction
            raise RuntimeError("磁盘已满 disk full (injected)")
        written.append(name)
        return real_insert(conn, run_id, name, frame)

    monkeypatch.setattr(runs_module, "insert_frame", insert_then_fail)
    run_id = store.begin_run(meta())
    with pytest.raises(RuntimeError, match="injected"):
        store.save_results(run_id, result_tables())
    assert written == ["dip_cases", "dip_units", "community_settlement"]
    assert set(result_row_counts(store, run_id).values()) == {0}
    record = store.get_run(run_id)
    assert record.status == "failed" and "disk full (injected)" in record.failure_reason
    assert record.finished_at is not None and record.result_rows == {}


def test_a_database_error_in_the_last_table_rolls_back_the_first_ones(store):
    tables = result_tables()
    ledger = tables["ledger"]
    tables["ledger"] = pd.concat([ledger, ledger.iloc[[0]]], ignore_index=True)  # duplicate key
    run_id = store.begin_run(meta())
    with pytest.raises(Exception):
        store.save_results(run_id, tables)
    assert set(result_row_counts(store, run_id).values()) == {0}
    record = store.get_run(run_id)
    assert record.status == "failed"
    assert "unique" in record.failure_reason.lower() or "duplicate" in record.failure_reason.lower()
    assert len(record.failure_reason) < 3000  # the database's message, not 100k echoed parameters


def test_a_frame_that_does_not_fit_fails_the_run_before_writing(store):
    tables = result_tables()
    tables["dip_units"]["balance"] = tables["dip_units"]["balance"] / 100  # yuan as float: refused
    del tables["ledger"]["label_zh"]
    run_id = store.begin_run(meta())
    with pytest.raises(StoreError) as info:
        store.save_results(run_id, tables)
    assert "balance" in str(info.value) and "label_zh" in str(info.value)
    assert store.get_run(run_id).status == "failed"
    assert set(result_row_counts(store, run_id).values()) == {0}


def test_working_columns_are_skipped_and_recorded(store):
    tables = result_tables()
    tables["ledger"]["section"] = s("package", "settlement", "settlement")  # a stage's working column
    tables["ledger"]["explanation"] = s("筹资 − 风险金", None, "结余 × 留用比例")
    run_id = store.begin_run(meta())
    store.save_results(run_id, tables)
    record = store.get_run(run_id)
    assert record.result_columns["ledger"] == {
        "stored": ["community_id", "line", "label_zh", "amount", "explanation"], "not_stored": ["section"]}
    assert record.result_columns["dip_cases"]["stored"][-1] == "fund_due"  # no explanation given
    pd.testing.assert_frame_equal(store.load_results(run_id, "ledger"), tables["ledger"].drop(columns="section"))
    assert list(store.load_results(run_id, "dip_cases").columns) == RESULT_SPECS["dip_cases"].column_names[:-1]
    assert store.load_results(run_id, "ledger").columns.tolist()[-1] == "explanation"

    strict = store.begin_run(meta())
    with pytest.raises(StoreError, match="section"):
        store.save_results(strict, tables, working_columns="error")
    assert store.get_run(strict).status == "failed"


def test_results_are_saved_only_once_and_never_after_a_failure(store):
    run_id = store.begin_run(meta())
    store.save_results(run_id, {"ledger": result_tables()["ledger"]})
    with pytest.raises(StoreError, match="not running"):
        store.save_results(run_id, {"ledger": result_tables()["ledger"]})
    with pytest.raises(StoreError, match="already succeeded"):
        store.fail_run(run_id, "too late")
    assert store.get_run(run_id).status == "succeeded"
    failed = store.begin_run(meta())
    store.fail_run(failed, "校验未通过 validation: 3 errors", timings={"validate": 1.5})
    with pytest.raises(StoreError, match="not running"):
        store.save_results(failed, result_tables())
    store.fail_run(failed, "a later, vaguer reason")  # the first reason is kept
    record = store.get_run(failed)
    assert record.failure_reason == "校验未通过 validation: 3 errors" and record.timings == {"validate": 1.5}


def test_an_interrupted_save_marks_the_run_failed(store, monkeypatch):
    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs_module, "insert_frame", interrupted)
    run_id = store.begin_run(meta())
    with pytest.raises(KeyboardInterrupt):
        store.save_results(run_id, result_tables())
    assert store.get_run(run_id).failure_reason.endswith("interrupted (KeyboardInterrupt)")


# ------------------------------------------------------------------ the run record
def test_begin_run_records_what_went_in(store):
    run_id = store.begin_run(meta())
    store.update_run(run_id, input_hashes={"units.csv": "d" * 64, "inpatient_cases.csv": "e" * 64},
                     input_rows={"inpatient_cases": 90_000}, timings={"load": 2.25})
    record = store.get_run(run_id)
    assert (record.county, record.year, record.scenario, record.status) == ("示例县", 2025, "base", "running")
    assert record.config_sha256 == "c" * 64 and record.code_version
    assert record.input_hashes == {"communities.csv": "a" * 64, "inpatient_cases.csv": "e" * 64,
                                   "units.csv": "d" * 64}
    assert record.input_rows == {"communities": 2, "units": 3, "inpatient_cases": 90_000}
    assert record.timings == {"load": 2.25}
    assert record.started_at.tzinfo == dt.timezone.utc
    with pytest.raises(RunNotFound):
        store.get_run("no-such-run")


def test_run_ids_sort_by_start_time_and_never_collide(store):
    moments = iter([dt.datetime(2025, 12, 31, 12, 0, 0, tzinfo=dt.timezone.utc)] * 2
                   + [dt.datetime(2026, 1, 2, 8, 30, 0, tzinfo=dt.timezone.utc)])
    store.clock = lambda: next(moments)
    first, twin, later = (store.begin_run(meta()) for _ in range(3))
    assert first.startswith("20251231T120000Z-") and twin.startswith("20251231T120000Z-")
    assert first != twin  # same inputs, same instant: still two runs
    assert later.startswith("20260102T083000Z-") and max(first, twin) < later
    assert [r.run_id for r in store.list_runs()][-1] == later


# ------------------------------------------------------------------ closing and superseding
def succeeded_run(store: RunStore, supersede: bool = False, **kw) -> str:
    run_id = store.begin_run(meta(**kw), supersede=supersede)
    store.save_results(run_id, {"ledger": result_tables()["ledger"]})
    return run_id


def test_a_closed_period_refuses_a_new_run_unless_superseded_and_keeps_history(store):
    first = succeeded_run(store)
    store.close_period(first)
    with pytest.raises(PeriodClosed, match="--supersede"):
        store.begin_run(meta())
    assert store.check_period_open("示例县", 2026) is None  # another year is open
    assert store.check_period_open("示例县", 2025, scenario="what_if") is None  # and a what-if scenario
    assert store.check_period_open("示例县", 2025, supersede=True) == first

    second = store.begin_run(meta(), supersede=True)
    assert store.get_run(second).supersedes == first
    assert store.get_run(first).superseded_by is None  # not until the new run succeeds
    store.save_results(second, {"ledger": result_tables()["ledger"]})

    old, new = store.get_run(first), store.get_run(second)
    assert old.superseded_by == second and old.closed and old.status == "succeeded"
    assert new.closed and new.closed_at is not None  # the closure passes on: the period stays closed
    assert len(store.load_results(first, "ledger")) == 3  # the superseded results are kept
    with pytest.raises(PeriodClosed, match=second):  # a plain re-run is still refused
        store.begin_run(meta())
    assert store.check_period_open("示例县", 2025, supersede=True) == second  # the next correction
    assert [r.run_id for r in store.list_runs(county="示例县", year=2025)] == [first, second]


def test_a_scenario_never_closes_nor_supersedes_and_renaming_it_does_not_reopen_the_period(store):
    base = succeeded_run(store)
    store.close_period(base)
    what_if = succeeded_run(store, scenario="base-corrected")  # a what-if runs while base is closed
    assert store.get_run(what_if).status == "succeeded"
    with pytest.raises(StoreError, match="never closes"):
        store.close_period(what_if)
    with pytest.raises(StoreError, match="never supersedes"):
        store.begin_run(meta(scenario="base-corrected"), supersede=True)
    with pytest.raises(PeriodClosed):  # the period key is county + year, whatever the scenario
        store.begin_run(meta(scenario="base"))
    record = store.get_run(what_if)
    assert not record.closed and record.supersedes is None and store.get_run(base).superseded_by is None


def test_the_database_itself_refuses_a_second_closed_run_per_county_year(store):
    a, b = succeeded_run(store), succeeded_run(store)
    store.close_period(a)
    with pytest.raises(sa.exc.IntegrityError):  # the partial unique index, bypassing the code
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE runs SET closed = :t WHERE run_id = :r"), {"t": True, "r": b})
    assert [r.run_id for r in store.list_runs() if r.closed] == [a]


def test_a_run_that_began_before_the_close_does_not_succeed_inside_the_closed_period(store):
    late = store.begin_run(meta())  # starts while the period is open
    early = succeeded_run(store)
    store.close_period(early)  # … and the period closes while `late` still works
    with pytest.raises(StoreError, match="closed by"):
        store.save_results(late, {"ledger": result_tables()["ledger"]})
    record = store.get_run(late)
    assert record.status == "failed" and early in record.failure_reason
    assert set(result_row_counts(store, late).values()) == {0}


def test_a_superseding_run_fails_when_another_superseded_first(store):
    first = succeeded_run(store)
    store.close_period(first)
    slow, fast = store.begin_run(meta(), supersede=True), store.begin_run(meta(), supersede=True)
    store.save_results(fast, {"ledger": result_tables()["ledger"]})
    with pytest.raises(StoreError, match="no longer the closed run"):
        store.save_results(slow, {"ledger": result_tables()["ledger"]})
    assert store.get_run(slow).status == "failed"
    assert store.get_run(first).superseded_by == fast and store.get_run(fast).closed


def test_a_failed_superseding_run_leaves_the_closed_run_in_force(store):
    first = succeeded_run(store)
    store.close_period(first)
    attempt = store.begin_run(meta(), supersede=True)
    store.fail_run(attempt, "DIP 阶段出错 DIP stage failed")
    assert store.get_run(first).superseded_by is None
    with pytest.raises(PeriodClosed):
        store.begin_run(meta())


def test_only_one_succeeded_current_run_can_close_a_period(store):
    running = store.begin_run(meta())
    with pytest.raises(StoreError, match="only a succeeded run"):
        store.close_period(running)
    store.fail_run(running, "x")
    with pytest.raises(StoreError, match="only a succeeded run"):
        store.close_period(running)
    a, b = succeeded_run(store), succeeded_run(store)
    closed = store.close_period(a)
    assert closed.closed and closed.closed_at is not None
    assert store.close_period(a).closed_at == closed.closed_at  # closing twice changes nothing
    with pytest.raises(StoreError, match=f"already closed by {a}"):
        store.close_period(b)
    c = succeeded_run(store, supersede=True)
    with pytest.raises(StoreError, match="superseded"):
        store.close_period(a)
    store.close_period(c)


# ------------------------------------------------------------------ CLI
def test_cli_lists_shows_and_closes_runs(store, db_url):
    run_id = store.begin_run(meta())
    store.save_results(run_id, result_tables(), timings={"dip": 1.25})
    failed = store.begin_run(meta(year=2024))
    store.fail_run(failed, "校验未通过 validation failed: 2 errors")
    runner = CliRunner()

    listing = runner.invoke(main, ["runs", "--db", db_url])
    assert listing.exit_code == 0, listing.output
    assert "结算编号 run id" in listing.output and run_id in listing.output and failed in listing.output
    assert "成功 succeeded" in listing.output and "失败 failed" in listing.output

    shown = runner.invoke(main, ["show", run_id, "--db", db_url])
    assert shown.exit_code == 0, shown.output
    for text in ("示例县", "c" * 64, "communities.csv", "dip_cases", "1.250",
                 "打包额 package", "30,000.03",  # package = 3 × 1,000,001 fen = 3,000,003 fen
                 "成员单位净额合计", "1,948.93"):       # the net line: 194,893 fen
        assert text in shown.output, text
    assert "校验未通过" in runner.invoke(main, ["show", failed, "--db", db_url]).output

    closed = runner.invoke(main, ["close", run_id, "--db", db_url])
    assert closed.exit_code == 0 and "已关账" in closed.output
    assert "是 yes" in runner.invoke(main, ["runs", "--db", db_url]).output
    refused = runner.invoke(main, ["close", failed, "--db", db_url])
    assert refused.exit_code == 1 and "only a succeeded run" in refused.output
    missing = runner.invoke(main, ["show", "nope", "--db", db_url])
    assert missing.exit_code == 1 and "no such run" in missing.output


def test_cli_on_a_missing_sqlite_file_creates_nothing(tmp_path):
    path = tmp_path / "absent.db"
    result = CliRunner().invoke(main, ["runs", "--db", f"sqlite:///{path}"])
    assert result.exit_code == 0 and "no runs yet" in result.output
    assert CliRunner().invoke(main, ["show", "x", "--db", f"sqlite:///{path}"]).exit_code == 1
    assert not path.exists()


# ------------------------------------------------------------------ manifest
def test_manifest_is_complete_and_deterministic(store, tmp_path):
    run_id = store.begin_run(meta())
    store.save_results(run_id, {"ledger": result_tables()["ledger"]}, timings={"load": 1.0})
    record = store.get_run(run_id)
    first = write_manifest(tmp_path / "a", record).read_bytes()
    second = write_manifest(tmp_path / "b", store.get_run(run_id)).read_bytes()
    assert first == second
    data = json.loads(first)
    assert list(data) == sorted(data)
    assert data["run_id"] == run_id and data["county"] == "示例县" and data["year"] == 2025
    assert data["scenario"] == "base" and data["config_sha256"] == "c" * 64
    assert data["input_files"] == {"communities.csv": "a" * 64, "units.csv": "b" * 64}
    assert data["code_version"]["package"] and data["code_version"]["text"] == record.code_version
    assert data["timings_seconds"]["load"] == 1.0 and "persist" in data["timings_seconds"]
    assert data["row_counts"] == {"inputs": {"communities": 2, "units": 3}, "results": {"ledger": 3}}
    assert "示例县" in first.decode("utf-8")  # Chinese kept readable


# ------------------------------------------------------------------ dead runs (中断)
def finished_pid() -> int:
    """The pid of a process that has ended (and been reaped), so it no longer exists."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_run_whose_process_is_gone_is_marked_interrupted_by_the_next_command(store, db_url):
    import socket

    from settlement.store.owner import Owner, this_process

    me = this_process()
    gone = store.begin_run(meta(), owner=Owner(socket.gethostname(), finished_pid(), me.started_at))
    reused = store.begin_run(meta(), owner=Owner(me.host, me.pid, me.started_at - dt.timedelta(hours=1)))
    alive = store.begin_run(meta())  # this very process: alive
    listing = CliRunner().invoke(main, ["runs", "--db", db_url])
    assert listing.exit_code == 0, listing.output
    rows = {line.split()[0]: line for line in listing.output.splitlines() if line[:1].isdigit()}
    assert "中断 interrupted" in rows[gone] and "中断 interrupted" in rows[reused]
    assert "运行中 running" in rows[alive]
    for run_id, why in ((gone, "process is gone"), (reused, "pid was reused")):
        record = store.get_run(run_id)
        assert record.status == "failed" and record.interrupted and why in record.failure_reason
        assert record.finished_at is not None
    assert store.reap_dead_runs() == []  # marked once


def test_a_run_on_another_host_is_interrupted_when_its_lease_expires(store):
    from settlement.store.owner import Owner

    start = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.timezone.utc)
    now = [start]
    store.clock = lambda: now[0]
    elsewhere = store.begin_run(meta(), owner=Owner("another-host", 4242, start))
    old = insert_old_run(store, "R-OLD", started=start)  # a run from before revision 0003: no owner
    now[0] = start + dt.timedelta(seconds=store.lease_seconds - 1)
    assert store.reap_dead_runs() == []  # within the lease: may still be working
    now[0] = start + dt.timedelta(seconds=store.lease_seconds + 1)
    assert sorted(r.run_id for r in store.reap_dead_runs()) == sorted([elsewhere, old])
    assert "lease expired" in store.get_run(elsewhere).failure_reason


def test_the_heartbeat_renews_the_lease(store):
    import time as _time

    from settlement.store.owner import Owner

    run_id = store.begin_run(meta(), owner=Owner("another-host", 4242, dt.datetime.now(dt.timezone.utc)))
    before = store.get_run(run_id).heartbeat_at
    with store.heartbeat(run_id, seconds=0.05):
        _time.sleep(0.5)
    assert store.get_run(run_id).heartbeat_at > before


def test_an_interrupted_run_cannot_save_its_results_later(store):
    from settlement.store.owner import Owner

    run_id = store.begin_run(meta(), owner=Owner("another-host", 1, dt.datetime.now(dt.timezone.utc)))
    store.lease_seconds = -1  # expired at once
    assert [r.run_id for r in store.reap_dead_runs()] == [run_id]
    with pytest.raises(StoreError, match="not running"):
        store.save_results(run_id, {"ledger": result_tables()["ledger"]})
    assert set(result_row_counts(store, run_id).values()) == {0}


# ------------------------------------------------------------------ the default database
def test_the_default_database_is_one_place_whatever_the_current_folder(tmp_path, monkeypatch):
    from settlement.store.location import default_db_url, sqlite_path

    monkeypatch.delenv("SETTLEMENT_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    seen = set()
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        result = CliRunner().invoke(main, ["runs"])
        assert result.exit_code == 0, result.output
        seen.add(default_db_url())
        assert str(tmp_path / "data-home" / "settlement" / "settlement.db") in result.output
    assert len(seen) == 1 and sqlite_path(seen.pop()).is_absolute()
    assert default_db_url({"SETTLEMENT_DB": "postgresql+psycopg://u@h/db"}) == "postgresql+psycopg://u@h/db"
    assert default_db_url({"SETTLEMENT_DB": "relative/x.db"}) == f"sqlite:///{tmp_path / 'b' / 'relative' / 'x.db'}"


def test_a_windows_path_becomes_a_sqlite_url():
    from pathlib import PureWindowsPath

    from settlement.store.location import sqlite_url

    url = sqlite_url(PureWindowsPath(r"C:\Users\张三\AppData\Local\settlement\settlement.db"))
    assert url == "sqlite:///C:/Users/张三/AppData/Local/settlement/settlement.db"
    assert sa.make_url(url).database == "C:/Users/张三/AppData/Local/settlement/settlement.db"
