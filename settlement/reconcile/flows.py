"""Flow of funds (资金流向, DOMAIN §2.9): who the fund paid, for each community's insured.

Part of :mod:`settlement.reconcile`. The parameter ``flow_of_funds`` states the model:
the bureau pays DIP cases to the treating member hospital (monthly pre-settlement, then the
year-end clearing), pays outpatient claims and cases at non-member / out-of-county
institutions at claim time, advances part of the package and of the chronic budget to the
community, and at year end settles the retained surplus (or borne overrun) and the chronic
shares with the community (``settlement_payee: community``) or with each unit (``units``),
net of those advances. For community c (all int64 fen, insured = c's insured)::

    T_c  = P + (B − K) − R − r + F + f          the fund's total obligation for c (bureau identity)
    paid outside c      O_c = DIP of c's insured at other communities' hospitals (− their
                              share of the quality deposit kept) + external X + outpatient
                              claims at units outside c
    kept by the fund    W_c = c's insured's share of the DIP quality deposit not returned
    paid to c's units   U_c = DIP of c's insured at c's hospitals + DIP rounding − kept share
                              + outpatient at c's units + other package lines
                              (+ Y + Z when the fund pays units directly)
    paid to c           A_c + year_end_c     advances, then the year-end payment (> 0) or
                                             recovery (< 0): year_end_c = Y + Z − A_c
    check: U_c + A_c + year_end_c == T_c − O_c − W_c        exactly, every community

Y, Z are the units' package and chronic shares, A_c the ``prepayments`` of funds ``package``
and ``chronic`` to c or its units. A hospital's kept deposit (withheld − returned) is split
over the insured communities of its cases by case fund due (the one allocator), so a second
check ties the flows to the hospitals' own statements: Σ fund_paid of c's hospitals ==
DIP of c's insured there + rounding − kept share + DIP of other insured there − their share.

Example: P 1,000.00, DIP at c's hospitals 600.00, external 300.00, surplus 100.00 → retained
80.00, returned 20.00, advance 50.00 → T 980.00, O 300.00, U 600.00, year-end 80.00 − 50.00 =
30.00; U + A + year-end = 680.00 = 980.00 − 300.00.
"""

from __future__ import annotations

import pandas as pd

from settlement.allocate import allocate
from settlement.reconcile.bureau import check_rows
from settlement.vocabulary import community_of_members

FLOW_COLUMNS = ["entitlement", "dip_in", "dip_rounding", "kept_in", "outpatient_in",
                "other_direct", "units_share_direct", "paid_to_units", "package_advance",
                "chronic_advance", "advances", "package_settlement", "chronic_settlement",
                "year_end_community", "paid_to_community", "dip_out", "kept_out", "external",
                "outpatient_out", "paid_outside", "kept", "dip_for_others", "kept_for_others",
                "hospitals_fund_paid"]


def _sum(frame: pd.DataFrame, ids: list[str], money: str, by: str = "community_id") -> pd.Series:
    if frame is None or frame.empty:
        return pd.Series(0, index=ids, dtype="int64")
    s = frame[money].astype("int64").groupby(frame[by].astype(str)).sum()
    return s.reindex(ids, fill_value=0).astype("int64")


def kept_by_community(dip_units: pd.DataFrame, cases: pd.DataFrame,
                      home: pd.Series) -> pd.DataFrame:
    """Each hospital's kept deposit (withheld − returned) split over its cases' communities.

    Weights: Σ case fund due per insured community (negative sums count 0); a hospital whose
    cases weigh nothing keeps it all on its own community. Rows: unit_id, community_id, kept.
    The cases are summed per (hospital, community) once; each hospital then splits its
    deposit over its few communities.
    """
    sums = cases["fund_due"].astype("int64").groupby(
        [cases["unit_id"].astype(str), cases["community_id"]]).sum()
    by_unit = {unit: s.droplevel(0) for unit, s in sums.groupby(level=0)}
    none = pd.Series(dtype="int64")
    rows = []
    for r in dip_units.itertuples(index=False):  # hospitals: a few dozen
        kept = int(r.withheld) - int(r.returned)
        if kept == 0:
            continue
        weights = by_unit.get(str(r.unit_id), none).clip(lower=0)
        if weights.sum() <= 0:
            weights = pd.Series({home.get(str(r.unit_id), ""): 1})
        parts = allocate(kept, weights)
        rows += [(str(r.unit_id), c, int(v)) for c, v in parts.items()]
    return pd.DataFrame(rows, columns=["unit_id", "community_id", "kept"])


def case_sums(dip_cases: pd.DataFrame, home: pd.Series) -> pd.DataFrame:
    """Σ case fund due per (member hospital, insured community; none: （无参保医共体）), the
    rows every flow of cases is summed from: the case list reduced once, in place (a few
    hundred rows; a copy of the list's columns was 170 MB at scale 10, 726 k cases)."""
    keys = [dip_cases["unit_id"], dip_cases["community_id"]]
    sums = dip_cases["fund_due"].astype("int64").groupby(keys, observed=True, dropna=False,
                                                         sort=False).sum()
    pairs = sums.reset_index()
    pairs = pairs.assign(unit_id=pairs["unit_id"].astype(str),
                         community_id=pairs["community_id"].astype("string").fillna("（无参保医共体）"))
    return pairs.loc[pairs["unit_id"].isin(home.index)].reset_index(drop=True)


def community_flows(t, bureau: pd.DataFrame, units: pd.DataFrame, dip_cases: pd.DataFrame | None,
                    claims: pd.DataFrame | None, flow,
                    engine=None) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Per community: the flows above (FLOW_COLUMNS) and the checks; empty without DIP cases."""
    if bureau is None or bureau.empty or dip_cases is None or t.dip.empty or t.cs.empty:
        return pd.DataFrame(), []
    b = bureau.loc[bureau["community_id"].astype(str) != "county"].set_index("community_id")
    ids = [str(i) for i in b.index]
    home = community_of_members(units)
    cases = case_sums(dip_cases, home)
    cases = cases.assign(at=cases["unit_id"].map(home))
    own = cases["community_id"] == cases["at"]
    kept = kept_by_community(t.dip, cases, home)
    kept = kept.assign(at=kept["unit_id"].map(home))
    kept_own = kept["community_id"] == kept["at"]
    f = pd.DataFrame(index=pd.Index(ids, name="community_id"))
    f["entitlement"] = b["identity"].astype("int64")
    f["dip_in"] = _sum(cases[own], ids, "fund_due")
    f["dip_rounding"] = t.cs.set_index(t.cs["community_id"].astype(str)).get(
        "expenditure_dip_rounding", pd.Series(0, index=ids)).reindex(ids, fill_value=0).astype("int64")
    f["kept_in"] = _sum(kept[kept_own], ids, "kept")
    f["outpatient_in"], f["outpatient_out"] = _outpatient(claims, ids, t, units, engine)
    f["other_direct"] = (_cs(t, ids, "expenditure_other") + b["chronic_spend"].astype("int64")
                         - b["capitation_in_package"].astype("int64"))
    f["package_settlement"] = b["package_settlement"].astype("int64")
    f["chronic_settlement"] = b["chronic_settlement"].astype("int64")
    f["package_advance"] = b["package_prepaid"].astype("int64")
    f["chronic_advance"] = b["chronic_prepaid"].astype("int64")
    f["advances"] = f["package_advance"] + f["chronic_advance"]
    shares = f["package_settlement"] + f["chronic_settlement"]
    direct = flow.settlement_payee == "units"
    f["units_share_direct"] = shares if direct else 0 * shares
    f["year_end_community"] = (0 * shares if direct else shares) - f["advances"]
    f["paid_to_units"] = (f["dip_in"] + f["dip_rounding"] - f["kept_in"] + f["outpatient_in"]
                          + f["other_direct"] + f["units_share_direct"])
    f["paid_to_community"] = f["advances"] + f["year_end_community"]
    f["dip_out"] = _sum(cases[~own], ids, "fund_due")
    f["kept_out"] = _sum(kept[~kept_own], ids, "kept")
    f["external"] = _cs(t, ids, "expenditure_external")
    f["paid_outside"] = f["dip_out"] - f["kept_out"] + f["external"] + f["outpatient_out"]
    f["kept"] = f["kept_in"] + f["kept_out"]
    f["dip_for_others"] = _sum(cases[~own], ids, "fund_due", by="at")
    f["kept_for_others"] = _sum(kept[~kept_own], ids, "kept", by="at")
    paid = t.dip.assign(at=t.dip["unit_id"].astype(str).map(home))
    f["hospitals_fund_paid"] = _sum(paid.dropna(subset=["at"]), ids, "fund_paid", by="at")
    return f[FLOW_COLUMNS].astype("int64").reset_index(), _checks(f, b, ids, direct)


def _cs(t, ids: list[str], col: str) -> pd.Series:
    cs = t.cs.set_index(t.cs["community_id"].astype(str))
    if col not in cs:
        return pd.Series(0, index=ids, dtype="int64")
    return cs[col].astype("int64").reindex(ids, fill_value=0)


def _outpatient(claims, ids: list[str], t, units: pd.DataFrame, engine=None) -> tuple:
    """Outpatient fund paid for c's insured at c's own units / anywhere else: the scan
    engine's :meth:`~settlement.scan.Engine.outpatient_at_home` (claims as a frame or as
    Parquet files); without claims all of c's outpatient spend counts as its own."""
    if claims is None or (isinstance(claims, pd.DataFrame) and claims.empty):
        total = _cs(t, ids, "expenditure_outpatient")
        return total, 0 * total
    from settlement.scan import resolve

    sums = resolve(engine).outpatient_at_home(claims, units)
    sums = sums.set_index(sums["community_id"].astype(str))
    return (sums["fund_at_own_units"].reindex(ids, fill_value=0).astype("int64"),
            sums["fund_elsewhere"].reindex(ids, fill_value=0).astype("int64"))


def _checks(f: pd.DataFrame, b: pd.DataFrame, ids: list[str], direct: bool) -> list[pd.DataFrame]:
    right = f["entitlement"] - f["paid_outside"] - f["kept"]
    out = [check_rows("flow.paid", "资金流向：拨付医共体及成员单位合计 = 应支出 − 付给医共体以外 − 基金留存保证金",
                      ids, f["paid_to_units"] + f["paid_to_community"], right),
           check_rows("flow.hospitals", "资金流向：成员医院 DIP 基金实付 = 本医共体参保人员 DIP − 留存 + 尾差 + 外医共体参保人员",
                      ids, f["hospitals_fund_paid"], f["dip_in"] + f["dip_rounding"] - f["kept_in"]
                      + f["dip_for_others"] - f["kept_for_others"])]
    if not direct:
        year_end = b["year_end_due"].astype("int64") - b["dip_clearing"].astype("int64")
        out.append(check_rows("flow.year_end", "资金流向：年终与医共体结算 = 医保对账年终应结算 − DIP 清算",
                              ids, f["year_end_community"], year_end))
    return out


def flow_totals(flows: pd.DataFrame) -> pd.DataFrame:
    """The flows with a county row (Σ of the communities)."""
    if flows.empty:
        return flows
    county = flows.drop(columns="community_id").sum().to_frame().T.assign(community_id="county")
    return pd.concat([flows, county], ignore_index=True).astype({c: "int64" for c in FLOW_COLUMNS})


