"""Typed policy parameters of one settlement year (参数模型).

The classes below are what the engine computes with; :mod:`settlement.config` fills them
from the dated values of a config file. A leaf field declares the unit it must be written in
(``unit(...)``); a field without a unit whose type is a :class:`Model` is a section, a branch of
the tree. A field without a default is required: a config that lacks it for the year stops
the run.

Ratios and money are ``Decimal`` (exact); money parameters are yuan, converted to fen with
:func:`settlement.money.fen_of` where they are used. Structured parameters (bands, tiers,
rules) are leaves too: one dated value holds the whole structure.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


def unit(name: str, default: Any = ..., **kw) -> Any:
    """A leaf parameter that must be written in unit ``name``."""
    return Field(default, json_schema_extra={"unit": name}, **kw)


class Model(BaseModel):
    """Every parameter class, section or structure: unknown keys refused, values immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- shared structures
class ScoreTier(Model):
    min_score: Decimal  # inclusive lower bound of the tier
    coefficient: Decimal


class ScoreRule(Model):
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


class Band(Model):
    """One corridor band: applies to the part of |balance| / package up to ``upper``."""

    upper: Decimal | None  # share of package; None = no upper limit
    rate: Decimal  # surplus: share the community keeps; overrun: share the fund bears


class Corridor(Model):
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


class Tier(Model):
    """A distribution tier pool (§2.4)."""

    tier: str
    label_zh: str
    categories: tuple[str, ...]
    ratio: Decimal
    # minimum share of the pool, e.g. villages ≥ 10 %; met after rounding (allocate.share_floor)
    floor_share: Decimal | None = Field(None, ge=0, le=1)
    # global-budget distribution only: this tier's base measure, overriding
    # DistributionParams.base_measure (e.g. hospitals by DIP points, villages by population)
    base_measure: Literal["service_population", "dip_points", "work_points"] | None = None


def _floors_fit(tiers: tuple[Tier, ...]) -> tuple[Tier, ...]:
    total = sum((t.floor_share for t in tiers if t.floor_share is not None), Decimal(0))
    if total > 1:
        raise ValueError(f"the tiers' floor_share add up to {total} > 1 (保底比例合计超过 100%)")
    return tiers


Tiers = Annotated[tuple[Tier, ...], AfterValidator(_floors_fit)]


class DiseaseTier(Model):
    min_diseases: int
    annual_standard: Decimal  # yuan per person-year


# ---------------------------------------------------------------- sections
class PackageParams(Model):
    """总额打包 §2.1."""

    risk_reserve_rate: Decimal = unit("ratio")
    package_share: Decimal = unit("ratio")


class DipParams(Model):
    """DIP/DRG 结算 §2.2."""

    payment_method: Literal["dip", "drg"] = unit("enum")
    low_bound: Decimal = unit("ratio")
    high_bound: Decimal = unit("ratio")
    low_bound_inclusive: bool = unit("bool")  # r == low_bound counts as normal
    high_bound_inclusive: bool = unit("bool")  # r == high_bound counts as normal
    extreme_ratio_bound: Decimal = unit("ratio")
    level_coefficients: dict[str, Decimal] = unit("coefficient")
    unmatched_policy: Literal["paid_at_cost", "excluded"] = unit("enum")
    # the point value divides by both (budget ÷ ratio ÷ Σ points): 0 or less is never a budget
    fund_budget: Decimal = unit("yuan", gt=0)  # DIP 住院统筹基金预算
    reimbursement_ratio: Decimal = unit("ratio", gt=0, le=1)
    point_value_mode: Literal["computed", "published", "region"] = unit("enum")  # region: 区域统一点值
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
    # --- issue 10: monthly pre-settlement (月度预结算); required by `run --month` only ---
    presettlement_ratio: Decimal | None = unit("ratio", None)  # 月度预结算拨付比例, e.g. 0.9

    @model_validator(mode="after")
    def _dip_complete(self) -> "DipParams":
        if self.point_value_mode in ("published", "region") and self.published_point_value is None:
            raise ValueError(f"point_value_mode {self.point_value_mode} needs published_point_value")
        if self.payment_method == "drg" and None in (
                self.drg_low_bound, self.drg_high_bound, self.drg_extreme_ratio_bound):
            raise ValueError("payment_method drg needs drg_low_bound, drg_high_bound and "
                             "drg_extreme_ratio_bound")
        return self


class CorridorParams(Model):
    """结余留用、合理超支分担 §2.3."""

    surplus: Corridor = unit("bands")
    overrun: Corridor = unit("bands")
    approved_overrun_fund_rate: Decimal = unit("ratio")
    community_score_rule: ScoreRule = unit("rule")
    fund_share_capped_by_reserve: bool = unit("bool")


class DistributionParams(Model):
    """分配到成员单位 §2.4."""

    tiers: Tiers = unit("tiers")
    private_hospitals: Literal["own_tier", "excluded"] = unit("enum")
    base_measure: Literal["service_population", "dip_points", "work_points"] = unit("enum")
    unit_score_rule: ScoreRule = unit("rule")
    overrun_rule: Literal["same_as_surplus", "by_dip_fund_due"] = unit("enum")


class ChronicParams(Model):
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


class PublicHealthParams(Model):
    """基本公共卫生服务经费 §2.7."""

    per_capita_standard: Decimal = unit("yuan_per_capita")
    county_reserved_share: Decimal = unit("ratio")
    two_diseases_pool: Decimal = unit("yuan")
    tiers: Tiers = unit("tiers")
    # ratio: tier pools by the tiers' ratios; work_points: by the tiers' summed weights
    # (floor_share applies either way — with work_points it is what keeps villages ≥ 40 %)
    tier_basis: Literal["ratio", "work_points"] = unit("enum", "ratio")
    quality_score_rule: ScoreRule = unit("rule")
    # 季度预拨方案 (seed 004: 每季度…提出资金预拨方案…年终评估清算): each quarter's share of the
    # year's pool, split among units — equal: every quarter by the base (plan_q1_basis);
    # by_assessed_work_points: quarter q by the assessed weight of quarter q − 1 (Q1: the base)
    plan_rule: Literal["equal", "by_assessed_work_points"] = unit("enum", "equal")
    # the base: previous_year = the previous year's assessed weights (work points table rows of
    # year − 1), equal = every unit of a tier alike (also the fallback when year − 1 is absent)
    plan_q1_basis: Literal["previous_year", "equal"] = unit("enum", "previous_year")
    # share of each quarter's pool prepaid by the plan (年初/按季预拨比例); the rest at year end
    plan_prepayment_ratio: Decimal = unit("ratio", Decimal(1), ge=0, le=1)


class IndicatorTarget(Model):
    target: Decimal
    direction: Literal["at_least", "below"]


class IndicatorParams(Model):
    """考核指标 §2.6 — targets by indicator code."""

    targets: dict[str, IndicatorTarget] = unit("targets")
    scoring: dict[str, Decimal] | None = unit("points", None)  # points per indicator met
    # 县域内就诊率 by visits (人次, the seeds' definition) or by persons (人数), issue 10 §6
    visit_rate_basis: Literal["visits", "persons"] = unit("enum", "visits")


class FlowOfFundsParams(Model):
    """资金流向 §2.9: who pays whom, and how the year-end clearing nets each advance.

    ``dip_payment`` monthly_to_hospitals: the bureau pays DIP cases to the treating member
    hospital (monthly pre-settlement, then the year-end clearing of each hospital).
    ``claims_payment`` at_claim: outpatient claims and cases at non-member / out-of-county
    institutions are paid by the fund at claim time, outside the package settlement.
    ``advances``: the funds (``package``, ``chronic``) whose ``prepayments`` are advances to
    the community or a unit, netted at year end against that payee's settlement.
    ``settlement_payee`` community: the fund settles the retained surplus / borne overrun and
    the chronic shares with the community (lead hospital), which pays its member units
    (payer 医共体); units: the fund pays each unit its share directly (payer 医保基金).
    ``public_health_payer`` health_commission: public-health money is the health commission's
    (卫健委公卫资金), never the insurance fund's. Defaults are the engine's model; a county states
    them in its config with the document they come from.
    """

    dip_payment: Literal["monthly_to_hospitals"] = unit("enum", "monthly_to_hospitals")
    claims_payment: Literal["at_claim"] = unit("enum", "at_claim")
    advances: tuple[Literal["package", "chronic"], ...] = unit("codes", ("package", "chronic"))
    settlement_payee: Literal["community", "units"] = unit("enum", "community")
    public_health_payer: Literal["health_commission"] = unit("enum", "health_commission")


# ---------------------------------------------------------------- issue 11: claims and package lines
class ReimbursementParams(Model):
    """差别化报销 §2.11: the table and rules the claims audit (``stages/audit.py``) checks.

    ``ratios``: scope of the treating institution → level → ratio (报销比例);
    ``deductibles``: inpatient deductible by level (起付线, yuan); ``outpatient_deductible``
    per visit; ``level_rank``: a referral to a higher rank is up (上转), to a lower one down;
    ``pooling_scopes``: scopes inside the pooling region (统筹区内); ``unreferred_cut``: points
    less without referral in ``unreferred_cut_scopes``, except ``cut_exemptions``;
    ``minimum_gap``: the "3 × 10 %" threshold the table itself is checked against;
    ``audit_effect``: report_only (default) or adjust_expenditure (the audit differences of a
    community's insured reduce — overpaid — or raise its package expenditure).
    No value is assumed: without ``ratios`` the audit does not run.
    """

    ratios: dict[str, dict[str, Decimal]] | None = unit("ratio", None)
    deductibles: dict[str, Decimal] | None = unit("yuan", None)
    outpatient_deductible: Decimal | None = unit("yuan", None)
    level_rank: dict[str, int] | None = unit("rank", None)
    level_order: tuple[str, ...] | None = unit("codes", None)  # levels the level gap compares
    pooling_scopes: tuple[str, ...] | None = unit("codes", None)
    unreferred_cut: Decimal | None = unit("ratio", None)
    unreferred_cut_scopes: tuple[str, ...] | None = unit("codes", None)
    cut_exemptions: tuple[Literal["emergency", "registered_residence_elsewhere"], ...] | None = \
        unit("codes", None)
    minimum_gap: Decimal | None = unit("ratio", None)
    audit_effect: Literal["report_only", "adjust_expenditure"] = unit("enum", "report_only")

    @model_validator(mode="after")
    def _complete(self) -> "ReimbursementParams":
        if self.ratios is None:
            return self
        needed = ("deductibles", "outpatient_deductible", "level_rank", "level_order",
                  "pooling_scopes", "unreferred_cut", "unreferred_cut_scopes", "cut_exemptions",
                  "minimum_gap")
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError("reimbursement.ratios needs " + ", ".join(missing))
        return self


class FamilyDoctorParams(Model):
    """家庭医生签约服务费 (seed 002): a package expenditure line; paid on to the signing units."""

    in_package: bool = unit("bool", False)
    distribute_to_units: bool = unit("bool", False)


class PackageBasisParams(Model):
    """打包基数 (seed 002): how the county's package money is shared among its communities.

    insured: each community's own enrolees (§2.1, today); service_population: the county
    total split by the member units' service population (服务人口); weighted: by
    (1 − signed_weight) × service population + signed_weight × signed population (签约人口).
    """

    basis: Literal["insured", "service_population", "weighted"] = unit("enum", "insured")
    signed_weight: Decimal | None = unit("ratio", None)

    @model_validator(mode="after")
    def _weight(self) -> "PackageBasisParams":
        if self.basis == "weighted" and self.signed_weight is None:
            raise ValueError("basis weighted needs signed_weight")
        return self


class VillageGuaranteeParams(Model):
    """村卫生室保底收入 (seed 004): subsidy = max(0, amount × coefficient − settlement income)."""

    amount: Decimal | None = unit("yuan", None)  # per clinic and year, e.g. 48,000.00
    clinics: tuple[str, ...] = unit("codes", ())  # unit ids of the guaranteed clinics
    assessment_rule: ScoreRule | None = unit("rule", None)  # unit score → coefficient
    pool: str | None = unit("name", None)  # the named pool that pays it, e.g. 县级财政保底补助资金

    @model_validator(mode="after")
    def _complete(self) -> "VillageGuaranteeParams":
        if self.clinics and None in (self.amount, self.assessment_rule, self.pool):
            raise ValueError("village_guarantee.clinics needs amount, assessment_rule and pool")
        return self


class AssessmentParams(Model):
    """考核得分 (issue 11 §8): the community score the corridor uses, from the rubric.

    input: the ``performance_scores`` row as given (today); rubric: the indicator points
    (``indicators.scoring``) as a score out of 100; blend: (1 − rubric_weight) × input +
    rubric_weight × rubric score.
    """

    community_score: Literal["input", "rubric", "blend"] = unit("enum", "input")
    rubric_weight: Decimal | None = unit("ratio", None)


class DualTargetScale(Model):
    met: int  # how many of the two targets are met (0, 1, 2)
    factor: Decimal  # share of the retained surplus kept


class DualTargetParams(Model):
    """双目标管理 (seed 004): two indicator targets whose attainment scales the retained surplus."""

    targets: dict[str, IndicatorTarget] | None = unit("targets", None)
    scale: tuple[DualTargetScale, ...] | None = unit("scale", None)

    @model_validator(mode="after")
    def _pair(self) -> "DualTargetParams":
        if self.targets is None:
            return self
        if len(self.targets) != 2:
            raise ValueError("dual_targets.targets must name exactly two indicators")
        if self.scale is None or sorted(s.met for s in self.scale) != [0, 1, 2]:
            raise ValueError("dual_targets.scale needs one factor for 0, 1 and 2 targets met")
        return self


class EarlyWarningParams(Model):
    """预警 (issue 10 §4): thresholds of the monthly bulletin; a threshold left out is not checked.

    ``execution_lead``: warn when the share of the package spent runs ahead of the share of the
    year elapsed by more than this (0.05 = 5 个百分点); ``cost_growth``: 住院次均费用 growth
    (against the same month of last year, else the month before) above this; ``cmi_change`` /
    ``case_change``: a member unit's CMI or case count moving month on month by more than this
    (either way), for units with at least ``min_unit_cases`` cases in one of the two months
    (a township centre's 1 → 2 cases is no signal); ``top_n``: how many destinations and 外转病种 the bulletin lists. The
    out-of-county thresholds are the indicator targets (``indicators.targets``).
    """

    execution_lead: Decimal | None = unit("ratio", None)
    cost_growth: Decimal | None = unit("ratio", None)
    cmi_change: Decimal | None = unit("ratio", None)
    case_change: Decimal | None = unit("ratio", None)
    min_unit_cases: int = unit("count", 0)
    top_n: int = unit("count", 10)


class Params(Model):
    package: PackageParams
    dip: DipParams
    corridor: CorridorParams
    distribution: DistributionParams
    chronic: ChronicParams
    public_health: PublicHealthParams
    indicators: IndicatorParams
    flow_of_funds: FlowOfFundsParams = FlowOfFundsParams()  # added for issue 12 (H7)
    # issue 11 (H6): optional sections, empty by default
    reimbursement: ReimbursementParams = ReimbursementParams()
    family_doctor: FamilyDoctorParams = FamilyDoctorParams()
    package_basis: PackageBasisParams = PackageBasisParams()
    village_guarantee: VillageGuaranteeParams = VillageGuaranteeParams()
    assessment: AssessmentParams = AssessmentParams()
    dual_targets: DualTargetParams = DualTargetParams()
    early_warning: EarlyWarningParams = EarlyWarningParams()  # issue 10 §4 (H10)

    @classmethod
    def is_required(cls, path: str) -> bool:
        return _leaf_specs()[path][1]


def _walk(model: type[BaseModel], prefix: str = "") -> dict[str, tuple[str, bool, Any]]:
    out = {}
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        ann, extra = info.annotation, info.json_schema_extra or {}
        if "unit" not in extra and isinstance(ann, type) and issubclass(ann, Model):
            out.update(_walk(ann, path))  # a section: a branch of the tree
        else:  # a leaf: declares its unit (``unit(...)``), even when its value is a structure
            typed = Annotated[(ann, *info.metadata)] if info.metadata else ann  # with its bounds
            out[path] = (extra.get("unit", "?"), info.is_required(), typed)
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
        return [f"{'.'.join(str(x) for x in e['loc']) or '值'}: {rule_in_chinese(e)}" for e in exc.errors()]
    return []


#: the rule a value broke, in the words a clerk reads (pydantic's English after it)
_RULES_ZH = {
    "decimal_parsing": "应写成数字（按参数的单位，如元；不带千分位逗号、“万元”等单位或汉字，例如 12340000）",
    "decimal_type": "应写成数字", "float_parsing": "应写成数字", "int_parsing": "应写成整数",
    "bool_parsing": "应写成 true 或 false", "greater_than": "应大于 {gt}",
    "greater_than_equal": "应不小于 {ge}", "less_than": "应小于 {lt}",
    "less_than_equal": "应不大于 {le}", "literal_error": "只能取 {expected}",
    "too_short": "至少需要 {min_length} 项", "string_too_short": "不能为空",
    "dict_type": "应为键值结构", "model_type": "应为键值结构", "list_type": "应为列表（每项以 - 开头）",
    "string_type": "应为文字（以 0 开头或全为数字的编码请加引号，如 '0101'）", "missing": "缺少此字段",
}


def rule_in_chinese(error: dict) -> str:
    """One pydantic error as the rule in Chinese with pydantic's own words after it."""
    rule = _RULES_ZH.get(error["type"])
    if rule is None:
        return error["msg"]
    ctx = {k: str(v) for k, v in (error.get("ctx") or {}).items()}
    return f"{rule.format_map(ctx)}（{error['msg']}）"


# ---------------------------------------------------------------- mid-year changes (年中调整)
# How a value dated inside the settlement year (after 1 January) is applied. Every parameter is
# one of these; a change the rule cannot apply is an error naming the parameter and the date,
# never silently dropped (config.resolve). Worked example: public_health.per_capita_standard
# 99 元 from 2025-01-01 and 109 元 from 2025-07-01 → (99 × 181 + 109 × 184) ÷ 365 = 104.04… 元
# per resident for 2025.
ANNUAL = "annual"  # one value per year: a change dated inside the year is an error
PRO_RATA_DAYS = "pro_rata_days"  # annual amount = Σ value × days in force ÷ days of the year
PERSON_DAYS = "person_days"  # each enrolee's days are priced at the value in force on each day
BY_DISCHARGE_DATE = "by_discharge_date"  # each case uses the value in force on its discharge date

PERIOD_RULE_ZH = {ANNUAL: "按年度取值（年中不得变更）", PRO_RATA_DAYS: "按天数折算",
                  PERSON_DAYS: "按纳入人天折算", BY_DISCHARGE_DATE: "按出院日期适用"}

PERIOD_RULES: dict[str, str] = {
    # per-capita standard × residents: the year's pool is pro rata by the days each value is in force
    "public_health.per_capita_standard": PRO_RATA_DAYS,
    # capitation standards per person-year: priced day by day over each enrolee's enrolment
    "chronic.standards": PERSON_DAYS,
    "chronic.signed_bonus": PERSON_DAYS,
    # case scoring: the bounds, coefficients and rules in force when the patient was discharged
    "dip.low_bound": BY_DISCHARGE_DATE,
    "dip.high_bound": BY_DISCHARGE_DATE,
    "dip.low_bound_inclusive": BY_DISCHARGE_DATE,
    "dip.high_bound_inclusive": BY_DISCHARGE_DATE,
    "dip.extreme_ratio_bound": BY_DISCHARGE_DATE,
    "dip.level_coefficients": BY_DISCHARGE_DATE,
    "dip.special_points_apply_coefficient": BY_DISCHARGE_DATE,
    "dip.drg_points_per_rw": BY_DISCHARGE_DATE,
    "dip.drg_low_bound": BY_DISCHARGE_DATE,
    "dip.drg_high_bound": BY_DISCHARGE_DATE,
    "dip.drg_extreme_ratio_bound": BY_DISCHARGE_DATE,
}


def period_rule(path: str) -> str:
    """How a mid-year value of parameter ``path`` applies (default: one value per year)."""
    return PERIOD_RULES.get(path, ANNUAL)


def leaf_type(path: str) -> Any:
    """The type a leaf value of ``path`` is validated as (for dated values inside the year)."""
    return _leaf_specs()[path][2]
