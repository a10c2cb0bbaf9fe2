"""The DIP variants are lookup tables (settlement/dip/methods.py, scoring.py): every value a
parameter may take has its entry, and each entry does what its name says."""

from __future__ import annotations

import typing
from decimal import Decimal

from settlement.dip.ledger import POINT_VALUE_TEXT
from settlement.dip.methods import (
    PAYMENT_METHODS, POINT_VALUE_METHODS, active_bounds, point_value_method,
)
from settlement.dip.scoring import BY_POLICY, NO_REASON, SPECIAL_RULES, UNMATCHED_REASON
from settlement.dip.settle import settlement_point_value
from settlement.params import DipParams
from test_dip import params


def literal_values(field: str) -> set:
    return set(typing.get_args(DipParams.model_fields[field].annotation))


def test_every_option_of_the_parameters_has_its_table_entry():
    assert set(PAYMENT_METHODS) == literal_values("payment_method")
    assert set(UNMATCHED_REASON) == literal_values("unmatched_policy")
    assert set(SPECIAL_RULES) == {True, False}
    methods = literal_values("point_value_mode") | {"drg_rate"}
    assert set(POINT_VALUE_METHODS) == methods == set(POINT_VALUE_TEXT)


def test_drg_takes_its_own_bounds_and_scales_rw():
    drg = params(payment_method="drg", drg_points_per_rw="100")
    assert (active_bounds(drg).low, active_bounds(drg).high) == (Decimal("0.4"), Decimal("3.0"))
    assert (active_bounds(params()).low, active_bounds(params()).high) == (Decimal("0.5"),
                                                                         Decimal("2.0"))
    assert PAYMENT_METHODS["drg"].score_scale(drg) * 1.2 == 120.0  # RW 1.2 → 120 points
    assert PAYMENT_METHODS["dip"].score_scale(params()) == 1.0


def test_point_value_methods():
    # computed: (800,000,000 ÷ 0.64) ÷ 62,500,000 points = 20 元/分 exactly (4 decimals)
    pv, problems = settlement_point_value(Decimal(62_500_000), params())
    assert (pv.method, pv.settlement, problems) == ("computed", Decimal("20.0000"), [])
    published = params(point_value_mode="published", published_point_value="19.8765")
    assert settlement_point_value(Decimal(1), published)[0].settlement == Decimal("19.8765")
    # DRG with a rate per RW: 10,000 元 ÷ 100 points per RW = 100 元 per point, whatever the mode
    rate = params(payment_method="drg", drg_rate_per_rw="10000", point_value_mode="published",
                  published_point_value="1")
    assert point_value_method(rate) == "drg_rate"
    assert settlement_point_value(Decimal(5), rate)[0].settlement == Decimal(100)
    # no points: computed cannot give a value → 0 and an error problem
    pv, problems = settlement_point_value(Decimal(0), params())
    assert pv.settlement == 0 and [p.rule for p in problems] == ["dip.point_value"]


def test_unmatched_policy_table():
    assert UNMATCHED_REASON["paid_at_cost"] == NO_REASON
    assert UNMATCHED_REASON["excluded"] == BY_POLICY
