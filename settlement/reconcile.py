"""Reconciliation (对账): what each unit is owed, and proof that the fund ties to the fen.

Three views are built from the result tables, all in int64 fen, all checked exactly.

**1. Per unit and fund** (``unit_funds``) — for the funds ``dip`` (DIP 住院结算, from
``dip_units``), ``package`` (结余留用/超支分担, ``unit_distribution``), ``chronic`` (慢病包干,
``chronic_units``) and ``public_health`` (公卫经费, ``public_health_allocation``)::

    entitlement − prepaid = balance        (balance > 0: paid to the unit; < 0: recovered)

DIP: entitlement = fund_paid, prepaid = the stage's ``prepaid``; package: surplus_share −
overrun_share; chronic: the managing unit's signed ``net`` share; public health: Σ allocation and Σ prepaid of its pools.
Package and chronic prepayments are ``prepayments`` rows of that fund paid to the unit.

**2. The statement** (``unit_statement``, CONTRACT.md) — one row per line, each with its
formula and numbers, e.g. ``dip.gross_value`` = "DIP 分值 1,000,000.0000 分 × 结算点值 20.0000
元/分 = 20,000,000.00". The lines of a fund sum to that fund's balance (checked against the
stage table), and the line ``net`` equals Σ fund balances computed from the stage tables;
``net`` == Σ the unit's other lines is then checked exactly.

**3. The bureau view** (医保基金; public health is not insurance money and stays out). For a
community c: P package (after any carve-out); E expenditure charged to it — its claim lines
(DIP, external X: out-of-county and non-member providers paid at claim time, outpatient)
count every claim of c's insured, and ``expenditure_other`` carries the move of the chronic
cohort to the capitation (−S) and, when not carved out, the capitation itself (+K); B the
chronic budget, K = B when not carved out, else 0; S the chronic cohort's spend; Y = Σ the units'
package shares (surplus_share − overrun_share, from ``unit_distribution``) and Z = Σ the units'
chronic shares (``chronic_units.net``) — the year-end settlement, > 0 paid, < 0 recovered;
R / r the surplus returned to the fund (package / chronic); F / f the overrun shares the
fund bears. Then::

    outflow_c  = (E_c − K_c) + S_c + Y_c + Z_c          what the fund pays for c's insured
               = in-county payments + external payments X_c
    identity_c = P_c + (B_c − K_c) − (R_c + r_c) + (F_c + f_c)
    outflow_c == identity_c, exactly, for every community and for the county

"The fund pays the package (plus a carved-out chronic budget), less the surplus returned to
it, plus the overrun shares it bears." For the county total the DIP part of E and S is
replaced by Σ member units' ``fund_due`` (``dip_units``), so the county identity ties the
unit-level DIP settlement, the unit-level distributions and the community ledgers together.
Also checked: E == Σ its lines; balance == P − E and its split (retained + returned − fund
share − community share, one side only), the same for chronic; Y and Z equal the community
figures (retained − community share); Σ member units' DIP fund_due == Σ communities'
expenditure_dip + expenditure_dip_rounding. Any failure raises
:class:`ReconciliationError` listing every failed check. The fund's cash outflow is outflow
minus the DIP quality withholding it kept (withheld − returned).

Example: P 1,000.00, E 900.00 (X 100.00), surplus 100.00 → retained 80.00, returned 20.00 →
outflow = 900.00 + 80.00 = 980.00 == 1,000.00 − 20.00.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from settlement.money import yuan_display as y
from settlement.params import Params
from settlement.reconcile_bureau import bureau_communities, bureau_units, check_rows, chronic_net

FUNDS = ("dip", "package", "chronic", "public_health")
FUND_ZH = {"dip": "DIP 住院结算", "package": "结余留用/超支分担", "chronic": "慢性病包干",
           "public_health": "基本公共卫生服务经费"}
POOL_ZH = {"basic": "基本公共卫生服务经费", "two_diseases": "两病一体化签约服务经费"}
STATEMENT_COLUMNS = ["unit_id", "line", "label_zh", "amount", "explanation", "fund", "seq"]
FUND_COLUMNS = ["unit_id", "community_id", "fund", "entitlement", "prepaid", "balance"]


class ReconciliationError(ValueError):
    """Some identity does not hold exactly; ``checks`` holds the failed rows."""

    def __init__(self, failed: pd.DataFrame):
        self.checks = failed
        lines = [f"  - [{r.check}] {r.scope}: {r.label_zh} 左 {y(r.left)} ≠ 右 {y(r.right)}"
                 f"（差 {y(r.left - r.right)}）" for r in failed.itertuples(index=False)]
        super().__init__("对账不平 reconciliation failed (zero tolerance):\n" + "\n".join(lines))


@dataclass(frozen=True)
class Reconciliation:
    unit_funds: pd.DataFrame  # FUND_COLUMNS
    unit_statement: pd.DataFrame  # STATEMENT_COLUMNS (contract columns first)
    bureau_communities: pd.DataFrame  # one row per community + a 'county' total row
    bureau_units: pd.DataFrame  # per unit: insurance-fund balances due
    checks: pd.DataFrame  # check, scope, label_zh, left, right, ok

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"unit_statement": self.unit_statement, "unit_funds": self.unit_funds,
                "bureau_communities": self.bureau_communities,
                "bureau_units": self.bureau_units, "reconciliation_checks": self.checks}


def reconcile(results: Mapping[str, pd.DataFrame], units: pd.DataFrame,
              communities: pd.DataFrame, prepayments: pd.DataFrame | None = None,
              params: Params | None = None,
              source: Callable[[str], str] | None = None,
              chronic_carve_out: bool | None = None) -> Reconciliation:
    """Build and check the three views; raise :class:`ReconciliationError` if any check fails.

    ``results``: the stage tables by name (``dip_units``, ``unit_distribution``,
    ``chronic_units``, ``public_health_allocation``, ``community_settlement``,
    ``chronic_settlement``; missing = that fund is absent). ``params`` gives rates for the
    explanations and ``chronic.carve_out`` (or pass ``chronic_carve_out``); ``source(path)``
    the parameter's document (e.g. ``Resolved.source``).
    """
    t = _Tables(results, prepayments)
    lines = pd.concat([_dip_lines(t.dip, params, source), _package_lines(t), _chronic_lines(t),
                       _public_health_lines(t.ph)], ignore_index=True)
    balances = _stage_balances(t)
    checks = [_fund_check(lines, balances)]
    statement = _statement(lines, balances, units)
    checks.append(_net_check(statement))
    funds = _unit_funds(lines, units)
    carved = chronic_carve_out if chronic_carve_out is not None else (
        params.chronic.carve_out if params is not None else None)
    bureau, more = bureau_communities(t, communities, units, carved)
    checks += more
    checks = pd.concat([c for c in checks if len(c)], ignore_index=True) if any(
        len(c) for c in checks) else pd.DataFrame(columns=["check", "scope", "label_zh", "left",
                                                          "right", "ok"])
    failed = checks.loc[~checks["ok"].astype(bool)]
    if len(failed):
        raise ReconciliationError(failed)
    return Reconciliation(funds, statement, bureau, bureau_units(funds, units), checks)


# ------------------------------------------------------------------ inputs
class _Tables:
    """The stage tables, with optional ones empty and ids as str."""

    def __init__(self, results: Mapping[str, pd.DataFrame], prepayments: pd.DataFrame | None):
        def get(name: str) -> pd.DataFrame:
            frame = results.get(name)
            frame = pd.DataFrame() if frame is None else frame.reset_index(drop=True)
            for col in ("unit_id", "community_id"):
                if col in frame:
                    frame[col] = frame[col].astype("string")
            return frame

        self.dip, self.dist = get("dip_units"), get("unit_distribution")
        self.chronic_units, self.ph = get("chronic_units"), get("public_health_allocation")
        self.cs, self.chronic = get("community_settlement"), get("chronic_settlement")
        p = pd.DataFrame(columns=["payee_id", "fund", "amount"]) if prepayments is None else prepayments
        self.prepaid = (p.assign(amount=p["amount"].astype("int64"))
                        .groupby([p["payee_id"].astype(str), p["fund"].astype(str)])["amount"].sum())

    def prepaid_of(self, ids: pd.Series, fund: str) -> np.ndarray:
        keyed = {k[0]: v for k, v in self.prepaid.items() if k[1] == fund}
        return np.array([int(keyed.get(str(i), 0)) for i in ids], dtype="int64")


def _col(frame: pd.DataFrame, name: str, default=0) -> pd.Series:
    return frame[name] if name in frame else pd.Series(default, index=frame.index)


def _frame(fund: str, seq: int, line: str, label: str, ids, amount, text) -> pd.DataFrame:
    return pd.DataFrame({"unit_id": pd.Series(list(ids), dtype="string"), "fund": fund,
                         "seq": seq, "line": line, "label_zh": label,
                         "amount": np.asarray(amount, dtype="int64"), "explanation": list(text)})


# ------------------------------------------------------------------ statement lines
def _dip_lines(d: pd.DataFrame, params: Params | None, source) -> pd.DataFrame:
    if d.empty:
        return pd.DataFrame()
    at_cost, violation = _col(d, "at_cost").astype("int64"), d["violation_deduction"].astype("int64")
    due = d["gross_value"] + at_cost - d["self_pay"] - violation
    rate = (f" {source('dip.quality_withhold_rate')}" if source and params else
            f" {params.dip.quality_withhold_rate}" if params else "")
    score, coef = _col(d, "score", np.nan), _col(d, "score_coefficient", "")
    ids, out = d["unit_id"], []
    out.append(_frame("dip", 10, "dip.gross_value", "DIP 分值金额", ids, d["gross_value"], [
        f"DIP 分值 {p:,.4f} 分 × 结算点值 {pv} 元/分 = {y(g)} 元（按单位总分值一次取整到分）"
        for p, pv, g in zip(d["points"], d["point_value"], d["gross_value"])]))
    out.append(_frame("dip", 11, "dip.at_cost", "未入组病例按基金实际支付", ids, at_cost,
                      [f"未入组病例按即时结算基金支付合计 {y(a)} 元" for a in at_cost]))
    out.append(_frame("dip", 12, "dip.self_pay", "减：计分病例个人负担", ids, -d["self_pay"],
                      [f"Σ 计分病例个人负担 {y(s)} 元" for s in d["self_pay"]]))
    out.append(_frame("dip", 13, "dip.violation_deduction", "减：违规扣款", ids, -violation,
                      [f"Σ 违规扣款 {y(v)} 元" for v in violation]))
    out.append(_frame("dip", 14, "dip.withheld", "减：预留质量保证金", ids, -d["withheld"], [
        f"基金应付 {y(f)} 元（分值金额 {y(g)}" + (f" + 未入组 {y(a)}" if a else "")
        + f" − 个人负担 {y(s)}" + (f" − 违规扣款 {y(v)}" if v else "")
        + f"）× 质量保证金预留比例{rate} = {y(w)} 元"
        for f, g, a, s, v, w in zip(due, d["gross_value"], at_cost, d["self_pay"], violation,
                                    d["withheld"])]))
    out.append(_frame("dip", 15, "dip.returned", "加：返还质量保证金", ids, d["returned"], [
        f"预留 {y(w)} 元 × 考核折算系数 {c}（考核得分 {s:g}）= {y(r)} 元" if c != "" and s == s
        else f"返还 {y(r)} 元" for w, c, s, r in zip(d["withheld"], coef, score, d["returned"])]))
    out.append(_frame("dip", 16, "dip.prepaid", "减：月度预结算已支付", ids, -d["prepaid"],
                      [f"Σ 月度预结算（资金类别 dip）{y(p)} 元" for p in d["prepaid"]]))
    lines = pd.concat(out, ignore_index=True)
    optional = lines["line"].isin(["dip.at_cost", "dip.violation_deduction"])
    return lines.loc[~optional | lines["amount"].ne(0)]


def _package_lines(t: _Tables) -> pd.DataFrame:
    d = t.dist
    if d.empty:
        return pd.DataFrame()
    surplus, overrun = d["surplus_share"].astype("int64"), d["overrun_share"].astype("int64").abs()
    text = _col(d, "explanation", "").fillna("").astype(str)
    weight = [f"权重 {w:,.4f} × 绩效系数 {c:g}" for w, c in
              zip(d["weight"].astype(float), d["performance_coefficient"].astype(float))]
    show_s = surplus.ne(0) | overrun.eq(0)
    out = [_frame("package", 20, "package.surplus_share", "结余留用分配", d["unit_id"][show_s],
                  surplus[show_s], [x or f"{w}，按层级结余池分配 = {y(s)} 元" for x, w, s in
                                    zip(text[show_s], np.array(weight)[show_s], surplus[show_s])])]
    show_o = overrun.ne(0)
    out.append(_frame("package", 21, "package.overrun_share", "减：医共体自担超支分担",
                      d["unit_id"][show_o], -overrun[show_o],
                      [x or f"{w}，按层级超支分担 = {y(o)} 元" for x, w, o in
                       zip(text[show_o], np.array(weight)[show_o], overrun[show_o])]))
    out.append(_prepaid_frame(t, d["unit_id"], "package", 29, "减：结余分配已预拨"))
    return pd.concat(out, ignore_index=True)


def _chronic_lines(t: _Tables) -> pd.DataFrame:
    d = t.chronic_units
    if d.empty:
        return pd.DataFrame()
    amount = chronic_net(d)
    text = [x or f"人月数 {pm:,.2f} × 质量系数 {q:g} = 权重 {w:,.4f}"
            for pm, q, w, x in zip(
        d["person_months"].astype(float), d["quality_coefficient"].astype(float),
        d["weight"].astype(float), _col(d, "explanation", "").fillna("").astype(str))]
    labels = np.where(amount < 0, "减：慢病包干超支分担", "慢病包干结余留用分配")
    out = [_frame("chronic", 30, "chronic.share", "", d["unit_id"], amount, text)
           .assign(label_zh=labels),
           _prepaid_frame(t, d["unit_id"], "chronic", 39, "减：慢病包干已预拨")]
    return pd.concat(out, ignore_index=True)


def _public_health_lines(d: pd.DataFrame) -> pd.DataFrame:
    if d.empty:
        return pd.DataFrame()
    out = []
    for k, pool in enumerate(sorted(d["pool"].astype(str).unique())):  # a couple of pools
        rows = d.loc[d["pool"].astype(str) == pool]
        name = POOL_ZH.get(pool, pool)
        text = _col(rows, "explanation", "").fillna("").astype(str)
        text = [x or f"工分 {wp:,.2f} × 质量系数 {q:g} = 权重 {w:,.4f}，按层级资金池分配 = {y(a)} 元"
                for x, wp, q, w, a in zip(text, rows["work_points"].astype(float),
                                          rows["quality_coefficient"].astype(float),
                                          rows["weight"].astype(float), rows["allocation"])]
        out.append(_frame("public_health", 40 + 2 * k, f"public_health.{pool}", name,
                          rows["unit_id"], rows["allocation"], text))
        paid = rows.loc[rows["prepaid"].ne(0)]
        out.append(_frame("public_health", 41 + 2 * k, f"public_health.{pool}.prepaid",
                          f"减：{name}已预拨", paid["unit_id"], -paid["prepaid"],
                          [f"Σ 预拨（资金类别 public_health，{name}）{y(p)} 元"
                           for p in paid["prepaid"]]))
    return pd.concat(out, ignore_index=True)


def _prepaid_frame(t: _Tables, ids: pd.Series, fund: str, seq: int, label: str) -> pd.DataFrame:
    paid = t.prepaid_of(ids, fund)
    keep = paid != 0
    return _frame(fund, seq, f"{fund}.prepaid", label, ids[keep], -paid[keep],
                  [f"Σ 预付款（资金类别 {fund}）{y(p)} 元" for p in paid[keep]])


# ------------------------------------------------------------------ per-unit checks
def _stage_balances(t: _Tables) -> pd.DataFrame:
    """Each fund's balance per unit straight from the stage tables (unit_id, fund, balance)."""
    parts = []
    if not t.dip.empty:
        parts.append(pd.DataFrame({"unit_id": t.dip["unit_id"], "fund": "dip",
                                   "balance": t.dip["balance"].astype("int64")}))
    if not t.dist.empty:
        net = t.dist["surplus_share"].astype("int64") - t.dist["overrun_share"].astype("int64").abs()
        parts.append(pd.DataFrame({"unit_id": t.dist["unit_id"], "fund": "package",
                                   "balance": net - t.prepaid_of(t.dist["unit_id"], "package")}))
    if not t.chronic_units.empty:
        amount = chronic_net(t.chronic_units)
        parts.append(pd.DataFrame({"unit_id": t.chronic_units["unit_id"], "fund": "chronic",
                                   "balance": amount - t.prepaid_of(t.chronic_units["unit_id"],
                                                                     "chronic")}))
    if not t.ph.empty:
        parts.append(pd.DataFrame({"unit_id": t.ph["unit_id"], "fund": "public_health",
                                   "balance": t.ph["balance"].astype("int64")}))
    if not parts:
        return pd.DataFrame({"unit_id": pd.Series(dtype="string"), "fund": pd.Series(dtype=str),
                             "balance": pd.Series(dtype="int64")})
    return (pd.concat(parts, ignore_index=True).groupby(["unit_id", "fund"], as_index=False)
            ["balance"].sum())


def _fund_check(lines: pd.DataFrame, balances: pd.DataFrame) -> pd.DataFrame:
    """Σ statement lines of (unit, fund) == the stage's balance of that fund."""
    if lines.empty:
        return pd.DataFrame()
    summed = lines.groupby(["unit_id", "fund"], as_index=False)["amount"].sum()
    both = summed.merge(balances, on=["unit_id", "fund"], how="outer").fillna(0)
    return check_rows("statement.fund", "结算单分项合计 = 该资金结算差额",
                      both["unit_id"].astype(str) + "/" + both["fund"].astype(str),
                      both["amount"], both["balance"])


def _statement(lines: pd.DataFrame, balances: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """Lines of every member unit (and any other unit with lines) plus its ``net`` line."""
    member = units["community_id"].notna() & (units["category"].astype(str) != "external")
    ids = sorted(set(units.loc[member, "unit_id"].astype(str))
                 | set(lines["unit_id"].astype(str) if len(lines) else []))
    by_fund = balances.pivot_table(index="unit_id", columns="fund", values="balance",
                                   aggfunc="sum").reindex(index=ids, columns=list(FUNDS))
    net = by_fund.fillna(0).sum(axis=1).astype("int64")
    text = []
    for uid in ids:  # units: a few hundred
        parts = [(FUND_ZH[f], int(v)) for f, v in by_fund.loc[uid].items() if pd.notna(v)]
        formula = _signed_sum(parts) or "无结算事项"
        text.append(f"{formula} = {y(int(net[uid]))} 元（正数为应拨付本单位，负数为本单位应退回）")
    net_rows = _frame("net", 99, "net", "本单位净结算额", ids, net.to_numpy(), text)
    out = pd.concat([lines, net_rows], ignore_index=True) if len(lines) else net_rows
    out = out.sort_values(["unit_id", "seq", "line"], kind="stable").reset_index(drop=True)
    text = ["unit_id", "line", "label_zh", "explanation", "fund"]
    out[text] = out[text].astype("string")
    out[["amount", "seq"]] = out[["amount", "seq"]].astype("int64")
    return out[STATEMENT_COLUMNS]


def _signed_sum(parts: list[tuple[str, int]]) -> str:
    """'DIP 住院结算 4,800.00 − 慢性病包干 150.00 + …' (a negative term shown as − its size)."""
    out = ""
    for i, (name, v) in enumerate(parts):
        sign = ("− " if v < 0 else "") if i == 0 else (" − " if v < 0 else " + ")
        out += f"{sign}{name} {y(abs(v))}"
    return out


def _net_check(statement: pd.DataFrame) -> pd.DataFrame:
    is_net = statement["line"] == "net"
    others = statement.loc[~is_net].groupby("unit_id")["amount"].sum()
    net = statement.loc[is_net].set_index("unit_id")["amount"]
    others = others.reindex(net.index, fill_value=0).astype("int64")
    return check_rows("statement.net", "净结算额 = 其余各行合计", net.index.astype(str),
                      net, others)


def _unit_funds(lines: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    if lines.empty:
        return pd.DataFrame(columns=FUND_COLUMNS)
    prepaid = lines["line"].str.endswith(".prepaid")
    frame = pd.DataFrame({"unit_id": lines["unit_id"], "fund": lines["fund"],
                          "entitlement": lines["amount"].where(~prepaid, 0),
                          "prepaid": -lines["amount"].where(prepaid, 0)})
    out = frame.groupby(["unit_id", "fund"], as_index=False)[["entitlement", "prepaid"]].sum()
    out["balance"] = out["entitlement"] - out["prepaid"]
    community = dict(zip(units["unit_id"].astype(str), units["community_id"]))
    out["community_id"] = out["unit_id"].map(community).astype("string")
    out["fund"] = pd.Categorical(out["fund"], categories=list(FUNDS), ordered=True)
    out = out.sort_values(["unit_id", "fund"]).reset_index(drop=True)
    out["fund"] = out["fund"].astype(str)
    return out[FUND_COLUMNS].astype({c: "int64" for c in FUND_COLUMNS[3:]})

