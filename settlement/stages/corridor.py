"""Surplus retained, reasonable overrun shared (结余留用、合理超支分担, DOMAIN §2.3).

For each community, ``balance = package − expenditure``, and the expenditure columns shown
beside the total add up to it exactly::

    expenditure = expenditure_dip + expenditure_dip_rounding + expenditure_external
                + expenditure_outpatient + expenditure_other

(``expenditure_dip_rounding``: the member units' DIP settlement, rounded once per unit, minus
the Σ of their cases rounded one by one — a few fen, its own named line, never hidden;
``expenditure_other`` is signed: the chronic cohort's carve-out lines are negative).

**Surplus** (balance > 0): the surplus corridor's bands (measured as a share of the
package) give what the community may keep; that is scaled by the community's assessment
coefficient (§2.6) and, if the corridor has ``cap_share``, capped. Whatever is not retained
returns to the fund, in three named parts: above the band rates, by the score, by the cap.

**Overrun** (balance < 0): the approved part (``overrun_adjustments``: epidemic, policy
change … up to the overrun) is shared by the fund at ``approved_overrun_fund_rate``; the rest
is split by the overrun corridor's bands (rate = share the fund bears, bands measured from 0
on the package). The fund's share is paid from the community's risk reserve and, with
``fund_share_capped_by_reserve``, cannot exceed it: the excess stays with the community and
is reported (``reserve_excess`` and a warning).

Worked example (sample bands: surplus [0, 10 %] 100 %, above 50 %; overrun [0, 5 %] 50 %):
community A, package 331,740,000.00, spends 316,000,000.00 → surplus 15,740,000.00
(4.7447 % of package, all in the first band) → retained 15,740,000.00 × coefficient 1.0.
Community B, package 221,160,000.00, spends 230,000,000.00 → overrun 8,840,000.00
(3.9971 %) → fund 8,840,000.00 × 50 % = 4,420,000.00, community 4,420,000.00.

The same model expresses a CMS shared-savings track: surplus bands [0, MSR] at 0 % and above
at the sharing rate, ``mode: first_dollar``, ``cap_share`` = the performance payment limit
(see ``configs/examples/cms-shared-savings.yaml``).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import NamedTuple

import pandas as pd

from settlement.money import mul_fen, yuan_display
from settlement.params import CorridorParams
from settlement.problems import Problem
from settlement.rules import (corridor_share, describe_corridor_share, describe_rule,
                              percent_of, rate_text, score_coefficient_exact)
from settlement.stage import bracketed, uncited
from settlement.stages.expenditure import EXPENDITURE_COLUMNS, LINE_LABELS

SETTLEMENT_COLUMNS = [  # CONTRACT.md community_settlement (+ the DIP rounding line), then the working
    "community_id", "financing", "available", "reserve", "package", "expenditure_dip",
    "expenditure_dip_rounding", "expenditure_external", "expenditure_outpatient",
    "expenditure_other", "expenditure", "balance", "surplus_retained", "surplus_returned", "overrun_fund_share",
    "overrun_community_share", "community_score", "community_coefficient",
]
WORKING_COLUMNS = [
    "surplus", "surplus_banded", "surplus_returned_by_band", "surplus_returned_by_score",
    "surplus_returned_by_cap", "overrun", "overrun_approved_claimed", "overrun_approved",
    "overrun_approved_fund_share", "overrun_banded_fund_share", "overrun_fund_share_before_cap",
    "reserve_excess", "reserve_remaining",
]


class CorridorResult(NamedTuple):
    table: pd.DataFrame  # community_settlement
    problems: list[Problem]


def settle_corridor(
    packages: pd.DataFrame,
    expenditure: pd.DataFrame,
    performance_scores: pd.DataFrame,
    params: CorridorParams,
    overrun_adjustments: pd.DataFrame | None = None,
    cite: Callable[[str], str] = uncited,
) -> CorridorResult:
    """The ``community_settlement`` table: package, expenditure lines, corridor result (fen).

    ``packages`` from :func:`settle_packages`, ``expenditure`` from :func:`scan_expenditure`.
    Anomalies (missing community score, reserve exceeded, approved overrun above the overrun)
    are returned as problems; ``cite(path)`` gives the documents quoted in the explanations.
    """
    problems: list[Problem] = []
    frame = packages.merge(expenditure, on="community_id", how="left", validate="one_to_one")
    lines = [c for c in EXPENDITURE_COLUMNS if c != "community_id"]
    frame[lines] = frame[lines].fillna(0).astype("int64")
    scores = _community_scores(performance_scores)
    approved = _approved(overrun_adjustments)
    rows = [_settle_one(row, scores.get(str(row.community_id)), approved.get(str(row.community_id), 0),
                        params, cite, problems)
            for row in frame.itertuples(index=False)]  # a handful of communities
    result = pd.DataFrame(rows, index=frame.index)
    out = pd.concat([frame, result], axis=1)
    out["expenditure_explanation"] = [_expenditure_text(r) for r in out.itertuples(index=False)]
    extra = [c for c in out.columns if c not in SETTLEMENT_COLUMNS + WORKING_COLUMNS]
    out = out[SETTLEMENT_COLUMNS + WORKING_COLUMNS + extra]
    money = [c for c in SETTLEMENT_COLUMNS + WORKING_COLUMNS
             if c not in ("community_id", "community_score", "community_coefficient")]
    out[money] = out[money].astype("int64")
    out[["community_score", "community_coefficient"]] = out[
        ["community_score", "community_coefficient"]].astype("float64")
    return CorridorResult(out.reset_index(drop=True), problems)


def _settle_one(row, score: float | None, approved_claimed: int, params: CorridorParams,
                cite: Callable[[str], str], problems: list[Problem]) -> dict:
    cid, package = str(row.community_id), int(row.package)
    balance = package - int(row.expenditure)
    coefficient = (Decimal(0) if score is None
                   else score_coefficient_exact(Decimal(str(score)), params.community_score_rule))
    out = dict.fromkeys(WORKING_COLUMNS + ["surplus_retained", "surplus_returned",
                                           "overrun_fund_share", "overrun_community_share"], 0)
    out.update(balance=balance, community_score=float("nan") if score is None else score,
               community_coefficient=float(coefficient), overrun_approved_claimed=approved_claimed,
               reserve_remaining=int(row.reserve))
    head = (f"结算余额 = 打包额 {yuan_display(package)} − 支出 {yuan_display(int(row.expenditure))}"
            f" = {yuan_display(balance)}（占打包额 {percent_of(balance, package)}%）")
    if balance > 0:
        if score is None:
            _problem(problems, "corridor.score_missing", "error", cid,
                     f"医共体 {cid} 缺少考核得分，结余留用无法按考核系数计算（暂按系数 0）",
                     f"community {cid} has no assessment score")
        text = _surplus(out, balance, package, coefficient, params, cite)
    elif balance < 0:
        text = _overrun(out, -balance, package, int(row.reserve), approved_claimed, params, cite,
                        cid, problems)
    else:
        text = "收支平衡，无结余无超支"
    out["explanation"] = f"{head}。{text}"
    return out


def _surplus(out: dict, surplus: int, package: int, coefficient: Decimal,
             params: CorridorParams, cite: Callable[[str], str]) -> str:
    cs = corridor_share(surplus, package, params.surplus, coefficient)
    scaled = mul_fen(cs.banded, coefficient)
    out.update(surplus=surplus, surplus_banded=cs.banded, surplus_retained=cs.shared,
               surplus_returned=surplus - cs.shared,
               surplus_returned_by_band=surplus - cs.banded,
               surplus_returned_by_score=cs.banded - scaled,
               surplus_returned_by_cap=scaled - cs.shared)
    rule = describe_rule(params.community_score_rule)
    return (f"结余 {describe_corridor_share(cs, package, '留用')}{bracketed(cite, 'corridor.surplus')}；"
            f"考核系数 {coefficient}（{rule}）{bracketed(cite, 'corridor.community_score_rule')}；"
            f"结余留用 {yuan_display(cs.shared)}，返还基金 {yuan_display(surplus - cs.shared)}")


def _overrun(out: dict, overrun: int, package: int, reserve: int, approved_claimed: int,
             params: CorridorParams, cite: Callable[[str], str], cid: str,
             problems: list[Problem]) -> str:
    approved = min(approved_claimed, overrun)
    if approved_claimed > overrun:
        _problem(problems, "corridor.approved_above_overrun", "warning", cid,
                 f"医共体 {cid} 认定的合理超支 {yuan_display(approved_claimed)} 超过实际超支 "
                 f"{yuan_display(overrun)}，按实际超支计",
                 f"approved overrun of {cid} exceeds the overrun; capped at the overrun")
    approved_fund = mul_fen(approved, params.approved_overrun_fund_rate)
    cs = corridor_share(overrun - approved, package, params.overrun)
    wanted = approved_fund + cs.shared
    fund = min(wanted, reserve) if params.fund_share_capped_by_reserve else wanted
    out.update(overrun=overrun, overrun_approved=approved, overrun_approved_fund_share=approved_fund,
               overrun_banded_fund_share=cs.shared, overrun_fund_share_before_cap=wanted,
               reserve_excess=wanted - fund, overrun_fund_share=fund,
               overrun_community_share=overrun - fund, reserve_remaining=reserve - fund)
    parts = []
    if approved:
        parts.append(f"认定合理超支 {yuan_display(approved)} × {rate_text(params.approved_overrun_fund_rate)}"
                     f" = {yuan_display(approved_fund)} 由基金分担"
                     f"{bracketed(cite, 'corridor.approved_overrun_fund_rate')}")
    parts.append(f"其余超支 {describe_corridor_share(cs, package, '基金分担')}"
                 f"{bracketed(cite, 'corridor.overrun')}")
    if wanted != fund:
        _problem(problems, "corridor.reserve_exceeded", "warning", cid,
                 f"医共体 {cid} 基金应分担 {yuan_display(wanted)} 超过风险金 {yuan_display(reserve)}，"
                 f"超出 {yuan_display(wanted - fund)} 由医共体承担",
                 f"fund share of {cid} exceeds the risk reserve; excess borne by the community")
        parts.append(f"基金应分担 {yuan_display(wanted)} 超过风险金 {yuan_display(reserve)}，以风险金为限"
                     f"{bracketed(cite, 'corridor.fund_share_capped_by_reserve')}，"
                     f"超出 {yuan_display(wanted - fund)} 由医共体承担")
    parts.append(f"基金分担（由风险金支付）{yuan_display(fund)}，医共体自担 {yuan_display(overrun - fund)}")
    return "超支 " + yuan_display(overrun) + "：" + "；".join(parts)


def _community_scores(scores: pd.DataFrame) -> dict[str, float]:
    rows = scores.loc[scores["entity_type"] == "community"]
    return {str(k): float(v) for k, v in zip(rows["entity_id"], rows["score"]) if pd.notna(v)}


def _approved(adjustments: pd.DataFrame | None) -> dict[str, int]:
    if adjustments is None or adjustments.empty:
        return {}
    sums = adjustments["amount"].astype("int64").groupby(adjustments["community_id"].astype(str)).sum()
    return {k: int(v) for k, v in sums.items()}


def _expenditure_text(row) -> str:
    parts = [f"{LINE_LABELS[c]} {yuan_display(getattr(row, c))}" for c in LINE_LABELS
             if getattr(row, c) != 0]
    return f"支出 {yuan_display(row.expenditure)} = " + (" + ".join(parts) if parts else "0.00")


def _problem(problems: list[Problem], rule: str, severity: str, cid: str, zh: str, en: str) -> None:
    problems.append(Problem(rule, severity, "community_settlement", zh, en, value=cid))

