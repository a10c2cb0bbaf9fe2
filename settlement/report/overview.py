"""Sheet 总览 of 汇总.xlsx: key figures, the community ledger and three charts.

Layout, top to bottom: title and run identity; key figures per community with a county total;
the community ledger (``ledger``: every community's lines sum to 0.00); then three small data
tables, each followed by its chart: expenditure composition (stacked columns per community),
in-county vs out-of-county payments (100 % bars), distribution by tier (surplus shares
positive, overrun borne negative).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from settlement.report.context import ReportContext
from settlement.report.layout import FONT, Col, Sheet, put_text

M = "money"
KEY = [Col("community_name", "医共体"), Col("package", "打包额", M), Col("expenditure", "总支出", M),
       Col("expenditure_external", "其中：县外及非成员机构", M), Col("balance", "结余(+)/超支(−)", M),
       Col("surplus_retained", "结余留用", M), Col("surplus_returned", "结余返还基金", M),
       Col("overrun_fund_share", "基金分担超支", M), Col("overrun_community_share", "医共体自担超支", M),
       Col("community_score", "考核得分", "float"), Col("community_coefficient", "考核系数", "ratio")]
CHART_W, CHART_H = 640, 300


def write_overview(sheet: Sheet, results: Mapping[str, pd.DataFrame], ctx: ReportContext) -> int:
    ws, st = sheet.ws, sheet.st
    put_text(ws, 0, 0, f"{ctx.county} {ctx.year} 年度医共体医保结算汇总", st.title)
    put_text(ws, 1, 0, f"运行编号：{ctx.run_id}　情景：{ctx.scenario}　金额单位：元", st.info)
    ws.set_row(0, 24)
    cs = results.get("community_settlement", pd.DataFrame())
    row = 3
    if cs.empty:
        put_text(ws, row, 0, "（本次结算无医共体结算结果）", st.note)
        row += 1
    else:
        key = cs.assign(community_name=[ctx.community_name(c) for c in cs["community_id"]])
        row = sheet.table(key, KEY, row, "全县合计")
    sheet.setup(3, repeat=False)
    ledger = results.get("ledger", pd.DataFrame())
    if not ledger.empty:
        put_text(ws, row + 1, 0, "医共体台账（每个医共体每一部分合计为 0.00）", st.section)
        wide, cols = _ledger_by_community(ledger, ctx)
        row = sheet.table(wide, cols, row + 2)
    row = _charts(sheet, results, ctx, row + 1)
    return row


def _ledger_by_community(ledger: pd.DataFrame, ctx: ReportContext) -> tuple[pd.DataFrame, list[Col]]:
    """The ledger with one amount column per community, lines in their first-seen order."""
    keys = ["section", "line", "label_zh"] if "section" in ledger else ["line", "label_zh"]
    frame = ledger.assign(community_id=ledger["community_id"].astype(str))
    order = frame[keys].drop_duplicates().reset_index(drop=True)
    wide = frame.pivot_table(index=keys, columns="community_id", values="amount", aggfunc="sum")
    wide = order.merge(wide.reset_index(), on=keys, how="left")
    ids = [c for c in frame["community_id"].unique()]
    cols = [Col("label_zh", "项目")] + [Col(c, ctx.community_name(c), M) for c in ids]
    return wide, cols


def _claims_by_kind(cs: pd.DataFrame, bureau: pd.DataFrame | None) -> pd.DataFrame:
    """Fund spending on each community's insured by kind, the chronic cohort included.

    ``expenditure_other`` carries the cohort's move to the capitation (−S) and the capitation
    charged to the package (+K); both are put back (other + S − K) so the parts are what the
    claims cost: DIP (with its rounding line), outpatient, external, other package lines.
    """
    get = lambda name: cs[name].astype("int64").to_numpy() if name in cs else 0  # noqa: E731
    other = get("expenditure_other")
    if bureau is not None and not bureau.empty:
        b = bureau.set_index(bureau["community_id"].astype(str)).reindex(
            cs["community_id"].astype(str))
        other = other + b["chronic_spend"].to_numpy() - b["capitation_in_package"].to_numpy()
    return pd.DataFrame({"成员单位住院（DIP）": get("expenditure_dip") + get("expenditure_dip_rounding"),
                         "门诊": get("expenditure_outpatient"),
                         "县外及非成员机构": get("expenditure_external"), "其他打包支出": other})


def _charts(sheet: Sheet, results: Mapping[str, pd.DataFrame], ctx: ReportContext,
            row: int) -> int:
    """Chart data tables, each followed by its chart; returns the next free row."""
    cs = results.get("community_settlement", pd.DataFrame())
    if cs.empty:
        return row
    names = [ctx.community_name(c) for c in cs["community_id"]]
    claims = _claims_by_kind(cs, results.get("bureau_communities"))
    row = _chart_block(sheet, row, "参保人员基金支出构成（元）", claims.assign(community=names)
                       [["community", *claims.columns]], "column", "stacked")
    outside = claims["县外及非成员机构"].to_numpy()
    place = pd.DataFrame({"community": names, "县域内": claims.sum(axis=1).to_numpy() - outside,
                          "县外及非成员机构": outside})
    row = _chart_block(sheet, row, "县域内外基金支出（元）", place, "bar", "percent_stacked")
    dist = results.get("unit_distribution", pd.DataFrame())
    if not dist.empty:
        label = dist["tier_label"] if "tier_label" in dist else dist["tier"]
        net = dist["surplus_share"] - dist["overrun_share"].abs()
        by_tier = (net.groupby([dist["community_id"].astype(str), label.astype(str)]).sum()
                   .unstack(fill_value=0))
        by_tier.index = [ctx.community_name(c) for c in by_tier.index]
        tiers = by_tier.reset_index().rename(columns={"index": "community"})
        row = _chart_block(sheet, row, "结余分配（超支分担为负）按层级（元）", tiers, "column", None)
    return row


def _chart_block(sheet: Sheet, row: int, title: str, data: pd.DataFrame, kind: str,
                 subtype: str | None) -> int:
    """Write ``data`` (first column = category) at ``row`` and a chart of it below."""
    ws, st = sheet.ws, sheet.st
    put_text(ws, row, 0, title, st.section)
    cols = [Col("community", "医共体")] + [Col(c, c, M) for c in data.columns[1:]]
    top = row + 1
    end = sheet.table(data, cols, top)
    chart = sheet.book.add_chart({"type": kind, **({"subtype": subtype} if subtype else {})})
    for j in range(1, len(cols)):
        chart.add_series({"name": [ws.name, top, j], "categories": [ws.name, top + 1, 0, end - 1, 0],
                          "values": [ws.name, top + 1, j, end - 1, j]})
    chart.set_title({"name": title, "name_font": {"name": FONT, "size": 11}})
    chart.set_legend({"position": "bottom", "font": {"name": FONT, "size": 9}})
    axis_font = {"num_font": {"name": FONT, "size": 9}}
    value_axis = {**axis_font, "num_format": "0%" if subtype == "percent_stacked" else "#,##0"}
    chart.set_x_axis(value_axis if kind == "bar" else axis_font)
    chart.set_y_axis(axis_font if kind == "bar" else value_axis)
    chart.set_size({"width": CHART_W, "height": CHART_H})
    ws.insert_chart(end + 1, 0, chart, {"x_offset": 4, "y_offset": 4})
    return end + 1 + CHART_H // 20 + 2
