"""The pipeline (结算流程), top to bottom in one place.

    load config → load data → validate → scan → settle (DIP, package, corridor,
    distribution, capitation, public health, indicators) → reconcile → persist → report

Each step is one function of its own module; this file only sequences them, times them and
hands the results on. Nothing is written to the database unless every step succeeded.
"""

from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import click
import pandas as pd

from settlement.config import ConfigError, Resolved, load_config, resolve
from settlement.loader import load_folder
from settlement.problems import Problem, has_errors
from settlement.reconcile import reconcile
from settlement.stages.chronic import settle_chronic
from settlement.stages.corridor import settle_corridor
from settlement.stages.dip import settle_dip
from settlement.stages.distribution import distribute, unit_measures
from settlement.stages.expenditure import scan_expenditure
from settlement.stages.indicators import compute_indicators
from settlement.stages.ledger import community_ledger
from settlement.stages.package import settle_packages
from settlement.stages.public_health import settle_public_health


@dataclass
class Outcome:
    ok: bool
    problems: list[Problem] = field(default_factory=list)
    run_id: str | None = None
    run_dir: Path | None = None


def load_and_validate(config_path: Path, data_dir: Path):
    """(config, resolved params, loaded data, problems); config errors become problems."""
    from settlement.validation import validate_dataset

    problems: list[Problem] = []
    config = resolved = None
    try:
        config = load_config(config_path)
        resolved = resolve(config)
    except ConfigError as exc:
        problems += [Problem("config", "error", "config", p, file=str(config_path)) for p in exc.problems]
    loaded = load_folder(data_dir)
    problems += loaded.problems
    year = resolved.year if resolved else (config.settlement_year if config else None)
    problems += validate_dataset(loaded, year, resolved)
    return config, resolved, loaded, problems


def validate_inputs(config_path: Path, data_dir: Path, out_dir: Path | None) -> Outcome:
    """``settlement validate``: check everything, write the report, compute nothing."""
    from settlement.validation.report import print_summary, write_report

    config, resolved, loaded, problems = load_and_validate(config_path, data_dir)
    if out_dir is not None:
        write_report(problems, loaded, Path(out_dir) / "validation")
    print_summary(problems, loaded, click.echo)
    return Outcome(ok=not has_errors(problems), problems=problems)


@dataclass
class Settlement:
    """Everything a run computed: result tables by name (money int64 fen) and problems."""

    tables: dict[str, pd.DataFrame]
    problems: list[Problem]
    summary: dict


def settle(t: dict[str, pd.DataFrame], resolved: Resolved, step=lambda name: nullcontext()) -> Settlement:
    """The settlement itself, pure: input frames + parameters → result frames.

    ``step(name)`` is a context manager the caller uses for timings and progress.
    """
    P, year, src = resolved.params, resolved.year, resolved.source
    refs = {path: trace.reference for path, trace in resolved.trace.items()}
    problems: list[Problem] = []
    with step("DIP 结算 DIP settlement"):
        dip = settle_dip(t["inpatient_cases"], t["units"], t["dip_groups"],
                         t["dip_reference_costs"], t["performance_scores"], t["prepayments"],
                         P.dip, source=src)
        problems += dip.problems
    with step("慢病包干 chronic capitation"):
        chronic = settle_chronic(
            enrollees=t["chronic_enrollees"] if P.chronic.enabled else None,
            inpatient_cases=t["inpatient_cases"], outpatient_claims=t["outpatient_claims"],
            units=t["units"], performance_scores=t["performance_scores"], params=P.chronic,
            year=year, communities=t["communities"], dip_cases=dip.cases)
        problems += chronic.problems
    with step("打包与支出 package and expenditure"):
        packages = settle_packages(t["communities"], t["fund_budget"], P.package,
                                   chronic.carve_outs, refs, problems)
        spend = scan_expenditure(dip.cases, t["inpatient_cases"], t["outpatient_claims"],
                                 t["units"], t["communities"], chronic.other_lines, dip.units)
    with step("结余留用与超支分担 corridor"):
        community = settle_corridor(packages, spend, t["performance_scores"], P.corridor,
                                    t["overrun_adjustments"], refs, problems)
    with step("成员单位分配 distribution"):
        measures = unit_measures(dip.units, t["public_health_workpoints"])
        distribution = distribute(community, t["units"], t["performance_scores"], P.distribution,
                                  measures, refs, problems)
        ledger = community_ledger(community, distribution, chronic.other_lines)
    with step("公卫经费 public health"):
        health = settle_public_health(communities=t["communities"], units=t["units"],
                                      workpoints=t["public_health_workpoints"],
                                      prepayments=t["prepayments"], params=P.public_health,
                                      year=year)
        problems += health.problems
    with step("考核指标 indicators"):
        indicators = compute_indicators(inpatient_cases=t["inpatient_cases"],
                                        outpatient_claims=t["outpatient_claims"], units=t["units"],
                                        params=P.indicators, communities=t["communities"],
                                        enrolment=chronic.enrolment)
        problems += indicators.problems
    tables = {"dip_cases": dip.cases, "dip_units": dip.units, "dip_ledger": dip.ledger,
              "community_settlement": community, "unit_distribution": distribution,
              "ledger": ledger, "chronic_settlement": chronic.settlement,
              "chronic_units": chronic.units, "public_health_allocation": health.allocation,
              "public_health_pools": health.pools, "indicators": indicators.table,
              "indicator_scores": indicators.scores, "expenditure": spend, "packages": packages}
    with step("对账 reconciliation"):
        rec = reconcile(tables, t["units"], t["communities"], t["prepayments"], P, src)
        tables.update(rec.tables())
    return Settlement(tables, problems, {"dip": dip.summary})


CONTRACT_RESULTS = ["dip_cases", "dip_units", "community_settlement", "unit_distribution",
                    "chronic_settlement", "public_health_allocation", "indicators",
                    "unit_statement", "ledger"]
SUPPORTING_RESULTS = ["dip_ledger", "unit_funds", "bureau_communities", "bureau_units",
                      "reconciliation_checks", "public_health_pools", "chronic_units",
                      "expenditure"]


class Steps:
    """Timings and progress of a run: ``with steps("DIP 结算"):`` prints and times the step."""

    def __init__(self, echo=click.echo, show: bool = True):
        self.timings: dict[str, float] = {}
        self.echo, self.show = echo, show

    @contextmanager
    def __call__(self, name: str):
        if self.show:
            self.echo(f"  ▸ {name} …")
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)
        if self.show:
            self.echo(f"    完成 done  {self.timings[name]:.2f} s")


def run_settlement(config_path: Path, data_dir: Path, out_root: Path, db_url: str,
                   supersede: bool = False, progress: bool = True, echo=click.echo) -> Outcome:
    """``settlement run``: validate, settle, write the reports, persist in one transaction."""
    from settlement.report import ReportContext, write_workbooks
    from settlement.report.results_csv import write_results
    from settlement.store import PeriodClosed, RunMeta, RunStore, write_manifest
    from settlement.validation.report import print_summary, write_report

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        echo(str(exc))
        return Outcome(ok=False)
    store = RunStore.open(db_url)
    store.upgrade()
    try:
        run_id = store.begin_run(RunMeta(config.county, config.settlement_year, config.scenario,
                                         config.sha256, config_path=str(config_path),
                                         data_dir=str(data_dir)), supersede=supersede)
    except PeriodClosed as exc:
        echo(str(exc))
        return Outcome(ok=False)
    run_dir = Path(out_root) / run_id
    steps = Steps(echo, progress)
    echo(f"结算开始 run {run_id}：{config.county} {config.settlement_year} 年度")
    try:
        with steps("读取与校验 load and validate"):
            config, resolved, loaded, problems = load_and_validate(config_path, data_dir)
            store.update_run(run_id, input_hashes=loaded.file_hashes,
                             input_rows={t: len(f) for t, f in loaded.tables.items()})
            write_report(problems, loaded, run_dir / "validation")
        if has_errors(problems):
            print_summary(problems, loaded, echo)
            store.fail_run(run_id, f"校验未通过 validation failed: "
                           f"{sum(p.severity == 'error' for p in problems)} 个错误", steps.timings)
            return Outcome(ok=False, problems=problems, run_id=run_id, run_dir=run_dir)
        result = settle(loaded.tables, resolved, steps)
        problems += result.problems
        with steps("写出结果与报表 write results and workbooks"):
            write_results(run_dir / "results", result.tables, CONTRACT_RESULTS + SUPPORTING_RESULTS)
            context = ReportContext(config.county, resolved.year, run_id, loaded.tables["units"],
                                    loaded.tables["communities"], problems=problems,
                                    param_sources={p: resolved.source(p) for p in resolved.trace},
                                    scenario=config.scenario)
            write_workbooks(run_dir, result.tables, context)
        with steps("保存到数据库 save to database"):
            store.save_results(run_id, {n: result.tables[n] for n in CONTRACT_RESULTS},
                               timings=steps.timings)
    except BaseException as exc:
        store.fail_run(run_id, f"{type(exc).__name__}: {exc}"[:2000], steps.timings)
        echo(f"结算失败 run failed: {type(exc).__name__}: {exc}")
        if not isinstance(exc, Exception):
            raise
        return Outcome(ok=False, run_id=run_id, run_dir=run_dir)
    finally:
        write_manifest(run_dir, store.get_run(run_id))
        store.dispose()
    _print_outcome(echo, result, run_id, run_dir)
    return Outcome(ok=True, problems=problems, run_id=run_id, run_dir=run_dir)


def _print_outcome(echo, result: Settlement, run_id: str, run_dir: Path) -> None:
    """A short Chinese summary per community and where the files are."""
    from settlement.money import yuan_display as y

    echo("")
    echo(f"结算完成 settlement finished — run {run_id}")
    for r in result.tables["community_settlement"].itertuples(index=False):
        verdict = (f"结余 surplus {y(r.balance)}，留用 retained {y(r.surplus_retained)}"
                   if r.balance >= 0 else
                   f"超支 overrun {y(-r.balance)}，基金分担 fund {y(r.overrun_fund_share)}，"
                   f"医共体自担 community {y(r.overrun_community_share)}")
        echo(f"  {r.community_id}: 打包额 package {y(r.package)}，支出 spent {y(r.expenditure)}，{verdict}")
    ledger = result.tables["ledger"]
    echo(f"  账平检查 ledger check: 合计 {y(int(ledger.loc[ledger['line'] == 'total', 'amount'].sum()))}")
    warnings = [p for p in result.problems if p.severity == "warning"]
    if warnings:
        echo(f"  提示 {len(warnings)} 条 warnings（见 汇总.xlsx 校验 sheet）")
    echo(f"  报表 reports: {run_dir}/汇总.xlsx, 医保对账.xlsx, units/（各成员单位结算单）")
    echo(f"  结果表 results: {run_dir}/results/   运行记录 manifest: {run_dir}/manifest.json")
