"""The community's own statement (医共体结算单): ``communities/<id>_<name>.xlsx``.

For the lead hospital and the bureau, one sheet 结算单 in six parts, every line with its
formula and numbers: 一 the package (financing → reserve → package), 二 every expenditure line,
三 the balance and its corridor result (retained / returned / fund share / borne), 四 the
chronic capitation, 五 the flow of funds and the year-end clearing (what the fund owes, what
it paid outside the community, what it paid the units directly, the advances, and what it pays
or recovers at year end; the identity checked to the fen in ``reconciliation_checks``
``flow.paid``), 六 what the community pays each member unit. Ends with the sign-off block.

Lines are built by :func:`community_lines` (pure) as ``(part, label, fen, payer, explanation)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from settlement.money import yuan_display as y
from settlement.report.context import ReportContext
from settlement.report.layout import (EXPLANATION_WIDTH, Sheet, Styles, fit_width, new_workbook,
                                      put_money, put_text, row_height, wrapped_lines)
from settlement.report.names import unique_paths
from settlement.report.pages import sign_off
from settlement.stages.expenditure import LINE_LABELS
from settlement.vocabulary import CLAIM_TYPES, SCOPES

HEADERS = ("序号", "项目", "金额（元）", "付款方/性质", "计算说明")
FUND, COMMUNITY = "医保基金", "医共体"


def _row(frame: pd.DataFrame, cid: str) -> dict:
    if frame is None or frame.empty or "community_id" not in frame:
        return {}
    rows = frame.loc[frame["community_id"].astype(str) == cid]
    return rows.iloc[0].to_dict() if len(rows) else {}


def _v(row: dict, key: str) -> int:
    value = row.get(key, 0)
    return 0 if value is None or value != value else int(value)


def _piece(text: str, start: str) -> str:
    """The clause of a '；'-joined explanation that starts with ``start``."""
    return next((p for p in str(text or "").split("；") if p.startswith(start)), "")


def community_lines(cid: str, results: Mapping[str, pd.DataFrame],
                    ctx: ReportContext) -> list[tuple[str, str, int | None, str, str]]:
    cs = _row(results.get("community_settlement"), cid)
    ch = _row(results.get("chronic_settlement"), cid)
    fl = _row(results.get("community_flows"), cid)
    out = _package(cs) + _spending(cs, results.get("ledger"), cid, ctx) + _corridor(cs)
    if ch:
        out += _chronic(ch)
    if fl:
        out += _flows(cs, ch, fl)
    return out


def _package(cs: dict) -> list:
    text = cs.get("package_explanation", "")
    lines = [("一、打包额", "筹资总额", _v(cs, "financing"), FUND, _piece(text, "筹资总额")),
             ("一、打包额", "减：大病保险", -_v(cs, "critical_illness"), FUND, _piece(text, "大病保险"))]
    if _v(cs, "other_earmarks"):
        lines.append(("一、打包额", "减：其他专项", -_v(cs, "other_earmarks"), FUND, _piece(text, "其他")))
    lines += [("一、打包额", "减：风险金", -_v(cs, "reserve"), FUND, _piece(text, "风险金")),
              ("一、打包额", "测算打包额", _v(cs, "computed_package"), FUND, _piece(text, "测算打包额"))]
    if cs.get("official_package") not in (None, "") and cs.get("official_package") == cs.get("official_package"):
        lines.append(("一、打包额", "核定打包额（医保局公布）", _v(cs, "official_package"), FUND,
                      f"与测算打包额差额 {y(_v(cs, 'package_difference'))} 元"))
    if _v(cs, "carve_out"):
        lines.append(("一、打包额", "减：单列资金", -_v(cs, "carve_out"), FUND, _piece(text, "扣除单列")))
    lines.append(("一、打包额", "打包额 P", _v(cs, "package"), FUND, _piece(text, "扣除单列")
                  or f"打包额 = {y(_v(cs, 'package'))} 元"))
    return lines


def _spending(cs: dict, ledger: pd.DataFrame | None, cid: str, ctx: ReportContext) -> list:
    part, lines = "二、打包支出", []
    dip = "DRG" if ctx.drg else "DIP"
    lines.append((part, LINE_LABELS["expenditure_dip"].replace("DIP", dip), _v(cs, "expenditure_dip"),
                  FUND, f"本医共体参保人员在成员单位住院 {_v(cs, 'cases_dip'):,} 例，{dip} 基金应付合计"))
    if _v(cs, "expenditure_dip_rounding"):
        lines.append((part, LINE_LABELS["expenditure_dip_rounding"].replace("DIP", dip),
                      _v(cs, "expenditure_dip_rounding"), FUND,
                      "成员医院按单位总分值结算与逐病例金额之差（取整尾差）"))
    for s in SCOPES:
        key = f"expenditure_external_{s}"
        if _v(cs, key):
            lines.append((part, LINE_LABELS[key], _v(cs, key), FUND, "按即时结算基金实际支付"))
    for c in CLAIM_TYPES:
        key = f"expenditure_outpatient_{c}"
        if _v(cs, key):
            lines.append((part, LINE_LABELS[key], _v(cs, key), FUND, "按即时结算基金实际支付"))
    other = (ledger.loc[(ledger["community_id"].astype(str) == cid)
                        & ledger["line"].astype(str).str.startswith("other:")]
             if ledger is not None and not ledger.empty else pd.DataFrame())
    for r in other.itertuples(index=False):
        lines.append((part, str(r.label_zh), -int(r.amount), FUND, "慢病包干单列：包干人员费用改由包干基金列支"
                      if "chronic" in str(r.line) else "其他打包支出"))
    lines.append((part, "打包支出合计 E", _v(cs, "expenditure"), FUND, "以上各项之和"))
    return lines


def _corridor(cs: dict) -> list:
    part = "三、结余留用与超支分担"
    lines = [(part, "结余(+)/超支(−) = P − E", _v(cs, "balance"), "", str(cs.get("explanation", "")))]
    if _v(cs, "balance") >= 0:
        lines += [(part, "结余留用（医共体）", _v(cs, "surplus_retained"), COMMUNITY, "按结余分段比例及考核系数"),
                  (part, "结余返还基金 R", _v(cs, "surplus_returned"), FUND, "结余 − 留用")]
    else:
        lines += [(part, "基金分担超支 F（风险金支付）", _v(cs, "overrun_fund_share"), FUND, "按超支分段比例"),
                  (part, "医共体自担超支", _v(cs, "overrun_community_share"), COMMUNITY, "超支 − 基金分担")]
    return lines


def _chronic(ch: dict) -> list:
    part = "四、慢性病包干"
    lines = [(part, "包干预算 B", _v(ch, "budget"), FUND, f"纳入 {_v(ch, 'enrollees'):,} 人，"
              f"人月数 {float(ch.get('person_months', 0)):,.2f} × 月标准"),
             (part, "包干人员基金支出 S", _v(ch, "spend"), FUND, "纳入人员包干期内基金支付（不含分娩住院）"),
             (part, "包干结余(+)/超支(−) = B − S", _v(ch, "balance"), "", str(ch.get("explanation", "")))]
    if _v(ch, "balance") >= 0:
        lines += [(part, "慢病结余留用", _v(ch, "retained"), COMMUNITY, "按慢病包干结余比例"),
                  (part, "慢病结余返还基金 r", _v(ch, "surplus_returned"), FUND, "结余 − 留用")]
    else:
        lines += [(part, "基金分担慢病超支 f", _v(ch, "fund_share"), FUND, "按慢病包干超支比例"),
                  (part, "医共体自担慢病超支", _v(ch, "community_share"), COMMUNITY, "超支 − 基金分担")]
    return lines


def _flows(cs: dict, ch: dict, fl: dict) -> list:
    part, v = "五、资金流向与年终清算", lambda k: _v(fl, k)  # noqa: E731
    T, O, W = v("entitlement"), v("paid_outside"), v("kept")
    formula = (f"打包额 {y(_v(cs, 'package'))}" + (f" + 单列慢病预算 {y(_v(ch, 'budget'))}" if ch else "")
               + f" − 结余返还 {y(_v(cs, 'surplus_returned') + _v(ch, 'surplus_returned'))}"
               + f" + 基金分担超支 {y(_v(cs, 'overrun_fund_share') + _v(ch, 'fund_share'))} = {y(T)}")
    direct = v("paid_to_units")
    return [
        (part, "医保基金应支出 T", T, FUND, formula),
        (part, "减：付给本医共体以外的机构 O", -O, FUND,
         f"县外及非成员机构住院 {y(v('external'))} + 其他医共体医院住院 {y(v('dip_out') - v('kept_out'))}"
         f" + 本医共体以外门诊 {y(v('outpatient_out'))}"),
        (part, "减：基金留存的质量保证金 W", -W, FUND, "各成员医院预留未返还的质量保证金，按病例基金应付分摊"),
        (part, "应拨付本医共体及成员单位 = T − O − W", T - O - W, FUND, f"{y(T)} − {y(O)} − {y(W)}"),
        (part, "其中：医保基金直接支付成员单位", direct, FUND,
         f"成员医院住院 {y(v('dip_in') + v('dip_rounding') - v('kept_in'))}（月度预结算与年度清算）"
         f" + 门诊即时结算 {y(v('outpatient_in'))}" + (f" + 其他 {y(v('other_direct'))}" if v("other_direct") else "")
         + (f" + 成员单位分配 {y(v('units_share_direct'))}" if v("units_share_direct") else "")),
        (part, "其中：年内预拨医共体（打包）", v("package_advance"), FUND, "资金类别为打包基金的预付款合计"),
        (part, "其中：年内预拨医共体（慢病包干）", v("chronic_advance"), FUND, "资金类别为慢病包干的预付款合计"),
        (part, "应结算医共体：结余留用/自担超支 Y", v("package_settlement"), COMMUNITY, "成员单位分配合计"),
        (part, "应结算医共体：慢病留用/自担 Z", v("chronic_settlement"), COMMUNITY, "管理单位分配合计"),
        (part, "年终医保基金应拨付(+)/收回(−)", v("year_end_community"), FUND,
         f"Y {y(v('package_settlement'))} + Z {y(v('chronic_settlement'))} − 年内预拨 {y(v('advances'))}"),
        (part, "核对：直接支付 + 预拨 + 年终结算 − 应拨付（应为 0.00）",
         direct + v("advances") + v("year_end_community") - (T - O - W), "",
         "零容差；逐医共体校验项“资金流向”"),
    ]


def write_communities(out_dir: Path, results: Mapping[str, pd.DataFrame],
                      ctx: ReportContext) -> list[Path]:
    cs = results.get("community_settlement")
    if cs is None or cs.empty:
        return []
    ids = cs["community_id"].astype(str).tolist()
    paths = unique_paths(out_dir, [(c, ctx.community_name(c)) for c in ids])
    for cid, path in zip(ids, paths):
        write_community(path, cid, results, ctx)
    return paths


def write_community(path: Path, cid: str, results: Mapping[str, pd.DataFrame],
                    ctx: ReportContext) -> None:
    book = new_workbook(path, f"{ctx.year} 年度医共体结算单 {cid}", ctx.created_at)
    sheet = Sheet(book, Styles(book), "结算单")
    ws, st = sheet.ws, sheet.st
    head = [f"{ctx.county} {ctx.year} 年度医共体医保基金结算单", f"医共体：{ctx.community_name(cid)}（{cid}）",
            f"结算年度：{ctx.year}　　运行编号：{ctx.run_id}　　方案：{ctx.scenario_zh}",
            "金额单位：元。付款方：医保基金（医保局）、医共体（牵头医院）。"]
    for r, text in enumerate(head):
        ws.merge_range(r, 0, r, len(HEADERS) - 1, "", st.title if r == 0 else st.info)
        ws.write_string(r, 0, text, st.title if r == 0 else st.info)
    ws.set_row(0, 24)
    header = len(head) + 1
    for j, h in enumerate(HEADERS):
        ws.write_string(header, j, h, st.header)
    row, part = header + 1, None
    lines = community_lines(cid, results, ctx) + _members(cid, results, ctx)
    for i, (p, label, amount, payer, text) in enumerate(lines, start=1):
        label, text = ctx.dz(label), ctx.dz(text)
        if p != part:
            ws.merge_range(row, 0, row, len(HEADERS) - 1, "", st.section)
            ws.write_string(row, 0, p, st.section)
            row, part = row + 1, p
        strong = label.startswith(("打包额 P", "打包支出合计", "年终", "应拨付", "结余(+)"))
        kind = st.total if strong else st.by_kind
        ws.write_number(row, 0, i, kind["int"])
        put_text(ws, row, 1, label, kind["text"])
        put_money(ws, row, 2, amount, kind["money"])
        put_text(ws, row, 3, payer, kind["text"])
        put_text(ws, row, 4, text, kind["wrap"])
        n = wrapped_lines(text, EXPLANATION_WIDTH)
        if n > 1:
            ws.set_row(row, row_height(n))
        row += 1
    sheet.widen(0, 6)
    sheet.widen(1, fit_width([x[1] for x in lines], HEADERS[1]))
    sheet.widen(2, fit_width([y(x[2] or 0) for x in lines], HEADERS[2]) + 2)
    sheet.widen(3, fit_width([x[3] for x in lines], HEADERS[3]))
    sheet.widen(4, EXPLANATION_WIDTH)
    sign_off(sheet, row + 1, len(HEADERS), "医保局（医保基金）")
    sheet.setup(header)
    book.close()


def _members(cid: str, results: Mapping[str, pd.DataFrame], ctx: ReportContext) -> list:
    """六: what the community pays each member unit (package and chronic shares)."""
    part, out = "六、医共体拨付成员单位（结余分配与慢病包干）", []
    units = results.get("bureau_units")
    if units is None or units.empty or "paid_by_community" not in units:
        return out
    mine = units.loc[(units["community_id"].astype(str) == cid) & units["paid_by_community"].ne(0)]
    for r in mine.itertuples(index=False):
        out.append((part, f"{r.unit_name}（{r.unit_id}）", int(r.paid_by_community), COMMUNITY,
                    f"结余分配/超支分担 {y(int(r.package))} + 慢病包干 {y(int(r.chronic))}"))
    if out:
        out.append((part, "拨付成员单位合计", sum(x[2] for x in out), COMMUNITY, "应等于 Y + Z"))
    return out
