"""The counties of a region, each on its own (县级任务): checked, then settled, one process each.

A region's big tables (inpatient cases, outpatient claims, chronic enrollees) are never held
whole: the case and claim tables were read once and split by county (:mod:`.inputs`), so a
county task reads its own Parquet part only (a :class:`~settlement.spill.SpilledTable`, its
rows still named by the user's file and row); the other tables are loaded with the county's
communities' rows only (``load_folder(where=...)``). A process holds one county at a time. Two passes, because the point value needs every county:

1. :func:`check_county` — load, validate (the same rules as a county run), and the county's
   share of the region's DIP: Σ per hospital of its insured's case points
   (:func:`settlement.region.dip.hospital_points`). Σ points is a sum over cases and each case
   belongs to exactly one county (its insured's community), so the region's Σ is the sum of
   the counties' shares.
2. :func:`settle_county` — load again, settle the county's view (``pipeline.settle``) at the
   region's point value, its own checks, its folder of workbooks and results.

:func:`in_parallel` runs the tasks in worker processes (``spawn``) when workers > 1 and
always returns them in the tasks' order, so the outputs do not depend on the number of workers.
"""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from settlement.problems import Problem, has_errors
from settlement.region.config import CountySetup
from settlement.region.inputs import SplitTables
from settlement.region.split import county_view

#: the tables split by the insured's community when a county is loaded
BIG_TABLES = ("inpatient_cases", "outpatient_claims", "chronic_enrollees")
#: a county's result tables the region summary reads (one row per community / unit / ledger line)
SUMMARY_TABLES = ("community_settlement", "dip_units", "ledger")


@dataclass
class CountyTask:
    """What one county task needs (picklable: it crosses to a worker process)."""

    setup: CountySetup
    data_dir: Path
    community_ids: list[str]
    run_id: str = ""
    out_dir: Path | None = None
    stored_dir: Path | None = None  # the county's stored result tables as Parquet (run.py saves them)
    presettlements: pd.DataFrame | None = None
    warnings: list[Problem] = field(default_factory=list)  # the region's, for the 校验 sheet
    pdf: bool = False
    split: SplitTables | None = None  # the big tables split by county (inputs.py), if they were


@dataclass
class CountyCheck:
    """Pass 1: the county's problems, its share of the region's DIP, what was read."""

    county_id: str
    problems: list[Problem]
    points: pd.DataFrame | None  # settlement.dip.scan.POINT_COLUMNS per hospital, or None
    decimals: int
    file_hashes: dict[str, str]
    sources: dict  # table → loader Source (rows: the county's)


@dataclass
class CountyOutcome:
    """Pass 2: the county settled. When ``ok``: ``tables`` = its small tables the region summary
    reads (:data:`SUMMARY_TABLES`); ``stored`` = its stored result tables, one Parquet file each
    (the parent saves them county by county and never holds every county's rows)."""

    county_id: str
    county: str  # the county's name (its config's ``county``)
    ok: bool
    problems: list[Problem]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    community_names: dict[str, str] = field(default_factory=dict)
    stored: dict[str, Path] = field(default_factory=dict)


def load_county(task: CountyTask):
    """The region folder with only this county's rows of the big tables (row numbers kept):
    the split tables from the county's own part (:mod:`.inputs`), the others filtered while read."""
    from settlement.loader import load_folder
    from settlement.schema import contract

    ids, split = list(task.community_ids), task.split.tables if task.split else ()
    loaded = load_folder(task.data_dir, tables=[t for t in contract() if t not in split],
                         where={t: ("community_id", ids) for t in BIG_TABLES if t not in split})
    if task.split:
        task.split.add_to(loaded, task.setup.county_id)
    return loaded


def check_county(task: CountyTask) -> CountyCheck:
    """Load and validate the county's rows; its insured's case points at the region's hospitals."""
    from settlement.region.dip import hospital_points
    from settlement.validation import validate_dataset

    loaded = load_county(task)
    resolved = task.setup.resolved
    problems = list(loaded.problems) + validate_dataset(loaded, resolved.year, resolved)
    points, decimals = None, resolved.params.dip.case_points_decimals
    if not has_errors(problems):
        sums = hospital_points(loaded.stage_tables(), resolved.params.dip,
                               resolved.section_segments("dip"))
        points, decimals = sums.table, sums.decimals
        problems += sums.problems
    return CountyCheck(task.setup.county_id, problems, points, decimals, dict(loaded.file_hashes),
                       dict(loaded.sources))


def settle_county(task: CountyTask) -> CountyOutcome:
    """One county: ``pipeline.settle`` on its view, its own checks, its folder (when it passed)."""
    from settlement.pipeline import (CONTRACT_RESULTS, STORED_RESULTS, SUPPORTING_RESULTS,
                                     own_check_problems, settle)
    from settlement.report import ReportContext, write_workbooks
    from settlement.report.results_csv import write_results

    setup = task.setup
    view = county_view(load_county(task).tables, setup.county_id)
    result = settle(stage_view(view), setup.resolved, presettlements=task.presettlements)
    problems = list(result.problems) + own_check_problems(result)
    communities = view["communities"]
    outcome = CountyOutcome(setup.county_id, setup.config.county, not has_errors(problems), problems,
                            community_names=dict(zip(communities["community_id"].astype(str),
                                                     communities["community_name"].astype(str))))
    if not outcome.ok:
        return outcome
    write_results(task.out_dir / "results", result.tables, CONTRACT_RESULTS + SUPPORTING_RESULTS)
    context = ReportContext.of_run(setup.config, setup.resolved, task.run_id, view,
                                   task.warnings + problems, pdf=task.pdf)
    write_workbooks(task.out_dir, result.tables, context)
    outcome.stored = store_tables(task.stored_dir, {n: result.tables.get(n) for n in STORED_RESULTS})
    outcome.tables = {n: result.tables[n] for n in SUMMARY_TABLES}
    return outcome


def store_tables(folder: Path, tables: dict[str, pd.DataFrame | None]) -> dict[str, Path]:
    """Each table as ``folder/<name>.parquet`` (dtypes kept: money int64 fen); name → file."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, frame in tables.items():
        if frame is not None:
            out[name] = folder / f"{name}.parquet"
            frame.reset_index(drop=True).to_parquet(out[name], index=False)
    return out


def stage_view(view: dict) -> dict:
    """The view as ``settle`` takes it: a spilled table by its Parquet path."""
    from settlement.spill import SpilledTable

    return {k: v.path if isinstance(v, SpilledTable) else v for k, v in view.items()}


def in_parallel(function, tasks: list, workers: int) -> list:
    """``function`` over ``tasks`` — in worker processes when workers > 1 — in the tasks' order."""
    if workers <= 1 or len(tasks) <= 1:
        return [function(task) for task in tasks]
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads running
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context,
                             initializer=_worker_started) as pool:
        return list(pool.map(function, tasks))  # map keeps the order of the tasks


def in_child(function, task):
    """``function(task)`` in one spawned worker process: what it allocated goes back to the
    system when it ends (the parent's memory stays small)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_worker_started) as pool:
        return pool.submit(function, task).result()


def _worker_started() -> None:
    """A spawned worker of a parent started as ``python -m …`` has a bare ``__main__`` (no
    ``__file__``); pyspark, imported by Great Expectations when it is installed, takes such a
    process for a doctest run and exits. Name the main module so that it does not."""
    main = sys.modules["__main__"]
    if getattr(main, "__spec__", None) is None and not hasattr(main, "__file__"):
        main.__file__ = "<settlement region worker>"
