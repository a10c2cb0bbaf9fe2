"""The DIP ledger (DIP 结算台账): three sections, each summing to 0.00 exactly.

``pool`` — where the DIP money goes::

    + dip_pool                 fund_budget ÷ reimbursement_ratio (one rounding to fen)
    − units_gross              Σ member units' points × settlement point value
    − point_value_difference   pool − Σ points × point value (点值取整差额 / 公布点值差额)
    − unit_rounding            Σ points × point value − Σ units' gross (各单位取整尾差)

At the pooling region's point value (``point_value_mode: region``, a region run's counties) the
pool is the region's, not the county's: the pool section starts from the county's own money ::

    + county_dip_money         Σ the county's member units' points × region point value (once)
    − units_gross
    − unit_rounding

and a ``region`` section reconciles it to the region's pool (区域对账), stated as the region's::

    + region_pool              region DIP budget ÷ ratio (the region summary derives it)
    − county_dip_money
    − rest_of_region           region pool − the county's money: every other case of the region
                               at the region point value (the city hospitals', the other counties'
                               hospitals', this county's hospitals' cases of other counties'
                               insured) and the region point value's rounding

``units`` — from the units' gross value to what is still to pay::

    + units_gross + at_cost − self_pay − violation_deduction − withheld + returned
    − prepaid − balance                                                  = 0

``budget`` — the monthly pre-settlement at the budget point value (预算点值) against the
year-end clearing: + gross at budget pv + point value effect − units_gross = 0.

Example: a published point value 20.1235 on 62,500,000.5 points gives 1,257,718,760.06 元
(62,500,000.5 × 20.1235 = 1,257,718,760.06175, rounded once); if the units' own roundings sum
to 1,257,718,760.05, the 0.01 is the ``unit_rounding`` line, and the difference to the pool
is the ``point_value_difference`` line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext

import pandas as pd

from settlement.money import fen_of, yuan_display
from settlement.params import DipParams
from settlement.dip.settle import PointValue
from settlement.wording import ENUM_ZH  # option codes in Chinese (H7, issue 12)

LEDGER_COLUMNS = ["section", "line", "label_zh", "amount", "explanation"]

PV_DIFFERENCE_ZH = {"computed": "点值取整差额", "published": "公布点值与预算折算总额差额",
                    "drg_rate": "DRG 费率付费与预算折算总额差额"}


@dataclass(frozen=True)
class DipSummary:
    """Totals of the DIP stage (fen unless stated) and the point values used."""

    payment_method: str
    point_value: PointValue
    cases_by_class: dict[str, int]
    settled_cases: int
    excluded_cases: int
    review_cases: int
    external_cases: int  # cases at non-member units, passed through at fund_paid
    external_fund_paid: int
    dip_pool: int
    money_at_point_value: int  # Σ points × settlement point value, rounded once
    units: dict[str, int] = field(default_factory=dict)  # Σ of dip_units money columns

    @property
    def point_value_difference(self) -> int:
        return self.dip_pool - self.money_at_point_value

    @property
    def unit_rounding(self) -> int:
        return self.money_at_point_value - self.units["gross_value"]


UNIT_TOTALS = ("gross_value", "case_gross_value", "at_cost", "self_pay", "violation_deduction",
               "fund_due", "withheld", "returned", "fund_paid", "prepaid", "balance",
               "gross_value_budget", "point_value_effect")


def money_at_point_value(pv: PointValue) -> int:
    with localcontext() as ctx:
        ctx.prec = 60
        return fen_of(pv.total_points * pv.settlement)


def unit_totals(dip_units: pd.DataFrame) -> dict[str, int]:
    return {c: int(dip_units[c].sum()) for c in UNIT_TOTALS}


def build_ledger(s: DipSummary, params: DipParams, source=None) -> pd.DataFrame:
    """The ledger frame (columns LEDGER_COLUMNS); every section sums to 0.

    The pool section by point value method (:data:`POOL_SECTIONS`): a county's own pool, or — at
    the pooling region's point value (``region``) — the county's money at that value, with the
    region's pool in a ``region`` section that reconciles to it (区域对账)."""
    u, pv = s.units, s.point_value
    ref = (lambda path: f"（依据：{source(path)}）") if source else (lambda path: "")
    pool, reconciliation = POOL_SECTIONS.get(pv.method, _own_pool)(s, params, ref)
    rows = pool + [
        ("units", "units_gross", "成员单位分值金额合计", u["gross_value"], "Σ 分值 × 结算点值"),
        ("units", "at_cost", "未入组病例按基金实际支付", u["at_cost"],
         f"未入组病例处理：{ENUM_ZH.get(params.unmatched_policy, params.unmatched_policy)}"
         f"{ref('dip.unmatched_policy')}"),
        ("units", "self_pay", "减：个人负担", -u["self_pay"], "Σ 计分病例个人负担"),
        ("units", "violation_deduction", "减：违规扣款", -u["violation_deduction"], "Σ 违规扣款"),
        ("units", "withheld", "减：预留质量保证金", -u["withheld"],
         f"基金应付 × {params.quality_withhold_rate}{ref('dip.quality_withhold_rate')}"),
        ("units", "returned", "加：返还质量保证金", u["returned"], "预留额 × 考核得分折算系数"),
        ("units", "prepaid", "减：月度预结算已支付", -u["prepaid"], "医保局按月预结算已支付合计"),
        ("units", "balance", "年度清算应补（负数为应退）", -u["balance"],
         "基金实付 − 月度预结算已支付"),
        ("budget", "gross_value_budget", "按预算点值计算的分值金额", u["gross_value_budget"],
         f"Σ 分值 × 预算点值 {pv.budget}{ref('dip.budget_point_value')}"),
        ("budget", "point_value_effect", "结算点值与预算点值差异影响", u["point_value_effect"],
         f"Σ 分值 × (结算点值 {pv.settlement} − 预算点值 {pv.budget})，各单位取整"),
        ("budget", "units_gross", "成员单位分值金额合计", -u["gross_value"], "按结算点值"),
    ] + reconciliation
    ledger = pd.DataFrame(rows, columns=LEDGER_COLUMNS)
    ledger["amount"] = ledger["amount"].astype("int64")
    unbalanced = ledger.groupby("section")["amount"].sum()
    if unbalanced.ne(0).any():  # cannot happen: each unit line is an identity
        raise AssertionError(f"DIP 台账不平 ledger does not balance: {unbalanced.to_dict()}")
    return ledger


def _own_pool(s: DipSummary, params: DipParams, ref) -> tuple[list[tuple], list[tuple]]:
    """The county's own pool (computed, published or DRG rate): pool → units' gross; nothing
    to reconcile to."""
    u, pv, y = s.units, s.point_value, yuan_display
    return [
        ("pool", "dip_pool", "DIP 住院统筹基金预算折算总额", s.dip_pool,
         f"基金预算 {params.fund_budget:,.2f} 元 ÷ 报销比例 {params.reimbursement_ratio}"
         f"{ref('dip.fund_budget')}"),
        ("pool", "units_gross", "成员单位分值金额合计", -u["gross_value"],
         f"Σ 各成员单位（分值 × 结算点值 {pv.settlement}，各单位一次取整到分）"),
        ("pool", "point_value_difference", PV_DIFFERENCE_ZH[pv.method], -s.point_value_difference,
         f"预算折算总额 {y(s.dip_pool)} − 总分值 {float(pv.total_points):,.4f} × 结算点值 {pv.settlement}"
         f"（{y(s.money_at_point_value)}）"),
        _unit_rounding(s),
    ], []


def _region_pool(s: DipSummary, params: DipParams, ref) -> tuple[list[tuple], list[tuple]]:
    """At the pooling region's point value: the county's money at that value → units' gross;
    the region's pool only in the ``region`` section (last), which says what the rest of it is."""
    u, pv, y = s.units, s.point_value, yuan_display
    money = s.money_at_point_value
    county = ("本县（区）成员单位按区域结算点值的分值金额",
              f"本县（区）成员单位病例总分值 {float(pv.total_points):,.4f} × 区域结算点值 {pv.settlement} 元/分，"
              "一次取整到分；由区域 DIP 住院统筹基金支付（区域结算点值的推导见区域汇总）")
    return [
        ("pool", "county_dip_money", county[0], money, county[1]),
        ("pool", "units_gross", "成员单位分值金额合计", -u["gross_value"],
         f"Σ 各成员单位（分值 × 区域结算点值 {pv.settlement}，各单位一次取整到分）"),
        _unit_rounding(s),
    ], [
        ("region", "region_pool", "区域 DIP 总额（全区域，非本县（区）预算）", s.dip_pool,
         f"区域 DIP 基金预算 {params.fund_budget:,.2f} 元 ÷ 报销比例 {params.reimbursement_ratio}，"
         f"全区域各县（区）与市直医院共用；点值推导见区域汇总{ref('dip.fund_budget')}"),
        ("region", "county_dip_money", f"减：{county[0]}", -money, f"同上：{y(money)} 元"),
        ("region", "rest_of_region", "减：区域内其余病例的分值金额及区域点值取整差额", money - s.dip_pool,
         f"区域 DIP 总额 {y(s.dip_pool)} − 本县（区）金额 {y(money)}：市直医院、其他县（区）医院的病例"
         "及本县（区）医院收治的外县（区）参保人病例按区域结算点值的金额，加区域点值取整差额；"
         "不在本县（区）DIP 清算中支付（本县（区）参保人在非成员机构的住院按基金实际支付计入县外及非成员机构支出），"
         "各医院金额见区域汇总（区域医院DIP）"),
    ]


def _unit_rounding(s: DipSummary) -> tuple:
    y = yuan_display
    return ("pool", "unit_rounding", "成员单位取整尾差", -s.unit_rounding,
            f"总分值 × 结算点值 {y(s.money_at_point_value)} − 各单位取整后合计 {y(s.units['gross_value'])}")


#: point value method → the ledger's pool section(s); other methods: the county's own pool
POOL_SECTIONS = {"region": _region_pool}


#: point value method → the sentence that derives the settlement point value
POINT_VALUE_TEXT = {
    "computed": lambda pv, p: (
        f"结算点值 {pv.settlement} 元/分 = (基金预算 {p.fund_budget} ÷ 报销比例 "
        f"{p.reimbursement_ratio}) ÷ 总分值 {pv.total_points}，"
        f"保留 {p.point_value_decimals} 位小数（测算值 {_short(pv.formula_value)}）"),
    "published": lambda pv, p: f"结算点值 {pv.settlement} 元/分（医保部门公布）",
    "region": lambda pv, p: f"结算点值 {pv.settlement} 元/分（区域统一点值，推导见区域汇总）",
    "drg_rate": lambda pv, p: (f"结算点值 {pv.settlement} 元/点 = DRG 费率 {p.drg_rate_per_rw} 元 ÷ "
                               f"{p.drg_points_per_rw} 点/RW"),
}


def point_value_text(pv: PointValue, params: DipParams) -> str:
    """'结算点值 20.0000 元/分 = (800000000 ÷ 0.64) ÷ 62500000 …' for statements."""
    return POINT_VALUE_TEXT[pv.method](pv, params)


def _short(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.10f}"
