"""The finance office's summary workbook (汇总.xlsx).

Sheets, each one table with a frozen, filterable header row, printed A4 landscape, fit to
width, header repeated:

    总览      key figures per community and the county, the community ledger, three charts
              (expenditure composition; in-county vs out-of-county; distribution by tier)
    基金预算  financing → available → reserve → package (§2.1)
    DIP结算   dip_units with names, totals
    结余分配  unit_distribution
    慢病包干  chronic_settlement, then the managing units
    公卫经费  public_health_allocation
    指标      indicators (money numerators in yuan, counts as counts)
    报销审核  the claims audit; 考核与双目标, 签约服务费与保底 (report/audit.py, issue 11)
    对账      per unit × fund: entitlement, prepaid, balance; net
    校验      the problem list and the reconciliation checks
    参数      every parameter used, with its value, unit, source document and date

Amounts are numbers (yuan, ``#,##0.00``), never text, so the office can sum them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from settlement.problems import SEVERITY_ZH, problems_frame
from settlement.reconcile.lines import FUNDS, fund_zh
from settlement.report.audit import assessment_sheet, audit_sheet, fees_sheet
from settlement.report.context import ReportContext
from settlement.report.layout import Col, Sheet, Styles, new_workbook, put_text
from settlement.report.overview import write_overview
from settlement.report.params_sheet import params_frame
from settlement.vocabulary import POOL_ZH, TIER_ZH

M, T, W = "money", "text", "wrap"

BUDGET = [Col("community_id", "医共体编码"), Col("community_name", "医共体名称"),
          Col("insured_enrollees", "参保人数", "int"), Col("financing", "筹资总额", M),
          Col("critical_illness", "大病保险", M), Col("other_earmarks", "其他专项", M),
          Col("available", "可用基金", M), Col("reserve", "风险金", M),
          Col("computed_package", "测算打包额", M), Col("official_package", "核定打包额", M),
          Col("package_difference", "核定与测算差额", M), Col("carve_out", "单列扣除", M),
          Col("package", "打包额", M), Col("package_explanation", "计算说明", W)]
DIP = [Col("unit_id", "单位编码"), Col("unit_name", "单位名称"), Col("cases", "病例数", "int"),
       Col("points", "总分值", "points"), Col("point_value", "结算点值（元/分）", "exact"),
       Col("gross_value", "分值金额", M), Col("at_cost", "未入组按实际支付", M),
       Col("self_pay", "个人负担", M), Col("violation_deduction", "违规扣款", M),
       Col("fund_due", "基金应付", M), Col("score", "考核得分", "float"),
       Col("withheld", "预留质量保证金", M), Col("returned", "返还质量保证金", M),
       Col("fund_paid", "基金实付", M), Col("prepaid", "月度预结算已付", M),
       Col("balance", "年度清算差额", M)]
DISTRIBUTION = [Col("community_id", "医共体"), Col("unit_id", "单位编码"),
                Col("unit_name", "单位名称"), Col("tier_label", "分配层级"),
                Col("base_value", "分配基数", "float"), Col("score", "考核得分", "float"),
                Col("performance_coefficient", "绩效系数", "ratio"), Col("weight", "权重", "float"),
                Col("tier_pool_surplus", "层级结余池", M), Col("surplus_share", "结余留用分配", M),
                Col("tier_pool_overrun", "层级超支池", M), Col("overrun_share", "超支分担", M),
                Col("net", "净额", M), Col("explanation", "计算说明", W)]
CHRONIC = [Col("community_id", "医共体"), Col("enrollees", "纳入人数", "int"),
           Col("person_months", "人月数", "float"), Col("budget", "包干预算", M),
           Col("spend", "包干支出", M), Col("balance", "结余(+)/超支(−)", M),
           Col("retained", "结余留用", M), Col("surplus_returned", "结余返还基金", M),
           Col("fund_share", "基金分担超支", M), Col("community_share", "医共体自担超支", M),
           Col("explanation", "计算说明", W)]
CHRONIC_UNITS = [Col("community_id", "医共体"), Col("unit_id", "管理单位编码"),
                 Col("unit_name", "管理单位名称"), Col("enrollees", "纳入人数", "int"),
                 Col("person_months", "人月数", "float"), Col("quality_score", "质量得分", "float"),
                 Col("quality_coefficient", "质量系数", "ratio"), Col("weight", "权重", "float"),
                 Col("amount", "分配金额（负数为分担）", M), Col("explanation", "计算说明", W)]
PUBLIC_HEALTH = [Col("pool_zh", "资金池"), Col("community_id", "医共体"), Col("unit_id", "单位编码"),
                 Col("unit_name", "单位名称"), Col("tier", "层级"),
                 Col("work_points", "工分", "float"), Col("quality_score", "质量得分", "float"),
                 Col("quality_coefficient", "质量系数", "ratio"), Col("weight", "权重", "float"),
                 Col("tier_pool", "层级资金", M), Col("allocation", "分配金额", M),
                 Col("prepaid", "已预拨", M), Col("balance", "清算差额", M),
                 Col("explanation", "计算说明", W)]
PROBLEMS = [Col("severity_zh", "级别"), Col("table", "数据表"), Col("file", "文件"),
            Col("row", "行号", "int"), Col("column", "列"), Col("value", "值"),
            Col("subject", "涉及单位/病例", W), Col("message_zh", "问题说明", W),
            Col("rule", "规则编号")]
PARAMS = [Col("label_zh", "参数"), Col("value", "取值", W), Col("unit_zh", "单位"),
          Col("reference", "依据文件", W), Col("since", "生效日期"), Col("path", "参数路径")]
CHECK_SUMMARY = [Col("check", "校验项"), Col("label_zh", "恒等式"), Col("scopes", "校验次数", "int"),
                 Col("passed", "通过次数", "int"), Col("ok_zh", "结果")]
CHECKS = [Col("check", "校验项"), Col("scope", "范围"), Col("label_zh", "恒等式"),
          Col("left", "左边", M), Col("right", "右边", M), Col("ok_zh", "结果")]


def write_summary(path: Path, results: Mapping[str, pd.DataFrame], ctx: ReportContext) -> Path:
    book = new_workbook(path, f"{ctx.county} {ctx.year} 年度结算汇总", ctx.created_at)
    st = Styles(book)
    names = ctx.unit_names()
    get = lambda name: results.get(name, pd.DataFrame())  # noqa: E731
    table = lambda name, frame, cols, total: _table(book, st, ctx, name, frame, cols, total)  # noqa
    overview = Sheet(book, st, "总览")
    charts = Sheet(book, st, "图表")
    table("基金预算", _with_names(get("community_settlement"), ctx), BUDGET, "合计")
    table(ctx.dz("DIP结算"), _with_units(get("dip_units"), names),
          [Col(c.name, ctx.dz(c.header), c.kind) for c in DIP], "合计")
    table("结余分配", _with_units(get("unit_distribution"), names), DISTRIBUTION, "合计")
    chronic = Sheet(book, st, "慢病包干")
    row = chronic.block(get("chronic_settlement"), CHRONIC, _title(chronic, ctx, "慢病包干"), "合计")
    _setup_titled(chronic, CHRONIC, get("chronic_settlement"))
    chronic.block(_with_units(get("chronic_units"), names), CHRONIC_UNITS, row + 1, "合计",
                  title="管理单位分配")
    ph = _with_units(get("public_health_allocation"), names)
    if "pool" in ph:
        ph = ph.assign(pool_zh=ph["pool"].map(lambda p: POOL_ZH.get(str(p), str(p))))
    if "tier" in ph:
        tiers = {**TIER_ZH, **ctx.tier_labels}  # the config's own names first
        ph = ph.assign(tier=ph["tier"].map(lambda t: tiers.get(str(t), t)))
    table("公卫经费", ph, PUBLIC_HEALTH, "合计")
    table("指标", _indicators(get("indicators"), ctx), INDICATORS, None)
    audit_sheet(book, st, results, ctx, lambda sh, name: _title(sh, ctx, name))  # issue 11
    assessment_sheet(book, st, results, lambda sh, name: _title(sh, ctx, name))
    fees_sheet(book, st, results, ctx, lambda sh, name: _title(sh, ctx, name))
    table("对账", _reconciliation(results, ctx), _reconciliation_cols(ctx), "合计")
    _checks(Sheet(book, st, "校验"), ctx, get("reconciliation_checks"), results)
    _overview(overview, results, ctx, charts)
    table("参数", params_frame(ctx.param_trace, ctx.param_sources), PARAMS, None)
    book.close()
    return path


# ------------------------------------------------------------------ helpers
def _with_units(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    if frame.empty or "unit_id" not in frame or "unit_name" in frame:
        return frame
    return frame.assign(unit_name=frame["unit_id"].astype(str).map(names))


def _with_names(frame: pd.DataFrame, ctx: ReportContext) -> pd.DataFrame:
    if frame.empty or "community_id" not in frame:
        return frame
    return frame.assign(community_name=[ctx.community_name(c) for c in frame["community_id"]])


TITLE_ROWS = 3  # title, identity line, blank: every detail sheet starts with them


def _title(sheet: Sheet, ctx: ReportContext, name: str) -> int:
    """Title and run identity on top of a detail sheet; returns the table's first row."""
    put_text(sheet.ws, 0, 0, f"{ctx.county} {ctx.year} 年度医共体结算汇总 · {name}", sheet.st.title)
    put_text(sheet.ws, 1, 0, f"县（区）：{ctx.county}　结算年度：{ctx.year}　运行编号：{ctx.run_id}　"
                             f"方案：{ctx.scenario_zh}　金额单位：元", sheet.st.info)
    sheet.ws.set_row(0, 24)
    return TITLE_ROWS


def _setup_titled(sheet: Sheet, cols: list[Col], frame: pd.DataFrame | None) -> None:
    n = len([c for c in cols if frame is not None and c.name in frame.columns])
    rows = 0 if frame is None else len(frame)
    sheet.setup(TITLE_ROWS, n, filter_rows=rows or None)


def _table(book, st, ctx: ReportContext, name: str, frame: pd.DataFrame, cols: list[Col],
           total: str | None) -> Sheet:
    sheet = Sheet(book, st, name)
    sheet.block(frame, cols, _title(sheet, ctx, name), total)
    _setup_titled(sheet, cols, frame)
    return sheet


INDICATORS = [Col("scope_zh", "范围"), Col("label_zh", "指标"), Col("numerator_n", "分子", "int"),
              Col("numerator_y", "分子（元）", M), Col("denominator_n", "分母", "int"),
              Col("denominator_y", "分母（元）", M), Col("value_pct", "指标值（%）", "pct"),
              Col("value_num", "指标值（数值）", "float"), Col("value_yuan", "指标值（元）", M),
              Col("target_pct", "目标值（%）", "pct"), Col("target_num", "目标值（数值/元）", "float"),
              Col("direction_zh", "目标方向"),
              Col("met", "是否达标", "bool")]


def _indicators(frame: pd.DataFrame, ctx: ReportContext) -> pd.DataFrame:
    """Counts as integers, money (counted in 分) as yuan, scopes in Chinese (全县 / 医共体名);
    the value in % for shares and rates, in yuan for 次均费用 (exact fen), else as a number
    (per thousand insured, days)."""
    from settlement.stages.indicators import MONEY_PER_CASE, SCALE

    if frame.empty:
        return frame
    counted = frame.get("counted", pd.Series("", index=frame.index)).astype(str)
    money = counted.eq("分")  # both parts counted in fen
    per_case = counted.str.startswith("元")  # 元/人次: fen ÷ cases (次均费用)
    num, den = frame["numerator"].astype("float64"), frame["denominator"].astype("float64")
    scope = frame["scope"].astype(str)
    code = frame["indicator"].astype(str)
    yuan = code.isin(MONEY_PER_CASE)  # exact fen per case or visit
    ratio = ~yuan & ~code.isin(SCALE) & ~counted.isin(["天/人次"])  # shares and rates: in %
    value, target = frame["value"].astype("float64"), frame["target"].astype("float64")
    return frame.assign(
        value_pct=value.where(ratio), value_num=value.where(~ratio & ~yuan),
        value_yuan=value.round().astype("Int64").where(yuan),
        target_pct=target.where(ratio), target_num=target.where(~ratio),
        scope_zh=[("全县" if s == "county" else ctx.community_name(s)) for s in scope],
        numerator_n=num.round().astype("Int64").where(~money & ~per_case),
        denominator_n=den.round().astype("Int64").where(~money),
        numerator_y=num.round().astype("Int64").where(money | per_case),
        denominator_y=den.round().astype("Int64").where(money),
        direction_zh=frame.get("direction", pd.Series("", index=frame.index))
        .map({"at_least": "不低于", "below": "低于"}),
        met=frame["met"].astype("boolean") if "met" in frame else pd.NA)


def _reconciliation_cols(ctx: ReportContext) -> list[Col]:
    cols = [Col("unit_id", "单位编码"), Col("unit_name", "单位名称"), Col("community_id", "医共体")]
    for fund in FUNDS:
        zh = fund_zh(fund, ctx.drg)
        cols += [Col(f"{fund}_entitlement", f"{zh}\n应得", M), Col(f"{fund}_prepaid", f"{zh}\n已预付", M),
                 Col(f"{fund}_balance", f"{zh}\n差额", M)]
    return cols + [Col("net", "净结算额\n(+应拨/−应退)", M)]


def _reconciliation(results: Mapping[str, pd.DataFrame], ctx: ReportContext) -> pd.DataFrame:
    """One row per unit: entitlement / prepaid / balance of each fund, and the net."""
    funds = results.get("unit_funds")
    statement = results["unit_statement"]
    if funds is None or funds.empty:
        return pd.DataFrame()
    wide = funds.pivot_table(index="unit_id", columns="fund",
                             values=["entitlement", "prepaid", "balance"], aggfunc="sum")
    wide.columns = [f"{fund}_{what}" for what, fund in wide.columns]
    nets = statement.loc[statement["line"] == "net"].set_index("unit_id")["amount"]
    wide = wide.reindex(nets.index.astype(str)).fillna(0).astype("int64")
    wide["net"] = nets.to_numpy()
    wide = wide.reset_index().rename(columns={"index": "unit_id"})
    info = {u: ctx.unit_row(u) for u in wide["unit_id"]}
    wide.insert(1, "unit_name", [info[u].get("unit_name") for u in wide["unit_id"]])
    wide.insert(2, "community_id", [info[u].get("community_id") for u in wide["unit_id"]])
    return wide


def _checks(sheet: Sheet, ctx: ReportContext, checks: pd.DataFrame,
            results: Mapping[str, pd.DataFrame]) -> None:
    problems = problems_frame(list(ctx.problems))
    if not problems.empty:
        problems = problems.assign(severity_zh=problems["severity"].map(SEVERITY_ZH),
                                   subject=[problem_subject(p, results, ctx)
                                            for p in problems.itertuples(index=False)])
    top = _title(sheet, ctx, "校验")
    row = sheet.block(problems, PROBLEMS, top, None)
    _setup_titled(sheet, PROBLEMS, problems)
    if problems.empty:
        put_text(sheet.ws, top, 0, "问题清单：未发现问题", sheet.st.note)
    if checks is None or checks.empty:
        sheet.block(None, CHECK_SUMMARY, row + 1, None, title="对账恒等式校验（零容差）")
        return
    summary = checks.groupby(["check", "label_zh"], sort=False).agg(
        scopes=("ok", "size"), passed=("ok", "sum")).reset_index()
    summary["ok_zh"] = (summary["scopes"] == summary["passed"]).map({True: "通过", False: "不平"})
    row = sheet.block(summary, CHECK_SUMMARY, row + 1, None, title="对账恒等式校验（零容差）汇总")
    detail = checks.loc[checks["check"].str.startswith(("bureau.", "flow.")) | ~checks["ok"].astype(bool)]
    detail = detail.assign(ok_zh=detail["ok"].map({True: "通过", False: "不平"}),
                           scope=detail["scope"].replace({"county": "全县"}))
    sheet.block(detail, CHECKS, row + 1, None, title="医保基金恒等式明细（逐医共体及全县）")


def _overview(sheet: Sheet, results: Mapping[str, pd.DataFrame], ctx: ReportContext,
              charts: Sheet) -> None:
    write_overview(sheet, results, ctx, charts)


def problem_subject(p, results: Mapping[str, pd.DataFrame], ctx: ReportContext) -> str:
    """The unit, community or cases a warning is about, by name (校验 names who)."""
    names = ctx.unit_names()
    value = str(p.value or "")
    out = []
    if value in names:
        out.append(f"{names[value]}（{value}）")
    elif value and value in {str(c) for c in ctx.communities["community_id"]}:
        out.append(f"{ctx.community_name(value)}（{value}）")
    for cid in ctx.communities["community_id"].astype(str):
        if not out and f"医共体 {cid}" in str(p.message_zh):
            out.append(f"{ctx.community_name(cid)}（{cid}）")
    if p.rule == "dip.extreme_ratio" and value:
        out.append(_extreme_cases(value, results, ctx))
    return "；".join(x for x in out if x)


def _extreme_cases(unit_id: str, results: Mapping[str, pd.DataFrame], ctx: ReportContext) -> str:
    cases = results.get("dip_cases")
    trace = ctx.param_trace.get("dip.extreme_ratio_bound") if ctx.param_trace else None
    if cases is None or cases.empty or trace is None:
        return ""
    extreme = cases.loc[cases["ratio"].astype(float) > float(trace.value)]  # few of 725,000
    mine = extreme.loc[extreme["unit_id"].astype(str) == unit_id]
    ids = mine["case_id"].astype(str).tolist()
    shown = "、".join(ids[:20]) + (f" 等 {len(ids)} 例" if len(ids) > 20 else "")
    return f"病例 {shown}（倍率 " + "、".join(f"{r:.2f}" for r in mine["ratio"].astype(float)[:20]) + "）" if ids else ""
