"""Statement lines of each fund (结算单各行): DIP/DRG, package, chronic, public health.

Part of :mod:`settlement.reconcile` (whose docstring defines the lines and checks); each
line has its fund, order, label, signed amount in fen, explanation with its numbers, and its
payer from the flow of funds (医保基金 / 医共体 / 卫健委公卫资金, :func:`with_payer`).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from settlement.money import yuan_display as y
from settlement.params import FlowOfFundsParams, Params
from settlement.reconcile.bureau import chronic_net
from settlement.stage import known
from settlement.vocabulary import POOL_ZH
from settlement.wording import quarter_zh

FUNDS = ("dip", "package", "chronic", "public_health")
FUND_ZH = {"dip": "DIP 住院结算", "package": "结余留用/超支分担", "chronic": "慢性病包干",
           "public_health": "基本公共卫生服务经费"}
PAYER_ZH = {"fund": "医保基金", "community": "医共体", "health_commission": "卫健委公卫资金"}


def fund_zh(fund: str, drg: bool = False) -> str:
    """Chinese name of a fund; a DRG county's inpatient fund reads DRG."""
    name = FUND_ZH.get(fund, fund)
    return name.replace("DIP", "DRG") if drg else name


def _col(frame: pd.DataFrame, name: str, default=0) -> pd.Series:
    return frame[name] if name in frame else pd.Series(default, index=frame.index)


def _frame(fund: str, seq: int, line: str, label: str, ids, amount, text) -> pd.DataFrame:
    return pd.DataFrame({"unit_id": pd.Series(list(ids), dtype="string"), "fund": fund,
                         "seq": seq, "line": line, "label_zh": label,
                         "amount": np.asarray(amount, dtype="int64"), "explanation": list(text)})


# ------------------------------------------------------------------ statement lines
def _cite(source, params: Params | None, path: str) -> str:
    """'5%（示医保发〔2023〕8号 第二十条，自 2023-01-01 起）' (``source`` already writes it so);
    without ``source`` the value alone. An unknown ``path`` raises (a typo is a bug)."""
    known(path)
    if source is not None:
        return source(path)
    if params is None:
        return ""
    value = params
    for key in path.split("."):
        value = getattr(value, key)
    return f"{(Decimal(str(value)) * 100).normalize():f}%"


def dip_lines(d: pd.DataFrame, params: Params | None, source, drg: bool = False) -> pd.DataFrame:
    if d.empty:
        return pd.DataFrame()
    at_cost, violation = _col(d, "at_cost").astype("int64"), d["violation_deduction"].astype("int64")
    due = d["gross_value"] + at_cost - d["self_pay"] - violation
    rate = _cite(source, params, "dip.quality_withhold_rate")
    rate = f" {rate}" if rate else ""
    score, coef = _col(d, "score", np.nan), _col(d, "score_coefficient", "")
    ids, out, name = d["unit_id"], [], "DRG" if drg else "DIP"
    points = "DRG 点数 {:,.4f} 点 × 结算点值 {} 元/点" if drg else "DIP 分值 {:,.4f} 分 × 结算点值 {} 元/分"
    out.append(_frame("dip", 10, "dip.gross_value", f"{name} {'点数' if drg else '分值'}金额", ids,
                      d["gross_value"], [
        points.format(p, pv) + f" = {y(g)} 元（按单位总{'点数' if drg else '分值'}一次取整到分）"
        for p, pv, g in zip(d["points"], d["point_value"], d["gross_value"])]))
    out.append(_frame("dip", 11, "dip.at_cost", "未入组病例按基金实际支付", ids, at_cost,
                      [f"未入组病例按即时结算基金支付合计 {y(a)} 元" for a in at_cost]))
    out.append(_frame("dip", 12, "dip.self_pay", "减：计分病例个人负担", ids, -d["self_pay"],
                      [f"各计分病例个人负担合计 {y(s)} 元" for s in d["self_pay"]]))
    out.append(_frame("dip", 13, "dip.violation_deduction", "减：违规扣款", ids, -violation,
                      [f"违规扣款合计 {y(v)} 元" for v in violation]))
    out.append(_frame("dip", 14, "dip.withheld", "减：预留质量保证金", ids, -d["withheld"], [
        f"基金应付 {y(f)} 元（{'点数' if drg else '分值'}金额 {y(g)}" + (f" + 未入组 {y(a)}" if a else "")
        + f" − 个人负担 {y(s)}" + (f" − 违规扣款 {y(v)}" if v else "")
        + f"）× 质量保证金预留比例{rate} = {y(w)} 元"
        for f, g, a, s, v, w in zip(due, d["gross_value"], at_cost, d["self_pay"], violation,
                                    d["withheld"])]))
    out.append(_frame("dip", 15, "dip.returned", "加：返还质量保证金", ids, d["returned"], [
        f"预留 {y(w)} 元 × 考核折算系数 {c}（考核得分 {s:g}）= {y(r)} 元" if c != "" and s == s
        else f"返还 {y(r)} 元" for w, c, s, r in zip(d["withheld"], coef, score, d["returned"])]))
    out.append(_frame("dip", 16, "dip.prepaid", "减：月度预结算已支付", ids, -d["prepaid"],
                      [f"医保局按月预结算已支付合计 {y(p)} 元" for p in d["prepaid"]]))
    lines = pd.concat(out, ignore_index=True)
    optional = lines["line"].isin(["dip.at_cost", "dip.violation_deduction"])
    return lines.loc[~optional | lines["amount"].ne(0)]


def package_lines(t: _Tables) -> pd.DataFrame:
    d = t.dist
    if d.empty:
        return pd.DataFrame()
    surplus, overrun = d["surplus_share"].astype("int64"), d["overrun_share"].astype("int64").abs()
    text = _col(d, "explanation", "").fillna("").astype(str)
    weight = [f"权重 {w:,.4f} × 绩效系数 {c:g}" for w, c in
              zip(d["weight"].astype(float), d["performance_coefficient"].astype(float))]
    show_s = surplus.ne(0) | overrun.eq(0)
    out = [_frame("package", 20, "package.surplus_share", "结余留用分配", d["unit_id"][show_s],
                  surplus[show_s], [x or f"{w}，按层级结余池分配 = {y(s)} 元" for x, w, s in
                                    zip(text[show_s], np.array(weight)[show_s], surplus[show_s])])]
    show_o = overrun.ne(0)
    out.append(_frame("package", 21, "package.overrun_share", "减：医共体自担超支分担",
                      d["unit_id"][show_o], -overrun[show_o],
                      [x or f"{w}，按层级超支分担 = {y(o)} 元" for x, w, o in
                       zip(text[show_o], np.array(weight)[show_o], overrun[show_o])]))
    out.append(_prepaid_frame(t, d["unit_id"], "package", 29, "减：结余分配已预拨"))
    return pd.concat(out, ignore_index=True)


def chronic_lines(t: _Tables) -> pd.DataFrame:
    d = t.chronic_units
    if d.empty:
        return pd.DataFrame()
    amount = chronic_net(d)
    text = [x or f"人月数 {pm:,.2f} × 质量系数 {q:g} = 权重 {w:,.4f}"
            for pm, q, w, x in zip(
        d["person_months"].astype(float), d["quality_coefficient"].astype(float),
        d["weight"].astype(float), _col(d, "explanation", "").fillna("").astype(str))]
    labels = np.where(amount < 0, "减：慢病包干超支分担", "慢病包干结余留用分配")
    out = [_frame("chronic", 30, "chronic.share", "", d["unit_id"], amount, text)
           .assign(label_zh=labels),
           _prepaid_frame(t, d["unit_id"], "chronic", 39, "减：慢病包干已预拨")]
    return pd.concat(out, ignore_index=True)


def public_health_lines(d: pd.DataFrame, plan: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each pool's allocation, less what was prepaid — one line per quarter from the plan
    (``public_health_plan``: the actual prepayment, or the plan when none was entered)."""
    if d.empty:
        return pd.DataFrame()
    out = []
    for k, pool in enumerate(sorted(d["pool"].astype(str).unique())):  # a couple of pools
        rows = d.loc[d["pool"].astype(str) == pool]
        name = POOL_ZH.get(pool, pool)
        text = _col(rows, "explanation", "").fillna("").astype(str)
        text = [x or f"工分 {wp:,.2f} × 质量系数 {q:g} = 权重 {w:,.4f}，按层级资金池分配 = {y(a)} 元"
                for x, wp, q, w, a in zip(text, rows["work_points"].astype(float),
                                          rows["quality_coefficient"].astype(float),
                                          rows["weight"].astype(float), rows["allocation"])]
        out.append(_frame("public_health", 40 + 2 * k, f"public_health.{pool}", name,
                          rows["unit_id"], rows["allocation"], text))
        if plan is not None and not plan.empty:
            out.append(_quarter_lines(plan.loc[plan["pool"].astype(str) == pool], pool, name,
                                      41 + 2 * k))
            continue
        paid = rows.loc[rows["prepaid"].ne(0)]
        out.append(_frame("public_health", 41 + 2 * k, f"public_health.{pool}.prepaid",
                          f"减：{name}已预拨", paid["unit_id"], -paid["prepaid"],
                          [f"{name}年内已预拨合计 {y(p)} 元" for p in paid["prepaid"]]))
    return pd.concat(out, ignore_index=True)


def _quarter_lines(plan: pd.DataFrame, pool: str, name: str, seq: int) -> pd.DataFrame:
    """减：…2025 年第 1 季度预拨 — one line per (unit, quarter) prepaid, the plan explained."""
    paid = plan.loc[plan["prepaid"].ne(0)]
    quarter = paid["quarter"].fillna("").astype(str)
    lines = [f"public_health.{pool}.{q}.prepaid" if q else f"public_health.{pool}.prepaid"
             for q in quarter]
    labels = [f"减：{name}{quarter_zh(q)}预拨" if q else f"减：{name}已预拨（未注明季度）"
              for q in quarter]
    frame = _frame("public_health", seq, "", "", paid["unit_id"], -paid["prepaid"],
                   paid["explanation"].fillna("").astype(str))
    return frame.assign(line=lines, label_zh=labels)


def _prepaid_frame(t: _Tables, ids: pd.Series, fund: str, seq: int, label: str) -> pd.DataFrame:
    paid = t.prepaid_of(ids, fund)
    keep = paid != 0
    return _frame(fund, seq, f"{fund}.prepaid", label, ids[keep], -paid[keep],
                  [f"Σ 预付款（资金类别 {fund}）{y(p)} 元" for p in paid[keep]])


def with_payer(lines: pd.DataFrame, flow: FlowOfFundsParams) -> pd.DataFrame:
    """The payer of each line (医保基金 / 医共体 / 卫健委公卫资金) from the flow of funds."""
    if lines.empty:
        return lines.assign(payer=pd.Series(dtype="string"))
    shares = "community" if flow.settlement_payee == "community" else "fund"
    payer = np.select([lines["fund"] == "dip", lines["fund"] == "public_health",
                       lines["line"].str.endswith(".prepaid")],
                      ["fund", "health_commission", "fund"], shares)
    return lines.assign(payer=payer)
