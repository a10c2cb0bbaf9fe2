"""The county view of a region's frames (县视图) and the region's own checks.

A region data folder is ONE folder with the usual tables; ``units.county_id`` and
``communities.county_id`` name the county. In a region folder ``units.scope`` is relative to
the region: ``county`` = inside its own county, ``city`` = a city hospital (市直医院, empty
county_id); province / national are outside the region. Cases and claims belong to the county
of their insured's community.

The view of county C (AGREEMENTS D) is what C's own settlement sees, as if it were a county
folder of its own:

* communities of C; cases, claims, chronic enrollees, fund budgets and overrun adjustments of
  C's communities;
* units: C's own units as they are; every other unit as ``external`` with no community and
  no parent, ``scope city`` when it is inside the region (another county's or a city
  hospital: 市内县外 from C's point of view), else its own scope;
* prepayments, performance scores, work points and family-doctor fees of C's own units and
  communities; the DIP catalogue and reference costs of the whole region.

Example: a patient of C01 treated at C02's county hospital is, in C01's view, a case at an
external ``city`` unit: paid at its fund_paid (市内县外), as a county run pays care elsewhere.
"""

from __future__ import annotations

import pandas as pd

from settlement.problems import Problem

IN_REGION = ("county", "city")
#: tables split by the insured's community
BY_COMMUNITY = ("inpatient_cases", "outpatient_claims", "chronic_enrollees", "fund_budget",
                "overrun_adjustments")
#: tables split by the unit they concern
BY_UNIT = {"public_health_workpoints": "unit_id", "family_doctor_fees": "unit_id"}
REGION_WIDE = ("dip_groups", "dip_reference_costs")


def county_view(tables: dict[str, pd.DataFrame], county_id: str) -> dict[str, pd.DataFrame]:
    """The frames county ``county_id`` is settled on (row numbers stay the user's)."""
    communities = tables["communities"]
    own_communities = communities.loc[communities["county_id"].eq(county_id).fillna(False)]
    units = tables["units"]
    own = units["county_id"].eq(county_id).fillna(False)
    community_ids = set(own_communities["community_id"].astype(str))
    unit_ids = set(units.loc[own, "unit_id"].astype(str))
    view = {"communities": own_communities, "units": _units_seen_from(units, own)}
    for name in BY_COMMUNITY:
        if name in tables:  # a table on disk (region/inputs.py) holds the county's rows only
            frame = tables[name]
            view[name] = (_rows_in(frame, "community_id", community_ids)
                          if isinstance(frame, pd.DataFrame) else frame)
    for name, column in BY_UNIT.items():
        if name in tables:
            view[name] = _rows_in(tables[name], column, unit_ids)
    if "prepayments" in tables:
        view["prepayments"] = _rows_in(tables["prepayments"], "payee_id", unit_ids | community_ids)
    if "performance_scores" in tables:
        scores = tables["performance_scores"]
        entity = scores["entity_id"].astype(str)
        keep = (scores["entity_type"].eq("unit") & entity.isin(unit_ids)) | (
            scores["entity_type"].eq("community") & entity.isin(community_ids))
        view["performance_scores"] = scores.loc[keep.fillna(False).to_numpy()]
    for name in REGION_WIDE:
        if name in tables:
            view[name] = tables[name]
    return view


def _rows_in(frame: pd.DataFrame, column: str, ids: set[str]) -> pd.DataFrame:
    return frame.loc[frame[column].astype(str).isin(ids).to_numpy() & frame[column].notna().to_numpy()]


def _units_seen_from(units: pd.DataFrame, own: pd.Series) -> pd.DataFrame:
    """Own units unchanged; the others external, without community or parent; in-region → city."""
    out = units.copy()
    other = ~own
    out.loc[other, "category"] = "external"
    out.loc[other, "community_id"] = pd.NA
    out.loc[other, "parent_unit_id"] = pd.NA
    out.loc[other & units["scope"].isin(IN_REGION).fillna(False), "scope"] = "city"
    return out.astype(units.dtypes.to_dict())


def region_problems(tables: dict[str, pd.DataFrame], county_ids: list[str], units_file: str = "",
                    communities_file: str = "") -> list[Problem]:
    """The region's cross-county rules, every failing row an error (all collected).

    * every community names a county of the region file (``communities.county_id``);
    * a unit of scope ``county`` names a county of the region; a unit with a county_id is of
      scope county; a member unit's county is its community's county;
    * each county of the region file has at least one community;
    * a unit id is written for one county only (the key check reports any repeated id; this
      one names the counties, so that the offices concerned can agree whose unit it is).
    """
    known = set(county_ids)
    communities, units = tables["communities"], tables["units"]
    problems = []
    county = communities["county_id"]
    for row, cid, value in zip(communities.index, communities["community_id"], county):
        if pd.isna(value) or str(value) not in known:
            problems.append(_problem("region.community_county", "communities", communities_file,
                                     row, "county_id", value,
                                     f"医共体 {cid} 的所属县（区）{_shown(value)} 不在区域配置的县（区）中"
                                     f"（{'、'.join(county_ids)}）",
                                     f"community {cid}: county {value} is not in the region file"))
    problems += _unit_twice_problems(units, units_file)
    problems += _unit_county_problems(units, known, county_ids, units_file)
    problems += _member_county_problems(units, communities, units_file)
    present = set(county.dropna().astype(str))
    for cid in county_ids:
        if cid not in present:
            problems.append(Problem("region.county_empty", "error", "communities",
                                    f"区域配置中的县（区）{cid} 在医共体表中没有医共体",
                                    f"county {cid} of the region file has no community",
                                    file=communities_file, column="county_id", value=cid))
    return problems


def _unit_twice_problems(units: pd.DataFrame, file: str) -> list[Problem]:
    """An error for each unit id whose rows name different counties (市直 = no county)."""
    county = units["county_id"].astype("string").fillna("")
    ids = units["unit_id"].astype("string")
    twice = ids.notna() & county.groupby(ids.to_numpy()).transform("nunique").gt(1)
    out = []
    for uid, rows in units.loc[twice.to_numpy()].groupby(ids[twice].to_numpy(), sort=True):
        said = "、".join(f"{_county_said(c)}（第 {r} 行）" for r, c in zip(rows.index, county[rows.index]))
        out.append(_problem("region.unit_two_counties", "units", file, rows.index[0], "unit_id", uid,
                            f"机构编码 {uid} 同时属于 {said}：一个机构只能属于一个县（区）或市直",
                            f"unit {uid} is written for several counties: "
                            + ", ".join(f"{c or 'city'} (row {r})" for r, c in zip(rows.index, county[rows.index]))))
    return out


def _county_said(county: str) -> str:
    return f"县（区）{county}" if county else "市直（无所属县）"


def _unit_county_problems(units: pd.DataFrame, known: set[str], county_ids: list[str],
                          file: str) -> list[Problem]:
    out = []
    for row, uid, value, scope in zip(units.index, units["unit_id"], units["county_id"], units["scope"]):
        if pd.notna(value) and str(value) not in known:
            out.append(_problem("region.unit_county", "units", file, row, "county_id", value,
                                f"机构 {uid} 的所属县（区）{value} 不在区域配置的县（区）中（{'、'.join(county_ids)}）",
                                f"unit {uid}: county {value} is not in the region file"))
        elif pd.isna(value) and scope == "county":
            out.append(_problem("region.unit_county", "units", file, row, "county_id", value,
                                f"机构 {uid} 在县内（scope=county），区域结算时须填写所属县（区）",
                                f"unit {uid} is of scope county: its county_id is required"))
        elif pd.notna(value) and scope != "county":
            out.append(_problem("region.unit_scope", "units", file, row, "scope", scope,
                                f"机构 {uid} 属于县（区）{value}，所在地域应为 county（县内），实为 {scope}",
                                f"unit {uid} belongs to county {value}: its scope must be county"))
    return out


def _member_county_problems(units: pd.DataFrame, communities: pd.DataFrame, file: str) -> list[Problem]:
    home = dict(zip(communities["community_id"].astype(str), communities["county_id"]))
    out = []
    members = units.loc[units["community_id"].notna()]
    for row, uid, cid, value in zip(members.index, members["unit_id"], members["community_id"],
                                    members["county_id"]):
        expected = home.get(str(cid))
        if expected is not None and pd.notna(expected) and str(value) != str(expected):
            out.append(_problem("region.member_county", "units", file, row, "county_id", value,
                                f"机构 {uid} 属于医共体 {cid}（县（区）{expected}），所属县（区）却为 {_shown(value)}",
                                f"unit {uid}: county {value} differs from its community's {expected}"))
    return out


def _shown(value) -> str:
    return "（空）" if pd.isna(value) else str(value)


def _problem(rule, table, file, row, column, value, zh, en) -> Problem:
    return Problem(rule, "error", table, zh, en, file=file, row=int(row) if row is not None else None,
                   column=column, value=None if pd.isna(value) else str(value))
