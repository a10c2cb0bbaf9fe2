"""The SQL of the DuckDB engine, one function per scan (text + parameters).

Every money sum is ``SUM(x)::BIGINT``: DuckDB sums BIGINT exactly as HUGEINT, and the cast
back raises on an overflow instead of giving a float. Units are joined as a small table of
their attributes (:func:`unit_attributes`): the member test, scope flags and care level
are computed once per unit in pandas, with the same shared vocabulary as the pandas engine.
A missing unit (an id not in ``units``) joins nothing: outside the county, not a member,
scope national for the expenditure lines — as the pandas engine treats it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# the same vocabulary and columns as the pandas reference (the engine reads them from here)
from settlement.scan.pandas_cohort import CASE_COLUMNS as COHORT_CASE_COLUMNS  # noqa: F401
from settlement.scan.pandas_cohort import CLAIM_COLUMNS as COHORT_CLAIM_COLUMNS  # noqa: F401
from settlement.scan.pandas_indicators import CARE_LEVEL, IP_COLUMNS, OP_COLUMNS, PRIMARY  # noqa: F401
from settlement.vocabulary import is_member


def unit_attributes(units: pd.DataFrame) -> pd.DataFrame:
    """One row per unit: what a scan needs of it (the flags never null)."""
    scope = _text(units, "scope")
    category = units["category"].astype("string")
    in_county = scope.eq("county").fillna(False).astype(bool)
    care = category.map(CARE_LEVEL).astype("Int64")
    level = _text(units, "level")
    return pd.DataFrame({
        "unit_id": units["unit_id"].astype("string").array,
        "community_id": units["community_id"].astype("string").array,
        "scope": scope.array, "level": level.array,
        "member": is_member(units).to_numpy(bool), "in_county": in_county.to_numpy(bool),
        "is_primary": (in_county & category.isin(PRIMARY).fillna(False)).to_numpy(bool),
        "national": scope.eq("national").fillna(False).to_numpy(bool),
        "care": care.array})


def _text(units: pd.DataFrame, column: str) -> pd.Series:
    """An optional text column of ``units`` (missing: all <NA>, as the loader's default)."""
    if column in units.columns:
        return units[column].astype("string")
    return pd.Series(pd.NA, index=units.index, dtype="string")


def reference_table(reference: pd.DataFrame | None) -> pd.DataFrame:
    """group_code, level, avg_cost; a repeated (group, level) keeps its last row, as the
    pandas engine's table assignment does."""
    if reference is None or reference.empty:
        return pd.DataFrame({"group_code": pd.array([], dtype="string"),
                             "level": pd.array([], dtype="string"),
                             "avg_cost": np.array([], dtype="int64")})
    ref = pd.DataFrame({"group_code": reference["group_code"].astype("string").array,
                        "level": reference["level"].astype("string").array,
                        "avg_cost": reference["avg_cost"].to_numpy("int64")})
    return ref.drop_duplicates(["group_code", "level"], keep="last")


def _window(alias: str, column: str, window) -> tuple[str, list]:
    if window is None:
        return "", []
    return f" AND {alias}.{column} >= ? AND {alias}.{column} < ?", [window.start, window.end]


def _periods(alias: str, column: str, periods: str | None) -> tuple[str, str]:
    """(JOIN of the periods view — period, day: each day of each window — on the date of
    ``alias.column``, the ``period`` select key): each row once per period that holds its day
    (an equality join: hashed, streamed, spilled); none without periods."""
    if periods is None:
        return "", ""
    return (f" JOIN {periods} pw ON CAST({alias}.{column} AS DATE) = CAST(pw.day AS DATE)",
            "pw.period AS period, ")


def expenditure(dip: str, ip: str, op: str, u: str, window,
                periods: str | None = None) -> tuple[str, list]:
    """Long rows (community_id, part, key, amount, rows) of the expenditure lines; with
    ``periods`` (a view of period, start, stop) ``period`` first, every period in one pass
    (a DIP row by its case's discharge date)."""
    w_ip, p_ip = _window("c", "discharge_date", window)
    w_op, p_op = _window("c", "service_date", window)
    j_ip, key = _periods("c", "discharge_date", periods)
    j_op, _ = _periods("c", "service_date", periods)
    dip_window = (f" AND d.case_id IN (SELECT c.case_id FROM {ip} c WHERE true{w_ip})"
                  if window is not None else "")
    dip_periods = ""
    if periods is not None:  # each case once per period holding its discharge date (a semi join)
        dip_periods = (f" JOIN (SELECT DISTINCT c.case_id, pw.period FROM {ip} c{j_ip}) pw"
                       " ON d.case_id = pw.case_id")
    sql = f"""
    SELECT {key}d.community_id::VARCHAR AS community_id, 'dip' AS part, '' AS key,
           SUM(d.fund_due)::BIGINT AS amount, COUNT(*)::BIGINT AS rows
      FROM {dip} d JOIN {u} u ON d.unit_id::VARCHAR = u.unit_id{dip_periods}
     WHERE u.member AND d.community_id IS NOT NULL{dip_window}
     GROUP BY ALL
    UNION ALL
    SELECT {key}c.community_id::VARCHAR, 'external', coalesce(u.scope, 'national'),
           SUM(c.fund_paid)::BIGINT, COUNT(*)::BIGINT
      FROM {ip} c{j_ip} LEFT JOIN {u} u ON c.unit_id = u.unit_id
     WHERE NOT coalesce(u.member, false) AND c.community_id IS NOT NULL{w_ip}
     GROUP BY ALL
    UNION ALL
    SELECT {key}c.community_id::VARCHAR, 'outpatient', c.claim_type::VARCHAR,
           SUM(c.fund_paid)::BIGINT, COUNT(*)::BIGINT
      FROM {op} c{j_op}
     WHERE c.community_id IS NOT NULL AND c.claim_type IS NOT NULL{w_op}
     GROUP BY ALL"""
    return sql, (p_ip if window is not None else []) + p_ip + p_op


def _cohort_case_rows(ip: str, k: str, u: str, dip: str | None, row: str = "c.__row") -> str:
    """The cohort's inpatient items (childbirth excluded), unordered."""
    amount = ("CASE WHEN coalesce(u.member, false) THEN coalesce(d.fund_due, 0) "
              "ELSE c.fund_paid END" if dip is not None else "c.fund_paid")
    join_dip = f"LEFT JOIN {dip} d ON d.case_id = c.case_id" if dip is not None else ""
    return f"""
    SELECT {row} AS row, c.case_id AS item_id, c.person_id, k.community_id,
           c.community_id AS claim_community_id, coalesce(u.member, false) AS member,
           c.discharge_date AS date, ({amount})::BIGINT AS amount, k.pos
      FROM {ip} c
      JOIN {k} k ON c.person_id = k.person_id
                AND c.discharge_date >= k.period_start AND c.discharge_date <= k.period_end
      LEFT JOIN {u} u ON c.unit_id = u.unit_id
      {join_dip}
     WHERE NOT coalesce(c.childbirth, false)"""


def _cohort_claim_rows(op: str, k: str, row: str = "c.__row") -> str:
    """The cohort's outpatient items, unordered."""
    return f"""
    SELECT {row} AS row, c.claim_id AS item_id, c.person_id, k.community_id,
           c.community_id AS claim_community_id, false AS member,
           c.service_date AS date, c.fund_paid::BIGINT AS amount, k.pos
      FROM {op} c
      JOIN {k} k ON c.person_id = k.person_id
                AND c.service_date >= k.period_start AND c.service_date <= k.period_end"""


_ITEM = "row, item_id, person_id, community_id, claim_community_id, member, date, amount"


def cohort_cases(ip: str, k: str, u: str, dip: str | None) -> str:
    """Inpatient items of the cohort (childbirth excluded), by row then period."""
    return f"SELECT {_ITEM} FROM ({_cohort_case_rows(ip, k, u, dip)}) ORDER BY row, pos"


def cohort_claims(op: str, k: str) -> str:
    """Outpatient items of the cohort, by row then period."""
    return f"SELECT {_ITEM} FROM ({_cohort_claim_rows(op, k)}) ORDER BY row, pos"


def cohort_totals(ip: str, op: str | None, k: str, u: str, dip: str | None) -> str:
    """The cohort's items reduced per (community, line) in one aggregate: no item leaves
    DuckDB (no row positions needed)."""
    claims = (f"UNION ALL SELECT community_id, claim_community_id, 'outpatient' AS line, amount "
              f"FROM ({_cohort_claim_rows(op, k, row='0')})" if op is not None else "")
    return f"""
    WITH items AS (
      SELECT community_id, claim_community_id,
             CASE WHEN member THEN 'dip' ELSE 'external' END AS line, amount
        FROM ({_cohort_case_rows(ip, k, u, dip, row='0')})
      {claims})
    SELECT community_id::VARCHAR AS community_id, line, COUNT(*)::BIGINT AS items,
           SUM(amount)::BIGINT AS amount,
           COUNT(*) FILTER (WHERE claim_community_id <> community_id)::BIGINT AS moved
      FROM items WHERE community_id IS NOT NULL
     GROUP BY 1, 2 ORDER BY 1, 2"""



#: the counts and fund sums of a care row (case or claim) by where it was treated, in both count scans
_CARE_COUNTS = """COUNT(*)::BIGINT AS rows,
           COUNT(*) FILTER (WHERE u.in_county)::BIGINT AS in_county,
           COUNT(*) FILTER (WHERE u.national)::BIGINT AS national,
           COUNT(*) FILTER (WHERE u.is_primary)::BIGINT AS "primary",
           coalesce(SUM(c.fund_paid), 0)::BIGINT AS fund,
           coalesce(SUM(c.fund_paid) FILTER (WHERE u.in_county), 0)::BIGINT AS fund_in,
           coalesce(SUM(c.fund_paid) FILTER (WHERE u.is_primary), 0)::BIGINT AS fund_primary,"""

def inpatient_counts(ip: str, u: str, ref: str, window, periods: str | None = None) -> tuple[str, list]:
    """Per community (and period): rows, scope flags, fund sums, referrals, costs, stays,
    matched costs."""
    w, params = _window("c", "discharge_date", window)
    join, key = _periods("c", "discharge_date", periods)
    known = "coalesce(c.referral, false) AND f.care IS NOT NULL AND u.care IS NOT NULL"
    stay = ("CASE WHEN c.admission_date IS NULL OR c.discharge_date IS NULL THEN 0 ELSE "
            "greatest((epoch_ns(c.discharge_date) - epoch_ns(c.admission_date)) "
            "// 86400000000000, 1) END")
    matched = "u.member AND r.avg_cost > 0"
    sql = f"""
    SELECT {key}c.community_id::VARCHAR AS community_id, {_CARE_COUNTS}
           COUNT(*) FILTER (WHERE {known} AND u.care > f.care)::BIGINT AS ref_up,
           COUNT(*) FILTER (WHERE {known} AND u.care < f.care)::BIGINT AS ref_down,
           coalesce(SUM(c.total_cost), 0)::BIGINT AS cost,
           coalesce(SUM({stay}), 0)::BIGINT AS stay_days,
           coalesce(SUM(c.total_cost) FILTER (WHERE {matched}), 0)::BIGINT AS matched_cost,
           coalesce(SUM(r.avg_cost) FILTER (WHERE {matched}), 0)::BIGINT AS matched_ref
      FROM {ip} c{join}
      LEFT JOIN {u} u ON c.unit_id = u.unit_id
      LEFT JOIN {u} f ON c.referral_from_unit_id = f.unit_id
      LEFT JOIN {ref} r ON r.group_code = c.dip_group AND r.level IS NOT DISTINCT FROM u.level
     WHERE c.community_id IS NOT NULL{w}
     GROUP BY ALL"""
    return sql, params


def outpatient_counts(op: str, u: str, window, periods: str | None = None) -> tuple[str, list]:
    w, params = _window("c", "service_date", window)
    join, key = _periods("c", "service_date", periods)
    sql = f"""
    SELECT {key}c.community_id::VARCHAR AS community_id, {_CARE_COUNTS}
           coalesce(SUM(c.total_cost), 0)::BIGINT AS cost
      FROM {op} c{join} LEFT JOIN {u} u ON c.unit_id = u.unit_id
     WHERE c.community_id IS NOT NULL{w}
     GROUP BY ALL"""
    return sql, params


def persons(ip: str, op: str, u: str, window) -> tuple[str, list]:
    """Distinct persons per community and over the county (any / an in-county row): the
    (community, person) pairs made unique first (a parallel hash aggregate), then counted."""
    w_ip, p_ip = _window("c", "discharge_date", window)
    w_op, p_op = _window("c", "service_date", window)
    rows = f"""
      SELECT c.community_id::VARCHAR AS community_id, c.person_id::VARCHAR AS person_id,
             coalesce(u.in_county, false) AS inside
        FROM {ip} c LEFT JOIN {u} u ON c.unit_id = u.unit_id
       WHERE c.community_id IS NOT NULL AND c.person_id IS NOT NULL{w_ip}
      UNION ALL
      SELECT c.community_id::VARCHAR, c.person_id::VARCHAR, coalesce(u.in_county, false)
        FROM {op} c LEFT JOIN {u} u ON c.unit_id = u.unit_id
       WHERE c.community_id IS NOT NULL AND c.person_id IS NOT NULL{w_op}"""
    sql = f"""
    WITH p AS ({rows}),
         pairs AS (SELECT community_id, person_id, bool_or(inside) AS inside FROM p GROUP BY 1, 2),
         people AS (SELECT person_id, bool_or(inside) AS inside FROM pairs GROUP BY 1)
    SELECT community_id AS scope, COUNT(*)::BIGINT AS persons_all,
           COUNT(*) FILTER (WHERE inside)::BIGINT AS persons_in
      FROM pairs GROUP BY 1
    UNION ALL
    SELECT 'county', COUNT(*)::BIGINT, COUNT(*) FILTER (WHERE inside)::BIGINT FROM people"""
    return sql, p_ip + p_op


def case_flows(ip: str, window) -> tuple[str, list]:
    """Cases and Σ fund_paid per treating unit and DIP group (missing values kept, last)."""
    w, params = _window("c", "discharge_date", window)
    sql = f"""
    SELECT c.unit_id::VARCHAR AS unit_id, c.dip_group::VARCHAR AS dip_group,
           COUNT(*)::BIGINT AS cases, coalesce(SUM(c.fund_paid), 0)::BIGINT AS fund_paid
      FROM {ip} c WHERE true{w}
     GROUP BY 1, 2 ORDER BY 1 NULLS LAST, 2 NULLS LAST"""
    return sql, params


def outpatient_home(op: str, u: str, window) -> tuple[str, list]:
    w, params = _window("c", "service_date", window)
    home = "coalesce(u.member AND u.community_id = c.community_id, false)"
    sql = f"""
    SELECT c.community_id::VARCHAR AS community_id,
           coalesce(SUM(c.fund_paid) FILTER (WHERE {home}), 0)::BIGINT AS fund_at_own_units,
           coalesce(SUM(c.fund_paid) FILTER (WHERE NOT {home}), 0)::BIGINT AS fund_elsewhere
      FROM {op} c LEFT JOIN {u} u ON c.unit_id = u.unit_id
     WHERE c.community_id IS NOT NULL{w}
     GROUP BY 1"""
    return sql, params
