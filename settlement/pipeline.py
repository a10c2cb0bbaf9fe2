"""The pipeline (结算流程), top to bottom in one place.

    load config → load data → validate → scan → settle (DIP, package, corridor,
    distribution, capitation, public health, indicators) → reconcile → persist → report

Each step is one function of its own module; this file only sequences them, times them and
hands the results on. Nothing is written to the database unless every step succeeded.
"""

from __future__ import annotations

import dataclasses

import gc
import tempfile
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import click
import pandas as pd

from settlement.config import ConfigError, Resolved, load_config, resolve
from settlement.loader import LoadResult, load_folder
from settlement.problems import Problem, has_errors
from settlement.schema import ContractError
from settlement.spill import SpillPolicy
from settlement.stage import Context, Frames, Stage
from settlement.stages import steps


#: the folder of a run's partial directory that holds its big tables while it runs (removed after)
SPILL_FOLDER = ".spill"


def input_cache(out_root: Path) -> Path:
    """Where big input tables, once typed, are kept for the next run on the same files
    (:class:`settlement.spill.SpillCache`): ``<reports>/.cache/inputs``."""
    return Path(out_root) / ".cache" / "inputs"


@dataclass
class Outcome:
    ok: bool
    problems: list[Problem] = field(default_factory=list)
    run_id: str | None = None
    run_dir: Path | None = None


def load_and_validate(config_path: Path, data_dir: Path, spill: SpillPolicy | None = None, *,
                      where=None, prepare=None, use_gx: bool = True, docs: bool = False):
    """(config, resolved params, loaded data, problems); config errors become problems.

    ``spill``: where the big case and claim tables are streamed to Parquet instead of being
    held in memory (:mod:`settlement.spill`); the caller removes the folder when it is done.
    A month run passes ``where`` (the loader's row filter), ``prepare(loaded)`` (cut the
    tables to the year to date before they are checked) and ``use_gx=False``; ``docs``: GX's
    Data Docs will be written (``--data-docs``)."""
    from settlement.in_place import inspect_ahead
    from settlement.report.parallel import release_free_memory
    from settlement.validation import validate_dataset
    from settlement.validation.gx_suites import prefetch

    # the pass over big typed Parquet files (in a forked process: before any thread starts),
    # then GX's import (a thread) — both overlap the reading of the other files
    ahead = inspect_ahead(Path(data_dir), spill, where) if Path(data_dir).is_dir() else None
    if ahead is not None:
        spill = dataclasses.replace(spill, ahead=ahead)
    if use_gx:
        prefetch()
    problems: list[Problem] = []
    config = resolved = None
    try:
        config = load_config(config_path)
        resolved = resolve(config)
    except ConfigError as exc:
        problems += [Problem("config", "error", "config", p, file=str(config_path)) for p in exc.problems]
    try:
        loaded = load_folder(data_dir, spill=spill, where=where)
    except ContractError as exc:  # no table definitions: nothing can be checked, never a pass
        return config, resolved, LoadResult(), problems + exc.problems
    finally:
        if ahead is not None:
            ahead.close()
    problems += loaded.problems
    if prepare is not None:
        prepare(loaded)
    year = resolved.year if resolved else (config.settlement_year if config else None)
    problems += validate_dataset(loaded, year, resolved, use_gx=use_gx, docs=docs)
    release_free_memory()  # the checks' freed memory, still held by Arrow and malloc (scale 10: −130 MB)
    return config, resolved, loaded, problems


def settle_checked(loaded: LoadResult, resolved: Resolved | None, problems: list[Problem],
                   step=lambda name: nullcontext(),
                   presettlements: pd.DataFrame | None = None) -> "Settlement | None":
    """The settlement when the checks found no error, its own problems appended to ``problems``.

    The one place where the stages' warnings (extreme DIP ratios, empty public-health tiers …)
    join the validation's: ``settlement validate`` and ``settlement run`` both call it, so
    they report the same list. None (and nothing computed) when ``problems`` holds an error.
    """
    if has_errors(problems) or resolved is None:
        return None
    result = settle(loaded.stage_tables(), resolved, step, presettlements)
    result.problems += loaded.changed_inputs()  # a file used in place, overwritten meanwhile: an error
    problems += result.problems
    return result


def check_inputs(config_path: Path, data_dir: Path, spill: SpillPolicy | None = None, docs: bool = False):
    """(loaded data, every problem a run would report): load, validate, a trial settlement."""
    config, resolved, loaded, problems = load_and_validate(config_path, data_dir, spill, docs=docs)
    try:
        result = settle_checked(loaded, resolved, problems)
        if result is not None:
            problems += own_check_problems(result)  # as the run checks itself
    except Exception as exc:  # a stage failed: an error, reported like the others
        problems.append(Problem("settle.failed", "error", "", f"试算失败：{type(exc).__name__}: {exc}",
                                f"trial settlement failed: {type(exc).__name__}: {exc}"))
    return loaded, problems


def validate_inputs(config_path: Path, data_dir: Path, out_dir: Path | None,
                    data_docs: bool = False) -> Outcome:
    """``settlement validate``: every problem a run would report; writes the report, records nothing."""
    from settlement.validation.report import print_summary, write_report

    with tempfile.TemporaryDirectory(prefix="settlement-spill-") as spill:
        loaded, problems = check_inputs(config_path, data_dir, SpillPolicy(Path(spill)), docs=data_docs)
        files = (write_report(problems, loaded, Path(out_dir) / "validation", data_docs=data_docs)
                 if out_dir is not None else None)
        print_summary(problems, loaded, click.echo)
    if files and getattr(loaded, "validation", None) is None:  # else print_summary names them
        click.echo(f"报告 report: {files['workbook']}  ·  {files['html']}")
    return Outcome(ok=not has_errors(problems), problems=problems)


@dataclass
class Settlement:
    """Everything a run computed: result tables by name (money int64 fen) and problems."""

    tables: dict[str, pd.DataFrame]
    problems: list[Problem]
    summary: dict


#: the stages of :func:`settle`, in order; each ``run(frames, ctx) -> StageResult``
#: (:mod:`settlement.stage`), timed and shown as one step of the run
STAGES: list[Stage] = [
    Stage("DIP 结算 DIP settlement", steps.dip),
    Stage("慢病包干 chronic capitation", steps.chronic),
    Stage("差别化报销审核与签约服务费 claims audit and family-doctor fees", steps.claims_audit),
    Stage("打包与支出 package and expenditure", steps.package_and_expenditure),
    Stage("考核指标 indicators", steps.indicators),
    Stage("结余留用与超支分担 corridor", steps.corridor),
    Stage("成员单位分配 distribution", steps.distribution),
    Stage("公卫经费 public health", steps.public_health),
    Stage("对账 reconciliation", steps.reconciliation),
]


def settle(t: dict[str, pd.DataFrame], resolved: Resolved, step=lambda name: nullcontext(),
           presettlements: pd.DataFrame | None = None, *, engine=None) -> Settlement:
    """The settlement itself, pure: input frames + parameters → result frames.

    Runs :data:`STAGES` in order, each on the input frames and the tables of the stages before
    it; their tables and problems are collected, nothing is passed in to be filled.
    ``step(name)`` is a context manager the caller uses for timings and progress.
    ``presettlements``: the recorded monthly DIP pre-settlements (unit_id, month, paid), issue
    10: the DIP prepaid when ``prepayments`` has no DIP rows, else reconciled with them
    (:mod:`settlement.monthly.clearing`). ``engine``: the scan engine (an Engine or its name,
    :mod:`settlement.scan`); None = the default (``SETTLEMENT_SCAN_ENGINE``, else duckdb).
    """
    from settlement.monthly.clearing import with_recorded_months

    problems: list[Problem] = []
    if presettlements is not None:
        prepayments, problems = with_recorded_months(t.get("prepayments"), presettlements)
        t = {**t, "prepayments": prepayments}
    frames, ctx, summary = Frames(t), Context(resolved, engine), {}
    for stage in STAGES:
        with step(stage.name):
            result = stage.run(frames, ctx)
        frames.add(result)
        problems += result.problems
        summary.update(result.summary)
    return Settlement(frames.results, problems, summary)


#: the result tables of CONTRACT.md: written as CSV and stored in the database
CONTRACT_RESULTS = ["dip_cases", "dip_units", "community_settlement", "unit_distribution",
                    "chronic_settlement", "public_health_allocation", "indicators",
                    "unit_statement", "ledger", "claims_audit"]
#: stored in the database too (issue 10.5: the public-health quarterly plan, revision 0008)
STORED_RESULTS = CONTRACT_RESULTS + ["public_health_plan"]
#: written as CSV (and in the workbooks) only
SUPPORTING_RESULTS = ["dip_ledger", "unit_funds", "bureau_communities", "bureau_units",
                      "reconciliation_checks", "public_health_pools", "public_health_plan",
                      "chronic_units",
                      "expenditure", "community_flows",
                      # issue 11 (H6)
                      "claims_audit_totals", "reimbursement_table_check",
                      "family_doctor_fees", "community_assessment", "dual_targets",
                      "village_guarantee"]


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
        from settlement.report.parallel import release_free_memory

        release_free_memory()  # what the step freed, given back before the next one grows
        self.timings[name] = round(time.perf_counter() - start, 3)
        if self.show:
            self.echo(f"    完成 done  {self.timings[name]:.2f} s")


def run_settlement(config_path: Path, data_dir: Path, out_root: Path, db_url: str,
                   supersede: bool = False, progress: bool = True, echo=click.echo,
                   pdf: bool = False, data_docs: bool = False) -> Outcome:
    """``settlement run``: validate, settle, check, write the reports, persist in one transaction.

    The run is recorded with its owner and a lease renewed while it works (a killed run is
    marked 中断 by the next command); its folder is written as ``<run_id>.partial`` and renamed
    to ``<run_id>`` once its manifest is written; a run whose own checks find an error ends
    failed; a known fault (full disk, busy database) ends it with one message, no traceback.
    """
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        echo(str(exc))
        return Outcome(ok=False)
    return recorded_run(
        config, config_path, data_dir, Path(out_root), db_url, echo, supersede=supersede,
        started=lambda run_id: f"结算开始 run {run_id}：{config.county} {config.settlement_year} 年度"
                               f"（方案 {config.scenario}）",
        work=lambda store, run_id, run_dir: _run_steps(store, run_id, config_path, data_dir, run_dir,
                                                       progress, echo, pdf=pdf, data_docs=data_docs),
        finished=lambda result, run_id, run_dir, problems: _print_outcome(echo, result, run_id,
                                                                          run_dir, problems))


def recorded_run(config, config_path: Path, data_dir: Path, out_root: Path, db_url: str, echo, *,
                 supersede: bool, started, work, finished, not_started: str = "结算未开始",
                 **kind) -> Outcome:
    """A run recorded in the store, for every kind of run (year end, month).

    The run is begun (schema up to date, dead runs marked 中断), ``work(store, run_id,
    run_dir)`` runs under a heartbeat lease and returns (Outcome, result); the folder is
    published whatever happened (manifest, final name); ``finished`` prints the summary of a
    run that succeeded. Known conditions (closed period, unreachable database) are one message.
    """
    from settlement.store import StoreError, describe_db_url, faults

    echo(f"数据库 database: {describe_db_url(db_url)}")
    try:
        store, run_id = _begin_run(config, config_path, data_dir, out_root, db_url, supersede, echo,
                                   **kind)
    except StoreError as exc:  # the period is closed, a what-if may not supersede …
        echo(str(exc))
        return Outcome(ok=False)
    except Exception as exc:  # noqa: BLE001 - the database cannot be opened or written
        echo(f"{not_started} run not started: {faults.describe(exc)}")
        return Outcome(ok=False)
    run_dir = out_root / run_id
    echo(started(run_id))
    try:
        with store.heartbeat(run_id):
            outcome, result = work(store, run_id, run_dir)
    finally:  # Ctrl-C too: the folder gets its manifest (status failed) and its final name
        published = _publish_run_dir(store, run_id, run_dir, echo)
        store.dispose()
    if outcome.ok and published:
        finished(result, run_id, run_dir, outcome.problems)
    return Outcome(outcome.ok and published, outcome.problems, run_id, run_dir)


def _begin_run(config, config_path: Path, data_dir: Path, out_root: Path, db_url: str,
               supersede: bool, echo, **kind):
    """(store, run id): schema brought up to date, dead runs marked 中断, the run recorded.

    ``kind`` is passed on to the run record (a month run: ``kind="month", month="2025-03"``).
    """
    from settlement.store import RunMeta, RunStore

    store = RunStore.open(db_url)
    try:
        store.upgrade()
        for dead in store.reap_dead_runs():
            echo(f"已将中断的结算标记为失败 marked interrupted: {dead.run_id}（{dead.failure_reason}）")
        run_id = store.begin_run(RunMeta(
            config.county, config.settlement_year, config.scenario, config.sha256,
            config_path=str(config_path), data_dir=str(data_dir),
            report_root=str(out_root.absolute()), **kind), supersede=supersede)
    except BaseException:
        store.dispose()
        raise
    return store, run_id


# gc.freeze() in _run_steps: once the inputs are loaded and checked, the objects alive then (the
# modules, Great Expectations' alone ≈ 300 k objects) are frozen out of the cyclic garbage
# collector for the rest of the run, so that its full collections scan only what the stages make
# (≈ 0.15 s per full collection saved at scale 1); the forked writers also copy fewer pages.
# Unfrozen when the run ends, so a long-lived process (the web console) frees them as before.

#: the step that writes the run's files and saves its results: the files are written by worker
#: processes while this one inserts the rows; the transaction commits once every file is
#: written (:meth:`settlement.store.RunStore.saving`), so a failed write stores nothing
WRITE_AND_SAVE = "写出结果与报表并保存 write results and workbooks, save to database"
#: inside it: the time the writing went on after the rows were in
WRITE = "写出结果与报表（入库之后）write results and workbooks (after the inserts)"


def _run_steps(store, run_id: str, config_path: Path, data_dir: Path, run_dir: Path, progress: bool,
               echo, pdf: bool = False, data_docs: bool = False) -> "tuple[Outcome, Settlement | None]":
    """Load → validate → settle → own checks → write (into the partial folder) and persist."""
    from settlement.report import ReportContext, start_writing
    from settlement.store.rundir import partial_dir
    from settlement.validation.report import print_summary, write_report

    steps, work, problems = Steps(echo, progress), partial_dir(run_dir), []
    failed = Outcome(ok=False, problems=problems, run_id=run_id, run_dir=run_dir)
    spill = SpillPolicy(work / SPILL_FOLDER, cache=input_cache(run_dir.parent))
    try:
        with steps("读取与校验 load and validate"):
            config, resolved, loaded, found = load_and_validate(config_path, data_dir, spill, docs=data_docs)
            problems += found
            store.update_run(run_id, input_hashes=loaded.file_hashes,
                             input_rows={t: len(f) for t, f in loaded.tables.items()})
        gc.freeze()  # see the note above _run_steps
        result = settle_checked(loaded, resolved, problems, steps,  # the problems `validate` reports
                                _recorded_months(store, config, resolved))
        own = own_check_problems(result) if result is not None else []
        problems += own
        write_report(problems, loaded, work / "validation", data_docs=data_docs)
        if result is None or own or has_errors(result.problems):
            print_summary(problems, loaded, echo)
            reason = _failure_reason(problems, validated=result is not None)
            store.fail_run(run_id, reason, steps.timings)
            echo(f"结算失败 run failed: {reason}")
            return failed, None
        with steps(WRITE_AND_SAVE):  # the files are written while the rows go in
            context = ReportContext.of_run(config, resolved, run_id, loaded.tables, problems, pdf=pdf)
            stored = {n: result.tables[n] for n in STORED_RESULTS
                      if n in CONTRACT_RESULTS or result.tables.get(n) is not None}
            writing = start_writing(work, result.tables, context,
                                    csv_names=CONTRACT_RESULTS + SUPPORTING_RESULTS)
            try:
                with store.saving(run_id, stored, timings=steps.timings):
                    with steps(WRITE):  # the rest of the writing, once the rows are in
                        writing.finish(echo, pdf=False)
            except BaseException:
                writing.stop()
                raise
        _record_timing(store, run_id, steps.timings, WRITE_AND_SAVE)  # it ended with the commit
        writing.convert_pdf(echo)
    except BaseException as exc:
        end_failed_run(exc, store, run_id, steps.timings, work, echo, "结算失败 run failed")
        return failed, None
    finally:
        gc.unfreeze()
        spill.clear()
    return Outcome(ok=True, problems=problems, run_id=run_id, run_dir=run_dir), result


def _record_timing(store, run_id: str, timings: dict, name: str) -> None:
    """Add the time of a step that ended with the run's commit to its record; the run has
    succeeded, so a database that fails just now only loses this figure."""
    try:
        store.update_run(run_id, timings={name: timings[name]})
    except Exception:  # noqa: BLE001 - a timing is not worth failing a succeeded run
        pass


def _recorded_months(store, config, resolved) -> pd.DataFrame | None:
    """The base scenario's recorded monthly DIP pre-settlements of the county-year (issue 10)."""
    from settlement.monthly.recorded import recorded_presettlements

    if config is None or resolved is None:
        return None
    return recorded_presettlements(store.engine, config.county, resolved.year)


def own_check_problems(result: Settlement) -> list[Problem]:
    """The run's own checks as error problems: reconciliation identities that do not hold and
    community ledgers that do not total 0.00 (the stages' own error problems are already in
    ``result.problems``). Any of them, or any error problem, and the run ends failed."""
    from settlement.money import yuan_display

    checks = result.tables.get("reconciliation_checks")
    found = [p for p in steps.reconciliation_problems(checks) if p not in result.problems]
    ledger = result.tables.get("ledger")
    if ledger is not None and len(ledger):
        totals = ledger.loc[ledger["line"] == "total"]
        for r in totals.loc[totals["amount"] != 0].itertuples(index=False):
            found.append(Problem("run.ledger", "error", "ledger",
                                 f"医共体 {r.community_id} 台账不平，合计 {yuan_display(int(r.amount))} 元（应为 0.00）",
                                 f"ledger of {r.community_id} does not balance: {r.amount} fen"))
    return found


def _failure_reason(problems: list[Problem], validated: bool) -> str:
    errors = [p for p in problems if p.severity == "error"]
    if not validated:
        return f"校验未通过 validation failed: {len(errors)} 个错误"
    listed = "；".join(f"{p.message_zh}" for p in errors[:3]) + ("…" if len(errors) > 3 else "")
    return (f"结算自检发现 {len(errors)} 个错误，结果不予保存 the run's own checks found "
            f"{len(errors)} error(s), results not saved（见 validation/问题清单.xlsx）：{listed}")


def _keep_traceback(work: Path, exc: Exception, echo) -> None:
    """An unexpected error (a bug, not a known fault): its traceback for the developers, in the
    run folder (``traceback.txt``) rather than on the user's screen."""
    import traceback

    try:
        work.mkdir(parents=True, exist_ok=True)
        (work / "traceback.txt").write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        echo(f"  程序错误详情（请发给开发人员）details for the developers: "
             f"{work.with_name(work.name.removesuffix('.partial'))}/traceback.txt")
    except OSError:
        pass


def end_failed_run(exc: BaseException, store, run_id: str, timings: dict, work: Path, echo,
                   said: str) -> None:
    """A run stopped by an exception: recorded failed with the fault in one Chinese sentence
    (``said``: reason); an unexpected error keeps its traceback for the developers; Ctrl-C and
    other non-``Exception`` exits are re-raised once the record is updated."""
    from settlement.store import faults

    reason = faults.describe(exc)
    _fail_quietly(store, run_id, reason, timings, echo)
    echo(f"{said}: {reason}")
    if faults.known_fault(exc) is None and isinstance(exc, Exception):
        _keep_traceback(work, exc, echo)
    if not isinstance(exc, Exception):
        raise exc


def _fail_quietly(store, run_id: str, reason: str, timings: dict, echo) -> None:
    """Mark the run failed; if even that fails (the database is gone or full), say so."""
    from settlement.store import faults

    try:
        store.fail_run(run_id, reason, timings)
    except Exception as exc:  # noqa: BLE001 - the record stays running; the next command marks it 中断
        echo(f"运行记录未能更新 the run record could not be updated: {faults.describe(exc)}；"
             "下一次命令会将其标记为中断 / the next command marks it interrupted")


def _publish_run_dir(store, run_id: str, run_dir: Path, echo) -> bool:
    """Write the manifest into ``<run_id>.partial`` and rename it ``<run_id>``; False if it failed."""
    from settlement.store import faults, write_manifest
    from settlement.store.rundir import partial_dir, publish

    try:
        write_manifest(partial_dir(run_dir), store.get_run(run_id))
        publish(run_dir)
        return True
    except Exception as exc:  # noqa: BLE001 - a full disk here must not hide the run's own outcome
        echo(f"报表目录未能完成 the run folder could not be completed: {faults.describe(exc)}；"
             f"未完成的文件在 unfinished files in {partial_dir(run_dir)}")
        return False


def _print_outcome(echo, result: Settlement, run_id: str, run_dir: Path, problems: list[Problem]) -> None:
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
    warnings = [p for p in problems if p.severity == "warning"]  # the same list `validate` prints
    if warnings:
        echo(f"  提示 {len(warnings)} 条 warnings（见 汇总.xlsx 校验 sheet 与 validation/问题清单.xlsx）")
    echo(f"  报表 reports: {run_dir}/汇总.xlsx, 医保对账.xlsx, communities/（各医共体结算单）, "
         "units/（各成员单位结算单）")
    echo(f"  结果表 results: {run_dir}/results/   运行记录 manifest: {run_dir}/manifest.json")
