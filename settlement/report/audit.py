"""Sheets of the claims audit and the issue-11 package lines (报销审核、签约服务费、保底、考核).

* ``报销审核`` in 汇总.xlsx and 医保对账.xlsx: the "3 × 10 %" check of the ratio table, the
  totals by rule, community and unit, then the flagged claims (the largest differences
  first; beyond :data:`LIST_LIMIT` rows the full list is ``results/claims_audit.csv``: the
  totals above already count every claim, and a county's list runs to 36,000 claims at
  scale 1, 365,000 at scale 10 — 5 M cells, a minute of writing, more than anyone scrolls);
* ``考核与双目标`` in 汇总.xlsx: how each community's score was derived, the dual targets;
* ``签约服务费与保底`` in 汇总.xlsx: family-doctor fees per unit, the village guarantee;
* in a unit's own statement (:func:`unit_sheets`): its own flagged claims only (at most
  :data:`UNIT_LIST_LIMIT`, the largest differences first; a longer list is written whole
  beside the statement as ``审核清单/<statement name>.csv``, named on the sheet), its
  family-doctor fees and, for a guaranteed village clinic, its guarantee.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from settlement.money import yuan_display
from settlement.vocabulary import AUDIT_BY_ZH, CLAIM_KIND_ZH, COUNTY_WIDE_ZH, scope_level_zh
from settlement.report.context import ReportContext
from settlement.report.layout import Col, Sheet, Styles, put_text

M, T, W = "money", "text", "wrap"
LIST_LIMIT = 1_000  # flagged claims listed in 汇总 / 医保对账 (the full list: the CSV)
UNIT_LIST_LIMIT = 30  # flagged claims in a unit's statement: one printed page (the full list: its CSV)
CLAIM_LISTS = "审核清单"  # folder beside the unit statements for the longer lists
KIND_ZH = CLAIM_KIND_ZH
BY_ZH = AUDIT_BY_ZH

CHECK = [Col("check_zh", "检查项"), Col("scope", "范围"), Col("level", "等级"),
         Col("compared_with", "比较对象"), Col("ratio", "报销比例", "pct"),
         Col("compared_ratio", "比较比例", "pct"), Col("gap", "差距", "pct"),
         Col("minimum_gap", "最低差距", "pct"), Col("ok_zh", "结果"), Col("message_zh", "说明", W)]
TOTALS = [Col("by_zh", "汇总口径"), Col("key", "编码"), Col("name", "名称"),
          Col("claims", "不符记录数", "int"), Col("overpaid", "多支付", M),
          Col("underpaid", "少支付", M), Col("difference", "差额（多支付为正）", M)]
CLAIMS = [Col("claim_id", "结算单号/病例号"), Col("kind_zh", "类型"), Col("unit_id", "就诊机构"),
          Col("unit_name", "机构名称"), Col("community_id", "参保人医共体"), Col("rule_zh", "审核规则", W),
          Col("applied_ratio", "执行比例", "pct"), Col("expected_ratio", "应执行比例", "pct"),
          Col("applied_deductible", "执行起付线", M), Col("expected_deductible", "应执行起付线", M),
          Col("policy_cost", "政策范围内费用", M), Col("fund_paid", "基金已支付", M),
          Col("expected_fund_paid", "应支付", M), Col("difference", "差额", M)]
ASSESSMENT = [Col("community_id", "医共体"), Col("input_score", "考核得分表", "float"),
              Col("rubric_points", "指标得分", "float"), Col("rubric_max_points", "指标满分", "float"),
              Col("rubric_score", "指标折算得分", "float"), Col("score", "用于结余留用的得分", "float"),
              Col("source", "得分来源"), Col("explanation", "推导", W)]
DUAL = [Col("community_id", "医共体"), Col("label_zh", "目标"), Col("value", "实际值", "pct"),
        Col("target", "目标值", "pct"), Col("met_zh", "是否达成"), Col("targets_met", "达成项数", "int"),
        Col("factor", "留用比例", "ratio"), Col("retained_before", "调整前留用", M),
        Col("retained_after", "调整后留用", M), Col("returned", "返还基金", M),
        Col("explanation", "说明", W)]
FEES = [Col("unit_id", "签约机构"), Col("unit_name", "机构名称"), Col("community_id", "医共体"),
        Col("payee_id", "收款单位"), Col("periods", "期数", "int"),
        Col("signed_persons", "平均签约人数", "int"), Col("amount", "签约服务费", M),
        Col("explanation", "说明", W)]
GUARANTEE = [Col("unit_id", "村卫生室"), Col("unit_name", "名称"), Col("pool", "资金来源"),
             Col("guarantee", "保底收入", M), Col("score", "考核得分", "float"),
             Col("coefficient", "考核系数", "ratio"), Col("guaranteed", "核定保底额", M),
             Col("settlement_income", "本年结算收入", M), Col("family_doctor_fees", "签约服务费", M),
             Col("subsidy", "保底补助", M), Col("explanation", "计算说明", W)]


def _names(frame: pd.DataFrame, ctx: ReportContext) -> pd.DataFrame:
    if frame.empty or "unit_id" not in frame or "unit_name" in frame:
        return frame
    return frame.assign(unit_name=frame["unit_id"].astype(str).map(ctx.unit_names()))


def _order(frame: pd.DataFrame, by_unit: bool = False) -> np.ndarray:
    """Row positions of the flagged claims, largest |difference| first, ties by claim id
    (a stable sort, as ``sort_values(kind="stable")``; Arrow's, 10× faster on 365,000
    claims); ``by_unit`` puts each unit's claims together first (by unit id)."""
    keys = {"abs": pa.array(np.abs(frame["difference"].to_numpy("int64"))),
            "claim_id": pa.array(frame["claim_id"].astype("string"), type=pa.string())}
    order = [("abs", "descending"), ("claim_id", "ascending")]
    if by_unit:
        keys["unit_id"] = pa.array(frame["unit_id"].astype("string"), type=pa.string())
        order.insert(0, ("unit_id", "ascending"))
    return pc.sort_indices(pa.table(keys), sort_keys=order).to_numpy()


def _listed(frame: pd.DataFrame, ctx: ReportContext) -> pd.DataFrame:
    return _names(frame.assign(kind_zh=frame["claim_kind"].map(KIND_ZH)), ctx)


def _claims(frame: pd.DataFrame, ctx: ReportContext, limit: int | None) -> pd.DataFrame:
    if frame.empty:
        return frame
    order = _order(frame)
    return _listed(frame.iloc[order[:limit] if limit else order], ctx)


def _totals(totals: pd.DataFrame, ctx: ReportContext) -> pd.DataFrame:
    if totals.empty:
        return totals
    names = ctx.unit_names()
    name = [names.get(k, "") if b == "unit" else ctx.community_name(k) if b == "community"
            else z if b == "rule" else "全县" for b, k, z in
            zip(totals["by"], totals["key"].astype(str), totals["rule_zh"])]
    order = {"county": 0, "rule": 1, "community": 2, "unit": 3}
    key = totals["key"].where(totals["by"].ne("county"), COUNTY_WIDE_ZH)  # not the code 'county'
    out = totals.assign(by_zh=totals["by"].map(BY_ZH), name=name, key=key,
                        _o=totals["by"].map(order)).sort_values(["_o", "key"], kind="stable")
    return out


def audit_sheet(book, st: Styles, results: Mapping[str, pd.DataFrame], ctx: ReportContext,
                top: Callable[[Sheet, str], int], name: str = "报销审核") -> Sheet:
    """The audit sheet: table check, totals, flagged claims (``top`` writes the sheet title)."""
    sheet = Sheet(book, st, name)
    row = top(sheet, name)
    check = results.get("reimbursement_table_check", pd.DataFrame())
    if not check.empty:
        check = check.assign(ok_zh=check["ok"].map({True: "符合", False: "不符合"}),
                             scope=check["scope"].map(scope_level_zh),
                             level=check["level"].map(scope_level_zh),
                             compared_with=check["compared_with"].map(scope_level_zh))
    row = sheet.block(check, CHECK, row, None, title="报销比例表“3个10%”检查") + 1
    totals = _totals(results.get("claims_audit_totals", pd.DataFrame()), ctx)
    row = sheet.block(totals, TOTALS, row, None, title="审核汇总（差额 = 基金已支付 − 应支付）") + 1
    claims = results.get("claims_audit", pd.DataFrame())
    listed = _claims(claims, ctx, LIST_LIMIT)
    title = "不符合报销政策的结算记录（按差额绝对值排序）"
    total = "合计"
    if len(claims) > LIST_LIMIT:
        title += (f"：列出差额最大的前 {LIST_LIMIT:,} 条，共 {len(claims):,} 条（差额合计 "
                  f"{yuan_display(int(claims['difference'].sum()))} 元），完整清单见 results/claims_audit.csv")
        total = f"以上 {LIST_LIMIT:,} 条合计"
    sheet.block(listed, CLAIMS, row, total, title=title)
    sheet.setup(0, repeat=False)
    return sheet


def assessment_sheet(book, st: Styles, results: Mapping[str, pd.DataFrame],
                     top: Callable[[Sheet, str], int], name: str = "考核与双目标") -> Sheet:
    sheet = Sheet(book, st, name)
    row = top(sheet, name)
    row = sheet.block(results.get("community_assessment", pd.DataFrame()), ASSESSMENT, row,
                      None, title="医共体考核得分（用于结余留用）的推导") + 1
    dual = results.get("dual_targets", pd.DataFrame())
    if not dual.empty:
        dual = dual.assign(met_zh=dual["met"].map({True: "达成", False: "未达成"}).fillna("无数据"))
    sheet.block(dual, DUAL, row, None, title="双目标管理：目标达成与结余留用比例")
    sheet.setup(0, repeat=False)
    return sheet


def fees_sheet(book, st: Styles, results: Mapping[str, pd.DataFrame], ctx: ReportContext,
               top: Callable[[Sheet, str], int], name: str = "签约服务费与保底") -> Sheet:
    sheet = Sheet(book, st, name)
    row = top(sheet, name)
    row = sheet.block(_names(results.get("family_doctor_fees", pd.DataFrame()), ctx), FEES, row,
                      "合计", title="家庭医生签约服务费（打包支出）") + 1
    sheet.block(_names(results.get("village_guarantee", pd.DataFrame()), ctx), GUARANTEE, row,
                "合计", title="村卫生室保底收入补助")
    sheet.setup(0, repeat=False)
    return sheet


def unit_sheets(results: Mapping[str, pd.DataFrame], ctx: ReportContext) -> "UnitSheets":
    """The hook each unit statement calls for its own sheet 审核与补助 (:class:`UnitSheets`)."""
    names = ctx.unit_names()
    groups: dict[str, dict[str, pd.DataFrame]] = {}
    for name in ("family_doctor_fees", "village_guarantee"):
        frame = results.get(name, pd.DataFrame())
        if len(frame):
            frame = frame.assign(unit_name=frame["unit_id"].astype(str).map(names))
            groups[name] = dict(tuple(frame.groupby(frame["unit_id"].astype(str), sort=False)))
    hook = UnitSheets(ctx.year, {}, {}, groups.get("family_doctor_fees", {}),
                      groups.get("village_guarantee", {}))
    claims = results.get("claims_audit", pd.DataFrame())
    if len(claims):  # ordered once; each unit's rows are then one slice
        _split_claims(hook, claims, _order(claims, by_unit=True), ctx)
    return hook


def _split_claims(hook: "UnitSheets", claims: pd.DataFrame, order: np.ndarray,
                  ctx: ReportContext) -> None:
    """Each unit's first :data:`UNIT_LIST_LIMIT` claims (named), its count and Σ difference
    (``order``: the listing's rows by unit, then largest difference first); for the units
    with more, the positions of all their rows, named only by the job that writes their
    CSVs (:meth:`UnitSheets.longer`): the whole listing named here was 136 MB at scale 10,
    held by the parent and by every forked writer."""
    units = claims["unit_id"].astype(str).to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, units[1:] != units[:-1]])
    ends = np.r_[starts[1:], len(units)]
    total = np.r_[0, np.cumsum(claims["difference"].to_numpy("int64")[order])]
    shown, longer = np.zeros(len(units), dtype=bool), np.zeros(len(units), dtype=bool)
    for start, end in zip(starts.tolist(), ends.tolist()):
        shown[start:min(end, start + UNIT_LIST_LIMIT)] = True
        hook.counts[units[start]] = (end - start, int(total[end] - total[start]))
        if end - start > UNIT_LIST_LIMIT:
            longer[start:end] = True
            hook.longer_units[units[start]] = end - start
    listed, at = _listed(claims.iloc[order[shown]], ctx), 0
    for start, end in zip(starts.tolist(), ends.tolist()):
        size = min(end - start, UNIT_LIST_LIMIT)
        hook.claims[units[start]] = listed.iloc[at:at + size]
        at += size
    if longer.any():
        hook.longer_rows, hook.listing = order[np.flatnonzero(longer)], (claims, ctx)


@dataclass
class UnitSheets:
    """A unit's own sheet 审核与补助: its flagged claims (the first :data:`UNIT_LIST_LIMIT`),
    family-doctor fees and guarantee. Plain data, so statements can be written in worker
    processes; ``longer`` (the units whose whole list goes to a CSV) stays in the parent."""

    year: int
    claims: dict[str, pd.DataFrame]  # unit → its listed claims, largest differences first
    counts: dict[str, tuple[int, int]]  # unit → (flagged claims, Σ difference in fen)
    fees: dict[str, pd.DataFrame] = field(default_factory=dict)
    guarantee: dict[str, pd.DataFrame] = field(default_factory=dict)
    longer_units: dict[str, int] = field(default_factory=dict)  # unit → rows, in ``longer`` order
    #: the listing's positions of their claims, one unit after another, and (listing, context)
    longer_rows: np.ndarray | None = field(default=None, repr=False)
    listing: tuple | None = field(default=None, repr=False)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "longer_rows": None, "listing": None}  # workers need no full lists

    def longer(self, rows: int = 20_000):
        """The claims of the units in :attr:`longer_units`, named, a few units at a time:
        (their (unit id, rows) in order, their claims one unit after another), each batch
        of about ``rows`` rows (one unit's list whole, however long)."""
        if self.longer_rows is None:
            return
        (claims, ctx), start, batch = self.listing, 0, []
        units = list(self.longer_units.items())
        for i, (unit_id, size) in enumerate(units):
            batch.append((unit_id, size))
            if sum(n for _, n in batch) >= rows or i == len(units) - 1:
                end = start + sum(n for _, n in batch)
                yield batch, _listed(claims.iloc[self.longer_rows[start:end]], ctx)
                start, batch = end, []

    def __call__(self, book, st: Styles, unit_id: str) -> None:
        claims = self.claims.get(unit_id, pd.DataFrame())
        fees, guarantee = (self.fees.get(unit_id, pd.DataFrame()),
                           self.guarantee.get(unit_id, pd.DataFrame()))
        if claims.empty and fees.empty and guarantee.empty:
            return
        sheet = Sheet(book, st, "审核与补助")
        put_text(sheet.ws, 0, 0, f"{self.year} 年度 {unit_id} 差别化报销审核、签约服务费与保底补助"
                                 "（仅本单位）", st.title)
        row = 2
        if not claims.empty:
            title, total = self._claims_title(unit_id, Path(book.filename).stem)
            row = sheet.block(claims, CLAIMS, row, total, title=title) + 1
        if not fees.empty:
            row = sheet.block(fees, FEES, row, None, title="家庭医生签约服务费") + 1
        if not guarantee.empty:
            sheet.block(guarantee, GUARANTEE, row, None, title="村卫生室保底收入补助")
        sheet.setup(0, repeat=False)

    def _claims_title(self, unit_id: str, stem: str) -> tuple[str, str]:
        count, difference = self.counts.get(unit_id, (0, 0))
        title = "本单位不符合报销政策的结算记录"
        if count <= UNIT_LIST_LIMIT:
            return title, "合计"
        return (f"{title}：列出差额最大的前 {UNIT_LIST_LIMIT:,} 条，共 {count:,} 条（差额合计 "
                f"{yuan_display(difference)} 元），完整清单见本结算单同目录下 {CLAIM_LISTS}/{stem}.csv",
                f"以上 {UNIT_LIST_LIMIT:,} 条合计")


def write_claim_lists(statements: Mapping[str, Path], hook: UnitSheets) -> list[Path]:
    """``审核清单/<statement>.csv`` beside the statement of each unit whose flagged claims are
    more than :data:`UNIT_LIST_LIMIT`: the columns of the sheet, Chinese headers, yuan, the
    largest differences first. Named and formatted some 20,000 rows at a time, then cut per
    unit (the county's lists at once were +190 MB in their writer at scale 10, one unit at
    a time 200 small conversions); every rule is per cell, so the bytes are the same."""
    from settlement.report.results_csv import csv_text, escaped_text, write_csv, yuan_text

    write = {M: yuan_text, T: escaped_text, W: escaped_text}
    paths = []
    for units, frame in hook.longer():
        columns = {c.header: write.get(c.kind, csv_text)(frame[c.name]) for c in CLAIMS if c.name in frame}
        start = 0
        for unit_id, size in units:
            if unit_id in statements:
                path = statements[unit_id].parent / CLAIM_LISTS / f"{statements[unit_id].stem}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                write_csv(path, {name: values.slice(start, size) for name, values in columns.items()})
                paths.append(path)
            start += size
    return paths
