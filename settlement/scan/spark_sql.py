"""The Spark engine's queries (Spark SQL text), one function per scan.

Each function takes the names of registered views (:class:`~settlement.scan.spark_session.SparkTables`)
and returns one query. Conventions, so the results match the pandas reference to the fen:

* rows without an insured ``community_id`` are never counted;
* an unknown unit (no row in ``units``) is not a member, not in the county, of scope
  ``national`` for the expenditure lines and of care level −1 (unknown) for referrals —
  every unit test goes through ``LEFT JOIN`` + ``coalesce(…, false)``;
* money is summed as BIGINT fen (ANSI mode: an overflow raises), counts are BIGINT;
* communities sort by their id as text (Spark compares UTF-8 bytes, which is code point
  order, Python's ``sorted``).

Example (:func:`expenditure`): a case of community A at a ``province`` hospital, fund paid
500,000 fen, gives the row (A, …, expenditure_external_province 500000, cases_external 1, …).
"""

from __future__ import annotations

import pandas as pd

from settlement.vocabulary import CLAIM_TYPES, SCOPES

NO = "coalesce({}, false)"


def dated(view: str, column: str, window) -> str:
    """``view`` restricted to [start, end) of ``column`` (a date: compared with the whole days
    on or after each bound, exactly as a datetime64 compares with the window's timestamps)."""
    if window is None:
        return view
    start, end = (pd.Timestamp(t).ceil("D").date().isoformat() for t in window)
    return (f"(SELECT * FROM {view} WHERE {column} >= DATE'{start}' "
            f"AND {column} < DATE'{end}')")


def _zeros(names: list[str]) -> str:
    return ", ".join(f"CAST(0 AS BIGINT) AS {n}" for n in names)


def expenditure(dip: str, ip: str, op: str, units: str, window) -> str:
    """:data:`~settlement.scan.EXPENDITURE_SCAN_COLUMNS`, one row per community, sorted."""
    scopes = [f"expenditure_external_{s}" for s in SCOPES]
    types = [f"expenditure_outpatient_{t}" for t in CLAIM_TYPES]
    ips = dated(ip, "discharge_date", window)
    in_window = f"LEFT SEMI JOIN {ips} w ON d.case_id = w.case_id" if window is not None else ""
    dip_rows = (f"SELECT d.community_id, d.fund_due AS expenditure_dip, CAST(1 AS BIGINT) AS cases_dip, "
                f"{_zeros([*scopes, 'cases_external', *types, 'expenditure_outpatient', 'claims_outpatient'])} "
                f"FROM {dip} d JOIN {units} u ON d.unit_id = u.unit_id AND u.member {in_window} "
                f"WHERE d.community_id IS NOT NULL")
    by_scope = ", ".join(f"IF(scope = '{s}', fund_paid, 0) AS {n}" for s, n in zip(SCOPES, scopes))
    external = (f"SELECT community_id, {_zeros(['expenditure_dip', 'cases_dip'])}, {by_scope}, "
                f"CAST(1 AS BIGINT) AS cases_external, "
                f"{_zeros([*types, 'expenditure_outpatient', 'claims_outpatient'])} FROM ("
                f"SELECT c.community_id, c.fund_paid, coalesce(u.scope, 'national') AS scope "
                f"FROM {ips} c LEFT JOIN {units} u ON c.unit_id = u.unit_id "
                f"WHERE NOT {NO.format('u.member')} AND c.community_id IS NOT NULL)")
    by_type = ", ".join(f"IF(claim_type = '{t}', fund_paid, 0) AS {n}" for t, n in zip(CLAIM_TYPES, types))
    outpatient = (f"SELECT community_id, {_zeros(['expenditure_dip', 'cases_dip', *scopes, 'cases_external'])}, "
                  f"{by_type}, fund_paid AS expenditure_outpatient, CAST(1 AS BIGINT) AS claims_outpatient "
                  f"FROM {dated(op, 'service_date', window)} "
                  f"WHERE community_id IS NOT NULL AND claim_type IS NOT NULL")
    sums = ", ".join(f"SUM({n}) AS {n}" for n in [
        "expenditure_dip", "cases_dip", *scopes, "cases_external", *types,
        "expenditure_outpatient", "claims_outpatient"])
    return (f"SELECT community_id, {sums} FROM ({dip_rows} UNION ALL {external} UNION ALL "
            f"{outpatient}) GROUP BY community_id ORDER BY community_id")


#: indicator_counts: the per-row terms of a case / a claim, summed per community and county
IP_TERMS = {
    "ip_all": "1", "ip_in": "IF({in_c}, 1, 0)", "ip_national": f"IF({NO.format('u.is_national')}, 1, 0)",
    "op_all": "0", "op_in": "0", "op_primary": "0",
    "fund_all": "c.fund_paid", "fund_in": "IF({in_c}, c.fund_paid, 0)",
    "fund_primary": f"IF({NO.format('u.is_primary')}, c.fund_paid, 0)",
    "ref_up": "IF({known} AND u.care_level > f.care_level, 1, 0)",
    "ref_down": "IF({known} AND u.care_level < f.care_level, 1, 0)",
    "ip_cost": "c.total_cost", "op_cost": "0",
    "stay_days": ("CASE WHEN c.admission_date IS NULL OR c.discharge_date IS NULL THEN 0 "
                  "ELSE greatest(datediff(c.discharge_date, c.admission_date), 1) END"),
    "ip_matched_cost": "IF({matched}, c.total_cost, 0)",
    "ip_matched_ref": "IF({matched}, r.avg_cost, 0)",
}
OP_TERMS = {
    **{k: "0" for k in IP_TERMS},
    "op_all": "1", "op_in": "IF({in_c}, 1, 0)", "op_primary": f"IF({NO.format('u.is_primary')}, 1, 0)",
    "fund_all": "c.fund_paid", "fund_in": "IF({in_c}, c.fund_paid, 0)",
    "fund_primary": f"IF({NO.format('u.is_primary')}, c.fund_paid, 0)", "op_cost": "c.total_cost",
}


def _terms(terms: dict[str, str]) -> str:
    parts = {"in_c": NO.format("u.in_county"),
             "known": (f"{NO.format('c.referral')} AND f.care_level >= 0 "
                       f"AND u.care_level >= 0"),
             "matched": f"{NO.format('u.member')} AND r.avg_cost IS NOT NULL"}
    return ", ".join(f"CAST({expr.format(**parts)} AS BIGINT) AS {name}" for name, expr in terms.items())


def indicators(ip: str, op: str, units: str, refs: str, window) -> str:
    """is_county, scope and :data:`~settlement.scan.INDICATOR_SCAN_COLUMNS`[1:]: one row per
    community, then the county (GROUPING SETS: the same rows, so the county's sums are the
    communities' and its distinct persons are counted once over the county)."""
    in_c = NO.format("u.in_county")
    cases = (f"SELECT c.community_id, c.person_id, {in_c} AS inside, {_terms(IP_TERMS)} "
             f"FROM {dated(ip, 'discharge_date', window)} c "
             f"LEFT JOIN {units} u ON c.unit_id = u.unit_id "
             f"LEFT JOIN {units} f ON c.referral_from_unit_id = f.unit_id "
             f"LEFT JOIN {refs} r ON c.dip_group = r.group_code AND u.level = r.level "
             f"WHERE c.community_id IS NOT NULL")
    claims = (f"SELECT c.community_id, c.person_id, {in_c} AS inside, {_terms(OP_TERMS)} "
              f"FROM {dated(op, 'service_date', window)} c "
              f"LEFT JOIN {units} u ON c.unit_id = u.unit_id WHERE c.community_id IS NOT NULL")
    sums = ", ".join(f"coalesce(SUM({n}), 0) AS {n}" for n in IP_TERMS)
    return (f"SELECT CAST(grouping(community_id) AS BIGINT) AS is_county, community_id AS scope, "
            f"{sums}, COUNT(DISTINCT person_id) AS persons_all, "
            f"COUNT(DISTINCT IF(inside, person_id, NULL)) AS persons_in "
            f"FROM ({cases} UNION ALL {claims}) "
            f"GROUP BY GROUPING SETS ((community_id), ()) ORDER BY is_county, scope")


def outpatient_at_home(op: str, units: str, window) -> str:
    """community_id, fund_at_own_units, fund_elsewhere (a claim at a member unit of the
    claimant's own community is at home; an unknown or outside unit is elsewhere)."""
    home = "coalesce(u.home = c.community_id, false)"
    return (f"SELECT c.community_id, SUM(IF({home}, c.fund_paid, 0)) AS fund_at_own_units, "
            f"SUM(IF({home}, 0, c.fund_paid)) AS fund_elsewhere "
            f"FROM {dated(op, 'service_date', window)} c LEFT JOIN {units} u ON c.unit_id = u.unit_id "
            f"WHERE c.community_id IS NOT NULL GROUP BY c.community_id ORDER BY c.community_id")


def cohort_items(cohort: str, ip: str, op: str | None, dip: str | None, units: str) -> str:
    """source (0 cases, 1 claims), row, item_id, person_id, community_id (the period's),
    claim_community_id, line (0 dip, 1 external, 2 outpatient), date, amount; ordered by
    source, row, period (the cohort row)."""
    member = NO.format("u.member")
    due = "coalesce(d.fund_due, 0)" if dip else "c.fund_paid"
    join_dip = f"LEFT JOIN {dip} d ON c.case_id = d.case_id" if dip else ""
    cases = (f"SELECT 0 AS source, c.row, c.case_id AS item_id, c.person_id, p.community_id, "
             f"c.community_id AS claim_community_id, IF({member}, 0, 1) AS line, "
             f"c.discharge_date AS date, IF({member}, {due}, c.fund_paid) AS amount, p.row AS period "
             f"FROM {ip} c JOIN {cohort} p ON c.person_id = p.person_id "
             f"AND c.discharge_date >= p.period_start AND c.discharge_date <= p.period_end "
             f"LEFT JOIN {units} u ON c.unit_id = u.unit_id {join_dip} "
             f"WHERE NOT {NO.format('c.childbirth')}")
    claims = (f" UNION ALL SELECT 1 AS source, c.row, c.claim_id AS item_id, c.person_id, "
              f"p.community_id, c.community_id AS claim_community_id, 2 AS line, "
              f"c.service_date AS date, c.fund_paid AS amount, p.row AS period "
              f"FROM {op} c JOIN {cohort} p ON c.person_id = p.person_id "
              f"AND c.service_date >= p.period_start AND c.service_date <= p.period_end"
              if op else "")
    return f"SELECT * FROM ({cases}{claims}) ORDER BY source, row, period"


def case_flows(ip: str, window) -> str:
    """Cases and Σ fund_paid per treating unit and DIP group (missing values kept, sorted last)."""
    return (f"SELECT CAST(unit_id AS STRING) AS unit_id, CAST(dip_group AS STRING) AS dip_group, "
            f"COUNT(*) AS cases, coalesce(SUM(fund_paid), CAST(0 AS BIGINT)) AS fund_paid "
            f"FROM {dated(ip, 'discharge_date', window)} GROUP BY 1, 2 "
            f"ORDER BY 1 ASC NULLS LAST, 2 ASC NULLS LAST")
