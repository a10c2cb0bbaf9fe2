"""``settlement audit``: the claims audit on its own (医保差别化报销审核), without a settlement.

Loads and validates the data folder like ``settlement validate`` (an invalid folder stops
here, with the problem list), runs :func:`settlement.stages.audit.audit_claims` and writes
``claims_audit.csv``, ``claims_audit_totals.csv`` and ``reimbursement_table_check.csv``
(money as yuan) under ``<out>/results/``, then prints the totals per rule.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from settlement.money import yuan_display as y
from settlement.problems import has_errors
from settlement.spill import SpillPolicy

TABLES = ["claims_audit", "claims_audit_totals", "reimbursement_table_check"]


def run_audit(config_path: Path, data_dir: Path, out_dir: Path, echo=click.echo) -> bool:
    """True when the folder was valid and the audit written (flagged claims are not an error)."""
    from settlement.pipeline import load_and_validate
    from settlement.validation.report import print_summary

    with tempfile.TemporaryDirectory(prefix="settlement-spill-") as spill:
        _config, resolved, loaded, problems = load_and_validate(config_path, data_dir, SpillPolicy(Path(spill)))
        if has_errors(problems) or resolved is None:
            print_summary(problems, loaded, echo)
            return False
        return _audit(resolved, loaded, out_dir, echo)


def _audit(resolved, loaded, out_dir: Path, echo) -> bool:
    from settlement.report.results_csv import write_results
    from settlement.stages.audit import audit_claims
    from settlement.stages.audit_table import check_table

    params = resolved.params.reimbursement
    if params.ratios is None:
        echo("配置中没有报销比例表（reimbursement.ratios），无法审核 / no ratio table configured")
        return False
    t = loaded.stage_tables()  # big tables streamed on disk: audited batch by batch
    start = time.perf_counter()
    result = audit_claims(t["inpatient_cases"], t["outpatient_claims"], t["units"], params)
    seconds = time.perf_counter() - start
    tables = {"claims_audit": result.claims, "claims_audit_totals": result.totals,
              "reimbursement_table_check": check_table(params).table}
    write_results(Path(out_dir) / "results", tables, TABLES)
    _print(echo, result, seconds, Path(out_dir) / "results")
    return True


def _print(echo, result, seconds: float, where: Path) -> None:
    audited = sum(result.audited.values())
    echo(f"差别化报销审核 claims audit: 审核 {audited:,} 条（住院 {result.audited['inpatient']:,}，"
         f"门诊 {result.audited['outpatient']:,}），用时 {seconds:.2f} s")
    totals = result.totals
    for r in totals.loc[totals["by"] == "rule"].itertuples(index=False):
        echo(f"  {r.rule_zh}：{r.claims:,} 条，多支付 {y(r.overpaid)}，少支付 {y(r.underpaid)}")
    county = totals.loc[totals["by"] == "county"].iloc[0]
    echo(f"  合计 {int(county['claims']):,} 条，差额（多支付为正）{y(int(county['difference']))}")
    for p in result.problems:
        if p.rule == "audit.table_gap":
            echo(f"  比例表不符合“3个10%”：{p.message_zh}")
    echo(f"  结果 results: {where}/claims_audit.csv、claims_audit_totals.csv、"
         "reimbursement_table_check.csv")
