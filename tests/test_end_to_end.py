"""End to end on the committed sample county: `settlement run` as a user runs it."""

from __future__ import annotations

import json
from decimal import Decimal
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from settlement.cli import main
from settlement.money import parse_yuan
from settlement.store import RunStore

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "sample-county.yaml"
DATA = ROOT / "sample_data"

pytestmark = pytest.mark.slow


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    db = f"sqlite:///{base / 'runs.db'}"
    out = base / "reports"
    result = _run("run", "--config", CONFIG, "--data", DATA, "--out", out, "--db", db, "--quiet")
    assert result.exit_code == 0, result.output
    (run_dir,) = list(out.iterdir())
    return base, db, out, run_dir, result.output


def _yuan(series: pd.Series) -> pd.Series:
    return parse_yuan(series.astype("string")).fen


def test_run_writes_every_output(first_run):
    _, _, _, run_dir, output = first_run
    assert "结算完成" in output and "账平检查 ledger check: 合计 0.00" in output
    for name in ["dip_cases", "dip_units", "community_settlement", "unit_distribution",
                 "chronic_settlement", "public_health_allocation", "indicators",
                 "unit_statement", "ledger"]:
        assert (run_dir / "results" / f"{name}.csv").stat().st_size > 0, name
    assert (run_dir / "汇总.xlsx").exists() and (run_dir / "医保对账.xlsx").exists()
    assert len(list((run_dir / "units").glob("*.xlsx"))) > 200
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "succeeded" and manifest["year"] == 2025
    assert set(manifest["input_files"]) >= {"inpatient_cases.csv", "units.csv"}
    assert len(manifest["config_sha256"]) == 64


def test_ledgers_balance_and_statements_tie(first_run):
    run_dir = first_run[3]
    ledger = pd.read_csv(run_dir / "results" / "ledger.csv", dtype=str)
    total = _yuan(ledger.loc[ledger["line"] == "total", "amount"])
    assert (total == 0).all()
    statement = pd.read_csv(run_dir / "results" / "unit_statement.csv", dtype=str)
    statement["fen"] = _yuan(statement["amount"])
    net = statement[statement["line"] == "net"].set_index("unit_id")["fen"]
    others = statement[statement["line"] != "net"].groupby("unit_id")["fen"].sum()
    assert others.reindex(net.index, fill_value=0).equals(net)


def test_package_identity_per_community(first_run):
    run_dir = first_run[3]
    cs = pd.read_csv(run_dir / "results" / "community_settlement.csv", dtype=str)
    f = {c: _yuan(cs[c]) for c in cs.columns if c not in ("community_id", "explanation",
                                                           "community_score", "community_coefficient")}
    # package = expenditure + balance; surplus = retained + returned; overrun = fund + community
    assert (f["package"] == f["expenditure"] + f["balance"]).all()
    surplus = f["balance"].clip(lower=0)
    overrun = (-f["balance"]).clip(lower=0)
    assert (surplus == f["surplus_retained"] + f["surplus_returned"]).all()
    assert (overrun == f["overrun_fund_share"] + f["overrun_community_share"]).all()


def test_database_holds_the_same_results(first_run):
    _, db, _, run_dir, _ = first_run
    store = RunStore.open_existing(db)
    (run,) = store.list_runs()
    stored = store.load_results(run.run_id, "dip_units")
    csv = pd.read_csv(run_dir / "results" / "dip_units.csv", dtype=str)
    assert _yuan(csv["fund_paid"]).tolist() == stored["fund_paid"].tolist()


def test_database_holds_the_claims_audit_of_the_csv(first_run):
    _, db, _, run_dir, _ = first_run
    store = RunStore.open_existing(db)
    (run,) = store.list_runs()
    stored = store.load_results(run.run_id, "claims_audit")
    csv = pd.read_csv(run_dir / "results" / "claims_audit.csv", dtype=str, keep_default_na=False)
    assert len(csv) > 0 and len(stored) == len(csv) == run.result_rows["claims_audit"]
    assert stored.columns.tolist() == csv.columns.tolist()
    assert int(stored["difference"].sum()) == int(_yuan(csv["difference"]).sum())
    for column in ("claim_id", "claim_kind", "rule"):
        assert stored[column].tolist() == csv[column].tolist(), column
    for column in ("fund_paid", "expected_fund_paid", "difference"):
        assert stored[column].tolist() == _yuan(csv[column]).tolist(), column


def test_database_and_csv_carry_each_statement_lines_payer(first_run):
    _, db, _, run_dir, _ = first_run
    store = RunStore.open_existing(db)
    (run,) = store.list_runs()
    stored = store.load_results(run.run_id, "unit_statement")
    net = stored["line"] == "net"
    assert set(stored.loc[~net, "payer"]) == {"fund", "community", "health_commission"}
    assert (stored.loc[net, "payer"] == "").all()  # the net line is every payer's sum
    csv = pd.read_csv(run_dir / "results" / "unit_statement.csv", dtype=str, keep_default_na=False)
    assert csv["payer"].tolist() == stored["payer"].tolist()


def test_a_run_without_audit_columns_stores_an_empty_claims_audit(tmp_path):
    from settlement.stages.audit import AUDIT_COLUMNS

    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    optional = ["policy_cost", "deductible", "reimbursement_ratio", "referral_from_unit_id",
                "emergency", "registered_residence_elsewhere"]
    for name in ("inpatient_cases", "outpatient_claims"):
        path = data / f"{name}.csv"
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame.drop(columns=optional).to_csv(path, index=False)
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    result = _run("run", "--config", CONFIG, "--data", data, "--out", tmp_path / "out", "--db", db,
                  "--quiet")
    assert result.exit_code == 0, result.output
    store = RunStore.open_existing(db)
    (run,) = store.list_runs()
    stored = store.load_results(run.run_id, "claims_audit")
    assert len(stored) == 0 and stored.columns.tolist() == AUDIT_COLUMNS
    assert run.result_rows["claims_audit"] == 0
    (run_dir,) = list((tmp_path / "out").iterdir())
    csv = pd.read_csv(run_dir / "results" / "claims_audit.csv", dtype=str)
    assert len(csv) == 0 and csv.columns.tolist() == AUDIT_COLUMNS


def test_workbook_reads_back_to_the_results(first_run):
    """Every numbered line of a unit's workbook carries the amount of its unit_statement row."""
    import openpyxl

    run_dir = first_run[3]
    statement = pd.read_csv(run_dir / "results" / "unit_statement.csv", dtype=str)
    for unit in statement["unit_id"].unique()[:5]:
        (book,) = list((run_dir / "units").glob(f"{unit}_*.xlsx"))
        rows = list(openpyxl.load_workbook(book, read_only=True).active.iter_rows(values_only=True))
        lines = [r for r in rows if isinstance(r[0], int)]
        in_book = [round(Decimal(str(r[4])) * 100) for r in lines]  # 序号 资金 付款方 项目 金额
        expected = _yuan(statement.loc[statement["unit_id"] == unit, "amount"]).tolist()
        assert in_book == expected, unit
        assert unit in rows[1][0] and all(other not in str(rows) for other in
                                          statement["unit_id"].unique()[5:8] if other != unit)


def test_same_inputs_give_identical_csv_bytes(first_run):
    base, db, out, run_dir, _ = first_run
    again = _run("run", "--config", CONFIG, "--data", DATA, "--out", base / "again", "--db",
                 f"sqlite:///{base / 'again.db'}", "--quiet")
    assert again.exit_code == 0, again.output
    (second,) = list((base / "again").iterdir())
    for path in sorted((run_dir / "results").glob("*.csv")):
        assert path.read_bytes() == (second / "results" / path.name).read_bytes(), path.name


def test_close_refuses_then_supersede(first_run, tmp_path):
    base, db, out, run_dir, _ = first_run
    db = f"sqlite:///{tmp_path / 'close.db'}"
    assert _run("run", "--config", CONFIG, "--data", DATA, "--out", tmp_path, "--db", db,
                "--quiet").exit_code == 0
    run_id = RunStore.open_existing(db).list_runs()[0].run_id
    assert _run("close", run_id, "--db", db).exit_code == 0
    refused = _run("run", "--config", CONFIG, "--data", DATA, "--out", tmp_path, "--db", db, "--quiet")
    assert refused.exit_code == 1
    again = _run("run", "--config", CONFIG, "--data", DATA, "--out", tmp_path, "--db", db,
                 "--quiet", "--supersede")
    assert again.exit_code == 0, again.output
    runs = {r.run_id: r for r in RunStore.open_existing(db).list_runs()}
    assert len(runs) == 2 and runs[run_id].superseded_by in runs


def test_invalid_input_fails_and_writes_no_results(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    cases = (data / "inpatient_cases.csv").read_text(encoding="utf-8").splitlines()
    head, first = cases[0].split(","), cases[1].split(",")
    first[head.index("total_cost")] = "not-a-number"
    cases[1] = ",".join(first)
    (data / "inpatient_cases.csv").write_text("\n".join(cases) + "\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'bad.db'}"
    result = _run("run", "--config", CONFIG, "--data", data, "--out", tmp_path / "out", "--db", db,
                  "--quiet")
    assert result.exit_code == 1
    store = RunStore.open_existing(db)
    (run,) = store.list_runs()
    assert run.status == "failed" and "校验" in run.failure_reason
    assert store.load_results(run.run_id, "dip_cases").empty
    (run_dir,) = list((tmp_path / "out").iterdir())
    assert (run_dir / "validation" / "问题清单.xlsx").exists()
    assert not (run_dir / "results").exists()
