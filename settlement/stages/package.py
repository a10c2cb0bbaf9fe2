"""Global budget package per community (医保基金总额打包, DOMAIN §2.1).

From the resident fund of each community c::

    financing_c = insured_c × per_capita_financing                       筹资总额
    available_c = financing_c − insured_c × (critical_illness + other)   可用基金
    reserve_c   = available_c × risk_reserve_rate                        风险金
    package_c   = (available_c − reserve_c) × package_share              打包额

Worked example (the 60 % community of a county of 600,000 insured at 1,070 元, premium
100 元, reserve 5 %, share 100 %): financing 360,000 × 1,070 = 385,200,000.00; available
385,200,000 − 360,000 × 100 = 349,200,000.00; reserve 349,200,000 × 5 % = 17,460,000.00;
package (349,200,000 − 17,460,000) × 100 % = 331,740,000.00.

The bureau's ``official_package`` (核定打包额), where given, replaces the computed figure;
``package_difference`` = official − computed is shown. Amounts carved out of the package
(e.g. the chronic capitation budget, §2.5) are subtracted last, so no yuan is counted twice.
Every amount is exact integer fen; the reserve and the share are the only roundings
(:func:`settlement.money.mul_fen`, half away from zero), and ``unpackaged`` (available −
reserve − computed package) keeps the ledger exact.

**Package basis** (打包基数, seed 002: 按服务人口和签约人口核定). With ``package_basis.basis``
``service_population`` or ``weighted`` the county's Σ computed package is re-split among its
communities by the member units' service population (服务人口), or by
(1 − w) × service population + w × signed population (签约人口, the family-doctor fees'
signed persons), with the one allocator; ``basis_transfer`` = re-split − own computed
package (Σ over the county = 0) is its own ledger line. Example: packages 600 and 400, service
populations 1 : 1 → 500 each, transfers −100 and +100.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import NamedTuple

import pandas as pd

from settlement.allocate import allocate
from settlement.money import mul_fen, yuan_display
from settlement.params import PackageBasisParams, PackageParams
from settlement.problems import Problem
from settlement.rules import rate_text
from settlement.stage import bracketed, uncited

PACKAGE_COLUMNS = [
    "community_id", "insured_enrollees", "financing", "critical_illness", "other_earmarks",
    "available", "reserve", "unpackaged", "computed_package", "official_package",
    "package_difference", "package_source", "carve_out", "package", "package_explanation",
    "basis_transfer",
]


class PackageResult(NamedTuple):
    table: pd.DataFrame  # PACKAGE_COLUMNS, one row per community with a fund budget
    problems: list[Problem]


def settle_packages(
    communities: pd.DataFrame,
    fund_budget: pd.DataFrame,
    params: PackageParams,
    carve_outs: pd.DataFrame | None = None,
    cite: Callable[[str], str] = uncited,
    basis: PackageBasisParams | None = None,
    basis_measures: pd.DataFrame | None = None,
) -> PackageResult:
    """One row per community: financing → available → reserve → package (int64 fen).

    ``basis`` / ``basis_measures`` (community_id, service_population, signed_population):
    the package basis (module docstring); without them every community keeps its own.

    ``carve_outs``: optional frame (community_id, amount fen[, label_zh]) of amounts taken out
    of the package, e.g. the chronic capitation budget. ``cite(path)``: a parameter's source
    document, quoted in the explanation (:meth:`settlement.stage.Context.cite`). A community
    without a ``fund_budget`` row is left out, with an error problem.
    """
    budget = fund_budget.set_index(fund_budget["community_id"].astype(str))
    carved = _carve_outs(carve_outs)
    rows, problems = [], []
    for community in communities.itertuples(index=False):  # a handful of communities
        cid = str(community.community_id)
        if cid not in budget.index:
            problems.append(_budget_missing(cid))
            continue
        rows.append(_package_row(cid, int(community.insured_enrollees), budget.loc[cid], params,
                                 carved.get(cid, (0, "")), cite))
    if basis is not None and basis.basis in BASES and rows:
        _apply_basis(rows, basis, basis_measures)
    frame = pd.DataFrame(rows, columns=PACKAGE_COLUMNS)
    money = [c for c in PACKAGE_COLUMNS if c not in (
        "community_id", "official_package", "package_source", "package_explanation")]
    frame[money] = frame[money].astype("int64")
    frame["official_package"] = frame["official_package"].astype("Int64")
    for col in ("community_id", "package_source", "package_explanation"):
        frame[col] = frame[col].astype("string")
    return PackageResult(frame, problems)


def _package_row(cid: str, insured: int, budget: pd.Series, params: PackageParams,
                 carve_out: tuple[int, str], cite: Callable[[str], str]) -> dict:
    per_capita = int(budget["per_capita_financing"])
    premium = int(budget["critical_illness_premium_per_capita"])
    earmark_pc = budget.get("other_earmarks_per_capita", 0)
    earmark_pc = 0 if pd.isna(earmark_pc) else int(earmark_pc)
    financing = insured * per_capita
    critical, earmarks = insured * premium, insured * earmark_pc
    available = financing - critical - earmarks
    reserve = mul_fen(available, params.risk_reserve_rate)
    computed = mul_fen(available - reserve, params.package_share)
    official = budget.get("official_package", pd.NA)
    has_official = not pd.isna(official)
    chosen = int(official) if has_official else computed
    carved, carve_label = carve_out
    y = yuan_display
    text = [
        f"筹资总额 = 参保人数 {insured:,} × 人均筹资 {y(per_capita)} = {y(financing)}",
        f"大病保险 = {insured:,} × {y(premium)} = {y(critical)}",
    ]
    if earmarks:
        text.append(f"其他专项 = {insured:,} × {y(earmark_pc)} = {y(earmarks)}")
    text += [
        f"可用基金 = {y(financing)} − {y(critical)}"
        + (f" − {y(earmarks)}" if earmarks else "") + f" = {y(available)}",
        f"风险金 = {y(available)} × {rate_text(params.risk_reserve_rate)} = {y(reserve)}"
        + bracketed(cite, "package.risk_reserve_rate"),
        f"测算打包额 = ({y(available)} − {y(reserve)}) × {rate_text(params.package_share)}"
        f" = {y(computed)}" + bracketed(cite, "package.package_share"),
    ]
    if has_official:
        text.append(f"医保局核定打包额 {y(chosen)} 替代测算值，差额 {y(chosen - computed)}")
    if carved:
        text.append(f"扣除单列{carve_label or '资金'} {y(carved)}，打包额 = {y(chosen - carved)}")
    return {
        "community_id": cid, "insured_enrollees": insured, "financing": financing,
        "critical_illness": critical, "other_earmarks": earmarks, "available": available,
        "reserve": reserve, "unpackaged": available - reserve - computed,
        "computed_package": computed, "official_package": chosen if has_official else pd.NA,
        "package_difference": chosen - computed if has_official else 0,
        "package_source": "official" if has_official else "computed",
        "carve_out": carved, "package": chosen - carved, "package_explanation": "；".join(text),
        "basis_transfer": 0,
    }


def _by_service(basis: PackageBasisParams, m: pd.DataFrame) -> pd.Series:
    return m["service_population"].astype("int64").map(Decimal)


def _weighted(basis: PackageBasisParams, m: pd.DataFrame) -> pd.Series:
    signed = m["signed_population"].astype("int64").map(Decimal)
    return (1 - basis.signed_weight) * _by_service(basis, m) + basis.signed_weight * signed


class Basis(NamedTuple):
    weights: Callable[[PackageBasisParams, pd.DataFrame], pd.Series]  # exact, by community
    label: Callable[[PackageBasisParams], str]


#: ``package_basis.basis`` → how the county's package is re-split (``insured``: it is not)
BASES: dict[str, Basis] = {
    "service_population": Basis(_by_service, lambda basis: "服务人口"),
    "weighted": Basis(_weighted, lambda basis: f"服务人口 × {rate_text(1 - basis.signed_weight)} + "
                                               f"签约人口 × {rate_text(basis.signed_weight)}"),
}


def basis_weights(basis: PackageBasisParams, measures: pd.DataFrame) -> pd.Series:
    """community_id → exact weight of the package basis."""
    return BASES[basis.basis].weights(basis, measures.set_index(measures["community_id"].astype(str)))


def _apply_basis(rows: list[dict], basis: PackageBasisParams, measures: pd.DataFrame) -> None:
    """Re-split Σ computed packages by the basis; patch each row and its explanation."""
    weights = basis_weights(basis, measures).reindex([r["community_id"] for r in rows]).fillna(0)
    pool = sum(r["computed_package"] for r in rows)
    shares = allocate(pool, weights)
    label = BASES[basis.basis].label(basis)
    for r in rows:
        new = int(shares[r["community_id"]])
        r["basis_transfer"] = transfer = new - r["computed_package"]
        r["computed_package"] = new
        r["unpackaged"] = r["available"] - r["reserve"] - (new - transfer)
        if r["package_source"] == "official":
            r["package_difference"] = r["official_package"] - new
        else:
            r["package"] = new - r["carve_out"]
        r["package_explanation"] += (
            f"；打包基数按{label}：全县测算打包额 {yuan_display(pool)} × 本医共体权重 "
            f"{weights[r['community_id']]:,} ÷ {sum(weights):,} = {yuan_display(new)}，"
            f"调整 {yuan_display(transfer)}")


def _carve_outs(carve_outs: pd.DataFrame | None) -> dict[str, tuple[int, str]]:
    if carve_outs is None or carve_outs.empty:
        return {}
    frame = carve_outs.assign(community_id=carve_outs["community_id"].astype(str))
    labels = frame["label_zh"] if "label_zh" in frame else pd.Series("", index=frame.index)
    out = {}
    for cid, group in frame.groupby("community_id"):
        out[cid] = (int(group["amount"].sum()), "、".join(sorted(set(labels[group.index].dropna()))))
    return out


def _budget_missing(cid: str) -> Problem:
    return Problem("package.budget_missing", "error", "fund_budget",
                   f"医共体 {cid} 没有医保基金预算（fund_budget），无法计算打包额",
                   f"community {cid} has no fund_budget row", value=cid)
