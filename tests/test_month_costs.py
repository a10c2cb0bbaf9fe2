"""A month run does no work it does not need, and what it keeps between months is exact.

* The year's package per community (the bulletin's 基金执行进度) is kept between month runs
  (:mod:`settlement.monthly.package_cache`): an entry read back is the frame a recompute gives,
  to the dtype; a changed small-table cell, config or code is a new key (a recompute); the
  cases and claims a month adds are not part of the key.
* The by-period indicator scan counts distinct persons only when 县域内就诊率 is by persons
  (``indicators.visit_rate_basis``): by visits the bulletin is the same with or without them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from settlement.config import load_config, resolve
from settlement.loader import load_folder
from settlement.monthly import bulletin_inputs, package_cache
from settlement.monthly.package_cache import cached_year_packages, package_key
from settlement.scan import INDICATOR_SCAN_COLUMNS, get_engine
from test_scan_periods import PERIODS, UNITS, hand_cases, hand_claims

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "sample-county.yaml"
PERSONS = ["persons_all", "persons_in"]


@pytest.fixture(scope="module")
def county():
    config = load_config(CONFIG)
    return load_folder(ROOT / "sample_data").tables, resolve(config), config.sha256


@pytest.fixture
def computed(monkeypatch):
    """Counts the calls of year_packages (the recompute) made through the cache."""
    calls = []
    original = bulletin_inputs.year_packages

    def counting(tables, resolved, engine=None):
        calls.append(1)
        return original(tables, resolved, engine)

    monkeypatch.setattr(bulletin_inputs, "year_packages", counting)
    return calls


def test_a_kept_package_is_the_recomputed_one(county, computed, tmp_path):
    tables, resolved, sha = county
    first = cached_year_packages(tables, resolved, sha, tmp_path)
    again = cached_year_packages(tables, resolved, sha, tmp_path)
    assert len(computed) == 1  # the second run read the entry
    recomputed, _ = bulletin_inputs.year_packages(tables, resolved)
    assert_frame_equal(again, recomputed, check_dtype=True, check_index_type=True)
    assert_frame_equal(first, recomputed, check_dtype=True)
    # the sample county's packages (fen), as the year-end run computes them
    assert again.set_index("community_id")["package"].to_dict() == {"GT01": 2_453_465_000,
                                                                    "GT02": 1_791_410_667}


def test_a_changed_small_table_is_computed_again(county, computed, tmp_path):
    tables, resolved, sha = county
    before = cached_year_packages(tables, resolved, sha, tmp_path)
    budget = tables["fund_budget"].copy()
    budget.loc[budget["community_id"] == "GT01", "per_capita_financing"] += 100  # +1.00 元 per person
    changed = {**tables, "fund_budget": budget}
    after = cached_year_packages(changed, resolved, sha, tmp_path)
    assert len(computed) == 2
    assert package_key(changed, sha) != package_key(tables, sha)
    assert_frame_equal(after, bulletin_inputs.year_packages(changed, resolved)[0])
    gt01 = lambda f: int(f.set_index("community_id").at["GT01", "package"])  # noqa: E731
    assert gt01(after) > gt01(before)
    assert len(list(tmp_path.glob("*.arrow"))) == 2


def test_a_changed_config_or_code_is_computed_again(county, computed, tmp_path, monkeypatch):
    tables, resolved, sha = county
    cached_year_packages(tables, resolved, sha, tmp_path)
    cached_year_packages(tables, resolved, "0" * 64, tmp_path)  # another config file
    assert len(computed) == 2
    monkeypatch.setattr(package_cache, "_code_digest", lambda: "another version")
    cached_year_packages(tables, resolved, sha, tmp_path)
    assert len(computed) == 3


def test_the_months_cases_and_claims_are_not_in_the_key(county):
    tables, _, sha = county
    march = {**tables, "inpatient_cases": tables["inpatient_cases"].iloc[:10],
             "outpatient_claims": tables["outpatient_claims"].iloc[:10]}
    assert package_key(march, sha) == package_key(tables, sha)


def test_an_unreadable_entry_is_computed_again(county, computed, tmp_path):
    tables, resolved, sha = county
    good = cached_year_packages(tables, resolved, sha, tmp_path)
    (entry,) = tmp_path.glob("*.arrow")
    entry.write_bytes(b"not arrow")
    assert_frame_equal(cached_year_packages(tables, resolved, sha, tmp_path), good)
    assert len(computed) == 2


def test_no_folder_no_cache(county, computed):
    tables, resolved, sha = county
    cached_year_packages(tables, resolved, sha, None)
    cached_year_packages(tables, resolved, sha, None)
    assert len(computed) == 2


def test_only_the_newest_entries_are_kept(county, tmp_path, monkeypatch):
    tables, resolved, sha = county
    monkeypatch.setattr(package_cache, "KEEP", 2)
    for i in range(4):
        cached_year_packages(tables, resolved, f"{i:064d}", tmp_path)
    assert len(list(tmp_path.glob("*.arrow"))) == 2


# ---------------------------------------------------------------- distinct persons

@pytest.mark.parametrize("name", ["pandas", "duckdb"])
def test_periods_without_persons_are_the_windows_scans_without_persons(name):
    engine = get_engine(name)
    got = engine.indicator_counts_by_period(hand_cases(), hand_claims(), UNITS, windows=PERIODS,
                                            persons=False)
    pandas = get_engine("pandas")
    each = pd.concat([pandas.indicator_counts(hand_cases(), hand_claims(), UNITS, window=w,
                                              persons=False).assign(period=p)
                      for p, w in PERIODS.items()], ignore_index=True)
    assert_frame_equal(got, each[["period", *INDICATOR_SCAN_COLUMNS]].astype({"period": "string"}))
    assert (got[PERSONS] == 0).all().all()
    counted = engine.indicator_counts_by_period(hand_cases(), hand_claims(), UNITS, windows=PERIODS)
    assert_frame_equal(got.drop(columns=PERSONS), counted.drop(columns=PERSONS))
    # March counted: P1, P2, P4 (test_scan_periods) — only when asked for
    march = counted.loc[(counted["period"] == "month") & (counted["scope"] == "county")]
    assert int(march["persons_all"].iloc[0]) == 3


@pytest.mark.parametrize("basis", ["visits", "persons"])
def test_the_bulletin_is_the_same_as_with_every_person_counted(county, basis, monkeypatch):
    from settlement.monthly import bulletin_tables
    from settlement.monthly.bulletin_inputs import bulletin_for_month

    tables, resolved, _ = county
    params = resolved.params
    params = params.model_copy(update={"indicators": params.indicators.model_copy(
        update={"visit_rate_basis": basis})})
    resolved = dataclasses.replace(resolved, params=params)
    asked = []
    real = bulletin_tables.period_counts

    def spy(*args, persons=True, **kw):
        asked.append(persons)
        return real(*args, persons=persons, **kw)

    monkeypatch.setattr(bulletin_tables, "period_counts", spy)
    quick, _ = bulletin_for_month(tables, resolved, "2025-03")
    monkeypatch.setattr(bulletin_tables, "period_counts",
                        lambda *a, persons=True, **kw: real(*a, persons=True, **kw))
    full, _ = bulletin_for_month(tables, resolved, "2025-03")
    # by visits the year's periods are sums of the months' figures (month_figures: the scan
    # without persons, no period scan); by persons one period scan that counts them
    assert asked == ([True] if basis == "persons" else [])
    assert_frame_equal(quick.indicators, full.indicators)
    visit = quick.indicators.loc[(quick.indicators["indicator"] == "county_visit_rate")
                                 & (quick.indicators["scope"] == "county")
                                 & (quick.indicators["period"] == "month")]
    assert visit["label_zh"].iloc[0].endswith("（按人数）") == (basis == "persons")
    assert float(visit["denominator"].iloc[0]) > 0


# ---------------------------------------------------------------- discharge dates of DIP rows

def test_discharge_dates_by_case_in_any_order():
    """with_discharge takes each DIP row's date from its case: the same when the rows come in
    the cases' order (positions), shuffled, a subset, or with a case the table lacks (NaT)."""
    from settlement.monthly.bulletin_tables import with_discharge

    cases = pd.DataFrame({"case_id": pd.array(["K1", "K2", "K3"], dtype="string"),
                          "discharge_date": pd.to_datetime(["2025-01-05", "2025-02-10", "2025-03-15"])})
    expected = dict(zip(["K1", "K2", "K3"], cases["discharge_date"]))
    for ids in (["K1", "K2", "K3"], ["K3", "K1", "K2"], ["K2"], ["K1", "KX", "K3"]):
        dip = pd.DataFrame({"case_id": pd.array(ids, dtype="string"), "points": 1.0},
                           index=pd.RangeIndex(10, 10 + len(ids)))
        got = with_discharge(dip, cases)
        assert list(got.index) == list(dip.index)
        assert [None if pd.isna(d) else d for d in got["discharge_date"]] == [expected.get(i) for i in ids]


def test_the_year_to_date_starts_on_the_first_of_january(county):
    """A case table used where it lies may hold last year's rows: the bulletin's year to date
    (scored at the budget point value) holds only the cases discharged 1 January … month end."""
    from settlement.monthly.presettle import year_to_date_cases

    tables, resolved, _ = county
    cases = tables["inpatient_cases"]
    old = cases.iloc[:1].assign(case_id=pd.array(["去年-1"], dtype="string"),
                                admission_date=pd.Timestamp("2024-12-20"),
                                discharge_date=pd.Timestamp("2024-12-31"))
    with_last_year = {**tables, "inpatient_cases": pd.concat([old, cases])}
    dip, dated = resolved.params.dip, resolved.section_segments("dip")
    got = year_to_date_cases(with_last_year, dip, "2025-03", dated)
    assert "去年-1" not in set(got["case_id"].astype(str))
    assert_frame_equal(got.reset_index(drop=True),
                       year_to_date_cases(tables, dip, "2025-03", dated).reset_index(drop=True))
    assert got["discharge_date"].min() >= pd.Timestamp("2025-01-01")
