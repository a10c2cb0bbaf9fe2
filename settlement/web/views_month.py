"""Month runs on screen (月度预结算与月度通报): the pages of a run of kind ``month``.

A month run (``settlement run --month``, started from the job page's 结算期间 picker) has no
year-end tables; :mod:`views_results` hands its pages here, with the same role rules:

    /runs/<run>                     the month: each hospital's pre-settlement, the month's (and
                                    quarter's) indicators, downloads of 月度通报.xlsx and
                                    月度预结算拨付清单.xlsx (readers; a unit user → its own statement)
    /runs/<run>/units               every hospital's payment this month (readers)
    /runs/<run>/units/<unit>        a hospital's 月度预结算单 (readers; a unit user: its own only)

Every figure comes from the run store (``dip_presettlement``, ``indicators``); amounts are fen
until the page writes them as yuan.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request

from settlement.web.app import render

#: downloads of a month run's folder: /runs/<run>/download/<what> (readers)
MONTH_FILES = {"bulletin": "月度通报.xlsx", "presettlement": "月度预结算拨付清单.xlsx"}
PRESETTLEMENT_ROWS = ("unit_id", "points", "budget_point_value", "amount", "withheld", "paid",
                      "paid_to_date")


def _presettlement(store, record):
    return store.load_results(record.run_id, "dip_presettlement")


def month_run_page(request: Request, record, names: tuple[dict, dict, dict], indicators: list[dict]):
    """The month run's page: per hospital rows, totals, indicators, downloads."""
    unit_names, unit_community, community_names = names
    rows = _rows(_presettlement(request.app.state.console.store, record), unit_names,
                 unit_community, community_names)
    totals = {c: sum(r[c] for r in rows) for c in ("amount", "withheld", "paid", "paid_to_date")}
    return render(request, "month.html", run=record, rows=rows, totals=totals,
                  indicators=indicators, communities=sorted(community_names),
                  community_names=community_names)


def _rows(frame, unit_names: dict, unit_community: dict, community_names: dict) -> list[dict]:
    out = []
    for r in frame.to_dict("records"):
        unit_id = str(r["unit_id"])
        out.append({**{c: r[c] for c in PRESETTLEMENT_ROWS}, "unit_id": unit_id,
                    "name": unit_names.get(unit_id, ""),
                    "community": community_names.get(unit_community.get(unit_id, ""), ""),
                    **{c: int(r[c]) for c in ("amount", "withheld", "paid", "paid_to_date")},
                    "explanation": r.get("explanation") if isinstance(r.get("explanation"), str) else ""})
    return out


def month_units_page(request: Request, record, names: tuple[dict, dict, dict]):
    """Every hospital's payment this month (the unit list of a month run)."""
    unit_names, unit_community, community_names = names
    rows = [{"unit_id": r["unit_id"], "name": r["name"], "community": r["community"], "net": r["paid"]}
            for r in _rows(_presettlement(request.app.state.console.store, record), unit_names,
                           unit_community, community_names)]
    return render(request, "units.html", run=record, rows=rows)


def month_statement_page(request: Request, record, unit_id: str, names: tuple[dict, dict, dict]):
    """A hospital's 月度预结算单 on screen (the workbook is the download)."""
    unit_names, unit_community, community_names = names
    rows = [r for r in _rows(_presettlement(request.app.state.console.store, record), unit_names,
                             unit_community, community_names) if r["unit_id"] == unit_id]
    if not rows:
        raise HTTPException(404, f"本次月度预结算没有单位 {unit_id} 的预结算单")
    return render(request, "month_statement.html", run=record, unit_id=unit_id, r=rows[0],
                  unit_name=unit_names.get(unit_id, ""), community=rows[0]["community"])
