"""A region's pass 1 (区域校验): its own rules, then every county's checks.

    region folder's small tables (:func:`region_inputs`) → a task per county with its
    communities (:func:`_tasks`, after :func:`settlement.region.split.region_problems`) → the
    case and claim tables read once and split by county (:mod:`.inputs`), the rows of no county
    (:mod:`.unassigned`) and the ids found in two counties (:mod:`.crossids`) → every county's
    own checks (:func:`settlement.region.counties.check_county`, in worker processes) → what was
    read (the validation report's table list, the run record's input hashes).

Used by a region run (:func:`settlement.region.run.settle_region`) and by ``settlement validate
--region`` (:mod:`.validate`), so both report the same problems.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from settlement.loader import LoadResult
from settlement.pipeline import Steps
from settlement.problems import Problem, has_errors
from settlement.region.config import CountySetup
from settlement.region.counties import (BIG_TABLES, CountyCheck, CountyTask, check_county, in_child,
                                        in_parallel)
from settlement.region.crossids import cross_county_problems
from settlement.region.inputs import SPLIT_DIR, SplitTables, split_big_tables
from settlement.region.split import region_problems
from settlement.region.unassigned import split_problems, unassigned_problems


def region_inputs(data_dir: Path) -> LoadResult:
    """The region folder's small tables (units, communities, catalogues, budgets, scores …)."""
    from settlement.loader import load_folder
    from settlement.schema import contract

    return load_folder(data_dir, tables=[t for t in contract() if t not in BIG_TABLES])


@dataclass
class RegionCheck:
    """Pass 1 of a region: the county tasks (None: the region's tables stop it), their checks
    and what was read (the small tables with the big tables' sources and every file's hash)."""

    tasks: list[CountyTask]
    checks: list[CountyCheck]
    small: LoadResult
    read: LoadResult


def check_region(setups: list[CountySetup], data_dir: Path, work: Path, problems: list[Problem], *,
                 workers: int = 1, steps=None) -> RegionCheck:
    """The region's own rules and every county's checks, problems appended (each once).

    The big tables are read once and split by county into ``work/.split`` (inputs.py); the
    caller removes that folder when the counties are done with it.
    """
    steps = steps or Steps(show=False)
    with steps("读取大表并按县拆分 read the big tables once, split by county"):
        small = region_inputs(data_dir)
        tasks = _tasks(small, setups, data_dir, problems)
        split = _split(small, setups, data_dir, work, problems, workers) if tasks else None
        for task in tasks:
            task.split = split
    with steps("校验（逐县）validate, county by county"):
        checks = in_parallel(check_county, tasks, workers) if tasks else []
        read = _what_was_read(small, checks)
        if tasks:  # rows of no county would be left out silently: errors
            problems += unassigned_problems(data_dir, read.sources,
                                            tuple(t for t in BIG_TABLES if t not in split.tables),
                                            {c for t in tasks for c in t.community_ids})
        problems[:] = _once(problems + [p for c in checks for p in c.problems])
    return RegionCheck(tasks, checks, small, read)


def _split(small: LoadResult, setups: list[CountySetup], data_dir: Path, work: Path,
           problems: list[Problem], workers: int) -> SplitTables:
    """The big tables split by county, their loader problems, the rows of no county and the
    ids found in two counties. With workers > 1 (a big region) the split and the id check run
    each in a child process, so that the memory the read (Arrow's pool) and DuckDB took goes
    back to the system before the next step starts."""
    job = SplitJob(data_dir, small.tables["communities"], [s.county_id for s in setups], work)
    split = in_child(split_tables, job) if workers > 1 else split_tables(job)
    ids = (split, work / SPLIT_DIR)
    problems += split.problems + split_problems(split) + (
        in_child(ids_in_two_counties, ids) if workers > 1 else ids_in_two_counties(ids))
    return split


@dataclass
class SplitJob:
    data_dir: Path
    communities: object  # the communities frame
    county_ids: list[str]
    work: Path


def split_tables(job: SplitJob) -> SplitTables:
    return split_big_tables(job.data_dir, job.communities, job.county_ids, job.work)


def ids_in_two_counties(job: tuple) -> list[Problem]:
    split, folder = job
    return cross_county_problems(split, folder)


def _tasks(small: LoadResult, setups: list[CountySetup], data_dir: Path,
           problems: list[Problem]) -> list[CountyTask]:
    """One task per county (its communities), after the region's own cross-county rules."""
    problems += small.problems
    tables = small.tables
    if "units" not in tables or "communities" not in tables or has_errors(problems):
        return []
    files = {t: s.file for t, s in small.sources.items()}
    problems += region_problems(tables, [s.county_id for s in setups], files.get("units", ""),
                                files.get("communities", ""))
    if has_errors(problems):
        return []
    communities = tables["communities"]
    return [CountyTask(s, Path(data_dir), sorted(communities.loc[
        communities["county_id"].eq(s.county_id).fillna(False), "community_id"].astype(str)))
        for s in setups]


def _what_was_read(small: LoadResult, checks: list[CountyCheck]) -> LoadResult:
    """The small tables' load with the big tables' sources (rows: Σ over the counties) and the
    hashes of every file read — for the validation report and the run record."""
    read = LoadResult(tables=dict(small.tables), sources=dict(small.sources),
                      problems=list(small.problems), file_hashes=dict(small.file_hashes))
    for name in BIG_TABLES:
        found = [c.sources[name] for c in checks if name in c.sources]
        if found:
            read.sources[name] = dataclasses.replace(found[0], rows=sum(s.rows for s in found))
    for check in checks:
        read.file_hashes.update(check.file_hashes)
    return read


def _once(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
