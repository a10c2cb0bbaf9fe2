"""The bulletin's inputs from the loader's frames: DIP cases at the budget point value, packages.

A month run (or ``settlement bulletin``) holds the year to date. The bulletin needs every case
of the year to date scored and priced at the budget point value (预算点值) — CMI this month and
last, DIP spend to date — which :func:`settlement.monthly.presettle.year_to_date_cases` gives
(the year's DIP stage with the budget value as its published point value), and the year's
package per community, which is the engine's own package stage: either given by the caller or
taken from :func:`settlement.pipeline.settle` run once on the frames to date (the package does
not depend on the cases).
"""

from __future__ import annotations

import pandas as pd

from settlement.config import Resolved
from settlement.monthly.bulletin import Bulletin, build_bulletin
from settlement.monthly.bulletin_tables import windows
from settlement.monthly.presettle import year_to_date_cases


def bulletin_for_month(tables: dict[str, pd.DataFrame], resolved: Resolved, month: str,
                       previous: dict[str, pd.DataFrame] | None = None,
                       packages: pd.DataFrame | None = None) -> tuple[Bulletin, list]:
    """(bulletin, the settlement's own problems) of ``month`` from the year-to-date frames.

    ``packages`` (community_id, package fen), when the caller has them, spares the settlement."""
    from settlement.pipeline import settle

    end = windows(month)["ytd"].end
    to_date = {**tables,
               "inpatient_cases": tables["inpatient_cases"].loc[
                   tables["inpatient_cases"]["discharge_date"] < end],
               "outpatient_claims": tables["outpatient_claims"].loc[
                   tables["outpatient_claims"]["service_date"] < end]}
    problems: list = []
    if packages is None:
        result = settle(to_date, resolved)
        packages, problems = result.tables["packages"][["community_id", "package"]], result.problems
    P = resolved.params
    cases = year_to_date_cases(to_date, P.dip, month, resolved.section_segments("dip"))
    return build_bulletin(to_date, P, month, cases, packages, previous), problems
