"""Chronic-disease capitation (慢性病包干), DOMAIN §2.5, seed 004 (歙县).

Who is in the cohort (纳入人员)
    A row of ``chronic_enrollees`` is *enrolled* when at least one of its ``diseases`` is a
    configured code (``chronic.diseases``), none of its codes (``diseases`` or
    ``excluded_conditions``) is an excluded condition (``chronic.excluded_conditions``:
    恶性肿瘤, 白血病, 尿毒症期), and its period overlaps the settlement year. The period runs
    from ``enroll_start`` to ``enroll_end`` **both inclusive** (empty end = still enrolled),
    clipped to 1 January … 31 December of the year. A person may have several rows with
    separate periods; overlapping periods are an error (an item would count twice).

Person-months (人月数), ``chronic.person_month_rule``
    * ``whole_months`` (满月计): a calendar month counts 1 when the person is enrolled on every
      day of it, otherwise 0. Joining on 1 July → July…December = 6; joining 2 July → 5.
    * ``days`` (按天折算): each calendar month counts (days enrolled in it ÷ days in that
      month), an exact fraction. Joining on 1 July → 6; 1 Jan – 14 Feb 2025 → 1 + 14/28.
    Person-months are held exactly as integers of 1/L month, L = lcm of the year's month
    lengths (26,970 in a leap year, 13,020 otherwise).

Budget (包干预算)
    annual standard = ``standards`` tier of the highest ``min_diseases`` ≤ number of configured
    diseases, + ``signed_bonus`` when ``family_doctor_signed``; monthly standard = annual / 12.
    budget_c = Σ person-months × annual / 12, summed exactly and rounded half up to the fen
    **once per community**. 1,000 full-year enrolees at 3,700, 600 of them signed (+100):
    12 × (1,000 × 3,700 + 600 × 100) / 12 = 3,760,000.00.
    A standard (or the signed bonus) changing inside the year is priced by person-days
    (:func:`priced_units`): one full-year enrolee at 3,700 until 30 June and 4,065 from
    1 July → 6 × 3,700 / 12 + 6 × 4,065 / 12 = 3,882.50; a change on 16 July splits July
    15 : 16 by its days.

Spend (包干支出)
    Every fund-payable amount of an enrolled person dated inside their period (inpatient by
    ``discharge_date``, outpatient by ``service_date``), childbirth admissions excluded. The
    amount is the one the global-budget package counts for the same item, so that moving the
    cohort between the ledgers moves each yuan exactly once: a case at a member unit (a unit
    with a community, not ``external`` — the rule of the expenditure scan) counts its DIP
    ``fund_due`` from the DIP stage's ``dip_cases`` (0 if DIP did not settle it; line ``dip``);
    any other case its ``fund_paid`` (line ``external``); outpatient claims their
    ``fund_paid`` (line ``outpatient``). Without ``dip_cases`` member cases fall back to
    ``fund_paid`` (a warning).

Balance and corridor (结余留用、超支分担)
    balance = budget − spend. A surplus goes through ``chronic.surplus`` bands (share of the
    budget; ``rules.corridor_share``): ``retained`` stays with the community, the rest
    (``surplus_returned``) goes back to the fund. An overrun goes through ``chronic.overrun``:
    ``fund_share`` is borne by the fund, ``community_share`` by the community. Always
    balance = retained + surplus_returned − fund_share − community_share.

Distribution (分配到管理单位)
    retained (or −community_share) is split among the managing units of the community's
    enrolees by weight = person-months × management quality coefficient (the unit's
    ``performance_scores`` score through ``chronic.quality_score_rule``), with the one
    allocator. Should every weight be 0, person-months alone are used (a warning).

Carve-out (单列), ``chronic.carve_out``: the stage hands the package stage ``carve_outs`` (for
    :func:`settlement.stages.package.settle_packages`) and ``other_lines`` (for
    :func:`settlement.stages.expenditure.scan_expenditure`); see :func:`_package_interface`.
    The cohort's spend always leaves the package expenditure (the capitation pays it); with
    the carve-out the budget leaves the package, without it the package pays the budget as an
    expenditure line. Package 1,000, expenditure 900 of which the cohort 120, budget 150:
    carve-out → (1,000 − 150) − (900 − 120) = 70, capitation 150 − 120 = 30, together 100;
    no carve-out → 1,000 − (900 − 120 + 150) = 70, + 30 = 100 — the same 1,000 − 900.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from settlement.allocate import allocate
from settlement.money import fen_of, yuan_display
from settlement.params import ChronicParams
from settlement.problems import Problem
from settlement.rules import corridor_share, describe_rule, score_coefficient_exact
from settlement.scan import COHORT_ITEM_COLUMNS, COHORT_TOTAL_COLUMNS, Engine, resolve
from settlement.scan.pandas_cohort import SOURCES, SPEND_LINES, cohort_rows  # noqa: F401 (re-exported)
from settlement.wording import plain_number  # 88, not 88.0000 (H7, issue 12)

SETTLEMENT_COLUMNS = ["community_id", "enrollees", "person_months", "budget", "spend", "balance",
                      "retained", "fund_share", "community_share", "surplus_returned",
                      "spend_dip", "spend_external", "spend_outpatient", "explanation"]
UNIT_COLUMNS = ["community_id", "unit_id", "enrollees", "person_months", "quality_score",
                "quality_coefficient", "weight", "surplus_share", "overrun_share", "net",
                "explanation"]
STATUS_ZH = {"enrolled": "纳入", "excluded_condition": "含排除病种，不纳入",
             "no_configured_disease": "无包干病种，不纳入", "outside_year": "纳入期不在结算年度"}


class ChronicResult(NamedTuple):
    settlement: pd.DataFrame  # chronic_settlement, one row per community
    units: pd.DataFrame  # distribution to managing units
    enrolment: pd.DataFrame  # one row per enrollee: status, period, person-months, standard
    spend_totals: pd.DataFrame  # the spend per community and line (Engine.cohort_totals)
    carve_outs: pd.DataFrame  # → package.settle_packages(carve_outs=…)
    other_lines: pd.DataFrame  # → expenditure.scan_expenditure(other_lines=…), signed
    problems: list[Problem]


# ---------------------------------------------------------------- enrolment
def month_grid(year: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(first days, month lengths, L = lcm of the lengths) of the 12 months of ``year``."""
    starts = np.array([f"{year}-{m:02d}-01" for m in range(1, 13)], dtype="datetime64[D]")
    ends = np.append(starts[1:], np.datetime64(f"{year + 1}-01-01", "D"))
    lengths = (ends - starts).astype("int64")
    return starts, lengths, math.lcm(*lengths.tolist())


def _codes(values: pd.Series) -> pd.Series:
    """';'-separated codes → one stripped code per row (index repeated), empties dropped.

    Split by Arrow (one pass, no Python list per row); each code stripped as ``str.strip``
    does: ``" HT ; DM;"`` → ``HT``, ``DM``."""
    text = pa.array(values.astype("string").fillna("").array)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    parts = pc.split_pattern(text, ";")
    codes = np.array([c.strip() for c in pc.list_flatten(parts).to_pylist()], dtype=object)
    rows = pc.list_parent_indices(parts).to_numpy()
    keep = codes != ""
    return pd.Series(codes[keep], index=values.index[rows[keep]], dtype=object)


def enrolment(enrollees: pd.DataFrame, params: ChronicParams, year: int) -> pd.DataFrame:
    """Per enrollee: status, configured disease count, period in ``year``, person-months, standard.

    ``pm_units`` is the exact person-months in 1/L month (see :func:`month_grid`);
    ``annual_standard`` is fen per person-year including the signed bonus.
    """
    e = enrollees.reset_index(drop=True)
    diseases = _codes(e["diseases"])
    configured = diseases[diseases.isin(list(params.diseases))]
    n_diseases = configured.groupby(level=0).nunique()  # "HT;HT" is one disease
    n_diseases = n_diseases.reindex(e.index, fill_value=0).astype("int64")
    codes = pd.concat([diseases, _codes(e["excluded_conditions"])])
    excluded = codes.isin(list(params.excluded_conditions)).groupby(level=0).any()
    excluded = excluded.reindex(e.index, fill_value=False).astype(bool)

    first, lengths, lcm = month_grid(year)
    year_start, year_end = first[0], np.datetime64(f"{year}-12-31", "D")
    start_raw, end_raw = _days(e["enroll_start"]), _days(e["enroll_end"])
    start = np.where(np.isnat(start_raw) | (start_raw < year_start), year_start, start_raw)
    end = np.where(np.isnat(end_raw) | (end_raw > year_end), year_end, end_raw)
    in_year = ~np.isnat(start_raw) & (end >= start)

    status = np.select([excluded.to_numpy(), n_diseases.to_numpy() == 0, ~in_year],
                       ["excluded_condition", "no_configured_disease", "outside_year"], "enrolled")
    enrolled = status == "enrolled"
    days = _days_per_month(start, end, first, lengths) * enrolled[:, None]
    if params.person_month_rule == "whole_months":
        pm_units = (days == lengths).sum(axis=1) * lcm
    else:
        pm_units = (days * (lcm // lengths)).sum(axis=1)

    signed = e["family_doctor_signed"].fillna(False).astype(bool).to_numpy()
    annual = annual_standard(n_diseases.to_numpy(), signed, params.standards,
                             params.signed_bonus) * enrolled
    return pd.DataFrame({
        "person_id": e["person_id"].astype("string"),
        "community_id": e["community_id"].astype("string"),
        "managing_unit_id": e["managing_unit_id"].astype("string"),
        "status": status, "status_zh": pd.Series(status).map(STATUS_ZH).to_numpy(),
        "n_diseases": n_diseases.to_numpy(), "signed": signed,
        "period_start": np.where(in_year, start, np.datetime64("NaT", "D")),
        "period_end": np.where(in_year, end, np.datetime64("NaT", "D")),
        "pm_units": pm_units.astype("int64"), "person_months": pm_units / lcm,
        "annual_standard": annual.astype("int64"),
    }).astype({"period_start": "datetime64[ns]", "period_end": "datetime64[ns]"})


def annual_standard(n_diseases: np.ndarray, signed: np.ndarray, standards, bonus) -> np.ndarray:
    """Fen per person-year: the tier of the highest ``min_diseases`` reached, + the signed bonus."""
    annual = np.zeros(len(n_diseases), dtype="int64")
    for tier in sorted(standards, key=lambda t: t.min_diseases):  # a handful of tiers
        annual = np.where(n_diseases >= tier.min_diseases, fen_of(tier.annual_standard), annual)
    return annual + signed * fen_of(bonus)


def priced_units(roster: pd.DataFrame, params: ChronicParams, year: int,
                 segments: list[tuple] | None = None) -> pd.DataFrame:
    """Enrolled person-month units per (enrolee, period of one standard), with that standard.

    ``segments``: (first day, last day, standards, signed_bonus) covering the year when the
    standards change inside it (person-days: each day is priced at the standard in force that
    day); None = one standard for the year. A month straddling a change is split by its days
    (a whole month under ``whole_months`` still counts 1 in all). Σ over the periods of an
    enrolee's units == its ``pm_units``. Returns community_id, annual_standard, pm_units.
    """
    mine = roster[roster["status"] == "enrolled"]
    if not segments or len(segments) == 1:
        return mine[["community_id", "annual_standard", "pm_units"]]
    first, lengths, lcm = month_grid(year)
    start, end = _days(mine["period_start"]), _days(mine["period_end"])
    whole = _days_per_month(start, end, first, lengths)
    full = (whole == lengths) if params.person_month_rule == "whole_months" else None
    parts = []
    for a, b, standards, bonus in segments:  # a change or two in a year
        lo = np.maximum(start, np.datetime64(a, "D"))
        hi = np.minimum(end, np.datetime64(b, "D"))
        days = np.where((hi >= lo)[:, None], _days_per_month(lo, hi, first, lengths), 0)
        if full is not None:
            days = days * full
        annual = annual_standard(mine["n_diseases"].to_numpy(), mine["signed"].to_numpy(),
                                 standards, bonus)
        parts.append(pd.DataFrame({"community_id": mine["community_id"].to_numpy(),
                                   "annual_standard": annual,
                                   "pm_units": (days * (lcm // lengths)).sum(axis=1)}))
    return pd.concat(parts, ignore_index=True).astype({"pm_units": "int64",
                                                      "annual_standard": "int64"})


def _days(values: pd.Series) -> np.ndarray:
    return pd.to_datetime(values).to_numpy().astype("datetime64[D]")


def _days_per_month(start, end, first, lengths) -> np.ndarray:
    """(n, 12) days of each month inside [start, end] (0 where start/end are NaT).

    In whole days as int64 (day numbers since 1970), not datetime64: the same numbers,
    without NaT checks on every cell of the grid."""
    start, end = np.asarray(start, "datetime64[D]"), np.asarray(end, "datetime64[D]")
    missing = np.isnat(start) | np.isnat(end)
    lo_day = np.where(missing, 0, start.astype("int64"))
    hi_day = np.where(missing, -1, end.astype("int64"))  # empty: 0 days in every month
    first_day = np.asarray(first, "datetime64[D]").astype("int64")
    lo = np.maximum(lo_day[:, None], first_day[None, :])
    hi = np.minimum(hi_day[:, None], (first_day + lengths - 1)[None, :])
    return np.clip(hi - lo + 1, 0, None)


def community_budgets(enrolled: pd.DataFrame, year: int) -> pd.Series:
    """Budget in fen per community: Σ pm_units × annual fen ÷ (12 L), rounded half up once.

    ``enrolled``: community_id, annual_standard, pm_units (a row per enrolee, or per enrolee
    and period of one standard: :func:`priced_units`).
    """
    _, _, lcm = month_grid(year)
    groups = enrolled.groupby(["community_id", "annual_standard"])["pm_units"].sum()
    exact: dict[str, int] = {}
    for (community, annual), units in groups.items():  # communities × standard tiers
        exact[community] = exact.get(community, 0) + int(annual) * int(units)
    return pd.Series({c: _div_half_up(v, 12 * lcm) for c, v in exact.items()}, dtype="int64")


def _div_half_up(numerator: int, denominator: int) -> int:
    q, r = divmod(numerator, denominator)
    return q + (1 if 2 * r >= denominator else 0)


# ---------------------------------------------------------------- spend
def cohort_spend(enrolled: pd.DataFrame, inpatient_cases, outpatient_claims, units: pd.DataFrame,
                 dip_cases: pd.DataFrame | None = None, *,
                 engine: Engine | str | None = None) -> pd.DataFrame:
    """Items of spend: source, row (position in its table), item_id, person_id, community_id
    (the enrolee's), claim_community_id, line (dip/external/outpatient), date, amount (fen).

    A scan over the big tables (frames or Parquet paths): the engine's
    :meth:`~settlement.scan.Engine.cohort_items` (pandas reference:
    :mod:`settlement.scan.pandas_cohort`)."""
    return resolve(engine).cohort_items(enrolled, inpatient_cases, outpatient_claims, units,
                                        dip_cases)


def counted_twice(enrolled: pd.DataFrame, inpatient_cases, outpatient_claims,
                  units: pd.DataFrame, dip_cases: pd.DataFrame | None = None, *,
                  engine: Engine | str | None = None) -> pd.DataFrame:
    """The items dated inside two periods of their person (:func:`cohort_spend`'s rows).

    Only a person with two periods sharing a day can have one, so only such persons' items
    are listed (none: no scan at all)::

        P1 01-01 … 06-30 and 06-01 … 12-31, claim O1 of P1 on 06-15 → O1 twice
    """
    many = enrolled.loc[enrolled["person_id"].duplicated(keep=False),
                        ["person_id", "period_start", "period_end"]]
    if many.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in COHORT_ITEM_COLUMNS})
    pairs = many.reset_index(names="a").merge(many.reset_index(names="b"), on="person_id")
    shared = pairs.loc[(pairs["a"] != pairs["b"])
                       & (pairs["period_start_x"] <= pairs["period_end_y"])
                       & (pairs["period_start_y"] <= pairs["period_end_x"]), "person_id"]
    overlapping = enrolled.loc[enrolled["person_id"].isin(shared)]
    items = cohort_spend(overlapping, inpatient_cases, outpatient_claims, units, dip_cases,
                         engine=engine)
    return items.loc[items.duplicated(["source", "row"], keep=False)].reset_index(drop=True)


# ---------------------------------------------------------------- the stage
def settle_chronic(*, enrollees: pd.DataFrame | None, inpatient_cases: pd.DataFrame,
                   outpatient_claims: pd.DataFrame, units: pd.DataFrame,
                   performance_scores: pd.DataFrame, params: ChronicParams, year: int,
                   communities: pd.DataFrame | None = None,
                   dip_cases: pd.DataFrame | None = None,
                   standard_segments: list[tuple] | None = None,
                   engine: Engine | str | None = None) -> ChronicResult:
    """Chronic capitation of ``year``: enrolment → budget, spend → corridor → managing units.

    ``standard_segments``: see :func:`priced_units` (standards changing inside the year).
    ``engine``: the scan engine of the cohort spend (None: the default engine).
    """
    problems: list[Problem] = []
    ids = [] if communities is None else communities["community_id"].astype("string").tolist()
    if not params.enabled or enrollees is None:
        if params.enabled:
            problems.append(Problem("chronic.no_enrollees", "error", "chronic_enrollees",
                                    "已启用慢性病包干（chronic.enabled），但未提供慢病包干人员表",
                                    "chronic capitation enabled, chronic_enrollees missing"))
        return _empty(ids, params.carve_out, problems)
    roster = enrolment(enrollees, params, year)
    enrolled = roster[roster["status"] == "enrolled"]
    scan = resolve(engine)
    totals = scan.cohort_totals(enrolled, inpatient_cases, outpatient_claims, units, dip_cases)
    twice = counted_twice(enrolled, inpatient_cases, outpatient_claims, units, dip_cases,
                          engine=scan)
    problems += _spend_warnings(totals, twice, dip_cases)
    ids = sorted(set(ids) | set(enrolled["community_id"]))
    priced = priced_units(roster, params, year, standard_segments)
    budget = community_budgets(priced, year).reindex(ids, fill_value=0)
    lines = (totals.pivot(index="community_id", columns="line", values="amount") if len(totals)
             else pd.DataFrame(index=ids))
    lines.index = lines.index.astype(str)
    lines = lines.reindex(index=ids, columns=list(SPEND_LINES)).fillna(0).astype("int64")
    rows = [_community_row(c, enrolled, budget[c], lines.loc[c], params) for c in ids]
    if standard_segments and len(standard_segments) > 1:  # say how a mid-year change was priced
        since = "、".join(a.isoformat() for a, *_ in standard_segments[1:])
        for row in rows:
            row["explanation"] += f"；包干标准自 {since} 起调整，按纳入人天分段计价"
    settlement = pd.DataFrame(rows, columns=SETTLEMENT_COLUMNS)
    unit_frames = [_distribute(r, enrolled, performance_scores, params, problems) for r in rows]
    units_out = pd.concat(unit_frames, ignore_index=True) if unit_frames else _frame(UNIT_COLUMNS)
    settlement = _typed(settlement)
    return ChronicResult(settlement, units_out, roster, totals,
                         *_package_interface(settlement, params.carve_out), problems)


def _community_row(community: str, enrolled: pd.DataFrame, budget: int, lines: pd.Series,
                   params: ChronicParams) -> dict:
    mine = enrolled[enrolled["community_id"] == community]
    spend = int(lines.sum())
    balance = int(budget) - spend
    row = {"community_id": community, "enrollees": mine["person_id"].nunique(),
           "person_months": float(mine["person_months"].sum()), "budget": int(budget),
           "spend": spend, "balance": balance, "retained": 0, "fund_share": 0,
           "community_share": 0, "surplus_returned": 0,
           **{f"spend_{line}": int(lines[line]) for line in SPEND_LINES}}
    if balance >= 0:
        share = corridor_share(balance, int(budget), params.surplus)
        row["retained"], row["surplus_returned"] = share.shared, balance - share.shared
        how = (f"结余 {yuan_display(balance)} 元，按结余分段留用 {yuan_display(share.shared)} 元，"
               f"返还基金 {yuan_display(balance - share.shared)} 元")
    else:
        share = corridor_share(-balance, int(budget), params.overrun)
        row["fund_share"], row["community_share"] = share.shared, -balance - share.shared
        how = (f"超支 {yuan_display(-balance)} 元，按超支分段基金分担 "
               f"{yuan_display(share.shared)} 元，医共体承担 {yuan_display(-balance - share.shared)} 元")
    row["explanation"] = (
        f"预算 = Σ人月数 {plain_number(row['person_months'])} × 月标准（年标准÷12，按病种数分档，签约加付）"
        f" = {yuan_display(budget)} 元；支出 = 纳入期内基金支付（不含生育住院）"
        f" {yuan_display(spend)} 元；{how}")
    return row


def _distribute(row: dict, enrolled: pd.DataFrame, scores: pd.DataFrame, params: ChronicParams,
                problems: list[Problem]) -> pd.DataFrame:
    """Split retained (or −community_share) among managing units: person-months × quality."""
    community, amount = row["community_id"], row["retained"] - row["community_share"]
    mine = enrolled[enrolled["community_id"] == community]
    per_unit = mine.groupby("managing_unit_id").agg(
        enrollees=("person_id", "nunique"), pm_units=("pm_units", "sum"),
        person_months=("person_months", "sum"))
    if per_unit.empty:
        return _frame(UNIT_COLUMNS)
    unit_scores = scores.loc[scores["entity_type"] == "unit"].set_index("entity_id")["score"]
    score = per_unit.index.to_series().map(unit_scores)
    for unit_id in score[score.isna()].index:  # a few units at most
        problems.append(Problem("chronic.missing_score", "error", "performance_scores",
                                f"慢病管理单位 {unit_id} 缺少考核得分，质量系数按 0 计",
                                f"managing unit {unit_id} has no score", column="entity_id",
                                value=str(unit_id)))
    coef = [Decimal(0) if pd.isna(s) else score_coefficient_exact(s, params.quality_score_rule)
            for s in score]
    weights = [int(u) * c for u, c in zip(per_unit["pm_units"], coef)]
    basis = "人月数×质量系数"
    shown = per_unit["person_months"].to_numpy() * np.array([float(c) for c in coef])
    if amount != 0 and not any(weights):  # fall back: person-months, then head count
        weights = [Decimal(int(u)) for u in per_unit["pm_units"]]
        basis, shown = "人月数（质量系数均为 0）", per_unit["person_months"].to_numpy()
        if not any(weights):
            weights = [Decimal(int(n)) for n in per_unit["enrollees"]]
            basis, shown = "纳入人数", per_unit["enrollees"].to_numpy(dtype="float64")
        problems.append(Problem("chronic.zero_weights", "warning", "chronic_enrollees",
                                f"医共体 {community} 慢病管理单位权重均为 0，改按{basis}分配",
                                f"community {community}: all weights zero, split by {basis}"))
    parts = allocate(amount, pd.Series(weights, index=per_unit.index, dtype=object))
    parts = parts.reindex(per_unit.index.astype(str)).to_numpy()
    rule = describe_rule(params.quality_score_rule)
    return pd.DataFrame({
        "community_id": community, "unit_id": per_unit.index.astype("string"),
        "enrollees": per_unit["enrollees"].to_numpy(),
        "person_months": per_unit["person_months"].to_numpy(),
        "quality_score": score.to_numpy(dtype="float64"),
        "quality_coefficient": [float(c) for c in coef], "weight": shown,
        "surplus_share": np.clip(parts, 0, None), "overrun_share": np.clip(-parts, 0, None),
        "net": parts.astype("int64"),
        "explanation": [
            f"人月数 {plain_number(m)} × 质量系数 {float(c):g}（考核得分 {s:g}，{rule}）；医共体慢病包干"
            f"{'结余留用' if amount >= 0 else '超支自担'} {yuan_display(abs(amount))} 元"
            f"按{basis}分配 → {yuan_display(int(x))} 元"
            for m, c, s, x in zip(per_unit["person_months"], coef, score, parts)]})


def _spend_warnings(totals: pd.DataFrame, twice: pd.DataFrame,
                    dip_cases: pd.DataFrame | None) -> list[Problem]:
    out = []
    if len(twice):
        out.append(Problem("chronic.overlapping_periods", "error", "chronic_enrollees",
                           f"{twice['person_id'].nunique()} 名人员的慢病纳入期重叠，"
                           f"{twice['item_id'].nunique()} 条就诊记录会被重复计入包干支出",
                           "overlapping enrolment periods would count items twice",
                           column="person_id", value=str(twice["person_id"].iloc[0])))
    moved = int(totals["moved"].sum())
    if moved:
        out.append(Problem("chronic.community_mismatch", "warning", "chronic_enrollees",
                           f"{moved} 条纳入人员就诊记录的所属医共体与慢病包干登记的医共体不一致，"
                           "按登记医共体计入包干支出",
                           f"{moved} items of enrolees carry another community_id"))
    if dip_cases is None and (totals["line"] == "dip").any():
        out.append(Problem("chronic.no_dip_cases", "warning", "inpatient_cases",
                           "未提供 DIP 结算结果，成员单位住院病例按即时结算基金支付额计入慢病包干支出",
                           "no DIP results: member-unit cases counted at fund_paid"))
    return out


# ---------------------------------------------------------------- package interface
COHORT_LINES = {"dip": "慢病包干人员成员单位住院（DIP 应付），转由包干基金支付",
                "external": "慢病包干人员非成员机构住院，转由包干基金支付",
                "outpatient": "慢病包干人员门诊，转由包干基金支付"}


def _package_interface(settlement: pd.DataFrame,
                       carve_out: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(carve_outs, other_lines): how the package ledger hands the cohort to the capitation.

    The cohort's spend always leaves the package expenditure — three negative ``other_lines``
    (``chronic_cohort_dip`` / ``_external`` / ``_outpatient``), since the capitation pays it.
    With the carve-out the budget leaves the package (``carve_outs``); without it the package
    pays the capitation, so the budget is an expenditure line (``chronic_capitation``, +).
    Either way, per community,

        (package − expenditure) with the capitation + (budget − spend)
            == (package − expenditure) without it.
    """
    ids = settlement["community_id"]
    carve = pd.DataFrame({"community_id": ids, "amount": settlement["budget"],
                          "label_zh": "慢性病包干预算"})
    carve = carve[carve["amount"] != 0] if carve_out else carve.iloc[:0]
    lines = [pd.DataFrame({"community_id": ids, "line": f"chronic_cohort_{line}",
                           "label_zh": label, "amount": -settlement[f"spend_{line}"]})
             for line, label in COHORT_LINES.items()]
    if not carve_out:
        lines.append(pd.DataFrame({"community_id": ids, "line": "chronic_capitation",
                                   "label_zh": "慢性病包干预算（由打包额支付）",
                                   "amount": settlement["budget"]}))
    other = pd.concat(lines, ignore_index=True)
    other = other[other["amount"] != 0].sort_values(["community_id", "line"], kind="stable")
    return (carve.reset_index(drop=True).astype({"community_id": "string", "amount": "int64"}),
            other.reset_index(drop=True).astype({"community_id": "string", "line": "string",
                                                 "label_zh": "string", "amount": "int64"}))


# ---------------------------------------------------------------- frames
def _frame(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def _typed(settlement: pd.DataFrame) -> pd.DataFrame:
    money = ["enrollees", "budget", "spend", "balance", "retained", "fund_share",
             "community_share", "surplus_returned", *(f"spend_{line}" for line in SPEND_LINES)]
    return settlement.astype({**{c: "int64" for c in money}, "community_id": "string",
                              "person_months": "float64", "explanation": "string"})


def _empty(ids: list[str], carve_out: bool, problems: list[Problem]) -> ChronicResult:
    settlement = pd.DataFrame({c: [0] * len(ids) for c in SETTLEMENT_COLUMNS})
    settlement["community_id"], settlement["explanation"] = ids, "未实行慢性病包干"
    settlement = _typed(settlement)
    return ChronicResult(settlement, _frame(UNIT_COLUMNS), _frame([]), _frame(COHORT_TOTAL_COLUMNS),
                         *_package_interface(settlement, carve_out), problems)
