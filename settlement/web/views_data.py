"""Data in, runs out (上传、校验、结算): the finance office's pages.

    GET  /upload                 form: zip or tables + the config to validate against
    POST /upload                 store the upload, validate in the background → /jobs/<id>
    GET  /jobs/<id>              progress page (htmx polls /jobs/<id>/status every second)
    POST /runs/start             run the base config and the chosen scenarios → /jobs/<id>;
                                 with ``month`` (YYYY-MM of the config's year): that month's DIP
                                 pre-settlement and 月度通报 (``settlement run --month``), no scenarios
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from settlement.web.app import render
from settlement.web.jobs import STEPS_PER_MONTH, STEPS_PER_RUN, month_job, run_job, validate_job
from settlement.web.security import ADMIN, READERS, page
from settlement.web.uploads import UploadError, add_file, find_upload, new_upload

SHOWN_PROBLEMS = 500


@page(ADMIN)
async def upload_form(request: Request):
    console = request.app.state.console
    return render(request, "upload.html", configs=[c for c in console.configs() if not c.overlay])


@page(ADMIN)
async def upload(request: Request):
    console, user = request.app.state.console, request.state.user
    form = await request.form()
    config = console.config_by_label(str(form.get("config", "")))
    files = [f for f in form.getlist("files") if getattr(f, "filename", "")]
    error = None if files else "请选择要上传的文件（zip 压缩包或 xlsx/csv 数据表）"
    if config is None:
        error = "请选择结算参数配置"
    if error is None:
        item = new_upload(console.workdir)
        try:
            for f in files:
                add_file(item, f.filename, f.file)
        except UploadError as exc:
            error = str(exc)
    if error:
        return render(request, "upload.html", status_code=400, error=error,
                      configs=[c for c in console.configs() if not c.overlay])
    console.users.log(user.username, "upload", item.id, "、".join(item.files))
    job = console.jobs.submit("validate", user.username, f"校验上传数据 {item.id}",
                              lambda job: validate_job(job, config.path, item.folder), expected_steps=2,
                              result={"upload_id": item.id, "config": config.label})
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _job_or_404(request: Request):
    job = request.app.state.console.jobs.get(request.path_params["job_id"])
    if job is None:
        raise HTTPException(404, "找不到该任务")
    return job


def _months(configs) -> list[str]:
    """The months a month run may be started for: those of the configs' settlement years."""
    years = sorted({c.year for c in configs if c.year})
    return [f"{y:04d}-{m:02d}" for y in years for m in range(1, 13)]


def _job_context(request: Request, job) -> dict:
    console = request.app.state.console
    result = job.result
    configs = [c for c in console.configs() if not c.overlay]
    return {"job": job, "lines": list(job.lines)[-200:],
            "problems": (result.get("problems") or [])[:SHOWN_PROBLEMS],
            "scenarios": [c for c in console.configs() if c.overlay],
            "configs": configs, "months": _months(configs)}


@page(*READERS)
async def job_page(request: Request):
    job = _job_or_404(request)
    return render(request, "job.html", **_job_context(request, job))


@page(*READERS)
async def job_status(request: Request):
    job = _job_or_404(request)
    return render(request, "job_status.html", **_job_context(request, job))


@page(ADMIN)
async def start_run(request: Request):
    console, user = request.app.state.console, request.state.user
    form = await request.form()
    item = find_upload(console.workdir, str(form.get("upload_id", "")))
    config = console.config_by_label(str(form.get("config", "")))
    scenarios = [console.config_by_label(str(s)) for s in form.getlist("scenarios")]
    if item is None or config is None or any(s is None or not s.overlay for s in scenarios):
        raise HTTPException(400, "上传数据或配置不存在，请重新选择")
    month = str(form.get("month", "") or "")
    if month:
        return _start_month(request, item, config, month, bool(scenarios))
    paths = [s.path for s in scenarios]
    title = f"结算 {config.label}" + (f" + 情景 {'、'.join(s.label for s in scenarios)}" if scenarios else "")
    job = console.jobs.submit(
        "run", user.username, title,
        lambda job: run_job(job, config.path, paths, item.folder, console.reports, console.db_url),
        expected_steps=STEPS_PER_RUN * (1 + len(paths)))
    console.users.log(user.username, "run", item.id, title)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _start_month(request: Request, item, config, month: str, with_scenarios: bool):
    """A month run of the upload (月度预结算): only a month of the config's settlement year."""
    console, user = request.app.state.console, request.state.user
    if month not in _months([config]):
        raise HTTPException(400, f"月份 {month} 不在该配置的结算年度内（应为 YYYY-MM）")
    if with_scenarios:
        raise HTTPException(400, "月度预结算按基础方案进行，不能同时选择情景方案")
    title = f"{month} 月度预结算 {config.label}"
    job = console.jobs.submit(
        "month", user.username, title,
        lambda job: month_job(job, config.path, month, item.folder, console.reports, console.db_url),
        expected_steps=STEPS_PER_MONTH)
    console.users.log(user.username, "run", item.id, title)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


ROUTES = [
    Route("/upload", upload_form, methods=["GET"]),
    Route("/upload", upload, methods=["POST"]),
    Route("/jobs/{job_id}", job_page, methods=["GET"]),
    Route("/jobs/{job_id}/status", job_status, methods=["GET"]),
    Route("/runs/start", start_run, methods=["POST"]),
]
