"""Workbooks written in worker processes (并行写出), the same bytes whatever their number.

A county has ~250 unit statements; each is a small workbook that XlsxWriter builds in pure
Python, so two cores write them in about half the time. Each job writes one whole file from
its own inputs, so the bytes of a file do not depend on which process wrote it or when (the
creation date is the context's fixed one, :func:`settlement.report.layout.new_workbook`).

The workers are forked: they inherit the jobs (no copy of the result tables is pickled) and
receive only job numbers. Forking needs the ``fork`` start method (Linux, macOS) and is done
only from the main thread of a process that is not itself a worker; anywhere else (the web
console's job thread, a region's county worker), or with ``workers=1``, the jobs run in this
process. A worker only builds workbooks and CSV files (XlsxWriter, Arrow and small pandas
frames); it touches no database connection or scan engine of the parent.

    results = run_jobs([(write_summary, (path, tables, ctx)), ...], workers=2,
                       meanwhile=lambda: write_results(...))  # the parent's own work
    # every job has been written here, results in job order; a job's exception is raised here

or, when the parent's own work must end after the jobs (a run's results are committed to the
database only once every file is written)::

    writing = start_jobs(jobs)     # the workers begin
    ...                            # the parent's own work (the database inserts)
    results = writing.wait()       # every job written, or the first failure raised
"""

from __future__ import annotations

import ctypes
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


def release_free_memory() -> None:
    """Give memory that is freed but still held by the allocators back to the system (Arrow's
    pool, then glibc's ``malloc_trim``; elsewhere only Arrow's). Done before forking: a forked
    worker's resident set starts as the parent's, so every page kept is counted again
    (measured at scale 10 before the writers fork: 1,094 → 893 MB)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS): nothing to trim
        pass


#: a job that grew its worker by this much hands the freed memory back before the next job
TRIM_AFTER_MB = 32


def _resident_mb() -> int:
    """This process's resident set in MB (Linux ``/proc``; elsewhere 0: never trimmed)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20
    except (OSError, ValueError, IndexError):
        return 0


def _run(index: int):
    """One job in a worker. A worker writes many files one after the other, and what a long
    job freed (a case list's CSV text, a county list's rows) stays in its allocators; a
    job that grew the worker by :data:`TRIM_AFTER_MB` gives it back before the next one
    (measured at scale 10: a worker grew from 793 to 923 MB over its first jobs)."""
    function, args = _JOBS[index]
    begun = _resident_mb()
    try:
        return function(*args)
    finally:
        if _resident_mb() - begun >= TRIM_AFTER_MB:
            release_free_memory()


class Running:
    """Jobs being written: in forked workers, or here when :meth:`wait` is called (one worker,
    or where forking is not possible). :meth:`wait` returns the results in job order and
    raises the first failed job's exception once no worker is writing any more; :meth:`stop`
    drops the jobs not started and waits for the ones running (the parent failed)."""

    def __init__(self, jobs: Sequence[Job], workers: int):
        global _JOBS
        self.jobs, self.pool, self.futures = list(jobs), None, []
        if workers > 1 and len(self.jobs) > 1 and _can_fork():
            if _JOBS:
                raise RuntimeError("另一组写出任务尚未结束 / another set of jobs is still running")
            _JOBS = self.jobs
            release_free_memory()
            self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
            try:
                self.futures = [self.pool.submit(_run, i) for i in range(len(self.jobs))]
            except BaseException:
                self.stop()
                raise

    def wait(self) -> list:
        if self.pool is None:
            return [function(*args) for function, args in self.jobs]
        try:
            return [future.result() for future in self.futures]
        finally:  # a failed job or Ctrl-C: the jobs not started are dropped
            self.stop()

    def stop(self) -> None:
        global _JOBS
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool, _JOBS = None, ()


def start_jobs(jobs: Sequence[Job], workers: int | None = None) -> Running:
    """Hand ``function(*args)`` of every job to ``workers`` forked processes (jobs handed out
    in order, so put the longest first) and return at once; ``wait()`` on the result."""
    return Running(jobs, default_workers() if workers is None else workers)


def run_jobs(jobs: Sequence[Job], workers: int | None = None,
             meanwhile: Callable[[], object] | None = None) -> list:
    """``function(*args)`` of every job, in ``workers`` forked processes, while this process
    runs ``meanwhile``; returns the jobs' results in job order (they must pickle: paths, not
    workbooks). With one worker, or where forking is not possible, everything runs here,
    ``meanwhile`` first."""
    running = start_jobs(jobs, workers)
    try:
        if meanwhile is not None:
            meanwhile()
    except BaseException:
        running.stop()
        raise
    return running.wait()
