"""月度通报.xlsx: the monthly bulletin as a workbook (XlsxWriter, :mod:`settlement.report.layout`).

Sheets: 通报 (the month's headline indicators per community and county, with the year to
date and last year's same month where given; two charts), 指标明细 (every indicator, period
and scope with numerator, denominator and its Chinese definition), 基金执行进度 (execution and
the projected year-end balance, with the method; a chart), 外转去向与病种, 单位CMI, 预警 (each
warning with the numbers that triggered it), 口径说明 (every indicator's definition). Money is
written from fen as exact Decimal yuan; numbers are numbers, text is text.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from settlement.monthly.bulletin import Bulletin
from settlement.monthly.bulletin_tables import COUNTY, PERIOD_ZH
from settlement.report.layout import FONT, Col, Sheet, Styles, fit_width, new_workbook, put, put_text

FILE_NAME = "月度通报.xlsx"
RATIO_CODES = ("cross_province_rate", "out_of_county_rate", "county_visit_rate",
               "primary_outpatient_share")
HEADLINE = ("cross_province_rate", "out_of_county_rate", "county_visit_rate",
            "primary_outpatient_share", "inpatient_cases", "inpatient_cost_per_case", "cmi")


def _kinds(code: str) -> tuple[str, str, str]:
    """(numerator, denominator, value) cell kinds of an indicator."""
    if code in RATIO_CODES:
        return "int", "int", "pct"
    if code == "inpatient_cost_per_case":  # value in fen (bulletin_tables.MONEY_PER_CASE)
        return "money", "int", "money"
    if code == "cmi":
        return "points", "points", "ratio"
    return "int", "int", "int"


def _scope_zh(scope: str) -> str:
    return "全县" if scope == COUNTY else scope


def write_bulletin(path: Path, bulletin: Bulletin, county_name: str = "") -> Path:
    """Write the bulletin to ``path`` (a file, e.g. ``run_dir / 月度通报.xlsx``); returns it."""
    year, mon = (int(x) for x in bulletin.month.split("-"))
    title = f"{county_name}医共体月度通报（{year} 年 {mon} 月）"
    book = new_workbook(Path(path), title, dt.datetime(year, mon, 1))
    st = Styles(book)
    _headline(book, st, bulletin, title)
    _details(Sheet(book, st, "指标明细"), bulletin.indicators)
    _execution(Sheet(book, st, "基金执行进度"), bulletin)
    _outflows(Sheet(book, st, "外转去向与病种"), bulletin)
    _unit_cmi(Sheet(book, st, "单位CMI"), bulletin.unit_cmi)
    _warnings(Sheet(book, st, "预警"), bulletin)
    _definitions(Sheet(book, st, "口径说明"), bulletin.indicators, bulletin.recorded, bulletin.changed)
    book.close()
    return Path(path)


def _headline(book, st: Styles, b: Bulletin, title: str) -> None:
    """通报: one row per scope and indicator, one column per period; two charts."""
    sheet = Sheet(book, st, "通报")
    ws = sheet.ws
    put_text(ws, 0, 0, title, st.title)
    put_text(ws, 1, 0, f"预警 {len(b.warnings)} 条，见“预警”表；各指标口径见“口径说明”表。", st.note)
    periods = [p for p in PERIOD_ZH if p in set(b.indicators["period"])]
    wide = b.indicators.pivot_table(index=["scope", "indicator"], columns="period", values="value",
                                    aggfunc="first", dropna=False)
    labels = b.indicators.drop_duplicates("indicator").set_index("indicator")["label_zh"]
    head = 3
    for j, text in enumerate(["范围", "指标"] + [PERIOD_ZH[p] for p in periods]):
        put_text(ws, head, j, text, st.header)
        sheet.widen(j, max(fit_width([], text), 14.0))  # 6,885.05 and 100.00% fit
    row = head + 1
    scopes = list(dict.fromkeys(b.indicators["scope"]))
    for scope in scopes:
        for code in HEADLINE:
            if (scope, code) not in wide.index:
                continue
            kind = _kinds(code)[2]
            put_text(ws, row, 0, _scope_zh(scope), st.by_kind["text"])
            put_text(ws, row, 1, labels[code], st.by_kind["text"])
            for j, p in enumerate(periods, start=2):
                value = wide.at[(scope, code), p] if p in wide.columns else None
                put(ws, row, j, kind, value, st.by_kind[kind])
            row += 1
    sheet.widen(1, fit_width(labels.tolist()))
    sheet.setup(head, 2 + len(periods))
    _chart_by_scope(book, sheet, b, "out_of_county_rate", "县外就医比例（住院）", f"A{row + 3}")
    _chart_by_scope(book, sheet, b, "county_visit_rate", "县域内就诊率", f"J{row + 3}")


def _chart_by_scope(book, sheet: Sheet, b: Bulletin, code: str, name: str, anchor: str) -> None:
    """A column chart of ``code`` per scope, this month against the year to date, from 指标明细."""
    ind = b.indicators.reset_index(drop=True)
    chart = book.add_chart({"type": "column"})
    for period in ("month", "ytd", "prior_month"):
        idx = ind.index[(ind["indicator"] == code) & (ind["period"] == period)]
        if not len(idx):
            continue
        first, last = idx[0] + 1, idx[-1] + 1  # 指标明细 has its header at row 0
        chart.add_series({"name": PERIOD_ZH[period], "categories": ["指标明细", first, 0, last, 0],
                          "values": ["指标明细", first, 6, last, 6]})
    chart.set_title({"name": name, "name_font": {"name": FONT, "size": 11}})
    # one decimal: the rates of the scopes lie within a few points of each other, and a whole-percent
    # axis labels two gridlines alike (19%, 19%, 20%)
    chart.set_y_axis({"num_format": "0.0%"})
    chart.set_legend({"position": "bottom"})
    sheet.ws.insert_chart(anchor, chart)


def _details(sheet: Sheet, ind: pd.DataFrame) -> None:
    """Every row of the indicator table, numerator and denominator shown (long form)."""
    ws, st = sheet.ws, sheet.st
    headers = ["范围", "期间", "指标代码", "指标", "分子", "分母", "数值", "目标", "目标方向", "口径"]
    for j, text in enumerate(headers):
        put_text(ws, 0, j, text, st.header)
    for i, r in enumerate(ind.itertuples(index=False), start=1):
        num, den, val = _kinds(r.indicator)
        put_text(ws, i, 0, _scope_zh(r.scope), st.by_kind["text"])
        put_text(ws, i, 1, PERIOD_ZH[r.period], st.by_kind["text"])
        put_text(ws, i, 2, r.indicator, st.by_kind["text"])
        put_text(ws, i, 3, r.label_zh, st.by_kind["text"])
        put(ws, i, 4, num, r.numerator, st.by_kind[num])
        put(ws, i, 5, den, r.denominator, st.by_kind[den])
        put(ws, i, 6, val, r.value, st.by_kind[val])
        put(ws, i, 7, "pct", r.target, st.by_kind["pct"])
        put_text(ws, i, 8, {"below": "低于", "at_least": "不低于"}.get(r.direction or "", ""),
                 st.by_kind["text"])
        put_text(ws, i, 9, r.definition_zh, st.by_kind["text"])
    for j, col in enumerate(["scope", "period", "indicator", "label_zh"]):
        sheet.widen(j, fit_width(ind[col].astype(str).tolist(), headers[j]))
    for j in range(4, 9):
        sheet.widen(j, 16)
    sheet.widen(9, fit_width(ind["definition_zh"].astype(str).tolist()))
    sheet.setup(0, len(headers), filter_rows=len(ind))


EXECUTION_COLS = [Col("community_id", "范围"), Col("package", "打包基金（元）", "money"),
                  Col("spent_month", "本月支出（元）", "money"),
                  Col("spent_ytd", "本年累计支出（元）", "money"),
                  Col("share_spent", "基金执行进度", "pct"), Col("share_elapsed", "时间进度", "pct"),
                  Col("lead_points", "超前（百分点）", "pct")]
PROJECTION_COLS = [Col("community_id", "范围"), Col("package", "打包基金（元）", "money"),
                   Col("spent_ytd", "本年累计支出（元）", "money"),
                   Col("projected_spend", "预计全年支出（元）", "money"),
                   Col("projected_balance", "预计年末结余（元）", "money"),
                   Col("method_zh", "测算方法", "wrap")]


def _execution(sheet: Sheet, b: Bulletin) -> None:
    ex = b.execution.assign(community_id=b.execution["community_id"].map(_scope_zh))
    end = sheet.block(ex, EXECUTION_COLS)
    note = ("支出 = 成员单位住院 DIP 应付（按本次预结算点值）+ 县外及非成员机构住院基金支付 + 门诊基金支付，"
            "按参保人所属医共体归集；时间进度 = 1 月 1 日至本月末天数 ÷ 全年天数。")
    put_text(sheet.ws, end, 0, note, sheet.st.note)
    proj = b.projection.assign(community_id=b.projection["community_id"].map(_scope_zh))
    end = sheet.block(proj, PROJECTION_COLS, end + 2, title="预计年末结余（打包基金 − 预计全年支出）")
    chart = sheet.book.add_chart({"type": "bar"})
    n = len(ex)
    for j, name in ((4, "基金执行进度"), (5, "时间进度")):
        chart.add_series({"name": name, "categories": [sheet.ws.name, 1, 0, n, 0],
                          "values": [sheet.ws.name, 1, j, n, j]})
    chart.set_title({"name": "基金执行进度与时间进度", "name_font": {"name": FONT, "size": 11}})
    chart.set_x_axis({"num_format": "0%"})
    chart.set_legend({"position": "bottom"})
    sheet.ws.insert_chart(end + 1, 0, chart)


SCOPE_ZH = {"county": "县内", "city": "市内县外", "province": "省内市外", "national": "省外"}


def _outflows(sheet: Sheet, b: Bulletin) -> None:
    places = b.destinations.assign(scope=b.destinations["scope"].map(SCOPE_ZH).fillna(
        b.destinations["scope"]))
    cols = [Col("unit_id", "机构编码"), Col("unit_name", "机构名称"), Col("scope", "所在范围"),
            Col("cases", "住院人次", "int"), Col("share", "占全部住院人次", "pct"),
            Col("fund_paid", "基金支付（元）", "money")]
    end = sheet.block(places, cols, title="县外就医主要去向（本年累计，按住院人次）")
    cols = [Col("dip_group", "病种编码"), Col("group_name", "病种名称"),
            Col("cases_out", "县外住院人次", "int"), Col("cases_all", "该病种全部住院人次", "int"),
            Col("share_out", "外转比例", "pct"), Col("fund_paid", "县外基金支付（元）", "money")]
    sheet.block(b.outflow_groups, cols, end + 2, title="外转病种（本年累计，按县外住院人次）")
    sheet.setup(1)


def _unit_cmi(sheet: Sheet, units: pd.DataFrame) -> None:
    cols = [Col("unit_id", "机构编码"), Col("unit_name", "机构名称"), Col("cases", "本月病例", "int"),
            Col("points", "本月点数", "points"), Col("cmi", "本月 CMI", "ratio"),
            Col("cases_prev", "上月病例", "int"), Col("points_prev", "上月点数", "points"),
            Col("cmi_prev", "上月 CMI", "ratio")]
    sheet.block(units, cols)


def _warnings(sheet: Sheet, b: Bulletin) -> None:
    frame = pd.DataFrame({"rule": [w.rule for w in b.warnings],
                          "scope": [_scope_zh(w.column) for w in b.warnings],
                          "message": [w.message_zh for w in b.warnings],
                          "value": [float(w.value) for w in b.warnings]})
    sheet.block(frame, [Col("rule", "预警规则"), Col("scope", "范围/机构"),
                        Col("message", "预警内容（触发数据）", "wrap"),
                        Col("value", "触发值", "ratio")])


def _definitions(sheet: Sheet, ind: pd.DataFrame, recorded: dict | None = None,
                 changed: dict | None = None) -> None:
    frame = ind.drop_duplicates("indicator")[["indicator", "label_zh", "definition_zh"]]
    end = sheet.block(frame, [Col("indicator", "指标代码"), Col("label_zh", "指标"),
                              Col("definition_zh", "口径（定义）", "wrap")])
    notes = ["住院指标按出院日期归月，门诊按就诊日期归月；人次按病例（结算单）行计数。",
             "上年同月、上年同期累计仅在提供上年数据时列出。",
             "范围为参保人所属医共体（按参保地归集），全县为全部参保人。"]
    if recorded:
        notes.append(recorded_note(recorded))
    if changed:
        notes.append(changed_note(changed))
    for i, text in enumerate(notes):
        put_text(sheet.ws, end + 1 + i, 0, text, sheet.st.note)


def recorded_note(recorded: dict) -> str:
    """The 口径 note naming the months whose figures came from their own month runs."""
    months = "、".join(f"{m}（{run}）" for m, run in sorted(recorded.items()))
    return (f"{months} 的数据取自各月已记录的月度预结算运行（同一小表、参数与程序版本下记录的分月汇总数），"
            "未重新读取；其余月份自本次数据读取。")


def changed_note(changed: dict) -> str:
    """The 口径 note naming the recorded months read again because their rows changed."""
    months = "、".join(f"{m}（{run}）" for m, (run, _) in sorted(changed.items()))
    return (f"{months} 的数据在该月月度运行之后有变化（行数、金额或内容与该次运行记录的数据指纹不同），"
            "本次已按现数据重新读取计算，不再使用该次运行记录的分月汇总数。")
