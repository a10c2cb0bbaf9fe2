"""The bureau's reconciliation workbook (医保对账.xlsx).

    医共体对账    one column per community and the county; rows: the fund-outflow identity
                  (package − returned + fund shares = what the fund paid, split in-county /
                  external, difference 0.00) and the year-end settlement (DIP clearing, package
                  and chronic settlement net of prepayments, what the fund pays or recovers)
                  and the flow of funds (三: owed, paid outside, paid to units, advances, year end)
    成员单位对账  per member unit: each fund's balance, the same net split by payer (医保基金 /
                  医共体 / 卫健委公卫资金) and the net — the number on the unit's statement
    校验          the reconciliation checks (all 通过, or the run would have stopped)

Public-health money is not insurance-fund money: it appears only as the payer 卫健委公卫资金
column, so a unit's net here equals its statement's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from settlement.report.context import ReportContext
from settlement.money import yuan_display
from settlement.report.layout import Col, Sheet, Styles, fit_width, new_workbook, put_money, put_text
from settlement.report.summary import CHECKS
from settlement.report.audit import audit_sheet

# (column of bureau_communities, label, how)
IDENTITY = [
    ("package", "打包额 P", "医共体结算的打包额（已扣除单列项目）"),
    ("chronic_carve_out", "加：单列的慢病包干预算 B−K", "慢病包干单列时的包干预算"),
    ("surplus_returned", "减：结余返还基金 R", "结余未留用部分"),
    ("chronic_surplus_returned", "减：慢病包干结余返还基金 r", ""),
    ("overrun_fund_share", "加：基金分担超支 F", "合理超支中基金承担部分"),
    ("chronic_fund_share", "加：基金分担慢病包干超支 f", ""),
    ("identity", "应支出（恒等式右边）", "P + (B−K) − R − r + F + f"),
    ("expenditure", "计入打包的基金支出 E", "DIP 应付 + 县外及非成员机构 + 门诊 + 其他"),
    ("capitation_in_package", "减：打包内列支的慢病包干预算 K", "未单列时包干预算计为打包支出"),
    ("chronic_spend", "加：慢病包干人员基金支出 S", ""),
    ("package_settlement", "加：结余留用(+)/自担超支(−) Y", "成员单位分配合计"),
    ("chronic_settlement", "加：慢病包干留用(+)/自担(−) Z", "管理单位分配合计"),
    ("outflow", "基金支出（恒等式左边）", "E − K + S + Y + Z（全县 DIP 按成员单位结算）"),
    ("external_payments", "其中：县外及非成员机构支付", "X + 慢病人员县外支出"),
    ("in_county_payments", "其中：县域内支付", "基金支出 − 县外支付"),
    ("difference", "差额（应为 0.00）", "左边 − 右边"),
]
YEAR_END = [
    ("dip_clearing", "DIP 年度清算（成员单位合计）", "基金实付 − 月度预结算"),
    ("package_settlement", "结余留用/自担超支", "Y"),
    ("package_prepaid", "减：结余分配已预拨", "打包基金预付款"),
    ("package_due", "结余分配应结算", "Y − 已预拨"),
    ("chronic_settlement", "慢病包干留用/自担", "Z"),
    ("chronic_prepaid", "减：慢病包干已预拨", "慢病包干预付款"),
    ("chronic_due", "慢病包干应结算", "Z − 已预拨"),
    ("year_end_due", "年终应拨付(+)/应收回(−)", "DIP 清算 + 结余分配 + 慢病包干"),
    ("dip_withholding_kept", "质量保证金扣留未返还", "预留 − 返还（基金留存）"),
    ("cash_outflow", "基金实际支出", "基金支出 − 质量保证金扣留"),
]
FLOWS = [
    ("entitlement", "医保基金应支出 T", "恒等式右边"),
    ("paid_outside", "减：付给本医共体以外的机构 O", "县外及非成员机构 + 其他医共体医院 + 医共体外门诊"),
    ("kept", "减：基金留存的质量保证金 W", "预留未返还，按病例基金应付分摊"),
    ("paid_to_units", "医保基金直接支付成员单位 U", "住院（预结算 + 清算）+ 门诊即时结算 + 其他"),
    ("advances", "年内预拨医共体 A", "打包基金与慢病包干预付款"),
    ("year_end_community", "年终与医共体结算（+拨付/−收回）", "Y + Z − A"),
    ("flow_difference", "核对：U + A + 年终 − (T − O − W)（应为 0.00）", "零容差"),
]
UNITS = [Col("community_id", "医共体"), Col("unit_id", "单位编码"), Col("unit_name", "单位名称"),
         Col("dip", "住院年度清算", "money"), Col("package", "结余分配/超支分担", "money"),
         Col("chronic", "慢病包干", "money"), Col("public_health", "基本公卫经费", "money"),
         Col("paid_by_fund", "付款方：医保基金", "money"),
         Col("paid_by_community", "付款方：医共体", "money"),
         Col("paid_by_health_commission", "付款方：卫健委公卫资金", "money"),
         Col("net", "净结算额（与结算单一致）", "money")]


def write_bureau(path: Path, results: Mapping[str, pd.DataFrame], ctx: ReportContext) -> Path:
    book = new_workbook(path, f"{ctx.county} {ctx.year} 年度医保基金对账", ctx.created_at)
    st = Styles(book)
    _communities(Sheet(book, st, "医共体对账"), _with_flows(results), ctx)
    units = results.get("bureau_units", pd.DataFrame())
    sheet = Sheet(book, st, "成员单位对账")
    sheet.block(units, [Col(c.name, ctx.dz(c.header), c.kind) for c in UNITS], 0, "合计")
    Sheet(book, st, "校验").block(_checks(results.get("reconciliation_checks")), CHECKS)
    audit_sheet(book, st, results, ctx, lambda sh, name: 0)  # issue 11: 报销审核
    book.close()
    return path


def _with_flows(results: Mapping[str, pd.DataFrame]) -> pd.DataFrame | None:
    frame, flows = results.get("bureau_communities"), results.get("community_flows")
    if frame is None or frame.empty or flows is None or flows.empty:
        return frame
    keep = [c for c, _, _ in FLOWS if c in flows and c not in frame]
    merged = frame.merge(flows[["community_id", *keep]].astype({"community_id": str}),
                         on="community_id", how="left")
    merged[keep] = merged[keep].fillna(0).astype("int64")
    merged["flow_difference"] = (merged["paid_to_units"] + merged["advances"]
                                 + merged["year_end_community"]
                                 - (merged["entitlement"] - merged["paid_outside"] - merged["kept"]))
    return merged


def _checks(checks: pd.DataFrame | None) -> pd.DataFrame:
    if checks is None or checks.empty:
        return pd.DataFrame()
    return checks.assign(ok_zh=checks["ok"].map({True: "通过", False: "不平"}),
                         scope=checks["scope"].replace({"county": "全县"}))


def _communities(sheet: Sheet, frame: pd.DataFrame | None, ctx: ReportContext) -> None:
    ws, st = sheet.ws, sheet.st
    put_text(ws, 0, 0, f"{ctx.county} {ctx.year} 年度医保基金对账（运行编号 {ctx.run_id}）", st.title)
    put_text(ws, 1, 0, "金额单位：元。基金支出 = 打包额 − 结余返还 + 基金分担超支（含县外支付），"
                       "逐医共体及全县核对，零容差。", st.note)
    ws.set_row(0, 24)
    header = 3
    if frame is None or frame.empty:
        put_text(ws, header, 0, "（本次结算无医共体结算结果）", st.note)
        sheet.setup(header)
        return
    frame = frame.assign(difference=frame["outflow"] - frame["identity"])
    names = frame["community_name"].astype(str).tolist()
    for j, head in enumerate(["项目", "计算方法", *names]):
        ws.write_string(header, j, head, st.header)
    row = header + 1
    parts = [("一、基金支出恒等式", IDENTITY), ("二、年终清算", YEAR_END)]
    if "flow_difference" in frame:
        parts.append(("三、资金流向（详见各医共体结算单 communities/）", FLOWS))
    for title, items in parts:
        ws.merge_range(row, 0, row, 1 + len(names), "", st.section)
        ws.write_string(row, 0, title, st.section)
        row += 1
        for col, label, how in items:
            strong = col in ("identity", "outflow", "difference", "year_end_due")
            fmt = st.total if strong else st.by_kind
            put_text(ws, row, 0, ctx.dz(label), fmt["text"])
            put_text(ws, row, 1, ctx.dz(how), fmt["text"])
            for j, value in enumerate(frame[col].tolist(), start=2):
                put_money(ws, row, j, int(value), fmt["money"])
            row += 1
    items = [x for _, part in parts for x in part]
    sheet.widen(0, fit_width([x[1] for x in items], "项目"))
    sheet.widen(1, fit_width([x[2] for x in items], "计算方法"))
    money = list(dict.fromkeys(col for col, _, _ in items))
    for j, name in enumerate(names, start=2):
        sheet.widen(j, fit_width([yuan_display(int(v)) for v in frame[money].iloc[j - 2]], name))
    sheet.setup(header)
    ws.freeze_panes(header + 1, 2)
