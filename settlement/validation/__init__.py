"""Validation (数据校验): every problem of the input, before anything is computed.

    loader problems (files, columns, cells that do not parse)      — settlement.loader
    + single-table checks: GX suites built from the schemas        — gx_suites
    + cross-table rules of CONTRACT.md, in our own code            — cross_table
    + exact money totals per table (int fen)                       — cross_table.money_totals
      (large tables: the row rules and totals as DuckDB counts, failing rows only — sql_checks)
    = one problem list; the run stops when it holds an error

:func:`validate_dataset` returns the problems it adds to the loader's (it does not repeat
them); what the report needs besides the list — GX results for Data Docs, verdicts per
expectation, money totals, timings — is left on ``loaded.validation`` as a
:class:`ValidationRun`. Example::

    loaded = load_folder("sample_data")
    problems = loaded.problems + validate_dataset(loaded, 2025, resolved)
    write_report(problems, loaded, Path("out/validation"))   # settlement.validation.report
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from settlement.loader import LoadResult
from settlement.problems import Problem
from settlement.schema import contract
from settlement.validation.cross_table import check_cross_table, member_levels, money_totals, total_problems
from settlement.validation.gx_suites import SuiteRun, run_suites
from settlement.validation.inputs import Inputs

__all__ = ["validate_dataset", "ValidationRun", "REQUIRED_TABLES", "required_table_problems"]

#: The tables every data folder must hold (CONTRACT.md "required: yes"). Stated here in code, not
#: only in the definitions, so that a missing or edited definition cannot make one optional.
REQUIRED_TABLES = ("communities", "fund_budget", "units", "dip_groups", "dip_reference_costs",
                   "inpatient_cases", "outpatient_claims", "performance_scores")


@dataclass
class ValidationRun:
    """What the report needs besides the problem list."""

    year: int | None
    suites: SuiteRun
    totals: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    report_files: dict = field(default_factory=dict)  # set by report.write_report


def validate_dataset(loaded: LoadResult, year: int | None, resolved=None, use_gx: bool = True,
                     docs: bool = False) -> list[Problem]:
    """All single-table and cross-table problems of the loaded data (not the loader's own).

    ``year`` is the settlement year (None when the config could not be read: the year checks
    are skipped, the config error stops the run anyway); ``resolved`` adds the checks that
    need the parameters. ``use_gx=False`` runs our masks alone (same problems, no Data Docs);
    ``docs``: Data Docs will be written (the large tables' GX samples are run for them).
    """
    missing = required_table_problems(loaded)
    inputs = Inputs.of(loaded)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    ahead: dict = {}
    problems, suites = run_suites(inputs, year, use_gx=use_gx, meanwhile=lambda: _ahead(inputs, ahead),
                                 docs=docs)
    timings["suites"] = time.perf_counter() - started
    started = time.perf_counter()
    problems += check_cross_table(inputs, year, resolved)
    timings["cross_table"] = time.perf_counter() - started
    started = time.perf_counter()
    totals = ahead["totals"] if "totals" in ahead else money_totals(inputs)
    problems += total_problems(inputs, totals)
    timings["totals"] = time.perf_counter() - started
    inputs.close()
    loaded.validation = ValidationRun(year, suites, totals, timings)
    return loaded.localise(missing + problems)


def _ahead(inputs: Inputs, out: dict) -> None:
    """The questions of the later rules that change nothing, asked while GX runs
    (:func:`run_suites`): the large tables' unresolved ids (cached by :meth:`Inputs.unresolved`),
    the money totals and the cases' hospital levels (:meth:`Inputs.cached`)."""
    from settlement.validation.id_checks import references

    for table, column, targets in references(inputs):
        if targets and inputs.sql.large(table):
            inputs.unresolved(table, column, targets)
    out["totals"] = money_totals(inputs)
    member_levels(inputs)


def required_table_problems(loaded: LoadResult, schemas: dict | None = None) -> list[Problem]:
    """An error for each required table without a definition, or absent from the data folder.

    A table the loader already reported (missing, unreadable, ambiguous, empty) is not repeated.
    """
    schemas = contract() if schemas is None else schemas
    reported = {p.table for p in loaded.problems if p.severity == "error"}
    out = []
    for name in REQUIRED_TABLES:
        if name not in schemas:
            out.append(Problem("contract.missing", "error", name,
                               f"缺少必需数据表 {name} 的定义（{name}.yaml）：安装不完整，请重新安装 settlement",
                               f"no definition for the required table {name}: reinstall settlement"))
        elif name not in loaded.sources and name not in reported:
            label = schemas[name].label_zh
            out.append(Problem("table.missing", "error", name,
                               f"缺少必需的数据表「{label}」（{name}.csv / {name}.parquet / Excel 工作表 {name}）",
                               f"required table {name} not found"))
    return out
