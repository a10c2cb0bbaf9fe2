"""The community's assessment score from the indicators, and the dual targets (双目标管理).

**Score** (``assessment.community_score``). The corridor scales the retained surplus by the
community's score (§2.6). ``input`` keeps the ``performance_scores`` row; ``rubric`` takes the
indicator rubric (``indicators.scoring``: points per indicator met) as a score out of 100;
``blend`` mixes them::

    rubric score = points earned ÷ points available × 100
    blend        = (1 − rubric_weight) × input + rubric_weight × rubric score

Example: input 88, rubric 70 of 100 points, weight 0.4 → 0.6 × 88 + 0.4 × 70 = 80.8.

**Dual targets** (seed 004: 实行双目标管理). Two indicator targets (``dual_targets.targets``)
are checked on the community's indicators; ``dual_targets.scale`` gives the share of the
retained surplus kept for 2, 1 or 0 targets met; the rest returns to the fund as its own
line ``surplus_returned_by_dual_targets``. Example: retained 1,000,000.00, one target met at
factor 0.8 → retained 800,000.00, 200,000.00 returned.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

import pandas as pd

from settlement.money import mul_fen, yuan_display
from settlement.params import AssessmentParams, DualTargetParams
from settlement.problems import Problem
from settlement.stages.indicators import DEFINITIONS, _met

ASSESSMENT_COLUMNS = ["community_id", "input_score", "rubric_points", "rubric_max_points",
                      "rubric_score", "rubric_weight", "score", "source", "explanation"]
DUAL_COLUMNS = ["community_id", "indicator", "label_zh", "value", "target", "direction", "met",
                "targets_met", "factor", "retained_before", "retained_after", "returned",
                "explanation"]


class Assessment(NamedTuple):
    performance_scores: pd.DataFrame  # as given, community rows replaced by the final score
    table: pd.DataFrame  # the derivation, one row per community
    problems: list[Problem]


def _q(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.0001"))


def community_assessment(performance_scores: pd.DataFrame, indicator_scores: pd.DataFrame,
                         communities: pd.DataFrame, params: AssessmentParams) -> Assessment:
    """The community scores the corridor uses, with how each was derived."""
    scores = performance_scores
    given = scores.loc[scores["entity_type"] == "community"].set_index(
        scores.loc[scores["entity_type"] == "community", "entity_id"].astype(str))["score"]
    rubric = indicator_scores.set_index(indicator_scores["scope"].astype(str))
    mode, weight = params.community_score, params.rubric_weight
    rows, problems = [], []
    for cid in communities["community_id"].astype(str):
        row = _one(cid, given.get(cid), rubric.loc[cid] if cid in rubric.index else None,
                   mode, weight, problems)
        rows.append(row)
    table = pd.DataFrame(rows, columns=ASSESSMENT_COLUMNS).astype(
        {"community_id": "string", "source": "string", "explanation": "string"})
    if mode == "input":
        return Assessment(performance_scores, table, problems)
    final = table.dropna(subset=["score"])
    others = scores.loc[~((scores["entity_type"] == "community")
                          & scores["entity_id"].astype(str).isin(final["community_id"]))]
    replaced = pd.DataFrame({"entity_type": "community", "entity_id": final["community_id"],
                             "score": final["score"].astype("float64")})
    out = pd.concat([others, replaced.astype({"entity_type": "string", "entity_id": "string"})],
                    ignore_index=True)
    return Assessment(out, table, problems)


def _one(cid: str, given, rubric, mode: str, weight: Decimal | None,
         problems: list[Problem]) -> dict:
    has_input = given is not None and not pd.isna(given)
    inp = Decimal(str(given)) if has_input else None
    points = Decimal(str(rubric["points"])) if rubric is not None else None
    most = Decimal(str(rubric["max_points"])) if rubric is not None else None
    rub = _q(points / most * 100) if points is not None and most else None
    text = [f"考核得分表 {inp if has_input else '（无）'}"]
    if rub is not None:
        text.append(f"指标评分 {points} ÷ {most} × 100 = {rub}")
    source, found = mode, COMMUNITY_SCORES[mode](inp, rub, weight)
    if found is None:
        problems.append(Problem("assessment.rubric_missing", "warning", "indicators",
                                f"医共体 {cid} 缺少指标评分或考核得分，考核得分按得分表计",
                                f"community {cid}: rubric or input score missing", value=cid))
        source, found = "input", (inp, "")
    score, working = found
    if working:
        text.append(working)
    text.append(f"用于结余留用的考核得分 {score if score is not None else '（无）'}")
    return {"community_id": cid, "input_score": float(inp) if inp is not None else float("nan"),
            "rubric_points": float(points) if points is not None else float("nan"),
            "rubric_max_points": float(most) if most is not None else float("nan"),
            "rubric_score": float(rub) if rub is not None else float("nan"),
            "rubric_weight": float(weight) if weight is not None else float("nan"),
            "score": float(score) if score is not None else float("nan"), "source": source,
            "explanation": "；".join(text)}


def _input_score(inp: Decimal | None, rub: Decimal | None, weight) -> tuple[Decimal | None, str]:
    return inp, ""


def _rubric_score(inp: Decimal | None, rub: Decimal | None, weight) -> tuple[Decimal, str] | None:
    return (rub, "") if rub is not None else None


def _blend_score(inp: Decimal | None, rub: Decimal | None, weight) -> tuple[Decimal, str] | None:
    if rub is None or inp is None:
        return None
    score = _q((1 - weight) * inp + weight * rub)
    return score, f"加权 (1 − {weight}) × {inp} + {weight} × {rub} = {score}"


#: ``assessment.community_score`` → (score, working) from the input score, the rubric score and
#: the weight; None when the mode's scores are missing (the input score is used, with a warning)
COMMUNITY_SCORES = {"input": _input_score, "rubric": _rubric_score, "blend": _blend_score}


def apply_dual_targets(community: pd.DataFrame, indicators: pd.DataFrame,
                       params: DualTargetParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(community_settlement with the retained surplus scaled, the dual-target table)."""
    out = community.copy()
    out["surplus_returned_by_dual_targets"] = 0
    if params.targets is None:
        return out, pd.DataFrame(columns=DUAL_COLUMNS)
    factors = {s.met: s.factor for s in params.scale}
    ind = indicators.set_index([indicators["scope"].astype(str), indicators["indicator"].astype(str)])
    rows = []
    for i, r in out.iterrows():  # a handful of communities
        cid = str(r["community_id"])
        checks = [_check(ind, cid, code, target) for code, target in params.targets.items()]
        met = sum(1 for c in checks if c["met"] is True)
        before = int(r["surplus_retained"])
        after = mul_fen(before, factors[met])
        out.at[i, "surplus_retained"] = after
        out.at[i, "surplus_returned"] = int(r["surplus_returned"]) + before - after
        out.at[i, "surplus_returned_by_dual_targets"] = before - after
        text = (f"双目标达成 {met} 项（" + "；".join(c["text"] for c in checks) + f"），结余留用比例 "
                f"{factors[met]}：{yuan_display(before)} × {factors[met]} = {yuan_display(after)}，"
                f"返还基金 {yuan_display(before - after)}")
        if "explanation" in out.columns and before:
            out.at[i, "explanation"] = f"{out.at[i, 'explanation']}；{text}"
        rows += [{**c, "community_id": cid, "targets_met": met, "factor": float(factors[met]),
                  "retained_before": before, "retained_after": after, "returned": before - after,
                  "explanation": text} for c in checks]
    for col in ("surplus_retained", "surplus_returned", "surplus_returned_by_dual_targets"):
        out[col] = out[col].astype("int64")
    return out, pd.DataFrame(rows)[DUAL_COLUMNS]


def _check(ind: pd.DataFrame, cid: str, code: str, target) -> dict:
    label = DEFINITIONS[code][0] if code in DEFINITIONS else code
    if (cid, code) not in ind.index:
        return {"indicator": code, "label_zh": label, "value": float("nan"),
                "target": float(target.target), "direction": target.direction, "met": None,
                "text": f"{label} 无数据，按未达成"}
    r = ind.loc[(cid, code)]
    met = _met(int(r["numerator"]), int(r["denominator"]), target, code)
    sign = "≥" if target.direction == "at_least" else "<"
    return {"indicator": code, "label_zh": label, "value": float(r["value"]),
            "target": float(target.target), "direction": target.direction, "met": met,
            "text": f"{label} {float(r['value']):.2%} 目标 {sign} {float(target.target):.0%}"
                    f"{'，达成' if met else '，未达成'}"}
