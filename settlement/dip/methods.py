"""The variants of DIP settlement as lookup tables (付费方式与点值方式), not if-chains.

Each variant axis is a table from the parameter's value to a small record or function, so a
new variant is one more entry and the callers never branch on the name::

    PAYMENT_METHODS["dip"]   bounds low_bound/high_bound, base score = catalogue score
    PAYMENT_METHODS["drg"]   bounds drg_low_bound/…, base score = RW × drg_points_per_rw
    POINT_VALUE_METHODS      computed (budget ÷ ratio ÷ Σ points) / published / drg_rate

Example: a DRG group of RW 1.2 with ``drg_points_per_rw`` 100 has a base score of
``PAYMENT_METHODS["drg"].score_scale(params)`` × 1.2 = 120 points; with ``drg_rate_per_rw``
10,000 元 the point value is ``POINT_VALUE_METHODS["drg_rate"]`` = 10,000 ÷ 100 = 100 元/点.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from settlement.params import DipParams


@dataclass(frozen=True)
class Bounds:
    """The outlier bounds in force (DIP or DRG set)."""

    low: Decimal
    high: Decimal
    extreme: Decimal
    low_inclusive: bool
    high_inclusive: bool


@dataclass(frozen=True)
class PaymentMethod:
    """What differs between DIP (按病种分值付费) and DRG (疾病诊断相关分组付费)."""

    bounds: Callable[[DipParams], Bounds]
    score_scale: Callable[[DipParams], float]  # catalogue score → base points
    score_label: Callable[[DipParams], str]  # how a statement names the base points
    label_gap: str  # between the label and the number in a case's formula
    #: the point value method when no point value mode is forced by the method
    point_value_method: Callable[[DipParams], str]


PAYMENT_METHODS: dict[str, PaymentMethod] = {
    "dip": PaymentMethod(
        bounds=lambda p: Bounds(p.low_bound, p.high_bound, p.extreme_ratio_bound,
                                p.low_bound_inclusive, p.high_bound_inclusive),
        score_scale=lambda p: 1.0,
        score_label=lambda p: "病种分值",
        label_gap=" ",
        point_value_method=lambda p: p.point_value_mode),
    "drg": PaymentMethod(
        bounds=lambda p: Bounds(p.drg_low_bound, p.drg_high_bound, p.drg_extreme_ratio_bound,
                                p.low_bound_inclusive, p.high_bound_inclusive),
        score_scale=lambda p: float(p.drg_points_per_rw),
        score_label=lambda p: f"DRG 基准点数（RW × {p.drg_points_per_rw}）",
        label_gap="",
        # a DRG rate per RW (payment = RW × rate) fixes the value; else the mode decides
        point_value_method=lambda p: ("drg_rate" if p.drg_rate_per_rw is not None
                                      else p.point_value_mode)),
}


def payment_method(params: DipParams) -> PaymentMethod:
    return PAYMENT_METHODS[params.payment_method]


def active_bounds(params: DipParams) -> Bounds:
    """The outlier bounds of the payment method in force."""
    return payment_method(params).bounds(params)


def _computed(params: DipParams, formula: Decimal | None) -> Decimal | None:
    """(budget ÷ ratio) ÷ Σ points, half up to ``point_value_decimals`` (None: no points)."""
    if formula is None:
        return None
    return formula.quantize(Decimal(1).scaleb(-params.point_value_decimals),
                            rounding=ROUND_HALF_UP)


#: point value method → the settlement point value (元/分) from the params and the formula
#: value; None when it cannot be computed (total points 0)
POINT_VALUE_METHODS: dict[str, Callable[[DipParams, Decimal | None], Decimal | None]] = {
    "computed": _computed,
    "published": lambda p, formula: p.published_point_value,
    "region": lambda p, formula: p.published_point_value,  # the pooling region's, as published
    "drg_rate": lambda p, formula: p.drg_rate_per_rw / p.drg_points_per_rw,
}


def point_value_method(params: DipParams) -> str:
    return payment_method(params).point_value_method(params)
