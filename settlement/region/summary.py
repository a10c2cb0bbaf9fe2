"""区域汇总.xlsx: the region summary, in the look of 汇总.xlsx (:mod:`settlement.report.layout`).

Sheets:

* 区域汇总 — one row per county (region file order): communities, package, spending, balance,
  surplus retained, overrun shares, DIP fund due at the region point value, ledger check;
  a 合计 row;
* 点值测算 — the point value's derivation: region DIP fund budget ÷ reimbursement ratio =
  pool; pool ÷ Σ points of every hospital of the region = point value (rounded), each with
  its parameter source;
* 区域医院DIP — per hospital of the region (every county's and the city hospitals): cases,
  points, the value of the points at the region point value;
* 医共体 — every community of the region with its county.

Money is int64 fen in the frames, exact yuan in the cells; the ``created`` stamp is the
year's last day, so the same inputs give the same bytes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from settlement.dip.scoring import LEVEL_ZH
from settlement.money import fen_of, yuan_display
from settlement.report.layout import Col, Sheet, Styles, new_workbook, put_text
from settlement.wording import scenario_zh

M = "money"
COUNTIES = [Col("county_id", "县（区）编码"), Col("county", "县（区）"),
            Col("communities", "医共体数", "int"), Col("package", "打包额", M),
            Col("expenditure", "实际支出", M), Col("balance", "结余（+）/超支（−）", M),
            Col("surplus_retained", "结余留用", M), Col("overrun_fund_share", "超支基金分担", M),
            Col("overrun_community_share", "超支医共体自担", M),
            Col("dip_points", "DIP 分值（本县医共体）", "points"),
            Col("dip_fund_due", "DIP 基金应付", M), Col("ledger_total", "台账合计（应为 0.00）", M)]
DERIVATION = [Col("item", "项目"), Col("value", "数值"), Col("source", "依据")]
HOSPITALS = [Col("county_zh", "县（区）"), Col("unit_id", "机构编码"), Col("unit_name", "机构名称"),
             Col("level_zh", "医院等级"), Col("cases", "病例数", "int"),
             Col("excluded_cases", "不予结算病例", "int"), Col("points", "病例分值合计", "points"),
             Col("gross_value", "分值金额（区域点值）", M), Col("at_cost", "未入组按实际支付", M)]
COMMUNITIES = [Col("county_id", "县（区）编码"), Col("community_id", "医共体编码"),
               Col("community_name", "医共体名称"), Col("package", "打包额", M),
               Col("expenditure", "实际支出", M), Col("balance", "结余（+）/超支（−）", M)]
TITLE_ROWS = 3


def write_region_summary(path: Path, region, setups, result, run_id: str) -> Path:
    """Write 区域汇总.xlsx for a region run whose counties all succeeded."""
    year = region.settlement_year
    book = new_workbook(path, f"{region.region} {year} 年度区域结算汇总", dt.datetime(year, 12, 31))
    st = Styles(book)
    identity = (f"统筹区：{region.region}　结算年度：{year}　运行编号：{run_id}　"
                f"方案：{scenario_zh(region.scenario)}　金额单位：元")
    names = {c.county_id: c.county for c in result.counties}
    _sheet(book, st, "区域汇总", region, identity, county_rows(result), COUNTIES, "合计")
    _sheet(book, st, "点值测算", region, identity, derivation_rows(result.dip, setups[0].resolved),
           DERIVATION, None)
    h = result.dip.hospitals
    hospitals = h.assign(county_zh=[names.get(str(c), str(c)) if pd.notna(c) else "市直医院"
                                    for c in h["county_id"]],
                         level_zh=[LEVEL_ZH.get(str(v), str(v)) for v in h["level"]])
    _sheet(book, st, "区域医院DIP", region, identity, hospitals, HOSPITALS, "合计")
    _sheet(book, st, "医共体", region, identity, community_rows(result), COMMUNITIES, "合计")
    book.close()
    return path


def _sheet(book, st, name: str, region, identity: str, frame: pd.DataFrame, cols: list[Col],
           total: str | None) -> Sheet:
    sheet = Sheet(book, st, name)
    put_text(sheet.ws, 0, 0, f"{region.region} {region.settlement_year} 年度区域结算汇总 · {name}",
             st.title)
    put_text(sheet.ws, 1, 0, identity, st.info)
    sheet.ws.set_row(0, 24)
    sheet.block(frame, cols, TITLE_ROWS, total)
    present = [c for c in cols if c.name in frame.columns]
    sheet.setup(TITLE_ROWS, len(present), filter_rows=len(frame) or None)
    return sheet


def county_rows(result) -> pd.DataFrame:
    """One row per county: the sums of its communities, its DIP, its ledger check."""
    rows = []
    for c in result.counties:
        cs, units, ledger = (c.tables["community_settlement"], c.tables["dip_units"],
                             c.tables["ledger"])
        rows.append({"county_id": c.county_id, "county": c.county, "communities": len(cs),
                     **{k: int(cs[k].sum()) for k in ("package", "expenditure", "balance",
                                                       "surplus_retained", "overrun_fund_share",
                                                       "overrun_community_share")},
                     "dip_points": round(float(units["points"].sum()), 4),
                     "dip_fund_due": int(units["fund_due"].sum()),
                     "ledger_total": int(ledger.loc[ledger["line"] == "total", "amount"].sum())})
    return pd.DataFrame(rows)


def derivation_rows(rdip, resolved) -> pd.DataFrame:
    """The point value's derivation, each line with where its number comes from."""
    src = resolved.source
    rows = [("区域 DIP 住院统筹基金预算", f"{yuan_display(fen_of(resolved.params.dip.fund_budget))} 元", src("dip.fund_budget")),
            ("报销比例", f"{resolved.params.dip.reimbursement_ratio}", src("dip.reimbursement_ratio"))]
    rows += [(label, value, "") for label, value in rdip.derivation()]
    rows.append(("点值保留小数位数", str(resolved.params.dip.point_value_decimals),
                 src("dip.point_value_decimals")))
    rows.append(("参与测算的医院", f"{len(rdip.hospitals)} 家（各县（区）医疗机构与市直医院，村卫生室除外）",
                 "区域内全部医院的病例按区域病种分值付费参数计分"))
    return pd.DataFrame(rows, columns=["item", "value", "source"])


def community_rows(result) -> pd.DataFrame:
    frames = []
    for c in result.counties:
        cs = c.tables["community_settlement"]
        frame = cs[[k for k in ("community_id", "community_name", "package", "expenditure", "balance")
                    if k in cs.columns]].copy()
        frame.insert(0, "county_id", c.county_id)
        if "community_name" not in frame:
            frame.insert(2, "community_name", frame["community_id"].astype(str).map(c.community_names))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
