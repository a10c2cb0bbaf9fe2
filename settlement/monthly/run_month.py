"""``settlement run --month YYYY-MM``: the monthly DIP pre-settlement as a run (kind = month).

    load config and data (the year to date: :mod:`.month_inputs`) → validate → recorded
    earlier months (run store)
    → presettle (pure, :mod:`.presettle`) → write results/, units/*.xlsx, the bureau list
    → persist ``dip_presettlement`` (one transaction) → manifest, publish the folder

The same config and data folder as the year-end run. Period closing does not apply to month
runs: a closed year does not stop one, and a month run never closes; running a month again
supersedes its earlier run (only the latest counts in paid_to_date and at year end).
"""

from __future__ import annotations

import gc
from pathlib import Path

import click

from settlement.config import ConfigError, load_config
from settlement.monthly.presettle import (COLUMNS, MonthResult, cases_of_month, month_bounds,
                                          presettle_month)
from settlement.monthly.recorded import paid_by_unit, recorded_presettlements
from settlement.monthly.month_figures import save_figures
from settlement.monthly.month_inputs import load_month, month_list, months_to_read
from settlement.pipeline import Outcome, Steps, _failure_reason, end_failed_run, recorded_run
from settlement.problems import Problem, has_errors

METHOD = ("预结算金额 = 本月出院病例分值 × 预算点值（每单位每月取整到分一次）+ 未入组病例按实际支付 − 个人负担 − 违规扣款；"
          "预留质量保证金 = max(预结算金额, 0) × 质量保证金比例；本月拨付 = (预结算金额 − 保证金) × 月度预结算拨付比例"
          "（四舍五入到分）。病例分值与年度结算同一计分（按出院日期适用参数）。")


def run_month(config_path: Path, data_dir: Path, out_root: Path, db_url: str, month: str,
              progress: bool = True, echo=click.echo) -> Outcome:
    """Record and compute the month's pre-settlement; Outcome.ok when it was saved."""
    try:
        config = load_config(config_path)
        first, _ = month_bounds(month)
    except ConfigError as exc:
        echo(str(exc))
        return Outcome(ok=False)
    except ValueError:
        echo(f"月份格式应为 YYYY-MM（如 2025-03）/ --month must be YYYY-MM: {month}")
        return Outcome(ok=False)
    if first.year != int(config.settlement_year):
        echo(f"月份 {month} 不在结算年度 {config.settlement_year} 内 / month outside the settlement year")
        return Outcome(ok=False)
    return recorded_run(
        config, config_path, data_dir, Path(out_root), db_url, echo, supersede=False,
        not_started="预结算未开始", kind="month", month=month,
        started=lambda run_id: f"月度预结算开始 month run {run_id}：{config.county} {month}"
                               f"（方案 {config.scenario}）",
        work=lambda store, run_id, run_dir: _steps(store, run_id, config, config_path, data_dir,
                                                   run_dir, month, progress, echo),
        finished=lambda result, run_id, run_dir, problems: _print(echo, result, problems, run_id,
                                                                  run_dir, month))


def _steps(store, run_id, config, config_path, data_dir, run_dir, month, progress, echo):
    from settlement.monthly.bulletin import stored_indicators
    from settlement.monthly.bulletin_book import write_bulletin
    from settlement.store.rundir import partial_dir
    from settlement.validation.report import print_summary, write_report

    steps, work, problems = Steps(echo, progress), partial_dir(run_dir), []
    failed = Outcome(ok=False, problems=problems, run_id=run_id, run_dir=run_dir)
    spill = _spill(work, run_dir)
    try:
        # the objects alive before the load (the modules) and after it (the inputs) are frozen
        # out of the cyclic garbage collector, so that its full collections scan only what the
        # month's steps make (as the year-end run, pipeline._run_steps); unfrozen at the end
        gc.freeze()
        with steps("已记录月份 recorded months"):
            recorded, basis = _recorded(store, config, data_dir, month)
            persons = _persons(config)
            recorded, check = _fingerprints(recorded, Path(data_dir), month, persons, store.engine,
                                            spill.digests)
            months = months_to_read(month, recorded.runs, persons)
        with steps("读取与校验 load and validate"):
            checked, resolved, loaded, found = load_month(config_path, data_dir, month, spill, months,
                                                          check if check.frame_tables else None)
            problems += found
            recorded = recorded.without(check.changed).without(
                {m: [] for m in check.unverified}, named=False)
            problems += _changed_problems(recorded.changed)
            store.update_run(run_id, input_hashes=loaded.file_hashes,
                             input_rows={t: len(f) for t, f in loaded.tables.items()})
        gc.freeze()  # and the inputs, once loaded and checked
        result = None
        if not has_errors(problems) and resolved is not None:
            with steps(f"{month} DIP 月度预结算 monthly pre-settlement"):
                earlier = recorded_presettlements(store.engine, config.county, resolved.year,
                                                  config.scenario, before=month)
                # the month's cases read once: scored for the pre-settlement and the bulletin
                month_cases = cases_of_month(loaded.tables["inpatient_cases"], month)
                result = presettle_month({**loaded.tables, "inpatient_cases": month_cases},
                                         resolved.params.dip, month, paid_by_unit(earlier),
                                         resolved.section_segments("dip"))
                problems += result.problems
            if not has_errors(problems):
                with steps(f"{month} 月度通报与预警 bulletin and early warning"):
                    bulletin = _bulletin(loaded.tables, resolved, checked.sha256, month, run_dir.parent,
                                         recorded if months != month_list(month) or recorded.changed
                                         else None,
                                         month_cases if months == [month] else None)
                    problems += bulletin.warnings
        write_report(problems, loaded, work / "validation")
        if result is None or has_errors(problems):
            print_summary(problems, loaded, echo)
            reason = _failure_reason(problems, validated=result is not None)
            store.fail_run(run_id, reason, steps.timings)
            echo(f"月度预结算失败 month run failed: {reason}")
            return failed, None
        indicators = stored_indicators(bulletin, resolved.params)
        with steps("写出结果与报表 write results and workbooks"):
            _write(work, result, config, resolved, loaded, run_id, month, problems, indicators)
            write_bulletin(work / "月度通报.xlsx", bulletin, config.county)
        with steps("保存到数据库 save to database"):
            save_figures(store.engine, run_id, month, basis, bulletin.figures,
                         check.prints if check.ok else None)
            store.save_results(run_id, {"dip_presettlement": result.table, "indicators": indicators},
                               timings=steps.timings)
    except BaseException as exc:
        end_failed_run(exc, store, run_id, steps.timings, work, echo, "月度预结算失败 month run failed")
        return failed, None
    finally:
        gc.unfreeze()
        spill.clear()
    return Outcome(ok=True, problems=problems, run_id=run_id, run_dir=run_dir), result


def _spill(work: Path, run_dir: Path):
    """The run's spill policy for the big tables: the year-end run's folder and input cache (a
    CSV typed by one month's run is read as Parquet by the next month's)."""
    from settlement.pipeline import SPILL_FOLDER, input_cache
    from settlement.spill import SpillPolicy

    from settlement.loader import Digests

    return SpillPolicy(work / SPILL_FOLDER, cache=input_cache(run_dir.parent), digests=Digests())


def _write(work: Path, result: MonthResult, config, resolved, loaded, run_id: str, month: str,
           problems: list[Problem], indicators) -> None:
    from settlement.monthly.statements import BUREAU_FILE, write_bureau_list, write_month_statements
    from settlement.report import ReportContext
    from settlement.report.results_csv import write_results

    tables = {"dip_presettlement": result.table, "indicators": indicators}  # the month's (quarter's)
    if len(result.cases):
        tables["dip_cases"] = result.cases
    write_results(work / "results", tables, list(tables))
    _, last = month_bounds(month)
    context = ReportContext(config.county, resolved.year, run_id, loaded.tables["units"],
                            loaded.tables["communities"], problems=problems,
                            scenario=config.scenario,
                            payment_method=resolved.params.dip.payment_method,
                            created=_midnight(last))
    ratio = resolved.params.dip.presettlement_ratio
    write_month_statements(work / "units", result.table, context, month, ratio)
    write_bureau_list(work / BUREAU_FILE, result.table, context, month,
                      f"{METHOD}参数：预算点值 {resolved.source('dip.budget_point_value')}；质量保证金比例 "
                      f"{resolved.source('dip.quality_withhold_rate')}；拨付比例 "
                      f"{resolved.source('dip.presettlement_ratio')}。")


def _recorded(store, config, data_dir: Path, month: str):
    """(the months' figures recorded before ``month`` on this run's basis, the basis)."""
    from settlement.monthly.month_figures import basis, recorded_figures

    on = basis(Path(data_dir), config.sha256)
    return recorded_figures(store.engine, config.county, int(config.settlement_year),
                            config.scenario, month, on), on


def _fingerprints(recorded, data_dir: Path, month: str, persons: bool, engine, digests=None):
    """(the recorded months less those whose rows changed since they were recorded, the
    :class:`~.fingerprint.Check`): the big tables given as dated Parquet fingerprinted here in
    one DuckDB pass each — the month's own rows (to record) and, when months are recorded,
    those of each recorded month whose files are not the ones its run read (:mod:`.unchanged`:
    the tables' files hashed once, into ``digests``, which the loader asks again); the others
    after the load, from the frames (:func:`load_month`). A folder with one table of each kind
    reads every month (a change found after the load could not be read again from the Parquet
    table cut while read)."""
    from settlement.monthly import fingerprint as fp
    from settlement.monthly import unchanged
    from settlement.monthly.month_figures import Recorded
    from settlement.monthly.month_inputs import year_to_date_where

    dated = [t for t in fp.DATED if t in year_to_date_where(data_dir, month)]
    frames = [t for t in fp.DATED if t not in dated]
    if dated and frames:
        recorded = Recorded({}, {}, {})
    checking = bool(recorded.runs) and not persons
    check = fp.Check(recorded, month_list(month) if checking else [month], frames, checking, data_dir)
    if checking:
        check.inputs = unchanged.inputs_of(engine, recorded.runs.values())
    if dated:
        try:
            _dated_prints(check, data_dir, dated, month, digests)
        except Exception:  # noqa: BLE001 — a file DuckDB cannot read: every month read, none recorded
            check.prints.clear()
            check.ok, check.checking, check.frame_tables = False, False, []
            return Recorded({}, {}, {}), check
        if checking:
            changed = fp.changed_months(check.prints, recorded.prints, list(recorded.runs), dated,
                                        check.proven)
            recorded = recorded.without(changed)
    return recorded, check


def _dated_prints(check, data_dir: Path, dated: list[str], month: str, digests) -> None:
    """The fingerprints of the tables given as dated Parquet: the month's own pass runs in a
    thread while the files are hashed (a file's SHA-256 is one core's work; DuckDB takes the
    other), then one pass over the recorded months not proven unchanged, when there are any."""
    from concurrent.futures import ThreadPoolExecutor

    from settlement.monthly import fingerprint as fp
    from settlement.monthly import unchanged

    with ThreadPoolExecutor(1) as pool:
        own = pool.submit(fp.of_parquet, data_dir, dated, [month])
        if check.checking:
            now = unchanged.digests(data_dir, dated, digests)
            check.proven |= {(m, t) for t in dated for m in unchanged.unchanged_months(
                data_dir, t, fp.DATED[t], now[t], check.inputs, check.recorded.runs)}
        check.prints.update(own.result())
    rest = {t: [m for m in check.months_of(t, month) if m != month] for t in dated}
    if any(rest.values()):
        check.prints.update(fp.of_parquet(data_dir, dated, rest))
    for t in dated:
        check.prints.setdefault((month, t), fp.empty(t))  # no row in the month


def _changed_problems(changed: dict) -> list[Problem]:
    from settlement.monthly.fingerprint import changed_problem

    return [changed_problem(m, tables, run) for m, (run, tables) in sorted(changed.items()) if tables]


def _persons(config) -> bool:
    """Whether 县域内就诊率 counts persons (then every month reads the year to date)."""
    try:
        from settlement.config import resolve

        return resolve(config).params.indicators.visit_rate_basis == "persons"
    except Exception:  # noqa: BLE001 — a config that does not resolve fails in the load, reported there
        return True


def _bulletin(tables, resolved, config_sha256: str, month: str, out_root: Path, recorded=None,
              month_cases=None):
    """The month's bulletin (H10's :mod:`settlement.monthly.bulletin`) from the year to date,
    its DIP cases priced at the budget point value, with the year's package per community (so
    基金执行进度 and the year-end projection are there; kept between month runs in
    ``<reports>/.cache/packages``, :mod:`.package_cache`); its warnings join the run's problems.
    The settlement's own problems on the partial year are not the month's and are left out."""
    from settlement.monthly.bulletin_inputs import bulletin_for_month
    from settlement.monthly.package_cache import cached_year_packages

    packages = cached_year_packages(tables, resolved, config_sha256,
                                    Path(out_root) / ".cache" / "packages")
    bulletin, _ = bulletin_for_month(tables, resolved, month, packages=packages, recorded=recorded,
                                     month_cases=month_cases)
    return bulletin


def _midnight(day):
    import datetime as dt

    return dt.datetime(day.year, day.month, day.day)  # fixed: the bytes do not depend on the clock


def _print(echo, result: MonthResult, problems: list[Problem], run_id: str, run_dir: Path,
           month: str) -> None:
    from settlement.money import yuan_display as y

    t = result.table
    echo("")
    echo(f"月度预结算完成 month run finished — {run_id}（{month}）")
    echo(f"  单位 {len(t)} 家，预结算金额 {y(int(t['amount'].sum()))}，预留保证金 {y(int(t['withheld'].sum()))}，"
         f"本月拨付 {y(int(t['paid'].sum()))}，本年累计 {y(int(t['paid_to_date'].sum()))}")
    for p in problems:
        if p.rule == "month.data_changed":
            echo(f"  重新计算 recomputed: {p.message_zh}")
    for p in problems:
        if p.rule.startswith("early_warning"):
            echo(f"  预警 warning: {p.message_zh}")
    warnings = [p for p in problems if p.severity == "warning"]
    if warnings:
        echo(f"  提示 {len(warnings)} 条 warnings（见 validation/问题清单.xlsx）")
    echo(f"  报表 reports: {run_dir}/月度预结算拨付清单.xlsx（报医保局）, 月度通报.xlsx, "
         "units/（各单位月度预结算单）")
    echo(f"  结果表 results: {run_dir}/results/dip_presettlement.csv   运行记录 manifest: {run_dir}/manifest.json")


__all__ = ["COLUMNS", "run_month"]
