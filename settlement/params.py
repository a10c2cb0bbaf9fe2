"""Typed policy parameters of one settlement year (参数模型).

The classes below are what the engine computes with; :mod:`settlement.config` fills them
from the dated values of a config file. A leaf field declares the unit it must be written in
(``unit(...)``); a field whose type is a :class:`Section` is a branch of the tree. A field
without a default is required: a config that lacks it for the year stops the run.

Ratios and money are ``Decimal`` (exact); money parameters are yuan, converted to fen with
:func:`settlement.money.fen_of` where they are used. Structured parameters (bands, tiers,
rules) are leaves too: one dated value holds the whole structure.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


def unit(name: str, default: Any = ..., **kw) -> Any:
    """A leaf parameter that must be written in unit ``name``."""
    return Field(default, json_schema_extra={"unit": name}, **kw)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- shared structures
class ScoreTier(Strict):
    min_score: Decimal  # inclusive lower bound of the tier
    coefficient: Decimal


class ScoreRule(Strict):
    """Score (0–100) → coefficient (§2.6).

    proportional: score / 100;  tiered: coefficient of the highest tier with min_score ≤ score;
    threshold: c = score / 100; the coefficient is c where c < threshold, otherwise 1.
    """

    method: Literal["proportional", "tiered", "threshold"]
    tiers: tuple[ScoreTier, ...] = ()
    threshold: Decimal | None = None

    @model_validator(mode="after")
    def _complete(self) -> "ScoreRule":
        if self.method == "tiered" and not self.tiers:
            raise ValueError("tiered rule needs tiers")
        if self.method == "threshold" and self.threshold is None:
            raise ValueError("threshold rule needs threshold")
        return self


class Band(Strict):
    """One corridor band: applies to the part of |balance| / package up to ``upper``."""

    upper: Decimal | None  # share of package; None = no upper limit
    rate: Decimal  # surplus: share the community keeps; overrun: share the fund bears


class Corridor(Strict):
    """Corridor for one direction (§2.3). ``mode``: marginal (each band its own rate) or
    first_dollar (once the first band with rate 0 is passed, the rate of the band reached
    applies to the whole amount — the CMS minimum-savings-rate style). ``cap_share``: the
    shared amount is capped at this share of the package (None = no cap)."""

    bands: tuple[Band, ...]
    mode: Literal["marginal", "first_dollar"] = "marginal"
    cap_share: Decimal | None = None
    # first_dollar only: an amount exactly on a band's upper edge reaches the next band
    # ("next_band": CMS savings that *meet or exceed* the MSR) or stays ("this_band": 以内含本数)
    at_edge: Literal["next_band", "this_band"] = "next_band"

    @model_validator(mode="after")
    def _ordered(self) -> "Corridor":
        uppers = [b.upper for b in self.bands]
        if not uppers or uppers[-1] is not None or None in uppers[:-1]:
            raise ValueError("corridor bands must end with one open band (upper: null)")
        if any(b.upper is not None and b.upper <= 0 for b in self.bands) or \
                any(a >= b for a, b in zip(uppers[:-2], uppers[1:-1])):
            raise ValueError("corridor band uppers must be positive and increasing")
        if any(b.rate < 0 or b.rate > 1 for b in self.bands):
            raise ValueError("corridor band rates must lie in [0, 1]")
        return self


class Tier(Strict):
    """A distribution tier pool (§2.4)."""

    tier: str
    label_zh: str
    categories: tuple[str, ...]
    ratio: Decimal
    floor_share: Decimal | None = None  # minimum share of the pool, e.g. villages ≥ 10 %
    # global-budget distribution only: this tier's base measure, overriding
    # DistributionParams.base_measure (e.g. hospitals by DIP points, villages by population)
    base_measure: Literal["service_population", "dip_points", "work_points"] | None = None


class DiseaseTier(Strict):
    min_diseases: int
    annual_standard: Decimal  # yuan per person-year


# ---------------------------------------------------------------- sections
class PackageParams(Section):
    """总额打包 §2.1."""

    risk_reserve_rate: Decimal = unit("ratio")
    package_share: Decimal = unit("ratio")


class DipParams(Section):
    """DIP/DRG 结算 §2.2."""

    payment_method: Literal["dip", "drg"] = unit("enum")
    low_bound: Decimal = unit("ratio")
    high_bound: Decimal = unit("ratio")
    low_bound_inclusive: bool = unit("bool")  # r == low_bound counts as normal
    high_bound_inclusive: bool = unit("bool")  # r == high_bound counts as normal
    extreme_ratio_bound: Decimal = unit("ratio")
    level_coefficients: dict[str, Decimal] = unit("coefficient")
    unmatched_policy: Literal["paid_at_cost", "excluded"] = unit("enum")
    fund_budget: Decimal = unit("yuan")  # DIP 住院统筹基金预算
    reimbursement_ratio: Decimal = unit("ratio")
    point_value_mode: Literal["computed", "published"] = unit("enum")
    published_point_value: Decimal | None = unit("yuan_per_point", None)
    point_value_decimals: int = unit("decimals")
    budget_point_value: Decimal = unit("yuan_per_point")  # 预算点值, monthly pre-settlement
    quality_withhold_rate: Decimal = unit("ratio")
    quality_score_rule: ScoreRule = unit("rule")
    drg_points_per_rw: Decimal = unit("points", Decimal(100))
    drg_rate_per_rw: Decimal | None = unit("yuan", None)
    # --- added by the DIP stage (issue 3); optional, additive ---
    case_points_decimals: int = unit("decimals", 4)  # 病例分值保留小数位数
    special_points_apply_coefficient: bool = unit("bool", False)  # 特例单议分值是否再乘系数
    drg_low_bound: Decimal | None = unit("ratio", None)  # DRG 低倍率界值 (required when drg)
    drg_high_bound: Decimal | None = unit("ratio", None)  # DRG 高倍率界值 (required when drg)
    drg_extreme_ratio_bound: Decimal | None = unit("ratio", None)  # DRG 极端倍率审核界值

    @model_validator(mode="after")
    def _dip_complete(self) -> "DipParams":
        if self.point_value_mode == "published" and self.published_point_value is None:
            raise ValueError("point_value_mode published needs published_point_value")
        if self.payment_method == "drg" and None in (
                self.drg_low_bound, self.drg_high_bound, self.drg_extreme_ratio_bound):
            raise ValueError("payment_method drg needs drg_low_bound, drg_high_bound and "
                             "drg_extreme_ratio_bound")
        return self


class CorridorParams(Section):
    """结余留用、合理超支分担 §2.3."""

    surplus: Corridor = unit("bands")
    overrun: Corridor = unit("bands")
    approved_overrun_fund_rate: Decimal = unit("ratio")
    community_score_rule: ScoreRule = unit("rule")
    fund_share_capped_by_reserve: bool = unit("bool")


class DistributionParams(Section):
    """分配到成员单位 §2.4."""

    tiers: tuple[Tier, ...] = unit("tiers")
    private_hospitals: Literal["own_tier", "excluded"] = unit("enum")
    base_measure: Literal["service_population", "dip_points", "work_points"] = unit("enum")
    unit_score_rule: ScoreRule = unit("rule")
    overrun_rule: Literal["same_as_surplus", "by_dip_fund_due"] = unit("enum")


class ChronicParams(Section):
    """慢性病包干 §2.5."""

    enabled: bool = unit("bool")
    carve_out: bool = unit("bool")
    diseases: tuple[str, ...] = unit("codes")
    excluded_conditions: tuple[str, ...] = unit("codes")
    person_month_rule: Literal["whole_months", "days"] = unit("enum")
    standards: tuple[DiseaseTier, ...] = unit("yuan_per_person_year")
    signed_bonus: Decimal = unit("yuan_per_person_year")
    surplus: Corridor = unit("bands")
    overrun: Corridor = unit("bands")
    quality_score_rule: ScoreRule = unit("rule")


class PublicHealthParams(Section):
    """基本公共卫生服务经费 §2.7."""

    per_capita_standard: Decimal = unit("yuan_per_capita")
    county_reserved_share: Decimal = unit("ratio")
    two_diseases_pool: Decimal = unit("yuan")
    tiers: tuple[Tier, ...] = unit("tiers")
    # ratio: tier pools by the tiers' ratios; work_points: by the tiers' summed weights
    # (floor_share applies either way — with work_points it is what keeps villages ≥ 40 %)
    tier_basis: Literal["ratio", "work_points"] = unit("enum", "ratio")
    quality_score_rule: ScoreRule = unit("rule")


class IndicatorTarget(Strict):
    target: Decimal
    direction: Literal["at_least", "below"]


class IndicatorParams(Section):
    """考核指标 §2.6 — targets by indicator code."""

    targets: dict[str, IndicatorTarget] = unit("targets")
    scoring: dict[str, Decimal] | None = unit("points", None)  # points per indicator met


class Params(Section):
    package: PackageParams
    dip: DipParams
    corridor: CorridorParams
    distribution: DistributionParams
    chronic: ChronicParams
    public_health: PublicHealthParams
    indicators: IndicatorParams

    @classmethod
    def is_required(cls, path: str) -> bool:
        return _leaf_specs()[path][1]


def _walk(model: type[BaseModel], prefix: str = "") -> dict[str, tuple[str, bool, Any]]:
    out = {}
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, Section):
            out.update(_walk(ann, path))
        else:
            extra = info.json_schema_extra or {}
            out[path] = (extra.get("unit", "?"), info.is_required(), ann)
    return out


def _leaf_specs() -> dict[str, tuple[str, bool, Any]]:
    return _walk(Params)


def expected_units() -> dict[str, str]:
    """Every leaf parameter path → the unit it must be written in."""
    return {path: u for path, (u, _, _) in _leaf_specs().items()}


def check_leaf(path: str, value: Any) -> list[str]:
    """Type errors of one leaf value (empty when valid), so all leaves are checked at once."""
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(_leaf_specs()[path][2]).validate_python(value)
    except ValidationError as exc:
        return [f"{'.'.join(str(x) for x in e['loc']) or '值'}: {e['msg']}" for e in exc.errors()]
    return []
