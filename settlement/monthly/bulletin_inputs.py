"""The bulletin's inputs from the loader's frames: DIP cases at the budget point value, packages.

A month run (or ``settlement bulletin``) holds the year to date. The bulletin needs every case
of the year to date scored and priced at the budget point value (预算点值) — CMI this month and
last, DIP spend to date — which :func:`settlement.monthly.presettle.year_to_date_cases` gives
(the year's DIP stage with the budget value as its published point value), and the year's
package per community, which is the engine's own package stage: either given by the caller or
taken from the settlement's own stages up to the package (:func:`year_packages`) on the
frames without their cases and claims (the package — financing, reserve, carve-outs, basis — depends on none of them; a test
checks it is the year run's). Every window (month, quarter, year to date) reads the whole
tables through the scan engine: no copy of the year's claims per period.
"""

from __future__ import annotations

import pandas as pd

from settlement.config import Resolved
from settlement.monthly.bulletin import Bulletin, build_bulletin
from settlement.monthly.month_figures import Recorded
from settlement.monthly.presettle import year_to_date_cases


def bulletin_for_month(tables: dict[str, pd.DataFrame], resolved: Resolved, month: str,
                       previous: dict[str, pd.DataFrame] | None = None,
                       packages: pd.DataFrame | None = None,
                       recorded: Recorded | None = None,
                       month_cases: pd.DataFrame | None = None) -> tuple[Bulletin, list]:
    """(bulletin, the settlement's own problems) of ``month`` from the year-to-date frames.

    ``packages`` (community_id, package fen), when the caller has them, spares the settlement.
    ``recorded``: the months' figures taken from the run store (:mod:`.month_figures`); the
    other months of the year to date are scanned from ``tables``. ``month_cases``: the month's
    inpatient cases as the caller read them (:func:`~.presettle.cases_of_month`), scored here
    when the month is the only one read."""
    from settlement.monthly import month_figures as mf
    from settlement.scan import resolve

    problems: list = []
    if packages is None:
        packages, problems = year_packages(tables, resolved)
    P = resolved.params
    runs = recorded.runs if recorded is not None else {}
    read = [m for m in mf.month_list(month) if m not in runs]
    source = tables if month_cases is None or read != [month] else {**tables, "inpatient_cases": month_cases}
    cases = year_to_date_cases(source, P.dip, month, resolved.section_segments("dip"), since=read[0])
    engine = resolve(None)
    figures = mf.combined(recorded.frames if recorded is not None else None,
                          mf.from_data(tables, cases, read, engine=engine))
    return build_bulletin(tables, P, month, cases, packages, previous, engine=engine,
                          figures=figures, recorded=runs,
                          changed=recorded.changed if recorded is not None else None), problems


def year_packages(tables: dict[str, pd.DataFrame], resolved: Resolved,
                  engine=None) -> tuple[pd.DataFrame, list]:
    """(community_id, package) of the year and the problems of the stages that make it: the
    settlement's own stages (:data:`settlement.pipeline.STAGES`) up to the package stage, on
    the frames without their cases and claims (the package depends on none of them)."""
    from settlement.pipeline import STAGES
    from settlement.stage import Context, Frames

    frames, ctx, problems = Frames({**tables, **empty_big_tables(tables)}), Context(resolved, engine), []
    for stage in STAGES:
        result = stage.run(frames, ctx)
        frames.add(result)
        problems += result.problems
        if "packages" in frames.results:
            return frames.results["packages"][["community_id", "package"]], problems
    raise LookupError("no stage of the settlement makes the packages")  # a bug, not data


def empty_big_tables(tables: dict) -> dict[str, pd.DataFrame]:
    """The case and claim tables without their rows, as :func:`year_packages` gives them to
    the stages."""
    return {name: _no_rows(tables[name], name) for name in ("inpatient_cases", "outpatient_claims")}


def _no_rows(table, name: str) -> pd.DataFrame:
    """The table without its rows: a frame's empty slice, else the contract's empty frame."""
    if isinstance(table, pd.DataFrame):
        return table.iloc[:0]
    from settlement.cells import empty_frame
    from settlement.schema import contract

    return empty_frame(contract()[name])
