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
from settlement.reconcile import FUND_ZH, FUNDS, POOL_ZH
from settlement.report.context import ReportContext
from settlement.report.layout import Col, Sheet, Styles, new_workbook, put_text
from settlement.report.overview import write_overview

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
            Col("rule", "规则"), Col("message_zh", "问题说明", W)]
PARAMS = [Col("path", "参数"), Col("source", "取值（单位，依据文件，生效日期）", W)]
CHECK_SUMMARY = [Col("check", "校验项"), Col("label_zh", "恒等式"), Col("scopes", "校验次数", "int"),
                 Col("passed", "通过次数", "int"), Col("ok_zh", "结果")]
CHECKS = [Col("check", "校验项"), Col("scope", "范围"), Col("label_zh", "恒等式"),
          Col("left", "左边", M), Col("right", "右边", M), Col("ok_zh", "结果")]


def write_summary(path: Path, results: Mapping[str, pd.DataFrame], ctx: ReportContext) -> Path:
    book = new_workbook(path, f"{ctx.county} {ctx.year} 年度结算汇总", ctx.created_at)
    st = Styles(book)
    names = ctx.unit_names()
    get = lambda name: results.get(name, pd.DataFrame())  # noqa: E731
    overview = Sheet(book, st, "总览")
    _table(book, st, "基金预算", _with_names(get("community_settlement"), ctx), BUDGET, "合计")
    _table(book, st, "DIP结算", _with_units(get("dip_units"), names), DIP, "合计")
    _table(book, st, "结余分配", _with_units(get("unit_distribution"), names), DISTRIBUTION, "合计")
    chronic = Sheet(book, st, "慢病包干")
    row = chronic.block(get("chronic_settlement"), CHRONIC, 0, "合计")
    chronic.block(_with_units(get("chronic_units"), names), CHRONIC_UNITS, row + 1, "合计",
           title="管理单位分配")
    ph = _with_units(get("public_health_allocation"), names)
    if "pool" in ph:
        ph = ph.assign(pool_zh=ph["pool"].map(lambda p: POOL_ZH.get(str(p), str(p))))
    _table(book, st, "公卫经费", ph, PUBLIC_HEALTH, "合计")
    _indicators(Sheet(book, st, "指标"), get("indicators"))
    _table(book, st, "对账", _reconciliation(results, ctx), _reconciliation_cols(), "合计")
    _checks(Sheet(book, st, "校验"), ctx, get("reconciliation_checks"))
    _overview(overview, results, ctx)
    params = pd.DataFrame(sorted(ctx.param_sources.items()), columns=["path", "source"])
    _table(book, st, "参数", params, PARAMS, None)
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


def _table(book, st, name: str, frame: pd.DataFrame, cols: list[Col], total: str | None) -> Sheet:
    sheet = Sheet(book, st, name)
    sheet.block(frame, cols, 0, total)
    return sheet


def _indicators(sheet: Sheet, frame: pd.DataFrame) -> None:
    """Money numerators (counted in 分) are written in yuan; counts as counts."""
    cols = [Col("scope", "范围"), Col("label_zh", "指标"), Col("numerator", "分子", "float"),
            Col("denominator", "分母", "float"), Col("unit_zh", "计量"), Col("value", "指标值", "pct"),
            Col("target", "目标值", "pct"), Col("direction_zh", "目标方向"), Col("met", "是否达标", "bool")]
    if frame.empty:
        sheet.block(frame, cols, 0, None)
        return
    money = frame.get("counted", pd.Series("", index=frame.index)).astype(str).eq("分")
    f = frame.assign(
        numerator=frame["numerator"].astype("float64").where(~money, frame["numerator"] / 100),
        denominator=frame["denominator"].astype("float64").where(~money, frame["denominator"] / 100),
        unit_zh=frame.get("counted", pd.Series("", index=frame.index)).astype(str)
        .replace({"分": "元"}),
        direction_zh=frame.get("direction", pd.Series("", index=frame.index))
        .map({"at_least": "不低于", "below": "低于"}),
        met=frame["met"].astype("boolean") if "met" in frame else pd.NA)
    sheet.block(f, cols, 0, None)


def _reconciliation_cols() -> list[Col]:
    cols = [Col("unit_id", "单位编码"), Col("unit_name", "单位名称"), Col("community_id", "医共体")]
    for fund in FUNDS:
        zh = FUND_ZH[fund]
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


def _checks(sheet: Sheet, ctx: ReportContext, checks: pd.DataFrame) -> None:
    problems = problems_frame(list(ctx.problems))
    if not problems.empty:
        problems = problems.assign(severity_zh=problems["severity"].map(SEVERITY_ZH))
    row = sheet.block(problems, PROBLEMS, 0, None)
    if problems.empty:
        put_text(sheet.ws, 0, 0, "问题清单：未发现问题", sheet.st.note)
    if checks is None or checks.empty:
        sheet.block(None, CHECK_SUMMARY, row + 1, None, title="对账恒等式校验（零容差）")
        return
    summary = checks.groupby(["check", "label_zh"], sort=False).agg(
        scopes=("ok", "size"), passed=("ok", "sum")).reset_index()
    summary["ok_zh"] = (summary["scopes"] == summary["passed"]).map({True: "通过", False: "不平"})
    row = sheet.block(summary, CHECK_SUMMARY, row + 1, None, title="对账恒等式校验（零容差）汇总")
    detail = checks.loc[checks["check"].str.startswith("bureau.") | ~checks["ok"].astype(bool)]
    detail = detail.assign(ok_zh=detail["ok"].map({True: "通过", False: "不平"}))
    sheet.block(detail, CHECKS, row + 1, None, title="医保基金恒等式明细（逐医共体及全县）")


def _overview(sheet: Sheet, results: Mapping[str, pd.DataFrame], ctx: ReportContext) -> None:
    write_overview(sheet, results, ctx)
