"""Runs and their results on screen (结算结果): every read goes through the run store.

    GET  /runs/<run>                       key figures, indicators, ledger, downloads (readers)
    GET  /runs/<run>/units                 every unit's net balance (readers)
    GET  /runs/<run>/units/<unit>          a unit's statement (readers; a unit user: its own only)
    GET  /runs/<run>/units/<unit>/cases    the unit's DIP case list (same rule)
    GET  /runs/<run>/units/<unit>/download the unit's statement workbook (same rule)
    GET  /runs/<run>/download/<what>       汇总.xlsx, 医保对账.xlsx, all.zip, community-<id>.zip
    POST /runs/<run>/close                 close the period (财务管理员 only; RunStore's guards)
    GET  /compare?a=&b=                    two runs side by side (+ download of 对比.xlsx)
    GET  /audit                            the audit log (财务管理员)

A month run (kind ``month``) has its own pages (:mod:`views_month`) under the same URLs and
role rules; its downloads are 月度通报.xlsx (``bulletin``) and 月度预结算拨付清单.xlsx
(``presettlement``).
"""

from __future__ import annotations

import functools
import glob
import io
import tempfile
import zipfile
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from settlement.store import StoreError
from settlement.store.tables import BASE_SCENARIO
from settlement.web.app import render
from settlement.web.security import ADMIN, ALL_ROLES, READERS, UNIT, page, require_unit
from settlement.web.views_month import (MONTH_FILES, month_run_page, month_statement_page,
                                        month_units_page)

SHOWN_CASES = 1000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@functools.lru_cache(maxsize=16)
def _names(data_dir: str | None) -> tuple[dict, dict, dict]:
    """(unit names, unit → community, community names) from the run's data folder."""
    from settlement.loader import load_folder
    from settlement.schema import contract

    if not data_dir or not Path(data_dir).is_dir():
        return {}, {}, {}
    schemas = contract()
    tables = load_folder(data_dir, {k: schemas[k] for k in ("units", "communities")}).tables
    units, communities = tables["units"], tables["communities"]
    return (dict(zip(units["unit_id"].astype(str), units["unit_name"].astype(str))),
            dict(zip(units["unit_id"].astype(str), units["community_id"].astype(str))),
            dict(zip(communities["community_id"].astype(str), communities["community_name"].astype(str))))


def _run(request: Request, succeeded: bool = True):
    store = request.app.state.console.store
    try:
        record = store.get_run(request.path_params["run_id"])
    except StoreError:
        raise HTTPException(404, "找不到该结算记录") from None
    if succeeded and record.status != "succeeded":
        raise HTTPException(404, f"该结算状态为 {record.status}，没有结果")
    return record


def _indicator_rows(frame, community_names: dict) -> list[dict]:
    """Indicators as shown: money counts (分) in yuan, ratios in %, scaled values as numbers."""
    from settlement.money import yuan_display
    from settlement.stages.indicators import DEFINITIONS, MONEY_PER_CASE, SCALE

    def number(v, money=False):
        if v != v or v is None:
            return ""
        return yuan_display(int(round(v))) if money else f"{v:,.0f}"

    rows = []
    for r in frame.to_dict("records"):
        counted = DEFINITIONS.get(r["indicator"], ("", "", "", ""))[3]
        money = counted == "分" or counted.startswith("元")  # counted in fen
        plain = r["indicator"] in SCALE or counted not in ("人次", "分", "人次/人")  # per thousand, days…

        def shown(v, fen=False):
            if fen and r["indicator"] in MONEY_PER_CASE and v is not None and v == v:
                return yuan_display(int(v))  # 次均费用: exact fen (money.average_fen); targets are yuan
            return "" if v is None or v != v else (f"{v:,.2f}" if plain else f"{v * 100:.2f}%")
        rows.append({"scope": "全县" if r["scope"] == "county" else community_names.get(r["scope"], r["scope"]),
                     "label": r["label_zh"], "numerator": number(r["numerator"], money),
                     "denominator": number(r["denominator"], money and not counted.startswith("元")), "value": shown(r["value"], fen=True),
                     "target": shown(r["target"]), "met": "是" if r["met"] else "否",
                     "period": r.get("period") or ""})
    return rows


def _audit(request: Request, action: str, target: str, detail: str = "") -> None:
    request.app.state.console.users.log(request.state.user.username, action, target, detail)


@page(*ALL_ROLES)
async def run_page(request: Request):
    record, user = _run(request, succeeded=False), request.state.user
    if user.role == UNIT:
        return RedirectResponse(f"/runs/{record.run_id}/units/{user.unit_id}", status_code=303)
    store = request.app.state.console.store
    if record.kind == "month":
        names = _names(record.data_dir)
        rows = _indicator_rows(store.load_results(record.run_id, "indicators"), names[2]) \
            if record.status == "succeeded" else []
        return month_run_page(request, record, names, rows)
    tables = {}
    if record.status == "succeeded":
        tables = {t: store.load_results(record.run_id, t) for t in ("community_settlement", "indicators", "ledger")}
    _, _, community_names = _names(record.data_dir)
    others = [r for r in reversed(store.list_runs()) if r.status == "succeeded" and r.run_id != record.run_id]
    indicators = _indicator_rows(tables["indicators"], community_names) if tables else []
    closable = (record.status == "succeeded" and record.scenario == BASE_SCENARIO and not record.closed
                and not record.superseded_by)  # what-ifs never close a period (RunStore checks again)
    return render(request, "run.html", run=record, t=tables, community_names=community_names,
                  indicators=indicators, closable=closable, others=others, communities=sorted(community_names))


@page(*READERS)
async def units_page(request: Request):
    record = _run(request)
    if record.kind == "month":
        return month_units_page(request, record, _names(record.data_dir))
    statement = request.app.state.console.store.load_results(record.run_id, "unit_statement")
    names, unit_community, community_names = _names(record.data_dir)
    net = statement[statement["line"] == "net"]
    rows = [{"unit_id": u, "name": names.get(u, ""), "community": community_names.get(unit_community.get(u, ""), ""),
             "net": int(a)} for u, a in zip(net["unit_id"].astype(str), net["amount"])]
    return render(request, "units.html", run=record, rows=rows)


@page(*ALL_ROLES)
async def statement_page(request: Request):
    record, unit_id = _run(request), request.path_params["unit_id"]
    require_unit(request.state.user, unit_id)
    if record.kind == "month":
        return month_statement_page(request, record, unit_id, _names(record.data_dir))
    statement = request.app.state.console.store.load_results(record.run_id, "unit_statement")
    lines = statement[statement["unit_id"].astype(str) == unit_id]
    if lines.empty:
        raise HTTPException(404, f"本次结算没有单位 {unit_id} 的结算单")
    names, unit_community, community_names = _names(record.data_dir)
    return render(request, "statement.html", run=record, unit_id=unit_id, unit_name=names.get(unit_id, ""),
                  community=community_names.get(unit_community.get(unit_id, ""), ""),
                  lines=lines.to_dict("records"))


@page(*ALL_ROLES)
async def cases_page(request: Request):
    record, unit_id = _run(request), request.path_params["unit_id"]
    require_unit(request.state.user, unit_id)
    cases = request.app.state.console.store.load_results(record.run_id, "dip_cases")
    mine = cases[cases["unit_id"].astype(str) == unit_id]
    names, _, _ = _names(record.data_dir)
    return render(request, "cases.html", run=record, unit_id=unit_id, unit_name=names.get(unit_id, ""),
                  total=len(mine), cases=mine.head(SHOWN_CASES).to_dict("records"))


def _statement_file(run_dir: Path, unit_id: str) -> Path | None:
    hits = sorted((run_dir / "units").glob(f"{glob.escape(unit_id)}_*.xlsx"))
    return hits[0] if hits else None


@page(*ALL_ROLES)
async def statement_download(request: Request):
    record, unit_id = _run(request), request.path_params["unit_id"]
    require_unit(request.state.user, unit_id)
    path = _statement_file(request.app.state.console.run_dir(record), unit_id)
    if path is None:
        raise HTTPException(404, "找不到该单位的结算单文件")
    _audit(request, "download", f"{record.run_id}/units/{unit_id}", path.name)
    return FileResponse(path, media_type=XLSX, filename=path.name)


def _zip(run_dir: Path, files: list[Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for f in files:
            z.write(f, f.relative_to(run_dir).as_posix())
    return buffer.getvalue()


@page(*READERS)
async def run_download(request: Request):
    record, what = _run(request), request.path_params["what"]
    run_dir = request.app.state.console.run_dir(record)
    named = {"summary": "汇总.xlsx", "bureau": "医保对账.xlsx", **MONTH_FILES}
    if what in named:
        path = run_dir / named[what]
        if not path.is_file():
            raise HTTPException(404, f"找不到 {named[what]}")
        _audit(request, "download", f"{record.run_id}/{named[what]}")
        return FileResponse(path, media_type=XLSX, filename=named[what])
    if what == "all.zip":
        files = sorted(p for p in run_dir.rglob("*") if p.is_file())
        name = f"{record.run_id}.zip"
    elif what.startswith("community-") and what.endswith(".zip"):
        cid = what[len("community-"):-len(".zip")]
        _, unit_community, _ = _names(record.data_dir)
        files = [f for u, c in sorted(unit_community.items()) if c == cid
                 for f in [_statement_file(run_dir, u)] if f is not None]
        name = f"{record.run_id}_{cid}.zip"
    else:
        raise HTTPException(404, "没有该下载项")
    if not files:
        raise HTTPException(404, "没有可下载的文件")
    body = await run_in_threadpool(_zip, run_dir, files)
    _audit(request, "download", f"{record.run_id}/{what}", f"{len(files)} 个文件")
    return Response(body, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@page(ADMIN)
async def close_run(request: Request):
    record = _run(request)
    try:
        request.app.state.console.store.close_period(record.run_id)
    except StoreError as exc:
        raise HTTPException(409, str(exc)) from None
    _audit(request, "close", record.run_id, f"{record.county} {record.year} 年度关账")
    return RedirectResponse(f"/runs/{record.run_id}", status_code=303)


def _comparison(request: Request):
    from settlement.compare import compare_runs

    a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
    try:
        return compare_runs(request.app.state.console.store, a, b)
    except StoreError as exc:
        raise HTTPException(404, str(exc)) from None


@page(*READERS)
async def compare_page(request: Request):
    store = request.app.state.console.store
    runs = [r for r in reversed(store.list_runs()) if r.status == "succeeded"]
    c = None
    if request.query_params.get("a") and request.query_params.get("b"):
        c = await run_in_threadpool(_comparison, request)
    return render(request, "compare.html", runs=runs, c=c, a=request.query_params.get("a", ""),
                  b=request.query_params.get("b", ""))


@page(*READERS)
async def compare_download(request: Request):
    from settlement.compare.workbook import write_comparison

    c = await run_in_threadpool(_comparison, request)
    with tempfile.TemporaryDirectory() as tmp:
        body = write_comparison(c, Path(tmp) / "对比.xlsx").read_bytes()
    _audit(request, "download", f"compare/{c.run_a.run_id}/{c.run_b.run_id}", "对比.xlsx")
    return Response(body, media_type=XLSX, headers={
        "Content-Disposition": "attachment; filename=\"compare.xlsx\"; filename*=UTF-8''%E5%AF%B9%E6%AF%94.xlsx"})


@page(ADMIN)
async def audit_page(request: Request):
    return render(request, "audit.html", entries=request.app.state.console.users.audit())


ROUTES = [
    Route("/runs/{run_id}", run_page, methods=["GET"]),
    Route("/runs/{run_id}/units", units_page, methods=["GET"]),
    Route("/runs/{run_id}/units/{unit_id}", statement_page, methods=["GET"]),
    Route("/runs/{run_id}/units/{unit_id}/cases", cases_page, methods=["GET"]),
    Route("/runs/{run_id}/units/{unit_id}/download", statement_download, methods=["GET"]),
    Route("/runs/{run_id}/download/{what}", run_download, methods=["GET"]),
    Route("/runs/{run_id}/close", close_run, methods=["POST"]),
    Route("/compare", compare_page, methods=["GET"]),
    Route("/compare/download", compare_download, methods=["GET"]),
    Route("/audit", audit_page, methods=["GET"]),
]
