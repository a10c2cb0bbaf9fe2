"""Invariants of the DIP stage, checked with hypothesis on random small case lists.

* Σ of unit points == Σ of case points (exactly, in units of 10^-decimals points);
* raising one case's cost never lowers its points (whatever the bounds and inclusivity);
* a given (published) point value with 4 decimals leaves rounding lines that make every
  ledger section balance to 0.00, and the lines are what their names say;
* each unit's money follows its identities; the result does not depend on the case order.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settlement.money import fen_of
from settlement.dip.scoring import score_cases
from test_dip import UNITS, balanced, cases_frame, groups_frame, params, refs_frame, run

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

member_units = st.sampled_from(["H3", "H2", "HX", "T1", "EXT"])
case = st.fixed_dictionaries({
    "unit_id": member_units,
    "dip_group": st.sampled_from(["G500", "B100", None]),
    "total_cost": st.integers(0, 80_000_00).map(lambda f: Decimal(f) / 100),
    "self_pay": st.integers(0, 2_000_00).map(lambda f: Decimal(f) / 100),
    "fund_paid": st.integers(0, 5_000_00).map(lambda f: Decimal(f) / 100),
    "violation_deduction": st.sampled_from([0, 0, 0, Decimal("12.34")]),
    "special_points": st.one_of(st.just(np.nan), st.just(np.nan),
                                st.floats(0, 5_000, allow_nan=False).map(lambda x: round(x, 2))),
})
case_lists = st.lists(case, min_size=1, max_size=40)


def exact_points(points) -> int:
    return int(np.rint(np.asarray(points, dtype="float64") * 10_000).astype("int64").sum())


@SETTINGS
@given(case_lists, st.sampled_from(["paid_at_cost", "excluded"]))
def test_unit_points_sum_to_case_points(cases, policy):
    result = run(cases, unmatched_policy=policy, explain="none", point_value_mode="published",
                 published_point_value="20")
    assert exact_points(result.units["points"]) == exact_points(result.cases["points"])
    assert Decimal(exact_points(result.cases["points"])).scaleb(-4) == \
        result.summary.point_value.total_points
    communities = result.communities
    assert exact_points(communities["points"]) == exact_points(result.cases["points"])


@SETTINGS
@given(score=st.floats(1, 10_000, allow_nan=False), reference=st.integers(1, 10**8),
       cost=st.integers(0, 10**9), raise_by=st.integers(1, 10**8),
       low=st.sampled_from(["0.3", "0.5", "0.7"]), high=st.sampled_from(["1.5", "2.0", "3.0"]),
       low_inclusive=st.booleans(), high_inclusive=st.booleans(),
       level=st.sampled_from(["tertiary", "secondary", "primary"]), drg=st.booleans())
def test_raising_a_cost_never_lowers_the_points(score, reference, cost, raise_by, low, high,
                                                low_inclusive, high_inclusive, level, drg):
    groups = groups_frame([("G", score, "core")])
    refs = refs_frame([("G", level, Decimal(reference) / 100)])
    unit = {"tertiary": "H3", "secondary": "H2", "primary": "T1"}[level]
    p = params(low_bound=low, high_bound=high, low_bound_inclusive=low_inclusive,
               high_bound_inclusive=high_inclusive, payment_method="drg" if drg else "dip",
               drg_low_bound=low, drg_high_bound=high)
    frame = cases_frame([{"unit_id": unit, "dip_group": "G", "total_cost": Decimal(c) / 100}
                         for c in (cost, cost + raise_by)])
    points = score_cases(frame, UNITS, groups, refs, p).point_units
    assert points[1] >= points[0]


@SETTINGS
@given(case_lists, st.integers(1, 10**9).map(lambda v: Decimal(v).scaleb(-4)))
def test_published_point_value_with_4_decimals_balances_the_ledger(cases, point_value):
    result = run(cases, point_value_mode="published", published_point_value=str(point_value),
                 explain="none")
    assert balanced(result)
    s = result.summary
    assert s.point_value.settlement == point_value
    # the lines are what they say: Σ points × point value (one rounding) against the units
    exact = fen_of(s.point_value.total_points * point_value)
    assert s.money_at_point_value == exact
    assert s.unit_rounding == exact - int(result.units["gross_value"].sum())
    assert s.point_value_difference == s.dip_pool - exact
    lines = result.ledger.set_index(["section", "line"])["amount"]
    assert lines["pool"].sum() == 0 and lines["units"].sum() == 0 and lines["budget"].sum() == 0
    # each unit is rounded once: |rounding| ≤ ½ fen per unit
    assert abs(s.unit_rounding) * 2 <= max(len(result.units), 1)


@SETTINGS
@given(case_lists, st.randoms(use_true_random=False))
def test_unit_identities_and_order_independence(cases, rnd):
    result = run(cases, explain="none")
    u = result.units
    assert (u["fund_due"] == u["gross_value"] + u["at_cost"] - u["self_pay"]
            - u["violation_deduction"]).all()
    assert (u["fund_paid"] == u["fund_due"] - u["withheld"] + u["returned"]).all()
    assert (u["balance"] == u["fund_paid"] - u["prepaid"]).all()
    assert (u["case_rounding"] == u["gross_value"] - u["case_gross_value"]).all()
    shuffled = list(cases)
    rnd.shuffle(shuffled)
    again = run(shuffled, explain="none")
    cols = ["unit_id", "cases", "points", "gross_value", "fund_due", "fund_paid", "balance"]
    assert again.units[cols].sort_values("unit_id").reset_index(drop=True).equals(
        u[cols].sort_values("unit_id").reset_index(drop=True))
    assert again.summary.point_value == result.summary.point_value
