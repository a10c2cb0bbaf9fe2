"""Excel workbooks of a run (报表): the finance office's summary, the units' statements, the
bureau's reconciliation. The only place that writes Excel; XlsxWriter throughout (see
ARCHITECTURE.md, "Excel writing", and :mod:`settlement.report.layout` for the cell rules).

    reports/<run_id>/汇总.xlsx                       总览 基金预算 DIP结算 结余分配 慢病包干
                                                     公卫经费 指标 对账 校验 参数
    reports/<run_id>/医保对账.xlsx                   医共体对账 成员单位对账 校验
    reports/<run_id>/communities/<id>_<name>.xlsx    one statement per community (flow of funds)
    reports/<run_id>/units/<unit_id>_<name>.xlsx     one statement per member unit
    reports/<run_id>/units/审核清单/<statement>.csv  a unit's flagged claims, when too many
                                                     for its statement (audit.UNIT_LIST_LIMIT)

``results`` holds the result tables by name (CONTRACT.md names, plus ``chronic_units``) and
the tables of :meth:`Reconciliation.tables`
(``unit_statement``, ``unit_funds``, ``bureau_communities``, ``bureau_units``,
``reconciliation_checks``). Only ``unit_statement`` is required; a missing table leaves its
sheet with a note.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from settlement.report.audit import unit_sheets, write_claim_lists
from settlement.report.bureau import write_bureau
from settlement.report.community import write_communities
from settlement.report.context import ReportContext
from settlement.report.parallel import run_jobs
from settlement.report.pdf import convert_to_pdf
from settlement.report.results_book import BOOK_NAME, SHEET_ZH, write_results_book
from settlement.report.statements import (statement_jobs, statement_path, write_statement,
                                           write_statements)
from settlement.report.summary import write_summary

SUMMARY_NAME = "汇总.xlsx"
BUREAU_NAME = "医保对账.xlsx"
UNITS_DIR = "units"
COMMUNITIES_DIR = "communities"

__all__ = ["ReportContext", "write_workbooks", "write_summary", "write_bureau",
           "write_statements", "write_statement", "statement_path"]


def write_workbooks(run_dir: Path, results: Mapping[str, pd.DataFrame],
                    context: ReportContext, echo=None, workers: int | None = None,
                    meanwhile: Callable[[], object] | None = None) -> list[Path]:
    """Write every workbook of the run under ``run_dir``; returns their paths (summary,
    bureau, the community statements, the unit statements by unit id, then
    ``results/结果明细.xlsx``). The workbooks are written by ``workers`` processes (default
    :func:`~settlement.report.parallel.default_workers`; the same bytes for any number), with
    each unit's too long list of flagged claims in ``units/审核清单/``
    (:func:`write_claim_lists`), while this one runs ``meanwhile`` (the run's CSV results). With
    ``context.pdf`` the statements are also converted to PDF (:mod:`settlement.report.pdf`);
    ``echo`` prints what happened (e.g. LibreOffice missing)."""
    run_dir = Path(run_dir)
    if "unit_statement" not in results:
        raise KeyError("results 缺少 unit_statement（先运行 settlement.reconcile.reconcile）")
    own = unit_sheets(results, context)  # + each unit's own audit/fees/guarantee
    units = statement_jobs(run_dir / UNITS_DIR, results["unit_statement"], context, own)
    names = [n for n in SHEET_ZH if n in results]
    jobs = [(write_results_book, (run_dir / "results" / BOOK_NAME, results, names, context)),
            (write_summary, (run_dir / SUMMARY_NAME, results, context)),
            (write_claim_lists, ({job[1]: job[0] for job in units}, own)),
            (write_bureau, (run_dir / BUREAU_NAME, results, context)),
            (write_communities, (run_dir / COMMUNITIES_DIR, results, context))]
    jobs += [(write_statement, job) for job in units]  # the longest first, then the many small
    book, summary, _, bureau, communities, *_ = run_jobs(jobs, workers, meanwhile)
    statements = communities + [job[0] for job in units]
    paths = [summary, bureau, *statements, book]
    if context.pdf:
        pdfs, message = convert_to_pdf(statements)
        if echo is not None:
            echo(message or f"  已生成 PDF 结算单 {len(pdfs)} 份（与 xlsx 同名同目录）")
    return paths
