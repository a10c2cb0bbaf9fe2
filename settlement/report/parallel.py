"""Workbooks written in worker processes (并行写出), the same bytes whatever their number.

A county has ~250 unit statements; each is a small workbook that XlsxWriter builds in pure
Python, so two cores write them in about half the time. Each job writes one whole file from
its own inputs, so the bytes of a file do not depend on which process wrote it or when (the
creation date is the context's fixed one, :func:`settlement.report.layout.new_workbook`).

The workers are forked: they inherit the jobs (no copy of the result tables is pickled) and
receive only job numbers. Forking needs the ``fork`` start method (Linux, macOS) and is done
only from the main thread of a process that is not itself a worker; anywhere else (the web
console's job thread, a region's county worker), or with ``workers=1``, the jobs run in this
process. A worker only builds workbooks (XlsxWriter and small pandas frames); it touches no
database connection or scan engine of the parent.

    results = run_jobs([(write_summary, (path, tables, ctx)), ...], workers=2,
                       meanwhile=lambda: write_results(...))  # the parent's own work
    # every job has been written here, results in job order; a job's exception is raised here
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

Job = tuple[Callable, tuple]
_JOBS: Sequence[Job] = ()  # what forked workers inherit


def default_workers() -> int:
    """Two workers on a machine with two or more cores."""
    return min(2, os.cpu_count() or 1)


def _can_fork() -> bool:
    """Fork from a main thread only, and never from a worker (a region's county worker
    writes its county's workbooks itself: the region already uses the cores)."""
    return ("fork" in multiprocessing.get_all_start_methods()
            and threading.current_thread() is threading.main_thread()
            and multiprocessing.parent_process() is None)


def _run(index: int):
    function, args = _JOBS[index]
    return function(*args)


def run_jobs(jobs: Sequence[Job], workers: int | None = None,
             meanwhile: Callable[[], object] | None = None) -> list:
    """``function(*args)`` of every job, in ``workers`` forked processes (jobs handed out in
    order, so put the longest first), while this process runs ``meanwhile``; returns the
    jobs' results in job order (they must pickle: paths, not workbooks). With one worker, or
    where forking is not possible, everything runs here, ``meanwhile`` first."""
    global _JOBS
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(jobs) < 2 or not _can_fork():
        if meanwhile is not None:
            meanwhile()
        return [function(*args) for function, args in jobs]
    _JOBS = jobs
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_run, i) for i in range(len(jobs))]
            try:
                if meanwhile is not None:
                    meanwhile()
                return [future.result() for future in futures]
            except BaseException:  # a failed job or Ctrl-C: the jobs not started are dropped
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        _JOBS = ()
