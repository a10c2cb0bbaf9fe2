"""The bureau's view of reconciliation (医保对账): what the fund pays, owes and recovers.

Part of :mod:`settlement.reconcile`, whose docstring defines the letters and the identity;
split out to keep both modules short. Per community c::

    outflow_c  = (E_c − K_c) + S_c + Y_c + Z_c        Y, Z: Σ of the units' year-end shares
    identity_c = P_c + (B_c − K_c) − (R_c + r_c) + (F_c + f_c)          outflow_c == identity_c

For the county row the DIP part of the outflow is Σ member units' ``fund_due`` instead of the
communities' DIP lines. What the fund settles with c at year end (> 0 pays, < 0 recovers)::

    year_end_due_c = Σ DIP clearing balances of c's member units
                   + (Y_c − package prepayments to c or its units)
                   + (Z_c − chronic prepayments to c or its units)

(prepayments of fund ``package`` / ``chronic`` are advances, netted at year end).

Example: P 1,000.00, E 900.00 of which X 100.00 external, retained 80.00, returned 20.00, no
chronic → outflow 980.00 = in-county 880.00 + external 100.00 = 1,000.00 − 20.00.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COUNTY = "county"
BUREAU_FUNDS = ("dip", "package", "chronic")  # insurance-fund money; public health is not
PAYERS = {"fund": "paid_by_fund", "community": "paid_by_community",
          "health_commission": "paid_by_health_commission"}


def check_rows(check: str, label_zh: str, scope, left, right) -> pd.DataFrame:
    """Rows of the checks table: ok when left == right exactly (int64 fen)."""
    left = np.asarray(left, dtype="int64")
    right = np.asarray(right, dtype="int64")
    scope = np.broadcast_to(np.asarray(scope, dtype=object), left.shape)
    return pd.DataFrame({"check": check, "scope": [str(s) for s in scope], "label_zh": label_zh,
                         "left": left, "right": right, "ok": left == right})


def _by_community(frame: pd.DataFrame, ids: list[str], col: str) -> pd.Series:
    if frame.empty or col not in frame:
        return pd.Series(0, index=ids, dtype="int64")
    s = frame[col].astype("int64").groupby(frame["community_id"].astype(str)).sum()
    return s.reindex(ids, fill_value=0).astype("int64")


def bureau_communities(t, communities: pd.DataFrame, units: pd.DataFrame,
                       chronic_carved: bool | None) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """One row per community plus a county row; the checks of the bureau identities."""
    cs = t.cs
    if cs.empty:
        return pd.DataFrame(), []
    ids = cs["community_id"].astype(str).tolist()
    c = cs.set_index(cs["community_id"].astype(str))
    col = lambda name: c[name].astype("int64") if name in c else pd.Series(0, index=ids)  # noqa
    ch = lambda name: _by_community(t.chronic, ids, name)  # noqa: E731
    budget = ch("budget")
    if chronic_carved is None and budget.ne(0).any():
        raise ValueError("慢性病包干预算不为 0：需要 params（chronic.carve_out）判断是否单列 "
                         "chronic budget present: pass params or chronic_carve_out")
    carved = budget if chronic_carved else budget * 0
    k = budget - carved
    f = pd.DataFrame(index=pd.Index(ids, name="community_id"))
    f["package"], f["chronic_carve_out"] = col("package"), carved
    f["expenditure"], f["expenditure_external"] = col("expenditure"), col("expenditure_external")
    f["capitation_in_package"], f["chronic_spend"] = k, ch("spend")
    f["package_settlement"] = _settled(t.dist, ids, "package", col("surplus_retained")
                                       - col("overrun_community_share"))
    f["chronic_settlement"] = _settled(t.chronic_units, ids, "chronic",
                                       ch("retained") - ch("community_share"))
    f["outflow"] = (f["expenditure"] - k + f["chronic_spend"] + f["package_settlement"]
                    + f["chronic_settlement"])
    f["external_payments"] = f["expenditure_external"]
    f["in_county_payments"] = f["outflow"] - f["external_payments"]
    f["surplus_returned"], f["chronic_surplus_returned"] = col("surplus_returned"), ch("surplus_returned")
    f["overrun_fund_share"], f["chronic_fund_share"] = col("overrun_fund_share"), ch("fund_share")
    f["identity"] = (f["package"] + carved - f["surplus_returned"] - f["chronic_surplus_returned"]
                     + f["overrun_fund_share"] + f["chronic_fund_share"])
    _year_end(f, t, units, ids)
    checks = _checks(f, t, ids, col, ch)
    county = f.sum(numeric_only=True).to_frame(COUNTY).T
    dip_delta = _dip_units_minus_charged(t, col)  # county: DIP taken from the units
    for name in ("outflow", "in_county_payments", "cash_outflow"):
        county[name] += dip_delta
    out = pd.concat([f, county]).astype("int64")
    out.index.name = "community_id"
    out = out.reset_index()
    names = dict(zip(communities["community_id"].astype(str), communities["community_name"]))
    out.insert(1, "community_name", out["community_id"].map(names).fillna("全县合计"))
    checks.append(check_rows("bureau.outflow", "全县：基金支出（DIP 按成员单位）= 打包额 − 返还 + 基金分担",
                             COUNTY, [county["outflow"].iloc[0]], [county["identity"].iloc[0]]))
    return out.astype({"community_id": "string", "community_name": "string"}), checks


def _settled(shares: pd.DataFrame, ids: list[str], fund: str, top_down: pd.Series) -> pd.Series:
    """Σ the units' year-end shares per community (bottom-up); the community figure if none."""
    if shares.empty:
        return top_down
    if fund == "package":
        shares = shares.assign(net=shares["surplus_share"].astype("int64")
                               - shares["overrun_share"].astype("int64").abs())
        return _by_community(shares, ids, "net")
    return _by_community(shares.assign(net=chronic_net(shares)), ids, "net")


def chronic_net(shares: pd.DataFrame) -> pd.Series:
    """A managing unit's chronic share, signed: ``net`` (or ``amount``, or surplus − overrun)."""
    for name in ("net", "amount"):
        if name in shares:
            return shares[name].astype("int64")
    return shares["surplus_share"].astype("int64") - shares["overrun_share"].astype("int64").abs()


def _dip_units_minus_charged(t, col) -> int:
    """Σ member units' DIP fund_due − Σ communities' DIP lines (0 without dip_units)."""
    if t.dip.empty:
        return 0
    charged = col("expenditure_dip").sum() + col("expenditure_dip_rounding").sum()
    return int(t.dip["fund_due"].astype("int64").sum()) - int(charged)


def _year_end(f: pd.DataFrame, t, units: pd.DataFrame, ids: list[str]) -> None:
    """What the fund settles with each community at year end, by fund."""
    home = dict(zip(units["unit_id"].astype(str), units["community_id"].astype("string")))
    to_comm = lambda uid: home.get(uid, uid if uid in ids else None)  # noqa: E731
    prepaid = pd.DataFrame([(to_comm(p), fund, int(v)) for (p, fund), v in t.prepaid.items()],
                           columns=["community_id", "fund", "amount"])
    for fund in ("package", "chronic"):
        f[f"{fund}_prepaid"] = _by_community(prepaid[prepaid["fund"] == fund].dropna(), ids, "amount")
    d = t.dip.assign(community_id=t.dip["unit_id"].astype(str).map(home)) if len(t.dip) else t.dip
    f["dip_clearing"] = _by_community(d, ids, "balance")
    f["package_due"] = f["package_settlement"] - f["package_prepaid"]
    f["chronic_due"] = f["chronic_settlement"] - f["chronic_prepaid"]
    f["year_end_due"] = f["dip_clearing"] + f["package_due"] + f["chronic_due"]
    kept = d.assign(kept=d["withheld"].astype("int64") - d["returned"].astype("int64")) if len(d) else d
    f["dip_withholding_kept"] = _by_community(kept, ids, "kept")
    f["cash_outflow"] = f["outflow"] - f["dip_withholding_kept"]


def _checks(f: pd.DataFrame, t, ids: list[str], col, ch) -> list[pd.DataFrame]:
    lines = (col("expenditure_dip") + col("expenditure_dip_rounding") + col("expenditure_external")
             + col("expenditure_outpatient") + col("expenditure_other"))
    out = [check_rows("bureau.expenditure_lines", "支出合计 = 各支出项之和", ids,
                      f["expenditure"], lines)]
    out += _split_checks("bureau.package", "打包", ids, col("balance"), col("package"),
                         f["expenditure"], col("surplus_retained"), col("surplus_returned"),
                         col("overrun_fund_share"), col("overrun_community_share"))
    if not t.chronic.empty:
        out += _split_checks("bureau.chronic", "慢病包干", ids, ch("balance"), ch("budget"),
                             ch("spend"), ch("retained"), ch("surplus_returned"),
                             ch("fund_share"), ch("community_share"))
    out.append(check_rows("bureau.distribution", "成员单位结余/超支分配合计 = 医共体留用 − 自担",
                          ids, f["package_settlement"],
                          col("surplus_retained") - col("overrun_community_share")))
    out.append(check_rows("bureau.chronic_distribution", "管理单位慢病分配合计 = 留用 − 自担",
                          ids, f["chronic_settlement"], ch("retained") - ch("community_share")))
    out.append(check_rows("bureau.outflow", "基金支出 = 打包额 − 返还 + 基金分担", ids,
                          f["outflow"], f["identity"]))
    if not t.dip.empty:
        fund_due = int(t.dip["fund_due"].astype("int64").sum())
        out.append(check_rows("bureau.dip", "全县：成员单位 DIP 基金应付 = 各医共体 DIP 支出 + 尾差",
                              COUNTY, [fund_due], [fund_due - _dip_units_minus_charged(t, col)]))
    return out


def _split_checks(name: str, zh: str, ids, balance, budget, spend, retained, returned,
                  fund_share, community_share) -> list[pd.DataFrame]:
    """balance = budget − spend; split = retained + returned − fund − community; one side only."""
    surplus = balance.to_numpy() >= 0
    wrong_side = np.where(surplus, fund_share + community_share, retained + returned)
    return [
        check_rows(f"{name}.balance", f"{zh}结余 = 预算 − 支出", ids, balance, budget - spend),
        check_rows(f"{name}.split", f"{zh}结余 = 留用 + 返还 − 基金分担 − 自担", ids, balance,
                   retained + returned - fund_share - community_share),
        check_rows(f"{name}.side", f"{zh}结余时无超支分担、超支时无结余留用", ids, wrong_side, 0 * balance),
    ]


def bureau_units(funds: pd.DataFrame, units: pd.DataFrame,
                 statement: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per unit: the balance of each fund (DIP, package, chronic, public health), the same net
    split by payer (``paid_by_fund`` 医保基金, ``paid_by_community`` 医共体,
    ``paid_by_health_commission`` 卫健委公卫资金) and ``net`` — the statement's net line.
    ``total`` is what the insurance fund itself settles with the unit (= paid_by_fund)."""
    wide = (funds.pivot_table(index="unit_id", columns="fund", values="balance", aggfunc="sum")
            .reindex(columns=[*BUREAU_FUNDS, "public_health"]).fillna(0).astype("int64"))
    if statement is not None and "payer" in statement and len(statement):
        lines = statement.loc[statement["line"] != "net"]
        by_payer = (lines.pivot_table(index="unit_id", columns="payer", values="amount",
                                      aggfunc="sum").reindex(columns=list(PAYERS)))
        nets = statement.loc[statement["line"] == "net"].set_index("unit_id")["amount"]
        wide = wide.reindex(nets.index.astype(str)).fillna(0).astype("int64")
        for payer, col in PAYERS.items():
            wide[col] = by_payer[payer].reindex(wide.index).fillna(0).astype("int64")
        wide["net"] = nets.reindex(wide.index).astype("int64")
    else:
        wide["paid_by_fund"] = wide[list(BUREAU_FUNDS)].sum(axis=1)
        wide["paid_by_community"] = 0
        wide["paid_by_health_commission"] = wide["public_health"]
        wide["net"] = wide[[*BUREAU_FUNDS, "public_health"]].sum(axis=1)
    wide["total"] = wide["paid_by_fund"]
    wide.index.name = "unit_id"
    wide = wide.reset_index()
    info = units.set_index(units["unit_id"].astype(str))
    wide.insert(1, "unit_name", wide["unit_id"].map(info["unit_name"]).astype("string"))
    wide.insert(2, "community_id", wide["unit_id"].map(info["community_id"]).astype("string"))
    wide["unit_id"] = wide["unit_id"].astype("string")
    return wide.sort_values(["community_id", "unit_id"], kind="stable").reset_index(drop=True)
