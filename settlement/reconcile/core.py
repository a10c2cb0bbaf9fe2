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

**4. The flow of funds** (``community_flows``, :mod:`settlement.reconcile.flows`, parameter
``flow_of_funds``): per community what the fund owes, what it paid outside the community, to
its units directly, as advances and at year end — ``flow.paid`` checks that the fund paid the
community and its units exactly the package ± the corridor shares − what it paid outside (−
the quality deposit it kept). Every statement line carries its ``payer`` (``fund`` 医保基金,
``community`` 医共体, ``health_commission`` 卫健委公卫资金); the lines themselves are built in
:mod:`settlement.reconcile.lines`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from settlement.money import yuan_display as y
from settlement.params import FlowOfFundsParams, Params
from settlement.reconcile.bureau import bureau_communities, bureau_units, check_rows, chronic_net
from settlement.reconcile.flows import community_flows, flow_totals
from settlement.vocabulary import is_member
from settlement.reconcile.lines import (FUND_ZH, FUNDS, PAYER_ZH, POOL_ZH, _frame, chronic_lines,
                                        dip_lines, fund_zh, package_lines, public_health_lines,
                                        with_payer)

STATEMENT_COLUMNS = ["unit_id", "line", "label_zh", "amount", "explanation", "fund", "seq",
                     "payer"]
FUND_COLUMNS = ["unit_id", "community_id", "fund", "entitlement", "prepaid", "balance"]
__all__ = ["FUNDS", "FUND_ZH", "POOL_ZH", "PAYER_ZH", "STATEMENT_COLUMNS", "FUND_COLUMNS", "fund_zh",
           "Reconciliation", "ReconciliationError", "reconcile"]  # names re-exported for writers


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
    bureau_units: pd.DataFrame  # per unit: balances by fund and by payer, net
    checks: pd.DataFrame  # check, scope, label_zh, left, right, ok
    community_flows: pd.DataFrame = field(default_factory=pd.DataFrame)  # FLOW_COLUMNS per community

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"unit_statement": self.unit_statement, "unit_funds": self.unit_funds,
                "bureau_communities": self.bureau_communities,
                "bureau_units": self.bureau_units, "reconciliation_checks": self.checks,
                "community_flows": self.community_flows}


def reconcile(results: Mapping[str, pd.DataFrame], units: pd.DataFrame,
              communities: pd.DataFrame, prepayments: pd.DataFrame | None = None,
              params: Params | None = None,
              source: Callable[[str], str] | None = None,
              chronic_carve_out: bool | None = None,
              outpatient_claims=None, engine=None) -> Reconciliation:
    """Build and check the three views; raise :class:`ReconciliationError` if any check fails.

    ``results``: the stage tables by name (``dip_units``, ``unit_distribution``,
    ``chronic_units``, ``public_health_allocation``, ``community_settlement``,
    ``chronic_settlement``; missing = that fund is absent). ``params`` gives rates for the
    explanations and ``chronic.carve_out`` (or pass ``chronic_carve_out``); ``source(path)``
    the parameter's document (e.g. ``Resolved.source``). ``outpatient_claims`` (input frame)
    splits the outpatient claims of each community's insured into its own units and elsewhere
    for the flow of funds (without it all count as its own): a frame or Parquet files, reduced
    by the scan ``engine`` (None: the default engine).
    """
    t = _Tables(results, prepayments)
    flow = params.flow_of_funds if params is not None else FlowOfFundsParams()
    drg = params is not None and params.dip.payment_method == "drg"
    lines = pd.concat([dip_lines(t.dip, params, source, drg), package_lines(t), chronic_lines(t),
                       public_health_lines(t.ph, t.ph_plan)], ignore_index=True)
    lines = with_payer(lines, flow)
    balances = _stage_balances(t)
    checks = [_fund_check(lines, balances)]
    statement = _statement(lines, balances, units, drg)
    checks.append(_net_check(statement))
    funds = _unit_funds(lines, units)
    carved = chronic_carve_out if chronic_carve_out is not None else (
        params.chronic.carve_out if params is not None else None)
    bureau, more = bureau_communities(t, communities, units, carved)
    checks += more
    flows, more = community_flows(t, bureau, units, results.get("dip_cases"), outpatient_claims, flow,
                                  engine)
    checks += more
    checks = pd.concat([c for c in checks if len(c)], ignore_index=True) if any(
        len(c) for c in checks) else pd.DataFrame(columns=["check", "scope", "label_zh", "left",
                                                          "right", "ok"])
    failed = checks.loc[~checks["ok"].astype(bool)]
    if len(failed):
        raise ReconciliationError(failed)
    return Reconciliation(funds, statement, bureau, bureau_units(funds, units, statement),
                          checks, flow_totals(flows))


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
        self.ph_plan = get("public_health_plan")  # per quarter (issue 10.5)
        self.cs, self.chronic = get("community_settlement"), get("chronic_settlement")
        p = pd.DataFrame(columns=["payee_id", "fund", "amount"]) if prepayments is None else prepayments
        self.prepaid = (p.assign(amount=p["amount"].astype("int64"))
                        .groupby([p["payee_id"].astype(str), p["fund"].astype(str)])["amount"].sum())

    def prepaid_of(self, ids: pd.Series, fund: str) -> np.ndarray:
        keyed = {k[0]: v for k, v in self.prepaid.items() if k[1] == fund}
        return np.array([int(keyed.get(str(i), 0)) for i in ids], dtype="int64")


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


def _statement(lines: pd.DataFrame, balances: pd.DataFrame, units: pd.DataFrame,
               drg: bool = False) -> pd.DataFrame:
    """Lines of every member unit (and any other unit with lines) plus its ``net`` line; the
    net's explanation shows the sum by fund and the split by payer."""
    ids = sorted(set(units.loc[is_member(units), "unit_id"].astype(str))
                 | set(lines["unit_id"].astype(str) if len(lines) else []))
    by_fund = balances.pivot_table(index="unit_id", columns="fund", values="balance",
                                   aggfunc="sum").reindex(index=ids, columns=list(FUNDS))
    net = by_fund.fillna(0).sum(axis=1).astype("int64")
    payers = (lines.groupby(["unit_id", "payer"])["amount"].sum() if len(lines)
              else pd.Series(dtype="int64"))
    text = []
    for uid in ids:  # units: a few hundred
        parts = [(fund_zh(f, drg), int(v)) for f, v in by_fund.loc[uid].items() if pd.notna(v)]
        formula = _signed_sum(parts) or "无结算事项"
        split = "、".join(f"{PAYER_ZH[p]} {y(int(payers[(uid, p)]))} 元" for p in PAYER_ZH
                         if (uid, p) in payers.index)
        text.append(f"{formula} = {y(int(net[uid]))} 元" + (f"；按付款方：{split}" if split else "")
                    + "。正数为应拨付本单位，负数为本单位应退回")
    net_rows = _frame("net", 99, "net", "本单位净结算额", ids, net.to_numpy(), text).assign(payer="")
    out = pd.concat([lines, net_rows], ignore_index=True) if len(lines) else net_rows
    out = out.sort_values(["unit_id", "seq", "line"], kind="stable").reset_index(drop=True)
    text = ["unit_id", "line", "label_zh", "explanation", "fund", "payer"]
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

