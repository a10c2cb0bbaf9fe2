"""``settlement run --region FILE --data DIR [--workers N]``: a whole pooling region in one run.

    region file + county configs (config.py) → pass 1 (check.check_region): the region's
    small tables and its cross-county rules, the case and claim tables read once and split by
    county (inputs.py), ids in two counties (crossids.py), then county by county
    (counties.check_county): load the county's rows, validate, its share of the region's DIP
    points → the region's point value (dip.combine) → pass 2 (counties.settle_county): each
    county's view settled by ``pipeline.settle`` at that point value, its sub-folder (the usual
    workbooks, statements, results/) → 区域汇总.xlsx (summary.py),
    results/region_dip_hospitals.csv → one run record (kind ``region``, county = the region's
    name) holding every county's result tables, concatenated in county order → manifest.

Each county worker writes its stored result tables to ``.stored/<county>/<table>.parquet`` and
sends back only the small tables of the summary; the save reads them back county by county
inside the one transaction (:class:`~settlement.store.parts.TableParts`), so the parent never
holds every county's rows. The ``.stored`` folder is removed after the save, whatever happened.

Counties run in parallel processes when workers > 1, one county per process at a time (the
big tables are never held whole); they are collected in the region file's order, so the
bytes do not depend on ``workers``. A county whose own checks fail (a ledger ≠ 0.00 …) fails
the whole run: nothing is saved and no county folder is left behind.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

import click
import pandas as pd
import pyarrow.parquet as pq

from settlement.config import ConfigError
from settlement.loader import LoadResult
from settlement.pipeline import (STORED_RESULTS, Outcome, Steps, _failure_reason, end_failed_run,
                                 recorded_run)
from settlement.problems import Problem, has_errors
from settlement.region.check import check_region
from settlement.region.config import (CountySetup, RegionConfig, county_setups, load_region,
                                      with_point_value)
from settlement.region.counties import CountyOutcome, in_parallel, settle_county
from settlement.region.dip import RegionDip, combine
from settlement.region.inputs import SPLIT_DIR
from settlement.store.parts import TableParts

SUMMARY_NAME = "区域汇总.xlsx"
#: the counties' stored result tables (Parquet) until they are saved; removed after the save
STORED_DIR = ".stored"
HOSPITALS_TABLE = "region_dip_hospitals"


@dataclass
class RegionResult:
    dip: RegionDip
    counties: list[CountyOutcome]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.counties)


def run_region(region_path: Path, data_dir: Path, out_root: Path, db_url: str, *, workers: int = 1,
               supersede: bool = False, progress: bool = True, pdf: bool = False,
               echo=click.echo) -> Outcome:
    """Record and settle the region; Outcome.ok when every county was settled and saved."""
    try:
        region = load_region(region_path)
        setups = county_setups(region)
    except ConfigError as exc:
        echo(str(exc))
        return Outcome(ok=False)
    return recorded_run(
        region, Path(region_path), Path(data_dir), Path(out_root), db_url, echo,
        supersede=supersede, kind="region",
        started=lambda run_id: f"区域结算开始 region run {run_id}：{region.region} {region.settlement_year} 年度，"
                               f"{len(setups)} 个县（区）（方案 {region.scenario}）",
        work=lambda store, run_id, run_dir: _work(store, run_id, run_dir, region, setups,
                                                  Path(data_dir), workers, progress, pdf, echo),
        finished=lambda result, run_id, run_dir, problems: _print(echo, result, run_id, run_dir,
                                                                  problems))


def settle_region(region: RegionConfig, setups: list[CountySetup], data_dir: Path, run_id: str,
                  work: Path, problems: list[Problem], *, workers: int = 1,
                  presettlements: dict[str, pd.DataFrame | None] | None = None, steps=None,
                  pdf: bool = False) -> tuple[RegionResult | None, LoadResult]:
    """Check every county, the region's point value, every county settled and written.

    Problems are appended to ``problems`` (each once: a small table's problem is found by every
    county); the result is None when the checks or the region's DIP found an error. Also
    returns what was read, for the validation report. County outcomes come back in the region
    file's order; the region summary is written only when all of them succeeded.
    """
    steps = steps or Steps(show=False)
    try:
        return _settle_region(region, setups, data_dir, run_id, work, problems, workers,
                              presettlements, steps, pdf)
    finally:
        shutil.rmtree(work / SPLIT_DIR, ignore_errors=True)


def _settle_region(region, setups, data_dir, run_id, work, problems, workers, presettlements,
                   steps, pdf):
    from settlement.region.summary import write_region_summary
    from settlement.report.results_csv import write_results

    checked = check_region(setups, data_dir, work, problems, workers=workers, steps=steps)
    tasks, checks, small, read = checked.tasks, checked.checks, checked.small, checked.read
    if not tasks or has_errors(problems):
        return None, read
    with steps("区域 DIP 点值测算 region DIP point value"):
        first = setups[0].resolved
        rdip = combine([c.points for c in checks], checks[0].decimals, small.tables["units"],
                       first.params.dip)
        problems += rdip.problems
    if has_errors(problems):
        return None, read
    reference = (f"{region.region}区域点数法总额预算：区域 DIP 基金预算 ÷ 报销比例 ÷ 全区域医院病例分值合计"
                 f"（{region.path.name}，见 {SUMMARY_NAME}）")
    warnings = [p for p in problems if p.severity == "warning"]
    for task in tasks:
        task.setup = with_point_value(task.setup, rdip.value, reference,
                                      whole_region=_is_whole_region(rdip, task.setup.county_id))
        task.run_id, task.out_dir, task.warnings, task.pdf = (run_id, work / task.setup.county_id,
                                                              warnings, pdf)
        task.stored_dir = work / STORED_DIR / task.setup.county_id
        task.presettlements = (presettlements or {}).get(task.setup.county_id)
    with steps(f"各县（区）结算 {len(tasks)} counties（{workers} 进程 workers）"):
        outcomes = in_parallel(settle_county, tasks, workers)
    result = RegionResult(rdip, outcomes)
    problems += [_of_county(p, o.county_id) for o in outcomes for p in o.problems]
    if not result.ok:
        for outcome in outcomes:
            shutil.rmtree(work / outcome.county_id, ignore_errors=True)
        shutil.rmtree(work / STORED_DIR, ignore_errors=True)
        return result, read
    with steps("区域汇总 region summary"):
        write_results(work / "results", {HOSPITALS_TABLE: rdip.hospitals}, [HOSPITALS_TABLE])
        write_region_summary(work / SUMMARY_NAME, region, setups, result, run_id)
    return result, read


def _is_whole_region(rdip: RegionDip, county_id: str) -> bool:
    """Every hospital with region cases is the county's (a region of one, no city hospital)."""
    return bool(rdip.hospitals["county_id"].astype("string").eq(county_id).fillna(False).all())


def stored_tables(result: RegionResult) -> dict[str, TableParts]:
    """Every county's result tables in county order (the run's stored results), each given in
    parts: one county's table is read from its Parquet file at a time, inside the save."""
    out = {}
    for name in STORED_RESULTS:
        files = [(c.county_id, c.stored[name]) for c in result.counties if name in c.stored]
        if files:
            empty = pq.read_schema(files[0][1]).empty_table().to_pandas()
            out[name] = TableParts(_stored(name, empty, files[0][0]),
                                   lambda name=name, files=files: _county_parts(name, files))
    return out


def _county_parts(name: str, files: list[tuple[str, Path]]):
    for county_id, path in files:
        yield _stored(name, pd.read_parquet(path), county_id)


def _stored(name: str, frame: pd.DataFrame, county_id: str) -> pd.DataFrame:
    """A county's table as the region run stores it: the county-level indicator rows (scope
    ``county`` in the county's own files) are named by the county's id, one row per county."""
    if name != "indicators" or "scope" not in frame:
        return frame
    scope = frame["scope"].astype("string")
    return frame.assign(scope=scope.mask(scope.eq("county"), county_id))


def _of_county(problem: Problem, county_id: str) -> Problem:
    return dataclasses.replace(problem, message_zh=f"【县（区）{county_id}】{problem.message_zh}",
                               message_en=f"[county {county_id}] {problem.message_en}")


def _work(store, run_id: str, run_dir: Path, region: RegionConfig, setups: list[CountySetup],
          data_dir: Path, workers: int, progress: bool, pdf: bool, echo):
    """Load → validate → region DIP → counties → summary → persist (into the partial folder)."""
    from settlement.store.rundir import partial_dir
    from settlement.validation.report import print_summary, write_report

    steps, work, problems = Steps(echo, progress), partial_dir(run_dir), []
    failed = Outcome(ok=False, problems=problems, run_id=run_id, run_dir=run_dir)
    try:
        months = {s.county_id: _recorded_months(store, s) for s in setups}
        result, loaded = settle_region(region, setups, data_dir, run_id, work, problems,
                                       workers=workers, presettlements=months, steps=steps, pdf=pdf)
        store.update_run(run_id, input_hashes=loaded.file_hashes,
                         input_rows={t: s.rows for t, s in loaded.sources.items()})
        write_report(problems, loaded, work / "validation")
        if result is None or not result.ok or has_errors(problems):
            print_summary(problems, loaded, echo)
            reason = _failure_reason(problems, validated=result is not None)
            store.fail_run(run_id, reason, steps.timings)
            echo(f"区域结算失败 region run failed: {reason}")
            return failed, None
        with steps("保存到数据库 save to database（逐县 county by county）"):
            store.save_results(run_id, stored_tables(result), timings=steps.timings)
    except BaseException as exc:
        end_failed_run(exc, store, run_id, steps.timings, work, echo, "区域结算失败 region run failed")
        return failed, None
    finally:
        shutil.rmtree(work / STORED_DIR, ignore_errors=True)
    return Outcome(ok=True, problems=problems, run_id=run_id, run_dir=run_dir), result


def _recorded_months(store, setup: CountySetup) -> pd.DataFrame | None:
    """The county's recorded monthly DIP pre-settlements (month runs of its own config)."""
    from settlement.monthly.recorded import recorded_presettlements

    return recorded_presettlements(store.engine, setup.config.county, setup.resolved.year)


def _print(echo, result: RegionResult, run_id: str, run_dir: Path, problems: list[Problem]) -> None:
    from settlement.money import yuan_display as y

    echo("")
    echo(f"区域结算完成 region settlement finished — run {run_id}")
    echo(f"  区域结算点值 region point value: {result.dip.value} 元/分"
         f"（全区域医院分值 {result.dip.point_value.total_points:,}）")
    for c in result.counties:
        cs = c.tables["community_settlement"]
        balance = int(cs["balance"].sum())  # Σ of the county's communities (some may overrun)
        verdict = f"结余 surplus {y(balance)}" if balance >= 0 else f"超支 overrun {y(-balance)}"
        echo(f"  {c.county_id} {c.county}: 打包额 package {y(int(cs['package'].sum()))}，支出 spent "
             f"{y(int(cs['expenditure'].sum()))}，{verdict}（各医共体合计 communities together）")
    warnings = [p for p in problems if p.severity == "warning"]
    if warnings:
        echo(f"  提示 {len(warnings)} 条 warnings（见 validation/问题清单.xlsx）")
    echo(f"  报表 reports: {run_dir}/{SUMMARY_NAME}；各县（区）: {run_dir}/<county_id>/（汇总.xlsx, "
         "医保对账.xlsx, communities/, units/, results/）")
    echo(f"  运行记录 manifest: {run_dir}/manifest.json")
