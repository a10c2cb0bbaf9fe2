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
from settlement.vocabulary import CATEGORY_ZH as ALL_CATEGORY_ZH, EXTERNAL

M = "money"
KEY = [Col("community_name", "医共体"), Col("package", "打包额", M), Col("expenditure", "总支出", M),
       Col("expenditure_external", "其中：县外及非成员机构", M), Col("balance", "结余(+)/超支(−)", M),
       Col("surplus_retained", "结余留用", M), Col("surplus_returned", "结余返还基金", M),
       Col("overrun_fund_share", "基金分担超支", M), Col("overrun_community_share", "医共体自担超支", M),
       Col("community_score", "考核得分", "float"), Col("community_coefficient", "考核系数", "ratio")]
CHART_W, CHART_H = 640, 300


CATEGORY_ZH = {c: zh for c, zh in ALL_CATEGORY_ZH.items() if c != EXTERNAL}  # tier order of seed 004


def write_overview(sheet: Sheet, results: Mapping[str, pd.DataFrame], ctx: ReportContext,
                   charts: Sheet | None = None) -> int:
    ws, st = sheet.ws, sheet.st
    put_text(ws, 0, 0, f"{ctx.county} {ctx.year} 年度医共体医保结算汇总", st.title)
    put_text(ws, 1, 0, f"县（区）：{ctx.county}　结算年度：{ctx.year}　运行编号：{ctx.run_id}　"
                       f"方案：{ctx.scenario_zh}　金额单位：元", st.info)
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
        wide = wide.assign(label_zh=wide["label_zh"].map(ctx.dz))
        row = sheet.table(wide, cols, row + 2)
    return _charts(sheet, charts or sheet, results, ctx, row + 1)


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


def _claims_by_kind(cs: pd.DataFrame, chronic: pd.DataFrame | None, ctx: ReportContext) -> pd.DataFrame:
    """Fund spending on each community's insured by kind; the chronic cohort a named part.

    The claim lines (DIP with its rounding, outpatient, external) count every claim; the
    cohort's claims (``chronic_settlement`` spend_dip / spend_outpatient / spend_external) are
    taken out of them and shown as one part 慢病包干人员费用, other package lines as they are
    (without the cohort's move). The parts add up to the 合计 column beside them.
    """
    get = lambda f, name: f[name].astype("int64").to_numpy() if name in f else 0  # noqa: E731
    ch = (chronic.set_index(chronic["community_id"].astype(str)).reindex(cs["community_id"].astype(str))
          .fillna(0) if chronic is not None and not chronic.empty else pd.DataFrame())
    cohort = {k: get(ch, f"spend_{k}") if len(ch) else 0 for k in ("dip", "outpatient", "external")}
    moved = sum(cohort.values())
    other = get(cs, "expenditure_other") + moved - (get(ch, "budget") if len(ch) and not ctx.chronic_carved else 0)
    parts = {ctx.dz("成员单位住院（DIP）"): get(cs, "expenditure_dip") + get(cs, "expenditure_dip_rounding") - cohort["dip"],
             "门诊": get(cs, "expenditure_outpatient") - cohort["outpatient"],
             "县外及非成员机构": get(cs, "expenditure_external") - cohort["external"],
             "慢病包干人员费用": moved + 0 * get(cs, "expenditure"), "其他打包支出": other}
    frame = pd.DataFrame(parts)
    return frame.loc[:, (frame != 0).any(axis=0)]


def _by_category(results: Mapping[str, pd.DataFrame], ctx: ReportContext) -> pd.DataFrame | None:
    """Net distribution (surplus shares, overrun borne negative) by unit category, in tier order."""
    dist = results.get("unit_distribution", pd.DataFrame())
    if dist.empty:
        return None
    category = dist["unit_id"].astype(str).map(lambda u: ctx.unit_row(u).get("category"))
    net = dist["surplus_share"].astype("int64") - dist["overrun_share"].astype("int64").abs()
    table = net.groupby([category.astype(str), dist["community_id"].astype(str)]).sum().unstack(fill_value=0)
    order = [c for c in CATEGORY_ZH if c in table.index and table.loc[c].ne(0).any()]
    table = table.loc[order]
    table.index = [CATEGORY_ZH[c] for c in order]
    table.columns = [ctx.community_name(c) for c in table.columns]
    return table.reset_index().rename(columns={"index": "community"})


def _charts(sheet: Sheet, charts: Sheet, results: Mapping[str, pd.DataFrame], ctx: ReportContext,
            row: int) -> int:
    """Chart data tables on 总览 (each with its 合计 column), the charts on one page of 图表."""
    cs = results.get("community_settlement", pd.DataFrame())
    if cs.empty:
        return row
    names = [ctx.community_name(c) for c in cs["community_id"]]
    claims = _claims_by_kind(cs, results.get("chronic_settlement"), ctx)
    made = []
    title = "参保人员基金支出构成（元）"
    row = _chart_block(sheet, charts, row, title, claims.assign(community=names)
                       [["community", *claims.columns]], "column", "stacked", made)
    outside = claims.get("县外及非成员机构", pd.Series(0, index=claims.index)).to_numpy()
    place = pd.DataFrame({"community": names, "县域内": claims.sum(axis=1).to_numpy() - outside,
                          "县外及非成员机构": outside})
    row = _chart_block(sheet, charts, row, "县域内外基金支出（元）", place, "bar", "percent_stacked", made)
    tiers = _by_category(results, ctx)
    if tiers is not None and not tiers.empty:
        row = _chart_block(sheet, charts, row, "结余分配按层级（超支分担为负，元）", tiers, "column", None, made,
                           first="层级")
    _place(charts, made, ctx)
    return row


def _place(charts: Sheet, made: list, ctx: ReportContext) -> None:
    """The charts in a grid on one A4 landscape page."""
    put_text(charts.ws, 0, 0, f"{ctx.county} {ctx.year} 年度结算图表　运行编号：{ctx.run_id}　"
                              f"方案：{ctx.scenario_zh}（图中数据见 总览）", charts.st.title)
    for i, chart in enumerate(made):
        charts.ws.insert_chart(2 + (i // 2) * (CHART_H // 20 + 1), (i % 2) * 11, chart,
                               {"x_offset": 4, "y_offset": 4})
    charts.ws.set_landscape()
    charts.ws.set_paper(9)
    charts.ws.fit_to_pages(1, 1)
    charts.ws.set_footer("&C第 &P 页，共 &N 页")


def _chart_block(sheet: Sheet, charts: Sheet, row: int, title: str, data: pd.DataFrame, kind: str,
                 subtype: str | None, made: list, first: str = "医共体") -> int:
    """Write ``data`` (first column = category) and its 合计 at ``row``; make its chart."""
    ws, st = sheet.ws, sheet.st
    put_text(ws, row, 0, title, st.section)
    series = list(data.columns[1:])
    data = data.assign(合计=data[series].sum(axis=1))
    cols = [Col("community", first)] + [Col(c, c, M) for c in series] + [Col("合计", "合计", M)]
    top = row + 1
    end = sheet.table(data, cols, top)
    chart = sheet.book.add_chart({"type": kind, **({"subtype": subtype} if subtype else {})})
    for j in range(1, len(series) + 1):
        chart.add_series({"name": [ws.name, top, j], "categories": [ws.name, top + 1, 0, end - 1, 0],
                          "values": [ws.name, top + 1, j, end - 1, j]})
    chart.set_title({"name": title, "name_font": {"name": FONT, "size": 11}})
    chart.set_legend({"position": "bottom", "font": {"name": FONT, "size": 9}})
    axis_font = {"num_font": {"name": FONT, "size": 9}}
    value_axis = {**axis_font, "num_format": "0%" if subtype == "percent_stacked" else "#,##0"}
    chart.set_x_axis(value_axis if kind == "bar" else axis_font)
    chart.set_y_axis(axis_font if kind == "bar" else value_axis)
    chart.set_size({"width": CHART_W, "height": CHART_H})
    made.append(chart)
    return end + 1
