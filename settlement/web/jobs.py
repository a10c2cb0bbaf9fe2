"""Long steps in the background (后台任务): validation and settlement runs never block the server.

A :class:`Job` runs in a worker thread (one at a time: the machine's cores go to the run); the
page polls its state with htmx and shows the step lines the pipeline prints::

    job = jobs.submit("run", "admin", lambda job: run_and_compare(job, ...))
    job.status  running → succeeded | failed;  job.lines  ["▸ DIP 结算 …", "完成 0.41 s", …]
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

STEPS_PER_RUN = 12  # timed steps of settlement/pipeline.py: the bar's estimate (≤ 95 % until done)
STEPS_PER_MONTH = 5  # load, pre-settlement, bulletin, write, save (settlement/monthly/run_month.py)


@dataclass
class Job:
    id: str
    kind: str          # "validate" | "run" | "month"
    username: str
    title: str
    started: dt.datetime
    expected_steps: int = STEPS_PER_RUN
    status: str = "queued"  # queued → running → succeeded | failed
    lines: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    result: dict = field(default_factory=dict)
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def echo(self, text: str = "") -> None:
        with self.lock:
            self.lines.extend(str(text).splitlines() or [""])

    @property
    def progress(self) -> int:
        """Percent done (steps started ÷ steps expected; 100 only when finished)."""
        if self.status in ("succeeded", "failed"):
            return 100
        with self.lock:
            started = sum(line.lstrip().startswith("▸") for line in self.lines)
        return min(95, round(100 * started / max(self.expected_steps, 1)))

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed")


class Jobs:
    """The console's job list and its single worker thread."""

    def __init__(self, workers: int = 1):
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="settlement-job")
        self.jobs: dict[str, Job] = {}

    def submit(self, kind: str, username: str, title: str, work: Callable[[Job], None],
               expected_steps: int = STEPS_PER_RUN, result: dict | None = None) -> Job:
        job = Job(secrets.token_hex(8), kind, username, title, dt.datetime.now(dt.timezone.utc),
                  expected_steps, result=dict(result or {}))
        self.jobs[job.id] = job
        self.pool.submit(self._run, job, work)
        return job

    @staticmethod
    def _run(job: Job, work: Callable[[Job], None]) -> None:
        job.status = "running"
        try:
            work(job)
        except Exception as exc:  # the job reports it; the server goes on
            job.error = f"{type(exc).__name__}: {exc}"
            job.echo(traceback.format_exc(limit=3))
            job.status = "failed"
            return
        if job.status == "running":
            job.status = "succeeded"

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def recent(self, limit: int = 20) -> list[Job]:
        return sorted(self.jobs.values(), key=lambda j: j.started, reverse=True)[:limit]

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def validate_job(job: Job, config: Path, data_dir: Path) -> None:
    """Load and validate ``data_dir`` against ``config``; the problem list into ``job.result``."""
    from settlement.pipeline import load_and_validate
    from settlement.problems import has_errors, problems_frame
    from settlement.validation.report import table_summary

    job.echo("  ▸ 读取数据 load …")
    _, _, loaded, problems = load_and_validate(config, data_dir)
    job.echo("  ▸ 校验完成 validated")
    frame = problems_frame(problems)
    job.result.update({"ok": not has_errors(problems), "problems": frame.to_dict("records"),
                  "tables": table_summary(problems, loaded).to_dict("records"),
                  "errors": int((frame["severity"] == "error").sum()) if len(frame) else 0,
                  "warnings": int((frame["severity"] == "warning").sum()) if len(frame) else 0})
    if not job.result["ok"]:
        job.status = "failed"
        job.error = f"校验未通过：{job.result['errors']} 个错误"


def run_job(job: Job, config: Path, scenarios: list[Path], data_dir: Path, reports: Path, db_url: str) -> None:
    """Base run, then each scenario overlay compared with it (对比.xlsx in the scenario's folder)."""
    from settlement.cli_console import compare_and_write
    from settlement.pipeline import run_settlement

    outcome = run_settlement(config, data_dir, reports, db_url, progress=True, echo=job.echo)
    if outcome.run_id:
        job.run_ids.append(outcome.run_id)
    if not outcome.ok:
        job.status, job.error = "failed", "结算未完成（见日志）"
        return
    for scenario in scenarios:
        job.echo(f"===== 情景 scenario {scenario.name} =====")
        other = run_settlement(scenario, data_dir, reports, db_url, progress=True, echo=job.echo)
        if other.run_id:
            job.run_ids.append(other.run_id)
        if not other.ok:
            job.status, job.error = "failed", f"情景 {scenario.name} 结算未完成（见日志）"
            return
        compare_and_write(db_url, outcome.run_id, other.run_id, Path(other.run_dir) / "对比.xlsx", job.echo)


def month_job(job: Job, config: Path, month: str, data_dir: Path, reports: Path, db_url: str) -> None:
    """``settlement run --month``: the month's DIP pre-settlement, statements and 月度通报."""
    from settlement.monthly.run_month import run_month

    outcome = run_month(config, data_dir, reports, db_url, month, progress=True, echo=job.echo)
    if outcome.run_id:
        job.run_ids.append(outcome.run_id)
    if not outcome.ok:
        job.status, job.error = "failed", f"{month} 月度预结算未完成（见日志）"
