"""Single-table checks as Great Expectations suites, built from the schemas (单表校验).

Each column of a schema gives a few checks (:func:`table_checks`)::

    inpatient_cases.total_cost  (money, min 0)  → type int64 · not null · ≥ 0 fen
    units.category              (enum)          → type str · not null · in {lead_hospital, …}
    prepayments.period          (period)        → type str · not null · matches YYYY-MM|YYYYQn
    outpatient_claims.service_date (in_year)    → type datetime64 · not null · in 2025
    dip_reference_costs (key group_code+level)  → compound columns unique

A :class:`Check` holds the GX expectation (name + kwargs) *and* our own vectorised mask of the
rows that break it. :func:`run_suites` runs one suite per table in an embedded, ephemeral GX
context with the cheap ``SUMMARY`` result format, takes GX's verdict per expectation, and only
for the failed ones computes our mask to list the rows (user row numbers, capped per rule by
:func:`settlement.loader.add_row_problems`). GX's ``COMPLETE`` format with
``unexpected_index_list`` is avoided: with many failures it is slower than the whole suite.

Not-null failures list no rows here: every empty required cell was already reported by the
loader ("不能为空"), and cells the loader flagged are never reported twice.

Large tables (:data:`settlement.validation.sql_checks.LARGE_ROWS` rows and more: cases,
claims) get their verdict on every row from DuckDB instead (one scan counts every column
rule; see :mod:`.sql_checks` for the measurement behind it); their GX suite runs on the first
:data:`GX_SAMPLE_ROWS` rows, for Data Docs. Each :class:`Check` carries its rule as a SQL
predicate (``sql``) for that.

``great_expectations`` is imported inside :func:`run_suites` only (the import takes seconds);
analytics are switched off, progress bars off, its logger at WARNING. If GX cannot run at all,
every mask is computed instead and one warning says so: the checks never depend on GX working.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import logging
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from settlement.loader import add_row_problems
from settlement.money import format_yuan
from settlement.problems import Problem
from settlement.schema import STRING_TYPES, Column, TableSchema
from settlement.validation.inputs import Inputs, table_problem
from settlement.validation.sql_checks import large_table_verdicts, literal, quote

Mask = Callable[[pd.DataFrame], pd.Series]

#: GX compares the dtype's scalar type: StringDtype → str, Int64/int64 → int64, …
GX_TYPE = {"int": "int64", "money": "int64", "float": "float64", "date": "datetime64[ns]", "bool": "bool"}


@dataclass(frozen=True)
class Check:
    """One expectation of a table and the mask that finds its offending rows."""

    table: str
    column: str  # "" for the table, "a+b" for a compound key
    rule: str  # stable rule id of the problem list
    expectation: str  # GX expectation class name; "" for a check of our own (its mask decides)
    kwargs: dict[str, Any]
    zh: str
    en: str
    mask: Mask | None = None  # rows that break the check; None: a table-level check
    show: Callable[[pd.DataFrame, pd.Series, str], pd.Series] | None = None  # value shown per row
    list_rows: bool = True  # False: the loader already listed these rows (not null)
    sql: str = ""  # the same violation as a DuckDB predicate over the table (large tables)

    @property
    def columns(self) -> list[str]:
        return self.column.split("+") if self.column else []


# ---------------------------------------------------------------- suites from the schema
def table_checks(schema: TableSchema, year: int | None) -> list[Check]:
    """The checks of one table, in a stable order (table, key, then column by column)."""
    t = schema.table
    names = schema.column_names
    checks = [Check(t, "", "table.columns", "ExpectTableColumnsToMatchSet",
                    {"column_set": names, "exact_match": True},
                    "表的列与数据契约不一致", "columns differ from the data contract")]
    if schema.required:
        checks.append(Check(t, "", "table.empty", "ExpectTableRowCountToBeBetween", {"min_value": 1},
                            f"数据表「{schema.label_zh}」没有数据行", f"table {t} has no rows"))
    checks.append(_key_check(schema))
    for col in schema.columns:
        checks += column_checks(t, col, year)
    return checks


def column_checks(table: str, col: Column, year: int | None) -> list[Check]:
    name, label = col.name, col.label_zh
    kind = "str" if col.type in STRING_TYPES else GX_TYPE[col.type]
    out = [Check(table, name, "type.mismatch", "ExpectColumnValuesToBeOfType",
                 {"column": name, "type_": kind},
                 f"「{label}」的数据类型不是 {kind}", f"{name} is not of type {kind}")]
    if not col.nullable:
        out.append(Check(table, name, "value.required", "ExpectColumnValuesToNotBeNull", {"column": name},
                         f"「{label}」不能为空", f"{name} must not be empty",
                         mask=lambda f: f[name].isna(), list_rows=False, sql=f"{quote(name)} IS NULL"))
    if col.min is not None or col.max is not None:
        out.append(_range_check(table, col))
    if col.enum:
        allowed = list(col.enum)
        out.append(Check(table, name, "value.enum", "ExpectColumnValuesToBeInSet",
                         {"column": name, "value_set": allowed},
                         f"「{label}」应为以下之一：{'、'.join(allowed)}",
                         f"{name} must be one of {', '.join(allowed)}",
                         mask=lambda f: f[name].notna() & ~f[name].isin(allowed),
                         sql=f"{quote(name)} NOT IN ({', '.join(literal(a) for a in allowed)})"))
    if col.pattern:
        pattern, form = col.pattern, PATTERN_FORM.get(col.type, col.pattern)
        out.append(Check(table, name, "value.pattern", "ExpectColumnValuesToMatchRegex",
                         {"column": name, "regex": re.sub(r"\((?!\?)", "(?:", pattern)},  # GX warns on groups
                         f"「{label}」格式应为 {form}", f"{name} must look like {form}",
                         mask=lambda f: f[name].notna() & ~f[name].str.fullmatch(pattern).fillna(False),
                         sql=f"NOT regexp_full_match({quote(name)}, {literal(pattern)})"))
    if col.type in STRING_TYPES and col.length_limit:
        out.append(_length_check(table, col))
    if col.in_year and year:
        first, last = dt.datetime(year, 1, 1), dt.datetime(year, 12, 31)
        out.append(Check(table, name, "date.in_year", "ExpectColumnValuesToBeBetween",
                         {"column": name, "min_value": first, "max_value": last},
                         f"「{label}」应在结算年度 {year} 年内（{year}-01-01 至 {year}-12-31）",
                         f"{name} must fall in the settlement year {year}",
                         mask=lambda f: f[name].notna() & ((f[name] < first) | (f[name] > last)),
                         sql=f"({quote(name)} < {literal(first)} OR {quote(name)} > {literal(last)})",
                         show=_show_date))
    return out


def _length_check(table: str, col: Column) -> Check:
    """Text no longer than the schema allows (our own Arrow mask: GX would copy every cell)."""
    name, limit = col.name, col.length_limit
    return Check(table, name, "text.too_long", "", {"column": name, "max_value": limit},
                 f"「{col.label_zh}」过长：最多 {limit} 个字符", f"{name} is longer than {limit} characters",
                 mask=lambda f: f[name].str.len().gt(limit).fillna(False).astype(bool), show=_show_long,
                 sql=f"length({quote(name)}) > {limit}")


def _show_long(frame: pd.DataFrame, mask: pd.Series, column: str) -> pd.Series:
    text = frame.loc[mask, column]
    return text.str.slice(0, 40) + "…（共 " + text.str.len().astype("string") + " 个字符）"


PATTERN_FORM = {"period": "YYYY-MM 或 YYYYQn（如 2025-03、2025Q1）", "quarter": "YYYYQn（如 2025Q1）"}


def _range_check(table: str, col: Column) -> Check:
    name, label = col.name, col.label_zh
    scale = 100 if col.type == "money" else 1  # money is held in fen
    low = None if col.min is None else _number(col.min * scale, col.type)
    high = None if col.max is None else _number(col.max * scale, col.type)
    unit = " 元" if col.type == "money" else ""
    parts_zh, parts_en, kwargs, sql = [], [], {"column": name}, []
    if low is not None:
        sql.append(f"{quote(name)} {'<=' if col.min_exclusive else '<'} {low!r}")
        kwargs.update(min_value=low, strict_min=col.min_exclusive)
        parts_zh.append(f"{'大于' if col.min_exclusive else '不小于'} {_plain(col.min)}{unit}")
        parts_en.append(f"{'>' if col.min_exclusive else '≥'} {_plain(col.min)}")
    if high is not None:
        sql.append(f"{quote(name)} > {high!r}")
        kwargs.update(max_value=high)
        parts_zh.append(f"不大于 {_plain(col.max)}{unit}")
        parts_en.append(f"≤ {_plain(col.max)}")

    def mask(f: pd.DataFrame) -> pd.Series:
        v = f[name]
        bad = pd.Series(False, index=f.index)
        if low is not None:
            bad |= (v <= low) if col.min_exclusive else (v < low)
        if high is not None:
            bad |= v > high
        return bad.fillna(False).astype(bool)

    return Check(table, name, "value.range", "ExpectColumnValuesToBeBetween", kwargs,
                 f"「{label}」应{'且'.join(parts_zh)}", f"{name} must be {' and '.join(parts_en)}",
                 mask=mask, show=_show_money if col.type == "money" else None,
                 sql=" OR ".join(sql) or "FALSE")


def _key_check(schema: TableSchema) -> Check:
    t, key = schema.table, list(schema.primary_key)
    labels = " + ".join(schema.column(k).label_zh for k in key)
    mask = lambda f: f.duplicated(subset=key, keep=False) & f[key].notna().all(axis=1)  # noqa: E731
    zh = f"「{labels}」重复：每个值只能出现一次（所有重复行均列出）"
    if len(key) == 1:  # "all values unique" as distinct / non-null == 1: see module docstring
        return Check(t, key[0], "key.duplicate", "ExpectColumnProportionOfUniqueValuesToBeBetween",
                     {"column": key[0], "min_value": 1, "max_value": 1}, zh, f"duplicate {key[0]}", mask=mask)
    return Check(t, "+".join(key), "key.duplicate", "ExpectCompoundColumnsToBeUnique",
                 {"column_list": key}, zh, f"duplicate ({', '.join(key)})", mask=mask,
                 show=lambda f, m, _: f.loc[m, key].astype("string").fillna("").agg(" / ".join, axis=1))


def _number(value: float, kind: str):
    return int(round(value)) if kind in ("int", "money") or float(value).is_integer() else float(value)


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _show_money(frame: pd.DataFrame, mask: pd.Series, column: str) -> pd.Series:
    """fen → the yuan text the user wrote (exact)."""
    return format_yuan(frame.loc[mask, column].astype("int64"))


def _show_date(frame: pd.DataFrame, mask: pd.Series, column: str) -> pd.Series:
    return frame.loc[mask, column].dt.strftime("%Y-%m-%d")


# ---------------------------------------------------------------- running the suites
@dataclass
class SuiteRun:
    """What the GX step found: per-expectation verdicts, the results (for Data Docs)."""

    verdicts: list[dict] = field(default_factory=list)  # table, column, rule, expectation, success, unexpected
    results: dict[str, Any] = field(default_factory=dict)  # table → GX validation result
    context: Any = None  # the ephemeral GX context (holds the results for Data Docs)
    gx_version: str = ""
    gx_error: str = ""
    seconds: float = 0.0


def run_suites(inputs: Inputs, year: int | None, use_gx: bool = True,
               meanwhile: Callable[[], None] | None = None, docs: bool = False) -> tuple[list[Problem], SuiteRun]:
    """Run every loaded table's suite; problems for the failed checks, rows by our masks.

    ``docs``: Data Docs will be written (``--data-docs``), so the large tables' suites run on
    their samples too (their verdicts are DuckDB's either way; without Data Docs the samples
    would be validated for nothing: ≈ 1 s at scale 10).
    ``meanwhile``: more DuckDB work for the thread that counts the large tables' rows while GX
    runs its suites (the caller's later rules, asked ahead: no side effect but their caches)."""
    started = time.perf_counter()
    plan = {t: table_checks(inputs.schemas[t], year) for t in inputs.schemas if inputs.has(t)}
    plan = {t: [c for c in checks if inputs.has(t, *c.columns)] for t, checks in plan.items()}
    run = SuiteRun()
    large = {t for t in plan if inputs.sql.large(t)}
    verdicts: dict[tuple[str, int], dict] = {}
    with ThreadPoolExecutor(1) as pool:  # DuckDB's counts (GIL released) beside GX's suites (Python)
        def whole_tables() -> dict:  # every row of the large tables: DuckDB
            found = {(table, i): v for table in sorted(large)
                     for i, v in large_table_verdicts(inputs.sql, table, plan[table]).items()}
            if meanwhile is not None:
                meanwhile()
            return found

        whole_rows = pool.submit(whole_tables)
        if use_gx:
            try:
                verdicts = _run_gx(inputs, plan, run, large, docs)
            except Exception as exc:  # GX broken or missing: our masks decide alone
                run.gx_error = f"{type(exc).__name__}: {exc}"
                verdicts = {}
        verdicts.update(whole_rows.result())
    problems: list[Problem] = []
    if run.gx_error:
        problems.append(Problem("gx.unavailable", "warning", "", "Great Expectations 未能运行，已改用内置规则逐项校验"
                                f"（{run.gx_error[:200]}）", "Great Expectations failed; checked with built-in rules"))
    for table, checks in plan.items():
        frame = inputs.tables[table]
        for i, check in enumerate(checks):
            verdict = verdicts.get((table, i))
            if verdict is None and not check.expectation:  # our own check: its mask is the verdict
                rows = int((check.mask(frame) & inputs.usable(table, *check.columns)).sum())
                verdict = {"table": table, "column": check.column, "rule": check.rule,
                           "expectation": "（内置 built-in）", "success": rows == 0, "unexpected": rows}
            if verdict is None:
                verdict = {"table": table, "column": check.column, "rule": check.rule,
                           "expectation": check.expectation, "success": None, "unexpected": None}
            run.verdicts.append(verdict)
            if verdict["success"]:
                continue
            problems += _problems_of(check, verdict, frame, inputs)
    run.seconds = time.perf_counter() - started
    return problems, run


def _problems_of(check: Check, verdict: dict, frame: pd.DataFrame, inputs: Inputs) -> list[Problem]:
    """Problems of one failed (or unchecked) expectation, rows found by our own mask."""
    if check.mask is None:  # a table-level check: GX's verdict (row count by hand without GX)
        unchecked_empty = verdict["success"] is None and check.rule == "table.empty" and not len(frame)
        if verdict["success"] is not False and not unchecked_empty:
            return []
        observed = len(frame) if check.rule == "table.empty" else verdict.get("observed")
        return [table_problem(inputs, check.rule, check.table, check.column, check.zh, check.en,
                              value="" if observed is None else str(observed)[:100])]
    if not check.list_rows:
        return []
    problems: list[Problem] = []
    if inputs.sql.large(check.table) and (check.sql or check.rule == "key.duplicate"):  # the failing rows only
        violation = check.sql or inputs.sql.duplicate_key(check.table, check.columns)
        mask = inputs.sql.mask(check.table, violation) & inputs.usable(check.table, *check.columns)
    else:
        mask = check.mask(frame).fillna(False).astype(bool) & inputs.usable(check.table, *check.columns)
    if mask.any():
        shown = check.show(frame, mask, check.column) if check.show else frame.loc[mask, check.column]
        add_row_problems(problems, check.rule, check.table, inputs.file(check.table), check.column,
                         mask, shown, check.zh, check.en)
    return problems


#: expectations that read one column (or the frame's metadata) without copying the frame
FRAME_SAFE = {"ExpectTableColumnsToMatchSet", "ExpectTableRowCountToBeBetween",
              "ExpectColumnValuesToBeOfType", "ExpectColumnValuesToNotBeNull"}
SPLIT_ROWS = 100_000


def batches(table: str, frame: pd.DataFrame, checks: list[Check]) -> list[tuple[str, pd.DataFrame, list[int]]]:
    """How a table's checks are run: (suite name, frame, check numbers).

    A small table is one suite on its frame. A large one (≥ SPLIT_ROWS rows) is one suite for
    the table-level, type and not-null checks on the whole frame, plus one suite per column
    for its value checks on that column alone (``frame[[column]]``, no copy): GX's pandas
    engine evaluates a column condition on ``df[df[column].notnull()]``, a copy of *every*
    column of the batch, once per expectation.
    """
    if len(frame) < SPLIT_ROWS:
        return [(table, frame, list(range(len(checks))))]
    out = [(table, frame, [i for i, c in enumerate(checks) if c.expectation in FRAME_SAFE])]
    by_column: dict[str, list[int]] = {}
    for i, check in enumerate(checks):
        if check.expectation and check.expectation not in FRAME_SAFE:  # "": not a GX check
            by_column.setdefault(check.column, []).append(i)
    for column, numbers in by_column.items():
        out.append((f"{table}.{column}", frame[checks[numbers[0]].columns], numbers))
    return out


#: a large table's suite runs on its first rows for Data Docs (0: not at all; only when Data
#: Docs are asked for); the verdict on every row is DuckDB's (sql_checks)
GX_SAMPLE_ROWS = 50_000


def _run_gx(inputs: Inputs, plan: dict[str, list[Check]], run: SuiteRun,
            large: set[str] = frozenset(), docs: bool = True) -> dict[tuple[str, int], dict]:
    gx, gxe = _import_gx()
    run.gx_version = gx.__version__
    context = gx.get_context(mode="ephemeral")
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("settlement_inputs")
    verdicts: dict[tuple[str, int], dict] = {}
    for table, checks in plan.items():
        whole = inputs.tables[table]
        if table in large and not (GX_SAMPLE_ROWS and docs):
            continue
        frame_of = whole.head(GX_SAMPLE_ROWS) if table in large else whole
        for name, frame, numbers in batches(table, frame_of, checks):
            if table in large:
                name = f"{name}.sample_{len(frame_of)}"
            batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
            suite = gx.ExpectationSuite(name=name)
            for i in [n for n in numbers if checks[n].expectation]:
                check = checks[i]
                suite.add_expectation(getattr(gxe, check.expectation)(**check.kwargs, meta={"check": i, "rule": check.rule}))
            suite = context.suites.add(suite)
            definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
            result = definition.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "SUMMARY", "return_unexpected_index_query": False, "partial_unexpected_count": 0})
            run.results[name] = result
            for r in result.results:
                if table in large:
                    continue  # a sample's verdict: Data Docs only
                i = int(r.expectation_config.meta["check"])
                failed_to_run = bool(r.exception_info and r.exception_info.get("raised_exception"))
                verdicts[(table, i)] = {
                    "table": table, "column": checks[i].column, "rule": checks[i].rule,
                    "expectation": checks[i].expectation, "suite": name,
                    "success": None if failed_to_run else bool(r.success),
                    "unexpected": (r.result or {}).get("unexpected_count"),
                    "observed": (r.result or {}).get("observed_value"),
                }
    run.context = context
    return verdicts


def prefetch() -> None:
    """Start importing GX in a background thread (≈ 4 s of module code, most of it while the
    loader's Arrow reads and hashing have released the GIL); :func:`_import_gx` then finds it."""
    if "great_expectations" not in sys.modules:
        threading.Thread(target=_import_gx, name="import-gx", daemon=True).start()


@functools.cache
def _import_gx():
    """Import GX quietly: no analytics, no progress bars, WARNING logs, no batch hashing."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    collecting = gc.isenabled()
    gc.disable()  # its ≈ 100 k new objects would set off full collections of the whole heap (≈ 1 s)
    try:
        import great_expectations as gx
        import great_expectations.expectations as gxe
        from great_expectations.execution_engine import pandas_execution_engine
    finally:
        gc.freeze()  # and never traversed again: each full collection after it took ≈ 0.15 s (scale 10)
        if collecting:
            gc.enable()

    # GX fingerprints every batch under 1 GB by hashing all its cells, twice per run
    # (~0.5 s per million rows); the fingerprint is only metadata, so it is switched off.
    pandas_execution_engine.HASH_THRESHOLD = 0
    return gx, gxe


def write_data_docs(run: SuiteRun, out_dir: Path) -> Path | None:
    """Render GX Data Docs (one page per table suite) under ``out_dir``; the index page path."""
    if run.context is None or not run.results:
        return None
    out_dir = Path(out_dir).resolve()
    name = f"site_{abs(hash(str(out_dir)))}"
    site = {"class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(out_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}
    if name not in (run.context.get_site_names() or []):
        run.context.add_data_docs_site(site_name=name, site_config=site)
    run.context.build_data_docs(site_names=[name])
    index = out_dir / "index.html"
    return index if index.exists() else None
