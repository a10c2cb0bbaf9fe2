"""Non-finite numbers never become money or points (issue 9 item 7, the stage part).

A NaN, ±inf or overflowing float cast to int64 silently becomes −9,223,372,036,854,775,808:
``special_points = inf`` once gave −922,337,203,685,477 points and a "successful" run. The
money helpers refuse such values; the stages report them as error Problems (never an
exception) and count the value as 0, so the rest of the settlement stays finite.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from settlement.money import NonFiniteAmount, fen_of, mul_fen, round_fen
from tests.test_dip import run


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan, 1e17])  # 1e17 yuan = 1e19 fen > 2^63
def test_round_fen_refuses_non_finite_and_overflowing_yuan(value):
    with pytest.raises(NonFiniteAmount):
        round_fen(np.array([1.0, value]))
    # the finite neighbours still round half away from zero: 1.005 → 100.5 fen … (binary 1.00499…)
    assert round_fen(np.array([0.125, -0.125])).tolist() == [13, -13]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e30"])
def test_exact_helpers_refuse_non_finite_and_overflowing(value):
    with pytest.raises(NonFiniteAmount):
        fen_of(Decimal(value))
    with pytest.raises(NonFiniteAmount):
        mul_fen(100, Decimal(value))
    # the largest int64 fen is still an amount: 92,233,720,368,547,758.07 元
    assert fen_of(Decimal("92233720368547758.07")) == 2**63 - 1


@pytest.mark.parametrize("special", [np.inf, -np.inf, 1e300])
def test_dip_special_points_inf_is_an_error_problem_not_garbage(special):
    # two cases at H3 (tertiary, coefficient 1): one normal (r = 1 → 500 points), one with
    # approved points that cannot be summed; the bad one counts 0, so Σ points = 500 and the
    # computed point value = (800,000,000 ÷ 0.64) ÷ 500 = 2,500,000 元/分
    result = run([{"unit_id": "H3", "total_cost": 10_000},
                  {"unit_id": "H3", "total_cost": 10_000, "special_points": special}])
    errors = [p for p in result.problems if p.severity == "error"]
    assert [p.rule for p in errors] == ["dip.points_not_finite"]
    assert errors[0].column == "special_points" and errors[0].row == 1  # the frame's row label
    assert "K000001" in errors[0].message_zh
    assert result.cases["points"].tolist() == [500.0, 0.0]
    assert str(result.summary.point_value.settlement) == "2500000.0000"
    assert (result.units["gross_value"] >= 0).all()


def test_distribution_weight_from_a_non_finite_measure_is_an_error_and_weighs_zero():
    # A's county tier by DIP points: HA has inf points (cannot be weighed) → weight 0 and an
    # error; HA2 takes the whole county tier of 9,444,000.00 (6 : 3 : 1 of 15,740,000.00)
    import pandas as pd

    from global_budget_scenario import sample_params, with_section
    from tests.test_distribution import run as distribute_sample

    p = sample_params()
    tiers = tuple(t.model_copy(update={"base_measure": "dip_points"}) if t.tier == "county" else t
                  for t in p.distribution.tiers)
    measures = pd.DataFrame({"unit_id": ["HA", "HA2", "HB"], "dip_points": [np.inf, 100.0, 50.0],
                             "dip_fund_due": [0, 0, 0]})
    problems = []
    frame = distribute_sample(params=with_section(p, "distribution", tiers=tiers),
                              measures=measures, problems=problems)
    assert [q.rule for q in problems if q.severity == "error"] == ["distribution.weight_not_finite"]
    assert frame.loc["HA", "weight"] == 0 and frame.loc["HA", "surplus_share"] == 0
    assert frame.loc["HA2", "surplus_share"] == 9_444_000 * 100


def test_settle_on_the_sample_county_with_infinite_special_points_reports_an_error():
    # the loader rejects inf at input; this is the stage's own check, behind it: the sample
    # county's tables with one case's special_points forced to inf after loading
    from pathlib import Path

    from settlement.config import load_config, resolve
    from settlement.loader import load_folder
    from settlement.pipeline import settle

    root = Path(__file__).resolve().parent.parent
    tables = load_folder(root / "sample_data").tables
    cases = tables["inpatient_cases"].copy()
    cases.loc[cases.index[0], "special_points"] = np.inf
    result = settle(tables | {"inpatient_cases": cases},
                    resolve(load_config(root / "configs" / "sample-county.yaml")))
    errors = [p for p in result.problems if p.severity == "error"]
    assert [p.rule for p in errors] == ["dip.points_not_finite"]
    units = result.tables["dip_units"]
    assert (units["points"] >= 0).all() and (units["points"] < 1e9).all()  # no −9.2e14
    assert float(result.summary["dip"].point_value.settlement) > 0
