"""A dated value that changes inside the settlement year is applied by period or refused
(issue 9 item 6) — never silently replaced by the 1 January value.

Each parameter has a period rule (``settlement.params.PERIOD_RULES``): DIP case-scoring
parameters apply by discharge date, the public-health per-capita standard pro rata by days,
the chronic capitation standards by person-days; every other parameter takes one value per
year, and a value dated inside the year is an error naming the parameter and the date.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pandas as pd
import pytest

from settlement.config import ConfigError, resolve
from settlement.params import ANNUAL, PERIOD_RULES, expected_units, period_rule
from settlement.stages.chronic import settle_chronic
from settlement.stages.public_health import settle_public_health
from tests.test_chronic import NO_CASES, NO_CLAIMS, SCORES as CHRONIC_SCORES, UNITS as CHRONIC_UNITS
from tests.test_chronic import enrollees
from tests.test_config import _write
from tests.test_dip import cases_frame, params as dip_params, run as run_dip
from tests.test_public_health import UNITS as PH_UNITS, workpoints


def _dated(section: str, name: str, values: dict):
    def change(p):
        p[section][name]["values"] = values
    return change


def test_every_period_rule_names_a_real_parameter():
    assert set(PERIOD_RULES) <= set(expected_units())
    assert period_rule("dip.fund_budget") == ANNUAL


@pytest.mark.parametrize("section, name, later", [
    ("dip", "fund_budget", 30_000_000),  # the DIP fund budget is one figure for the year
    ("corridor", "approved_overrun_fund_rate", 0.7),
    ("package", "risk_reserve_rate", 0.04),
])
def test_a_one_value_per_year_parameter_changed_mid_year_is_an_error(tmp_path, section, name, later):
    def change(p):
        first = next(iter(p[section][name]["values"].values()))
        p[section][name]["values"] = {"2023-01-01": first, "2025-07-01": later}
    with pytest.raises(ConfigError) as err:
        resolve(_write(tmp_path, change))
    (problem,) = [p for p in err.value.problems if f"{section}.{name}" in p]
    assert "2025-07-01" in problem and "年中变更" in problem


def test_a_parameter_expiring_mid_year_is_an_error(tmp_path):
    config = _write(tmp_path, _dated("public_health", "per_capita_standard",
                                     {"2025-01-01": 99, "2025-10-01": None}))
    with pytest.raises(ConfigError) as err:
        resolve(config)
    assert any("public_health.per_capita_standard" in p and "2025-10-01" in p
               for p in err.value.problems)


def test_a_value_dated_next_year_does_not_touch_this_year(tmp_path):
    resolved = resolve(_write(tmp_path, _dated("dip", "fund_budget",
                                               {"2023-01-01": 28_700_000, "2026-01-01": 1})))
    assert resolved.params.dip.fund_budget == Decimal(28_700_000) and not resolved.schedules


def test_public_health_standard_pro_rata_by_days(tmp_path):
    # 99 元 for 1 Jan – 30 Jun (181 days) and 109 元 for 1 Jul – 31 Dec (184 days):
    # 36,500 residents × (99 × 181 + 109 × 184) ÷ 365 = 100 × 37,975 = 3,797,500.00 元
    resolved = resolve(_write(tmp_path, _dated("public_health", "per_capita_standard",
                                               {"2024-01-01": 94, "2025-01-01": 99,
                                                "2025-07-01": 109})))
    segments = resolved.segments("public_health.per_capita_standard")
    assert [(a.isoformat(), b.isoformat(), v) for a, b, v in segments] == [
        ("2025-01-01", "2025-06-30", Decimal(99)), ("2025-07-01", "2025-12-31", Decimal(109))]
    assert "2025-07-01 起 109" in resolved.source("public_health.per_capita_standard")
    communities = pd.DataFrame({"community_id": pd.array(["C1", "C2"], dtype="string"),
                                "resident_population": [36_500, 365]})
    result = settle_public_health(
        communities=communities, units=PH_UNITS, workpoints=workpoints([("T1", "2025Q1", 1, 90)]),
        prepayments=None, params=resolved.params.public_health, year=2025,
        standard_segments=segments)
    gross = result.pools.query("pool == 'basic'").set_index("community_id")["gross"]
    assert gross["C1"] == 3_797_500 * 100
    # 365 × 37,975 ÷ 365 = 37,975 / 365 × 365 … = 379,750 fen for C2 (100 times smaller)
    assert gross["C2"] == 3_797_500
    # without the change the pool was 36,500 × 99 = 3,613,500.00: the 1 July value counts
    assert gross["C1"] != 36_500 * 99 * 100


def _chronic_budget(tmp_path, start: str, rule: str) -> int:
    def change(p):
        p["chronic"]["standards"]["values"] = {
            "2025-01-01": [{"min_diseases": 1, "annual_standard": 3700}],
            start: [{"min_diseases": 1, "annual_standard": 4065}]}
        p["chronic"]["person_month_rule"]["values"] = {"2025-01-01": rule}
    resolved = resolve(_write(tmp_path, change))
    segments = [(a, b, v["chronic.standards"], v["chronic.signed_bonus"])
                for a, b, v in resolved.joint_segments("chronic.standards", "chronic.signed_bonus")]
    people = enrollees([("P1", "C1", "T1", "HT", "2025-01-01", None, False)])
    result = settle_chronic(enrollees=people, inpatient_cases=NO_CASES, outpatient_claims=NO_CLAIMS,
                            units=CHRONIC_UNITS, performance_scores=CHRONIC_SCORES,
                            params=resolved.params.chronic, year=2025,
                            standard_segments=segments)
    return int(result.settlement.set_index("community_id").loc["C1", "budget"])


@pytest.mark.parametrize("rule", ["whole_months", "days"])
def test_chronic_standard_changing_on_1_july_prices_each_half_year(tmp_path, rule):
    # one hypertension patient all year: 6 months × 3,700 ÷ 12 + 6 months × 4,065 ÷ 12
    # = 1,850.00 + 2,032.50 = 3,882.50 元 (the 1 January value alone would give 3,700.00)
    assert _chronic_budget(tmp_path, "2025-07-01", rule) == 388_250


@pytest.mark.parametrize("rule", ["whole_months", "days"])
def test_chronic_standard_changing_mid_month_is_priced_by_person_days(tmp_path, rule):
    # change on 16 July: July's 31 days are 15 at 3,700 and 16 at 4,065 (a whole month either
    # way); budget = (6 + 15/31) × 3,700 ÷ 12 + (16/31 + 5) × 4,065 ÷ 12, half up to the fen
    exact = (Fraction(6) + Fraction(15, 31)) * 3700 / 12 + (Fraction(16, 31) + 5) * 4065 / 12
    fen = exact * 100
    expected = int(fen) + (1 if fen - int(fen) >= Fraction(1, 2) else 0)
    assert _chronic_budget(tmp_path, "2025-07-16", rule) == expected == 386_778  # 3,867.78 元


def test_dip_level_coefficient_applies_by_discharge_date():
    # tertiary coefficient 1.0 until 30 June, 1.05 from 1 July: two normal cases at H3
    # (score 500, r = 1) discharged 30 June and 1 July score 500 × 1.0 and 500 × 1.05 = 525
    frame = cases_frame([{"unit_id": "H3", "total_cost": 10_000}] * 2)
    frame["discharge_date"] = pd.to_datetime(["2025-06-30", "2025-07-01"])
    frame["admission_date"] = frame["discharge_date"] - pd.Timedelta(days=3)
    later = {"tertiary": "1.05", "secondary": "0.9", "primary": "0.8", "unrated": "0.8"}
    dated = [(dt.date(2025, 1, 1), dt.date(2025, 6, 30), dip_params()),
             (dt.date(2025, 7, 1), dt.date(2025, 12, 31), dip_params(level_coefficients=later))]
    from settlement.dip.stage import settle_dip
    from tests.test_dip import GROUPS, REFS, SCORES, UNITS
    result = settle_dip(frame, UNITS, GROUPS, REFS, SCORES, None, dip_params(), dated=dated)
    assert result.cases["points"].tolist() == [500.0, 525.0]
    assert result.cases["coefficient"].tolist() == [1.0, 1.05]
    # the same cases with the 1 January value only: both at 1.0
    assert run_dip(frame).cases["points"].tolist() == [500.0, 500.0]


def test_dip_bounds_from_the_config_by_discharge_date(tmp_path):
    # high bound 2.0 until 30 June, 3.0 from 1 July: a case at r = 2.5 is high (750 points)
    # when discharged in June and normal (500 points) in July
    resolved = resolve(_write(tmp_path, _dated("dip", "high_bound",
                                               {"2023-01-01": 2.0, "2025-07-01": 3.0})))
    dated = resolved.section_segments("dip")
    assert [d[2].high_bound for d in dated] == [Decimal("2.0"), Decimal("3.0")]
    frame = cases_frame([{"unit_id": "H3", "total_cost": 25_000}] * 2)
    frame["discharge_date"] = pd.to_datetime(["2025-06-15", "2025-07-15"])
    from settlement.dip.stage import settle_dip
    from tests.test_dip import GROUPS, REFS, SCORES, UNITS
    base = dip_params(high_bound="2.0")
    result = settle_dip(frame, UNITS, GROUPS, REFS, SCORES, None, base,
                        dated=[(a, b, base.model_copy(update={"high_bound": p.high_bound}))
                               for a, b, p in dated])
    assert result.cases["case_class"].tolist() == ["high", "normal"]
    assert result.cases["points"].tolist() == [750.0, 500.0]


def test_settle_applies_mid_year_values_of_the_config(tmp_path):
    # the whole pipeline on the sample county with the public-health standard raised to 109 元
    # on 1 July: GT01's 31,800 residents × (99 × 181 + 109 × 184) ÷ 365 元, half up to the fen
    from pathlib import Path

    from settlement.loader import load_folder
    from settlement.pipeline import settle

    resolved = resolve(_write(tmp_path, _dated("public_health", "per_capita_standard",
                                               {"2025-01-01": 99, "2025-07-01": 109})))
    loaded = load_folder(Path(__file__).resolve().parent.parent / "sample_data")
    pools = settle(loaded.tables, resolved).tables["public_health_pools"]
    exact = Fraction(31_800 * (99 * 181 + 109 * 184) * 100, 365)
    expected = int(exact) + (1 if exact - int(exact) >= Fraction(1, 2) else 0)
    got = pools.set_index(["pool", "community_id"]).loc[("basic", "GT01"), "gross"]
    assert got == expected == 330_850_685  # 3,308,506.85 元 (3,148,200.00 at 99 元 all year)


def test_dip_case_explanations_cite_the_parameters_of_their_discharge_period():
    # high bound 2.0 until 30 June, 3.0 from 1 July: the June case's rule names 2.0, July's 3.0
    frame = cases_frame([{"unit_id": "H3", "total_cost": 25_000}] * 2)
    frame["discharge_date"] = pd.to_datetime(["2025-06-15", "2025-07-15"])
    from settlement.dip.stage import settle_dip
    from tests.test_dip import GROUPS, REFS, SCORES, UNITS
    dated = [(dt.date(2025, 1, 1), dt.date(2025, 6, 30), dip_params(high_bound="2.0")),
             (dt.date(2025, 7, 1), dt.date(2025, 12, 31), dip_params(high_bound="3.0"))]
    result = settle_dip(frame, UNITS, GROUPS, REFS, SCORES, None, dip_params(), dated=dated)
    june, july = result.cases["explanation"].astype(str)
    assert "2025-01-01 至 2025-06-30 出院适用" in june and "2025-07-01 至 2025-12-31" in july
    assert "2.0" in june and "3.0" in july


def test_chronic_explanation_says_the_standard_changed(tmp_path):
    def change(p):
        p["chronic"]["standards"]["values"] = {
            "2025-01-01": [{"min_diseases": 1, "annual_standard": 3700}],
            "2025-07-01": [{"min_diseases": 1, "annual_standard": 4065}]}
    resolved = resolve(_write(tmp_path, change))
    segments = [(a, b, v["chronic.standards"], v["chronic.signed_bonus"])
                for a, b, v in resolved.joint_segments("chronic.standards", "chronic.signed_bonus")]
    people = enrollees([("P1", "C1", "T1", "HT", "2025-01-01", None, False)])
    result = settle_chronic(enrollees=people, inpatient_cases=NO_CASES, outpatient_claims=NO_CLAIMS,
                            units=CHRONIC_UNITS, performance_scores=CHRONIC_SCORES,
                            params=resolved.params.chronic, year=2025, standard_segments=segments)
    assert "自 2025-07-01 起调整，按纳入人天分段计价" in result.settlement["explanation"].iloc[0]
