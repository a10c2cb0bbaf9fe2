"""``results/结果明细.xlsx``: the result tables for people (结果明细), beside the CSVs for programs.

One sheet per result table, Chinese sheet names and column headers, every id and text cell
written as text (so 01001 keeps its leading zero when a finance officer opens it in Excel),
money as exact yuan numbers (``#,##0.00``), counts and ratios as numbers. Sheet 说明 lists
each sheet's table name and each column's Chinese header with the CSV column name. A table of
more than ``MAX_ROWS`` rows (the case list of a county, its flagged claims) is a one-line
note pointing to its CSV, so the workbook stays quick to write and to open. 10,000 rows:
the sample county's 7,000 cases still fit; a county's 72,000 cases (21 columns, 1.5 M
cells) took 20 s of the run's writing to land in a sheet nobody reads row by row — they
filter the CSV — while the result tables people do read (statements' lines, allocations,
checks) stay well under it at every scale (the units do not grow with the cases).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from settlement import vocabulary as v
from settlement.reconcile.lines import FUND_ZH, PAYER_ZH
from settlement.report.context import ReportContext
from settlement.report.layout import Col, Sheet, Styles, display_width, new_workbook, put_text
from settlement.report.results_csv import money_columns
from settlement.wording import DIRECTION_ZH, ENUM_ZH, quarter_zh

BOOK_NAME = "结果明细.xlsx"
MAX_ROWS = 10_000  # a sheet beyond this is a note pointing to the CSV (see the module doc)
SHEET_ZH = {
    "dip_cases": "DIP病例", "dip_units": "DIP机构结算", "community_settlement": "医共体结算",
    "unit_distribution": "成员单位分配", "chronic_settlement": "慢病包干", "chronic_units": "慢病管理单位",
    "public_health_allocation": "公卫经费分配", "public_health_pools": "公卫资金池", "indicators": "考核指标",
    "unit_statement": "结算单明细", "ledger": "医共体台账", "dip_ledger": "DIP台账",
    "unit_funds": "分资金结算", "bureau_communities": "医保对账医共体", "bureau_units": "医保对账成员单位",
    "reconciliation_checks": "对账校验", "expenditure": "支出明细", "community_flows": "资金流向",
    "claims_audit": "报销审核", "village_guarantee": "村医保底", "family_doctor_fees": "家医签约费",
    "public_health_plan": "公卫季度预拨方案",  # issue 10.5 (H11)
}
HEADER_ZH = {
    "case_id": "病例号", "claim_id": "结算单号", "unit_id": "单位编码", "unit_name": "单位名称",
    "community_id": "医共体编码", "community_name": "医共体名称", "dip_group": "病种", "ratio": "倍率",
    "case_class": "病例类型", "base_score": "病种分值", "coefficient": "系数", "points": "分值",
    "gross_value": "分值金额", "fund_due": "基金应付", "cases": "病例数", "point_value": "结算点值",
    "self_pay": "个人负担", "violation_deduction": "违规扣款", "withheld": "预留质量保证金",
    "returned": "返还质量保证金", "fund_paid": "基金实付", "prepaid": "已预付", "balance": "结算差额",
    "financing": "筹资总额", "available": "可用基金", "reserve": "风险金", "package": "打包额",
    "expenditure": "支出合计", "expenditure_dip": "成员单位住院", "expenditure_dip_rounding": "住院结算尾差",
    "expenditure_external": "县外及非成员机构", "expenditure_outpatient": "门诊",
    "expenditure_other": "其他打包支出", "expenditure_external_county": "县内非成员机构住院",
    "expenditure_external_city": "市内县外住院", "expenditure_external_province": "省内市外住院",
    "expenditure_external_national": "省外住院", "expenditure_outpatient_general": "普通门诊",
    "expenditure_outpatient_chronic_special": "门诊慢特病", "expenditure_outpatient_two_diseases": "两病门诊",
    "surplus_retained": "结余留用", "surplus_returned": "结余返还基金", "overrun_fund_share": "基金分担超支",
    "overrun_community_share": "医共体自担超支", "community_score": "考核得分", "community_coefficient": "考核系数",
    "tier": "层级", "weight": "权重", "performance_coefficient": "绩效系数", "surplus_share": "结余分配",
    "overrun_share": "超支分担", "enrollees": "纳入人数", "person_months": "人月数", "budget": "包干预算",
    "spend": "包干支出", "retained": "留用", "fund_share": "基金分担", "community_share": "医共体自担",
    "pool": "资金池", "work_points": "工分", "quality_coefficient": "质量系数", "quality_score": "质量得分",
    "allocation": "分配金额", "scope": "范围", "indicator": "指标代码", "label_zh": "项目",
    "numerator": "分子", "denominator": "分母", "value": "指标值", "target": "目标值", "met": "是否达标",
    "line": "行代码", "amount": "金额", "explanation": "计算说明", "fund": "资金类别", "payer": "付款方",
    "section": "部分", "entitlement": "应得金额", "check": "校验项", "left": "左边", "right": "右边",
    "ok": "通过", "net": "净结算额", "dip": "住院清算", "chronic": "慢病包干", "public_health": "公卫经费",
    "total": "医保基金结算合计", "paid_by_fund": "付款方：医保基金", "paid_by_community": "付款方：医共体",
    "paid_by_health_commission": "付款方：卫健委公卫资金", "cases_dip": "成员单位病例数",
    "cases_external": "县外病例数", "claims_outpatient": "门诊结算数", "score": "考核得分",
    "at_cost": "未入组按实际支付", "level": "医院等级", "period": "期间", "rule": "规则编号",
    "quarter": "季度", "quarter_pool": "本季度预拨资金", "planned": "方案预拨", "basis": "编制依据",
    "rule_zh": "规则", "difference": "差额", "direction": "目标方向", "chronic_carve_out": "单列慢病预算",
    "capitation_in_package": "打包内慢病预算", "chronic_spend": "慢病人员支出", "package_settlement": "结余分配合计",
    "chronic_settlement": "慢病分配合计", "outflow": "基金支出", "identity": "应支出",
    "external_payments": "县外支付", "in_county_payments": "县域内支付", "chronic_surplus_returned": "慢病结余返还",
    "chronic_fund_share": "基金分担慢病超支", "package_prepaid": "打包预拨", "chronic_prepaid": "慢病预拨",
    "dip_clearing": "住院年度清算", "package_due": "结余分配应结算", "chronic_due": "慢病应结算",
    "year_end_due": "年终应结算", "dip_withholding_kept": "保证金留存", "cash_outflow": "基金实际支出",
    "dip_in": "本医共体医院住院", "dip_rounding": "住院尾差", "kept_in": "保证金留存（本医共体医院）",
    "outpatient_in": "本医共体门诊", "other_direct": "其他直接支付", "units_share_direct": "直接拨付单位分配",
    "paid_to_units": "直接支付成员单位", "package_advance": "打包预拨", "chronic_advance": "慢病预拨",
    "advances": "预拨合计", "year_end_community": "年终与医共体结算", "paid_to_community": "拨付医共体合计",
    "dip_out": "其他医共体医院住院", "kept_out": "保证金留存（其他医院）", "external": "县外及非成员机构",
    "outpatient_out": "医共体外门诊", "paid_outside": "付给医共体以外", "kept": "保证金留存",
    "dip_for_others": "为其他医共体参保人员住院", "kept_for_others": "其他医共体参保人员保证金留存",
    "hospitals_fund_paid": "成员医院基金实付", "gross": "资金总额", "reserved": "县级预留",
    "allocated": "已分配", "unallocated": "未分配", "spend_dip": "包干人员住院", "spend_external": "包干人员县外",
    "spend_outpatient": "包干人员门诊", "coefficient_source": "系数来源", "settlement": "结算方式",
    "claim_fund_paid": "结算单基金支付", "review_flag": "需复核", "excluded_reason": "不予结算原因",
    "approved_points": "核定分值", "category": "机构类别", "tier_label": "层级名称",
    "base_measure": "分配依据", "base_value": "依据数值", "package_source": "打包额来源",
    "claim_kind": "类型", "policy_cost": "政策范围内费用", "applied_ratio": "执行比例",
    "expected_ratio": "应执行比例", "applied_deductible": "执行起付线",
    "expected_deductible": "应执行起付线", "expected_fund_paid": "应支付",
}


# Codes of a results table shown in Chinese in the workbook (the CSV keeps the code: the contract).
# A column whose codes sit beside their Chinese (line + label_zh, rule + rule_zh, indicator +
# label_zh, check + label_zh) keeps them, so a row can be matched to the CSV.
_SCOPE_ZH = {"county": v.COUNTY_WIDE_ZH}  # an indicator's / a check's scope: the county or an id
VALUE_ZH: dict[str, Mapping[str, str]] = {
    "section": v.DIP_LEDGER_SECTION_ZH, "case_class": v.CASE_CLASS_ZH, "level": v.LEVEL_ZH,
    "category": v.CATEGORY_ZH, "pool": v.POOL_ZH, "fund": FUND_ZH, "payer": PAYER_ZH,
    "tier": v.TIER_ZH, "claim_kind": v.CLAIM_KIND_ZH, "claim_type": v.CLAIM_TYPE_ZH,
    "scope": _SCOPE_ZH, "by": v.AUDIT_BY_ZH, "settlement": v.DIP_SETTLEMENT_ZH,
    "coefficient_source": v.COEFFICIENT_SOURCE_ZH, "direction": DIRECTION_ZH,
    "package_source": ENUM_ZH, "base_measure": ENUM_ZH,
}
TABLE_VALUE_ZH: dict[tuple[str, str], Mapping[str, str]] = {
    ("reimbursement_table_check", "scope"): v.SCOPE_ZH,  # 县内 / 市内县外 / 省内市外 / 省外
    ("claims_audit_totals", "key"): {"county": v.COUNTY_WIDE_ZH},
    ("ledger", "section"): v.LEDGER_SECTION_ZH,  # 医共体台账: package / settlement / distribution
    ("reimbursement_table_check", "compared_with"): {**v.SCOPE_ZH, **v.LEVEL_ZH},  # 'city secondary'
    ("reimbursement_table_check", "level"): v.LEVEL_ZH,
    ("unit_distribution", "tier"): {**v.TIER_ZH, "excluded": "不参与分配"},
    ("community_flows", "community_id"): {"county": v.COUNTY_WIDE_ZH},
    ("bureau_communities", "community_id"): {"county": v.COUNTY_WIDE_ZH},
}
PERIOD_COLUMNS = ("period", "quarter", "month")  # 2025Q1 → 2025 年第 1 季度, 2025-03 → 2025 年 3 月


def _value_zh(text: str, table: Mapping[str, str]) -> str:
    """A code in Chinese; 'H0001/public_health' (a unit's fund) → 'H0001/基本公共卫生服务经费',
    'city secondary' → '市内县外 二级', 'province、national' → '省内市外、省外' (each word)."""
    if text in table:
        return table[text]
    if " " in text or "、" in text:
        return "".join(w if w in (" ", "、") else _value_zh(w, table) for w in re.split(r"([ 、])", text))
    head, slash, fund = text.rpartition("/")
    if slash and fund in FUND_ZH:
        return f"{_value_zh(head, table)}/{FUND_ZH[fund]}"
    return text


def shown(name: str, frame: pd.DataFrame, tiers: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``frame`` as the workbook shows it: its code columns in Chinese, periods in words;
    ``tiers``: the config's own tier names (ReportContext.tier_labels), before the sample's."""
    out = {}
    for c in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[c].dtype) or pd.api.types.is_bool_dtype(frame[c].dtype):
            continue
        if c in PERIOD_COLUMNS:
            convert = quarter_zh
        elif (table := TABLE_VALUE_ZH.get((name, c), VALUE_ZH.get(c))) is not None:
            if c == "tier" and tiers:
                table = {**table, **tiers}
            convert = lambda x, t=table: _value_zh(str(x), t)  # noqa: E731
        else:
            continue
        out[c] = frame[c].map(lambda x, f=convert: x if pd.isna(x) else f(x))
    return frame.assign(**out) if out else frame


def header_zh(column: str) -> str:
    return HEADER_ZH.get(column, column)


def _cols(name: str, frame: pd.DataFrame) -> list[Col]:
    money = set(money_columns(name, frame))
    cols = []
    for c in frame.columns:
        dtype = frame[c].dtype
        kind = ("money" if c in money else "bool" if pd.api.types.is_bool_dtype(dtype)
                else "int" if pd.api.types.is_integer_dtype(dtype)
                else "float" if pd.api.types.is_float_dtype(dtype) else "text")
        cols.append(Col(c, header_zh(c), kind))
    return cols


def write_results_book(path: Path, tables: Mapping[str, pd.DataFrame], names: list[str],
                       ctx: ReportContext) -> Path:
    """The named result tables, one sheet each (in ``names`` order), plus 说明."""
    book = new_workbook(path, f"{ctx.county} {ctx.year} 年度结算结果明细", ctx.created_at)
    st = Styles(book)
    guide = []
    for name in names:
        frame = tables.get(name)
        if frame is None:
            continue
        frame = shown(name, frame.reset_index(drop=True), ctx.tier_labels)
        cols = _cols(name, frame)
        sheet = Sheet(book, st, ctx.dz(SHEET_ZH.get(name, name))[:31])
        if len(frame) > MAX_ROWS:  # case-level tables of a large county: the CSV has them
            note = (f"本表共 {len(frame):,} 行，超过本工作簿每表 {MAX_ROWS:,} 行的上限，未写入本工作簿；"
                    f"完整数据见 results/{name}.csv（用 Excel 打开时编码列请按文本导入）")
            put_text(sheet.ws, 0, 0, note, st.note)
            sheet.widen(0, display_width(note) + 2)  # the whole note on screen and on paper
            sheet.setup(0, repeat=False)
        else:
            sheet.block(frame, cols, 0, None)
        guide += [{"sheet": sheet.ws.name, "table": name, "header": c.header, "column": c.name}
                  for c in cols]
    Sheet(book, st, "说明").block(pd.DataFrame(guide), [
        Col("sheet", "工作表"), Col("table", "结果表（CSV 文件名）"), Col("header", "列标题"),
        Col("column", "CSV 列名")], 0, None)
    book.close()
    return path
