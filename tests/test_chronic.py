"""Chronic-disease capitation (慢性病包干): enrolment, person-months, budget, spend, corridor,
distribution to managing units and the carve-out. Numbers derived in each test."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.config import load_config, resolve
from settlement.stages.chronic import (_days_per_month, cohort_rows, cohort_spend, community_budgets,
                                       counted_twice, enrolment, month_grid, settle_chronic)
from settlement.stages.expenditure import scan_expenditure
from settlement.stages.package import settle_packages

SAMPLE = Path(__file__).resolve().parent.parent / "configs" / "sample-county.yaml"
ALL_PARAMS = resolve(load_config(SAMPLE)).params
PARAMS = ALL_PARAMS.chronic  # HT/DM/…; 3,700 / 4,800 / 5,600; +100
YEAR = 2025


def _params(**changes):
    return PARAMS.model_copy(update=changes)


def enrollees(rows):
    """rows: (person, community, unit, diseases, start, end, signed[, excluded])."""
    rows = [r if len(r) == 8 else (*r, None) for r in rows]
    cols = ["person_id", "community_id", "managing_unit_id", "diseases", "enroll_start",
            "enroll_end", "family_doctor_signed", "excluded_conditions"]
    f = pd.DataFrame(rows, columns=cols)
    for c in ["person_id", "community_id", "managing_unit_id", "diseases", "excluded_conditions"]:
        f[c] = f[c].astype("string")
    f["enroll_start"] = pd.to_datetime(f["enroll_start"])
    f["enroll_end"] = pd.to_datetime(f["enroll_end"])
    f["family_doctor_signed"] = f["family_doctor_signed"].astype(bool)
    return f


UNITS = pd.DataFrame({
    "unit_id": pd.array(["H1", "T1", "V1", "T2", "X1"], dtype="string"),
    "community_id": pd.array(["C1", "C1", "C1", "C2", None], dtype="string"),
    "category": pd.array(["lead_hospital", "township_center", "village_clinic",
                          "township_center", "external"], dtype="string"),
    "scope": pd.array(["county", "county", "county", "county", "province"], dtype="string")})
SCORES = pd.DataFrame({"entity_type": pd.array(["unit"] * 3, dtype="string"),
                       "entity_id": pd.array(["T1", "V1", "T2"], dtype="string"),
                       "score": [90.0, 80.0, 100.0]})


def inpatient(rows):
    """rows: (case, person, community, unit, discharge, fund_paid fen, childbirth)."""
    f = pd.DataFrame(rows, columns=["case_id", "person_id", "community_id", "unit_id",
                                    "discharge_date", "fund_paid", "childbirth"])
    for c in ["case_id", "person_id", "community_id", "unit_id"]:
        f[c] = f[c].astype("string")
    f["discharge_date"] = pd.to_datetime(f["discharge_date"])
    f["admission_date"] = f["discharge_date"] - pd.Timedelta(days=3)
    return f.astype({"fund_paid": "int64", "childbirth": bool})


def outpatient(rows):
    """rows: (claim, person, community, unit, date, fund_paid fen)."""
    f = pd.DataFrame(rows, columns=["claim_id", "person_id", "community_id", "unit_id",
                                    "service_date", "fund_paid"])
    for c in ["claim_id", "person_id", "community_id", "unit_id"]:
        f[c] = f[c].astype("string")
    f["service_date"] = pd.to_datetime(f["service_date"])
    f["claim_type"] = pd.array(["general"] * len(f), dtype="string")
    return f.astype({"fund_paid": "int64"})


NO_CASES = inpatient([])
NO_CLAIMS = outpatient([])


def settle(people, cases=NO_CASES, claims=NO_CLAIMS, params=PARAMS, dip_cases=None):
    return settle_chronic(enrollees=people, inpatient_cases=cases, outpatient_claims=claims,
                          units=UNITS, performance_scores=SCORES, params=params, year=YEAR,
                          dip_cases=dip_cases)


# ---------------------------------------------------------------- budget
@pytest.mark.parametrize("rule", ["whole_months", "days"])
def test_budget_of_1000_full_year_enrolees_600_signed(rule):
    people = enrollees([(f"P{i:04d}", "C1", "T1", "HT", "2024-03-01", None, i < 600)
                        for i in range(1000)])
    result = settle(people, params=_params(person_month_rule=rule))
    # 12 months × (1,000 × 3,700 + 600 × 100) / 12 = 3,760,000.00 元
    expected_yuan = 1000 * 3700 + 600 * 100
    row = result.settlement.iloc[0]
    assert row["budget"] == expected_yuan * 100 == 376_000_000
    assert row["enrollees"] == 1000 and row["person_months"] == 12_000


@pytest.mark.parametrize("rule", ["whole_months", "days"])
def test_joining_on_1_july_counts_half_a_year(rule):
    roster = enrolment(enrollees([("P1", "C1", "T1", "HT", "2025-07-01", None, False)]),
                       _params(person_month_rule=rule), YEAR)
    assert roster["person_months"].iloc[0] == 6  # July … December
    assert community_budgets(roster, YEAR)["C1"] == 3700 * 100 * 6 // 12  # 1,850.00


def test_joining_on_2_july_whole_months_drops_july_days_rule_counts_its_days():
    people = enrollees([("P1", "C1", "T1", "HT", "2025-07-02", None, False)])
    whole = enrolment(people, _params(person_month_rule="whole_months"), YEAR)
    days = enrolment(people, _params(person_month_rule="days"), YEAR)
    assert whole["person_months"].iloc[0] == 5  # August … December
    assert days["person_months"].iloc[0] == pytest.approx(5 + 30 / 31)  # 30 of July's 31 days


def test_days_rule_is_exact_and_rounds_once_per_community():
    # P1: 1 Jan – 14 Feb → 1 + 14/28 = 1.5 months → 3,700 × 1.5 / 12 = 462.50
    # P2, P3, P4: 31 Dec only → 1/31 month each → 3,700 / (12 × 31) = 9.9462… 元 each
    people = enrollees([("P1", "C1", "T1", "HT", "2025-01-01", "2025-02-14", False)]
                       + [(f"Q{i}", "C2", "T2", "HT", "2025-12-31", None, False) for i in range(3)])
    roster = enrolment(people, _params(person_month_rule="days"), YEAR)
    budgets = community_budgets(roster[roster["status"] == "enrolled"], YEAR)
    assert budgets["C1"] == 46_250
    # once per community: 3 × 370,000 fen / 372 = 2,983.87 → 2,984 fen (29.84 元),
    # not 3 × round(994.6) = 2,985 fen
    assert budgets["C2"] == round(3 * 370_000 / 372) == 2_984


def test_tiers_by_disease_count_and_bonus():
    people = enrollees([("P1", "C1", "T1", "HT;DM", "2025-01-01", None, True),   # 4,800 + 100
                        ("P2", "C1", "T1", "HT;DM;COPD;XX", "2025-01-01", None, False)])  # 5,600
    roster = enrolment(people, PARAMS, YEAR)
    assert roster["n_diseases"].tolist() == [2, 3]
    assert roster["annual_standard"].tolist() == [490_000, 560_000]


def test_exclusions_unconfigured_diseases_and_periods_outside_the_year():
    people = enrollees([
        ("P1", "C1", "T1", "HT", "2025-01-01", None, False, "CANCER"),  # 恶性肿瘤 excluded
        ("P2", "C1", "T1", "HT;ESRD", "2025-01-01", None, False),      # excluded code in diseases
        ("P3", "C1", "T1", "GOUT", "2025-01-01", None, False),         # no configured disease
        ("P4", "C1", "T1", "DM", "2023-01-01", "2024-12-31", False),   # left before the year
        ("P5", "C1", "T1", "DM", "2025-03-01", None, False, "OTHER"),  # enrolled
    ])
    roster = enrolment(people, PARAMS, YEAR)
    assert roster["status"].tolist() == ["excluded_condition", "excluded_condition",
                                         "no_configured_disease", "outside_year", "enrolled"]
    assert roster["person_months"].tolist() == [0, 0, 0, 0, 10]


# ---------------------------------------------------------------- spend
def test_spend_excludes_childbirth_and_items_outside_the_enrolment_period():
    people = enrollees([("P1", "C1", "T1", "HT", "2025-04-01", "2025-09-30", False),
                        ("P2", "C1", "V1", "DM", "2025-01-01", None, False)])
    cases = inpatient([
        ("I1", "P1", "C1", "H1", "2025-05-10", 500_000, False),   # member unit → DIP fund_due
        ("I2", "P1", "C1", "X1", "2025-06-10", 800_000, False),   # external → fund_paid
        ("I3", "P1", "C1", "H1", "2025-03-31", 900_000, False),   # before enrolment: out
        ("I4", "P2", "C1", "H1", "2025-08-01", 700_000, True),    # childbirth: out
        ("I5", "P9", "C1", "H1", "2025-08-01", 600_000, False),   # not enrolled: out
    ])
    claims = outpatient([
        ("O1", "P1", "C1", "T1", "2025-09-30", 10_000),           # last day counts
        ("O2", "P1", "C1", "T1", "2025-10-01", 20_000),           # after exit: out
        ("O3", "P2", "C1", "V1", "2025-12-31", 30_000),
    ])
    dip = pd.DataFrame({"case_id": pd.array(["I1", "I3", "I4", "I5"], dtype="string"),
                        "fund_due": [450_000, 850_000, 650_000, 550_000]})
    result = settle(people, cases, claims, dip_cases=dip)
    row = result.settlement.iloc[0]
    assert row["spend_dip"] == 450_000            # I1 at its DIP fund due, not 500,000 paid
    assert row["spend_external"] == 800_000       # I2
    assert row["spend_outpatient"] == 10_000 + 30_000
    assert row["spend"] == 450_000 + 800_000 + 40_000
    enrolled = result.enrolment[result.enrolment["status"] == "enrolled"]
    assert sorted(cohort_spend(enrolled, cases, claims, UNITS, dip)["item_id"]) == ["I1", "I2", "O1", "O3"]
    # the stage keeps only the totals: C1 dip I1, external I2, outpatient O1 + O3
    totals = result.spend_totals
    assert totals.values.tolist() == [["C1", "dip", 1, 450_000, 0], ["C1", "external", 1, 800_000, 0],
                                      ["C1", "outpatient", 2, 40_000, 0]]


def test_without_dip_results_member_cases_count_at_fund_paid_with_a_warning():
    people = enrollees([("P1", "C1", "T1", "HT", "2025-01-01", None, False)])
    cases = inpatient([("I1", "P1", "C1", "H1", "2025-05-10", 500_000, False)])
    result = settle(people, cases)
    assert result.settlement.iloc[0]["spend_dip"] == 500_000
    assert [p.rule for p in result.problems] == ["chronic.no_dip_cases"]


# ---------------------------------------------------------------- corridor and distribution
def test_surplus_corridor_and_split_by_person_months_times_quality():
    # C1: T1 manages 1,000 full-year enrolees (600 signed) → 3,760,000.00 budget
    people = enrollees([(f"P{i:04d}", "C1", "T1" if i < 700 else "V1", "HT", "2025-01-01",
                         None, i < 600) for i in range(1000)])
    claims = outpatient([("O1", "P0001", "C1", "T1", "2025-06-01", 300_000_000)])  # 3,000,000
    row = settle(people, claims=claims).settlement.iloc[0]
    # balance 760,000.00 = 20.2 % of budget; band [0, 15 %] kept 100 %: 564,000.00;
    # the remaining 196,000.00 kept 60 %: 117,600.00 → retained 681,600.00, returned 78,400.00
    assert row["balance"] == 76_000_000
    assert row["retained"] == 56_400_000 + 11_760_000 == 68_160_000
    assert row["surplus_returned"] == 7_840_000
    assert row["fund_share"] == row["community_share"] == 0
    units = settle(people, claims=claims).units.set_index("unit_id")
    # weights: T1 700 × 12 months × 0.90 = 7,560; V1 300 × 12 × 0.80 = 2,880 (Σ 10,440)
    t1 = 68_160_000 * 7560 // 10440                     # 49,357,241 r 3,960 …
    v1 = 68_160_000 * 2880 // 10440                     # 18,802,758 r 6,480 …
    left = 68_160_000 - t1 - v1                         # 1 fen → the larger remainder (V1)
    assert (t1, v1, left) == (49_357_241, 18_802_758, 1)
    assert units.loc["T1", "net"] == t1 and units.loc["V1", "net"] == v1 + 1
    assert units["net"].sum() == row["retained"]


def test_overrun_corridor_and_borne_share_is_negative_for_units():
    people = enrollees([(f"P{i}", "C1", "T1" if i < 5 else "V1", "HT", "2025-01-01", None, False)
                        for i in range(10)])                       # budget 37,000.00
    claims = outpatient([("O1", "P1", "C1", "T1", "2025-06-01", 4_810_000)])  # 48,100.00
    result = settle(people, claims=claims)
    row = result.settlement.iloc[0]
    # overrun 11,100.00: first 10 % of budget (3,700.00) fund bears 50 % = 1,850.00;
    # the rest 7,400.00 fund bears 0 → community bears 11,100.00 − 1,850.00 = 9,250.00
    assert row["balance"] == -1_110_000
    assert row["fund_share"] == 185_000 and row["community_share"] == 925_000
    assert row["balance"] == (row["retained"] + row["surplus_returned"]
                              - row["fund_share"] - row["community_share"])
    units = result.units.set_index("unit_id")
    # weights 5 × 12 × 0.9 = 54 and 5 × 12 × 0.8 = 48 → 925,000 × 54/102 = 489,705.88…
    assert units.loc["T1", "net"] == -489_706 and units.loc["V1", "net"] == -435_294
    assert (units["overrun_share"] == -units["net"]).all()


def test_missing_quality_score_is_an_error():
    people = enrollees([("P1", "C1", "Z9", "HT", "2025-01-01", None, False)])
    result = settle(people)
    assert "chronic.missing_score" in [p.rule for p in result.problems]


def test_disabled_or_absent_gives_zero_lines():
    result = settle_chronic(enrollees=None, inpatient_cases=NO_CASES, outpatient_claims=NO_CLAIMS,
                            units=UNITS, performance_scores=SCORES, params=_params(enabled=False),
                            year=YEAR, communities=pd.DataFrame({"community_id": ["C1", "C2"]}))
    assert result.settlement["budget"].tolist() == [0, 0] and not result.problems
    assert result.carve_outs.empty and result.other_lines.empty


# ---------------------------------------------------------------- carve-out
COMMUNITIES = pd.DataFrame({"community_id": pd.array(["C1", "C2"], dtype="string"),
                            "insured_enrollees": [2_000, 1_000]})
FUND_BUDGET = pd.DataFrame({"community_id": pd.array(["C1", "C2"], dtype="string"),
                            "per_capita_financing": [110_000, 110_000],
                            "critical_illness_premium_per_capita": [10_000, 10_000],
                            "other_earmarks_per_capita": [0, 0],
                            "official_package": pd.array([pd.NA, pd.NA], dtype="Int64")})


def _package_balance(carve_outs=None, other_lines=None, cases=NO_CASES, claims=NO_CLAIMS, dip=None):
    """package − expenditure per community, by the global-budget stage's own functions."""
    package = settle_packages(COMMUNITIES, FUND_BUDGET, ALL_PARAMS.package, carve_outs=carve_outs).table
    spent = scan_expenditure(dip, cases, claims, UNITS, COMMUNITIES, other_lines=other_lines)
    return package.set_index("community_id")["package"] - spent.set_index("community_id")["expenditure"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["H1", "X1", "T1"]), st.integers(0, 10_000_000),
                          st.booleans(), st.integers(1, 365), st.sampled_from(["C1", "C2"])),
                max_size=12),
       st.integers(1, 40))
def test_carve_out_on_or_off_moves_every_yuan_exactly_once(events, n_people):
    # enrolees P0… of C1 (all year) and of C2 (from 1 April); items span 2025 and both communities
    people = enrollees([(f"P{i}", "C1" if i % 3 else "C2", "T1" if i % 3 else "T2", "HT",
                         "2025-01-01" if i % 3 else "2025-04-01", None, i % 2 == 0)
                        for i in range(n_people)])
    day = pd.Timestamp("2024-12-31")
    cases = inpatient([(f"I{k}", f"P{k % (n_people + 2)}", c, u, day + pd.Timedelta(days=d), fen, b)
                       for k, (u, fen, b, d, c) in enumerate(events) if u != "T1"])
    claims = outpatient([(f"O{k}", f"P{k % (n_people + 2)}", c, u, day + pd.Timedelta(days=d), fen)
                         for k, (u, fen, b, d, c) in enumerate(events) if u == "T1"])
    member = cases["unit_id"] == "H1"
    dip = pd.DataFrame({"case_id": cases.loc[member, "case_id"], "unit_id": cases.loc[member, "unit_id"],
                        "community_id": cases.loc[member, "community_id"],
                        "fund_due": cases.loc[member, "fund_paid"] * 9 // 10})  # DIP reprices
    before = _package_balance(cases=cases, claims=claims, dip=dip)  # no capitation at all
    for carve_out in (True, False):
        result = settle(people, cases, claims, _params(carve_out=carve_out), dip)
        chronic = result.settlement.set_index("community_id")
        after = _package_balance(result.carve_outs, result.other_lines, cases, claims, dip)
        total = after + chronic["balance"].reindex(after.index, fill_value=0)
        assert total.to_dict() == before.to_dict()  # per community, to the fen
        # the cohort's spend is exactly its in-period, non-childbirth items, each counted once
        enrolled = result.enrolment[result.enrolment["status"] == "enrolled"]
        items = cohort_spend(enrolled, cases, claims, UNITS, dip)
        assert int(result.spend_totals["items"].sum()) == len(items)
        assert items["item_id"].is_unique
        assert int(items["amount"].sum()) == int(chronic["spend"].sum())
        assert not items["item_id"].isin(cases.loc[cases["childbirth"], "case_id"]).any()


def test_a_person_with_two_separate_periods_and_a_repeated_code():
    people = enrollees([("P1", "C1", "T1", "HT;HT", "2025-01-01", "2025-03-31", False),
                        ("P1", "C1", "T1", "HT", "2025-07-01", None, False)])
    claims = outpatient([("O1", "P1", "C1", "T1", "2025-05-15", 10_000),    # between periods
                         ("O2", "P1", "C1", "T1", "2025-08-15", 20_000)])
    result = settle(people, claims=claims)
    row = result.settlement.iloc[0]
    # 3 + 6 = 9 person-months at 3,700 (HT counted once) → 2,775.00; spend only O2
    assert (row["enrollees"], row["person_months"], row["budget"]) == (1, 9, 277_500)
    assert row["spend"] == 20_000 and not result.problems


def test_overlapping_periods_are_an_error_not_a_double_count_in_silence():
    people = enrollees([("P1", "C1", "T1", "HT", "2025-01-01", "2025-06-30", False),
                        ("P1", "C1", "T1", "HT", "2025-06-01", None, False)])
    claims = outpatient([("O1", "P1", "C1", "T1", "2025-06-15", 10_000)])
    assert "chronic.overlapping_periods" in [p.rule for p in settle(people, claims=claims).problems]


def test_only_persons_with_periods_sharing_a_day_are_searched_for_items_counted_twice():
    # P1: Jan–Jun and Jun–Dec share June → O1 (06-15) is in both; P2: Jan–Mar and Jul–Dec,
    # separate → O2 once; P3 one period → never listed
    people = enrollees([("P1", "C1", "T1", "HT", "2025-01-01", "2025-06-30", False),
                        ("P1", "C1", "T1", "HT", "2025-06-01", None, False),
                        ("P2", "C1", "T1", "HT", "2025-01-01", "2025-03-31", False),
                        ("P2", "C1", "T1", "HT", "2025-07-01", None, False),
                        ("P3", "C1", "T1", "HT", "2025-01-01", None, False)])
    claims = outpatient([("O1", "P1", "C1", "T1", "2025-06-15", 10_000),
                         ("O2", "P2", "C1", "T1", "2025-08-15", 20_000),
                         ("O3", "P3", "C1", "T1", "2025-08-15", 30_000)])
    roster = enrolment(people, PARAMS, YEAR)
    twice = counted_twice(roster[roster["status"] == "enrolled"], NO_CASES, claims, UNITS)
    assert twice["item_id"].tolist() == ["O1", "O1"]
    separate = roster[(roster["status"] == "enrolled") & (roster["person_id"] != "P1")]
    assert counted_twice(separate, NO_CASES, claims, UNITS).empty


def test_items_of_another_community_are_counted_for_the_enrolment_community_with_a_warning():
    # P1 enrolled in C1; O1 carries C2 (moved), O2 C1 → both count for C1, one warning naming 1
    people = enrollees([("P1", "C1", "T1", "HT", "2025-01-01", None, False)])
    claims = outpatient([("O1", "P1", "C2", "T2", "2025-02-01", 10_000),
                         ("O2", "P1", "C1", "T1", "2025-03-01", 20_000)])
    result = settle(people, claims=claims)
    assert result.spend_totals.values.tolist() == [["C1", "outpatient", 2, 30_000, 1]]
    (warning,) = [p for p in result.problems if p.rule == "chronic.community_mismatch"]
    assert warning.message_zh.startswith("1 条")


@given(st.lists(st.tuples(st.none() | st.integers(-400, 800), st.none() | st.integers(-400, 800)),
                max_size=30), st.sampled_from([2024, 2025]))
def test_days_per_month_add_up_to_the_days_of_the_period_inside_the_year(periods, year):
    # day offsets from 1 January (None = no date): Σ of the 12 months = days of
    # [start, end] ∩ the year (0 without a date or when end < start), no month above its length
    first, lengths, _ = month_grid(year)
    jan1 = np.datetime64(f"{year}-01-01", "D")
    day = lambda d: np.datetime64("NaT", "D") if d is None else jan1 + d  # noqa: E731
    start = np.array([day(a) for a, _ in periods], dtype="datetime64[D]")
    end = np.array([day(b) for _, b in periods], dtype="datetime64[D]")
    days = _days_per_month(start, end, first, lengths).reshape(len(periods), 12)
    last = int(lengths.sum()) - 1
    for (a, b), row in zip(periods, days):
        inside = 0 if a is None or b is None else max(0, min(b, last) - max(a, 0) + 1)
        assert int(row.sum()) == inside and (row <= lengths).all() and (row >= 0).all()


def test_cohort_rows_probe_persons_then_keep_the_dates_inside_a_period():
    # cohort: P1 enrolled Jan–Mar and Jul–Dec (two rows), P2 Jan–Dec; P9 and <NA> are not enrolled
    cohort = pd.DataFrame({
        "person_id": pd.array(["P1", "P1", "P2"], dtype="string"),
        "period_start": pd.to_datetime(["2025-01-01", "2025-07-01", "2025-01-01"]),
        "period_end": pd.to_datetime(["2025-03-31", "2025-12-31", "2025-12-31"])})
    person = pd.Series(["P1", "P9", "P1", "P2", None, "P1"], dtype="string")
    dates = pd.Series(pd.to_datetime(["2025-03-31", "2025-03-01", "2025-05-15", "2025-02-01",
                                      "2025-02-01", "2025-07-01"]))
    hit = cohort_rows(person, dates, cohort).sort_values("row")
    # row 0: P1 on 31 Mar, last day of period 0 (inclusive); row 1: P9 not enrolled;
    # row 2: P1 on 15 May, between its periods; row 3: P2 in period 2; row 4: no person;
    # row 5: P1 on 1 Jul, first day of period 1
    assert hit[["row", "period"]].to_numpy().tolist() == [[0, 0], [3, 2], [5, 1]]
