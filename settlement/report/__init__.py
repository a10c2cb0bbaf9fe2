"""Excel workbooks of a run (报表): the finance office's summary, the units' statements, the
bureau's reconciliation. The only place that writes Excel; XlsxWriter throughout (see
ARCHITECTURE.md, "Excel writing", and :mod:`settlement.report.layout` for the cell rules).

    reports/<run_id>/汇总.xlsx                       总览 基金预算 DIP结算 结余分配 慢病包干
                                                     公卫经费 指标 对账 校验 参数
    reports/<run_id>/医保对账.xlsx                   医共体对账 成员单位对账 校验
    reports/<run_id>/units/<unit_id>_<name>.xlsx     one statement per member unit

``results`` holds the result tables by name (CONTRACT.md names, plus ``chronic_units``) and
the tables of :meth:`Reconciliation.tables`
(``unit_statement``, ``unit_funds``, ``bureau_communities``, ``bureau_units``,
``reconciliation_checks``). Only ``unit_statement`` is required; a missing table leaves its
sheet with a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from settlement.report.bureau import write_bureau
from settlement.report.context import ReportContext
from settlement.report.statements import statement_path, write_statement, write_statements
from settlement.report.summary import write_summary

SUMMARY_NAME = "汇总.xlsx"
BUREAU_NAME = "医保对账.xlsx"
UNITS_DIR = "units"

__all__ = ["ReportContext", "write_workbooks", "write_summary", "write_bureau",
           "write_statements", "write_statement", "statement_path"]


def write_workbooks(run_dir: Path, results: Mapping[str, pd.DataFrame],
                    context: ReportContext) -> list[Path]:
    """Write every workbook of the run under ``run_dir``; returns their paths (summary,
    bureau, then the statements by unit id)."""
    run_dir = Path(run_dir)
    if "unit_statement" not in results:
        raise KeyError("results 缺少 unit_statement（先运行 settlement.reconcile.reconcile）")
    paths = [write_summary(run_dir / SUMMARY_NAME, results, context),
             write_bureau(run_dir / BUREAU_NAME, results, context)]
    paths += write_statements(run_dir / UNITS_DIR, results["unit_statement"], context)
    return paths
