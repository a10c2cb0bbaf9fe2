"""Shared rule functions: score → coefficient (§2.6) and the corridor bands (§2.3).

Score rules (考核得分折算系数), for a score of 85:

* proportional: 85 / 100 = 0.85
* tiered (≥90 → 1.0, 80–90 → 0.9, …): 0.9
* threshold 0.85: c = 0.85 is not below 0.85 → 1; a score of 80 → 0.80

Corridor (分段分担): with bands [0, 10 %] at 100 % and above 10 % at 50 %, a surplus of
150 on a package of 1,000 keeps 100 × 1.0 + 50 × 0.5 = 125 (marginal mode). In
``first_dollar`` mode (CMS shared savings: a minimum savings rate band at 0 %), once the
balance passes the 0-rate band, the rate of the band reached applies to the whole amount:
bands [0, 2 %] at 0 % and above at 50 %, savings of 300,000 on a benchmark of 10,000,000
(3 %) share 300,000 × 50 % = 150,000; savings of 150,000 (1.5 %) share nothing. An amount
exactly on an edge reaches the next band unless ``at_edge: this_band``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from settlement.money import yuan_display
from settlement.params import Corridor, ScoreRule


def _proportional(s: Decimal, rule: ScoreRule) -> Decimal:
    return s / 100


def _tiered(s: Decimal, rule: ScoreRule) -> Decimal:
    reached = [t for t in rule.tiers if s >= t.min_score]
    return max(reached, key=lambda t: t.min_score).coefficient if reached else Decimal(0)


def _tiered_text(rule: ScoreRule) -> str:
    parts = [f"≥{t.min_score}分→{t.coefficient}" for t in
             sorted(rule.tiers, key=lambda t: t.min_score, reverse=True)]
    return "分档：" + "，".join(parts)


def _threshold(s: Decimal, rule: ScoreRule) -> Decimal:
    c = s / 100
    return c if c < rule.threshold else Decimal(1)


class ScoreMethod(NamedTuple):
    """One score rule method: the coefficient (exact, Decimal) and its Chinese text."""

    exact: Callable[[Decimal, ScoreRule], Decimal]
    text: Callable[[ScoreRule], str]


#: ``ScoreRule.method`` → its functions (a new method is one more entry, never an if)
SCORE_METHODS: dict[str, ScoreMethod] = {
    "proportional": ScoreMethod(_proportional, lambda rule: "得分÷100"),
    "tiered": ScoreMethod(_tiered, _tiered_text),
    "threshold": ScoreMethod(_threshold,
                             lambda rule: f"系数低于{rule.threshold}按实际系数，否则按 1"),
}


def score_coefficient_exact(score: Decimal | float, rule: ScoreRule) -> Decimal:
    """Score (0–100) → coefficient, exact (amounts are computed in Decimal, then fen)."""
    return SCORE_METHODS[rule.method].exact(Decimal(str(score)), rule)


def describe_rule(rule: ScoreRule) -> str:
    """Chinese description of a score rule, for statement explanations."""
    return SCORE_METHODS[rule.method].text(rule)


@dataclass(frozen=True)
class BandShare:
    """The part of an amount in one band and what is shared of it (fen)."""

    lower: Decimal
    upper: Decimal | None
    rate: Decimal
    amount: int
    shared: int


@dataclass(frozen=True)
class CorridorShare:
    """What the corridor shares of an amount (fen), with the working for explanations.

    ``banded``: shared by the band rates; ``shared``: after the coefficient and the cap —
    the figure to use. ``rate_applied`` is the whole-amount rate in first_dollar mode.
    """

    amount: int  # |balance| in fen
    shared: int  # fen shared (kept by community / borne by fund), after coefficient and cap
    bands: tuple[BandShare, ...]
    capped: bool
    banded: int = 0  # before coefficient and cap
    coefficient: Decimal = Decimal(1)
    cap: int | None = None
    mode: str = "marginal"
    rate_applied: Decimal | None = None


def corridor_share(amount: int, base: int, corridor: Corridor,
                   coefficient: Decimal = Decimal(1)) -> CorridorShare:
    """Share of ``amount`` fen (≥ 0) by the bands of ``corridor``, bands measured on ``base``.

    Each band's amount is exact fen (band edges = base × upper, rounded half up once); each
    band's shared part is rounded half up once (marginal), or the whole amount × the rate of
    the band it falls in is (first_dollar). The result is then scaled by ``coefficient``
    (a score coefficient, rounded half up once) and capped at base × ``cap_share``.
    """
    if amount < 0:
        raise ValueError("corridor_share takes a non-negative amount")
    pieces: list[BandShare] = []
    lower_fen, lower = 0, Decimal(0)
    landed = corridor.bands[-1]
    for band in corridor.bands:
        upper_fen = None if band.upper is None else _q(Decimal(base) * band.upper)
        top = amount if upper_fen is None else min(amount, upper_fen)
        part = max(0, top - lower_fen)
        pieces.append(BandShare(lower, band.upper, band.rate, part, _q(part * band.rate)))
        inside = upper_fen is None or amount < upper_fen or (
            amount == upper_fen and corridor.at_edge == "this_band")
        if inside:
            landed = band
            break
        lower_fen, lower = upper_fen, band.upper
    banded, rate_applied = CORRIDOR_MODES[corridor.mode].banded(amount, pieces, landed)
    shared = banded if coefficient == 1 else _q(banded * Decimal(coefficient))
    cap = None if corridor.cap_share is None else _q(Decimal(base) * corridor.cap_share)
    capped = cap is not None and shared > cap
    if capped:
        shared = cap
    return CorridorShare(amount, shared, tuple(pieces), capped, banded, Decimal(coefficient), cap,
                         corridor.mode, rate_applied)


def _marginal(amount: int, pieces: list[BandShare], landed) -> tuple[int, None]:
    """Each band's part at its own rate (rounded once per band)."""
    return sum(p.shared for p in pieces), None


def _first_dollar(amount: int, pieces: list[BandShare], landed) -> tuple[int, Decimal]:
    """The whole amount at the rate of the band it reaches (CMS minimum savings rate)."""
    return _q(amount * landed.rate), landed.rate


def _marginal_text(cs: CorridorShare, what: str) -> str:
    body = "；".join(
        f"{_lower_label(p.lower)}, {_upper_label(p.upper)}] 段 {yuan_display(p.amount)} × "
        f"{_pct(p.rate * 100)} = {yuan_display(p.shared)}" for p in cs.bands if p.amount > 0
    ) or "金额为 0"
    if sum(1 for p in cs.bands if p.amount > 0) > 1:
        body += f"；合计{what} {yuan_display(cs.banded)}"
    return body


def _first_dollar_text(cs: CorridorShare, what: str) -> str:
    return (f"首元分享：金额落在 {_band_label(cs)} 段，全额 × {_pct(cs.rate_applied * 100)}"
            f" = {yuan_display(cs.banded)}")


class CorridorMode(NamedTuple):
    """One corridor mode: the banded share of an amount and its Chinese working."""

    banded: Callable[[int, list[BandShare], Any], tuple[int, Decimal | None]]
    text: Callable[[CorridorShare, str], str]


#: ``Corridor.mode`` → its functions
CORRIDOR_MODES: dict[str, CorridorMode] = {
    "marginal": CorridorMode(_marginal, _marginal_text),
    "first_dollar": CorridorMode(_first_dollar, _first_dollar_text),
}


def percent_of(amount: int, base: int, places: int = 4) -> Decimal:
    """amount ÷ base as a percentage, e.g. 8,840,000 of 221,160,000 → 3.9971."""
    if base == 0:
        return Decimal(0)
    return (Decimal(amount) * 100 / Decimal(base)).quantize(Decimal(1).scaleb(-places),
                                                             rounding=ROUND_HALF_UP)


def describe_corridor_share(cs: CorridorShare, base: int, what: str = "分担") -> str:
    """Chinese working of a corridor share, with the actual numbers (amounts in yuan).

    e.g. '15,740,000.00 占基数 4.7446%：[0%, 10%] 段 15,740,000.00 × 100% = 15,740,000.00'.
    """
    head = f"{yuan_display(cs.amount)} 占基数 {_pct(percent_of(cs.amount, base))}"
    text = f"{head}：{CORRIDOR_MODES[cs.mode].text(cs, what)}"
    if cs.coefficient != 1:
        text += f"；× 考核系数 {cs.coefficient} = {yuan_display(_q(cs.banded * cs.coefficient))}"
    if cs.capped:
        text += f"；超过封顶 {yuan_display(cs.cap)}，按封顶"
    return text


def rate_text(rate: Decimal | float) -> str:
    """A ratio as a percentage for explanations: 0.05 → '5%', 0.375 → '37.5%'."""
    return _pct(Decimal(str(rate)) * 100)


def _band_label(cs: CorridorShare) -> str:
    p = cs.bands[-1]
    return f"{_lower_label(p.lower)}, {_upper_label(p.upper)}]"


def _lower_label(lower: Decimal) -> str:
    return "[0%" if lower == 0 else f"({_pct(lower * 100)}"


def _upper_label(upper: Decimal | None) -> str:
    return "∞" if upper is None else _pct(upper * 100)


def _pct(value: Decimal) -> str:
    text = format(Decimal(value).normalize(), "f")
    return f"{text}%"


def _q(value: Decimal | int) -> int:
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))
