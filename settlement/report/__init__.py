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

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from settlement.report import results_csv
from settlement.report.audit import unit_sheets, write_claim_lists
from settlement.report.bureau import write_bureau
from settlement.report.community import write_communities
from settlement.report.context import ReportContext
from settlement.report.parallel import Running, start_jobs
from settlement.report.pdf import convert_to_pdf
from settlement.report.results_book import BOOK_NAME, SHEET_ZH, write_results_book
from settlement.report.statements import (statement_jobs, statement_path, write_statement,
                                           write_statements)
from settlement.report.summary import write_summary

SUMMARY_NAME = "汇总.xlsx"
BUREAU_NAME = "医保对账.xlsx"
UNITS_DIR = "units"
COMMUNITIES_DIR = "communities"
RESULTS_DIR = "results"
BIG_CSV_ROWS = 20_000  # a result table this long is written first (the longest jobs first)

__all__ = ["ReportContext", "write_workbooks", "start_writing", "Writing", "write_summary",
           "write_bureau", "write_statements", "write_statement", "statement_path"]


def write_workbooks(run_dir: Path, results: Mapping[str, pd.DataFrame],
                    context: ReportContext, echo=None, workers: int | None = None,
                    meanwhile: Callable[[], object] | None = None) -> list[Path]:
    """Write every workbook of the run under ``run_dir``; returns their paths (summary,
    bureau, the community statements, the unit statements by unit id, then
    ``results/结果明细.xlsx``). The workbooks are written by ``workers`` processes (default
    :func:`~settlement.report.parallel.default_workers`; the same bytes for any number), with
    each unit's too long list of flagged claims in ``units/审核清单/``
    (:func:`write_claim_lists`), while this one runs ``meanwhile`` (e.g. the run's CSV results). With
    ``context.pdf`` the statements are also converted to PDF (:mod:`settlement.report.pdf`);
    ``echo`` prints what happened (e.g. LibreOffice missing)."""
    writing = start_writing(run_dir, results, context, workers=workers)
    try:
        if meanwhile is not None:
            meanwhile()
    except BaseException:
        writing.stop()
        raise
    return writing.finish(echo)


def start_writing(run_dir: Path, results: Mapping[str, pd.DataFrame], context: ReportContext,
                  csv_names: Sequence[str] = (), workers: int | None = None) -> "Writing":
    """Begin writing every workbook of the run, and the result tables ``csv_names`` as
    ``results/<name>.csv`` (:func:`~settlement.report.results_csv.write_results`), in forked
    workers (:mod:`settlement.report.parallel`), and return at once: the caller does its own
    work (a run: the database inserts) and then calls :meth:`Writing.finish`. The long CSVs
    go first, then the workbooks as :func:`write_workbooks` orders them, the short CSVs last;
    every file's bytes are the same whoever writes it."""
    run_dir = Path(run_dir)
    if "unit_statement" not in results:
        raise KeyError("results 缺少 unit_statement（先运行 settlement.reconcile.reconcile）")
    own = unit_sheets(results, context)  # + each unit's own audit/fees/guarantee
    units = statement_jobs(run_dir / UNITS_DIR, results["unit_statement"], context, own)
    names = [n for n in SHEET_ZH if n in results]
    csv = [n for n in csv_names if n in results]
    big = sorted((n for n in csv if len(results[n]) >= BIG_CSV_ROWS), key=lambda n: -len(results[n]))
    small = [n for n in csv if n not in big]
    write_csv = lambda n: (results_csv.write_results, (run_dir / RESULTS_DIR, results, [n]))  # noqa: E731
    books = [(write_results_book, (run_dir / RESULTS_DIR / BOOK_NAME, results, names, context)),
             (write_summary, (run_dir / SUMMARY_NAME, results, context)),
             (write_claim_lists, ({job[1]: job[0] for job in units}, own)),
             (write_bureau, (run_dir / BUREAU_NAME, results, context)),
             (write_communities, (run_dir / COMMUNITIES_DIR, results, context))]
    jobs = ([write_csv(n) for n in big] + books
            + [(write_statement, job) for job in units]  # the longest first, then the many small
            + [write_csv(n) for n in small])
    return Writing(start_jobs(jobs, workers), len(big), [job[0] for job in units], context)


class Writing:
    """The files of a run being written (:func:`start_writing`)."""

    def __init__(self, running: Running, skip: int, unit_paths: list[Path], context: ReportContext):
        self.running, self.skip, self.unit_paths, self.context = running, skip, unit_paths, context
        self.statements: list[Path] = []

    def finish(self, echo=None, pdf: bool = True) -> list[Path]:
        """Wait for every file (a failed job's exception is raised here, once no worker writes
        any more); the workbooks' paths as :func:`write_workbooks` returns them. With
        ``context.pdf`` (and ``pdf``) the statements are then converted to PDF; a run
        converts them later, with :meth:`convert_pdf`, once its results are committed."""
        book, summary, _, bureau, communities, *_ = self.running.wait()[self.skip:]
        self.statements = communities + self.unit_paths
        if pdf:
            self.convert_pdf(echo)
        return [summary, bureau, *self.statements, book]

    def convert_pdf(self, echo=None) -> None:
        """With ``context.pdf``: the statements written as PDF too (:mod:`settlement.report.pdf`;
        LibreOffice missing or failing is a message, never an error)."""
        if self.context.pdf:
            pdfs, message = convert_to_pdf(self.statements)
            if echo is not None:
                echo(message or f"  已生成 PDF 结算单 {len(pdfs)} 份（与 xlsx 同名同目录）")

    def stop(self) -> None:
        """The caller failed: drop the files not begun, wait for the ones being written."""
        self.running.stop()
