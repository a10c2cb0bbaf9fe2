"""Parameter values as people write them (参数的中文写法), shared by explanations and reports.

Ratios as percentages, booleans 是/否, option codes by their Chinese meaning, bands and
tiers one line each. ``cite(value, unit, reference, since)`` is how an explanation quotes a
parameter: ``5%（示医保发〔2023〕8号 第二十条，自 2023-01-01 起）`` — no unit code, no English.

Example: ``human_value(Decimal("0.05"), "ratio") == "5%"``; ``human_value("paid_at_cost", "enum")
== "按基金实际支付"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

ENUM_ZH = {"paid_at_cost": "按基金实际支付", "excluded": "不予结算", "computed": "按公式测算",
           "published": "采用公布点值", "region": "采用区域统一点值", "dip": "按病种分值付费（DIP）", "drg": "按疾病诊断相关分组付费（DRG）",
           "whole_months": "按整月计", "days": "按天折算", "ratio": "按比例", "work_points": "按工分",
           "service_population": "按服务人口", "dip_points": "按 DIP 分值", "own_tier": "单列层级",
           "same_as_surplus": "与结余分配相同", "by_dip_fund_due": "按 DIP 基金应付",
           "monthly_to_hospitals": "医保局按月预结算拨付成员医院，年终逐院清算",
           "at_claim": "即时结算，医保基金直接支付", "community": "与医共体（牵头医院）结算，由医共体拨付成员单位",
           "units": "医保基金直接拨付各成员单位", "health_commission": "卫健委拨付（不属医保基金）",
           "package": "打包基金", "chronic": "慢病包干", "next_band": "进入下一段", "this_band": "以内含本数"}
UNIT_ZH = {"ratio": "比例", "bool": "是/否", "enum": "选项", "yuan": "元", "codes": "代码",
           "bands": "分段", "rule": "折算规则", "tiers": "层级", "coefficient": "系数",
           "decimals": "小数位数", "points": "分", "yuan_per_point": "元/分",
           "yuan_per_capita": "元/人", "yuan_per_person_year": "元/人·年", "targets": "目标值",
           "name": "名称", "rank": "顺位", "scale": "倍数"}
METHOD_ZH = {"proportional": "按得分比例（得分 ÷ 100）", "tiered": "分档", "threshold": "阈值"}
DIRECTION_ZH = {"at_least": "不低于", "below": "低于"}
MODE_ZH = {"marginal": "分段累进", "first_dollar": "达到即全额"}


def _pct(value) -> str:
    return f"{(Decimal(str(value)) * 100).normalize():f}%"


def _num(value) -> str:
    d = Decimal(str(value))
    return f"{d:,f}".rstrip("0").rstrip(".") if "." in f"{d:f}" else f"{d:,f}"


def _bands(value: Mapping) -> str:
    lines, lower = [], Decimal(0)
    for band in value.get("bands", ()):
        upper = band.get("upper")
        span = f"{_pct(lower)} – {_pct(upper)}" if upper is not None else f"{_pct(lower)} 以上"
        lines.append(f"{span}：{_pct(band.get('rate'))}")
        lower = Decimal(str(upper)) if upper is not None else lower
    extra = [f"方式：{MODE_ZH.get(value.get('mode'), value.get('mode'))}"] if value.get("mode") else []
    if value.get("cap_share") is not None:
        extra.append(f"封顶：打包额的 {_pct(value['cap_share'])}")
    return "\n".join(lines + extra)


def _rule(value: Mapping) -> str:
    method = value.get("method")
    head = METHOD_ZH.get(method, str(method))
    if method == "tiered":
        return head + "\n" + "\n".join(f"≥ {_num(t['min_score'])} 分 → {_num(t['coefficient'])}"
                                       for t in value.get("tiers", ()))
    if method == "threshold":
        return f"{head}：系数 = 得分 ÷ 100，低于 {_num(value.get('threshold'))} 时按实际系数，否则按 1"
    return head


def _tiers(value) -> str:
    out = []
    for t in value:
        floor = f"，保底 {_pct(t['floor_share'])}" if t.get("floor_share") is not None else ""
        out.append(f"{t.get('label_zh', t.get('tier'))}：比例 {_num(t['ratio'])}{floor}")
    return "\n".join(out)


def _mapping(value: Mapping) -> str:
    lines = []
    for key, v in value.items():
        if isinstance(v, Mapping) and "target" in v:
            lines.append(f"{key}：{DIRECTION_ZH.get(v.get('direction'), '')} {_pct(v['target'])}")
        elif isinstance(v, Mapping):
            lines.append(f"{key}：" + "，".join(f"{k} {human_value(x, '')}" for k, x in v.items()))
        else:
            lines.append(f"{key}：{human_value(v, '')}")
    return "\n".join(lines)


def human_value(value, unit: str) -> str:
    """A parameter value as people write it (see the module docstring)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, bool):
        return "是" if value else "否"
    if value is None:
        return "（未设定）"
    if unit == "bands" and isinstance(value, Mapping):
        return _bands(value)
    if unit == "rule" and isinstance(value, Mapping):
        return _rule(value)
    if unit == "tiers" and isinstance(value, (list, tuple)):
        return _tiers([t.model_dump() if hasattr(t, "model_dump") else t for t in value])
    if isinstance(value, Mapping):
        return _mapping(value)
    if isinstance(value, (list, tuple)):
        return "、".join(human_value(v, "") for v in value) or "（无）"
    if unit == "ratio":
        return _pct(value)
    if isinstance(value, str):
        return ENUM_ZH.get(value, value)
    if isinstance(value, (int, float, Decimal)):
        return _num(value)
    return str(value)




UNIT_SUFFIX = {"yuan": " 元", "yuan_per_point": " 元/分", "yuan_per_capita": " 元/人",
               "yuan_per_person_year": " 元/人·年", "points": " 分"}


def cite(value, unit: str, reference: str, since, later=()) -> str:
    """'5%（示医保发〔2023〕8号，自 2023-01-01 起）'; ``later``: (date, value) changes in the year."""
    shown = lambda v: human_value(v, unit) + (UNIT_SUFFIX.get(unit, "") if not isinstance(v, (dict, list, tuple, bool)) else "")  # noqa: E731
    more = "".join(f"；{d.isoformat()} 起 {shown(v)}" for d, v in later)
    return f"{shown(value)}（{reference}，自 {since.isoformat()} 起{more}）"


def quarter_zh(period) -> str:
    """'2025Q1' → '2025 年第 1 季度'; '2025-03' → '2025 年 3 月'; anything else unchanged."""
    text = str(period)
    found = re.fullmatch(r"(\d{4})Q([1-4])", text)
    if found:
        return f"{found.group(1)} 年第 {found.group(2)} 季度"
    found = re.fullmatch(r"(\d{4})-(\d{2})", text)
    return f"{found.group(1)} 年 {int(found.group(2))} 月" if found else text


def plain_number(x, decimals: int = 4) -> str:
    """A count-like number for prose: thousands separators, no trailing zeros (88, 1,234.5)."""
    text = f"{float(x):,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def scenario_zh(scenario) -> str:
    """A scenario as people read it: the base scenario is 基准方案, others 情景方案「name」."""
    return "基准方案" if scenario in ("base", "", None) else f"情景方案「{scenario}」"
