"""The community ledger (医共体总账, DOMAIN §2.8): every yuan of the package accounted for.

Each community's ledger is a list of signed lines (sources +, uses −) in three sections, each
summing to exactly 0 fen::

    package      financing − critical illness − other earmarks − risk reserve − not packaged
                 ± official adjustment − carved out − package (carried to the next section) = 0
    settlement   package − expenditure lines − surplus retained − surplus returned to the fund
                 + overrun borne by the fund + overrun borne by the community = 0
    distribution surplus retained − Σ tier shares; − overrun borne + Σ tier shares = 0

e.g. community A: package +331,740,000.00, DIP −200,000,000.00, external −70,000,000.00,
outpatient −46,000,000.00, surplus retained −15,740,000.00 → Σ 0.00.

Rounding differences are their own named lines (``expenditure_dip_rounding``: DIP unit
settlement vs. the sum of its cases; ``unpackaged`` holds the package-share rounding). The
closing line ``total`` is the sum of all lines and must be 0.00: :func:`check_ledger`
raises :class:`LedgerError` naming every community and section that does not balance.
"""

from __future__ import annotations

import pandas as pd

from settlement.money import yuan_display
from settlement.stages.expenditure import LINE_LABELS
from settlement.vocabulary import CLAIM_TYPES, LEDGER_SECTION_ZH, SCOPES

LEDGER_COLUMNS = ["community_id", "line", "label_zh", "amount", "section", "explanation"]
SECTION_LABELS = LEDGER_SECTION_ZH

_PACKAGE_LINES = [  # (line, label, sign, column)
    ("financing", "筹资总额", 1, "financing"),
    ("critical_illness", "大病保险", -1, "critical_illness"),
    ("other_earmarks", "其他专项", -1, "other_earmarks"),
    ("reserve", "风险金", -1, "reserve"),
    ("unpackaged", "未打包部分（含打包比例四舍五入）", -1, "unpackaged"),
]
_EXPENDITURE_LINES = (["expenditure_dip", "expenditure_dip_rounding"]
                      + [f"expenditure_external_{s}" for s in SCOPES]
                      + [f"expenditure_outpatient_{t}" for t in CLAIM_TYPES])
_RESULT_LINES = [
    ("surplus_retained", "结余留用", -1),
    ("surplus_returned_by_band", "结余返还基金（超出分段留用比例部分）", -1),
    ("surplus_returned_by_score", "结余返还基金（考核系数扣减部分）", -1),
    ("surplus_returned_by_cap", "结余返还基金（超过封顶部分）", -1),
    ("overrun_fund_share", "超支基金分担（风险金支付）", 1),
    ("overrun_community_share", "超支医共体自担", 1),
]


class LedgerError(ValueError):
    """A ledger that does not balance to 0.00: the run must stop."""


def community_ledger(community_settlement: pd.DataFrame,
                     unit_distribution: pd.DataFrame | None = None,
                     other_lines: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``ledger`` table (amount in int64 fen); raises :class:`LedgerError` if unbalanced.

    ``other_lines`` (community_id, line, label_zh, amount) itemises ``expenditure_other``;
    ``unit_distribution`` adds the distribution section (Σ unit shares by tier).
    """
    rows: list[tuple] = []
    for r in community_settlement.itertuples(index=False):  # a handful of communities
        cid = str(r.community_id)
        lines = _package_section(r) + _settlement_section(r, cid, other_lines)
        if unit_distribution is not None:
            lines += _distribution_section(r, unit_distribution.loc[
                unit_distribution["community_id"].astype(str) == cid])
        total = sum(amount for _, _, amount, _, _ in lines)
        lines.append(("total", "轧差（应为 0.00）", total, "check", "以上各行合计"))
        rows += [(cid, *line) for line in lines]
    ledger = pd.DataFrame(rows, columns=["community_id", "line", "label_zh", "amount", "section",
                                         "explanation"])
    ledger["amount"] = ledger["amount"].astype("int64")
    for col in ("community_id", "line", "label_zh", "section", "explanation"):
        ledger[col] = ledger[col].astype("string")
    check_ledger(ledger)
    return ledger[LEDGER_COLUMNS]


def check_ledger(ledger: pd.DataFrame) -> None:
    """Raise :class:`LedgerError` unless every (community, section) sums to exactly 0 fen."""
    sums = ledger["amount"].astype("int64").groupby(
        [ledger["community_id"].astype(str), ledger["section"].astype(str)]).sum()
    bad = sums[sums != 0]
    if not bad.empty:
        detail = "；".join(f"{cid} {SECTION_LABELS.get(sec, sec)}（{sec}）差 {yuan_display(v)}"
                          for (cid, sec), v in bad.items())
        raise LedgerError(f"医共体总账不平衡，结算中止：{detail} — ledger does not balance to 0.00")


def _package_section(r) -> list[tuple]:
    lines = [(name, label, sign * int(getattr(r, col)), "package", "")
             for name, label, sign, col in _PACKAGE_LINES]
    transfer = int(getattr(r, "basis_transfer", 0) or 0)
    if transfer:  # package basis (stages/package.py): the re-split among communities
        lines.append(("basis_transfer", "打包基数调整（按服务人口/签约人口重新分配）", transfer,
                      "package", ""))
    difference = int(getattr(r, "package_difference", 0) or 0)
    if getattr(r, "package_source", "computed") == "official":
        lines.append(("official_adjustment", "核定打包额与测算差额", difference, "package",
                      f"医保局核定 {yuan_display(int(r.official_package))}，"
                      f"测算 {yuan_display(r.computed_package)}"))
    if int(getattr(r, "carve_out", 0) or 0):
        lines.append(("carve_out", "单列资金（从打包额中扣除）", -int(r.carve_out), "package", ""))
    lines.append(("package_out", "打包额（转入打包额使用）", -int(r.package), "package",
                  str(getattr(r, "package_explanation", ""))))
    return lines


def _settlement_section(r, cid: str, other_lines: pd.DataFrame | None) -> list[tuple]:
    lines = [("package", "医保基金打包额", int(r.package), "settlement", "")]
    lines += [(c, LINE_LABELS[c], -int(getattr(r, c)), "settlement", "") for c in _EXPENDITURE_LINES]
    typed = sum(int(getattr(r, f"expenditure_outpatient_{t}")) for t in CLAIM_TYPES)
    if int(r.expenditure_outpatient) != typed:
        lines.append(("expenditure_outpatient_untyped", "其他类型门诊",
                      -(int(r.expenditure_outpatient) - typed), "settlement", ""))
    lines += _other_lines(r, cid, other_lines)
    lines += [(name, label, sign * int(getattr(r, name)), "settlement",
               str(r.explanation) if name in ("surplus_retained", "overrun_fund_share") else "")
              for name, label, sign in _RESULT_LINES]
    dual = int(getattr(r, "surplus_returned_by_dual_targets", 0) or 0)
    if dual:  # stages/assessment.py: the dual targets scale the retained surplus
        lines.append(("surplus_returned_by_dual_targets", "结余返还基金（双目标未达成扣减部分）",
                      -dual, "settlement", ""))
    return lines


def _other_lines(r, cid: str, other_lines: pd.DataFrame | None) -> list[tuple]:
    if other_lines is None:
        return [("expenditure_other", LINE_LABELS["expenditure_other"], -int(r.expenditure_other),
                 "settlement", "")]
    mine = other_lines.loc[other_lines["community_id"].astype(str) == cid]
    out = [(f"other:{line}", str(label), -int(amount), "settlement", "其他打包支出")
           for line, label, amount in zip(mine["line"], mine["label_zh"], mine["amount"])]
    listed = sum(int(a) for a in mine["amount"])
    if listed != int(r.expenditure_other):
        raise LedgerError(f"医共体 {cid} 其他打包支出明细合计 {yuan_display(listed)} 与支出汇总 "
                          f"{yuan_display(int(r.expenditure_other))} 不一致 — other lines do not tie")
    return out


def _distribution_section(r, units: pd.DataFrame) -> list[tuple]:
    lines = []
    tiers = units.loc[units["tier"] != "excluded"].groupby("tier", sort=False).agg(
        label=("tier_label", "first"), surplus=("surplus_share", "sum"), overrun=("overrun_share", "sum"))
    if int(r.surplus_retained):
        lines.append(("surplus_to_units", "结余留用（待分配）", int(r.surplus_retained), "distribution", ""))
        lines += [(f"surplus_tier:{tier}", f"分配给{t.label}", -int(t.surplus), "distribution",
                   f"{t.label} 合计分得 {yuan_display(int(t.surplus))}")
                  for tier, t in tiers.iterrows()]
    if int(r.overrun_community_share):
        lines.append(("overrun_to_units", "医共体自担超支（待分担）", -int(r.overrun_community_share),
                      "distribution", ""))
        lines += [(f"overrun_tier:{tier}", f"{t.label}分担超支", int(t.overrun), "distribution",
                   f"{t.label} 合计分担 {yuan_display(int(t.overrun))}")
                  for tier, t in tiers.iterrows()]
    return lines
