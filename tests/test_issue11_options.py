"""Every issue-11 option on at once (configs/examples/claims-audit-options.yaml) on the sample
county: the audit adjusts the package expenditure, the package basis re-splits the county, the
rubric blends into the score and the dual targets scale the retained surplus — and the
ledgers still close to 0.00 and every reconciliation identity holds."""

from pathlib import Path

import pytest

from settlement.config import load_config, resolve
from settlement.loader import load_folder
from settlement.pipeline import settle

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def runs():
    data = load_folder(ROOT / "sample_data").tables
    base = settle(data, resolve(load_config(ROOT / "configs" / "sample-county.yaml")))
    what_if = settle(data, resolve(load_config(ROOT / "configs" / "examples" /
                                               "claims-audit-options.yaml")))
    return base, what_if


def test_base_reports_the_audit_without_changing_the_settlement(runs):
    base, _ = runs
    audit = base.tables["claims_audit"]
    assert len(audit) and "claims_audit" not in set(base.tables["ledger"]["line"].str[6:])
    fees = base.tables["family_doctor_fees"]
    assert fees["payee_id"].eq(fees["unit_id"]).all()  # distributed to the signing units
    lines = base.tables["ledger"].set_index(["community_id", "line"])["amount"]
    for cid, paid in fees.groupby("community_id")["amount"].sum().items():
        assert lines[(cid, "other:family_doctor_fees")] == -paid
    assert (base.tables["village_guarantee"]["subsidy"] >= 0).all()


def test_all_options_on_and_everything_still_ties(runs):
    base, what_if = runs
    t = what_if.tables
    assert (t["ledger"].loc[t["ledger"]["line"] == "total", "amount"] == 0).all()
    assert t["reconciliation_checks"]["ok"].all()
    spend = t["community_settlement"].set_index("community_id")["expenditure"]
    base_spend = base.tables["community_settlement"].set_index("community_id")["expenditure"]
    recovered = t["claims_audit"].groupby("community_id")["difference"].sum()
    for cid in spend.index:  # the audit difference leaves the package expenditure
        assert spend[cid] == base_spend[cid] - recovered[cid]
    packages = t["packages"]
    assert packages["basis_transfer"].sum() == 0 and packages["basis_transfer"].ne(0).any()
    assert packages["computed_package"].sum() == base.tables["packages"]["computed_package"].sum()
    assert set(t["community_assessment"]["source"]) == {"blend"}
    assert len(t["dual_targets"]) == 2 * len(packages)


def test_the_audit_sheets_are_in_the_summary_and_the_bureau_workbook(runs, tmp_path):
    import openpyxl

    from settlement.report.bureau import write_bureau
    from settlement.report.context import ReportContext
    from settlement.report.summary import write_summary

    base, _ = runs
    data = load_folder(ROOT / "sample_data").tables
    ctx = ReportContext("示例县", 2025, "run", data["units"], data["communities"])
    summary = openpyxl.load_workbook(write_summary(tmp_path / "汇总.xlsx", base.tables, ctx),
                                     read_only=True)
    assert {"报销审核", "考核与双目标", "签约服务费与保底"} <= set(summary.sheetnames)
    bureau = openpyxl.load_workbook(write_bureau(tmp_path / "医保对账.xlsx", base.tables, ctx),
                                    read_only=True)
    cells = [c for row in bureau["报销审核"].iter_rows(values_only=True) for c in row]
    first = base.tables["claims_audit"].sort_values("difference", key=abs, ascending=False).iloc[0]
    assert first["claim_id"] in cells and "报销比例表“3个10%”检查" in cells
